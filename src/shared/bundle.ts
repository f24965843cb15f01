/**
 * An agent bundle: prompt + tools + model + limits, released together under one content-addressed
 * ID. This schema is the single source of what `POST /v1/bundles` accepts.
 */
import { z } from 'zod';
import type { RunPolicy } from './domain';
import { guardrailProblems, networkPolicySchema } from './guardrails';
import { httpToolProblems, httpToolSchema } from './httpTools';
import { mcpServerProblems, mcpServerSchema, mcpToolName } from './mcp';
import { schemaProblems } from './toolArguments';
import { legacyToolPins } from './legacyTools';
import { approvalRuleOf, type ToolApprovalRule, type ToolPolicy } from './approvals';
import { toolApprovalSchema } from './approvalRules';
import { toolTaskQueue, type PinnedTool } from './toolSpec';
import { modelRoutingSchema, routingProblems } from './modelRouting';
import { contextSettingsSchema, resolveContextSettings } from './contextWindow';
import { threadSettingsSchema } from './threads';
import { modelPriceSchema, type ModelPrice, type ModelPrices } from './pricing';
import { memoryProblems, memorySettingsSchema } from './memory';

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
        stream: z
          .boolean()
          .optional()
          .describe("Call the model in streaming mode: GET /v1/runs/:runId/events carries message.delta events as tokens arrive (a run's `stream` wins)."),
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
            name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'a tool name: letters, digits, _ and -, at most 64'),
            version: z.number().int().positive().describe('The version of the tool this bundle was written against.'),
            schemaHash: z
              .string()
              .regex(/^[0-9a-f]{16}$/)
              .optional()
              .describe('Pins one registered schema of name@version; needed only when workers registered more than one.'),
            approval: toolApprovalSchema
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
    /** Conversations on threads: the double-texting strategy of this agent's runs (docs/conversations.md). */
    threads: threadSettingsSchema.optional(),
    /** What http_fetch may reach; no host at all when absent. */
    network: networkPolicySchema.optional(),
    /** The long-term memory namespaces memory_search and memory_save may use (src/shared/memory.ts). */
    memory: memorySettingsSchema.optional(),
    httpTools: z
      .array(httpToolSchema)
      .max(50)
      .optional()
      .describe('Tools that call an HTTP endpoint, declared here without code; reached only through network.allowHosts.'),
    mcp: z
      .array(mcpServerSchema)
      .max(20)
      .optional()
      .describe("MCP servers whose listed tools the agent may call, as `<server>__<tool>`; their schemas are pinned at publish."),
    /** Names of secrets the bundle's tools may use; values never appear in a bundle. */
    secrets: z.array(z.string().regex(/^[A-Z][A-Z0-9_]{0,99}$/, 'an upper-case secret name')).default([]),
  })
  .strict();

export type BundleContent = z.infer<typeof bundleContentSchema>;

/** What publishing adds to the authored content: each granted tool as pinned then (src/bundles/toolPins.ts). */
export interface PinnedContent extends BundleContent {
  /** In the order of `tools`. Absent in bundles published before tools were pinned (see pinsOf). */
  pinnedTools?: PinnedTool[];
}

/** A published bundle: its content and pins, with the ID they hash to. */
export interface Bundle extends PinnedContent {
  id: string;
}

/**
 * The pinned tools of a bundle. A bundle from before pinning has none stored: its tools are the
 * three Bosun then compiled in (src/shared/legacyTools.ts), which is all it could name.
 */
export function pinsOf(bundle: PinnedContent): PinnedTool[] {
  return bundle.pinnedTools ?? bundle.tools.flatMap((t) => (Object.hasOwn(legacyToolPins, t.name) ? [legacyToolPins[t.name]!] : []));
}

/** One tool a bundle grants: its pin, and the bundle's approval rule for it. */
export interface ToolGrant {
  pin: PinnedTool;
  approval?: ToolApprovalRule;
  /** Where the bundle grants it, for problems: `tools.0`. */
  field: string;
}

/** Every tool the bundle grants by the name the model calls it, with the bundle's approval rule and where it is granted. */
function grantedNames(content: BundleContent): { name: string; approval?: ToolApprovalRule; field: string }[] {
  return [
    ...content.tools.map((t, i) => ({ name: t.name, approval: t.approval, field: `tools.${i}` })),
    ...(content.httpTools ?? []).map((t, i) => ({ name: t.name, approval: t.approval, field: `httpTools.${i}` })),
    ...(content.mcp ?? []).flatMap((server, i) =>
      server.tools.map((t, j) => ({ name: mcpToolName(server.name, t.name), approval: t.approval, field: `mcp.${i}.tools.${j}` }))),
  ];
}

