/**
 * Admission: how many runs may be `running` at once, and which queued run goes next.
 *
 * A run holds a slot of its tenant's and of the system's exactly while its row says `running`, so
 * a slot is released by whatever ends that status: finishing, or parking on an approval (a run
 * waiting for a human holds no slot and queues again, at the front of its tenant's line, once
 * decided). Queued runs poll `admitRun` (a retried activity); a poll that may find a slot takes the
 * admission lock (a PostgreSQL advisory lock) and fills every free slot at once, in this order:
 *
 * - within a tenant, first in first out (creation order; a run back from an approval is older than
 *   the runs queued behind it, so it goes first);
 * - across tenants, the next slot goes to the tenant with the fewest running runs among those with
 *   a queued run and room under their own limit; ties go to the oldest queued run. A tenant that
 *   floods the system therefore only ever gets the slots nobody with fewer runs is waiting for.
 *
 * Only queued runs with a live workflow behind them are admitted: one that polled within
 * `liveWindowMs` (or, never polled yet, was created within `firstPollGraceMs`, which keeps its
 * place without letting the allocator admit it). A row whose workflow is gone (terminated in
 * Temporal, or never started) is skipped rather than admitted and leaked.
 */
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import type { RunLimits } from '../config';
import { inTransaction, type Db, type DbClient } from '../db/pool';
import { appendRunEvent, eventKeys } from '../db/runEvents';
import {
  admissionRoom, admitQueuedRun, notePoll, noteWaitingFor, queuedRuns, runningByTenant, runStatusOf, takeAdmissionLock, tenantRunLimits,
} from '../db/admission';
import { queuesWithoutLiveWorker } from '../db/toolRegistry';
import { FailureType } from '../shared/failures';

export const admissionTiming = {
  /**
   * How soon a queued run asks to poll again (see retryDelayMs). A run admitted by another run's
   * poll starts on its own next poll, so the front of a line polls often: that wait is a slot left
   * idle. (Temporal's dev server fires activity retries about a second apart at the shortest.)
   */
  frontRetryMs: 300,
  /** Places at the front of a line that poll every frontRetryMs; each place further back adds 100 ms. */
  frontPlaces: 5,
  maxRetryMs: 5_000,
  /** A queued run that polled within this long has a live workflow: it may be admitted. */
  liveWindowMs: 30_000,
  /** A queued run that never polled keeps its place in line this long after its creation. */
  firstPollGraceMs: 10_000,
};

/** The front of a line asks for 300 ms; a run 20 places back for 1.8 s; none for more than 5 s. */
export function retryDelayMs(position: number): number {
  const { frontRetryMs, frontPlaces, maxRetryMs } = admissionTiming;
  return Math.min(frontRetryMs + 100 * Math.max(0, position - frontPlaces), maxRetryMs);
}

export interface QueuedRun {
  runId: string;
  tenantId: string;
  /** False for a run that has not polled yet: it holds its tenant's line but cannot be admitted. */
  live: boolean;
}

export interface AdmissionState {
  globalLimit: number;
  /** Running runs by tenant. */
  running: ReadonlyMap<string, number>;
  limitOf(tenantId: string): number;
  /** Every queued run considered, oldest first (creation time, then run ID). */
  queued: readonly QueuedRun[];
}

/**
 * The runs to admit now, in admission order: water-filling over tenants (the fewest running first,
 * ties to the oldest queued run), first in first out within each. Pure, for the tests.
 */
export function allocateSlots({ globalLimit, running, limitOf, queued }: AdmissionState): string[] {
  let free = globalLimit - [...running.values()].reduce((a, b) => a + b, 0);
  const lines = new Map<string, { age: number; run: QueuedRun }[]>();
  queued.forEach((run, age) => {
    const line = lines.get(run.tenantId) ?? [];
    line.push({ age, run });
    lines.set(run.tenantId, line);
  });
  const counts = new Map(running);
  const next = new Map<string, number>();
  const admitted: string[] = [];
  while (free > 0) {
    let best: { tenantId: string; count: number; age: number; runId: string } | undefined;
    for (const [tenantId, line] of lines) {
      const head = line[next.get(tenantId) ?? 0];
      // An empty line, or one whose next run has not polled yet (first in, first out, so it waits).
      if (!head || !head.run.live) continue;
      const count = counts.get(tenantId) ?? 0;
      if (count >= limitOf(tenantId)) continue;
      if (!best || count < best.count || (count === best.count && head.age < best.age)) {
        best = { tenantId, count, age: head.age, runId: head.run.runId };
      }
    }
    if (!best) break;
    admitted.push(best.runId);
    counts.set(best.tenantId, best.count + 1);
    next.set(best.tenantId, (next.get(best.tenantId) ?? 0) + 1);
    free -= 1;
  }
  return admitted;
}

export type AdmissionOutcome =
  | { admitted: true }
  /** Still queued; `position` in its tenant's line (1 = next), unless the admission lock was busy too long. */
  | { admitted: false; position: number | undefined };

