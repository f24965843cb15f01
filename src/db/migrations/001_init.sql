-- API keys are stored as SHA-256 hashes; the plain key is only ever shown to whoever created it.
CREATE TABLE api_keys (
  key_id      text PRIMARY KEY,
  key_hash    text NOT NULL UNIQUE,
  tenant_id   text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

CREATE TABLE runs (
  run_id           uuid PRIMARY KEY,
  tenant_id        text NOT NULL,
  agent            text NOT NULL,
  bundle_id        text NOT NULL,
  status           text NOT NULL,
  input            text NOT NULL,
  metadata         jsonb NOT NULL DEFAULT '{}',
  output           text,
  error            text,
  idempotency_key  text,
  created_by       text NOT NULL,
  step_count       integer NOT NULL DEFAULT 0,
  input_tokens     bigint NOT NULL DEFAULT 0,
  output_tokens    bigint NOT NULL DEFAULT 0,
  cost_usd         numeric(14, 6) NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX runs_tenant_created ON runs (tenant_id, created_at DESC);

-- The transcript the model sees (claim check: activities pass run IDs, not conversations).
-- (step, ordinal) orders it: the user's input is (0, 0), the model's reply at step n is (n, 0) and
-- the result of its k-th tool call is (n, k + 1). The key makes every write idempotent.
CREATE TABLE run_messages (
  run_id        uuid NOT NULL REFERENCES runs (run_id),
  step          integer NOT NULL,
  ordinal       integer NOT NULL,
  role          text NOT NULL,
  content       text,
  tool_calls    jsonb,
  tool_call_id  text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, step, ordinal)
);

-- What the API shows of a run's progress: one row per model call and per tool call.
CREATE TABLE run_steps (
  run_id         uuid NOT NULL REFERENCES runs (run_id),
  step           integer NOT NULL,
  ordinal        integer NOT NULL,
  kind           text NOT NULL,
  name           text NOT NULL,
  status         text NOT NULL,
  bundle_id      text NOT NULL,
  detail         jsonb NOT NULL DEFAULT '{}',
  input_tokens   integer NOT NULL DEFAULT 0,
  output_tokens  integer NOT NULL DEFAULT 0,
  cost_usd       numeric(14, 6) NOT NULL DEFAULT 0,
  latency_ms     integer NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, step, ordinal)
);

CREATE TABLE approvals (
  approval_id   uuid PRIMARY KEY,
  run_id        uuid NOT NULL REFERENCES runs (run_id),
  tenant_id     text NOT NULL,
  bundle_id     text NOT NULL,
  step          integer NOT NULL,
  tool_call_id  text NOT NULL,
  tool          text NOT NULL,
  arguments     jsonb NOT NULL,
  status        text NOT NULL DEFAULT 'pending',
  requested_at  timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  decided_by    text,
  decided_at    timestamptz,
  comment       text,
  UNIQUE (run_id, tool_call_id)
);
CREATE INDEX approvals_run ON approvals (run_id);

-- Demo data for the support agent's tools.
CREATE TABLE orders (
  tenant_id     text NOT NULL,
  order_id      text NOT NULL,
  customer      text NOT NULL,
  item          text NOT NULL,
  amount_cents  integer NOT NULL,
  status        text NOT NULL,
  PRIMARY KEY (tenant_id, order_id)
);

-- idempotency_key is unique: a refund happens at most once per approved tool call, however often
-- its activity is retried.
CREATE TABLE refunds (
  refund_id        bigserial PRIMARY KEY,
  tenant_id        text NOT NULL,
  order_id         text NOT NULL,
  amount_cents     integer NOT NULL,
  reason           text,
  run_id           uuid NOT NULL,
  idempotency_key  text NOT NULL UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now()
);
