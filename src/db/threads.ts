/**
 * Threads (migration 019): a tenant's conversations, their turns (one run each, in order) and the
 * summaries of their older turns. The transcript itself stays in run_messages, per run; a thread's
 * conversation is its turns' transcripts in turn order, rolled-back turns left out.
 *
 * Double-texting is decided under the thread's row lock (lockThread): the open turns are read, the
 * strategy applied and the new turn appended in one transaction, so two messages 10 ms apart are
 * ordered by PostgreSQL, never by a check-then-act race in the API.
 */
import type { ContextMessage, ToolCall } from '../shared/domain';
import { pageOf, type DbClient, type PageKey, type Queryable } from './pool';

export interface ThreadRow {
  threadId: string;
  tenantId: string;
  agent: string | null;
  metadata: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

const threadColumns = `thread_id AS "threadId", tenant_id AS "tenantId", agent, metadata, created_at AS "createdAt", updated_at AS "updatedAt"`;

/**
 * How long a turn whose run has no row yet counts as open: the API writes the row right after the
 * run's workflow starts, and a workflow whose row never comes records one itself within
 * BOSUN_RUN_RECORD_GRACE (30 s); past this, a turn without a run row is one whose workflow never started.
 */
const UNRECORDED_TURN_GRACE = `interval '2 minutes'`;

/**
 * SQL: turn `t` (a thread_turns alias) is open: not rolled back, and its run has not finished (or
 * has no row yet, within the grace above). `r` is `runs` LEFT JOINed on t.run_id.
 */
const openTurn = (t: string, r: string) =>
  `(${t}.rolled_back_at IS NULL AND (${r}.finished_at IS NULL AND (${r}.run_id IS NOT NULL OR ${t}.created_at > now() - ${UNRECORDED_TURN_GRACE})))`;

/**
 * SQL for admission (src/db/admission.ts): the queued run `alias` is a turn of a thread with an
 * earlier open turn, so it waits (enqueue, interrupt) however many slots are free. It neither takes
 * a slot nor holds up its tenant's line meanwhile; the end of the turn before it frees a slot
 * (finishRun), and the allocation that follows admits it.
 */
export const waitsForEarlierTurn = (alias: string) =>
  `EXISTS (SELECT 1 FROM thread_turns me JOIN thread_turns p ON p.thread_id = me.thread_id AND p.turn < me.turn
           LEFT JOIN runs pr ON pr.run_id = p.run_id
           WHERE me.run_id = ${alias}.run_id AND ${openTurn('p', 'pr')})`;

export async function createThread(
  db: Queryable, t: { threadId: string; tenantId: string; agent?: string; metadata: Record<string, unknown>; createdBy: string },
): Promise<ThreadRow> {
  const { rows } = await db.query(
    `INSERT INTO threads (thread_id, tenant_id, agent, metadata, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING ${threadColumns}`,
    [t.threadId, t.tenantId, t.agent ?? null, JSON.stringify(t.metadata), t.createdBy],
  );
  return rows[0];
}

/** The tenant's thread, or undefined (another tenant's thread is not found either). */
export async function findThread(db: Queryable, tenantId: string, threadId: string): Promise<ThreadRow | undefined> {
  const { rows } = await db.query(`SELECT ${threadColumns} FROM threads WHERE tenant_id = $1 AND thread_id = $2`, [tenantId, threadId]);
  return rows[0];
}

/** Locks the tenant's thread for the rest of the transaction: every decision about its turns takes this lock first. */
export async function lockThread(client: DbClient, tenantId: string, threadId: string): Promise<ThreadRow | undefined> {
  const { rows } = await client.query(
    `SELECT ${threadColumns} FROM threads WHERE tenant_id = $1 AND thread_id = $2 FOR UPDATE`, [tenantId, threadId],
  );
  return rows[0];
}

/** A page of the tenant's threads, newest first, and where the next page starts (null on the last). */
export async function listThreads(db: Queryable, tenantId: string, page: { limit: number; after?: PageKey }) {
  const params: unknown[] = [tenantId, page.limit + 1];
  const after = page.after ? `AND (created_at, thread_id) < ($3::timestamptz, $4::uuid)` : '';
  if (page.after) params.push(page.after.at, page.after.id);
  const { rows } = await db.query(
    `SELECT ${threadColumns}, created_at::text AS "cursorTime" FROM threads WHERE tenant_id = $1 ${after}
     ORDER BY created_at DESC, thread_id DESC LIMIT $2`,
    params,
  );
  const { items, next } = pageOf(rows, page.limit, (t) => t.threadId);
  return { threads: items, next };
}

/** Deletes the thread with its turns and summaries (the runs and their transcripts stay, as runs). */
export async function deleteThread(client: DbClient, threadId: string): Promise<void> {
  await client.query('DELETE FROM threads WHERE thread_id = $1', [threadId]);
}

export interface OpenTurn {
  turn: number;
  runId: string;
  /** A write or destructive tool of the run has started: the turn cannot be rolled back. */
  wrote: boolean;
}

/**
 * The thread's open turns (running, queued, or just created), oldest first, their rows locked for
 * the rest of the transaction (so claimWrite waits for a rollback's commit). Call under lockThread.
 */
export async function openTurns(client: DbClient, threadId: string): Promise<OpenTurn[]> {
  const { rows } = await client.query(
    `SELECT t.turn, t.run_id, t.wrote_at IS NOT NULL AS wrote FROM thread_turns t LEFT JOIN runs r ON r.run_id = t.run_id
     WHERE t.thread_id = $1 AND ${openTurn('t', 'r')} ORDER BY t.turn FOR UPDATE OF t`,
    [threadId],
  );
  return rows.map((r) => ({ turn: r.turn, runId: r.run_id, wrote: r.wrote }));
}

/**
 * Removes open turns from the thread (rollback): their runs are cancelled by the caller, their
 * messages no longer reach later turns, their summaries are no longer reused. Call under lockThread,
 * after checking that none of them wrote: the same transaction keeps any write from starting since.
 */
export async function rollBackTurns(client: DbClient, threadId: string, turns: readonly number[]): Promise<void> {
  await client.query('UPDATE thread_turns SET rolled_back_at = now() WHERE thread_id = $1 AND turn = ANY($2)', [threadId, turns]);
}

/** Appends the run as the thread's next turn; its number. Call under lockThread. */
export async function appendTurn(client: DbClient, threadId: string, runId: string, strategy: string): Promise<number> {
  const { rows } = await client.query(
    `INSERT INTO thread_turns (thread_id, turn, run_id, strategy)
     SELECT $1, COALESCE(MAX(turn), 0) + 1, $2, $3 FROM thread_turns WHERE thread_id = $1 RETURNING turn`,
    [threadId, runId, strategy],
  );
  await client.query('UPDATE threads SET updated_at = now() WHERE thread_id = $1', [threadId]);
  return rows[0].turn;
}

/** Forgets a turn whose workflow could not be started (the request failed; nothing ran). */
export async function dropTurn(db: Queryable, runId: string): Promise<void> {
  await db.query('DELETE FROM thread_turns WHERE run_id = $1', [runId]);
}

/** The thread and turn of a run, or undefined for a run on no thread. */
export async function threadTurnOf(db: Queryable, runId: string): Promise<{ threadId: string; turn: number } | undefined> {
  const { rows } = await db.query('SELECT thread_id, turn FROM thread_turns WHERE run_id = $1', [runId]);
  return rows[0] && { threadId: rows[0].thread_id, turn: rows[0].turn };
}

/**
 * Notes, before a write or destructive tool of the run starts, that the run's turn can no longer be
 * rolled back; committed at once, under the turn's row lock, so a rollback either sees it (and is
 * refused) or committed first (and this answers false: the tool must not start). True for a run on
 * no thread.
 */
export async function claimWrite(db: Queryable, runId: string): Promise<boolean> {
  const { rows } = await db.query(
    `WITH turn AS (SELECT rolled_back_at FROM thread_turns WHERE run_id = $1 FOR UPDATE),
          claimed AS (UPDATE thread_turns SET wrote_at = coalesce(wrote_at, now()) WHERE run_id = $1 AND rolled_back_at IS NULL RETURNING 1)
     SELECT (SELECT count(*) FROM turn)::int AS turns, (SELECT count(*) FROM claimed)::int AS claimed`,
    [runId],
  );
  return rows[0].turns === 0 || rows[0].claimed > 0;
}

export interface PriorTurn {
  turn: number;
  runId: string;
  /** The run's transcript (chat messages only), in (step, ordinal) order. */
  messages: ContextMessage[];
}

/** The turns before `turn` that are part of the conversation (not rolled back), oldest first, with their transcripts. */
export async function priorTurns(db: Queryable, threadId: string, turn: number): Promise<PriorTurn[]> {
  const { rows } = await db.query(
    `SELECT t.turn, t.run_id, m.step, m.ordinal, m.role, m.content, m.tool_calls, m.tool_call_id
     FROM thread_turns t JOIN run_messages m ON m.run_id = t.run_id AND m.ordinal >= 0
     WHERE t.thread_id = $1 AND t.turn < $2 AND t.rolled_back_at IS NULL
     ORDER BY t.turn, m.step, m.ordinal`,
    [threadId, turn],
  );
  const turns: PriorTurn[] = [];
  for (const r of rows) {
    if (turns.at(-1)?.turn !== r.turn) turns.push({ turn: r.turn, runId: r.run_id, messages: [] });
    turns.at(-1)!.messages.push({
      step: r.step, ordinal: r.ordinal, role: r.role, content: r.content,
      toolCalls: (r.tool_calls ?? undefined) as ToolCall[] | undefined, toolCallId: r.tool_call_id ?? undefined,
    });
  }
  return turns;
}

export interface ThreadSummary {
  runId: string;
  /** The step of that run that made it. */
  step: number;
  throughTurn: number;
  throughStep: number;
  content: string;
}

/**
 * The latest summary a run's step may use: made by an earlier turn still in the conversation, or by
 * this run at or before `step`; latest by what it covers. Undefined when there is none.
 */
export async function latestThreadSummary(
  db: Queryable, at: { threadId: string; turn: number; runId: string; step: number },
): Promise<ThreadSummary | undefined> {
  const { rows } = await db.query(
    `SELECT s.run_id, s.step, s.through_turn, s.through_step, s.content
     FROM thread_summaries s JOIN thread_turns t ON t.run_id = s.run_id
     WHERE s.thread_id = $1 AND t.rolled_back_at IS NULL AND (t.turn < $2 OR (s.run_id = $3 AND s.step <= $4))
     ORDER BY s.through_turn DESC, s.through_step DESC, s.created_at DESC LIMIT 1`,
    [at.threadId, at.turn, at.runId, at.step],
  );
  const r = rows[0];
  return r && { runId: r.run_id, step: r.step, throughTurn: r.through_turn, throughStep: r.through_step, content: r.content };
}

/** Keeps a summary for the thread's later turns; in the transaction that records it as the run's step. */
export async function appendThreadSummary(client: DbClient, threadId: string, s: ThreadSummary): Promise<void> {
  await client.query(
    `INSERT INTO thread_summaries (thread_id, run_id, step, through_turn, through_step, content)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
    [threadId, s.runId, s.step, s.throughTurn, s.throughStep, s.content],
  );
}

/** The thread's turns with their runs, in order (rolled-back ones included, marked). */
export async function turnsOfThread(db: Queryable, threadId: string) {
  const { rows } = await db.query(
    `SELECT t.turn, t.run_id AS "runId", t.strategy, coalesce(r.status, 'queued') AS status, r.input,
            t.created_at AS "createdAt", t.rolled_back_at IS NOT NULL AS "rolledBack"
     FROM thread_turns t LEFT JOIN runs r ON r.run_id = t.run_id WHERE t.thread_id = $1 ORDER BY t.turn`,
    [threadId],
  );
  return rows as { turn: number; runId: string; strategy: string; status: string; input: string | null; createdAt: string; rolledBack: boolean }[];
}

/**
 * The conversation: the messages of the thread's turns that are part of it, in order, as a client reads them.
 * A tool's result shows as its step row shows it (JSON text of detail.result: redacted by the tool's pinned
 * rules, as `GET /v1/runs/:runId`, the audit log and the events show it), never as the model was shown it.
 */
export async function messagesOfThread(db: Queryable, threadId: string) {
  const { rows } = await db.query(
    `SELECT t.turn, t.run_id AS "runId", m.step, m.role, m.content,
            CASE WHEN m.tool_calls IS NULL THEN NULL ELSE (SELECT jsonb_agg(c->>'name') FROM jsonb_array_elements(m.tool_calls) c) END AS "toolCalls",
            CASE WHEN s.detail ? 'result' THEN jsonb_build_array(s.detail->'result') END AS "shownResult"
     FROM thread_turns t JOIN run_messages m ON m.run_id = t.run_id AND m.ordinal >= 0
     LEFT JOIN run_steps s ON m.role = 'tool' AND s.kind = 'tool' AND (s.run_id, s.step, s.ordinal) = (m.run_id, m.step, m.ordinal)
     WHERE t.thread_id = $1 AND t.rolled_back_at IS NULL ORDER BY t.turn, m.step, m.ordinal`,
    [threadId],
  );
  // shownResult wraps the result in an array: a JSON null result stays apart from "no step row".
  return rows.map(({ shownResult, ...message }) => ({ ...message, content: shownResult ? JSON.stringify(shownResult[0]) : message.content })) as {
    turn: number; runId: string; step: number; role: string; content: string | null; toolCalls: string[] | null;
  }[];
}
