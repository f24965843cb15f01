import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { finishRollout, findRollout, insertRollout, latestDecision, listDecisions } from '../db/rollouts';
import { agentPublished, findBundle } from '../bundles/bundleStore';
import type { ApiSettings } from '../config';
import {
  deploymentRequestSchema,
  promotionGateSchema,
  rolloutControlRequestSchema,
  stagingDeploymentRequestSchema,
  type ActiveRollout,
  type CanaryRequest,
  type RolloutView as RolloutAnswer,
} from '../contract';
import { getDeployment, lockDeployment, previousStableBundle, setDeployment, type Deployment } from '../bundles/deployments';
import { appendAudit } from '../db/audit';
import { inTransaction, type Db, type DbClient, type Queryable } from '../db/pool';
import type { RolloutDecision, RolloutInput, RolloutView } from '../shared/rollout';
import { ownerSearchAttributes } from '../shared/searchAttributes';
import { abortRolloutSignal, agentRollout, pauseRolloutSignal, resumeRolloutSignal, type RolloutControl } from '../workflows';
import { principalOf } from './auth';
import { badRequest, conflict, notFound, promotionRefused, unavailable } from './errors';
import { getPromotionGate, getStagingDeployment, setPromotionGate, setStagingDeployment, stagingEvidence } from '../db/environments';
import { promotionRefusals } from '../shared/environments';
import { withinDeadline } from './temporalDeadline';
import { parse, stringParam, uuidParam } from './validation';

const rolloutSignals = new Map<string, SignalDefinition<[RolloutControl]>>([
  ['pause', pauseRolloutSignal],
  ['resume', resumeRolloutSignal],
  ['abort', abortRolloutSignal],
]);

export const rolloutWorkflowId = (rolloutId: string) => `rollout-${rolloutId}`;

export interface AgentsRouterDeps {
  db: Db;
  temporal: Client;
  /** The task queue runs use; rollouts run there too. */
  taskQueue: string;
  settings: Pick<ApiSettings, 'temporalCallTimeoutMs'>;
}

/** 404 `Agent not found` unless the tenant has published a bundle of `agent`. */
export async function requirePublishedAgent(db: Queryable, tenantId: string, agent: string): Promise<void> {
  if (!(await agentPublished(db, tenantId, agent))) throw notFound('Agent');
}

