/**
 * The rows behind admission (src/activities/admission.ts decides): queued runs' polls and places in
 * line, running runs, the tenants' own limits (`tenant_limits`), and the admission lock.
 */
import type { DbClient, Queryable } from './pool';
import type { RunStatus } from '../shared/domain';
import type { Environment } from '../shared/environments';
import { waitsForEarlierTurn } from './threads';

/** How long a queued run counts as having a live workflow (ms): since its last poll, or since its creation before any. */
export interface LiveWindows {
  liveWindowMs: number;
  firstPollGraceMs: number;
}

/**
 * A queued row with a live workflow behind it, or one whose workflow has not polled yet but soon
 * will ($2, $3: LiveWindows); not one waiting for something other than a slot (`waiting_for`, e.g.
 * a worker with its tools, or an earlier turn of its thread: src/db/threads.ts), which neither takes a
 * slot nor holds up its tenant's line. The windows
 * are the query's parameters `$2` and `$3` unless named otherwise.
 */
const waiting = (alias: string, live = '$2', grace = '$3') =>
  `(${alias}.waiting_for IS NULL AND (${alias}.admission_polled_at >= now() - ${live} * interval '1 millisecond'
    OR (${alias}.admission_polled_at IS NULL AND ${alias}.created_at >= now() - ${grace} * interval '1 millisecond'))
    AND NOT ${waitsForEarlierTurn(alias)})`;

/**
 * Records why a queued run cannot be admitted yet beyond its turn (null: nothing but its turn).
 * Writes only a change. False when the run has no row yet.
 */
export async function noteWaitingFor(db: Queryable, runId: string, reason: string | null): Promise<boolean> {
  const { rows } = await db.query(
    `WITH target AS (SELECT run_id, waiting_for FROM runs WHERE run_id = $1),
          changed AS (UPDATE runs SET waiting_for = $2, updated_at = now()
                      WHERE run_id = $1 AND waiting_for IS DISTINCT FROM $2 AND finished_at IS NULL RETURNING 1)
     SELECT count(*)::int AS n FROM target`,
    [runId, reason],
  );
  return rows[0].n > 0;
}

/** `admission_polled_at` as a number (µs since the epoch, exact in a double until the year 2255): a wake-up's ticket. */
const ticketOf = (alias: string) => `floor(extract(epoch FROM ${alias}.admission_polled_at) * 1000000)::float8`;

/**
 * Notes that the run's workflow polled for a slot now (and requeues a run back from an approval).
 * Its status, tenant and poll time (`ticket`, see AdmittedSignal) afterwards, or undefined when it has no row yet.
 */
export async function notePoll(db: Queryable, runId: string): Promise<{ status: RunStatus; tenantId: string; ticket: number } | undefined> {
  const { rows } = await db.query(
    `UPDATE runs r SET admission_polled_at = now(),
            status = CASE WHEN status = 'awaiting_approval' THEN 'queued' ELSE status END,
            updated_at = CASE WHEN status = 'awaiting_approval' THEN now() ELSE updated_at END
     WHERE run_id = $1 RETURNING status, tenant_id, ${ticketOf('r')} AS ticket`,
    [runId],
  );
  return rows[0] && { status: rows[0].status, tenantId: rows[0].tenant_id, ticket: rows[0].ticket };
}

/**
 * Whether any queued run waits for a slot (one with a live workflow, or one about to poll). Read
 * without the admission lock, after the commit that freed a slot: a run queued concurrently either
 * shows here or saw the free slot in its own poll.
 */
