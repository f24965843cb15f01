/**
 * Tools of MCP servers a bundle grants: listing and pinning them (at publication), and calling them
 * from the worker through a pool of sessions. See src/shared/mcp.ts for the declaration.
 */
import { mcpToolName, type McpServerDeclaration } from '../../../shared/mcp';
import { maskValues } from '../../../shared/redaction';
import { describeError, openMcpConnection, type McpContext } from './connection';
import { listServerTools, McpServerProblem, pinOf, type McpToolPin } from './listing';
import type { McpPool } from './pool';
import type { DeclaredToolExecutor } from '../declared';

export type { McpContext } from './connection';
export { McpServerProblem, kindOf, type McpToolAnnotations, type McpToolPin } from './listing';
export { createMcpPool, type McpPool, type McpPoolOptions } from './pool';
export type { McpCallOutcome } from './output';

export interface ListLimits {
  /** Handshake and listing each, in milliseconds (default 10 s). */
  timeoutMs?: number;
  /** Per HTTP response body or stdio message (default 4 MB). */
  maxResponseBytes?: number;
}

/**
 * The pins of the tools `decl` grants, in the order it grants them, from one fresh session with the
 * server. Rejects with McpServerProblem (message with secrets masked) when the server is refused or
 * unreachable, lists its tools badly, lacks granted tools (all named), or lists a granted tool that
 * cannot be offered (schema not an object, over 64 KB, too deep, U+0000; every such tool named);
 * with the abort reason when `ctx.signal` fires.
 */
export async function listMcpTools(decl: McpServerDeclaration, ctx: McpContext, limits: ListLimits = {}): Promise<McpToolPin[]> {
  const timeout = limits.timeoutMs ?? 10_000;
  try {
    const connection = await openMcpConnection(decl, ctx, { connectTimeoutMs: timeout, maxResponseBytes: limits.maxResponseBytes ?? 4 * 1024 * 1024 });
    try {
      return pinsOf(decl, await listServerTools(connection.client, decl.name, { timeout, signal: ctx.signal }));
    } finally {
      await connection.close();
    }
  } catch (err) {
    if (ctx.signal?.aborted) throw ctx.signal.reason;
    const message = err instanceof McpServerProblem ? err.message : `listing the tools of the MCP server "${decl.name}" failed: ${describeError(err)}`;
    throw new McpServerProblem(maskValues(message, ctx.secrets) as string);
  }
}

function pinsOf(decl: McpServerDeclaration, listed: Map<string, unknown>): McpToolPin[] {
  const missing = decl.tools.filter((t) => !listed.has(t.name)).map((t) => `"${t.name}"`);
  if (missing.length > 0) throw new McpServerProblem(`the MCP server "${decl.name}" does not list the granted tool${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  const problems: string[] = [];
  const pins = decl.tools.flatMap((t) => {
    try {
      return [pinOf(decl.name, t.name, mcpToolName(decl.name, t.name), listed.get(t.name))];
    } catch (err) {
      problems.push((err as Error).message);
      return [];
    }
  });
  if (problems.length > 0) throw new McpServerProblem(problems.join('; '));
  return pins;
}

/**
 * Runs the bundle's MCP tools for src/activities/toolCalls.ts through `pool`: the server the pin
 * names, from the run's bundle, checked against the pinned schema hash before the call. A sandbox
 * run's write or destructive call is refused, never sent.
 */
export function mcpToolExecutor(pool: McpPool, stdioCommands: readonly string[]): DeclaredToolExecutor {
  return async (pin, args, ctx, bundle) => {
    if (pin.source.type !== 'mcp') throw new Error(`${pin.name} is not an MCP tool`);
    const { server: serverName, tool } = pin.source;
    const server = bundle.mcp?.find((s) => s.name === serverName);
    if (!server) throw new Error(`bundle ${bundle.id} declares no MCP server ${serverName}`);
    if (ctx.sandbox && pin.kind !== 'read') {
      return { ok: false, output: { error: `${pin.name} was not called: this is a sandbox run, and it is a ${pin.kind} MCP tool with no sandbox` } };
    }
    const network = { allowHosts: bundle.network?.allowHosts ?? [], allowPrivate: bundle.network?.allowPrivate };
    return pool.callTool(server, { tool, schemaHash: pin.schemaHash }, args as Record<string, unknown>, {
      secrets: ctx.secrets, network, stdioCommands, signal: ctx.signal,
    });
  };
}
