/**
 * The rollout's I/O: deployment changes, the live canary-versus-stable figures, and the decision
 * log (stored through src/db/rollouts.ts, which the API uses too). Every deployment write locks the
 * agent's deployment row and only acts while the deployment still belongs to the rollout, so a
 * manual rollback that got there first always wins.
 */
import { lockDeployment, setDeployment } from '../bundles/deployments';
import { appendAudit } from '../db/audit';
import { inTransaction, type Db, type DbClient } from '../db/pool';
import {
  armFigures, databaseNow, deploymentOwner, finishRollout, insertDecision, rolloutStatusOf, setLiveRolloutStatus,
} from '../db/rollouts';
import {
  activeRolloutStatuses,
  type ComparedArms,
  type CompareArmsInput,
  type DeploymentWrite,
  type EndRolloutInput,
  type RemoveCanaryInput,
  type RolloutDecision,
  type RolloutRef,
  type RolloutStatus,
  type SetCanaryWeightInput,
} from '../shared/rollout';

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
        deploymentOwner(db, input.tenantId, input.agent, input.rolloutId),
      ]);
      return {
        comparison: { stable: figures.stable, canary: figures.canary, measuredAt: owner.now.toISOString() },
        ownsDeployment: owner.ownerRolloutId === input.rolloutId,
        rolloutStatus: owner.rolloutStatus,
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
        if (input.status) await setLiveRolloutStatus(client, input.rolloutId, input.status);
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
    const at = await databaseNow(client);
    if (!deployment || deployment.rolloutId !== ref.rolloutId || !activeRolloutStatuses.includes(status as RolloutStatus)) {
      return { applied: false, status, at: at.toISOString() };
    }
    return { applied: true, status: (await write(client)) ?? status, at: at.toISOString() };
  });
}
