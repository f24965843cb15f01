/**
 * The catalog of tools an agent bundle may grant: names, what they do, how risky they are, and the
 * schema their arguments must satisfy. Pure, so the workflow validates the model's arguments
 * before any activity runs; the implementations live in src/activities/tools.
 */
import { z } from 'zod';
import type { ToolKind } from './domain';

export interface ToolDefinition<Args extends z.ZodType = z.ZodType> {
  /** Bumped whenever `args` changes; bundles pin the version they were written against. */
  version: number;
  description: string;
  kind: ToolKind;
  args: Args;
}

const orderId = z.string().regex(/^\d{1,12}$/, 'an order number such as "1001"');

export const toolCatalog = {
  lookup_order: {
    version: 1,
    description: 'Look up an order by its number: item, amount, status and any refund already issued.',
    kind: 'read',
    args: z.object({ order_id: orderId }).strict(),
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
  },
} satisfies Record<string, ToolDefinition>;

export type ToolName = keyof typeof toolCatalog;
export type ToolArgs<N extends ToolName> = z.infer<(typeof toolCatalog)[N]['args']>;

export function isToolName(name: string): name is ToolName {
  return Object.hasOwn(toolCatalog, name);
}

export type ParsedToolArgs = { ok: true; args: unknown } | { ok: false; problems: string[] };

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
