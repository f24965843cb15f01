-- Append-only record of every tool call, approval decision, and key, bundle and deployment change.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  tenant_id   text NOT NULL,
  actor       text NOT NULL,
  action      text NOT NULL,
  run_id      uuid,
  bundle_id   text,
  target      text,
  status      text,
  latency_ms  integer,
  detail      jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, id);
CREATE INDEX audit_log_by_run ON audit_log (run_id, id);

-- Append-only means it: the database itself refuses to change or remove an entry.
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

ALTER TABLE api_keys ADD COLUMN name text;
ALTER TABLE api_keys ADD COLUMN created_by text;
