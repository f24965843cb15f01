/**
 * An agent bundle: prompt + tools + model + limits, released together under one content-addressed
 * ID. This schema is the single source of what `POST /v1/bundles` accepts.
 */
import { z } from 'zod';
import type { RunPolicy } from './domain';
import { toolCatalog, isToolName, type ToolName } from './tools';
import { guardrailProblems, networkPolicySchema } from './guardrails';
import { modelRoutingSchema, routingProblems } from './modelRouting';
import { contextSettingsSchema, resolveContextSettings } from './contextWindow';
import { modelPriceSchema, type ModelPrice, type ModelPrices } from './pricing';

/**
 * A bundle's own price for one of its models: USD per million tokens as in BOSUN_MODEL_PRICES, or
 * an explicit zero with the reason (a model that really costs nothing, e.g. self-hosted).
 */
const bundleModelPriceSchema = z.union([
  modelPriceSchema,
  z
    .object({
      zero: z.literal(true),
      reason: z.string().min(1).max(500).describe('Why calls to this model cost nothing, e.g. "self-hosted on our own GPUs".'),
    })
    .strict(),
]);

const agentName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, starting with a letter');

export const bundleContentSchema = z
  .object({
    name: agentName.describe('The agent this bundle is a version of.'),
    description: z.string().max(500).optional(),
    systemPrompt: z.string().min(1).max(100_000).describe('System prompt; `{{variable}}` placeholders are filled from `variables`.'),
    variables: z.record(z.string().regex(/^\w+$/), z.string().max(10_000)).default({}),
    model: z
      .object({
        id: z.string().min(1).max(200),
        /** An OpenAI-compatible endpoint; the worker's configured provider when absent. */
        baseUrl: z.url({ protocol: /^https?$/ }).optional(),
        temperature: z.number().min(0).max(2).optional(),
        maxOutputTokens: z.number().int().positive().max(100_000).optional(),
        /** Each step to the strong or the cheap model by rule; `id` (one of the two) for every step when absent. */
        routing: modelRoutingSchema.optional(),
        prices: z
          .record(z.string().min(1).max(200), bundleModelPriceSchema)
          .optional()
          .describe("Prices by model ID for this bundle's models, over Bosun's price table: needed for a model the table lacks."),
      })
      .strict(),
    tools: z
      .array(
        z
          .object({
            name: z.string(),
            version: z.number().int().positive().describe('The schema version of the tool this bundle was written against.'),
            approval: z
              .union([
                z.enum(['always', 'never']),
                z
                  .object({
                    above: z
                      .object({ field: z.string().min(1).max(100), value: z.number().finite() })
                      .strict()
                      .describe('Gate only calls whose numeric argument `field` is above `value`.'),
                  })
                  .strict(),
              ])
              .optional()
              .describe('always, never, or { above: { field, value } }; write tools need approval by default, reads never do.'),
          })
          .strict(),
      )
      .max(50),
    limits: z
      .object({
        maxSteps: z.number().int().min(1).max(1000).describe('Model calls per run.'),
        maxToolCalls: z.number().int().min(0).max(10_000).optional(),
        maxTotalTokens: z.number().int().positive().optional().describe('Input plus output tokens per run.'),
        maxCostUsd: z.number().positive().optional(),
      })
      .strict(),
    approvals: z
      .object({
        separateApprover: z.boolean().optional().describe('The key that started a run may not approve its tool calls.'),
      })
      .strict()
      .optional(),
    /** Past this many prompt tokens older turns are summarised; the whole history is sent when absent. */
    context: contextSettingsSchema.optional(),
    /** What http_fetch may reach; no host at all when absent. */
    network: networkPolicySchema.optional(),
    /** Names of secrets the bundle's tools may use; values never appear in a bundle. */
    secrets: z.array(z.string().regex(/^[A-Z][A-Z0-9_]{0,99}$/, 'an upper-case secret name')).default([]),
  })
  .strict();

export type BundleContent = z.infer<typeof bundleContentSchema>;

/** A published bundle: its content, with the ID that content hashes to. */
export interface Bundle extends BundleContent {
  id: string;
}

