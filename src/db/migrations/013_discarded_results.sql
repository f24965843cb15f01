-- After the end, nothing: work of a run that completed after the run had ended (a tool call or a
-- model reply still in flight when the run was cancelled) is not applied (no step row, event,
-- audit entry or side effect); it is noted here instead, once per (run, step, ordinal).
CREATE TABLE discarded_results (
  run_id      uuid NOT NULL REFERENCES runs (run_id),
  step        integer NOT NULL,
  ordinal     integer NOT NULL,
  -- 'model' (a reply or a context summary) or 'tool'.
  kind        text NOT NULL,
  -- The model that answered, or the tool.
  name        text NOT NULL,
  -- The status the run had ended with.
  run_status  text NOT NULL,
  -- A model reply's usage and cost (paid, though discarded); a tool call's outcome.
  detail      jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, step, ordinal)
);
