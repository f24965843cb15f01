import { describe, expect, it } from 'vitest';
import { bucketsOf, priceBuckets } from '../../src/shared/pricing';

describe('token buckets', () => {
  it('splits usage into disjoint buckets that add up to what the provider reported', () => {
    const usage = {
      prompt_tokens: 10_000, completion_tokens: 3_000,
      prompt_tokens_details: { cached_tokens: 8_000 }, completion_tokens_details: { reasoning_tokens: 1_000 },
    };
    const b = bucketsOf(usage);
    expect(b).toEqual({ uncachedInput: 2_000, cachedInput: 8_000, cacheWrite: 0, output: 2_000, reasoning: 1_000 });
    expect(b.uncachedInput + b.cachedInput + b.cacheWrite).toBe(usage.prompt_tokens);
    expect(b.output + b.reasoning).toBe(usage.completion_tokens);
  });

  it('never lets a bogus detail make a bucket negative', () => {
    expect(bucketsOf({ prompt_tokens: 10, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 50 } })).toMatchObject({
      uncachedInput: 0, cachedInput: 10,
    });
    expect(bucketsOf(undefined)).toEqual({ uncachedInput: 0, cachedInput: 0, cacheWrite: 0, output: 0, reasoning: 0 });
  });
});

describe('pricing', () => {
  const price = { input: 2.5, cachedInput: 1.25, output: 10 };

  it('charges cached tokens at the cached price, once', () => {
    const b = bucketsOf({ prompt_tokens: 1_000_000, completion_tokens: 100_000, prompt_tokens_details: { cached_tokens: 600_000 } });
    // 400k × 2.5 + 600k × 1.25 + 100k × 10, per million
    expect(priceBuckets(b, price)).toEqual({ costUsd: 1 + 0.75 + 1, cacheSavingsUsd: 0.75 });
  });

  it('prices reasoning as output unless told otherwise, and unknown models at zero', () => {
    const b = bucketsOf({ prompt_tokens: 0, completion_tokens: 1_000_000, completion_tokens_details: { reasoning_tokens: 500_000 } });
    expect(priceBuckets(b, price).costUsd).toBe(10);
    expect(priceBuckets(b, { ...price, reasoning: 20 }).costUsd).toBe(15);
    expect(priceBuckets(b, undefined)).toEqual({ costUsd: 0, cacheSavingsUsd: 0 });
  });
});
