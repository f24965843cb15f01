/** Model-call attempts that are retried, by run and reason: `retries` in `GET /v1/runs/:runId`. */
import type { Db } from './pool';

/**
 * `429` and `5xx`: the provider's answer; `timeout`: the client gave up or the provider answered 408;
 * `network`: no answer; `rate_limited_local`: BOSUN_PROVIDER_LIMITS held the call back before it was
 * sent; `other`: anything else Temporal retries (a 409, an unexpected error). The provider's own
 * failures, all of them: the backoff counts these.
 */
const providerFailureReasons = ['429', '5xx', 'timeout', 'network', 'other'] as const;

/**
 * Answers the model is asked again after, once: `model_refused`, `content_filtered`, `empty_reply`
 * (a 200 with no usable reply) and `context_length_exceeded` (the prompt was too long, and the
 * bundle's context budget let Bosun summarise older turns first).
 */
const askedAgainReasons = ['model_refused', 'content_filtered', 'empty_reply', 'context_length_exceeded'] as const;

export const retryReasons = [...providerFailureReasons, 'rate_limited_local', ...askedAgainReasons] as const;
export type RetryReason = (typeof retryReasons)[number];
export type AskedAgainReason = (typeof askedAgainReasons)[number];

export interface RetryRecord {
  runId: string;
  step: number;
  /** The activity attempt that failed: recording it twice counts it once. */
  attempt: number;
  reason: RetryReason;
  status?: number;
  /** What the provider asked for (Retry-After). */
  retryAfterMs?: number;
  /** How long Temporal was told to wait before the next attempt. */
  delayMs?: number;
}

/** Records a retried attempt; true when this call wrote it (false: the attempt was recorded already). */
export async function recordRetry(db: Db, r: RetryRecord): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO model_retries (run_id, step, attempt, reason, status, retry_after_ms, delay_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
    [r.runId, r.step, r.attempt, r.reason, r.status ?? null, msOrNull(r.retryAfterMs), msOrNull(r.delayMs)],
  );
  return rowCount === 1;
}

const msOrNull = (ms: number | undefined) => (ms === undefined ? null : Math.round(ms));

/** How often the provider already failed this step (waits for the local limiter and re-asks not counted): the backoff exponent. */
export async function countProviderFailures(db: Db, runId: string, step: number): Promise<number> {
  const { rows } = await db.query(
    `SELECT count(*)::int AS n FROM model_retries WHERE run_id = $1 AND step = $2 AND reason = ANY($3)`,
    [runId, step, providerFailureReasons],
  );
  return rows[0].n;
}

/** How often this step was retried for `reason`. */
export async function countRetries(db: Db, runId: string, step: number, reason: RetryReason): Promise<number> {
  const { rows } = await db.query(
    'SELECT count(*)::int AS n FROM model_retries WHERE run_id = $1 AND step = $2 AND reason = $3',
    [runId, step, reason],
  );
  return rows[0].n;
}

const noRetries = JSON.stringify(Object.fromEntries(retryReasons.map((r) => [r, 0])));

/** A SQL expression for a run's retries by reason, every reason present: `{"429": 2, "5xx": 0, …}`. */
export const runRetriesSql = (runIdColumn: string) =>
  `(SELECT '${noRetries}'::jsonb || COALESCE(jsonb_object_agg(reason, n), '{}'::jsonb)
    FROM (SELECT reason, count(*)::int AS n FROM model_retries WHERE run_id = ${runIdColumn} GROUP BY reason) AS counted)`;