export function agentsRouter({ db, temporal, taskQueue, settings }: AgentsRouterDeps): Router {
  const router = Router();
  const temporalCall = <T>(call: () => Promise<T>) => withinDeadline(temporal, settings.temporalCallTimeoutMs, call);

  router.get('/agents/:agent', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const deployment = await getDeployment(db, tenantId, stringParam(req, 'agent'));
    if (!deployment) throw notFound('Agent');
    res.json({
      ...deployment,
      rollout: await activeRolloutSummary(tenantId, deployment),
      staging: (await getStagingDeployment(db, tenantId, deployment.agent)) ?? null,
      promotionGate: await getPromotionGate(db, tenantId, deployment.agent),
    });
  });

  /** Staging first: the bundle the agent's staging runs use (docs/staging.md). Needs no gate. */
  router.put('/agents/:agent/staging', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const agent = stringParam(req, 'agent');
    const { bundleId, sandboxTenant } = parse(stagingDeploymentRequestSchema, req.body);
    // The tenant's own sandbox only: staging writes can never reach another tenant's rows.
    if (sandboxTenant && !sandboxTenant.startsWith(`${tenantId}:sandbox`)) {
      throw badRequest([`sandboxTenant: must be ${tenantId}:sandbox or ${tenantId}:sandbox:<label> (your tenant's own sandbox)`]);
    }
    await bundleOfAgent(tenantId, agent, bundleId);
    const staged = await inTransaction(db, async (client) => {
      const before = await getStagingDeployment(client, tenantId, agent);
      const next = await setStagingDeployment(client, tenantId, agent, { bundleId, sandboxTenant }, keyId);
      await appendAudit(client, {
        tenantId, actor: keyId, action: 'deployment.staged', bundleId, target: agent, status: 'staging',
        detail: {
          agent, environment: 'staging', fromBundleId: before?.bundleId ?? null, toBundleId: bundleId,
          fromSandboxTenant: before?.sandboxTenant ?? null, toSandboxTenant: next.sandboxTenant,
        },
      });
      return next;
    });
    res.json(staged);
  });

  /** What a deployment to production (immediate or canary) requires of its bundle, per agent. */
  router.put('/agents/:agent/promotion-gate', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const agent = stringParam(req, 'agent');
    const gate = parse(promotionGateSchema, req.body);
    await requirePublishedAgent(db, tenantId, agent);
    const stored = await inTransaction(db, async (client) => {
      const next = await setPromotionGate(client, tenantId, agent, gate, keyId);
      await appendAudit(client, { tenantId, actor: keyId, action: 'promotion_gate.set', target: agent, detail: { agent, ...gate } });
      return next;
    });
    res.json(stored);
  });

  router.post('/agents/:agent/deployments', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const agent = stringParam(req, 'agent');
    const request = parse(deploymentRequestSchema, req.body);
    await bundleOfAgent(tenantId, agent, request.bundleId);
    await checkPromotionGate(tenantId, agent, request.bundleId);
    if (request.strategy === 'canary') {
      const rollout = await startRollout(tenantId, agent, keyId, request);
      return res.status(202).json(rolloutResponse(rollout, []));
    }
    const deployment = await inTransaction(db, async (client) => {
      const current = await lockDeployment(client, tenantId, agent);
      if (current?.rolloutId) throw rolloutInProgress(current.rolloutId);
      const next = await setDeployment(client, tenantId, agent, {
        stableBundleId: request.bundleId, canaryBundleId: null, canaryWeight: 0, rolloutId: null, reason: 'deploy immediate', changedBy: keyId,
      });
      await appendAudit(client, {
        tenantId, actor: keyId, action: 'deployment.deployed', bundleId: request.bundleId, target: agent, status: 'immediate',
        detail: { agent, strategy: 'immediate', fromBundleId: current?.stableBundleId ?? null, toBundleId: request.bundleId },
      });
      return next;
    });
    res.status(201).json(deployment);
  });

  /**
   * A config flip: new runs go back to the previous stable bundle (or, during a canary, stay on the
   * stable one) from the next request on. Runs in flight keep the bundle they started with. An
   * active rollout ends here, in the same transaction; its workflow is told to stop, and could not
   * undo this anyway: it only writes while the deployment still names it.
   */
  router.post('/agents/:agent/rollback', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const agent = stringParam(req, 'agent');
    const { deployment, endedRolloutId } = await inTransaction(db, async (client) => {
      const current = await lockDeployment(client, tenantId, agent);
      if (!current) throw notFound('Agent');
      const stableBundleId = current.canaryBundleId
        ? current.stableBundleId
        : await previousStableBundle(client, tenantId, agent, current.stableBundleId);
      if (!stableBundleId) throw conflict('There is no earlier bundle to roll back to.');
      const next = await setDeployment(client, tenantId, agent, {
        stableBundleId, canaryBundleId: null, canaryWeight: 0, rolloutId: null, reason: 'rollback', changedBy: keyId,
      });
      if (current.rolloutId) await endRolloutByHand(client, current, keyId);
      await appendAudit(client, {
        tenantId, actor: keyId, action: 'deployment.rolled_back', bundleId: stableBundleId, target: agent, status: 'rolled_back',
        detail: {
          agent, fromBundleId: current.stableBundleId, fromCanaryBundleId: current.canaryBundleId, toBundleId: stableBundleId,
          endedRolloutId: current.rolloutId,
        },
      });
      return { deployment: next, endedRolloutId: current.rolloutId };
    });
    // Only so the workflow stops promptly; the rollout has ended whether or not this arrives.
    if (endedRolloutId) await signalRollout(endedRolloutId, abortRolloutSignal, { by: keyId, reason: 'rolled back by hand' }).catch(() => undefined);
    res.json(deployment);
  });

  router.post('/agents/:agent/rollout/:action', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const signal = rolloutSignals.get(stringParam(req, 'action'));
    if (!signal) throw notFound('Rollout action');
    const { reason } = parse(rolloutControlRequestSchema, req.body ?? {});
    const action = stringParam(req, 'action');
    const deployment = await getDeployment(db, tenantId, stringParam(req, 'agent'));
    if (!deployment?.rolloutId) throw notFound('Active rollout');
    const rolloutId = deployment.rolloutId;
    // Audited in the transaction that signals: a request Temporal did not take leaves no entry.
    await inTransaction(db, async (client) => {
      await appendAudit(client, {
        tenantId, actor: keyId, action: `rollout.${action}_requested`, bundleId: deployment.canaryBundleId ?? undefined, target: rolloutId,
        detail: { agent: deployment.agent, rolloutId, reason: reason ?? null },
      });
      await signalRollout(rolloutId, signal, { by: keyId, reason }).catch((err) => {
        if (err instanceof WorkflowNotFoundError) throw conflict('The rollout has already ended.');
        throw unavailable('The request could not be delivered because Temporal is unavailable; send it again.');
      });
    });
    res.status(202).json({ rolloutId: deployment.rolloutId, action: stringParam(req, 'action'), requestedBy: keyId });
  });

  router.get('/agents/:agent/rollouts/:rolloutId', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const rolloutId = uuidParam(req, 'rolloutId', 'Rollout');
    const rollout = await findRollout(db, tenantId, stringParam(req, 'agent'), rolloutId);
    if (!rollout) throw notFound('Rollout');
    res.json(rolloutResponse(rollout, await listDecisions(db, rolloutId)));
  });

  /**
   * Writes the rollout and hands the deployment to it in one transaction, and starts its workflow
   * before committing: a rollout exists only once Temporal has it. The workflow's first write waits
   * on this transaction's row lock, so it always sees the committed rollout.
   */
  async function startRollout(tenantId: string, agent: string, startedBy: string, request: CanaryRequest): Promise<RolloutView> {
    const rolloutId = randomUUID();
    return inTransaction(db, async (client) => {
      const current = await lockDeployment(client, tenantId, agent);
      if (!current) throw conflict(`A canary is compared against a stable bundle; deploy one to "${agent}" with strategy "immediate" first.`);
      if (current.rolloutId) throw rolloutInProgress(current.rolloutId);
      if (current.stableBundleId === request.bundleId) throw conflict(`${request.bundleId} is already the stable bundle.`);
      const rollout = await insertRollout(client, {
        rolloutId, tenantId, agent, stableBundleId: current.stableBundleId, canaryBundleId: request.bundleId,
        stages: request.stages, thresholds: request.thresholds, checkIntervalSeconds: request.checkIntervalSeconds, startedBy,
      });
      await setDeployment(client, tenantId, agent, {
        stableBundleId: current.stableBundleId, canaryBundleId: request.bundleId, canaryWeight: 0, rolloutId,
        reason: `rollout ${rolloutId} started`, changedBy: startedBy,
      });
      await appendAudit(client, {
        tenantId, actor: startedBy, action: 'rollout.started', bundleId: request.bundleId, target: rolloutId, status: 'canary',
        detail: {
          agent, rolloutId, strategy: 'canary', stableBundleId: current.stableBundleId, canaryBundleId: request.bundleId,
          stages: request.stages, thresholds: request.thresholds,
        },
      });
      await startRolloutWorkflow(rollout);
      return rollout;
    });
  }

  async function startRolloutWorkflow(rollout: RolloutView): Promise<void> {
    const input: RolloutInput = {
      rolloutId: rollout.rolloutId, tenantId: rollout.tenantId, agent: rollout.agent,
      stableBundleId: rollout.stableBundleId, canaryBundleId: rollout.canaryBundleId,
      stages: rollout.stages, thresholds: rollout.thresholds, checkIntervalSeconds: rollout.checkIntervalSeconds,
    };
    await temporalCall(() =>
      temporal.workflow.start(agentRollout, {
        workflowId: rolloutWorkflowId(rollout.rolloutId),
        taskQueue,
        args: [input],
        typedSearchAttributes: ownerSearchAttributes({ ...rollout, bundleId: rollout.canaryBundleId }),
      }),
    ).catch(() => {
      throw unavailable('The rollout could not be started because Temporal is unavailable; nothing changed, send it again.');
    });
  }

  /** 400 unless `bundleId` is a bundle of `agent` the tenant published. */
  async function bundleOfAgent(tenantId: string, agent: string, bundleId: string): Promise<void> {
    const bundle = await findBundle(db, tenantId, bundleId);
    if (!bundle || bundle.name !== agent) throw badRequest([`bundleId: no bundle ${bundleId} for agent "${agent}"`]);
  }

  /** 409 `promotion_refused` naming each requirement of the agent's promotion gate the bundle does not meet. */
  async function checkPromotionGate(tenantId: string, agent: string, bundleId: string): Promise<void> {
    const gate = await getPromotionGate(db, tenantId, agent);
    if (!gate.requireStaging && !gate.requireEval) return;
    const missing = promotionRefusals(bundleId, gate, await stagingEvidence(db, tenantId, agent, bundleId));
    if (missing.length > 0) throw promotionRefused(agent, missing);
  }

  async function signalRollout(rolloutId: string, signal: SignalDefinition<[RolloutControl]>, control: RolloutControl): Promise<void> {
    await temporalCall(() => temporal.workflow.getHandle(rolloutWorkflowId(rolloutId)).signal(signal, control));
  }

  /** What `GET /v1/agents/:agent` shows of a rollout in progress. */
  async function activeRolloutSummary(tenantId: string, deployment: Deployment): Promise<ActiveRollout | null> {
    if (!deployment.rolloutId) return null;
    const rollout = await findRollout(db, tenantId, deployment.agent, deployment.rolloutId);
    if (!rollout) return null;
    const last = await latestDecision(db, rollout.rolloutId);
    return {
      rolloutId: rollout.rolloutId,
      status: rollout.status,
      canaryBundleId: rollout.canaryBundleId,
      canaryWeight: deployment.canaryWeight,
      stage: last?.stage ?? 0,
      stages: rollout.stages.length,
      startedBy: rollout.startedBy,
      startedAt: rollout.startedAt,
      lastDecision: last ?? null,
      links: rolloutLinks(rollout),
    };
  }

  return router;
}

/** A manual rollback ends the rollout; recorded like the workflow's own decisions. */
async function endRolloutByHand(client: DbClient, current: Deployment, keyId: string): Promise<void> {
  const rolloutId = current.rolloutId!;
  const last = await latestDecision(client, rolloutId);
  await finishRollout(client, rolloutId, 'rolled_back', {
    id: randomUUID(),
    stage: last?.stage ?? null,
    decision: 'rolled_back',
    reason: 'rolled back by hand through POST /rollback',
    figures: { canaryWeight: current.canaryWeight },
    decidedBy: keyId,
    decidedAt: new Date().toISOString(),
  });
}

const rolloutInProgress = (rolloutId: string) => conflict(`Rollout ${rolloutId} is in progress; abort it or roll back first.`);

const rolloutLinks = (rollout: RolloutView) => ({
  self: `/v1/agents/${rollout.agent}/rollouts/${rollout.rolloutId}`,
  workflowId: rolloutWorkflowId(rollout.rolloutId),
});

function rolloutResponse(rollout: RolloutView, decisions: RolloutDecision[]): RolloutAnswer {
  return { ...rollout, decisions, links: rolloutLinks(rollout) };
}
