import { Router } from 'express';
import { z } from 'zod';
import { roles } from '../config';
import { appendAudit, readAudit } from '../db/audit';
import { inTransaction, type Db } from '../db/pool';
import { createApiKey, listApiKeys, revokeApiKey } from '../db/apiKeys';
import { principalOf } from './auth';
import { notFound } from './errors';
import { parse, stringParam } from './validation';

/** Body of `POST /v1/keys`. */
export const createKeyRequestSchema = z
  .object({
    name: z.string().min(1).max(100).optional(),
    roles: z.array(z.enum(roles)).min(1).max(3).describe('runner: start and read runs; approver: decide approvals; admin: bundles, deployments, keys, audit.'),
  })
  .strict();

/** Query of `GET /v1/audit`. */
export const auditQuerySchema = z
  .object({
    runId: z.uuid().optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
  })
  .strict();

/** A tenant admin's keys and audit log. */
export function adminRouter({ db }: { db: Db }): Router {
  const router = Router();

  router.post('/keys', async (req, res) => {
    const { tenantId, keyId: actor } = principalOf(req, 'admin');
    const { name, roles: granted } = parse(createKeyRequestSchema, req.body);
    const created = await inTransaction(db, async (client) => {
      const key = await createApiKey(client, tenantId, [...new Set(granted)], name, actor);
      await appendAudit(client, { tenantId, actor, action: 'key.created', target: key.keyId, detail: { roles: granted, name } });
      return key;
    });
    res.status(201).json({ ...created, roles: granted, name: name ?? null });
  });

  router.get('/keys', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    res.json({ keys: await listApiKeys(db, tenantId) });
  });

  router.delete('/keys/:keyId', async (req, res) => {
    const { tenantId, keyId: actor } = principalOf(req, 'admin');
    const keyId = stringParam(req, 'keyId');
    await inTransaction(db, async (client) => {
      if (!(await revokeApiKey(client, tenantId, keyId))) throw notFound('Key');
      await appendAudit(client, { tenantId, actor, action: 'key.revoked', target: keyId });
    });
    res.status(204).end();
  });

  router.get('/audit', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    res.json({ entries: await readAudit(db, tenantId, parse(auditQuerySchema, req.query)) });
  });

  return router;
}
