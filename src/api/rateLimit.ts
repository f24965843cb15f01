import type { RequestHandler } from 'express';
import { countRequest } from '../db/apiRateLimits';
import type { Db } from '../db/pool';
import { rateLimited, unauthorized } from './errors';

/**
 * Per-key request limit, after `authenticate`: each request costs one statement that counts it in
 * PostgreSQL (so all API replicas share the count); over the key's limit for this minute it answers
 * 429 `rate_limited` with `Retry-After` (seconds until the minute ends). `defaultPerMinute` 0 turns
 * the limit off and costs nothing; a key's own limit (api_rate_limits.limit_per_minute) overrides it.
 */
export function rateLimitPerKey(db: Db, defaultPerMinute: number): RequestHandler {
  return async (req, _res, next) => {
    if (defaultPerMinute === 0) return next();
    if (!req.principal) throw unauthorized();
    const { requests, keyLimitPerMinute, secondsLeftInWindow } = await countRequest(db, req.principal.keyId);
    const limit = keyLimitPerMinute ?? defaultPerMinute;
    if (limit > 0 && requests > limit) throw rateLimited(limit, secondsLeftInWindow);
    next();
  };
}
