/**
 * Long-term memory for operators (src/contract/memory.ts): write, list, search, correct and delete
 * the tenant's records, and delete a data subject's. Admin role; another tenant's record is a 404.
 * Every change is audited with the record's ID (never its text).
 */
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import {
  correctMemoryRequestSchema, createMemoryRequestSchema, deleteSubjectQuerySchema, listMemoriesQuerySchema, searchMemoriesQuerySchema,
} from '../contract/memory';
import { appendAudit } from '../db/audit';
import { correctMemory, deleteMemory, deleteSubjectMemories, findMemory, listMemories, saveMemory, searchMemories } from '../db/memory';
import { inTransaction, type Db } from '../db/pool';
import { createMemoryService, type MemoryService } from '../memory/service';
import { parseDuration } from '../shared/duration';
import type { MemorySource } from '../shared/memory';
import { principalOf } from './auth';
import { notFound } from './errors';
import { decodeCursor, encodeCursor, parse, parseQuery, uuidParam } from './validation';

/** When a record given `ttl` from now expires. */
const expiryIn = (ttl: string) => new Date(Date.now() + parseDuration(ttl)!);

/** `memory` embeds texts where pgvector is installed; full-text and trigram search only when absent. */
export function memoryRouter({ db, memory = createMemoryService(db) }: { db: Db; memory?: MemoryService }): Router {
  const router = Router();

  /** Writes an operator's record; a repeat of a live record of the namespace updates it (200) instead of adding a twin (201). */
  router.post('/memories', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const body = parse(createMemoryRequestSchema, req.body);
    const source: MemorySource = { kind: 'api', keyId };
    const embedding = await memory.embeddingOf(body.text);
    const saved = await inTransaction(db, async (client) => {
      const result = await saveMemory(client, {
        memoryId: randomUUID(), tenantId, namespace: body.namespace, subject: body.subject, text: body.text, trust: 'operator', source,
        expiresAt: body.ttl ? expiryIn(body.ttl) : null, embedding,
      });
      await audit(client, tenantId, keyId, `memory.${result.action === 'created' ? 'created' : 'updated'}`, result.record.memoryId, { namespace: body.namespace });
      return result;
    });
    res.status(saved.action === 'created' ? 201 : 200).json({ action: saved.action, memory: saved.record });
  });

  router.get('/memories', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    const { limit, cursor, namespace, subject } = parseQuery(listMemoriesQuerySchema, req.query);
    const { memories, next } = await listMemories(db, tenantId, { limit, namespace, subject, after: decodeCursor(cursor) });
    res.json({ memories, nextCursor: encodeCursor(next) });
  });

  /** Searches as memory_search does (without marking records recalled: an operator's look is no recall). */
  router.get('/memories/search', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    const { q, namespace, limit } = parseQuery(searchMemoriesQuerySchema, req.query);
    const memories = await searchMemories(db, {
      tenantId, namespaces: namespace === undefined ? undefined : [namespace], text: q, limit, embedding: await memory.embeddingOf(q),
    });
    res.json({ memories });
  });

  /** A data subject's deletion request: every record about `subject` (in `namespace` only, when given), with its index entries. */
  router.delete('/memories', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const { subject, namespace } = parseQuery(deleteSubjectQuerySchema, req.query);
    const deleted = await inTransaction(db, async (client) => {
      const ids = await deleteSubjectMemories(client, tenantId, subject, namespace);
      await audit(client, tenantId, keyId, 'memory.subject_deleted', subject, { namespace: namespace ?? null, deleted: ids });
      return ids;
    });
    res.json({ deleted });
  });

  router.get('/memories/:memoryId', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    const found = await findMemory(db, tenantId, uuidParam(req, 'memoryId', 'Memory'));
    if (!found) throw notFound('Memory');
    res.json(found);
  });

  /** Corrects the text (the record becomes the operator's) or the expiry of a live record. */
  router.patch('/memories/:memoryId', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const memoryId = uuidParam(req, 'memoryId', 'Memory');
    const body = parse(correctMemoryRequestSchema, req.body);
    const embedding = body.text === undefined ? undefined : await memory.embeddingOf(body.text);
    const expiresAt = body.ttl !== undefined ? expiryIn(body.ttl) : body.expiresAt == null ? body.expiresAt : new Date(body.expiresAt);
    const corrected = await inTransaction(db, async (client) => {
      const record = await correctMemory(client, tenantId, memoryId, { text: body.text, expiresAt, source: { kind: 'api', keyId }, embedding });
      if (record) await audit(client, tenantId, keyId, 'memory.corrected', memoryId, { text: body.text !== undefined, expiresAt: record.expiresAt });
      return record;
    });
    if (!corrected) throw notFound('Memory');
    res.json(corrected);
  });

  router.delete('/memories/:memoryId', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const memoryId = uuidParam(req, 'memoryId', 'Memory');
    const deleted = await inTransaction(db, async (client) => {
      const gone = await deleteMemory(client, tenantId, memoryId);
      if (gone) await audit(client, tenantId, keyId, 'memory.deleted', memoryId, {});
      return gone;
    });
    if (!deleted) throw notFound('Memory');
    res.status(204).end();
  });

  return router;
}

function audit(client: Parameters<typeof appendAudit>[0], tenantId: string, actor: string, action: string, target: string, detail: Record<string, unknown>) {
  return appendAudit(client, { tenantId, actor, action, target, detail });
}
