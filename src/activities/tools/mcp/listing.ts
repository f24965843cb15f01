/**
 * What an MCP server says its tools are, read as untrusted input: one `tools/list` walk (pages
 * bounded), and the pin of each granted tool (its schema, annotations, kind and schema hash), or a
 * clear reason the tool cannot be offered to a model.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { z } from 'zod';
import { canonicalJson, schemaHashOf } from '../../../bundles/bundleId';
import { storableText } from '../../../shared/storable';
import type { ToolKind } from '../../../shared/toolSpec';

/** A granted MCP tool as the bundle pins it. */
export interface McpToolPin {
  server: string;
  /** The tool's name on the server. */
  tool: string;
  /** What the model calls it: `<server>__<tool>` (mcpToolName). */
  name: string;
  description: string;
  /** A JSON Schema with `type: "object"`. */
  inputSchema: Record<string, unknown>;
  annotations?: McpToolAnnotations;
  kind: ToolKind;
  /** schemaHashOf({ inputSchema, annotations, description }). */
  schemaHash: string;
}

export interface McpToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/** The most a granted tool's input schema may weigh, as canonical JSON. */
export const MAX_INPUT_SCHEMA_BYTES = 64 * 1024;
export const MAX_DESCRIPTION_CHARS = 16_384;
/** Deeper schemas are refused before anything recursive walks them. */
export const MAX_SCHEMA_DEPTH = 64;
/** `tools/list` pages followed before giving up on a server. */
export const MAX_LIST_PAGES = 20;

/** A server whose tools cannot be pinned or called as granted. The message is meant for people (and the model). */
export class McpServerProblem extends Error {
  override name = 'McpServerProblem';
}

const listPageSchema = z.object({
  tools: z.array(z.unknown()).max(10_000),
  nextCursor: z.string().max(10_000).optional(),
});

const listedToolSchema = z.object({
  name: z.string(),
  description: z.string().max(MAX_DESCRIPTION_CHARS, `a description of at most ${MAX_DESCRIPTION_CHARS} characters`).optional(),
  inputSchema: z.looseObject({ type: z.literal('object', 'a JSON Schema of type "object"') }),
  annotations: z
    .object({
      title: z.string().max(200).optional(),
      readOnlyHint: z.boolean().optional(),
      destructiveHint: z.boolean().optional(),
      idempotentHint: z.boolean().optional(),
      openWorldHint: z.boolean().optional(),
    })
    .optional(),
});

/** Every tool the server lists, by name, unparsed. Rejects with McpServerProblem for a malformed listing. */
export async function listServerTools(client: Client, server: string, options: { timeout: number; signal?: AbortSignal }): Promise<Map<string, unknown>> {
  const tools = new Map<string, unknown>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page += 1) {
    const answer = await client.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } }, z.unknown(), options);
    const parsed = listPageSchema.safeParse(answer);
    if (!parsed.success) throw new McpServerProblem(`the MCP server "${server}" sent a malformed tool list`);
    for (const tool of parsed.data.tools) {
      const name = (tool as { name?: unknown } | null)?.name;
      if (typeof name === 'string' && !tools.has(name)) tools.set(name, tool);
    }
    cursor = parsed.data.nextCursor;
    if (cursor === undefined) return tools;
  }
  throw new McpServerProblem(`the MCP server "${server}" lists its tools over more than ${MAX_LIST_PAGES} pages`);
}

/**
 * The kind of an MCP tool from its hints, as the MCP spec reads them: read-only is a read; a
 * non-read tool is destructive unless it says `destructiveHint: false` (the spec's default is true).
 */
export function kindOf(annotations: McpToolAnnotations | undefined): ToolKind {
  if (annotations?.readOnlyHint === true) return 'read';
  return annotations?.destructiveHint === false ? 'write' : 'destructive';
}

/** The pin of one listed tool; throws McpServerProblem saying what is wrong with it. */
export function pinOf(server: string, tool: string, modelName: string, listed: unknown): McpToolPin {
  const problem = (why: string) => new McpServerProblem(`the MCP server "${server}" lists tool "${tool}" with ${why}`);
  if (!withinDepth(listed, MAX_SCHEMA_DEPTH + 2)) throw problem(`a definition nested deeper than ${MAX_SCHEMA_DEPTH} levels`);
  const parsed = listedToolSchema.safeParse(listed);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw problem(`an invalid ${issue.path.join('.') || 'definition'}: ${issue.message}`);
  }
  const { inputSchema, annotations } = parsed.data;
  const description = parsed.data.description ?? '';
  const schemaBytes = Buffer.byteLength(canonicalJson(inputSchema));
  if (schemaBytes > MAX_INPUT_SCHEMA_BYTES) throw problem(`an input schema of ${schemaBytes} bytes (at most ${MAX_INPUT_SCHEMA_BYTES})`);
  const pinned = { inputSchema, annotations, description };
  if (hasUnstorableText(pinned)) throw problem('U+0000 or a lone surrogate in its definition, which Bosun cannot store');
  return { server, tool, name: modelName, description, inputSchema, ...(annotations ? { annotations } : {}), kind: kindOf(annotations), schemaHash: schemaHashOf(pinned) };
}

/** True when no path through `value` is deeper than `max` (iterative: a hostile depth cannot overflow the stack). */
function withinDepth(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth >= max) return false;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return true;
}

const unstorable = (text: string) => storableText(text).replaced > 0;

/** True when a string or key anywhere in `value` holds a character PostgreSQL cannot store. */
function hasUnstorableText(value: unknown): boolean {
  if (typeof value === 'string') return unstorable(value);
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([key, child]) => unstorable(key) || hasUnstorableText(child));
}
