/** Which bundle each agent runs: a stable bundle and an optional canary taking a share of new runs. */
import type { DbClient, Queryable } from '../db/pool';


export interface Deployment {
  agent: string;
  stableBundleId: string;
  canaryBundleId: string | null;
  /** Percent of new runs (0–100) that go to the canary. */
  canaryWeight: number;
  rolloutId: string | null;
  updatedAt: string;
}

export interface DeploymentChange {
  stableBundleId: string;
  canaryBundleId: string | null;
  canaryWeight: number;
  rolloutId: string | null;
  reason: string;
  changedBy: string;
}

const columns = `agent, stable_bundle_id AS "stableBundleId", canary_bundle_id AS "canaryBundleId",
  canary_weight AS "canaryWeight", rollout_id AS "rolloutId", updated_at AS "updatedAt"`;

export async function getDeployment(db: Queryable, tenantId: string, agent: string): Promise<Deployment | undefined> {
  const { rows } = await db.query(`SELECT ${columns} FROM deployments WHERE tenant_id = $1 AND agent = $2`, [tenantId, agent]);
  return rows[0];
}

/** Locks the agent's deployment row for the rest of the transaction. */
export async function lockDeployment(db: DbClient, tenantId: string, agent: string): Promise<Deployment | undefined> {
  const { rows } = await db.query(`SELECT ${columns} FROM deployments WHERE tenant_id = $1 AND agent = $2 FOR UPDATE`, [tenantId, agent]);
  return rows[0];
}

/** Applies a change and appends it to the agent's deployment history. */
export async function setDeployment(db: DbClient, tenantId: string, agent: string, change: DeploymentChange): Promise<Deployment> {
  const { rows } = await db.query(
    `INSERT INTO deployments (tenant_id, agent, stable_bundle_id, canary_bundle_id, canary_weight, rollout_id, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, now())
     ON CONFLICT (tenant_id, agent) DO UPDATE SET stable_bundle_id = $3, canary_bundle_id = $4, canary_weight = $5,
       rollout_id = $6, updated_at = now()
     RETURNING ${columns}`,
    [tenantId, agent, change.stableBundleId, change.canaryBundleId, change.canaryWeight, change.rolloutId],
  );
  await db.query(
    `INSERT INTO deployment_history (tenant_id, agent, stable_bundle_id, canary_bundle_id, canary_weight, reason, changed_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [tenantId, agent, change.stableBundleId, change.canaryBundleId, change.canaryWeight, change.reason, change.changedBy],
  );
  return rows[0];
}

/** The stable bundle the agent ran before its current one, if any. */
export async function previousStableBundle(db: Queryable, tenantId: string, agent: string, current: string): Promise<string | undefined> {
  const { rows } = await db.query(
    `SELECT stable_bundle_id FROM deployment_history
     WHERE tenant_id = $1 AND agent = $2 AND stable_bundle_id <> $3 ORDER BY id DESC LIMIT 1`,
    [tenantId, agent, current],
  );
  return rows[0]?.stable_bundle_id;
}
