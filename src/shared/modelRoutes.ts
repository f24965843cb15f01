/**
 * Which model a step goes to under a bundle's routing rules (the rules' schema: ./modelRouting.ts).
 * Pure and free of zod: the model activity routes each step with it, and the workflow names the
 * step's model in its activity summary.
 */

export const modelTiers = ['strong', 'cheap'] as const;
export type ModelTier = (typeof modelTiers)[number];

/** Which rule decided a step's model, in the order they are tried. */
export const routingRules = ['firstStep', 'afterInvalidToolCall', 'afterToolError', 'default'] as const;
export type RoutingRule = (typeof routingRules)[number];

/** A bundle's `model.routing`, as its schema (./modelRouting.ts) validates it. */
export interface RoutingSettings {
  strong: string;
  cheap: string;
  rules?: Partial<Record<RoutingRule, ModelTier>>;
}

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
export function routeModel(model: { id: string; routing?: RoutingSettings }, signals: StepSignals): RoutedModel | undefined {
  const routing = model.routing;
  if (!routing) return undefined;
  const rule = applicableRule(signals);
  const chosen = routing.rules?.[rule] ?? defaultRules[rule];
  return { model: routing[chosen], tier: chosen, rule };
}

