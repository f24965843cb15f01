/**
 * What a bundle pins of each tool it grants, wherever the tool comes from: a worker's own code
 * (`defineTool`, src/sdk/tools.ts), an MCP server, or an HTTP endpoint the bundle declares. The pin
 * holds everything the runtime needs without asking the tool again: what the model is shown, the
 * JSON Schema its arguments are checked against (in the workflow, before any activity), how risky
 * it is, and a hash of it all, which the bundle's ID covers. Pure.
 */
import { z } from 'zod';

/** How much a tool can change: only `write` and `destructive` tools are ever gated by approval. */
export const toolKindSchema = z.enum(['read', 'write', 'destructive']);
export type ToolKind = z.infer<typeof toolKindSchema>;

/**
 * What a tool may touch. `tenant:<table>`: the run's tenant's rows of that table, and only those
 * (PostgreSQL row-level security on the table, for the `bosun_tool` role); `network:allow-list`:
 * the hosts the bundle's `network.allowHosts` names; `memory:namespaces`: the long-term memory
 * namespaces the bundle's `memory` names (Bosun's memory_search and memory_save, src/shared/memory.ts).
 */
export type DataScope = `tenant:${string}` | 'network:allow-list' | 'memory:namespaces';
/** The scopes that are not `tenant:<table>`. */
export const namedScopes: readonly string[] = ['network:allow-list', 'memory:namespaces'];
const dataScopePattern = new RegExp(`^(tenant:[a-z_][a-z0-9_]{0,62}|${namedScopes.join('|')})$`);
// The metadata describes the check in JSON Schema terms, for the OpenAPI document.
const dataScopeSchema = z.custom<DataScope>((v) => typeof v === 'string' && dataScopePattern.test(v), {
  message: 'tenant:<table>, network:allow-list or memory:namespaces',
}).meta({ type: 'string', pattern: dataScopePattern.source });

/** A JSON Schema document (draft 2020-12), as zod 4's `z.toJSONSchema` or an MCP server gives it. */
export type JsonSchema = Record<string, unknown>;
const jsonSchemaSchema = z.record(z.string(), z.unknown());

/** Temporal's retry options for a tool's activity, in milliseconds. */
export const toolRetrySchema = z.strictObject({
  maximumAttempts: z.number().int().min(1).optional(),
  initialIntervalMs: z.number().int().positive().optional(),
  backoffCoefficient: z.number().min(1).optional(),
  maximumIntervalMs: z.number().int().positive().optional(),
});
export type ToolRetry = z.infer<typeof toolRetrySchema>;

const redactionRulesSchema = z.strictObject({ paths: z.array(z.string()).readonly().optional(), keys: z.array(z.string()).readonly().optional() });

/**
 * Where a tool runs. `worker`: code (`defineTool`, Bosun's own `http_fetch` included) registered by
 * the workers that have it and called on the tool's own task queue (toolTaskQueue); `mcp` and
 * `http`: called by any Bosun worker from what the bundle declares.
 */
export const toolSourceSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('worker') }),
  z.strictObject({ type: z.literal('mcp'), server: z.string(), tool: z.string() }),
  z.strictObject({ type: z.literal('http') }),
]);
export type ToolSource = z.infer<typeof toolSourceSchema>;

/** One tool as a bundle pins it: everything the runtime needs to show, check, gate and call it. */
export const pinnedToolSchema = z.strictObject({
  name: z.string().describe('The name the model calls it by.'),
  version: z.number().int().positive(),
  description: z.string(),
  kind: toolKindSchema,
  parameters: jsonSchemaSchema.describe("The JSON Schema the model's arguments must satisfy."),
  result: jsonSchemaSchema.optional().describe('The JSON Schema of the result, when the tool declares one.'),
  schemaHash: z.string().describe('Hash of what the model and the validator see: description, kind, parameters, result.'),
  source: toolSourceSchema,
  secrets: z.array(z.string()).describe('Secret names the tool receives when it runs; the bundle lists each in `secrets`.'),
  scope: z.array(dataScopeSchema),
  redact: z.strictObject({ arguments: redactionRulesSchema.optional(), result: redactionRulesSchema.optional() }).optional(),
  approvalByDefault: z.boolean().describe('Calls wait for a human unless the bundle says otherwise.'),
  timeoutMs: z.number().int().positive().optional().describe('Per attempt; 30 s when absent.'),
  retry: toolRetrySchema.optional(),
  sandbox: z.enum(['live', 'implemented', 'none']).describe('In a sandbox run: runs as is, runs its sandbox implementation, or is refused.'),
});
export type PinnedTool = z.infer<typeof pinnedToolSchema>;

/**
 * The task queue a worker tool is called on: only workers that registered exactly this tool,
 * version and schema poll it, so a call never reaches a worker without the tool (or with another
 * schema of it). Temporal task queue names allow up to 1000 characters.
 */
export function toolTaskQueue(mainQueue: string, pin: Pick<PinnedTool, 'name' | 'version' | 'schemaHash'>): string {
  return `${mainQueue}/tool/${pin.name}@${pin.version}#${pin.schemaHash}`;
}

/** The length past which a tool's result is cut for the model (the whole result is stored): 64k characters by default. */
export const DEFAULT_MAX_RESULT_CHARS = 64_000;
