/**
 * The rollout's I/O: deployment changes, the live canary-versus-stable figures, and the decision
 * log. Every deployment write locks the agent's deployment row and only acts while the deployment
 * still belongs to the rollout, so a manual rollback that got there first always wins.
 *
 * The store functions below are also what the API uses, so the rules live in one place.
 */
import { lockDeployment, setDeployment } from '../bundles/deployments';
import { appendAudit } from '../db/audit';
import { inTransaction, type Db, type DbClient } from '../db/pool';
import {
  activeRolloutStatuses,
  type ArmComparison,
  type ArmFigures,
  type FinalRolloutStatus,
  type RolloutDecision,
  type RolloutStage,
  type RolloutStatus,
  type RolloutThresholds,
} from '../shared/rollout';

type Queryable = Db | DbClient;

/** Which rollout, of which agent, between which bundles. */
export interface RolloutRef {
  rolloutId: string;
  tenantId: string;
  agent: string;
  stableBundleId: string;
  canaryBundleId: string;
}

export interface SetCanaryWeightInput extends RolloutRef {
  weight: number;
  decision: RolloutDecision;
}

export interface EndRolloutInput extends RolloutRef {
  decision: RolloutDecision;
}

export interface RemoveCanaryInput extends EndRolloutInput {
  status: Extract<FinalRolloutStatus, 'rolled_back' | 'aborted'>;
}

export interface CompareArmsInput extends RolloutRef {
  stableSince: string;
  canarySince: string;
}

export interface ComparedArms {
  comparison: ArmComparison;
  ownsDeployment: boolean;
  rolloutStatus: RolloutStatus | 'unknown';
}

/** applied: false when the deployment no longer belongs to the rollout; `status` is then the rollout's own. */
export interface DeploymentWrite {
  applied: boolean;
  status: RolloutStatus | 'unknown';
  /** The database's clock when the change was made (the start of a stage's comparison window). */
  at: string;
}

export function createRolloutActivities({ db }: { db: Db }) {
  return {
    /** Sends `weight` percent of new runs to the canary, and records the stage's start. */
    async setCanaryWeight(input: SetCanaryWeightInput): Promise<DeploymentWrite> {
      return whileRolloutOwnsDeployment(db, input, async (client) => {
        await setDeployment(client, input.tenantId, input.agent, {
          stableBundleId: input.stableBundleId,
          canaryBundleId: input.canaryBundleId,
          canaryWeight: input.weight,
          rolloutId: input.rolloutId,
          reason: `rollout ${input.rolloutId} stage ${(input.decision.stage ?? 0) + 1}: canary at ${input.weight}%`,
          changedBy: input.decision.decidedBy,
        });
        // A retried attempt finds its decision stored already and audits nothing new.
        if (await insertDecision(client, input.rolloutId, input.decision)) {
          await auditRolloutChange(client, input, 'rollout.canary_weight_set', input.canaryBundleId, { canaryWeight: input.weight });
        }
      });
    },

    /**
     * Canary against stable on live figures from PostgreSQL, and whether the deployment still
     * belongs to the rollout (a manual rollback takes it away).
     */
    async compareArms(input: CompareArmsInput): Promise<ComparedArms> {
      const [figures, owner] = await Promise.all([
        armFigures(db, input),
        db.query(
          `SELECT d.rollout_id, r.status, now() AS now FROM deployments d LEFT JOIN rollouts r ON r.rollout_id = $3::uuid
           WHERE d.tenant_id = $1 AND d.agent = $2`,
          [input.tenantId, input.agent, input.rolloutId],
        ),
      ]);
      const row = owner.rows[0];
      return {
        comparison: { stable: figures.stable, canary: figures.canary, measuredAt: new Date(row?.now ?? Date.now()).toISOString() },
        ownsDeployment: row?.rollout_id === input.rolloutId,
        rolloutStatus: row?.status ?? 'unknown',
      };
    },

    /** The canary becomes stable for every new run, and the rollout ends. */
    async promoteCanary(input: EndRolloutInput): Promise<DeploymentWrite> {
      return whileRolloutOwnsDeployment(db, input, async (client) => {
        await setDeployment(client, input.tenantId, input.agent, {
          stableBundleId: input.canaryBundleId, canaryBundleId: null, canaryWeight: 0, rolloutId: null,
          reason: `rollout ${input.rolloutId} promoted`, changedBy: input.decision.decidedBy,
        });
        await auditRolloutChange(client, input, 'rollout.promoted', input.canaryBundleId, {});
        return finishRollout(client, input.rolloutId, 'promoted', input.decision);
      });
    },

    /** Every new run goes back to stable (which stays as it was), and the rollout ends. */
    async removeCanary(input: RemoveCanaryInput): Promise<DeploymentWrite> {
      return whileRolloutOwnsDeployment(db, input, async (client) => {
        await setDeployment(client, input.tenantId, input.agent, {
          stableBundleId: input.stableBundleId, canaryBundleId: null, canaryWeight: 0, rolloutId: null,
          reason: `rollout ${input.rolloutId} ${input.status.replace('_', ' ')}`, changedBy: input.decision.decidedBy,
        });
        await auditRolloutChange(client, input, `rollout.${input.status}`, input.stableBundleId, {});
        return finishRollout(client, input.rolloutId, input.status, input.decision);
      });
    },

    /** A decision that changes no deployment (a stage passed, a pause); `status` moves a live rollout. */
    async recordRolloutDecision(input: { rolloutId: string; decision: RolloutDecision; status?: 'running' | 'paused' }): Promise<void> {
      await inTransaction(db, async (client) => {
        if (input.status) {
          await client.query(`UPDATE rollouts SET status = $2 WHERE rollout_id = $1 AND status = ANY($3)`, [
            input.rolloutId, input.status, activeRolloutStatuses,
          ]);
        }
        await insertDecision(client, input.rolloutId, input.decision);
      });
    },
  };
}

