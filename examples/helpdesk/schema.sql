-- The helpdesk's own tables, tenant-scoped for Bosun's tools. Bosun runs a tool that declares
-- scope ['tenant:<table>'] as the PostgreSQL role bosun_tool, with the run's tenant in the setting
-- bosun.tenant_id; the row-level security below keeps every query of the tools to that tenant.
-- Idempotent: worker.ts applies it at every start, under an advisory lock.

-- Bosun's migrations create the role too; whoever gets there first.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bosun_tool') THEN
    CREATE ROLE bosun_tool NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END $$;

CREATE TABLE IF NOT EXISTS helpdesk_tickets (
  tenant_id text NOT NULL,
  ticket_id text NOT NULL,
  customer_email text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  closed_at timestamptz,
  PRIMARY KEY (tenant_id, ticket_id)
);

CREATE TABLE IF NOT EXISTS helpdesk_ticket_notes (
  note_id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  ticket_id text NOT NULL,
  body text NOT NULL,
  run_id text NOT NULL,
  -- The tool call's idempotency key: one note per call, however often Temporal retries it.
  idempotency_key text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk_tickets (tenant_id, ticket_id)
);

-- Exactly what the tools need: find_ticket reads tickets; close_ticket closes one and adds a note.
GRANT USAGE ON SCHEMA public TO bosun_tool;
GRANT SELECT, UPDATE (status, closed_at) ON helpdesk_tickets TO bosun_tool;
GRANT SELECT, INSERT ON helpdesk_ticket_notes TO bosun_tool;
GRANT USAGE ON SEQUENCE helpdesk_ticket_notes_note_id_seq TO bosun_tool;

-- FORCE: the policies hold for the tables' owner too.
ALTER TABLE helpdesk_tickets ENABLE ROW LEVEL SECURITY;
ALTER TABLE helpdesk_tickets FORCE ROW LEVEL SECURITY;
ALTER TABLE helpdesk_ticket_notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE helpdesk_ticket_notes FORCE ROW LEVEL SECURITY;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['helpdesk_tickets', 'helpdesk_ticket_notes'] LOOP
    -- Tool calls: the run's tenant's rows only; with no tenant set (NULL or ''), no rows at all.
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema() AND tablename = t AND policyname = 'tool_tenant_scope') THEN
      EXECUTE format(
        $policy$CREATE POLICY tool_tenant_scope ON %I TO bosun_tool
                USING (tenant_id = current_setting('bosun.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('bosun.tenant_id', true))$policy$, t);
    END IF;
    -- The role this runs as (Bosun's, and the helpdesk's own code) keeps seeing every row.
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema() AND tablename = t AND policyname = 'helpdesk_app') THEN
      EXECUTE format('CREATE POLICY helpdesk_app ON %I TO %I USING (true) WITH CHECK (true)', t, current_user);
    END IF;
  END LOOP;
END $$;
