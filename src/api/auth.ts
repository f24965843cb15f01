import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ApiKeySeed } from '../config';
import type { Db } from '../db/pool';
import { unauthorized } from './errors';

export interface Principal {
  tenantId: string;
  keyId: string;
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
  for (const { key, tenantId } of keys) {
    const hash = hashKey(key);
    await db.query('INSERT INTO api_keys (key_id, key_hash, tenant_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
      keyIdOf(hash), hash, tenantId,
    ]);
  }
}

/** Resolves the bearer key on every request, so a revoked key stops working at once. */
export function authenticate(db: Db): RequestHandler {
  return async (req, _res, next) => {
    const match = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
    if (!match) throw unauthorized();
    const { rows } = await db.query(
      'SELECT key_id, tenant_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
      [hashKey(match[1]!)],
    );
    if (!rows[0]) throw unauthorized();
    req.principal = { tenantId: rows[0].tenant_id, keyId: rows[0].key_id };
    next();
  };
}

export function principalOf(req: { principal?: Principal }): Principal {
  if (!req.principal) throw unauthorized();
  return req.principal;
}