/**
 * One poll of a run for a slot: records that the run is alive (committed at once, so a concurrent
 * poll's allocation sees it), requeues it when it comes back from an approval, and, when there may
 * be a slot for it, admits every run that fits, this one or not, under the admission lock.
 * Undefined when the run has no row yet.
 */
export async function pollAdmission(db: Db, runId: string, limits: RunLimits): Promise<AdmissionOutcome | undefined> {
  const self = await notePoll(db, runId);
  if (!self) return undefined;
  // Running already (admitted by another run's poll, or this poll's retry), or nothing to wait for.
  if (self.status !== 'queued') return { admitted: true };

  // Without the lock, and cheap: most polls of a long line end here, leaving the lock to the front.
  const room = await admissionRoom(db, runId, admissionTiming);
  const tenantRoom = (room.tenantLimit ?? limits.maxRunningPerTenant) - room.runningTenant;
  const globalRoom = limits.maxRunningGlobal - room.runningAll;
  // The runs ahead of it in its tenant's line would take every slot there is; their polls fill them.
  if (room.position > Math.min(tenantRoom, globalRoom)) return { admitted: false, position: room.position };
  try {
    return await inTransaction(db, (client) => allocate(client, runId, self.tenantId, limits));
  } catch (err) {
    // Other polls kept the lock that long: they were admitting runs; this one tries again soon.
    if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) return { admitted: false, position: room.position };
    throw err;
  }
}

const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Fills every free slot. Polls take the admission lock in turn (each allocation is a few small
 * queries); the only row locks taken under it are those of the queued runs it admits, and nothing
 * holding one of those waits for the admission lock, so there is no deadlock.
 */
async function allocate(client: DbClient, runId: string, tenantId: string, limits: RunLimits): Promise<AdmissionOutcome> {
  await takeAdmissionLock(client);
  const running = await runningByTenant(client);
  // No tenant can take more than the global limit in one pass, so each line is read that far at most.
  const queued: QueuedRun[] = await queuedRuns(client, runId, admissionTiming, limits.maxRunningGlobal);
  const limitByTenant = await tenantRunLimits(client, [...new Set(queued.map((r) => r.tenantId))]);

  const toAdmit = allocateSlots({
    globalLimit: limits.maxRunningGlobal,
    running,
    limitOf: (tenant) => limitByTenant.get(tenant) ?? limits.maxRunningPerTenant,
    queued,
  });
  let admittedSelf = false;
  for (const id of toAdmit) {
    // One statement per run, so admitted_at (clock time) records the admission order.
    const admitted = await admitQueuedRun(client, id);
    if (!admitted) continue;
    if (id === runId) admittedSelf = true;
    await appendRunEvent(client, id, 'run.started', eventKeys.runStarted(), { agent: admitted.agent, status: 'running' });
  }
  if (admittedSelf) return { admitted: true };
  if (!queued.some((r) => r.runId === runId)) {
    // Admitted (or finished) by another poll between this poll's heartbeat and its turn at the lock.
    if ((await runStatusOf(client, runId)) !== 'queued') return { admitted: true };
  }
  const ownLine = queued.filter((r) => r.tenantId === tenantId && !toAdmit.includes(r.runId));
  return { admitted: false, position: ownLine.findIndex((r) => r.runId === runId) + 1 || undefined };
}

/** What a queued run's poll throws: retried by Temporal after the delay, logged at debug level only. */
export function stillQueued(runId: string, position: number | undefined): ApplicationFailure {
  const where = position === undefined ? 'queued' : `queued at position ${position} of its tenant`;
  return ApplicationFailure.create({
    type: FailureType.RunQueued,
    message: `run ${runId} is ${where}; waiting for a run slot`,
    nextRetryDelay: retryDelayMs(position ?? 1),
    category: ApplicationFailureCategory.BENIGN,
  });
}

/** How soon a run waiting for a worker with its tools asks again. */
const TOOL_WAIT_RETRY_MS = 2_000;

/**
 * Holds a run `queued` while no live worker polls one of its tools' task queues (`toolQueues`,
 * src/shared/toolSpec.ts), with the reason on its row (`waitingFor` of GET /v1/runs/:runId): it
 * neither takes a slot nor holds up its tenant's line meanwhile. Throws a retryable `RunQueued`
 * failure until the workers are there; clears the reason once they are.
 */
export async function waitForToolWorkers(db: Db, run: { runId: string; toolQueues?: readonly string[] }): Promise<void> {
  if (!run.toolQueues?.length) return;
  const missing = await queuesWithoutLiveWorker(db, run.toolQueues);
  const reason = missing.length ? `a worker with ${missing.map(toolOfQueue).join(', ')}` : null;
  const recorded = await noteWaitingFor(db, run.runId, reason);
  if (!reason || !recorded) return;
  throw ApplicationFailure.create({
    type: FailureType.RunQueued,
    message: `run ${run.runId} is queued: waiting for ${reason} (no live worker has registered it)`,
    nextRetryDelay: TOOL_WAIT_RETRY_MS,
    category: ApplicationFailureCategory.BENIGN,
  });
}

/** `name@version#hash` of a tool's task queue. */
function toolOfQueue(queue: string): string {
  return queue.slice(queue.lastIndexOf('/tool/') + '/tool/'.length);
}
