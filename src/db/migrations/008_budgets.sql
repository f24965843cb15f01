-- Disjoint token buckets per model step, so cached tokens are never counted twice.
ALTER TABLE run_steps ADD COLUMN cached_input_tokens integer NOT NULL DEFAULT 0;
ALTER TABLE run_steps ADD COLUMN cache_write_tokens integer NOT NULL DEFAULT 0;
ALTER TABLE run_steps ADD COLUMN reasoning_tokens integer NOT NULL DEFAULT 0;
ALTER TABLE run_steps ADD COLUMN cache_savings_usd numeric(14, 6) NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cached_input_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cache_savings_usd numeric(14, 6) NOT NULL DEFAULT 0;

-- A tenant's spending ceilings. hard: new model calls are refused past the ceiling; soft: recorded only.
CREATE TABLE tenant_budgets (
  tenant_id    text NOT NULL,
  period       text NOT NULL CHECK (period IN ('day', 'month')),
  limit_usd    numeric(14, 6) NOT NULL CHECK (limit_usd > 0),
  mode         text NOT NULL CHECK (mode IN ('hard', 'soft')),
  on_exceeded  text NOT NULL DEFAULT 'fail' CHECK (on_exceeded IN ('fail', 'wait')),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, period)
);

-- Spend and outstanding reservations per budget window (the day or month a call falls in).
CREATE TABLE budget_windows (
  tenant_id     text NOT NULL,
  period        text NOT NULL,
  window_start  timestamptz NOT NULL,
  spent_usd     numeric(14, 6) NOT NULL DEFAULT 0,
  reserved_usd  numeric(14, 6) NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, period, window_start)
);

-- One per model call (run:step): makes reserve and settle idempotent under activity retries.
CREATE TABLE budget_reservations (
  reservation_id  text PRIMARY KEY,
  tenant_id       text NOT NULL,
  amount_usd      numeric(14, 6) NOT NULL,
  windows         jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  settled_at      timestamptz
);

-- Threshold crossings (50, 80, 95 % of a ceiling), each recorded once per window.
CREATE TABLE budget_events (
  tenant_id     text NOT NULL,
  period        text NOT NULL,
  window_start  timestamptz NOT NULL,
  threshold     integer NOT NULL,
  spent_usd     numeric(14, 6) NOT NULL,
  limit_usd     numeric(14, 6) NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, period, window_start, threshold)
);
