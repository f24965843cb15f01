-- Nothing polls (issue 11): every run event wakes the API processes that stream it.
-- A trigger, so an insert from any process notifies, and only when its transaction commits.
-- The payload is the run's ID; PostgreSQL folds identical notifications of one transaction into one,
-- so a transaction that appends several events of a run sends one. The channel name is
-- runEventChannel in src/db/runEventListener.ts.
CREATE FUNCTION notify_run_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('bosun_run_events', NEW.run_id::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER run_events_notify AFTER INSERT ON run_events
  FOR EACH ROW EXECUTE FUNCTION notify_run_event();
