-- What happened in a run, in order: the feed behind `GET /v1/runs/:runId/events` (Server-Sent Events).
-- seq numbers a run's events 1, 2, 3… without gaps, in commit order: appenders hold the run's row
-- lock while they take the next number. key names the logical occurrence (`step:3:model:finished`,
-- `tool:3:1`, `approval:<id>:requested`…), so a retried activity never records it twice.
CREATE TABLE run_events (
  run_id      uuid NOT NULL REFERENCES runs (run_id),
  seq         integer NOT NULL,
  key         text NOT NULL,
  type        text NOT NULL,
  data        jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, seq),
  UNIQUE (run_id, key)
);