/**
 * The audit entry for a deployment change the rollout makes, in its transaction: once per change,
 * since a retried promotion or removal finds the deployment no longer the rollout's.
 */
async function auditRolloutChange(
  client: DbClient, input: RolloutRef & { decision: RolloutDecision }, action: string, bundleId: string, extra: Record<string, unknown>,
): Promise<void> {
  await appendAudit(client, {
    tenantId: input.tenantId, actor: input.decision.decidedBy, action, bundleId, target: input.rolloutId,
    status: input.decision.decision,
    detail: {
      agent: input.agent, rolloutId: input.rolloutId, stableBundleId: input.stableBundleId, canaryBundleId: input.canaryBundleId,
      stage: input.decision.stage, decisionId: input.decision.id, reason: input.decision.reason, ...extra,
    },
  });
}

/**
 * Runs `write` under the deployment's row lock if the deployment still belongs to the rollout and
 * the rollout is live; otherwise changes nothing and reports the rollout's status.
 */
async function whileRolloutOwnsDeployment(
  db: Db, ref: RolloutRef, write: (client: DbClient) => Promise<RolloutStatus | void>,
): Promise<DeploymentWrite> {
  return inTransaction(db, async (client) => {
    const deployment = await lockDeployment(client, ref.tenantId, ref.agent);
    const status = await rolloutStatusOf(client, ref.rolloutId);
    const at = (await client.query('SELECT now() AS now')).rows[0].now as Date;
    if (!deployment || deployment.rolloutId !== ref.rolloutId || !activeRolloutStatuses.includes(status as RolloutStatus)) {
      return { applied: false, status, at: at.toISOString() };
    }
    return { applied: true, status: (await write(client)) ?? status, at: at.toISOString() };
  });
}

// ---------------------------------------------------------------------------------------------
// The rollout store: rows in `rollouts` and `rollout_decisions`, shared with the API.

export interface NewRollout extends RolloutRef {
  stages: RolloutStage[];
  thresholds: RolloutThresholds;
  checkIntervalSeconds: number;
  startedBy: string;
}

export interface RolloutView extends NewRollout {
  status: RolloutStatus;
  startedAt: string;
  finishedAt: string | null;
}

const rolloutColumns = `rollout_id AS "rolloutId", tenant_id AS "tenantId", agent, stable_bundle_id AS "stableBundleId",
  canary_bundle_id AS "canaryBundleId", stages, thresholds, check_interval_seconds AS "checkIntervalSeconds", status,
  started_by AS "startedBy", started_at AS "startedAt", finished_at AS "finishedAt"`;

const decisionColumns = `id, stage, decision, reason, figures, decided_by AS "decidedBy", decided_at AS "decidedAt"`;

export async function insertRollout(db: DbClient, rollout: NewRollout): Promise<RolloutView> {
  const { rows } = await db.query(
    `INSERT INTO rollouts (rollout_id, tenant_id, agent, stable_bundle_id, canary_bundle_id, stages, thresholds,
                           check_interval_seconds, started_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${rolloutColumns}`,
    [rollout.rolloutId, rollout.tenantId, rollout.agent, rollout.stableBundleId, rollout.canaryBundleId,
     JSON.stringify(rollout.stages), JSON.stringify(rollout.thresholds), rollout.checkIntervalSeconds, rollout.startedBy],
  );
  return rows[0];
}

export async function findRollout(db: Queryable, tenantId: string, agent: string, rolloutId: string): Promise<RolloutView | undefined> {
  const { rows } = await db.query(`SELECT ${rolloutColumns} FROM rollouts WHERE tenant_id = $1 AND agent = $2 AND rollout_id = $3`, [
    tenantId, agent, rolloutId,
  ]);
  return rows[0];
}

export async function listDecisions(db: Queryable, rolloutId: string): Promise<RolloutDecision[]> {
  const { rows } = await db.query(`SELECT ${decisionColumns} FROM rollout_decisions WHERE rollout_id = $1 ORDER BY decided_at, id`, [rolloutId]);
  return rows;
}

