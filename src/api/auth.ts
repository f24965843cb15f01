import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ApiKeySeed, Role } from '../config';
import type { Db } from '../db/pool';
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
