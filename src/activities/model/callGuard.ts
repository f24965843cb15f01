/**
 * What happens around each model request besides the request itself: the provider's per-minute
 * limits are checked before it (a call over them waits in Temporal's retry loop, never at the
 * provider), and a failed attempt is counted by reason and told when to try again, with jitter.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import OpenAI from 'openai';
import type { ProviderLimits } from '../../config';
import { admitCallIn, resolveProvider, settleGrant, type Admission, type Grant } from './providerLimiter';
import { providerTokens, type TokenRequest } from './tokens';
import { countProviderFailures, recordRetry, type RetryReason, type RetryRecord } from '../../db/modelRetries';
import type { Db, DbClient } from '../../db/pool';
import { toActivityFailure } from './errors';
import { FailureType, modelBackoff } from '../../shared/failures';
import { providerOf, recordModelRetry } from '../../telemetry/metrics';

/** A booked call arrives somewhere in the first part of its second, not all at its first millisecond. */
const ARRIVAL_SPREAD_MS = 600;

export interface ModelCallGuardDeps {
  db: Db;
  /** BOSUN_PROVIDER_LIMITS; no limits when empty. */
  limits: ProviderLimits;
  /** OPENAI_BASE_URL: the provider `default` stands for. */
  defaultBaseUrl: string | undefined;
  random?: () => number;
}

interface Call {
  runId: string;
  step: number;
}

/** A call the limiter held back: when it may come back (`admission.second`). */
export interface Refusal extends Call {
  baseUrl: string | undefined;
  model: string;
  admission: Extract<Admission, { granted: false }>;
}

/** The endpoint (the bundle's base URL; the configured provider when undefined) and model a call went to. */
interface Target {
  baseUrl: string | undefined;
  model: string;
}

export type ModelCallGuard = ReturnType<typeof createModelCallGuard>;

export function createModelCallGuard({ db, limits, defaultBaseUrl, random = Math.random }: ModelCallGuardDeps) {
  /** Records the retry, and counts it in bosun_provider_retries_total when this attempt recorded it first. */
  const countedRetry = async (record: RetryRecord, { baseUrl, model }: Target) => {
    if (await recordRetry(db, record)) recordModelRetry({ provider: providerOf(baseUrl ?? defaultBaseUrl), model, reason: record.reason });
  };
  return {
    /**
     * Counts the call against its provider's limits in the caller's transaction (the step's own,
     * taken last in it: the provider's lock is held until it commits). Granted: the grant, to be
     * settled with the real usage (undefined for a provider without limits). Not granted: the second
     * booked for it, which the caller commits and then turns into the failure to throw (`refused`).
     */
    async admit(
      client: DbClient, { runId, step, baseUrl, request }: Call & { baseUrl: string | undefined; request: TokenRequest & { model: string } },
    ): Promise<{ granted: true; grant?: Grant } | { granted: false; refusal: Refusal }> {
      const target = resolveProvider(limits, baseUrl, defaultBaseUrl);
      if (!target) return { granted: true };
      const admission = await admitCallIn(client, { ...target, ticketId: `${runId}:${step}`, tokens: providerTokens(request) });
      if (admission.granted) return { granted: true, grant: admission.grant };
      return { granted: false, refusal: { runId, step, baseUrl, model: request.model, admission } };
    },

    /**
     * A call the limiter held back, once its booking is committed: the retry is recorded and the
     * retryable `ProviderRateLimited` to throw returned, its delay ending in the second booked for it.
     */
    async refused({ runId, step, baseUrl, model, admission }: Refusal): Promise<ApplicationFailure> {
      const delayMs = Math.ceil(Math.max(0, admission.second * 1000 - admission.nowMs) + random() * ARRIVAL_SPREAD_MS);
      await bestEffort('record a retry', countedRetry({ runId, step, attempt: currentAttempt(), reason: 'rate_limited_local', delayMs }, { baseUrl, model }));
      const { requestsPerMinute, tokensPerMinute } = admission.limit;
      const limitText = [requestsPerMinute && `${requestsPerMinute} calls`, tokensPerMinute && `${tokensPerMinute} tokens`].filter(Boolean).join(' and ');
      return ApplicationFailure.create({
        type: FailureType.ProviderRateLimited,
        message: `${admission.provider} is at its limit of ${limitText} a minute; this call waits for its turn at ${new Date(admission.second * 1000).toISOString()}`,
        nextRetryDelay: delayMs,
      });
    },

    /**
     * The call's real tokens replace its estimate in the provider's window. Never throws: the call
     * is paid for, and a retry would pay again.
     */
    async completed(grant: Grant | undefined, usage: OpenAI.CompletionUsage | undefined): Promise<void> {
      if (grant) await bestEffort('settle provider tokens', settleGrant(db, grant, usage?.total_tokens ?? grant.tokens));
    },

    /**
     * `completed` in the transaction that stores the call's reply, as its last statement (the
     * bucket's row lock is then held only until the commit). A failure here fails that
     * transaction, which would fail anyway: it is one UPDATE by primary key beside the reply's rows.
     */
    async completedIn(client: DbClient, grant: Grant | undefined, usage: OpenAI.CompletionUsage | undefined): Promise<void> {
      if (grant) await settleGrant(client, grant, usage?.total_tokens ?? grant.tokens);
    },

    /**
     * Turns a failed request into the failure to throw: counted by reason when it will be retried,
     * with a delay of Retry-After (never less) or exponential backoff × 0.5–1.5. Bookkeeping
     * trouble never changes what Temporal is told.
     */
    async attemptFailed({ runId, step, grant, err, target }: Call & { grant: Grant | undefined; err: unknown; target: Target }): Promise<unknown> {
      // A failed call used no tokens (its request still counts).
      if (grant) await bestEffort('settle provider tokens', settleGrant(db, grant, 0));
      const failure = toActivityFailure(err);
      const reason = failureReason(err);
      if (!reason || (failure instanceof ApplicationFailure && failure.nonRetryable)) return failure;
      const attempt = currentAttempt();
      const status = err instanceof OpenAI.APIError ? err.status : undefined;
      const retryAfterMs = failure instanceof ApplicationFailure && typeof failure.nextRetryDelay === 'number' ? failure.nextRetryDelay : undefined;
      if (reason === 'other') {
        await bestEffort('record a retry', countedRetry({ runId, step, attempt, reason, status, retryAfterMs }, target));
        return failure;
      }
      const failures = (await countProviderFailures(db, runId, step).catch(() => attempt - 1)) + 1;
      const delayMs = retryDelayMs({ failures, retryAfterMs, random });
      await bestEffort('record a retry', countedRetry({ runId, step, attempt, reason, status, retryAfterMs, delayMs }, target));
      return ApplicationFailure.create({
        type: failure instanceof ApplicationFailure ? (failure.type ?? undefined) : reason === 'timeout' ? FailureType.ModelTimeout : FailureType.ModelProviderUnreachable,
        message: failure instanceof Error ? failure.message : String(failure),
        nextRetryDelay: delayMs,
      });
    },
  };
}

