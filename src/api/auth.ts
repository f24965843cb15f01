import type { RequestHandler } from 'express';
import { findActiveKey } from '../db/apiKeys';
import type { Db } from '../db/pool';
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

export interface ApiKeyInfo {
  keyId: string;
  name: string | null;
  roles: Role[];
  createdBy: string | null;
  createdAt: string;
  revokedAt: string | null;
}

/** Resolves the bearer key on every request, so a revoked key stops working at once. */
export function authenticate(db: Db): RequestHandler {
  return async (req, _res, next) => {
    const match = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
    if (!match) throw unauthorized();
    const key = await findActiveKey(db, match[1]!);
    if (!key) throw unauthorized();
    // The roles stored are those the API checked when it created the key (or the configuration's).
    req.principal = { tenantId: key.tenantId, keyId: key.keyId, roles: key.roles as Role[] };
    next();
  };
}

/** The caller, who must hold `role`. */
export function principalOf(req: { principal?: Principal }, role: Role): Principal {
  if (!req.principal) throw unauthorized();
  if (!req.principal.roles.includes(role)) throw new ApiError(403, 'forbidden', `This needs an API key with the ${role} role.`);
  return req.principal;
}
