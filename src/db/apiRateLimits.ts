/**
 * The `api_rate_limits` table: requests per API key in fixed one-minute windows, counted in
 * PostgreSQL so that every API replica shares one count per key. Counting a request is one
 * statement (an upsert on the key's row). A key's own limit lives in the same row, set by an
 * operator in SQL (docs/deploy.md, "Rate limits").
 */
import type { Queryable } from './pool';

export interface RequestCount {
  /** Requests of this key in the current minute, this one included. */
  requests: number;
  /** The key's own limit per minute; null when it has none (the configured default applies), 0 for no limit. */
  keyLimitPerMinute: number | null;
  /** Whole seconds until the current minute ends (1..60): when a refused key may try again. */
  secondsLeftInWindow: number;
}

/** Counts one request of `keyId` in the current minute (by PostgreSQL's clock) and returns the count so far. */
export async function countRequest(db: Queryable, keyId: string): Promise<RequestCount> {
  const { rows } = await db.query(
    `INSERT INTO api_rate_limits AS l (key_id, window_start, requests) VALUES ($1, date_trunc('minute', now()), 1)
     ON CONFLICT (key_id) DO UPDATE
       SET requests = CASE WHEN l.window_start = EXCLUDED.window_start THEN l.requests + 1 ELSE 1 END,
           window_start = EXCLUDED.window_start
     RETURNING requests, limit_per_minute AS "keyLimitPerMinute",
       greatest(1, ceil(extract(epoch FROM window_start + interval '1 minute' - now())))::int AS "secondsLeftInWindow"`,
    [keyId],
  );
  return rows[0];
}

