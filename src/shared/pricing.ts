/**
 * Model prices, and token usage split into disjoint buckets, each priced on its own, so a cached
 * token is never counted (or charged) twice. Pure: the bundle schema uses it.
 */
import { z } from 'zod';
import type { Usage } from './domain';

/** A model call's tokens by price bucket. */
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

const usdPerMillion = z.number().nonnegative();

/** USD per million tokens. Absent bucket prices fall back to the nearest sensible one. */
export const modelPriceSchema = z
  .object({
    input: usdPerMillion,
    output: usdPerMillion,
    cachedInput: usdPerMillion.optional().describe('Default: input.'),
    cacheWrite: usdPerMillion.optional().describe('Default: input.'),
    reasoning: usdPerMillion.optional().describe('Default: output.'),
  })
  .strict();
export type ModelPrice = z.infer<typeof modelPriceSchema>;

/** Prices by model ID: BOSUN_MODEL_PRICES over the built-in table. */
export type ModelPrices = Record<string, ModelPrice>;

/** What this build knows, USD per million tokens. */
export const builtInModelPrices: ModelPrices = {
  'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
  'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
};

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

/** What one model call used and cost, by bucket. */
export interface CallCost {
  usage: Usage;
  buckets: TokenBuckets;
  cacheSavingsUsd: number;
}

export function callCost(usage: ProviderUsage | undefined, price: ModelPrice): CallCost {
  const buckets = bucketsOf(usage);
  const { costUsd, cacheSavingsUsd } = priceBuckets(buckets, price);
  return { usage: { inputTokens: usage?.prompt_tokens ?? 0, outputTokens: usage?.completion_tokens ?? 0, costUsd }, buckets, cacheSavingsUsd };
}
