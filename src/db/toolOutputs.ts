/** Tool results longer than the model is shown, kept whole (table tool_call_outputs, migration 014). */
import type { Queryable } from './pool';

/** Keeps the whole result of the call at (step, ordinal); a second write of the same call changes nothing. */
export async function storeWholeToolOutput(db: Queryable, runId: string, step: number, ordinal: number, content: string): Promise<void> {
  await db.query(
    'INSERT INTO tool_call_outputs (run_id, step, ordinal, content) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
    [runId, step, ordinal, content],
  );
}

/** The whole result of a call whose result was cut for the model; undefined when it was not cut. */
export async function wholeToolOutput(db: Queryable, runId: string, step: number, ordinal: number): Promise<string | undefined> {
  const { rows } = await db.query('SELECT content FROM tool_call_outputs WHERE run_id = $1 AND step = $2 AND ordinal = $3', [runId, step, ordinal]);
  return rows[0]?.content;
}
