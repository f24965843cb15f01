/**
 * Token usage split into disjoint buckets, each priced on its own, so a cached token is never
 * counted (or charged) twice.
 */
export interface TokenBuckets {
  /** Prompt tokens read at the full input price. */
  uncachedInput: number;
  /** Prompt tokens served from the provider's prompt cache. */
  cachedInput: number;
  /** Prompt tokens written into the cache (providers that charge for it). */
  cacheWrite: number;
  /** Completion tokens the model showed. */
  output: number;
  /** Completion tokens spent on hidden reasoning. */
  reasoning: number;
}

/** USD per million tokens. Absent bucket prices fall back to the nearest sensible one. */
export interface ModelPrice {
  input: number;
  output: number;
  cachedInput?: number;
  cacheWrite?: number;
  reasoning?: number;
}

/** The usage object of an OpenAI-compatible chat completion, as far as Bosun reads it. */
export interface ProviderUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

export function bucketsOf(usage: ProviderUsage | undefined): TokenBuckets {
  const prompt = usage?.prompt_tokens ?? 0;
  const completion = usage?.completion_tokens ?? 0;
  const cachedInput = Math.min(prompt, usage?.prompt_tokens_details?.cached_tokens ?? 0);
  const cacheWrite = Math.min(prompt - cachedInput, usage?.prompt_tokens_details?.cache_write_tokens ?? 0);
  const reasoning = Math.min(completion, usage?.completion_tokens_details?.reasoning_tokens ?? 0);
  return { uncachedInput: prompt - cachedInput - cacheWrite, cachedInput, cacheWrite, output: completion - reasoning, reasoning };
}

const perMillion = (tokens: number, usd: number) => (tokens * usd) / 1e6;
const micro = (usd: number) => Math.round(usd * 1e6) / 1e6;

/** What the buckets cost, and what the cached tokens saved against paying full input price. */
export function priceBuckets(b: TokenBuckets, price: ModelPrice | undefined): { costUsd: number; cacheSavingsUsd: number } {
  if (!price) return { costUsd: 0, cacheSavingsUsd: 0 };
  const cachedPrice = price.cachedInput ?? price.input;
  const cost =
    perMillion(b.uncachedInput, price.input) +
    perMillion(b.cachedInput, cachedPrice) +
    perMillion(b.cacheWrite, price.cacheWrite ?? price.input) +
    perMillion(b.output, price.output) +
    perMillion(b.reasoning, price.reasoning ?? price.output);
  return { costUsd: micro(cost), cacheSavingsUsd: micro(perMillion(b.cachedInput, price.input - cachedPrice)) };
}
