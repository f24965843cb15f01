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
import { configSchema, type RunLimits } from '../config';
import { inTransaction, type Db, type DbClient } from '../db/pool';
import { appendRunEvent, eventKeys } from '../db/runEvents';
import { FailureType } from '../shared/failures';

/** The configuration's defaults, for workers that do not pass limits. */
export const defaultRunLimits: RunLimits = {
  maxRunningPerTenant: configSchema.shape.BOSUN_MAX_RUNNING_PER_TENANT.parse(undefined),
  maxRunningGlobal: configSchema.shape.BOSUN_MAX_RUNNING_GLOBAL.parse(undefined),
};

// Any constant will do; it only has to be the same in every worker (and differ from the migration lock).
const ADMISSION_LOCK = 4_242_002;

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

/** A queued row with a live workflow behind it, or one whose workflow has not polled yet but soon will. */
const waiting = (alias: string) =>
  `(${alias}.admission_polled_at >= now() - $2 * interval '1 millisecond'
    OR (${alias}.admission_polled_at IS NULL AND ${alias}.created_at >= now() - $3 * interval '1 millisecond'))`;

/**
 * One poll of a run for a slot: records that the run is alive (committed at once, so a concurrent
 * poll's allocation sees it), requeues it when it comes back from an approval, and, when there may
 * be a slot for it, admits every run that fits, this one or not, under the admission lock.
 * Undefined when the run has no row yet.
 */
export async function pollAdmission(db: Db, runId: string, limits: RunLimits): Promise<AdmissionOutcome | undefined> {
  const polled = await db.query(
    `UPDATE runs SET admission_polled_at = now(),
            status = CASE WHEN status = 'awaiting_approval' THEN 'queued' ELSE status END,
            updated_at = CASE WHEN status = 'awaiting_approval' THEN now() ELSE updated_at END
     WHERE run_id = $1 RETURNING status, tenant_id`,
    [runId],
  );
  const self = polled.rows[0];
  if (!self) return undefined;
  // Running already (admitted by another run's poll, or this poll's retry), or nothing to wait for.
  if (self.status !== 'queued') return { admitted: true };

  // Without the lock, and cheap: most polls of a long line end here, leaving the lock to the front.
  const { rows: [room] } = await db.query(
    `SELECT (SELECT count(*)::int FROM runs WHERE status = 'running') AS running_all,
            (SELECT count(*)::int FROM runs WHERE status = 'running' AND tenant_id = r.tenant_id) AS running_tenant,
            (SELECT max_running FROM tenant_limits WHERE tenant_id = r.tenant_id) AS tenant_limit,
            (SELECT count(*)::int + 1 FROM runs q
             WHERE q.tenant_id = r.tenant_id AND q.status = 'queued' AND (q.created_at, q.run_id) < (r.created_at, r.run_id)
               AND ${waiting('q')}) AS position
     FROM runs r WHERE r.run_id = $1`,
    [runId, admissionTiming.liveWindowMs, admissionTiming.firstPollGraceMs],
  );
  const tenantRoom = (room.tenant_limit ?? limits.maxRunningPerTenant) - room.running_tenant;
  const globalRoom = limits.maxRunningGlobal - room.running_all;
  // The runs ahead of it in its tenant's line would take every slot there is; their polls fill them.
  if (room.position > Math.min(tenantRoom, globalRoom)) return { admitted: false, position: room.position };
  try {
    return await inTransaction(db, (client) => allocate(client, runId, self.tenant_id, limits));
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
  await client.query(`SET LOCAL lock_timeout = '2s'`);
  await client.query('SELECT pg_advisory_xact_lock($1)', [ADMISSION_LOCK]);

  const { rows: runningRows } = await client.query(
    `SELECT tenant_id, count(*)::int AS n FROM runs WHERE status = 'running' GROUP BY tenant_id`,
  );
  // No tenant can take more than the global limit in one pass, so each line is read that far at most.
  const { rows: queuedRows } = await client.query(
    `SELECT run_id, tenant_id, live FROM (
       SELECT run_id, tenant_id, created_at, coalesce(admission_polled_at >= now() - $2 * interval '1 millisecond', false) AS live,
              row_number() OVER (PARTITION BY tenant_id ORDER BY created_at, run_id) AS place
       FROM runs q WHERE status = 'queued' AND ${waiting('q')}
     ) line WHERE place <= $4 OR run_id = $1
     ORDER BY created_at, run_id`,
    [runId, admissionTiming.liveWindowMs, admissionTiming.firstPollGraceMs, limits.maxRunningGlobal],
  );
  const queued: QueuedRun[] = queuedRows.map((r) => ({ runId: r.run_id, tenantId: r.tenant_id, live: r.live }));
  const tenants = [...new Set(queued.map((r) => r.tenantId))];
  const { rows: overrides } = await client.query('SELECT tenant_id, max_running FROM tenant_limits WHERE tenant_id = ANY($1)', [tenants]);
  const limitByTenant = new Map<string, number>(overrides.map((o) => [o.tenant_id, o.max_running]));

  const toAdmit = allocateSlots({
    globalLimit: limits.maxRunningGlobal,
    running: new Map(runningRows.map((r) => [r.tenant_id, r.n])),
    limitOf: (tenant) => limitByTenant.get(tenant) ?? limits.maxRunningPerTenant,
    queued,
  });
  let admittedSelf = false;
  for (const id of toAdmit) {
    // One statement per run, so admitted_at (clock time) records the admission order.
    const { rows } = await client.query(
      `UPDATE runs SET status = 'running', admitted_at = clock_timestamp(), started_at = coalesce(started_at, clock_timestamp()),
              updated_at = now()
       WHERE run_id = $1 AND status = 'queued' RETURNING agent`,
      [id],
    );
    if (!rows[0]) continue;
    if (id === runId) admittedSelf = true;
    await appendRunEvent(client, id, 'run.started', eventKeys.runStarted(), { agent: rows[0].agent, status: 'running' });
  }
  if (admittedSelf) return { admitted: true };
  if (!queued.some((r) => r.runId === runId)) {
    // Admitted (or finished) by another poll between this poll's heartbeat and its turn at the lock.
    const { rows } = await client.query('SELECT status FROM runs WHERE run_id = $1', [runId]);
    if (rows[0]?.status !== 'queued') return { admitted: true };
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
