/**
 * Environments (issue 15): the `staging_deployments` and `promotion_gates` tables, and the evidence
 * a promotion to production is checked against (staging runs of the bundle, its latest eval).
 * Production's deployment stays in src/bundles/deployments.ts.
 */
import type { Queryable } from './pool';
import type { PromotionGate, StagingEvidence } from '../shared/environments';

export interface StagingDeployment {
  agent: string;
  bundleId: string;
  /** The tenant whose rows staging runs' tools see; null: the run's own. */
  sandboxTenant: string | null;
  updatedBy: string;
  updatedAt: string;
}

const stagingColumns = `agent, bundle_id AS "bundleId", sandbox_tenant AS "sandboxTenant", updated_by AS "updatedBy", updated_at AS "updatedAt"`;

export async function getStagingDeployment(db: Queryable, tenantId: string, agent: string): Promise<StagingDeployment | undefined> {
  const { rows } = await db.query(`SELECT ${stagingColumns} FROM staging_deployments WHERE tenant_id = $1 AND agent = $2`, [tenantId, agent]);
  return rows[0];
}

/**
 * Points the agent's staging runs at `bundleId`, and their tools at `sandboxTenant` (null: the
 * run's own tenant; undefined: the one set before, if any).
 */
export async function setStagingDeployment(
  db: Queryable, tenantId: string, agent: string, { bundleId, sandboxTenant }: { bundleId: string; sandboxTenant?: string | null }, by: string,
): Promise<StagingDeployment> {
  const { rows } = await db.query(
    `INSERT INTO staging_deployments (tenant_id, agent, bundle_id, sandbox_tenant, updated_by) VALUES ($1, $2, $3, $5, $4)
     ON CONFLICT (tenant_id, agent) DO UPDATE SET bundle_id = $3, updated_by = $4, updated_at = now(),
       sandbox_tenant = CASE WHEN $6 THEN $5 ELSE staging_deployments.sandbox_tenant END
     RETURNING ${stagingColumns}`,
    [tenantId, agent, bundleId, by, sandboxTenant ?? null, sandboxTenant !== undefined],
  );
  return rows[0];
}

/** The agent's promotion gate; nothing required when none was set. */
export async function getPromotionGate(db: Queryable, tenantId: string, agent: string): Promise<PromotionGate> {
  const { rows } = await db.query(
    `SELECT require_staging AS "requireStaging", require_eval AS "requireEval" FROM promotion_gates WHERE tenant_id = $1 AND agent = $2`,
    [tenantId, agent],
  );
  return rows[0] ?? { requireStaging: false, requireEval: false };
}

export async function setPromotionGate(db: Queryable, tenantId: string, agent: string, gate: PromotionGate, by: string): Promise<PromotionGate> {
  const { rows } = await db.query(
    `INSERT INTO promotion_gates (tenant_id, agent, require_staging, require_eval, updated_by) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id, agent) DO UPDATE SET require_staging = $3, require_eval = $4, updated_by = $5, updated_at = now()
     RETURNING require_staging AS "requireStaging", require_eval AS "requireEval"`,
    [tenantId, agent, gate.requireStaging, gate.requireEval, by],
  );
  return rows[0];
}

/** What a bundle has to show for itself: its completed staging runs, and whether its latest eval passed (null: no eval). */
export async function stagingEvidence(db: Queryable, tenantId: string, agent: string, bundleId: string): Promise<StagingEvidence> {
  const { rows } = await db.query(
    `SELECT (SELECT count(*)::int FROM runs WHERE tenant_id = $1 AND agent = $2 AND bundle_id = $3
               AND environment = 'staging' AND status = 'completed') AS "stagingRuns",
            (SELECT (summary->>'passed')::boolean FROM evals WHERE tenant_id = $1 AND agent = $2 AND bundle_id = $3
               ORDER BY created_at DESC, eval_id DESC LIMIT 1) AS "evalPassed"`,
    [tenantId, agent, bundleId],
  );
  return rows[0];
}
