/**
 * Admission: how many runs may be `running` at once, and which queued run goes next.
 *
 * A run holds a slot of its tenant's and of the system's exactly while its row says `running`, so
 * a slot is released by whatever ends that status: finishing (or failing, or being cancelled), or
 * parking on an approval (a run waiting for a human holds no slot and queues again, at the front of
 * its tenant's line, once decided). An allocation takes the admission lock (a PostgreSQL advisory
 * lock) and fills every free slot at once, in this order:
 *
 * - within a tenant, first in first out (creation order; a run back from an approval is older than
 *   the runs queued behind it, so it goes first);
 * - across tenants, the next slot goes to the tenant with the fewest running runs among those with
 *   a queued run and room under their own limit; ties go to the oldest queued run. A tenant that
 *   floods the system therefore only ever gets the slots nobody with fewer runs is waiting for.
 *
 * Who allocates, and how a queued run learns it was admitted (no polling):
 *
 * - A queued run checks once (`queueForSlot`: its own poll, which allocates when there may be a
 *   slot for it), then its workflow waits for the `admitted` signal (src/shared/admission.ts).
 * - Whatever frees a slot allocates right after its commit (`fillFreeSlots`, from finishRun and
 *   requestApprovals), and every allocation signals the runs it admitted through the worker's
 *   Temporal client (`signalAdmitted`). A freed slot is taken within one allocation and one signal
 *   (a few ms), and 10,000 queued runs cost neither Temporal nor PostgreSQL anything per second
 *   beyond their safety polls.
 * - No lost wake-up: the run subscribes before its check, so a slot freed before it waited is seen
 *   by the check itself; a signal lost to a crash (after the allocation's commit, before the
 *   signal) or to an unreachable workflow, or an allocation lost with its activity, is recovered by
 *   the run's safety poll: it polls once after `recheckAfterMs` (BOSUN_ADMISSION_SAFETY_POLL, 60 s,
 *   at the front of a line; runs further back poll up to ten times less often, since nothing can be
 *   lost for them until they near the front). A freeing activity whose allocation fails is retried,
 *   and its retry allocates again.
 * - Chosen over one admission workflow per tenant: that workflow's history would grow with every
 *   admission and need continue-as-new, its signals would take a workflow task of its own before
 *   the run's, and the lock and the allocation already live in PostgreSQL, next to the rows they count.
 * - Temporal's task-queue fairness keys are not used: they order tasks already on a queue, while a
 *   queued run has no task on any queue until it is admitted (limits are per tenant and global, and
 *   the allocation enforces both); its model and tool tasks after admission are few per tenant by then.
 * - Runs from before (no `admission-wake` marker) poll by retrying `admitRun` (retryDelayMs); their
 *   polls allocate and wake the others too.
 *
 * Only queued runs with a live workflow behind them are admitted: one that polled within
 * `liveWindowMs` (longer than the longest safety poll; or, never polled yet, was created within
 * `firstPollGraceMs`, which keeps its place without letting the allocator admit it). A row whose
 * workflow is gone (terminated in Temporal, or never started) drops out of the line once its last
 * poll is older than that, rather than being admitted and leaked.
 *
 * Runs waiting for a worker with one of their tools (waitForToolWorkers) keep a slower poll: the
 * check is retried every 2 s while no live worker has them, with the reason on the run's row.
 */
