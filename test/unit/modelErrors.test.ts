import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, retryAfterMs, toActivityFailure } from '../../src/activities/model/errors';
import { runErrorCodeOf } from '../../src/shared/runErrors';

const apiError = (status: number, headers: Record<string, string> = {}, error: Record<string, string> = { message: 'x' }) =>
  OpenAI.APIError.generate(status, { error }, error.message, new Headers(headers));
const failureOf = (err: unknown) => toActivityFailure(err) as ApplicationFailure;

describe('toActivityFailure', () => {
  it.each([
    [401, {}, 'ModelAuthRejected', 'provider_auth_failed'],
    [403, {}, 'ModelAuthRejected', 'provider_auth_failed'],
    [404, { code: 'model_not_found' }, 'ModelNotFound', 'model_not_found'],
    [429, { type: 'insufficient_quota', code: 'insufficient_quota' }, 'ModelQuotaExceeded', 'quota_exceeded'],
    [400, { code: 'context_length_exceeded' }, 'ContextLengthExceeded', 'context_length_exceeded'],
    [400, { message: 'prompt is too long: 210000 tokens > 200000 maximum' }, 'ContextLengthExceeded', 'context_length_exceeded'],
    [413, {}, 'ContextLengthExceeded', 'context_length_exceeded'],
    [400, {}, 'ModelRequestRejected', 'model_request_rejected'],
    [422, {}, 'ModelRequestRejected', 'model_request_rejected'],
  ])('fails a %i (%j) at once, as %s → %s', (status, body, type, code) => {
    const failure = failureOf(apiError(status, {}, { message: 'x', ...body }));
    expect(failure.nonRetryable).toBe(true);
    expect(failure.type).toBe(type);
    expect(runErrorCodeOf(failure.type ?? undefined)).toBe(code);
  });

  it('retries 429 after the delay the provider asked for', () => {
    const failure = failureOf(apiError(429, { 'retry-after': '7' }));
    expect(failure.nonRetryable).toBe(false);
    expect(failure.type).toBe('ModelRateLimited');
    expect(failure.nextRetryDelay).toBe(7000);
  });

  it('follows Retry-After on any retried status, in seconds or milliseconds', () => {
    expect(failureOf(apiError(503, { 'retry-after': '6' })).nextRetryDelay).toBe(6000);
    expect(failureOf(apiError(529, { 'retry-after-ms': '2500' })).nextRetryDelay).toBe(2500);
    expect(failureOf(apiError(408, { 'retry-after': '3' })).nextRetryDelay).toBe(3000);
  });

  it(`never waits longer than ${MAX_RETRY_AFTER_MS / 60_000} minutes for a Retry-After`, () => {
    expect(failureOf(apiError(503, { 'retry-after': '86400' })).nextRetryDelay).toBe(MAX_RETRY_AFTER_MS);
  });

  it('retries server errors with the policy backoff when they ask for no delay', () => {
    for (const status of [500, 502, 503, 529, 408]) {
      const failure = failureOf(apiError(status));
      expect(failure.nonRetryable).toBe(false);
      expect(failure.nextRetryDelay).toBeUndefined();
    }
  });

  it('leaves network errors to the default retry policy', () => {
    const err = new Error('ECONNREFUSED');
    expect(toActivityFailure(err)).toBe(err);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    [{ 'retry-after': '2' }, 2000],
    [{ 'retry-after-ms': '150' }, 150],
    [{ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }, 5000],
    [{ 'retry-after': '0' }, undefined],
    [{ 'retry-after': 'soon' }, undefined],
    [{}, undefined],
  ])('%j → %s', (headers, ms) => expect(retryAfterMs(new Headers(headers), now)).toBe(ms));
});
