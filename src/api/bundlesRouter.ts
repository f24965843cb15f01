import { Router } from 'express';
import { findBundle, listBundles, saveBundle, validateForPublish } from '../bundles/bundleStore';
import type { McpListing } from '../bundles/mcpPins';
import { appendAudit } from '../db/audit';
import { inTransaction, type Db } from '../db/pool';
import { diffJson } from '../shared/diff';
import type { ModelPrices } from '../shared/pricing';
import { principalOf } from './auth';
import { badRequest, notFound } from './errors';
import { stringParam } from './validation';

export interface BundlesRouterDeps {
  db: Db;
  /** The price table a published bundle's models are checked against (BOSUN_MODEL_PRICES); the built-in one when absent. */
  modelPrices?: ModelPrices;
  /** How MCP servers of a published bundle are listed (their credentials, the stdio allow-list); without it bundles with MCP servers are refused. */
  mcpListing?: McpListing;
}

export function bundlesRouter({ db, modelPrices, mcpListing }: BundlesRouterDeps): Router {
  const router = Router();

  /** Publishing is idempotent: the same content gives the same ID and changes nothing. */
  router.post('/bundles', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const validated = await validateForPublish(db, req.body, modelPrices, mcpListing);
    if (!validated.ok) throw badRequest(validated.problems);
    const bundle = validated.bundle;
    const created = await inTransaction(db, async (client) => {
      const isNew = await saveBundle(client, tenantId, bundle, keyId);
      await appendAudit(client, {
        tenantId, actor: keyId, action: 'bundle.published', bundleId: bundle.id, target: bundle.name,
        status: isNew ? 'created' : 'unchanged', detail: { agent: bundle.name, created: isNew },
      });
      return isNew;
    });
    res.status(created ? 201 : 200).json({ bundleId: validated.bundle.id, created, bundle: validated.bundle });
  });

  router.get('/bundles/:bundleId', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const bundle = await findBundle(db, tenantId, stringParam(req, 'bundleId'));
    if (!bundle) throw notFound('Bundle');
    res.json(bundle);
  });

  router.get('/bundles/:bundleId/diff/:otherBundleId', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const [from, to] = await Promise.all([
      findBundle(db, tenantId, stringParam(req, 'bundleId')),
      findBundle(db, tenantId, stringParam(req, 'otherBundleId')),
    ]);
    if (!from || !to) throw notFound('Bundle');
    const { id: fromId, ...fromContent } = from;
    const { id: toId, ...toContent } = to;
    res.json({ from: fromId, to: toId, changes: diffJson(fromContent, toContent) });
  });

  router.get('/agents/:agent/bundles', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    res.json({ bundles: await listBundles(db, tenantId, stringParam(req, 'agent')) });
  });

  return router;
}