/** Every tool the bundle grants, in the bundle's order (worker tools, HTTP tools, MCP tools), each with its pin. */
export function grantsOf(bundle: PinnedContent): ToolGrant[] {
  const pins = new Map(pinsOf(bundle).map((p) => [p.name, p]));
  return grantedNames(bundle).flatMap(({ name, approval, field }) => {
    const pin = pins.get(name);
    return pin ? [{ pin, ...(approval !== undefined && { approval }), field }] : [];
  });
}

/** Checks what the schema cannot: a tool listed twice, and a value for every prompt variable. */
export function bundleProblems(content: BundleContent): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const { name, field } of grantedNames(content)) {
    if (seen.has(name)) problems.push(`${field}.name: "${name}" is granted twice (tool names must be unique in a bundle)`);
    seen.add(name);
  }
  const reach = { secrets: content.secrets, allowHosts: content.network?.allowHosts ?? [] };
  (content.httpTools ?? []).forEach((tool, i) => {
    problems.push(...httpToolProblems(tool, reach).map((p) => `httpTools.${i}.${p}`));
  });
  (content.mcp ?? []).forEach((server, i) => {
    problems.push(...mcpServerProblems(server, reach).map((p) => `mcp.${i}.${p}`));
  });
  for (const variable of promptVariables(content.systemPrompt)) {
    if (content.variables[variable] === undefined) problems.push(`variables.${variable}: the prompt uses {{${variable}}} but gives it no value`);
  }
  problems.push(...guardrailProblems(content));
  problems.push(...routingProblems(content.model));
  if (content.memory) problems.push(...memoryProblems(content.memory));
  return problems;
}

/**
 * What the bundle asks of its granted tools that they cannot give: a secret a tool needs that the
 * bundle does not list, a network tool without network.allowHosts, a memory tool without
 * memory.namespaces, an approval threshold on an
 * argument that is not a number.
 */
export function grantProblems(content: BundleContent, grants: readonly ToolGrant[]): string[] {
  const problems: string[] = [];
  const listed = new Set(content.secrets);
  for (const { pin, approval, field } of grants) {
    for (const secret of pin.secrets) {
      if (!listed.has(secret)) problems.push(`${field}: ${pin.name} needs the secret ${secret}; list it in secrets`);
    }
    if (pin.scope.includes('network:allow-list') && !content.network) {
      problems.push(`${field}: ${pin.name} needs network.allowHosts, the hosts it may reach`);
    }
    if (pin.scope.includes('memory:namespaces') && !content.memory) {
      problems.push(`${field}: ${pin.name} needs memory.namespaces, the memory namespaces it may use`);
    }
    for (const problem of schemaProblems(pin.parameters)) problems.push(`${field}: ${pin.name}'s argument schema: ${problem}`);
    if (typeof approval === 'object' && !isNumericArgument(pin, approval.above.field)) {
      problems.push(`${field}.approval.above.field: ${pin.name} has no numeric argument "${approval.above.field}"`);
    }
  }
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

function isNumericArgument(pin: PinnedTool, field: string): boolean {
  const properties = pin.parameters.properties as Record<string, { type?: unknown }> | undefined;
  const type = properties?.[field]?.type;
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

/**
 * The run's policy from its bundle: caps, and for each granted tool what the workflow needs before
 * any activity runs (its kind and approval rule, the JSON Schema its arguments must satisfy) and
 * where to call it (`mainQueue`'s queue for the tool, src/shared/toolSpec.ts). A bundle from before
 * pinning gives its tools neither schema nor queue: its runs check and call them as they always did.
 */
export function runPolicyOf(bundle: PinnedContent, approvalTimeoutMs: number, mainQueue: string): RunPolicy {
  return {
    maxSteps: bundle.limits.maxSteps,
    maxToolCalls: bundle.limits.maxToolCalls,
    maxTotalTokens: bundle.limits.maxTotalTokens,
    maxCostUsd: bundle.limits.maxCostUsd,
    approvalTimeoutMs,
    model: { id: bundle.model.id, ...(bundle.model.routing && { routing: bundle.model.routing }) },
    tools: grantsOf(bundle).map(({ pin, approval }): ToolPolicy => {
      const policy: ToolPolicy = { name: pin.name, kind: pin.kind, ...approvalRuleOf(pin, approval) };
      if (!bundle.pinnedTools) return policy;
      return {
        ...policy,
        parameters: pin.parameters,
        ...(pin.source.type === 'worker' && { taskQueue: toolTaskQueue(mainQueue, pin) }),
        ...(pin.timeoutMs !== undefined && { timeoutMs: pin.timeoutMs }),
        ...(pin.retry && { retry: pin.retry }),
        ...(pin.redact?.arguments && { redactArguments: pin.redact.arguments }),
      };
    }),
  };
}
