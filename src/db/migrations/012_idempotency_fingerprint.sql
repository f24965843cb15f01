-- What a run's Idempotency-Key is bound to: the SHA-256 of the canonical JSON of the request that
-- created the run (agent, input, metadata, bundleId, routingKey). The same key with another request
-- is refused. Runs from before this column keep NULL and are compared by agent and input, as before.
ALTER TABLE runs ADD COLUMN request_fingerprint text;
