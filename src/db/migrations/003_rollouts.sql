-- A canary rollout: one agentRollout workflow (workflow ID rollout-<rollout_id>) walks the canary
-- through its stages. While it runs, deployments.rollout_id names it; whoever ends it (the workflow,
-- or a manual rollback) clears that under the deployment's row lock, so it ends exactly once.
CREATE TABLE rollouts (
  rollout_id              uuid PRIMARY KEY,
  tenant_id               text NOT NULL,
  agent                   text NOT NULL,
  stable_bundle_id        text NOT NULL,
  canary_bundle_id        text NOT NULL,
  stages                  jsonb NOT NULL,
  thresholds              jsonb NOT NULL,
  check_interval_seconds  integer NOT NULL,
  status                  text NOT NULL DEFAULT 'running'
                          CHECK (status IN ('running', 'paused', 'promoted', 'rolled_back', 'aborted')),
  started_by              text NOT NULL,
  started_at              timestamptz NOT NULL DEFAULT now(),
  finished_at             timestamptz
);
CREATE INDEX rollouts_by_agent ON rollouts (tenant_id, agent, started_at DESC);

-- Every decision of a rollout with the figures behind it. The workflow makes the IDs, so a retried
-- activity records a decision once.
CREATE TABLE rollout_decisions (
  id          uuid PRIMARY KEY,
  rollout_id  uuid NOT NULL REFERENCES rollouts (rollout_id),
  stage       integer,
  decision    text NOT NULL
              CHECK (decision IN ('stage_started', 'stage_passed', 'promoted', 'rolled_back', 'paused', 'resumed', 'aborted')),
  reason      text NOT NULL,
  figures     jsonb NOT NULL DEFAULT '{}',
  decided_by  text NOT NULL,
  decided_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rollout_decisions_by_rollout ON rollout_decisions (rollout_id, decided_at);

-- The rollout's live comparison reads each arm's runs finished since a stage began.
CREATE INDEX runs_finished_by_bundle ON runs (tenant_id, bundle_id, finished_at) WHERE finished_at IS NOT NULL;
