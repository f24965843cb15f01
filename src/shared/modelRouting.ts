/**
 * Model routing: a bundle may send each model step to a stronger or a cheaper model by rule, e.g.
 * the first (planning) step and any step after a failed tool call to the strong model, routine
 * tool-following steps to the cheap one. Pure: the bundle schema and the model activity use it;
 * the rules themselves are in ./modelRoutes.ts, free of zod, so workflow code can apply them too.
 */
import { z } from 'zod';

import { modelTiers } from './modelRoutes';

export { applicableRule, modelTiers, routeModel, routingRules } from './modelRoutes';
export type { ModelTier, RoutedModel, RoutingRule, StepSignals } from './modelRoutes';

const tier = z.enum(modelTiers);

export const modelRoutingSchema = z
  .object({
    strong: z.string().min(1).max(200).describe('The model for planning and recovery steps, e.g. gpt-4o.'),
    cheap: z.string().min(1).max(200).describe('The model for routine steps, e.g. gpt-4o-mini.'),
    rules: z
      .object({
        firstStep: tier.optional().describe('The run\'s first model call (it plans the work). Default: strong.'),
        afterInvalidToolCall: tier
          .optional()
          .describe('The previous step asked for a tool call that failed validation (bad arguments, unknown tool). Default: strong.'),
        afterToolError: tier
          .optional()
          .describe('A tool call of the previous step failed or was rejected by a human. Default: strong.'),
        default: tier.optional().describe('Every other step. Default: cheap.'),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ModelRouting = z.infer<typeof modelRoutingSchema>;

/** Problems the schema cannot see. */
export function routingProblems(model: { id: string; routing?: ModelRouting }): string[] {
  const routing = model.routing;
  if (!routing) return [];
  return routing.strong === model.id || routing.cheap === model.id
    ? []
    : [`model.id: with routing, "${model.id}" must be routing.strong or routing.cheap (it names the bundle's main model)`];
}
