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
 * | admitRun         | regular | waits for a run slot through retries with server-side delays (src/workflows/agentRun/admission.ts) |
 * | startRun         | regular | runs from before fair admission only: their histories schedule it so |
 * | setRunStatus     | regular | runs from before fair admission only: their histories schedule it so |
 * | callModel        | regular | long (a provider call, minutes), heartbeats, cancellable; also ends the run on a final answer (see below) |
 * | executeTool      | regular | a tool may be long, heartbeats, runs on its tool's own task queue, and must be cancellable |
 * | requestApprovals | local   | one short transaction, idempotent (ON CONFLICT DO NOTHING on approval IDs the workflow chose, keyed events) |
 * | expireApproval   | local   | one short transaction, idempotent (only a pending approval expires; the stored decision is the answer) |
 * | recordToolError  | local   | one short transaction, idempotent (a recorded (step, ordinal) is left as it is) |
 * | finishRun        | local   | one short transaction, idempotent (an ended run is left as it ended); for ends other than a final answer |
 *
 * A final answer ends the run in callModel's own transaction (the reply, its step row and the run's
 * end commit together), so a completed run has no finishRun at all. Runs whose history has no
 * LEAN_STEPS marker schedule every one of these as a regular activity and end with finishRun, as
 * they did; leanSteps() tells which branch a decision takes.
 */
import { patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { runRetryPolicies } from '../../shared/failures';

/** Run rows, events, approvals and admission in PostgreSQL. */
export const bookkeeping = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds', retry: runRetryPolicies.bookkeeping });

/** Past this backoff a local retry becomes a workflow timer rather than a wait inside an open workflow task. */
const LOCAL_RETRY_THRESHOLD = '10 seconds';

/** The short, idempotent bookkeeping of the table above, as local activities. */
export const localBookkeeping = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  localRetryThreshold: LOCAL_RETRY_THRESHOLD,
  retry: runRetryPolicies.bookkeeping,
});

export const model = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', heartbeatTimeout: '10 seconds', retry: runRetryPolicies.model });

export const tools = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // Tools heartbeat while they work: a dead worker's call moves on, and a cancelled run's call stops.
  heartbeatTimeout: '10 seconds',
  retry: runRetryPolicies.tools,
});

/** The patch of local bookkeeping, the run's end in callModel and upserts only on a change of status. */
export const LEAN_STEPS = 'lean-steps';

/** True where the run takes the lean shape (new runs, and runs in flight from here on); false replaying an older history up to here. */
export const leanSteps = (): boolean => patched(LEAN_STEPS);

/** The bookkeeping activities for a decision taken now: local on the lean branch, regular before it. */
export const bookkeepingNow = () => (leanSteps() ? localBookkeeping : bookkeeping);
