/**
 * A run's event feed in PostgreSQL (`run_events`): appended where things happen, inside the
 * transaction that makes them happen, and read in order by `GET /v1/runs/:runId/events`.
 */
import { storableRecord } from '../shared/storable';
import { inTransaction, type DbClient, type Queryable } from './pool';
import { lockRun, RunEndedError, type LockedRun } from './runEnd';

export type RunEventType =
  | 'run.started'
  | 'step.started'
  | 'step.finished'
  | 'tool.called'
  | 'approval.requested'
  | 'approval.decided'
  | 'run.finished';

/** The last event of every run: its stream ends after it. */
export const runFinishedEvent: RunEventType = 'run.finished';

/**
 * The identity of each logical occurrence. An activity that Temporal retries appends under the same
 * key again, which does nothing: one occurrence, one event.
 */
export const eventKeys = {
  runStarted: () => 'run:started',
  modelStepStarted: (step: number) => `step:${step}:model:started`,
  modelStepFinished: (step: number) => `step:${step}:model:finished`,
  toolCalled: (step: number, ordinal: number) => `tool:${step}:${ordinal}`,
  approvalRequested: (approvalId: string) => `approval:${approvalId}:requested`,
  approvalDecided: (approvalId: string) => `approval:${approvalId}:decided`,
  runFinished: () => 'run:finished',
};

export interface RunEvent {
  seq: number;
  key: string;
  type: RunEventType;
  /** Always carries the run's `runId` and `bundleId`. */
  data: { runId: string; bundleId: string } & Record<string, unknown>;
  createdAt: Date;
}

const isClient = (db: Queryable): db is DbClient => typeof (db as DbClient).release === 'function';

/**
 * Appends an event to the run's feed unless one with the same key is already there; returns its
 * seq, or undefined for a duplicate. `runId` and the run's `bundleId` are added to `data`; text
 * PostgreSQL cannot store is replaced and counted in `data.replacedCharacters` (src/shared/storable.ts).
 *
 * Seqs are gapless and commit in order: the appender holds the run's row lock (FOR NO KEY UPDATE,
 * the lock `UPDATE runs` takes anyway) while it takes MAX(seq) + 1, so a reader that has seen seq n
 * never later finds a new event below n. Given a client, it must be inside the caller's transaction:
 * the event commits or rolls back with the rest, and the row lock is held until then. Callers that
 * also lock approval rows lock them before this (the order the API's decision and finishRun share).
 *
 * Throws RunEndedError once the run has ended (./runEnd.ts): `run.finished`, appended by the
 * transaction that ends the run, is its last event. A caller that locked the run's row in this
 * transaction already (lockRun, lockOpenRun) passes what it read as `locked`.
 */
export async function appendRunEvent(
  db: Queryable, runId: string, type: RunEventType, key: string, data: Record<string, unknown>, locked?: LockedRun,
): Promise<number | undefined> {
  if (!isClient(db)) return inTransaction(db, (client) => appendRunEvent(client, runId, type, key, data));
  const run = locked ?? (await lockRun(db, runId));
  if (run.ended && type !== runFinishedEvent) throw new RunEndedError(runId, run.status);
  const { rows } = await db.query(
    `INSERT INTO run_events (run_id, seq, key, type, data)
     SELECT $1::uuid, COALESCE(MAX(seq), 0) + 1, $2, $3, $4::jsonb FROM run_events WHERE run_id = $1::uuid
     ON CONFLICT (run_id, key) DO NOTHING RETURNING seq`,
    [runId, key, type, JSON.stringify(storableRecord({ ...data, runId, bundleId: run.bundleId }))],
  );
  return rows[0]?.seq;
}

/** The run's events after `afterSeq`, in order, at most `limit` of them. */
export async function readRunEvents(db: Queryable, runId: string, afterSeq: number, limit: number): Promise<RunEvent[]> {
  const { rows } = await db.query(
    `SELECT seq, key, type, data, created_at AS "createdAt" FROM run_events
     WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [runId, afterSeq, limit],
  );
  return rows;
}

/** The seq of the run's `run.finished` event, once it has one. */
export async function runFinishedSeq(db: Queryable, runId: string): Promise<number | undefined> {
  const { rows } = await db.query('SELECT seq FROM run_events WHERE run_id = $1 AND key = $2', [runId, eventKeys.runFinished()]);
  return rows[0]?.seq;
}
