/**
 * A bundle's context budget: how much of a run's history the model sees. Past `maxInputTokens` the
 * older turns are summarised by a model call and only the summary and the recent turns are sent;
 * long tool results are cut to `maxToolResultChars` with a note. Pure: the bundle schema uses it.
 */
import { z } from 'zod';

export const contextSettingsSchema = z
  .object({
    maxInputTokens: z
      .number()
      .int()
      .min(256)
      .max(2_000_000)
      .describe('Estimated prompt tokens (system prompt, tools, messages) a step may send before older turns are summarised.'),
    keepRecentMessages: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe('Messages kept verbatim after a summary (whole turns, so a few more); fewer only if they alone exceed the budget. Default 6.'),
    maxToolResultChars: z
      .number()
      .int()
      .min(100)
      .max(10_000_000)
      .optional()
      .describe('Longer tool results are cut to this many characters, with a note, in what the model sees. Default: maxInputTokens.'),
    summaryModel: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe("The model that writes summaries. Default: model.routing.cheap, else model.id."),
  })
  .strict();

export type ContextSettings = z.infer<typeof contextSettingsSchema>;

export interface ResolvedContextSettings {
  maxInputTokens: number;
  keepRecentMessages: number;
  maxToolResultChars: number;
  summaryModel: string;
  /** The longest summary asked for, in tokens; room for it is kept in the budget. */
  summaryMaxTokens: number;
}

export const DEFAULT_KEEP_RECENT_MESSAGES = 6;

/** The settings with every default filled in, for a bundle's model and context. */
export function resolveContextSettings(
  context: ContextSettings,
  model: { id: string; routing?: { cheap: string } },
): ResolvedContextSettings {
  return {
    maxInputTokens: context.maxInputTokens,
    keepRecentMessages: context.keepRecentMessages ?? DEFAULT_KEEP_RECENT_MESSAGES,
    maxToolResultChars: context.maxToolResultChars ?? context.maxInputTokens,
    summaryModel: context.summaryModel ?? model.routing?.cheap ?? model.id,
    summaryMaxTokens: Math.min(1024, Math.max(64, Math.round(context.maxInputTokens / 8))),
  };
}
