-- Tool code touches only the run's tenant's rows, and PostgreSQL enforces it, not only WHERE clauses.
-- executeTool runs each tool as bosun_tool (SET LOCAL ROLE) with bosun.tenant_id set for the
-- transaction; row-level security then hides and protects every other tenant's orders and refunds.
-- The role matters: a superuser (and a role with BYPASSRLS) ignores row-level security entirely.

-- Roles are shared by every database of the server: create it once, whoever gets there first.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bosun_tool') THEN
    CREATE ROLE bosun_tool NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END $$;
-- The role that migrates (and runs Bosun) must be allowed to SET ROLE to it; a no-op for a superuser.
DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'bosun_tool', 'MEMBER') THEN
    EXECUTE format('GRANT bosun_tool TO %I', current_user);
  END IF;
END $$;

GRANT USAGE ON SCHEMA public TO bosun_tool;
-- Exactly what the tools need (scopes tenant:orders and tenant:refunds in src/shared/tools.ts);
-- nothing of runs, transcripts, steps, approvals, keys or the audit log.
GRANT SELECT, UPDATE ON orders TO bosun_tool;
GRANT SELECT, INSERT ON refunds TO bosun_tool;
GRANT USAGE ON SEQUENCE refunds_refund_id_seq TO bosun_tool;

ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
ALTER TABLE refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE refunds FORCE ROW LEVEL SECURITY;

-- Unset (NULL), or reset to '' at the end of the transaction: no rows at all.
CREATE POLICY tool_tenant_scope ON orders TO bosun_tool
  USING (tenant_id = current_setting('bosun.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('bosun.tenant_id', true));
CREATE POLICY tool_tenant_scope ON refunds TO bosun_tool
  USING (tenant_id = current_setting('bosun.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('bosun.tenant_id', true));

-- Bosun's own role keeps seeing every row outside tool calls (seeding, the API's reads). FORCE makes
-- row-level security apply to the tables' owner too, so without this an owner that is not a
-- superuser would see nothing.
DO $$
BEGIN
  EXECUTE format('CREATE POLICY bosun_app ON orders TO %I USING (true) WITH CHECK (true)', current_user);
  EXECUTE format('CREATE POLICY bosun_app ON refunds TO %I USING (true) WITH CHECK (true)', current_user);
END $$;
