import { ApplicationFailure } from '@temporalio/activity';
import OpenAI from 'openai';
import { FailureType, terminalFailure, type TerminalFailureType } from '../../shared/failures';

/**
 * The longest wait a provider's Retry-After is followed for (5 minutes); a longer one is cut to it,
 * so one answer cannot park a run for hours. docs/provider-errors.md lists it.
 */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * Temporal owns retries (the OpenAI client runs with maxRetries: 0), so provider errors are turned
 * into failures that tell it what to do: a request retrying cannot fix (no quota, a rejected key, an
 * unknown model, a prompt too long, any other 4xx) fails at once with its own type
 * (src/shared/failures.ts gives each its run error code); rate limits, 408/409, 5xx and network
 * trouble are retried, after the provider's Retry-After when it sent one, whatever the status.
 */
export function toActivityFailure(err: unknown): unknown {
  if (!(err instanceof OpenAI.APIError) || err.status === undefined) return err;
  // The provider's own words (the SDK's message repeats the status).
  const said = (err.error as { message?: unknown } | undefined)?.message;
  const message = `model provider answered ${err.status}: ${typeof said === 'string' ? said : err.message}`;
  const rejection = rejectionType(err);
  if (rejection) return terminalFailure(rejection, message);
  const delayMs = retryAfterMs(err.headers);
  return ApplicationFailure.create({
    type: err.status === 429 ? FailureType.ModelRateLimited : FailureType.ModelProviderError,
    message,
    nextRetryDelay: delayMs === undefined ? undefined : Math.min(delayMs, MAX_RETRY_AFTER_MS),
  });
}

/** The failure type of an answer that retrying cannot change, or undefined when it is worth retrying. */
function rejectionType(err: InstanceType<typeof OpenAI.APIError>): TerminalFailureType | undefined {
  const says = (code: string) => err.code === code || err.type === code;
  // A 429 that is about money, not speed: waiting does not bring quota back.
  if (says('insufficient_quota')) return FailureType.ModelQuotaExceeded;
  if (err.status === 401 || err.status === 403) return FailureType.ModelAuthRejected;
  if (err.status === 404) return FailureType.ModelNotFound;
  if (err.status === 413 || says('context_length_exceeded') || /maximum context length|prompt is too long/i.test(err.message)) {
    return FailureType.ContextLengthExceeded;
  }
  // 408 and 409 are the provider's own "try again" answers, as the OpenAI SDK treats them too.
  const status = err.status ?? 0;
  if (status >= 400 && status < 500 && status !== 408 && status !== 409 && status !== 429) return FailureType.ModelRequestRejected;
  return undefined;
}

/** The delay an answer asked for, from `retry-after-ms` or `retry-after` (seconds or an HTTP date). */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  const ms = Number(headers?.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds > 0 ? seconds * 1000 : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) || date <= now ? undefined : date - now;
}
