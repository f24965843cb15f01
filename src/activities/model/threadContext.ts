/**
 * A turn of a thread sees the turns before it (docs/conversations.md). Loaded in the model
 * activity from PostgreSQL at every step, never carried by the workflow: the earlier turns'
 * transcripts (rolled-back turns left out), placed before the run's own steps on one step scale
 * (src/shared/threads.ts), and the thread's summaries, which any turn's step may reuse: a summary
 * made by turn 2 covering turns 1–2 serves turn 3 without another summary call.
 */
import type { Db, Queryable } from '../../db/pool';
import type { LockedRun } from '../../db/runEnd';
import { latestThreadSummary, priorTurns } from '../../db/threads';
import type { ContextMessage } from '../../shared/domain';
import { earlierTranscript, positionOfStep, stepOnScale } from '../../shared/threads';

export interface ThreadContext {
  threadId: string;
  turn: number;
  /** The earlier turns in the conversation, oldest first (their numbers place positions on the step scale). */
  earlier: { turn: number }[];
  /** Their messages on the run's step scale (negative steps). */
  transcript: ContextMessage[];
}

/** The thread context of a run at `at` on its thread (LockedRun's threadTurn), or undefined for a run on none. */
export async function loadThreadContext(db: Queryable, at: LockedRun['threadTurn']): Promise<ThreadContext | undefined> {
  if (!at) return undefined;
  const turns = await priorTurns(db, at.threadId, at.turn);
  return { ...at, earlier: turns.map(({ turn }) => ({ turn })), transcript: earlierTranscript(turns) };
}

/**
 * The latest summary the run's `step` may use, on the run's step scale: `step` is the step that made
 * it when this run did, else -1 (made by an earlier turn; never "this step"); undefined when none.
 */
export async function threadSummaryAt(db: Db, thread: ThreadContext, runId: string, step: number) {
  const s = await latestThreadSummary(db, { threadId: thread.threadId, turn: thread.turn, runId, step });
  const throughStep = s && stepOnScale(thread.earlier, thread.turn, { turn: s.throughTurn, step: s.throughStep });
  if (!s || throughStep === undefined) return undefined;
  return { step: s.runId === runId ? s.step : -1, summary: { content: s.content, throughStep } };
}

/** A summary the run made at `step`, covering through `throughStep` of its scale, as the thread keeps it. */
export function threadSummaryOf(thread: ThreadContext, runId: string, step: number, throughStep: number, content: string) {
  const through = positionOfStep(thread.earlier, thread.turn, throughStep);
  return { runId, step, throughTurn: through.turn, throughStep: through.step, content };
}
