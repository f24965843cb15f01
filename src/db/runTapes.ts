/**
 * The `run_tapes` and `run_tape_uses` tables: a run's recorded tool results (src/shared/tapes.ts)
 * and which entry answered which call.
 */
import type { TapeEntry } from '../shared/tapes';
import type { DbClient, Queryable } from './pool';
import type { Environment } from '../shared/environments';

/** Stores a run's tapes, in the transaction that records the run (src/db/runs.ts recordRun). */
export async function storeRunTapes(client: DbClient, runId: string, entries: readonly TapeEntry[]): Promise<void> {
  await client.query('INSERT INTO run_tapes (run_id, entries) VALUES ($1, $2)', [runId, JSON.stringify(entries)]);
}

/** The tapes the run was started with, or undefined when it had none. */
export async function givenTapesOf(db: Queryable, runId: string): Promise<TapeEntry[] | undefined> {
  const { rows } = await db.query('SELECT entries FROM run_tapes WHERE run_id = $1', [runId]);
  return rows[0]?.entries;
}

/**
 * How a run's tool calls are answered: whether it has tapes, its environment (production for an
 * unknown run), and for a staging run the sandbox tenant its agent's staging setting names (null: none).
 */
export async function runToolMode(db: Queryable, runId: string): Promise<{ tapes: boolean; environment: Environment; sandboxTenant: string | null }> {
  const { rows } = await db.query(
    `SELECT EXISTS (SELECT 1 FROM run_tapes WHERE run_id = $1) AS tapes,
            COALESCE((SELECT environment FROM runs WHERE run_id = $1), 'production') AS environment,
            (SELECT d.sandbox_tenant FROM runs r JOIN staging_deployments d ON d.tenant_id = r.tenant_id AND d.agent = r.agent
             WHERE r.run_id = $1 AND r.environment = 'staging') AS "sandboxTenant"`,
    [runId],
  );
  return rows[0];
}

/**
 * The run's tapes and the entries its calls have used (by index), with the run's tapes locked for
 * the rest of the transaction: the run's calls take entries one after another, never the same one.
 * Undefined for a run without tapes.
 */
export async function lockRunTapes(client: DbClient, runId: string): Promise<{ entries: TapeEntry[]; used: Set<number> } | undefined> {
  const { rows } = await client.query('SELECT entries FROM run_tapes WHERE run_id = $1 FOR UPDATE', [runId]);
  if (!rows[0]) return undefined;
  const uses = await client.query('SELECT entry_index FROM run_tape_uses WHERE run_id = $1', [runId]);
  return { entries: rows[0].entries, used: new Set(uses.rows.map((u) => u.entry_index as number)) };
}

/** Notes that entry `entryIndex` answered the call at (step, ordinal); in the transaction that records its result. */
export async function recordTapeUse(
  client: DbClient, runId: string, at: { step: number; ordinal: number }, entryIndex: number,
): Promise<void> {
  await client.query('INSERT INTO run_tape_uses (run_id, step, ordinal, entry_index) VALUES ($1, $2, $3, $4)', [
    runId, at.step, at.ordinal, entryIndex,
  ]);
}
