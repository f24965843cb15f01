/**
 * Bosun's one token estimate: prompt characters over characters per token, with no tokenizer. Its
 * uses differ only in how generous they are:
 * - `likelyPromptTokens`: what a prompt probably holds (CHARS_PER_TOKEN, calibrated by the previous
 *   call's real count), which the context window plans against;
 * - `worstCaseTokens`: the most a call may use (a generous GENEROUS_CHARS_PER_TOKEN for the prompt,
 *   and the longest reply it may get), which budgets reserve the cost of (worstCaseUsd);
 * - `providerTokens`: the same as one figure, which the provider limiter counts per minute.
 * Pure.
 */

/** Characters per token: what tokenizers average on English text and JSON. */
export const CHARS_PER_TOKEN = 4;
/** Characters per token for an upper bound: few texts pack tokens tighter. */
const GENEROUS_CHARS_PER_TOKEN = 3;
/** Bosun's ceiling on a reply's length when a bundle sets none. */
const DEFAULT_MAX_OUTPUT_TOKENS = 4096;

/** What a request sends: its messages and tool schemas, as the provider receives them. */
function promptChars(messages: unknown, toolsJson: string): number {
  return JSON.stringify(messages).length + toolsJson.length;
}

/**
 * The prompt tokens `messages` and the tool schemas (`toolsJson`, as sent) probably take, times
 * `calibration` (real tokens per estimated token of an earlier call; 1 when unknown).
 */
export function likelyPromptTokens(messages: unknown, toolsJson: string, calibration = 1): number {
  return Math.ceil((promptChars(messages, toolsJson) / CHARS_PER_TOKEN) * calibration);
}

/** A chat completion request, as far as its size goes. */
export interface TokenRequest {
  messages: unknown;
  tools?: unknown;
  max_completion_tokens?: number | null;
}

/** The most a call may use, in tokens: its prompt, estimated generously, and the longest reply it allows. */
export function worstCaseTokens(request: TokenRequest): { prompt: number; output: number } {
  return {
    prompt: Math.ceil(promptChars(request.messages, JSON.stringify(request.tools ?? [])) / GENEROUS_CHARS_PER_TOKEN),
    output: request.max_completion_tokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
  };
}

/** What a call counts against a provider's tokens per minute: the most it may use, prompt and reply together. */
export function providerTokens(request: TokenRequest): number {
  const { prompt, output } = worstCaseTokens(request);
  return prompt + output;
}
