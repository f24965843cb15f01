/**
 * After the end, nothing. A run ends when finishRun commits (`runs.finished_at` is set); from then
 * on no transaction writes anything for it: no step row, transcript message, event, audit entry or
 * tool side effect. Every writer locks the run's row first (FOR NO KEY UPDATE, the lock finishRun's
 * UPDATE takes, so the run cannot end while the writer holds it) and stops with RunEndedError when
 * the run has ended; its transaction then rolls back whatever it had done. Work that completed too
 * late is noted in `discarded_results` (migration 013) instead.
 */
import { storableRecord, storableText } from '../shared/storable';
import type { DbClient, Queryable } from './pool';
import type { Environment } from '../shared/environments';

/** The run has ended: what was about to be written for it is not. */
export class RunEndedError extends Error {
  override name = 'RunEndedError';
  constructor(
    readonly runId: string,
    /** What the run ended as. */
    readonly status: string,
  ) {
    super(`run ${runId} has already ended (${status}); nothing more is recorded for it`);
  }
}

export interface LockedRun {
  bundleId: string;
  tenantId: string;
  status: string;
  ended: boolean;
  /** Whether the run's model calls stream their tokens (runs.stream). */
  stream: boolean;
  /** Whose budget the run's model calls spend (runs.environment). */
  environment: Environment;
  /** The run's place on its thread (thread_turns), or undefined for a run on none. */
  threadTurn: { threadId: string; turn: number } | undefined;
}

/** Locks the run's row for the rest of the transaction. Throws for a run without a row. */
export async function lockRun(client: DbClient, runId: string): Promise<LockedRun> {
  const { rows } = await client.query(
    `SELECT r.bundle_id, r.tenant_id, r.status, r.finished_at, r.stream, r.environment, t.thread_id, t.turn
       FROM runs r LEFT JOIN thread_turns t ON t.run_id = r.run_id WHERE r.run_id = $1 FOR NO KEY UPDATE OF r`, [runId],
  );
  const run = rows[0];
  if (!run) throw new Error(`run ${runId} has no record`);
  return {
    bundleId: run.bundle_id, tenantId: run.tenant_id, status: run.status, ended: run.finished_at !== null, stream: run.stream === true,
    environment: run.environment, threadTurn: run.thread_id === null ? undefined : { threadId: run.thread_id, turn: run.turn },
  };
}

/** Locks the run's row for the rest of the transaction; RunEndedError when the run has ended. */
export async function lockOpenRun(client: DbClient, runId: string): Promise<LockedRun> {
  const run = await lockRun(client, runId);
  if (run.ended) throw new RunEndedError(runId, run.status);
  return run;
}

/** RunEndedError when the run has ended: a cheap look, without a lock, before work that writes nothing yet. */
export async function assertRunOpen(db: Queryable, runId: string): Promise<void> {
  const { rows } = await db.query('SELECT status, finished_at FROM runs WHERE run_id = $1', [runId]);
  if (rows[0]?.finished_at) throw new RunEndedError(runId, rows[0].status);
}

// Any constant will do; it only has to differ from the other advisory locks (src/db/migrate.ts, src/db/runs.ts).
const RUN_END_LOCK = 4_242_003;

/**
 * Serialises this transaction with the run's end (held until it commits). finishRun takes it first,
 * and so does every writer of rows finishRun must see to close them (pending approvals): otherwise
 * approvals committed between finishRun's cancelling them and its ending the run would stay pending.
 * Decisions through the API do not take it: they lock an approval row, which orders them already.
 */
export async function holdRunEnd(client: DbClient, runId: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [RUN_END_LOCK, runId]);
}

export interface DiscardedResult {
  runId: string;
  step: number;
  ordinal: number;
  kind: 'model' | 'tool';
  /** The model that answered, or the tool. */
  name: string;
  /** What the run had ended as (RunEndedError.status). */
  runStatus: string;
  detail: Record<string, unknown>;
}

/** Notes work that completed after its run ended and was not applied; once per (run, step, ordinal). */
export async function recordDiscardedResult(db: Queryable, d: DiscardedResult): Promise<void> {
  await db.query(
    `INSERT INTO discarded_results (run_id, step, ordinal, kind, name, run_status, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
    [d.runId, d.step, d.ordinal, d.kind, storableText(d.name).value, d.runStatus, JSON.stringify(storableRecord(d.detail))],
  );
}
