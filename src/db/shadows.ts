/**
 * The `shadows` and `shadow_runs` tables (issue 15): a shadow replay, the production runs it
 * selected, and the staging run that replays each.
 */
import type { RunStatus } from '../shared/domain';
import type { Queryable } from './pool';

export interface ShadowRow {
  shadowId: string;
  tenantId: string;
  agent: string;
  bundleId: string;
  selection: Record<string, unknown>;
  createdBy: string;
  createdAt: string;
}

export interface ProductionRunSelection {
  agent: string;
  statuses: readonly RunStatus[];
  since?: string;
  until?: string;
  /** At most this many runs, those first by their hash (`runHash`). */
  sample: number;
  /** Only the runs whose hash is below this rate (0 < rate ≤ 1); every matching run when absent. */
  rate?: number;
}

/**
 * A run's place in every sample, in [0, 1): the first 32 bits of the MD5 of its run ID, over 2^32.
 * Fixed per run, so a selection is repeatable, and a higher rate selects a superset of a lower one.
 */
const runHash = `(('x' || substr(md5(run_id::text), 1, 8))::bit(32)::bigint / 4294967296.0)`;

/**
 * The tenant's production runs of the agent that match, sampled by the hash of their run ID (those
 * below `rate`, then the first `sample` by hash): their IDs, inputs and bundles. The same selection
 * over the same runs answers the same runs.
 */
export async function selectProductionRuns(
  db: Queryable, tenantId: string, selection: ProductionRunSelection,
): Promise<{ runId: string; input: string; bundleId: string }[]> {
  const { rows } = await db.query(
    `SELECT run_id AS "runId", input, bundle_id AS "bundleId" FROM runs
     WHERE tenant_id = $1 AND agent = $2 AND environment = 'production' AND status = ANY($3::text[])
       AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)
       AND ($7::float8 IS NULL OR ${runHash} < $7)
     ORDER BY ${runHash}, run_id LIMIT $6`,
    [tenantId, selection.agent, selection.statuses, selection.since ?? null, selection.until ?? null, selection.sample, selection.rate ?? null],
  );
  return rows;
}

export async function insertShadow(db: Queryable, shadow: Omit<ShadowRow, 'createdAt'>): Promise<ShadowRow> {
  const { rows } = await db.query(
    `INSERT INTO shadows (shadow_id, tenant_id, agent, bundle_id, selection, created_by) VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING ${shadowColumns}`,
    [shadow.shadowId, shadow.tenantId, shadow.agent, shadow.bundleId, JSON.stringify(shadow.selection), shadow.createdBy],
  );
  return rows[0];
}

const shadowColumns = `shadow_id AS "shadowId", tenant_id AS "tenantId", agent, bundle_id AS "bundleId", selection,
  created_by AS "createdBy", created_at AS "createdAt"`;

export async function findShadow(db: Queryable, tenantId: string, agent: string, shadowId: string): Promise<ShadowRow | undefined> {
  const { rows } = await db.query(`SELECT ${shadowColumns} FROM shadows WHERE tenant_id = $1 AND agent = $2 AND shadow_id = $3`, [tenantId, agent, shadowId]);
  return rows[0];
}

/** Links a replayed run to the production run it replays. */
export async function linkShadowRun(db: Queryable, shadowId: string, originalRunId: string, runId: string): Promise<void> {
  await db.query('INSERT INTO shadow_runs (shadow_id, original_run_id, run_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [shadowId, originalRunId, runId]);
}

/** The shadow's (original, replay) pairs, in the order they were started. */
export async function shadowPairs(db: Queryable, shadowId: string): Promise<{ originalRunId: string; runId: string }[]> {
  const { rows } = await db.query(
    `SELECT original_run_id AS "originalRunId", s.run_id AS "runId" FROM shadow_runs s
     LEFT JOIN runs r ON r.run_id = s.run_id WHERE shadow_id = $1 ORDER BY r.created_at, s.run_id`,
    [shadowId],
  );
  return rows;
}

/**
 * Pending approvals of the shadow's replayed runs, each with what a human decided of the same
 * tool's call at the same position in the original run (the k-th request of a tool ↔ its k-th in
 * the original): `approved`, `rejected`, `expired`, ... or null when the original asked none.
 */
export async function pendingShadowApprovals(
  db: Queryable, shadowId: string,
): Promise<{ runId: string; approvalId: string; tool: string; original: string | null }[]> {
  const { rows } = await db.query(
    `WITH replay AS (
       SELECT a.run_id, a.approval_id, a.tool, a.status, s.original_run_id,
              row_number() OVER (PARTITION BY a.run_id, a.tool ORDER BY a.requested_at, a.approval_id) AS k
       FROM shadow_runs s JOIN approvals a ON a.run_id = s.run_id WHERE s.shadow_id = $1),
     original AS (
       SELECT a.run_id, a.tool, a.status,
              row_number() OVER (PARTITION BY a.run_id, a.tool ORDER BY a.requested_at, a.approval_id) AS k
       FROM approvals a WHERE a.run_id IN (SELECT original_run_id FROM shadow_runs WHERE shadow_id = $1))
     SELECT r.run_id AS "runId", r.approval_id AS "approvalId", r.tool, o.status AS original
     FROM replay r LEFT JOIN original o ON o.run_id = r.original_run_id AND o.tool = r.tool AND o.k = r.k
     WHERE r.status = 'pending'`,
    [shadowId],
  );
  return rows;
}
