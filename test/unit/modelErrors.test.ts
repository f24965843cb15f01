import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { retryAfterMs, toActivityFailure } from '../../src/activities/modelErrors';

const apiError = (status: number, headers: Record<string, string> = {}) =>
  OpenAI.APIError.generate(status, { error: { message: 'x' } }, 'x', new Headers(headers));

describe('toActivityFailure', () => {
  it('does not retry a 4xx other than 408, 409 and 429', () => {
    for (const status of [400, 401, 403, 404, 422]) {
      const failure = toActivityFailure(apiError(status)) as ApplicationFailure;
      expect(failure.nonRetryable).toBe(true);
      expect(failure.type).toBe('ModelRequestRejected');
    }
  });
  it('retries 429 after the delay the provider asked for', () => {
    const failure = toActivityFailure(apiError(429, { 'retry-after': '7' })) as ApplicationFailure;
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBe(7000);
  });
  it('retries server errors with the policy backoff', () => {
    for (const status of [500, 502, 503, 408]) {
      const failure = toActivityFailure(apiError(status)) as ApplicationFailure;
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
