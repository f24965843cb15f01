/**
 * The Temporal schedule that deletes expired memory records (workflow `purgeMemories`,
 * src/workflows/memoryPurge.ts), created by every worker at start. Idempotent: a schedule already
 * there is updated to the configured interval, so workers converge on one schedule per task queue.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';

/** The schedule's ID for a task queue (several Bosun deployments may share a Temporal namespace). */
export const memoryPurgeScheduleId = (taskQueue: string) => `bosun-memory-purge:${taskQueue}`;

/** Creates the purge schedule (every `intervalMs` ms), or sets an existing one's interval; returns its ID. */
export async function ensureMemoryPurgeSchedule(client: Client, taskQueue: string, intervalMs: number): Promise<string> {
  const scheduleId = memoryPurgeScheduleId(taskQueue);
  const spec = { intervals: [{ every: intervalMs }] };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action: { type: 'startWorkflow', workflowType: 'purgeMemories', args: [], taskQueue, workflowId: `${scheduleId}:run` },
      // A purge still running (or waiting for a worker) makes the next one pointless.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((current) => ({ ...current, spec }));
  }
  return scheduleId;
}
