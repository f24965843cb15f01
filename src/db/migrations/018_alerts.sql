-- Alerts on drift and cost (issue 13.4): rules, each alert's state with its figures, the
-- append-only transitions (each delivered at most once to a webhook), and the grounding verdicts of
-- sampled production runs that the grounding signal reads.

-- A rule from BOSUN_ALERT_RULES (source 'config', id `config:<id>`, kept in step with the file by
-- the worker at start) or from POST /v1/alerts/rules (source 'api', always of the admin's tenant).
-- tenant_id NULL: every tenant (config rules only).
CREATE TABLE alert_rules (
  rule_id           text PRIMARY KEY,
  source            text NOT NULL CHECK (source IN ('config', 'api')),
  tenant_id         text,
  agent             text NOT NULL,
  bundle_id         text,
  signal            text NOT NULL,
  window_text       text NOT NULL,
  comparison        text NOT NULL CHECK (comparison IN ('above', 'below')),
  threshold         double precision,
  baseline_window   text,
  baseline_factor   double precision,
  min_samples       integer NOT NULL,
  webhook_url       text,
  description       text,
  created_by        text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK ((threshold IS NULL) <> (baseline_window IS NULL))
);
CREATE INDEX alert_rules_tenant ON alert_rules (tenant_id);

-- One alert per rule and scope: '*' for a rule's whole population, or a tenant ID where the signal
-- is per tenant (cost per tenant per hour). tenant_id: whose alert it is (who sees it in the API);
-- NULL for a cross-tenant rule's '*' alert (operators only).
CREATE TABLE alerts (
  rule_id        text NOT NULL REFERENCES alert_rules (rule_id) ON DELETE CASCADE,
  scope          text NOT NULL,
  tenant_id      text,
  state          text NOT NULL CHECK (state IN ('firing', 'resolved')),
  figures        jsonb NOT NULL,
  since          timestamptz NOT NULL,
  evaluated_at   timestamptz NOT NULL,
  PRIMARY KEY (rule_id, scope)
);
CREATE INDEX alerts_tenant ON alerts (tenant_id);

-- Every transition (fired, resolved), never changed but for its delivery. webhook_url is resolved
-- when the transition happens (the rule's, else BOSUN_ALERT_WEBHOOK_URL), so a later rule change or
-- deletion does not change where it goes; delivery 'none' when there is nowhere to send it.
CREATE TABLE alert_events (
  event_id       uuid PRIMARY KEY,
  rule_id        text NOT NULL,
  scope          text NOT NULL,
  tenant_id      text,
  transition     text NOT NULL CHECK (transition IN ('fired', 'resolved')),
  figures        jsonb NOT NULL,
  text           text NOT NULL,
  webhook_url    text,
  delivery       text NOT NULL CHECK (delivery IN ('pending', 'delivered', 'failed', 'none')),
  delivery_error text,
  delivered_at   timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_pending ON alert_events (created_at) WHERE delivery = 'pending';
CREATE INDEX alert_events_rule ON alert_events (rule_id, scope, created_at DESC);

-- Grounding verdicts of sampled finished runs (the online judge), read by the grounding signal.
CREATE TABLE alert_grounding_samples (
  run_id       uuid PRIMARY KEY REFERENCES runs (run_id),
  tenant_id    text NOT NULL,
  agent        text NOT NULL,
  bundle_id    text NOT NULL,
  grounded     boolean NOT NULL,
  failures     jsonb NOT NULL,
  judge        text NOT NULL,
  finished_at  timestamptz NOT NULL,
  judged_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_grounding_samples_agent ON alert_grounding_samples (agent, finished_at);

-- The signals read runs by agent and end, and steps by time.
CREATE INDEX runs_agent_finished ON runs (agent, finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX run_steps_created ON run_steps (created_at);
