/** The run's transcript in PostgreSQL: what the model sees, written once per (step, ordinal). */
import type { ContextMessage, ToolCall } from '../shared/domain';
import { storableJson, storableOptionalText, storableRecord, storableText } from '../shared/storable';
import type { Queryable } from './pool';

/** A message of the transcript; the same shape the context window works on. */
export type TranscriptMessage = ContextMessage;

/**
 * Inserts a message unless one already sits at its (step, ordinal); true when this call wrote it.
 * Text PostgreSQL cannot store is replaced (src/shared/storable.ts); a caller that must note the
 * replacement counts it first, on what it hands over.
 */
export async function appendMessage(db: Queryable, runId: string, m: TranscriptMessage): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO run_messages (run_id, step, ordinal, role, content, tool_calls, tool_call_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
    [runId, m.step, m.ordinal, m.role, storableOptionalText(m.content).value,
     m.toolCalls ? JSON.stringify(storableJson(m.toolCalls).value) : null, storableOptionalText(m.toolCallId ?? null).value],
  );
  return result.rowCount === 1;
}

export async function loadTranscript(db: Queryable, runId: string): Promise<TranscriptMessage[]> {
  const { rows } = await db.query(
    // Negative ordinals are markers, not chat messages: a step's context summary (src/activities/model/stepContext.ts).
    `SELECT step, ordinal, role, content, tool_calls, tool_call_id FROM run_messages
     WHERE run_id = $1 AND ordinal >= 0 ORDER BY step, ordinal`,
    [runId],
  );
  return rows.map((r) => ({
    step: r.step,
    ordinal: r.ordinal,
    role: r.role,
    content: r.content,
    toolCalls: r.tool_calls ?? undefined,
    toolCallId: r.tool_call_id ?? undefined,
  }));
}

export interface StepRow {
  step: number;
  ordinal: number;
  kind: 'model' | 'tool';
  name: string;
  status: string;
  bundleId: string;
  detail: Record<string, unknown>;
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
  latencyMs: number;
  /** Characters the caller already replaced in what the step records (a model's reply, a tool's arguments). */
  replacedCharacters?: number;
}

/**
 * Inserts the step's row unless it exists. Its name and detail are made storable too, and the
 * detail notes every replacement as `replacedCharacters` (absent when there was none).
 */
export async function recordStep(db: Queryable, runId: string, s: StepRow): Promise<void> {
  const name = storableText(s.name);
  await db.query(
    `INSERT INTO run_steps (run_id, step, ordinal, kind, name, status, bundle_id, detail,
                            input_tokens, output_tokens, cost_usd, latency_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
    [runId, s.step, s.ordinal, s.kind, name.value, s.status, s.bundleId,
     JSON.stringify(storableRecord(s.detail, (s.replacedCharacters ?? 0) + name.replaced)),
     s.inputTokens ?? 0, s.outputTokens ?? 0, s.costUsd ?? 0, s.latencyMs],
  );
}

/** What the model wrote alongside its reply of `step` (its own words for the calls it asked for), or null. */
export async function assistantTextOf(db: Queryable, runId: string, step: number): Promise<string | null> {
  const { rows } = await db.query(
    `SELECT content FROM run_messages WHERE run_id = $1 AND step = $2 AND ordinal = 0 AND role = 'assistant'`,
    [runId, step],
  );
  return rows[0]?.content ?? null;
}

/** How many step rows the run has at `step` with an ordinal in [fromOrdinal, toOrdinal]. */
export async function countStepRows(db: Queryable, runId: string, step: number, fromOrdinal: number, toOrdinal: number): Promise<number> {
  const { rows } = await db.query(
    'SELECT count(*)::int AS n FROM run_steps WHERE run_id = $1 AND step = $2 AND ordinal BETWEEN $3 AND $4',
    [runId, step, fromOrdinal, toOrdinal],
  );
  return rows[0].n;
}

/** The status of the step row at (step, ordinal), or undefined when none is recorded. */
export async function stepStatusOf(db: Queryable, runId: string, step: number, ordinal: number): Promise<string | undefined> {
  const { rows } = await db.query('SELECT status FROM run_steps WHERE run_id = $1 AND step = $2 AND ordinal = $3', [runId, step, ordinal]);
  return rows[0]?.status;
}

/** The statuses of the tool rows of `step`, in ordinal order. */
export async function toolStatusesOf(db: Queryable, runId: string, step: number): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT status FROM run_steps WHERE run_id = $1 AND step = $2 AND kind = 'tool' ORDER BY ordinal`,
    [runId, step],
  );
  return rows.map((r) => r.status as string);
}

