import { ApplicationFailure } from '@temporalio/activity';
import OpenAI from 'openai';

/**
 * Temporal owns retries (the OpenAI client runs with maxRetries: 0), so provider errors are turned
 * into failures that tell it what to do: rejected requests fail at once, rate limits wait as long as
 * the provider asked, server errors and network trouble back off and retry.
 */
export function toActivityFailure(err: unknown): unknown {
  if (!(err instanceof OpenAI.APIError) || err.status === undefined) return err;
  const message = `model provider answered ${err.status}: ${err.message}`;
  if (err.status === 429) {
    return ApplicationFailure.create({ type: 'ModelRateLimited', message, nextRetryDelay: retryAfterMs(err.headers) });
  }
  // 408 and 409 are the provider's own "try again" answers, as the OpenAI SDK treats them too.
  if (err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 409) {
    return ApplicationFailure.nonRetryable(message, 'ModelRequestRejected');
  }
  return ApplicationFailure.retryable(message, 'ModelProviderError');
}

/** The delay a 429 asked for, from `retry-after-ms` or `retry-after` (seconds or an HTTP date). */
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
