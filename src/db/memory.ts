/**
 * The `memories` table (migration 020): long-term memory records per tenant and namespace. Search
 * ranks by full-text match (`english` configuration) plus trigram word similarity, and cosine
 * similarity of embeddings where pgvector is installed. Expired records are never returned; the
 * purge schedule deletes them. A save that repeats a live record of its namespace updates that
 * record instead of adding a twin.
 */
import type { MemorySource, MemoryTrust } from '../shared/memory';
import type { Db, DbClient, PageKey, Queryable } from './pool';
import { pageOf } from './pool';

/** A stored record, as the API shows it. */
export interface MemoryRecord {
  memoryId: string;
  namespace: string;
  subject: string | null;
  text: string;
  trust: MemoryTrust;
  source: MemorySource;
  updatedSource: MemorySource | null;
  createdAt: Date;
  updatedAt: Date;
  lastRecalledAt: Date | null;
  recallCount: number;
  expiresAt: Date | null;
}

export interface NewMemory {
  memoryId: string;
  tenantId: string;
  namespace: string;
  subject?: string;
  text: string;
  trust: MemoryTrust;
  source: MemorySource;
  /** The expiry the save names (from its ttl or its namespace's); absent or null when it names none. */
  expiresAt?: Date | null;
  /** Only where pgvector is installed (see vectorSearchAvailable). */
  embedding?: number[];
}

/** What a save did: `created` a record, or `updated` the live record it repeats (`repeated`: the same text). */
export type SaveAction = 'created' | 'updated' | 'repeated';

/** Trigram similarity from which two texts of a namespace count as the same memory. */
export const NEAR_TWIN_SIMILARITY = 0.8;
/** Trigram word similarity from which a record counts as matching a query that full-text search misses. */
export const MIN_WORD_SIMILARITY = 0.3;

const columns = `memory_id AS "memoryId", namespace, subject, text, trust, source, updated_source AS "updatedSource",
  created_at AS "createdAt", updated_at AS "updatedAt", last_recalled_at AS "lastRecalledAt", recall_count AS "recallCount",
  expires_at AS "expiresAt"`;
const live = '(expires_at IS NULL OR expires_at > now())';
const trustRank = `CASE trust WHEN 'operator' THEN 3 WHEN 'approved' THEN 2 ELSE 1 END`;

