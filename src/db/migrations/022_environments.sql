-- Environments (issue 15): every agent has a production deployment (the `deployments` table, as
-- before: existing rows are production's) and a staging one (below). Runs carry their environment;
-- a staging run is a sandbox run (src/api/runsRouter.ts). Shadow replays link each replayed run to
-- the production run it replays.

-- The bundle an agent's staging runs use. One bundle, no canary: staging is where a candidate is
-- tried before it is promoted through `deployments`.
CREATE TABLE staging_deployments (
  tenant_id   text NOT NULL,
  agent       text NOT NULL,
  bundle_id   text NOT NULL,
  updated_by  text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, agent)
);

-- What a promotion to production requires, per agent (no row: nothing).
CREATE TABLE promotion_gates (
  tenant_id        text NOT NULL,
  agent            text NOT NULL,
  -- The bundle has run in staging: at least one staging run of it completed.
  require_staging  boolean NOT NULL DEFAULT false,
  -- The bundle's latest stored eval (table evals) passed its gate.
  require_eval     boolean NOT NULL DEFAULT false,
  updated_by       text NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, agent)
);

ALTER TABLE runs ADD COLUMN environment text NOT NULL DEFAULT 'production'
  CHECK (environment IN ('production', 'staging'));
CREATE INDEX runs_staging ON runs (tenant_id, agent, bundle_id) WHERE environment = 'staging';

-- One shadow replay: production runs of an agent replayed, anonymised, against a candidate bundle in staging.
CREATE TABLE shadows (
  shadow_id     uuid PRIMARY KEY,
  tenant_id     text NOT NULL,
  agent         text NOT NULL,
  bundle_id     text NOT NULL,
  -- The request as given (selection, anonymisation settings without the key).
  selection     jsonb NOT NULL,
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shadows_by_agent ON shadows (tenant_id, agent, created_at DESC);

-- Each replayed run and the production run it replays. No foreign key to runs for the replay:
-- its row is written after its workflow starts.
CREATE TABLE shadow_runs (
  shadow_id        uuid NOT NULL REFERENCES shadows (shadow_id),
  original_run_id  uuid NOT NULL REFERENCES runs (run_id),
  run_id           uuid NOT NULL UNIQUE,
  PRIMARY KEY (shadow_id, original_run_id)
);
