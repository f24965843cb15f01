/** How a run ends: recorded once, by finishRun, with the outcome the workflow returns. */
import { CancellationScope, ContinueAsNew, isCancellation } from '@temporalio/workflow';
import type { RunOutcome } from '../../shared/domain';
import { failureTypeOf, FailureType, terminalFailure } from '../../shared/failures';
import { runErrorCodeOf } from '../../shared/runErrors';
import { bookkeeping } from './proxies';
import { setStatus, type Run } from './state';

export async function finish(run: Run, outcome: Omit<RunOutcome, 'steps' | 'usage'>): Promise<RunOutcome> {
  setStatus(run, outcome.status);
  await bookkeeping.finishRun({ runId: run.input.runId, ...outcome });
  return { ...outcome, steps: run.counters.step, usage: run.counters.usage };
}

/**
 * Ends a run whose loop threw. Continue-as-new passes through; a cancelled run is recorded as
 * `cancelled` and the cancellation passes through; a spent budget ends it as `budget_exceeded`;
 * anything else is recorded as `failed` with its run error code, and the workflow fails as RunFailed.
 */
export async function endOnFailure(run: Run, err: unknown): Promise<RunOutcome> {
  if (err instanceof ContinueAsNew) throw err;
  if (isCancellation(err)) {
    await CancellationScope.nonCancellable(() => finish(run, { status: 'cancelled' }));
    throw err;
  }
  const message = failureMessage(err);
  const type = failureTypeOf(err);
  const errorCode = runErrorCodeOf(type);
  if (type === FailureType.BudgetExceeded) return await finish(run, { status: 'budget_exceeded', error: message, errorCode });
  await finish(run, { status: 'failed', error: message, errorCode });
  throw terminalFailure(FailureType.RunFailed, message);
}

/** The activity's own message (an ActivityFailure's says only that the activity failed). */
function failureMessage(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const root = cause instanceof Error ? cause : err;
  return root instanceof Error ? root.message : String(root);
}