/** True when the table has its `embedding` column: pgvector was installed when migration 020 ran. */
export async function vectorSearchAvailable(db: Queryable): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM information_schema.columns WHERE table_name = 'memories' AND column_name = 'embedding' AND table_schema = current_schema()`,
  );
  return rows.length > 0;
}

/**
 * Saves a record, curating: under a lock on (tenant, namespace), a live record with the same text
 * (case and surrounding blanks aside) is refreshed (expiry, last writer; its trust raised to the
 * writer's if higher), and one at least NEAR_TWIN_SIMILARITY alike takes the new text, trust and
 * expiry; otherwise a record is created. A save naming no expiry keeps the record's (a repeat never
 * makes an expiring record permanent); a new record without one is kept until deleted.
 * Runs in the caller's transaction.
 */
export async function saveMemory(client: DbClient, m: NewMemory): Promise<{ record: MemoryRecord; action: SaveAction }> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`memory:${m.tenantId}:${m.namespace}`]);
  const { rows: twins } = await client.query(
    `SELECT memory_id, lower(btrim(text)) = lower(btrim($3)) AS same FROM memories
     WHERE tenant_id = $1 AND namespace = $2 AND ${live} AND similarity(text, $3) >= $4
     ORDER BY similarity(text, $3) DESC, created_at LIMIT 1`,
    [m.tenantId, m.namespace, m.text, NEAR_TWIN_SIMILARITY],
  );
  const twin = twins[0] as { memory_id: string; same: boolean } | undefined;
  const expiresAt = m.expiresAt ?? null;
  const keptExpiry = (named: number) => `expires_at = coalesce($${named}::timestamptz, expires_at)`;
  const embedding = m.embedding ? vectorLiteral(m.embedding) : null;
  if (twin?.same) {
    const { rows } = await client.query(
      `UPDATE memories SET updated_at = now(), ${keptExpiry(2)}, updated_source = $3,
         trust = CASE WHEN ${trustRank} >= (CASE $4::text WHEN 'operator' THEN 3 WHEN 'approved' THEN 2 ELSE 1 END) THEN trust ELSE $4 END
       WHERE memory_id = $1 RETURNING ${columns}`,
      [twin.memory_id, expiresAt, m.source, m.trust],
    );
    return { record: rows[0], action: 'repeated' };
  }
  if (twin) {
    const { rows } = await client.query(
      `UPDATE memories SET text = $2, trust = $3, updated_at = now(), ${keptExpiry(4)}, updated_source = $5
         ${embedding ? ', embedding = $6::vector' : ''}
       WHERE memory_id = $1 RETURNING ${columns}`,
      [twin.memory_id, m.text, m.trust, expiresAt, m.source, ...(embedding ? [embedding] : [])],
    );
    return { record: rows[0], action: 'updated' };
  }
  const { rows } = await client.query(
    `INSERT INTO memories (memory_id, tenant_id, namespace, subject, text, trust, source, expires_at ${embedding ? ', embedding' : ''})
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8 ${embedding ? ', $9::vector' : ''}) RETURNING ${columns}`,
    [m.memoryId, m.tenantId, m.namespace, m.subject ?? null, m.text, m.trust, m.source, expiresAt, ...(embedding ? [embedding] : [])],
  );
  return { record: rows[0], action: 'created' };
}

export interface MemoryQuery {
  tenantId: string;
  /** Only these namespaces; every namespace of the tenant when absent (the operator API). */
  namespaces?: readonly string[];
  text: string;
  limit: number;
  /** The query's embedding, where pgvector is installed. */
  embedding?: number[];
}

/** A search hit: the record and its score (higher is better; full-text rank, trigram and vector parts summed). */
export type ScoredMemory = MemoryRecord & { score: number };

/**
 * The live records of the namespaces that match `text` best: those full-text search finds, those
 * whose words are at least MIN_WORD_SIMILARITY alike (typos, partial words), and with an embedding
 * the nearest by cosine distance; ranked by the sum of full-text rank (normalised to 0..1), word
 * similarity and cosine similarity, newest first on a tie.
 */
export async function searchMemories(db: Queryable, q: MemoryQuery): Promise<ScoredMemory[]> {
  const params: unknown[] = [q.tenantId, q.text, MIN_WORD_SIMILARITY, q.limit];
  const inNamespaces = q.namespaces ? (params.push(q.namespaces), `AND namespace = ANY($${params.length}::text[])`) : '';
  let vectorScore = '0';
  let vectorMatch = 'false';
  if (q.embedding) {
    params.push(vectorLiteral(q.embedding));
    vectorScore = `COALESCE(1 - (embedding <=> $${params.length}::vector), 0)`;
    vectorMatch = `(embedding IS NOT NULL AND 1 - (embedding <=> $${params.length}::vector) >= 0.5)`;
  }
  const { rows } = await db.query(
    `WITH query AS (SELECT websearch_to_tsquery('english', $2) AS tsq)
     SELECT ${columns}, (ts_rank_cd(search, query.tsq, 32) + word_similarity($2, text) + ${vectorScore})::float8 AS score
     FROM memories, query
     WHERE tenant_id = $1 ${inNamespaces} AND ${live}
       AND (search @@ query.tsq OR word_similarity($2, text) >= $3 OR ${vectorMatch})
     ORDER BY score DESC, created_at DESC, memory_id
     LIMIT $4`,
    params,
  );
  return rows;
}

/** Notes that the records were recalled now (last recalled time, count). */
export async function markRecalled(db: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query('UPDATE memories SET last_recalled_at = now(), recall_count = recall_count + 1 WHERE memory_id = ANY($1::uuid[])', [ids]);
}

export interface MemoryFilter {
  namespace?: string;
  subject?: string;
  limit: number;
  after?: PageKey;
}

/** A page of the tenant's live records, newest first, and where the next page starts (null on the last). */
export async function listMemories(db: Db, tenantId: string, filter: MemoryFilter) {
  const conditions = ['tenant_id = $1', live];
  const params: unknown[] = [tenantId];
  const where = (sql: string, ...values: unknown[]) => {
    const at = params.length;
    params.push(...values);
    conditions.push(sql.replace(/\$(\d)/g, (_, n: string) => `$${at + Number(n)}`));
  };
  if (filter.namespace !== undefined) where('namespace = $1', filter.namespace);
  if (filter.subject !== undefined) where('subject = $1', filter.subject);
  if (filter.after) where('(created_at, memory_id) < ($1::timestamptz, $2::uuid)', filter.after.at, filter.after.id);
  params.push(filter.limit + 1);
  const { rows } = await db.query(
    `SELECT ${columns}, created_at::text AS "cursorTime" FROM memories WHERE ${conditions.join(' AND ')}
     ORDER BY created_at DESC, memory_id DESC LIMIT $${params.length}`,
    params,
  );
  const { items, next } = pageOf(rows, filter.limit, (r) => r.memoryId);
  return { memories: items as MemoryRecord[], next };
}

/** The tenant's live record, or undefined (unknown, expired, or another tenant's). */
export async function findMemory(db: Queryable, tenantId: string, memoryId: string): Promise<MemoryRecord | undefined> {
  const { rows } = await db.query(`SELECT ${columns} FROM memories WHERE tenant_id = $1 AND memory_id = $2 AND ${live}`, [tenantId, memoryId]);
  return rows[0];
}

export interface MemoryCorrection {
  text?: string;
  /** Null: kept until deleted. */
  expiresAt?: Date | null;
  /** Who corrects it (an operator's API call). */
  source: MemorySource;
  /** The corrected text's embedding, where pgvector is installed. */
  embedding?: number[];
}

/**
 * Corrects the tenant's live record: its text (trust becomes `operator`, the corrector), its expiry,
 * or both. Undefined when there is no such record.
 */
export async function correctMemory(client: DbClient, tenantId: string, memoryId: string, c: MemoryCorrection): Promise<MemoryRecord | undefined> {
  const sets = ['updated_at = now()', 'updated_source = $3'];
  const params: unknown[] = [tenantId, memoryId, c.source];
  const set = (sql: string, value: unknown) => {
    params.push(value);
    sets.push(sql.replace('?', `$${params.length}`));
  };
  if (c.text !== undefined) {
    set('text = ?', c.text);
    sets.push(`trust = 'operator'`);
    if (c.embedding) set('embedding = ?::vector', vectorLiteral(c.embedding));
  }
  if (c.expiresAt !== undefined) set('expires_at = ?', c.expiresAt);
  const { rows } = await client.query(
    `UPDATE memories SET ${sets.join(', ')} WHERE tenant_id = $1 AND memory_id = $2 AND ${live} RETURNING ${columns}`,
    params,
  );
  return rows[0];
}

/** Deletes the tenant's record (its search entries with it); false when there was none. */
export async function deleteMemory(db: Queryable, tenantId: string, memoryId: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM memories WHERE tenant_id = $1 AND memory_id = $2', [tenantId, memoryId]);
  return (rowCount ?? 0) > 0;
}

/** A data subject's deletion request: every record of the tenant about `subject` (in `namespace` only, when given), expired or not. */
export async function deleteSubjectMemories(db: Queryable, tenantId: string, subject: string, namespace?: string): Promise<string[]> {
  const { rows } = await db.query(
    `DELETE FROM memories WHERE tenant_id = $1 AND subject = $2 AND ($3::text IS NULL OR namespace = $3) RETURNING memory_id AS "memoryId"`,
    [tenantId, subject, namespace ?? null],
  );
  return rows.map((r) => r.memoryId);
}

/** Deletes up to `batch` expired records of any tenant; returns how many. */
export async function purgeExpiredMemories(db: Queryable, batch: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM memories WHERE memory_id IN (
       SELECT memory_id FROM memories WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    [batch],
  );
  return rowCount ?? 0;
}

/** pgvector's text form of a vector: `[0.1,0.2,…]`. */
function vectorLiteral(values: readonly number[]): string {
  return `[${values.join(',')}]`;
}