export async function anyRunWaiting(db: Queryable, windows: LiveWindows): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT EXISTS (SELECT 1 FROM runs q WHERE status = 'queued' AND ${waiting('q', '$1', '$2')}) AS waiting`,
    [windows.liveWindowMs, windows.firstPollGraceMs],
  );
  return rows[0].waiting;
}

/**
 * Running runs in all and of the run's tenant, the tenant's own limit (null without one), and the
 * run's place in its tenant's line of waiting runs (1 = next).
 */
export async function admissionRoom(db: Queryable, runId: string, windows: LiveWindows) {
  const { rows } = await db.query(
    `SELECT (SELECT count(*)::int FROM runs WHERE status = 'running') AS running_all,
            (SELECT count(*)::int FROM runs WHERE status = 'running' AND tenant_id = r.tenant_id) AS running_tenant,
            (SELECT max_running FROM tenant_limits WHERE tenant_id = r.tenant_id) AS tenant_limit,
            (SELECT count(*)::int + 1 FROM runs q
             WHERE q.tenant_id = r.tenant_id AND q.status = 'queued' AND (q.created_at, q.run_id) < (r.created_at, r.run_id)
               AND ${waiting('q')}) AS position
     FROM runs r WHERE r.run_id = $1`,
    [runId, windows.liveWindowMs, windows.firstPollGraceMs],
  );
  const room = rows[0];
  return {
    runningAll: room.running_all as number, runningTenant: room.running_tenant as number,
    tenantLimit: room.tenant_limit as number | null, position: room.position as number,
  };
}

// Any constant will do; it only has to be the same in every worker (and differ from the other advisory locks).
const ADMISSION_LOCK = 4_242_002;

/** Takes the admission lock for the rest of the transaction, waiting at most 2 s (then PostgreSQL's lock_not_available, 55P03). */
export async function takeAdmissionLock(client: DbClient): Promise<void> {
  await client.query(`SET LOCAL lock_timeout = '2s'`);
  await client.query('SELECT pg_advisory_xact_lock($1)', [ADMISSION_LOCK]);
}

/** Running runs by tenant. */
export async function runningByTenant(client: DbClient): Promise<Map<string, number>> {
  const { rows } = await client.query(`SELECT tenant_id, count(*)::int AS n FROM runs WHERE status = 'running' GROUP BY tenant_id`);
  return new Map(rows.map((r) => [r.tenant_id, r.n]));
}

/**
 * The waiting queued runs, oldest first (creation time, then run ID): at most `perTenant` of each
 * tenant's line, and `runId` (if any) wherever it stands. `live`: polled within the live window;
 * `ticket`: its latest poll (see notePoll), 0 before any.
 */
export async function queuedRuns(
  client: DbClient, runId: string | undefined, windows: LiveWindows, perTenant: number,
): Promise<{ runId: string; tenantId: string; live: boolean; ticket: number }[]> {
  const { rows } = await client.query(
    `SELECT run_id, tenant_id, live, ticket FROM (
       SELECT run_id, tenant_id, created_at, coalesce(admission_polled_at >= now() - $2 * interval '1 millisecond', false) AS live,
              coalesce(${ticketOf('q')}, 0) AS ticket,
              row_number() OVER (PARTITION BY tenant_id ORDER BY created_at, run_id) AS place
       FROM runs q WHERE status = 'queued' AND ${waiting('q')}
     ) line WHERE place <= $4 OR run_id = $1
     ORDER BY created_at, run_id`,
    [runId ?? null, windows.liveWindowMs, windows.firstPollGraceMs, perTenant],
  );
  return rows.map((r) => ({ runId: r.run_id, tenantId: r.tenant_id, live: r.live, ticket: r.ticket }));
}

/** The tenants' own limits of running runs (tenant_limits), for those of `tenantIds` that have one. */
export async function tenantRunLimits(client: DbClient, tenantIds: string[]): Promise<Map<string, number>> {
  const { rows } = await client.query('SELECT tenant_id, max_running FROM tenant_limits WHERE tenant_id = ANY($1)', [tenantIds]);
  return new Map(rows.map((o) => [o.tenant_id, o.max_running]));
}

/**
 * Admits a queued run: `running`, with `admitted_at` at the statement's clock time (so one call per
 * run records the admission order). Its agent, tenant and seconds since its creation, or undefined
 * when it was no longer queued.
 */
export async function admitQueuedRun(client: DbClient, runId: string): Promise<{ agent: string; tenantId: string; environment: Environment; waitedSeconds: number } | undefined> {
  const { rows } = await client.query(
    `UPDATE runs SET status = 'running', admitted_at = clock_timestamp(), started_at = coalesce(started_at, clock_timestamp()),
            updated_at = now()
     WHERE run_id = $1 AND status = 'queued'
     RETURNING agent, tenant_id AS "tenantId", environment, extract(epoch FROM clock_timestamp() - created_at)::float8 AS "waitedSeconds"`,
    [runId],
  );
  return rows[0];
}

/** The run's status, or undefined without a row. */
export async function runStatusOf(db: Queryable, runId: string): Promise<RunStatus | undefined> {
  const { rows } = await db.query('SELECT status FROM runs WHERE run_id = $1', [runId]);
  return rows[0]?.status;
}
