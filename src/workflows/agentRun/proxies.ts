/**
 * The run's activities, grouped by the timeouts and retry policy (src/shared/failures.ts) each group
 * needs, and which of them run as local activities.
 *
 * A local activity runs inside the workflow task on the workflow's own worker and is recorded as
 * one marker: no activity task to schedule, dispatch and complete, and no workflow task of its own
 * afterwards. Temporal allows it for short, idempotent work: the activity may run again when the
 * worker dies before the workflow task completes (another worker replays up to it and runs it
 * again), it cannot heartbeat, and while it runs (or retries locally) the workflow task stays open.
 * Retries that would wait longer than LOCAL_RETRY_THRESHOLD become timers of the workflow instead,
 * so PostgreSQL being away for long delays the run without holding a workflow task open.
 *
 * | Activity         | Kind    | Why |
 * |------------------|---------|-----|
 * | queueForSlot     | local   | one short check, idempotent (a run admitted stays admitted, a queued one keeps its ticket); the wait for a slot is a signal and a condition (./admission.ts); the waits for a tool's worker or the run's row stay regular retries (localAdmission) |
 * | callModel        | local   | see "The model call" below |
 * | executeTool, read tool hosted here | local | see "Read tools" below |
 * | executeTool, other | regular | writes and destructive tools may be long, heartbeat, run at most once after an approval, on their tool's own task queue; reads this worker does not host run there too |
 * | requestApprovals | local   | one short transaction, idempotent (ON CONFLICT DO NOTHING on approval IDs the workflow chose, keyed events) |
 * | expireApproval   | local   | one short transaction, idempotent (only a pending approval expires; the stored decision is the answer) |
 * | recordToolError  | local   | one short transaction, idempotent (a recorded (step, ordinal) is left as it is) |
 * | finishRun        | local   | one short transaction, idempotent (an ended run is left as it ended); for ends other than a final answer |
 * | admitRun         | regular | runs from before the wake-ups only: they poll for a slot through retries with server-side delays |
 * | startRun         | regular | runs from before fair admission only: their histories schedule it so |
 * | setRunStatus     | regular | runs from before fair admission only: their histories schedule it so |
 *
 * The model call (since LOCAL_STEPS), as Temporal's own OpenAI Agents integrations offer it
 * (`use_local_activity`): it is idempotent per step (a retry, or a second worker replaying after
 * the first died, finds the stored reply; the budget reservation is keyed by run and step), so
 * running it again is safe. What changes: heartbeat() does nothing in a local activity, but a
 * local activity hears of its cancellation without heartbeats (the run's cancellation reaches it
 * once the workflow task that carries it runs, at most 80 % of the workflow task timeout later,
 * since the call keeps its workflow task open); a call longer than that has its workflow task
 * heartbeated by the SDK (three events every 8 s); a dead worker is noticed by the workflow task
 * timeout (10 s) instead of the heartbeat timeout (10 s), and the call starts again on another
 * worker with attempt 1; retries waiting longer than LOCAL_RETRY_THRESHOLD (a 429's Retry-After,
 * a budget window) become workflow timers. A worker holds one workflow task slot per run in a
 * local call (src/worker/createWorker.ts sizes them).
 *
 * Turns of a thread keep regular activities (see localSteps).
 *
 * Read tools (since LOCAL_STEPS): code tools run on their own task queue
 * (`<queue>/tool/<name>@<version>#<schemaHash>`), so a local activity can run a read only where
 * the workflow's own worker hosts that exact tool (or, for HTTP and MCP tools, which every worker
 * runs, always). The call is tried here first (`here`); a worker without the tool fails it at once
 * with the non-retryable ToolNotHosted, recorded in the marker, and the workflow calls the tool as
 * a regular activity on its queue, as before.
 *
 * A final answer ends the run in callModel's own transaction (the reply, its step row and the run's
 * end commit together), so a completed run has no finishRun at all. Runs whose history has no
 * LEAN_STEPS marker schedule every one of these as a regular activity and end with finishRun, as
 * they did; leanSteps() tells which branch a decision takes, localSteps() likewise for LOCAL_STEPS.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { FailureType, runRetryPolicies } from '../../shared/failures';
import type { AgentRunInput } from '../../shared/domain';
import { LEAN_STEPS, LOCAL_STEPS, since, type ShapedRun } from './patches';

/** Run rows, events, approvals and admission in PostgreSQL. */
export const bookkeeping = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds', retry: runRetryPolicies.bookkeeping });

/** Past this backoff a local retry becomes a workflow timer rather than a wait inside an open workflow task. */
export const LOCAL_RETRY_THRESHOLD = '10 seconds';

/** The short, idempotent bookkeeping of the table above, as local activities. */
export const localBookkeeping = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  localRetryThreshold: LOCAL_RETRY_THRESHOLD,
  retry: runRetryPolicies.bookkeeping,
});

export const model = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', heartbeatTimeout: '10 seconds', retry: runRetryPolicies.model });

/**
 * Admission's check as a local activity (LOCAL_STEPS). A run that must wait for a worker with its
 * tools (RunQueued) or for its row (RunRecordMissing) is not retried here, where each retry would
 * hold the workflow task open: ./admission.ts waits for those through the regular activity.
 */
export const localAdmission = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  localRetryThreshold: LOCAL_RETRY_THRESHOLD,
  retry: {
    ...runRetryPolicies.bookkeeping,
    nonRetryableErrorTypes: [...(runRetryPolicies.bookkeeping.nonRetryableErrorTypes ?? []), FailureType.RunQueued, FailureType.RunRecordMissing],
  },
});

/** The model call as a local activity (LOCAL_STEPS); the same timeout and retry policy. */
export const localModel = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  localRetryThreshold: LOCAL_RETRY_THRESHOLD,
  retry: runRetryPolicies.model,
});

export const tools = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // Tools heartbeat while they work: a dead worker's call moves on, and a cancelled run's call stops.
  heartbeatTimeout: '10 seconds',
  retry: runRetryPolicies.tools,
});

/** True where the run takes the lean shape (new runs, and runs in flight from here on); false replaying an older history up to here. */
export const leanSteps = (run: ShapedRun): boolean => since(run, LEAN_STEPS);

/** The bookkeeping activities for a decision taken now: local on the lean branch, regular before it. */
export const bookkeepingNow = (run: ShapedRun) => (leanSteps(run) ? localBookkeeping : bookkeeping);

/**
 * True where the run takes the local-steps shape (new runs, and runs in flight from here on), but
 * never for a turn of a thread: a newer message may interrupt it, a signal a run sees only between
 * workflow tasks (which local steps hold open), or roll it back, cancelling its model call, which
 * a local activity hears of only when its workflow task next runs (up to 8 s later, by which time
 * the model may have answered and ended the run).
 */
export const localSteps = (run: ShapedRun & { readonly input: Pick<AgentRunInput, 'onThread'> }): boolean => !run.input.onThread && since(run, LOCAL_STEPS);
