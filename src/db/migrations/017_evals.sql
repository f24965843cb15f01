-- Evals (issue 12): tool tapes of a run, stored evals, and feedback on runs.

-- A run answered from recorded tool results (POST /v1/runs `tapes`), kept here rather than in the
-- workflow's input (claim check). Written with the run's row; never changed after.
CREATE TABLE run_tapes (
  run_id   uuid PRIMARY KEY REFERENCES runs (run_id),
  -- The entries as sent (src/shared/tapes.ts TapeEntry[]), matched in this order.
  entries  jsonb NOT NULL
);

-- Which entry answered which call: written in the transaction that records the call's result, so
-- a retried call keeps its entry and an entry answers at most one call.
CREATE TABLE run_tape_uses (
  run_id       uuid NOT NULL REFERENCES run_tapes (run_id),
  step         integer NOT NULL,
  ordinal      integer NOT NULL,
  entry_index  integer NOT NULL,
  PRIMARY KEY (run_id, step, ordinal),
  UNIQUE (run_id, entry_index)
);

-- One eval of a bundle on a golden set (bosun eval): the baseline later evals compare with.
CREATE TABLE evals (
  eval_id     uuid PRIMARY KEY,
  tenant_id   text NOT NULL,
  agent       text NOT NULL,
  bundle_id   text NOT NULL,
  suite_hash  text NOT NULL,
  gate        jsonb NOT NULL,
  summary     jsonb NOT NULL,
  cases       jsonb NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX evals_by_agent ON evals (tenant_id, agent, created_at DESC);

-- What users and operators said of a run (score -1..1); a negative score makes it a review candidate.
CREATE TABLE feedback (
  feedback_id  uuid PRIMARY KEY,
  run_id       uuid NOT NULL REFERENCES runs (run_id),
  tenant_id    text NOT NULL,
  score        double precision NOT NULL CHECK (score BETWEEN -1 AND 1),
  label        text,
  comment      text,
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_run ON feedback (run_id, created_at);

-- The review list (GET /v1/review) gathers its candidates from these, each a small part of its table.
CREATE INDEX feedback_negative ON feedback (tenant_id) WHERE score < 0;
CREATE INDEX runs_review ON runs (tenant_id) WHERE status IN ('failed', 'step_limit', 'budget_exceeded');
CREATE INDEX approvals_review ON approvals (tenant_id) WHERE status = 'rejected' OR edited_arguments IS NOT NULL;
