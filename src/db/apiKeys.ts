/**
 * The `api_keys` table. A key is stored as its SHA-256 hash only: the plain key is shown once, when
 * it is created, and never reaches the database. Roles are stored as the API checked them.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Db, Queryable } from './pool';

const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');
const keyIdOf = (hash: string) => `key_${hash.slice(0, 12)}`;

/** A stored key as its tenant's admins see it (never the key itself). */
export interface StoredApiKey {
  keyId: string;
  name: string | null;
  roles: string[];
  createdBy: string | null;
  createdAt: string;
  revokedAt: string | null;
}

/** Stores keys from configuration as hashes; a key stored already stays as it is. */
export async function seedApiKeys(db: Db, keys: { key: string; tenantId: string; roles: readonly string[] }[]): Promise<void> {
  for (const { key, tenantId, roles } of keys) {
    const hash = hashKey(key);
    await db.query('INSERT INTO api_keys (key_id, key_hash, tenant_id, roles) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
      keyIdOf(hash), hash, tenantId, roles,
    ]);
  }
}

/** Creates a key for a tenant; the plain key is returned this once and only its hash is kept. */
export async function createApiKey(
  db: Queryable, tenantId: string, roles: readonly string[], name: string | undefined, createdBy: string,
): Promise<{ key: string; keyId: string }> {
  const key = `bsn_${randomBytes(24).toString('base64url')}`;
  const hash = hashKey(key);
  const keyId = keyIdOf(hash);
  await db.query('INSERT INTO api_keys (key_id, key_hash, tenant_id, roles, name, created_by) VALUES ($1, $2, $3, $4, $5, $6)', [
    keyId, hash, tenantId, roles, name ?? null, createdBy,
  ]);
  return { key, keyId };
}

export async function listApiKeys(db: Queryable, tenantId: string): Promise<StoredApiKey[]> {
  const { rows } = await db.query(
    `SELECT key_id AS "keyId", name, roles, created_by AS "createdBy", created_at AS "createdAt", revoked_at AS "revokedAt"
     FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, key_id`,
    [tenantId],
  );
  return rows;
}

/** Revokes a key of the tenant's; false when the tenant has no such active key. */
export async function revokeApiKey(db: Queryable, tenantId: string, keyId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND key_id = $2 AND revoked_at IS NULL',
    [tenantId, keyId],
  );
  return rowCount === 1;
}

/** The active (unrevoked) key whose plain text is `key`, or undefined. */
export async function findActiveKey(db: Queryable, key: string): Promise<{ keyId: string; tenantId: string; roles: string[] } | undefined> {
  const { rows } = await db.query('SELECT key_id, tenant_id, roles FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL', [hashKey(key)]);
  return rows[0] && { keyId: rows[0].key_id, tenantId: rows[0].tenant_id, roles: rows[0].roles };
}
