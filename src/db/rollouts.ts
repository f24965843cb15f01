/**
 * The rollout store: rows in `rollouts` and `rollout_decisions`, and the live canary-versus-stable
 * figures, read by the rollout activities and the API alike so the rules live in one place.
 */
import type { DbClient, Queryable } from './pool';
import {
  activeRolloutStatuses,
  type ArmFigures,
  type CompareArmsInput,
  type FinalRolloutStatus,
  type NewRollout,
  type RolloutDecision,
  type RolloutStatus,
  type RolloutView,
} from '../shared/rollout';

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

export async function rolloutStatusOf(db: Queryable, rolloutId: string): Promise<RolloutStatus | 'unknown'> {
  const { rows } = await db.query('SELECT status FROM rollouts WHERE rollout_id = $1', [rolloutId]);
  return rows[0]?.status ?? 'unknown';
}

/**
 * Whose the agent's deployment is (`ownerRolloutId`, null when no rollout holds it), the status of
 * rollout `rolloutId` ('unknown' when there is none), and the database's clock.
 */
export async function deploymentOwner(db: Queryable, tenantId: string, agent: string, rolloutId: string) {
  const { rows } = await db.query(
    `SELECT d.rollout_id, r.status, now() AS now FROM deployments d LEFT JOIN rollouts r ON r.rollout_id = $3::uuid
     WHERE d.tenant_id = $1 AND d.agent = $2`,
    [tenantId, agent, rolloutId],
  );
  const row = rows[0];
  return {
    ownerRolloutId: (row?.rollout_id ?? null) as string | null,
    rolloutStatus: (row?.status ?? 'unknown') as RolloutStatus | 'unknown',
    now: new Date(row?.now ?? Date.now()),
  };
}

/** Moves a live rollout to `status` (running or paused); an ended rollout stays as it ended. */
export async function setLiveRolloutStatus(db: Queryable, rolloutId: string, status: 'running' | 'paused'): Promise<void> {
  await db.query(`UPDATE rollouts SET status = $2 WHERE rollout_id = $1 AND status = ANY($3)`, [rolloutId, status, activeRolloutStatuses]);
}

/** The database's clock. */
export async function databaseNow(db: Queryable): Promise<Date> {
  return (await db.query('SELECT now() AS now')).rows[0].now as Date;
}

/**
 * Per arm, over the agent's runs on that arm's bundle that finished inside its window: failure
 * rate, p95 latency (finished_at − created_at), mean cost, and the share of tool steps not "ok".
 */
export async function armFigures(db: Queryable, input: CompareArmsInput): Promise<{ stable: ArmFigures; canary: ArmFigures }> {
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
