/**
 * Opening one MCP client session: over streamable HTTP through the egress guard, or by starting a
 * stdio server the operator allows. Secrets fill the declaration's headers or environment here and
 * go nowhere else.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { McpServerDeclaration } from '../../../shared/mcp';
import type { HttpFetchOptions } from '../httpFetch';
import { guardedMcpFetch } from './guardedFetch';
import { McpServerProblem } from './listing';

/** What the worker knows when it reaches an MCP server for a run (or a publication). */
export interface McpContext {
  /** Secret name → value, for the declaration's headers and env. Never logged or returned. */
  secrets: Readonly<Record<string, string>>;
  /** The bundle's network policy (`allowHosts: []` when it has none): HTTP servers must pass it. */
  network: { allowHosts: readonly string[]; allowPrivate?: boolean };
  /** The operator's allow-list of stdio commands, compared exactly with `command`. */
  stdioCommands: readonly string[];
  signal?: AbortSignal;
  /** DNS and dialling, injected by tests as for http_fetch. */
  fetchOptions?: Pick<HttpFetchOptions, 'resolve' | 'dial'>;
}

export interface ConnectionLimits {
  /** For the `initialize` handshake, in milliseconds. */
  connectTimeoutMs: number;
  /** Per HTTP response body, or per stdio message. */
  maxResponseBytes: number;
}

export interface McpConnection {
  client: Client;
  /** True once the session is over (the stdio server exited, or close() was called). */
  readonly closed: boolean;
  close(): Promise<void>;
}

/** The last bytes of a stdio server's stderr kept for an error message. */
const STDERR_TAIL_BYTES = 2048;

/** Header name → the value sent (`<scheme> <secret>`, or the bare secret). */
export function resolvedHeaders(decl: McpServerDeclaration, secrets: McpContext['secrets']): Record<string, string> {
  return Object.fromEntries(
    Object.entries(decl.headers ?? {}).map(([name, { secret, scheme }]) => {
      const value = secretValue(decl, secrets, secret);
      return [name, scheme ? `${scheme} ${value}` : value];
    }),
  );
}

/** Variable name → secret value, for the stdio server's environment. */
export function resolvedEnv(decl: McpServerDeclaration, secrets: McpContext['secrets']): Record<string, string> {
  return Object.fromEntries(Object.entries(decl.env ?? {}).map(([name, { secret }]) => [name, secretValue(decl, secrets, secret)]));
}

function secretValue(decl: McpServerDeclaration, secrets: McpContext['secrets'], name: string): string {
  const value = secrets[name];
  if (value === undefined) throw new Error(`secret ${name} was not resolved for the MCP server "${decl.name}"`);
  return value;
}

/**
 * A connected, initialised client. Rejects with McpServerProblem when the server is refused (host
 * not allowed, stdio command not allowed) or does not complete the handshake in time; the abort
 * reason when `ctx.signal` fires.
 */
export async function openMcpConnection(decl: McpServerDeclaration, ctx: McpContext, limits: ConnectionLimits): Promise<McpConnection> {
  const stderrTail: string[] = [];
  const transport = decl.url !== undefined ? httpTransport(decl, decl.url, ctx, limits) : stdioTransport(decl, ctx, limits, stderrTail);
  const client = new Client({ name: 'bosun', version: '1' });
  let closed = false;
  client.onclose = () => {
    closed = true;
  };
  try {
    await client.connect(transport, { timeout: limits.connectTimeoutMs, signal: ctx.signal });
  } catch (err) {
    await client.close().catch(() => undefined);
    if (ctx.signal?.aborted) throw ctx.signal.reason;
    const tail = stderrTail.join('').slice(-STDERR_TAIL_BYTES).trim();
    throw new McpServerProblem(`could not open a session with the MCP server "${decl.name}": ${describeError(err)}${tail ? ` (its stderr: ${tail})` : ''}`);
  }
  return {
    client,
    get closed() {
      return closed;
    },
    close: () => client.close(),
  };
}

function httpTransport(decl: McpServerDeclaration, url: string, ctx: McpContext, limits: ConnectionLimits): Transport {
  const serverUrl = new URL(url);
  const fetch = guardedMcpFetch({
    serverUrl,
    policy: ctx.network,
    secretHeaders: resolvedHeaders(decl, ctx.secrets),
    maxResponseBytes: limits.maxResponseBytes,
    options: ctx.fetchOptions,
  });
  return new StreamableHTTPClientTransport(serverUrl, { fetch });
}

function stdioTransport(decl: McpServerDeclaration, ctx: McpContext, limits: ConnectionLimits, stderrTail: string[]): Transport {
  const command = decl.command!;
  if (!ctx.stdioCommands.includes(command)) {
    throw new McpServerProblem(`refused: the stdio command "${command}" of the MCP server "${decl.name}" is not on this worker's allow-list of MCP commands`);
  }
  const transport = new StdioClientTransport({
    command,
    args: decl.args,
    env: resolvedEnv(decl, ctx.secrets),
    stderr: 'pipe',
    maxBufferSize: limits.maxResponseBytes,
  });
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderrTail.push(chunk.toString('utf8'));
    if (stderrTail.length > 8) stderrTail.splice(0, stderrTail.length - 8);
  });
  return transport;
}

/** One line about a failure, without a stack. Callers mask secrets in it. */
export function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { code?: unknown };
  if (e?.name === 'FetchRefused') return `refused: ${e.message}`;
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) return `${e.code}${e.syscall ? ` (${e.syscall})` : ''}`;
  const text = e instanceof Error ? e.message : String(err);
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
