/**
 * How a run ends: recorded once, with the outcome the workflow returns: by the model step that
 * answered (callModel ends the run with its final answer, see answered), or else by finishRun.
 */
import { CancellationScope, ContinueAsNew, isCancellation } from '@temporalio/workflow';
import type { RunOutcome } from '../../shared/domain';
import { activityFailureOf, failureTypeOf, FailureType, terminalFailure } from '../../shared/failures';
import { runErrorCodeOf } from '../../shared/runErrors';
import { bookkeepingNow } from './proxies';
import { setStatus, type Run } from './state';

export async function finish(run: Run, outcome: Omit<RunOutcome, 'steps' | 'usage'>): Promise<RunOutcome> {
  setStatus(run, outcome.status);
  await bookkeepingNow(run).finishRun({ runId: run.input.runId, ...outcome });
  return outcomeOf(run, outcome);
}

/** A run that callModel ended with its final answer (`endsRunOnAnswer`): only the workflow's own state is left to settle. */
export function answered(run: Run, output: string): RunOutcome {
  const outcome = { status: 'completed' as const, output };
  setStatus(run, outcome.status);
  return outcomeOf(run, outcome);
}

function outcomeOf(run: Run, outcome: Omit<RunOutcome, 'steps' | 'usage'>): RunOutcome {
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
  const failure = activityFailureOf(err);
  const root = failure instanceof Error ? failure : err;
  return root instanceof Error ? root.message : String(root);
}
