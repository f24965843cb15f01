-- Staging with consequences of its own (issue 15): a separate budget per tenant for staging runs
-- (shadow replays included), and a sandbox tenant per agent whose rows staging runs' tools see.

-- Budgets by environment: a tenant's ceilings for production (every existing row) and, separately,
-- for staging. A staging run reserves and spends only against staging's ceilings, so a replay can
-- never exhaust production's budget.
ALTER TABLE tenant_budgets ADD COLUMN environment text NOT NULL DEFAULT 'production'
  CHECK (environment IN ('production', 'staging'));
ALTER TABLE tenant_budgets DROP CONSTRAINT tenant_budgets_pkey;
ALTER TABLE tenant_budgets ADD PRIMARY KEY (tenant_id, environment, period);

ALTER TABLE budget_windows ADD COLUMN environment text NOT NULL DEFAULT 'production'
  CHECK (environment IN ('production', 'staging'));
ALTER TABLE budget_windows DROP CONSTRAINT budget_windows_pkey;
ALTER TABLE budget_windows ADD PRIMARY KEY (tenant_id, environment, period, window_start);

ALTER TABLE budget_events ADD COLUMN environment text NOT NULL DEFAULT 'production'
  CHECK (environment IN ('production', 'staging'));
ALTER TABLE budget_events DROP CONSTRAINT budget_events_pkey;
ALTER TABLE budget_events ADD PRIMARY KEY (tenant_id, environment, period, window_start, threshold);
-- budget_reservations.windows entries name their environment (`{ environment, period, windowStart }`);
-- entries from before have none and are production's.

-- The tenant whose rows an agent's staging runs' tools see (ctx.tenantId and row-level security):
-- `<tenant>:sandbox` or `<tenant>:sandbox:<label>`, a name no API key can carry (tenant IDs have no
-- colon), so it is the tenant's own and never another real tenant. Null: the tenant itself.
ALTER TABLE staging_deployments ADD COLUMN sandbox_tenant text;
