/**
 * The catalog of tools an agent bundle may grant: names, what they do, how risky they are, and the
 * schema their arguments must satisfy. Pure, so the workflow validates the model's arguments
 * before any activity runs; the implementations live in src/activities/tools.
 */
import { z } from 'zod';
import type { RedactionRules } from './redaction';

/** How much a tool can change: only `write` and `destructive` tools are ever gated by approval. */
export type ToolKind = 'read' | 'write' | 'destructive';

/**
 * What a tool may touch. `tenant:<table>`: the run's tenant's rows of that table, and only those
 * (PostgreSQL row-level security, migration 006, enforces it); `network:allow-list`: the hosts the
 * bundle's `network.allowHosts` names.
 */
export type DataScope = `tenant:${string}` | 'network:allow-list';

export interface ToolDefinition<Args extends z.ZodType = z.ZodType> {
  /** Bumped whenever `args` changes; bundles pin the version they were written against. */
  version: number;
  description: string;
  kind: ToolKind;
  args: Args;
  /**
   * Names of the secrets the implementation receives (in `ctx.secrets`, resolved in its activity
   * just before it runs); a bundle granting the tool must list each in its `secrets`.
   */
  secrets: readonly string[];
  scope: readonly DataScope[];
  /** What the audit log, step rows and run events keep of its arguments and result; the model sees the result whole. */
  redact: { arguments?: RedactionRules; result?: RedactionRules };
}

const orderId = z.string().regex(/^\d{1,12}$/, 'an order number such as "1001"');

export const toolCatalog = {
  lookup_order: {
    version: 1,
    description: 'Look up an order by its number: item, amount, status and any refund already issued.',
    kind: 'read',
    args: z.object({ order_id: orderId }).strict(),
    secrets: [],
    scope: ['tenant:orders', 'tenant:refunds'],
    // The customer's name is personal data: the model needs it, the audit trail does not.
    redact: { result: { paths: ['customer'] } },
  },
  issue_refund: {
    version: 1,
    description: 'Refund an order, in full or in part. Needs human approval before it runs.',
    kind: 'write',
    args: z
      .object({
        order_id: orderId,
        amount_cents: z.number().int().positive().max(10_000_000),
        reason: z.string().max(500).optional(),
      })
      .strict(),
    secrets: [],
    scope: ['tenant:orders', 'tenant:refunds'],
    redact: {},
  },
  http_fetch: {
    version: 1,
    description:
      'Fetch a URL with HTTP GET and return its status and text. Only hosts this agent is allowed to reach answer; ' +
      'responses are cut at 256 KB.',
    kind: 'read',
    args: z
      .object({
        // Fully parsed in the activity (the workflow sandbox has no URL parser to rely on).
        url: z.string().max(2048).regex(/^https?:\/\/\S+$/i, 'an http:// or https:// URL'),
        method: z.literal('GET').optional(),
      })
      .strict(),
    // Plus the one the bundle may name in network.auth.secret (see toolSecretNames in guardrails.ts).
    secrets: [],
    scope: ['network:allow-list'],
    // A third party's page may hold anything; the audit keeps where it went and what came back, not the body.
    redact: { result: { paths: ['body'] } },
  },
} satisfies Record<string, ToolDefinition>;

export type ToolName = keyof typeof toolCatalog;
export type ToolArgs<N extends ToolName> = z.infer<(typeof toolCatalog)[N]['args']>;

/** A tool's catalog entry, typed as the general definition (its guardrail metadata included). */
export function toolDefinition(name: ToolName): ToolDefinition {
  return toolCatalog[name];
}

export function isToolName(name: string): name is ToolName {
  return Object.hasOwn(toolCatalog, name);
}

export type ParsedToolArgs = { ok: true; args: unknown } | { ok: false; problems: string[] };

/** Whether `raw` parses as JSON: a model's tool-call arguments arrive as text, which may be cut off or malformed. */
export function isJsonText(raw: string): boolean {
  try {
    JSON.parse(raw);
    return true;
  } catch {
    return false;
  }
}

/** Parses and validates a model's raw argument text against the tool's schema. */
export function parseToolArguments(name: ToolName, raw: string): ParsedToolArgs {
  let json: unknown;
  try {
    json = JSON.parse(raw === '' ? '{}' : raw);
  } catch {
    return { ok: false, problems: ['arguments are not valid JSON'] };
  }
  const parsed = toolCatalog[name].args.safeParse(json);
  if (parsed.success) return { ok: true, args: parsed.data };
  return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) };
}
