/**
 * Long-term memory as the tools and the operator API use it: embeddings on top of the store
 * (src/db/memory.ts) where pgvector is installed and an embeddings model is configured, and a
 * run's tool-call scope (ToolContext.memory) with the provenance every save records.
 */
import { randomUUID } from 'node:crypto';
import { approverOfToolCall } from '../db/approvals';
import { markRecalled, saveMemory, searchMemories, vectorSearchAvailable } from '../db/memory';
import type { Db, DbClient } from '../db/pool';
import { expiryOf, type MemoryScope, type MemorySource, type RecalledRecord, type ResolvedNamespace } from '../shared/memory';
import type { Embedder } from './embeddings';

export interface MemoryService {
  /**
   * The text's embedding when vector search is on (the `embedding` column exists and an embedder is
   * configured), else undefined: search and saves then use full-text and trigram matching only.
   */
  embeddingOf(text: string): Promise<number[] | undefined>;
}

/** Checks for pgvector once (on first use); `embed` is absent without BOSUN_EMBEDDINGS_MODEL. */
export function createMemoryService(db: Db, embed?: Embedder): MemoryService {
  let vectors: Promise<boolean> | undefined;
  return {
    async embeddingOf(text) {
      if (!embed) return undefined;
      vectors ??= vectorSearchAvailable(db);
      if (!(await vectors)) return undefined;
      return (await embed([text]))[0];
    },
  };
}

/** The tool call a memory scope serves: what every save records as its source. */
export interface MemoryCall {
  tenantId: string;
  runId: string;
  step: number;
  toolCallId: string;
  bundleId: string;
  agent: string;
  /** The API key that started the run. */
  startedBy: string;
}

/**
 * ToolContext.memory for one call, working in the call's transaction `client`: a save is `approved`
 * when a human approved this very call (and names who), else `agent`.
 */
export function memoryScope(
  client: DbClient, service: MemoryService, call: MemoryCall, resolved: { namespaces: ResolvedNamespace[]; unresolved: string[] },
): MemoryScope {
  return {
    ...resolved,
    async search(query, namespaces, limit) {
      const hits = await searchMemories(client, {
        tenantId: call.tenantId, namespaces: namespaces.map((ns) => ns.name), text: query, limit, embedding: await service.embeddingOf(query),
      });
      await markRecalled(client, hits.map((h) => h.memoryId));
      return hits.map((h): RecalledRecord => ({
        id: h.memoryId, namespace: h.namespace, trust: h.trust, source: h.source,
        savedAt: h.updatedAt.toISOString(), expiresAt: h.expiresAt?.toISOString() ?? null, text: h.text,
      }));
    },
    async save(text, namespace, recordTtlMs) {
      const approvedBy = await approverOfToolCall(client, call.runId, call.toolCallId);
      const { tenantId, ...where } = call;
      const source: MemorySource = { kind: 'tool', ...where, ...(approvedBy && { approvedBy }) };
      const { record, action } = await saveMemory(client, {
        memoryId: randomUUID(), tenantId, namespace: namespace.name, subject: namespace.subject, text,
        trust: approvedBy ? 'approved' : 'agent', source,
        expiresAt: expiryOf(Date.now(), namespace.ttlMs, recordTtlMs) ?? null, embedding: await service.embeddingOf(text),
      });
      return { id: record.memoryId, action, namespace: record.namespace, trust: record.trust, expiresAt: record.expiresAt?.toISOString() ?? null };
    },
  };
}
