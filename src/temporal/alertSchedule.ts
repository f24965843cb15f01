/**
 * The Temporal schedule that runs the alertEvaluation workflow every BOSUN_ALERT_INTERVAL. Each
 * worker ensures it at start, idempotently: created when missing, its interval and task queue
 * updated when present, deleted when alerts are off. One schedule per task queue (a deployment),
 * so deployments sharing a namespace keep apart. Overlapping evaluations are skipped.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction } from '@temporalio/client';

/** The schedule's ID for the deployment whose main task queue is `taskQueue`. */
export const alertScheduleId = (taskQueue: string) => `bosun-alert-evaluation/${taskQueue}`;

/**
 * Makes the schedule match the configuration: every `intervalMs` on `taskQueue`, or none when
 * `intervalMs` is undefined. Rejects when Temporal cannot be reached.
 */
export async function ensureAlertSchedule(client: Client, taskQueue: string, intervalMs: number | undefined): Promise<void> {
  const scheduleId = alertScheduleId(taskQueue);
  if (intervalMs === undefined) {
    await client.schedule.getHandle(scheduleId).delete().catch((err) => {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    });
    return;
  }
  const spec = { intervals: [{ every: intervalMs }] };
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: 'alertEvaluation',
    taskQueue,
    workflowId: scheduleId,
    args: [],
    // An evaluation no worker picks up (all stopped) does not outlive a few of its successors.
    workflowExecutionTimeout: Math.max(intervalMs * 5, 10 * 60_000),
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: Math.max(intervalMs, 60_000) };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  }
}
