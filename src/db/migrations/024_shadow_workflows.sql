-- Shadow replays as Temporal workflows, and continuous shadowing (issue 15 §3, §5; docs/staging.md).

-- A replay's pairs are prepared by the API (the anonymised input and tapes, the original's edited
-- arguments anonymised) and started by the shadow's workflow: the replay's run ID comes later.
ALTER TABLE shadow_runs ALTER COLUMN run_id DROP NOT NULL;
-- The anonymised input and read tapes the replay starts with; cleared once it has started (the run keeps them).
ALTER TABLE shadow_runs ADD COLUMN input text;
ALTER TABLE shadow_runs ADD COLUMN tapes jsonb;
-- The original's edited arguments, anonymised, by tool and position: [{ tool, k, arguments }].
ALTER TABLE shadow_runs ADD COLUMN edits jsonb NOT NULL DEFAULT '[]';
-- Why the replay could not be started (the start path refused it), when it could not.
ALTER TABLE shadow_runs ADD COLUMN refused text;
ALTER TABLE shadow_runs ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

-- `replay`: one selection, replayed once (POST /v1/agents/:agent/shadow); `continuous`: the agent's
-- standing shadow, to which a share of live production runs is mirrored as they arrive.
ALTER TABLE shadows ADD COLUMN kind text NOT NULL DEFAULT 'replay' CHECK (kind IN ('replay', 'continuous'));
-- When every replay of the shadow ended (its workflow completed); never for a continuous one.
ALTER TABLE shadows ADD COLUMN completed_at timestamptz;
CREATE UNIQUE INDEX shadows_continuous ON shadows (tenant_id, agent) WHERE kind = 'continuous';
-- A replay's Idempotency-Key (as runs': BOSUN_IDEMPOTENCY_KEY_TTL) and the SHA-256 of the request it
-- is bound to. Unique per tenant, so two concurrent requests with one key start one shadow.
ALTER TABLE shadows ADD COLUMN idempotency_key text;
ALTER TABLE shadows ADD COLUMN request_fingerprint text;
CREATE UNIQUE INDEX shadows_idempotency ON shadows (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Continuous shadowing per agent (no row: off).
CREATE TABLE shadowing_settings (
  tenant_id   text NOT NULL,
  agent       text NOT NULL,
  enabled     boolean NOT NULL,
  -- The share of production runs mirrored, 0..1, sampled by a hash of the run ID.
  rate        double precision NOT NULL CHECK (rate >= 0 AND rate <= 1),
  -- The tenant's own identifier patterns, anonymised besides the built-in kinds.
  patterns    jsonb NOT NULL DEFAULT '[]',
  -- Names anonymised in mirrored inputs (whole words, case-insensitive).
  names       jsonb NOT NULL DEFAULT '[]',
  updated_by  text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, agent)
);
