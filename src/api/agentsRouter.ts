import { Router } from 'express';
import { z } from 'zod';
import { findBundle } from '../bundles/bundleStore';
import { getDeployment, lockDeployment, previousStableBundle, setDeployment } from '../bundles/deployments';
import { inTransaction, type Db } from '../db/pool';
import { principalOf } from './auth';
import { badRequest, conflict, notFound } from './errors';
import { parse, stringParam } from './validation';

/** Body of `POST /v1/agents/:agent/deployments`. */
export const deploymentRequestSchema = z
  .object({
    bundleId: z.string().min(1).max(120),
    strategy: z.enum(['immediate']).describe('immediate: every new run uses the bundle at once.'),
  })
  .strict();

export function agentsRouter({ db }: { db: Db }): Router {
  const router = Router();

  router.get('/agents/:agent', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const deployment = await getDeployment(db, tenantId, stringParam(req, 'agent'));
    if (!deployment) throw notFound('Agent');
    res.json(deployment);
  });

  router.post('/agents/:agent/deployments', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const agent = stringParam(req, 'agent');
    const { bundleId } = parse(deploymentRequestSchema, req.body);
    const bundle = await findBundle(db, tenantId, bundleId);
    if (!bundle || bundle.name !== agent) throw badRequest([`bundleId: no bundle ${bundleId} for agent "${agent}"`]);
    const deployment = await inTransaction(db, async (client) => {
      const current = await lockDeployment(client, tenantId, agent);
      if (current?.rolloutId) throw conflict(`Rollout ${current.rolloutId} is in progress; abort it or roll back first.`);
      return setDeployment(client, tenantId, agent, {
        stableBundleId: bundleId, canaryBundleId: null, canaryWeight: 0, rolloutId: null, reason: 'deploy immediate', changedBy: keyId,
      });
    });
    res.status(201).json(deployment);
  });

  /**
   * A config flip: new runs go back to the previous stable bundle (or, during a canary, stay on the
   * stable one) from the next request on. Runs in flight keep the bundle they started with.
   */
  router.post('/agents/:agent/rollback', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const agent = stringParam(req, 'agent');
    const deployment = await inTransaction(db, async (client) => {
      const current = await lockDeployment(client, tenantId, agent);
      if (!current) throw notFound('Agent');
      const stableBundleId = current.canaryBundleId
        ? current.stableBundleId
        : await previousStableBundle(client, tenantId, agent, current.stableBundleId);
      if (!stableBundleId) throw conflict('There is no earlier bundle to roll back to.');
      return setDeployment(client, tenantId, agent, {
        stableBundleId, canaryBundleId: null, canaryWeight: 0, rolloutId: null, reason: 'rollback', changedBy: keyId,
      });
    });
    res.json(deployment);
  });

  return router;
}
