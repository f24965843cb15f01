/**
 * Activities and the end of their run (src/db/runEnd.ts). A long call heartbeats, so it hears of a
 * cancellation and stops; one whose run ended while it worked writes nothing, notes a result that
 * arrived too late, and fails without retries, since there is nothing left to do.
 */
import { Context } from '@temporalio/activity';
import { settleBudget } from '../db/budgets';
import { inTransaction, type Db } from '../db/pool';
import { recordDiscardedResult, RunEndedError } from '../db/runEnd';
import type { Usage } from '../shared/domain';
import { FailureType, terminalFailure } from '../shared/failures';

type Activity = (...args: never[]) => Promise<unknown>;

/** The activities, each throwing a non-retryable `RunEnded` failure where its work found its run ended (RunEndedError). */
export function failingAsRunEnded<T extends Record<string, Activity>>(activities: T): T {
  const wrap = (activity: Activity) => async (...args: never[]) => {
    try {
      return await activity(...args);
    } catch (err) {
      if (err instanceof RunEndedError) throw terminalFailure(FailureType.RunEnded, err.message);
      throw err;
    }
  };
  return Object.fromEntries(Object.entries(activities).map(([name, activity]) => [name, wrap(activity)])) as T;
}

export interface LateReply {
  runId: string;
  tenantId: string;
  step: number;
  /** 0 for the step's reply, -1 for its context summary. */
  ordinal: number;
  model: string;
  reservationId: string;
  usage: Usage;
}

/**
 * A model reply that arrived after its run ended: not stored, but paid for, so the tenant's budget
 * reservation is settled at the real cost (outside the run, whose totals stopped at its end) and
 * the discard notes what it cost.
 */
export async function discardLateReply(db: Db, ended: RunEndedError, reply: LateReply): Promise<void> {
  await inTransaction(db, (client) => settleBudget(client, reply.tenantId, reply.reservationId, reply.usage.costUsd));
  await recordDiscardedResult(db, {
    runId: reply.runId, step: reply.step, ordinal: reply.ordinal, kind: 'model', name: reply.model, runStatus: ended.status,
    detail: { usage: reply.usage },
  });
}

/**
 * Runs `work` while heartbeating every second: Temporal notices a dead worker within the activity's
 * heartbeat timeout, and a cancellation (the run was cancelled) reaches the activity with the next
 * heartbeat and aborts the signal `work` is given. Outside an activity (tests that call activities
 * directly) `work` just runs, with a signal that never aborts.
 */
export async function withHeartbeats<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const context = activityContext();
  if (!context) return work(new AbortController().signal);
  const timer = setInterval(() => context.heartbeat(), 1000);
  try {
    return await work(context.cancellationSignal);
  } finally {
    clearInterval(timer);
  }
}

/** The running activity's context; undefined outside an activity (tests calling activities directly). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