export async function latestDecision(db: Queryable, rolloutId: string): Promise<RolloutDecision | undefined> {
  const { rows } = await db.query(
    `SELECT ${decisionColumns} FROM rollout_decisions WHERE rollout_id = $1 ORDER BY decided_at DESC, id DESC LIMIT 1`,
    [rolloutId],
  );
  return rows[0];
}

/**
 * Stores a decision once, however often it is sent; nothing for a rollout that was never committed.
 * True when this call stored it.
 */
export async function insertDecision(db: Queryable, rolloutId: string, d: RolloutDecision): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO rollout_decisions (id, rollout_id, stage, decision, reason, figures, decided_by)
     SELECT $1, rollout_id, $3, $4, $5, $6, $7 FROM rollouts WHERE rollout_id = $2
     ON CONFLICT (id) DO NOTHING`,
    [d.id, rolloutId, d.stage, d.decision, d.reason, JSON.stringify(d.figures), d.decidedBy],
  );
  return rowCount === 1;
}

/** Ends a live rollout with `status` and its final decision; the caller holds the deployment's lock. */
export async function finishRollout(db: DbClient, rolloutId: string, status: FinalRolloutStatus, decision: RolloutDecision): Promise<FinalRolloutStatus> {
  await db.query(`UPDATE rollouts SET status = $2, finished_at = now() WHERE rollout_id = $1 AND status = ANY($3)`, [
    rolloutId, status, activeRolloutStatuses,
  ]);
  await insertDecision(db, rolloutId, decision);
  return status;
}

async function rolloutStatusOf(db: Queryable, rolloutId: string): Promise<RolloutStatus | 'unknown'> {
  const { rows } = await db.query('SELECT status FROM rollouts WHERE rollout_id = $1', [rolloutId]);
  return rows[0]?.status ?? 'unknown';
}

// ---------------------------------------------------------------------------------------------
// The figures.

/**
 * Per arm, over the agent's runs on that arm's bundle that finished inside its window: failure
 * rate, p95 latency (finished_at − created_at), mean cost, and the share of tool steps not "ok".
 */
async function armFigures(db: Db, input: CompareArmsInput): Promise<{ stable: ArmFigures; canary: ArmFigures }> {
  const { rows } = await db.query(
    `WITH arms (bundle_id, since) AS (VALUES ($3::text, $4::timestamptz), ($5::text, $6::timestamptz)),
     finished AS (
       SELECT r.run_id, r.bundle_id, r.status, r.cost_usd,
              EXTRACT(EPOCH FROM (r.finished_at - r.created_at)) * 1000 AS latency_ms
       FROM arms a JOIN runs r ON r.tenant_id = $1 AND r.agent = $2 AND r.bundle_id = a.bundle_id
                                AND r.finished_at IS NOT NULL AND r.finished_at >= a.since
     ),
     tool_steps AS (
       SELECT f.bundle_id, count(*) AS steps, count(*) FILTER (WHERE s.status <> 'ok') AS errors
       FROM finished f JOIN run_steps s ON s.run_id = f.run_id AND s.kind = 'tool'
       GROUP BY f.bundle_id
     )
     SELECT a.bundle_id AS "bundleId", a.since,
            count(f.run_id)::int AS "finishedRuns",
            (count(f.run_id) FILTER (WHERE f.status = 'failed'))::int AS "failedRuns",
            coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY f.latency_ms), 0)::float8 AS "p95LatencyMs",
            coalesce(avg(f.cost_usd), 0)::float8 AS "costPerRunUsd",
            coalesce(max(t.steps), 0)::int AS "toolSteps",
            coalesce(max(t.errors), 0)::int AS "toolErrors"
     FROM arms a LEFT JOIN finished f ON f.bundle_id = a.bundle_id LEFT JOIN tool_steps t ON t.bundle_id = a.bundle_id
     GROUP BY a.bundle_id, a.since`,
    [input.tenantId, input.agent, input.stableBundleId, input.stableSince, input.canaryBundleId, input.canarySince],
  );
  const arm = (bundleId: string): ArmFigures => toFigures(rows.find((r) => r.bundleId === bundleId), bundleId);
  return { stable: arm(input.stableBundleId), canary: arm(input.canaryBundleId) };
}

function toFigures(row: any, bundleId: string): ArmFigures {
  const finishedRuns = row?.finishedRuns ?? 0;
  const failedRuns = row?.failedRuns ?? 0;
  const toolSteps = row?.toolSteps ?? 0;
  const toolErrors = row?.toolErrors ?? 0;
  return {
    bundleId,
    since: new Date(row?.since ?? 0).toISOString(),
    finishedRuns,
    failedRuns,
    failureRate: rate(failedRuns, finishedRuns),
    p95LatencyMs: Math.round(row?.p95LatencyMs ?? 0),
    costPerRunUsd: Math.round((row?.costPerRunUsd ?? 0) * 1e6) / 1e6,
    toolSteps,
    toolErrors,
    toolErrorRate: rate(toolErrors, toolSteps),
  };
}

const rate = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 1e4) / 1e4 : 0);
