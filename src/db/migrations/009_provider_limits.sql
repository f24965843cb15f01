-- Model calls and tokens granted per provider per second, held across every worker: the sliding
-- windows of BOSUN_PROVIDER_LIMITS (src/budgets/providerLimiter.ts). Future seconds hold calls that
-- were told to come back then. Rows older than two windows are deleted as calls go by.
CREATE TABLE provider_rate_buckets (
  provider      text NOT NULL,
  epoch_second  bigint NOT NULL,
  requests      integer NOT NULL DEFAULT 0,
  tokens        bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, epoch_second)
);

-- A second booked for a call that waits (one per run step); its retry uses it instead of queueing again.
CREATE TABLE provider_rate_tickets (
  ticket_id     text PRIMARY KEY,
  provider      text NOT NULL,
  epoch_second  bigint NOT NULL,
  tokens        bigint NOT NULL
);
CREATE INDEX provider_rate_tickets_provider_second ON provider_rate_tickets (provider, epoch_second);

-- Every failed model-call attempt that is retried, with its reason: `retries` in GET /v1/runs/:runId.
CREATE TABLE model_retries (
  run_id          uuid NOT NULL REFERENCES runs (run_id),
  step            integer NOT NULL,
  attempt         integer NOT NULL,
  reason          text NOT NULL,
  status          integer,
  retry_after_ms  integer,
  delay_ms        integer,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, step, attempt)
);