/**
 * The model's stored reply of `step` (ordinal 0), with the tokens and cost (USD) of the step's other
 * paid calls (negative ordinals: its context summary and its unusable replies) counted with it;
 * undefined before it is stored.
 */
export async function storedReplyOf(db: Queryable, runId: string, step: number) {
  const { rows } = await db.query(
    `SELECT m.content, m.tool_calls, s.input_tokens + x.input_tokens AS input_tokens,
            s.output_tokens + x.output_tokens AS output_tokens, s.cost_usd + x.cost_usd AS cost_usd
     FROM run_messages m JOIN run_steps s USING (run_id, step, ordinal)
     CROSS JOIN LATERAL (
       SELECT COALESCE(sum(input_tokens), 0)::int AS input_tokens, COALESCE(sum(output_tokens), 0)::int AS output_tokens,
              COALESCE(sum(cost_usd), 0) AS cost_usd
       FROM run_steps WHERE run_id = m.run_id AND step = m.step AND ordinal < 0
     ) x
     WHERE m.run_id = $1 AND m.step = $2 AND m.ordinal = 0`,
    [runId, step],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    content: row.content as string | null,
    toolCalls: (row.tool_calls ?? null) as ToolCall[] | null,
    usage: { inputTokens: row.input_tokens as number, outputTokens: row.output_tokens as number, costUsd: row.cost_usd as number },
  };
}

/** A step's context summary (role 'summary' at `ordinal`), unless one is there; true when this call wrote it. */
export async function appendSummary(db: Queryable, runId: string, step: number, ordinal: number, content: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO run_messages (run_id, step, ordinal, role, content) VALUES ($1, $2, $3, 'summary', $4) ON CONFLICT DO NOTHING`,
    [runId, step, ordinal, content],
  );
  return rowCount === 1;
}

/**
 * The latest summary (at `ordinal`) made at or before `step`: the step it was made at, its text, and
 * the last step it covers (its row's detail.throughStep); undefined when there is none.
 */
export async function latestSummaryOf(db: Queryable, runId: string, step: number, ordinal: number) {
  const { rows } = await db.query(
    `SELECT m.step, m.content, s.detail
     FROM run_messages m JOIN run_steps s USING (run_id, step, ordinal)
     WHERE m.run_id = $1 AND m.ordinal = $2 AND m.step <= $3 ORDER BY m.step DESC LIMIT 1`,
    [runId, ordinal, step],
  );
  const row = rows[0];
  return row && { step: row.step as number, content: (row.content ?? '') as string, throughStep: Number(row.detail.throughStep) };
}

/**
 * The real prompt tokens of the reply of `step` (ordinal 0) and what Bosun estimated for it
 * (detail.context.estimatedInputTokens); each undefined or null when not known.
 */
export async function promptTokensOf(db: Queryable, runId: string, step: number): Promise<{ real?: number; estimated?: number | null }> {
  const { rows } = await db.query(
    `SELECT input_tokens, (detail->'context'->>'estimatedInputTokens')::float AS estimated
     FROM run_steps WHERE run_id = $1 AND step = $2 AND ordinal = 0`,
    [runId, step],
  );
  return rows[0] ? { real: rows[0].input_tokens, estimated: rows[0].estimated } : {};
}

/**
 * The run's tool calls that ran or were answered from a tape, in (step, ordinal) order, as their
 * step rows show them: arguments and result already redacted by the tool's pinned rules. Calls
 * that never ran (invalid arguments, rejected, missed by the tapes) are left out.
 */
export async function ranToolCallsOf(db: Queryable, runId: string) {
  const { rows } = await db.query(
    `SELECT name AS tool, detail->'arguments' AS args, detail->'result' AS result, status FROM run_steps
     WHERE run_id = $1 AND kind = 'tool' AND status IN ('ok', 'error') AND detail ? 'result'
       AND detail->>'tape' IS DISTINCT FROM 'missed'
     ORDER BY step, ordinal`,
    [runId],
  );
  return rows as { tool: string; args: unknown; result: unknown; status: 'ok' | 'error' }[];
}