/** Checks what the schema cannot: tools this build has, and a value for every prompt variable. */
export function bundleProblems(content: BundleContent): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  content.tools.forEach((tool, i) => {
    if (seen.has(tool.name)) problems.push(`tools.${i}.name: "${tool.name}" is listed twice`);
    seen.add(tool.name);
    if (!isToolName(tool.name)) {
      problems.push(`tools.${i}.name: unknown tool "${tool.name}"`);
    } else if (tool.version !== toolCatalog[tool.name].version) {
      problems.push(`tools.${i}.version: this build has ${tool.name} v${toolCatalog[tool.name].version}, not v${tool.version}`);
    }
    if (isToolName(tool.name) && typeof tool.approval === 'object' && !isNumericArgument(tool.name, tool.approval.above.field)) {
      problems.push(`tools.${i}.approval.above.field: ${tool.name} has no numeric argument "${tool.approval.above.field}"`);
    }
  });
  for (const variable of promptVariables(content.systemPrompt)) {
    if (content.variables[variable] === undefined) problems.push(`variables.${variable}: the prompt uses {{${variable}}} but gives it no value`);
  }
  problems.push(...guardrailProblems(content));
  problems.push(...routingProblems(content.model));
  return problems;
}

/** Every model a run of the bundle may call, with the field that names it. */
export function bundleModels(content: Pick<BundleContent, 'model' | 'context'>): { field: string; model: string }[] {
  const { model, context } = content;
  const named = [
    { field: 'model.id', model: model.id },
    ...(model.routing ? [{ field: 'model.routing.strong', model: model.routing.strong }, { field: 'model.routing.cheap', model: model.routing.cheap }] : []),
    ...(context ? [{ field: 'context.summaryModel', model: resolveContextSettings(context, model).summaryModel }] : []),
  ];
  return named.filter((m, i) => named.findIndex((other) => other.model === m.model) === i);
}

const ZERO_PRICE: ModelPrice = { input: 0, output: 0 };

/** What a call of the bundle to `model` is charged: the bundle's own price, else the table's; undefined with neither. */
export function modelPriceOf(content: Pick<BundleContent, 'model'>, model: string, table: ModelPrices): ModelPrice | undefined {
  const own = content.model.prices?.[model];
  if (own) return 'zero' in own ? ZERO_PRICE : own;
  return Object.hasOwn(table, model) ? table[model] : undefined;
}

/**
 * A bundle is published only when every model it may call has a price (its own or the table's), so
 * budgets and cost caps always see what a call costs; and it prices no model it does not use.
 */
export function pricingProblems(content: BundleContent, table: ModelPrices): string[] {
  const models = bundleModels(content);
  const unpriced = models
    .filter(({ model }) => !modelPriceOf(content, model, table))
    .map(({ field, model }) =>
      `${field}: model "${model}" has no price in this Bosun's price table (BOSUN_MODEL_PRICES); give one in model.prices["${model}"] ` +
      '({ input, output } in USD per million tokens, or { zero: true, reason })');
  const unused = Object.keys(content.model.prices ?? {})
    .filter((model) => !models.some((m) => m.model === model))
    .map((model) => `model.prices["${model}"]: the bundle never calls model "${model}"`);
  return [...unpriced, ...unused];
}

function isNumericArgument(tool: ToolName, field: string): boolean {
  const schema = z.toJSONSchema(toolCatalog[tool].args) as { properties?: Record<string, { type?: unknown }> };
  const type = schema.properties?.[field]?.type;
  return type === 'number' || type === 'integer';
}

const placeholder = /\{\{\s*(\w+)\s*\}\}/g;

function promptVariables(prompt: string): Set<string> {
  return new Set([...prompt.matchAll(placeholder)].map((m) => m[1]!));
}

/** The system prompt the model sees, variables filled in. */
export function renderSystemPrompt(bundle: BundleContent): string {
  return bundle.systemPrompt.replace(placeholder, (_, name: string) => bundle.variables[name] ?? '');
}

export function runPolicyOf(bundle: BundleContent, approvalTimeoutMs: number): RunPolicy {
  return {
    maxSteps: bundle.limits.maxSteps,
    maxToolCalls: bundle.limits.maxToolCalls,
    maxTotalTokens: bundle.limits.maxTotalTokens,
    maxCostUsd: bundle.limits.maxCostUsd,
    approvalTimeoutMs,
    tools: bundle.tools.map((tool) => {
      const kind = toolCatalog[tool.name as ToolName].kind;
      // Reads never wait for a human; anything that changes the world does unless the bundle says otherwise.
      // A threshold narrows the gate per call (see approvalRequirement); reads are never gated.
      const requiresApproval = kind !== 'read' && tool.approval !== 'never';
      return { name: tool.name, kind, requiresApproval, ...(tool.approval !== undefined && { approval: tool.approval }) };
    }),
  };
}
