import { createHash, randomBytes } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ApiKeySeed } from '../config';
import type { Db, DbClient } from '../db/pool';
import type { Role } from '../shared/roles';
import { ApiError, unauthorized } from './errors';

export interface Principal {
  tenantId: string;
  keyId: string;
  roles: Role[];
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');
const keyIdOf = (hash: string) => `key_${hash.slice(0, 12)}`;

/** Stores keys from configuration as hashes; the plain key never reaches the database. */
export async function seedApiKeys(db: Db, keys: ApiKeySeed[]): Promise<void> {
  for (const { key, tenantId, roles } of keys) {
    const hash = hashKey(key);
    await db.query('INSERT INTO api_keys (key_id, key_hash, tenant_id, roles) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
      keyIdOf(hash), hash, tenantId, roles,
    ]);
  }
}

export interface ApiKeyInfo {
  keyId: string;
  name: string | null;
  roles: Role[];
  createdBy: string | null;
  createdAt: string;
  revokedAt: string | null;
}

/** Creates a key for a tenant; the plain key is returned this once and only its hash is kept. */
export async function createApiKey(
  db: Db | DbClient, tenantId: string, roles: Role[], name: string | undefined, createdBy: string,
): Promise<{ key: string; keyId: string }> {
  const key = `bsn_${randomBytes(24).toString('base64url')}`;
  const hash = hashKey(key);
  const keyId = keyIdOf(hash);
  await db.query('INSERT INTO api_keys (key_id, key_hash, tenant_id, roles, name, created_by) VALUES ($1, $2, $3, $4, $5, $6)', [
    keyId, hash, tenantId, roles, name ?? null, createdBy,
  ]);
  return { key, keyId };
}

export async function listApiKeys(db: Db, tenantId: string): Promise<ApiKeyInfo[]> {
  const { rows } = await db.query(
    `SELECT key_id AS "keyId", name, roles, created_by AS "createdBy", created_at AS "createdAt", revoked_at AS "revokedAt"
     FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, key_id`,
    [tenantId],
  );
  return rows;
}

/** Revokes a key of the tenant's; false when the tenant has no such active key. */
export async function revokeApiKey(db: Db | DbClient, tenantId: string, keyId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND key_id = $2 AND revoked_at IS NULL',
    [tenantId, keyId],
  );
  return rowCount === 1;
}

/** Resolves the bearer key on every request, so a revoked key stops working at once. */
export function authenticate(db: Db): RequestHandler {
  return async (req, _res, next) => {
    const match = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
    if (!match) throw unauthorized();
    const { rows } = await db.query(
      'SELECT key_id, tenant_id, roles FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
      [hashKey(match[1]!)],
    );
    if (!rows[0]) throw unauthorized();
    req.principal = { tenantId: rows[0].tenant_id, keyId: rows[0].key_id, roles: rows[0].roles };
    next();
  };
}

/** The caller, who must hold `role`. */
export function principalOf(req: { principal?: Principal }, role: Role): Principal {
  if (!req.principal) throw unauthorized();
  if (!req.principal.roles.includes(role)) throw new ApiError(403, 'forbidden', `This needs an API key with the ${role} role.`);
  return req.principal;
}
