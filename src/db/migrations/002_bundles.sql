-- Bundles are immutable: a row is written once, when its content is first published by a tenant.
CREATE TABLE bundles (
  tenant_id     text NOT NULL,
  bundle_id     text NOT NULL,
  agent         text NOT NULL,
  content       jsonb NOT NULL,
  published_by  text NOT NULL,
  published_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, bundle_id)
);
CREATE INDEX bundles_by_agent ON bundles (tenant_id, agent, published_at DESC);
CREATE INDEX bundles_by_id ON bundles (bundle_id);

CREATE TABLE deployments (
  tenant_id         text NOT NULL,
  agent             text NOT NULL,
  stable_bundle_id  text NOT NULL,
  canary_bundle_id  text,
  canary_weight     numeric(5, 2) NOT NULL DEFAULT 0 CHECK (canary_weight BETWEEN 0 AND 100),
  rollout_id        text,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, agent)
);

CREATE TABLE deployment_history (
  id                bigserial PRIMARY KEY,
  tenant_id         text NOT NULL,
  agent             text NOT NULL,
  stable_bundle_id  text NOT NULL,
  canary_bundle_id  text,
  canary_weight     numeric(5, 2) NOT NULL,
  reason            text NOT NULL,
  changed_by        text NOT NULL,
  changed_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deployment_history_by_agent ON deployment_history (tenant_id, agent, id DESC);

CREATE INDEX runs_by_bundle ON runs (tenant_id, bundle_id, created_at DESC);
CREATE INDEX runs_by_agent ON runs (tenant_id, agent, created_at DESC);

-- runner: start and read runs; approver: decide approvals; admin: bundles, deployments, keys.
ALTER TABLE api_keys ADD COLUMN roles text[] NOT NULL DEFAULT '{runner,approver,admin}';
