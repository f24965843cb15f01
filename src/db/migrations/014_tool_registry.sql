-- Bring your own tools (issue 10).
-- The tools each worker has: registered when it starts, refreshed while it runs. A bundle is
-- published only against tools found here; a run waits `queued` until a live worker polls the task
-- queue of each of its worker tools.
CREATE TABLE tool_registrations (
  name text NOT NULL,
  version int NOT NULL,
  schema_hash text NOT NULL,
  -- The task queue the tool is called on (src/shared/toolSpec.ts toolTaskQueue).
  task_queue text NOT NULL,
  -- BOSUN_BUILD_ID of the worker, or 'unversioned'.
  build_id text NOT NULL,
  -- The PinnedTool a bundle copies (src/shared/toolSpec.ts).
  manifest jsonb NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version, schema_hash, task_queue, build_id)
);
CREATE INDEX tool_registrations_live ON tool_registrations (task_queue, last_seen_at);

-- A tool result longer than the worker's limit is cut for the model; the whole of it is kept here.
CREATE TABLE tool_call_outputs (
  run_id uuid NOT NULL REFERENCES runs (run_id),
  step int NOT NULL,
  ordinal int NOT NULL,
  content text NOT NULL,
  PRIMARY KEY (run_id, step, ordinal)
);

-- Why a queued run is not admitted yet, when it is not simply its turn (e.g. no worker has a tool).
ALTER TABLE runs ADD COLUMN waiting_for text;
