/**
 * Model routing: a bundle may send each model step to a stronger or a cheaper model by rule, e.g.
 * the first (planning) step and any step after a failed tool call to the strong model, routine
 * tool-following steps to the cheap one. Pure: the bundle schema and the model activity use it.
 */
import { z } from 'zod';

export const modelTiers = ['strong', 'cheap'] as const;
export type ModelTier = (typeof modelTiers)[number];
const tier = z.enum(modelTiers);

/** Which rule decided a step's model, in the order they are tried. */
export const routingRules = ['firstStep', 'afterInvalidToolCall', 'afterToolError', 'default'] as const;
export type RoutingRule = (typeof routingRules)[number];

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

const defaultRules: Record<RoutingRule, ModelTier> = {
  firstStep: 'strong',
  afterInvalidToolCall: 'strong',
  afterToolError: 'strong',
  default: 'cheap',
};

/** What the previous step left behind, as far as routing cares. */
export interface StepSignals {
  /** The model step about to run, 1 for the run's first call. */
  step: number;
  /** Status of every tool call of the previous step (`ok`, `error`, `invalid_arguments`, `rejected`). */
  previousToolStatuses: readonly string[];
}

export interface RoutedModel {
  model: string;
  tier: ModelTier;
  rule: RoutingRule;
}

/** The rule that applies to a step: the first of `routingRules` whose condition holds. */
export function applicableRule({ step, previousToolStatuses }: StepSignals): RoutingRule {
  if (step <= 1) return 'firstStep';
  if (previousToolStatuses.includes('invalid_arguments')) return 'afterInvalidToolCall';
  if (previousToolStatuses.some((s) => s !== 'ok')) return 'afterToolError';
  return 'default';
}

/** The model a step goes to: the routed one, or the bundle's only model without routing. */
export function routeModel(model: { id: string; routing?: ModelRouting }, signals: StepSignals): RoutedModel | undefined {
  const routing = model.routing;
  if (!routing) return undefined;
  const rule = applicableRule(signals);
  const chosen = routing.rules?.[rule] ?? defaultRules[rule];
  return { model: routing[chosen], tier: chosen, rule };
}

/** Problems the schema cannot see. */
export function routingProblems(model: { id: string; routing?: ModelRouting }): string[] {
  const routing = model.routing;
  if (!routing) return [];
  return routing.strong === model.id || routing.cheap === model.id
    ? []
    : [`model.id: with routing, "${model.id}" must be routing.strong or routing.cheap (it names the bundle's main model)`];
}
