/** The run's transcript in PostgreSQL: what the model sees, written once per (step, ordinal). */
import type { ContextMessage } from '../shared/domain';
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
