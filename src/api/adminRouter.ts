import { Router } from 'express';
import { auditQuerySchema, createKeyRequestSchema } from '../contract';
import { appendAudit, readAudit } from '../db/audit';
import { inTransaction, type Db } from '../db/pool';
import { createApiKey, listApiKeys, revokeApiKey } from '../db/apiKeys';
import { principalOf } from './auth';
import { notFound } from './errors';
import { parse, parseQuery, stringParam } from './validation';

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
    res.json({ entries: await readAudit(db, tenantId, parseQuery(auditQuerySchema, req.query)) });
  });

  return router;
}
