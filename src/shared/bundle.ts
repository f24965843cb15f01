/**
 * An agent bundle: prompt + tools + model + limits, released together under one content-addressed
 * ID. This schema is the single source of what `POST /v1/bundles` accepts.
 */
import { z } from 'zod';
import type { RunPolicy } from './domain';
import { toolCatalog, isToolName, type ToolName } from './tools';
import { guardrailProblems, networkPolicySchema } from './guardrails';
import { modelRoutingSchema, routingProblems } from './modelRouting';
import { contextSettingsSchema } from './contextWindow';

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
