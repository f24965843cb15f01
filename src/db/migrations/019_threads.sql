-- Conversations (issue 14): a thread is a tenant's conversation; each message on it is a run (a turn).
-- The transcript stays where it always was (run_messages, per run); a thread orders its runs, keeps
-- the summaries of its older turns, and arbitrates double-texting under its row lock
-- (src/db/threads.ts, docs/conversations.md).
CREATE TABLE threads (
  thread_id   uuid PRIMARY KEY,
  tenant_id   text NOT NULL,
  -- The agent its runs default to (a run may name one itself).
  agent       text,
  metadata    jsonb NOT NULL DEFAULT '{}',
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX threads_tenant_created ON threads (tenant_id, created_at DESC, thread_id DESC);

-- One row per turn, written under the thread's row lock before the run's workflow starts, so two
-- messages 10 ms apart get turns 1 and 2 (or a 409) whatever order their runs' rows commit in.
-- No foreign key to runs: the run's row is written after its workflow starts (src/api/runsRouter.ts).
CREATE TABLE thread_turns (
  thread_id       uuid NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
  turn            integer NOT NULL,
  run_id          uuid NOT NULL UNIQUE,
  -- The double-texting strategy the turn was started with (reject | enqueue | interrupt | rollback).
  strategy        text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  -- Set before a write or destructive tool of the run starts, under this row's lock: a rollback
  -- that finds it set is refused, and a tool that finds the turn rolled back does not start.
  wrote_at        timestamptz,
  -- The turn was removed from the thread (rollback): its run is cancelled, its messages are no
  -- longer part of the conversation (they stay in run_messages).
  rolled_back_at  timestamptz,
  PRIMARY KEY (thread_id, turn)
);

-- Summaries of a thread's older turns, made by the turn (run, step) that needed one and reused by
-- later turns: each covers everything up to (through_turn, through_step), folding the one before.
-- Their cost is the making run's model step (run_steps, ordinal -1).
CREATE TABLE thread_summaries (
  thread_id     uuid NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
  run_id        uuid NOT NULL,
  step          integer NOT NULL,
  through_turn  integer NOT NULL,
  through_step  integer NOT NULL,
  content       text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (thread_id, run_id, step)
);

-- Token streaming (issue 14.3): the run's model calls stream their tokens as message.delta events.
ALTER TABLE runs ADD COLUMN stream boolean NOT NULL DEFAULT false;