import { log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import type { RunLimits } from '../config';
import { afterCommit, inTransaction, type Db, type DbClient } from '../db/pool';
import { appendRunEvent, eventKeys } from '../db/runEvents';
import {
  admissionRoom, admitQueuedRun, anyRunWaiting, notePoll, noteWaitingFor, queuedRuns, runningByTenant, runStatusOf, takeAdmissionLock,
  tenantRunLimits, type LiveWindows,
} from '../db/admission';
import { queuesWithoutLiveWorker } from '../db/toolRegistry';
import { ADMITTED_SIGNAL, type AdmittedSignal } from '../shared/admission';
import { FailureType } from '../shared/failures';
import { runStarted } from './runLifecycle';

/** What allocations need: the database, the limits, the safety poll, and how to wake the runs they admit. */
export interface Admission {
  db: Db;
  limits: RunLimits;
  /** How long (ms) a queued run at the front of its line waits for its wake-up before it polls once anyway. */
  safetyPollMs: number;
  wake: WakeRuns;
}

/** A run an allocation admitted, and the ticket its wake-up carries (AdmittedSignal). */
export interface AdmittedRun {
  runId: string;
  ticket: number;
}

/** Tells the workflows of admitted runs so. Never throws: a wake-up it loses is recovered by the run's safety poll. */
export type WakeRuns = (runs: readonly AdmittedRun[]) => Promise<void>;

export const admissionTiming = {
  /**
   * How soon a run from before the wake-ups asks to poll again (see retryDelayMs). A run admitted by
   * another run's poll starts on its own next poll, so the front of a line polls often.
   * (Temporal's dev server fires activity retries about a second apart at the shortest.)
   */
  frontRetryMs: 300,
  /** Places at the front of a line that poll every frontRetryMs; each place further back adds 100 ms. */
  frontPlaces: 5,
  maxRetryMs: 5_000,
  /** Places at the front of a line that poll every safety poll; further back, the wait stretches with the place. */
  safetyFrontPlaces: 10,
  /** The longest safety poll, in safety polls (a run at place 100 or further back). */
  safetyStretchMax: 10,
  /** A queued run that never polled keeps its place in line this long after its creation. */
  firstPollGraceMs: 10_000,
};

/** The front of a line asks for 300 ms; a run 20 places back for 1.8 s; none for more than 5 s. */
export function retryDelayMs(position: number): number {
  const { frontRetryMs, frontPlaces, maxRetryMs } = admissionTiming;
  return Math.min(frontRetryMs + 100 * Math.max(0, position - frontPlaces), maxRetryMs);
}

/**
 * How long (ms) a waiting run sleeps before its safety poll: `safetyPollMs` for the first ten
 * places of its line (or an unknown place), one more safety poll per ten places beyond, at most
 * ten; ±10 % (`random` in [0, 1)) so that a long line's polls do not come in bursts.
 */
export function recheckAfterMs(position: number | undefined, safetyPollMs: number, random = Math.random()): number {
  const { safetyFrontPlaces, safetyStretchMax } = admissionTiming;
  const stretch = Math.min(safetyStretchMax, Math.max(1, Math.ceil((position ?? 1) / safetyFrontPlaces)));
  return Math.round(stretch * safetyPollMs * (0.9 + 0.2 * random));
}

/** A queued run that polled within the longest safety poll (and 30 s to spare) has a live workflow: it may be admitted. */
export function liveWindowsOf(safetyPollMs: number): LiveWindows {
  return { liveWindowMs: Math.ceil(1.1 * admissionTiming.safetyStretchMax * safetyPollMs) + 30_000, firstPollGraceMs: admissionTiming.firstPollGraceMs };
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
  /**
   * Still queued; `position` in its tenant's line (1 = next), unless the admission lock was busy too
   * long; `ticket`: this poll's (AdmittedSignal).
   */
  | { admitted: false; position: number | undefined; ticket: number };

/**
 * One poll of a run for a slot: records that the run is alive (committed at once, so a concurrent
 * allocation sees it), requeues it when it comes back from an approval, and, when there may be a
 * slot for it, admits every run that fits, this one or not, under the admission lock, waking the
 * others. Undefined when the run has no row yet.
 */
export async function pollAdmission(admission: Admission, runId: string): Promise<AdmissionOutcome | undefined> {
  const { db, limits, safetyPollMs } = admission;
  const self = await notePoll(db, runId);
  if (!self) return undefined;
  // Running already (admitted by another allocation, or this poll's retry), or nothing to wait for.
  if (self.status !== 'queued') return { admitted: true };

  // Without the lock, and cheap: most polls of a long line end here, leaving the lock to the front.
  const room = await admissionRoom(db, runId, liveWindowsOf(safetyPollMs));
  const tenantRoom = (room.tenantLimit ?? limits.maxRunningPerTenant) - room.runningTenant;
  const globalRoom = limits.maxRunningGlobal - room.runningAll;
  const queued = { admitted: false as const, position: room.position, ticket: self.ticket };
  // The runs ahead of it in its tenant's line would take every slot there is: the allocation that frees one wakes them.
  if (room.position > Math.min(tenantRoom, globalRoom)) return queued;
  let admitted: AdmittedRun[];
  try {
    admitted = await inTransaction(db, (client) => allocate(client, admission, runId));
  } catch (err) {
    // Other allocations kept the lock that long: they were admitting runs; this one polls again later.
    if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) return { ...queued, position: undefined };
    throw err;
  }
  await admission.wake(admitted.filter((r) => r.runId !== runId));
  if (admitted.some((r) => r.runId === runId)) return { admitted: true };
  // Admitted (or finished) by another allocation between this poll and its turn at the lock.
  const status = await runStatusOf(db, runId);
  if (status !== 'queued') return { admitted: true };
  const position = (await admissionRoom(db, runId, liveWindowsOf(safetyPollMs))).position;
  return { ...queued, position };
}

/**
 * Fills the slots a commit just freed (a run finished, failed, or parked on an approval) and wakes
 * the runs admitted. Cheap when nobody waits (one indexed read, no lock). Rejects when the lock or
 * the database fails, so the freeing activity's retry allocates again.
 */
export async function fillFreeSlots(admission: Admission): Promise<void> {
  const { db, safetyPollMs } = admission;
  if (!(await anyRunWaiting(db, liveWindowsOf(safetyPollMs)))) return;
  const admitted = await inTransaction(db, (client) => allocate(client, admission, undefined));
  await admission.wake(admitted);
}

const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Fills every free slot under the admission lock (`forRunId`'s line is read whatever its place).
 * Allocations take the lock in turn (each is a few small queries); the only row locks taken under
 * it are those of the queued runs it admits, and nothing holding one of those waits for the
 * admission lock, so there is no deadlock. The runs admitted, to wake once this commits.
 */
async function allocate(client: DbClient, { limits, safetyPollMs }: Admission, forRunId: string | undefined): Promise<AdmittedRun[]> {
  await takeAdmissionLock(client);
  const running = await runningByTenant(client);
  const free = limits.maxRunningGlobal - [...running.values()].reduce((a, b) => a + b, 0);
  // No slot to fill: no line to read. (A run finishing in a long line of waiting runs frees one:
  // reading every line to the global limit each time made a burst of resumed runs quadratic.)
  if (free <= 0) return [];
  // No tenant can take more than the free slots in one pass, so each line is read that far at most.
  const queued = await queuedRuns(client, forRunId, liveWindowsOf(safetyPollMs), free);
  const limitByTenant = await tenantRunLimits(client, [...new Set(queued.map((r) => r.tenantId))]);

  const toAdmit = allocateSlots({
    globalLimit: limits.maxRunningGlobal,
    running,
    limitOf: (tenant) => limitByTenant.get(tenant) ?? limits.maxRunningPerTenant,
    queued,
  });
  const admitted: AdmittedRun[] = [];
  for (const id of toAdmit) {
    // One statement per run, so admitted_at (clock time) records the admission order.
    const run = await admitQueuedRun(client, id);
    if (!run) continue;
    admitted.push({ runId: id, ticket: queued.find((r) => r.runId === id)!.ticket });
    const first = await appendRunEvent(client, id, 'run.started', eventKeys.runStarted(), { agent: run.agent, status: 'running' });
    if (first !== undefined) afterCommit(client, () => runStarted(id, run, run.waitedSeconds));
  }
  return admitted;
}

/**
 * Wakes admitted runs by signalling their workflows (workflow ID = run ID) with the worker's
 * Temporal client. A signal that fails (the workflow is gone, Temporal is unreachable) is logged;
 * the run's safety poll finds it admitted.
 */
export function signalAdmitted(client: Pick<Client, 'workflow'>): WakeRuns {
  return async (runs) => {
    const sent = await Promise.allSettled(runs.map(({ runId, ticket }) =>
      client.workflow.getHandle(runId).signal<[AdmittedSignal]>(ADMITTED_SIGNAL, { ticket })));
    sent.forEach((result, i) => {
      if (result.status === 'rejected') {
        log.warn(`admitted run ${runs[i]!.runId} was not woken (its safety poll will find it admitted): ${(result.reason as Error).message}`);
      }
    });
  };
}

/** What a queued run's poll from before the wake-ups throws: retried by Temporal after the delay, logged at debug level only. */
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
