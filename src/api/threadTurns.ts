/**
 * Double-texting: what a new message on a thread does to the thread's open runs (src/shared/threads.ts).
 * The decision and the new turn are one transaction under the thread's row lock (reserveTurn); what
 * Temporal must hear of it (an interrupt signal, a cancellation) is sent after the new run is
 * recorded (supersede), since no transaction stays open while Temporal is called.
 */
import { isGrpcServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { inTransaction, type Db } from '../db/pool';
import { appendTurn, lockThread, openTurns, rollBackTurns, type OpenTurn } from '../db/threads';
import type { MultitaskStrategy } from '../shared/threads';
import { interruptSignal } from '../workflows';
import { notFound, rollbackRefused, threadBusy } from './errors';

export interface ReservedTurn {
  threadId: string;
  turn: number;
  strategy: MultitaskStrategy;
  /** The open runs the new one supersedes: to interrupt (interrupt) or cancel (rollback) once it is recorded. */
  superseded: OpenTurn[];
}

/**
 * Appends `runId` as the thread's next turn, applying `strategy` to the thread's open turns:
 * `reject` answers 409 (thread_busy) when there is one; `rollback` answers 409 (rollback_refused)
 * when one of them started a write or destructive tool, and otherwise removes them from the thread
 * in this transaction; `enqueue` and `interrupt` leave them (admission runs the new turn after
 * them). 404 for a thread of another tenant, or one deleted meanwhile.
 */
export async function reserveTurn(db: Db, at: { tenantId: string; threadId: string; runId: string; strategy: MultitaskStrategy }): Promise<ReservedTurn> {
  const { tenantId, threadId, runId, strategy } = at;
  return inTransaction(db, async (client) => {
    if (!(await lockThread(client, tenantId, threadId))) throw notFound('Thread');
    const open = await openTurns(client, threadId);
    if (open.length > 0 && strategy === 'reject') {
      throw threadBusy(`Thread ${threadId} has an active run (${open.map((t) => t.runId).join(', ')}); send again once it has finished, or name another multitaskStrategy.`);
    }
    if (open.length > 0 && strategy === 'rollback') {
      const wrote = open.filter((t) => t.wrote);
      if (wrote.length > 0) {
        throw rollbackRefused(
          `Run ${wrote.map((t) => t.runId).join(', ')} of thread ${threadId} already started a write or destructive tool, which cannot be undone; nothing was changed.`,
        );
      }
      await rollBackTurns(client, threadId, open.map((t) => t.turn));
    }
    const turn = await appendTurn(client, threadId, runId, strategy);
    return { threadId, turn, strategy, superseded: strategy === 'interrupt' || strategy === 'rollback' ? open : [] };
  });
}

/** How long a superseded run's workflow may still be starting (its request came a moment earlier): retried this long. */
const SUPERSEDE_RETRY_MS = 5_000;
const SUPERSEDE_RETRY_INTERVAL_MS = 100;

/**
 * Tells Temporal what the reservation decided: each superseded run is signalled to stop at its next
 * safe point (interrupt) or cancelled (rollback). A workflow not found yet is asked again for a few
 * seconds (the message that started it may have come 10 ms earlier); one that has ended already
 * needs nothing. Other failures propagate (Temporal away); the caller has recorded the new run already.
 */
export async function supersede(temporal: Client, call: <T>(f: () => Promise<T>) => Promise<T>, reserved: ReservedTurn): Promise<void> {
  const reason = `a newer message on thread ${reserved.threadId} (turn ${reserved.turn})`;
  for (const { runId } of reserved.superseded) {
    const handle = temporal.workflow.getHandle(runId);
    const act = async () => {
      if (reserved.strategy === 'interrupt') await handle.signal(interruptSignal, { reason });
      else await handle.cancel();
    };
    await untilFound(() => call(act), () => call(() => handle.describe()));
  }
}

/** Runs `attempt` until it finds its workflow (within SUPERSEDE_RETRY_MS), or `exists` shows the workflow there but closed. */
async function untilFound(attempt: () => Promise<unknown>, exists: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + SUPERSEDE_RETRY_MS;
  for (;;) {
    try {
      await attempt();
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // Signals and cancellations of a workflow that has closed answer "not found" too: then there is nothing to stop.
      if (await exists().then(() => true, (e) => (isNotFound(e) ? false : Promise.reject(e)))) return;
      if (Date.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, SUPERSEDE_RETRY_INTERVAL_MS));
    }
  }
}

/** gRPC NOT_FOUND (5), or the client's own error for it. */
const isNotFound = (err: unknown) => err instanceof WorkflowNotFoundError || (isGrpcServiceError(err) && err.code === 5);