/** Why an attempt failed, or undefined when it is not retried (a rejected request, a cancelled run). */
export function failureReason(err: unknown): RetryReason | undefined {
  if (err instanceof OpenAI.APIUserAbortError) return undefined;
  if (err instanceof OpenAI.APIConnectionTimeoutError) return 'timeout';
  if (err instanceof OpenAI.APIConnectionError) return 'network';
  if (err instanceof OpenAI.APIError && err.status !== undefined) {
    if (err.status === 429) return '429';
    if (err.status >= 500) return '5xx';
    if (err.status === 408) return 'timeout';
    if (err.status === 409) return 'other';
    return undefined;
  }
  return 'other';
}

/**
 * The wait before the next attempt: what Retry-After asked plus up to 20 % (at most 2 s) so that the
 * calls a storm stopped together do not all come back in the same instant; otherwise the retry
 * model activity's backoff (src/shared/failures.ts) after `failures` failures, times a random 0.5–1.5.
 */
export function retryDelayMs({ failures, retryAfterMs, random = Math.random }: { failures: number; retryAfterMs?: number; random?: () => number }): number {
  if (retryAfterMs !== undefined) return Math.ceil(retryAfterMs + random() * Math.min(retryAfterMs * 0.2, 2000));
  const { initialIntervalMs, backoffCoefficient, maximumIntervalMs } = modelBackoff;
  const backoff = Math.min(initialIntervalMs * backoffCoefficient ** Math.max(0, failures - 1), maximumIntervalMs);
  return Math.round(backoff * (0.5 + random()));
}

/** Bookkeeping that must not change the call's outcome: a failure is logged, not thrown. */
async function bestEffort(what: string, work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (err) {
    try {
      Context.current().log.warn(`could not ${what}`, { error: String(err) });
    } catch {
      // Outside an activity: nowhere to log.
    }
  }
}

function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}
