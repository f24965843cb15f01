/**
 * MCP tool calls from a worker: sessions pooled per server identity and credentials, opened on
 * demand, closed when idle, reopened when the server went away. Each (re)opened session lists the
 * tools once and a call whose tool no longer matches its pin is refused without calling it.
 */
import { createHash } from 'node:crypto';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { canonicalJson } from '../../../bundles/bundleId';
import { DEFAULT_MCP_TIMEOUT_MS, mcpToolName, type McpServerDeclaration } from '../../../shared/mcp';
import { maskValues } from '../../../shared/redaction';
import { describeError, openMcpConnection, resolvedEnv, resolvedHeaders, type ConnectionLimits, type McpConnection, type McpContext } from './connection';
import { listServerTools, pinOf, type McpToolPin } from './listing';
import { MAX_OUTPUT_CHARS, outcomeOf, type McpCallOutcome } from './output';

export interface McpPoolOptions {
  /** A session unused this long is closed, in milliseconds (default 60 s). */
  idleMs?: number;
  /** For the handshake (default 10 s). */
  connectTimeoutMs?: number;
  /** For the tool listing a new session makes before its first call (default 10 s). */
  listTimeoutMs?: number;
  /** Per HTTP response body or stdio message (default 4 MB). */
  maxResponseBytes?: number;
  /** Of a result kept for the model (default MAX_OUTPUT_CHARS). */
  maxOutputChars?: number;
}

export interface McpPool {
  /**
   * Calls `pin.tool` on the server with `args`. Resolves `{ ok: false, output: { error } }` for every
   * failure the model should hear of (server unreachable or refused, tool changed since the pin, tool
   * error, timeout); rejects only with the abort reason once `ctx.signal` fires.
   */
  callTool(decl: McpServerDeclaration, pin: Pick<McpToolPin, 'tool' | 'schemaHash'>, args: Record<string, unknown>, ctx: McpContext & { signal: AbortSignal }): Promise<McpCallOutcome>;
  /** Closes every session; calls after this fail. */
  close(): Promise<void>;
}

interface Session {
  ready: Promise<McpConnection>;
  /** The server's tools as this session first listed them; every call on it is checked against this. */
  listing?: Promise<Map<string, unknown>>;
  inFlight: number;
  idleTimer?: NodeJS.Timeout;
  /** Taken out of the pool (broken, idle or pool closed): closed once its last call is done. */
  retired: boolean;
}

export function createMcpPool(options: McpPoolOptions = {}): McpPool {
  const idleMs = options.idleMs ?? 60_000;
  const limits: ConnectionLimits = { connectTimeoutMs: options.connectTimeoutMs ?? 10_000, maxResponseBytes: options.maxResponseBytes ?? 4 * 1024 * 1024 };
  const listTimeoutMs = options.listTimeoutMs ?? 10_000;
  const maxOutputChars = options.maxOutputChars ?? MAX_OUTPUT_CHARS;
  const sessions = new Map<string, Session>();
  let closed = false;

  const retire = (key: string, session: Session) => {
    session.retired = true;
    clearTimeout(session.idleTimer);
    if (sessions.get(key) === session) sessions.delete(key);
    if (session.inFlight === 0) session.ready.then((c) => c.close()).catch(() => undefined);
  };

  const release = (key: string, session: Session) => {
    session.inFlight -= 1;
    if (session.inFlight > 0) return;
    if (session.retired) return retire(key, session);
    session.idleTimer = setTimeout(() => retire(key, session), idleMs);
    session.idleTimer.unref();
  };

  /** A live session for `key` with this call counted in; opens one when there is none or it has ended. */
  const acquire = async (key: string, decl: McpServerDeclaration, ctx: McpContext): Promise<{ session: Session; connection: McpConnection }> => {
    for (let attempt = 0; ; attempt += 1) {
      let session = sessions.get(key);
      if (!session) {
        // Shared by every call that comes while it opens: one caller's cancellation must not fail the others.
        const opened: Session = { ready: openMcpConnection(decl, { ...ctx, signal: undefined }, limits), inFlight: 0, retired: false };
        opened.ready.catch(() => retire(key, opened));
        sessions.set(key, opened);
        session = opened;
      }
      clearTimeout(session.idleTimer);
      session.inFlight += 1;
      let connection: McpConnection;
      try {
        connection = await session.ready;
      } catch (err) {
        session.inFlight -= 1;
        throw err;
      }
      if (!session.retired && !connection.closed) return { session, connection };
      release(key, session);
      retire(key, session);
      if (attempt > 0) throw new Error(`the MCP server "${decl.name}" ended the session as soon as it opened`);
    }
  };

  const callOnce = async (key: string, decl: McpServerDeclaration, pin: Pick<McpToolPin, 'tool' | 'schemaHash'>, args: Record<string, unknown>, ctx: McpContext & { signal: AbortSignal }, mayReopen: boolean): Promise<McpCallOutcome> => {
    const { session, connection } = await acquire(key, decl, ctx);
    try {
      session.listing ??= listServerTools(connection.client, decl.name, { timeout: listTimeoutMs });
      const refusal = driftRefusal(decl, pin, await session.listing);
      if (refusal) return refusal;
      const result = await connection.client.request({ method: 'tools/call', params: { name: pin.tool, arguments: args } }, CallToolResultSchema, {
        signal: ctx.signal,
        timeout: decl.timeoutMs ?? DEFAULT_MCP_TIMEOUT_MS,
      });
      return outcomeOf(result, ctx.secrets, maxOutputChars);
    } catch (err) {
      // A cancelled call leaves the session sound (the SDK tells the server); closing it now would cut that notice off.
      if (ctx.signal.aborted) throw err;
      if (!isServerAnswer(err)) retire(key, session);
      // Safe to repeat only when the request never reached a live session.
      if (mayReopen && neverDelivered(err)) return callOnce(key, decl, pin, args, ctx, false);
      throw err;
    } finally {
      release(key, session);
    }
  };

  return {
    async callTool(decl, pin, args, ctx) {
      try {
        if (closed) throw new Error('the MCP connection pool is closed');
        return await callOnce(sessionKey(decl, ctx), decl, pin, args, ctx, true);
      } catch (err) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        return { ok: false, output: { error: maskValues(describeCallFailure(err, decl), ctx.secrets) } };
      }
    },
    async close() {
      closed = true;
      const all = [...sessions.entries()];
      await Promise.all(all.map(async ([key, session]) => {
        retire(key, session);
        await session.ready.then((c) => c.close()).catch(() => undefined);
      }));
    },
  };
}

/**
 * The pool key: the server's identity (URL, or command and arguments), the network policy it is
 * reached under, and a hash of the credential values, so two tenants' secrets never share a session.
 */
function sessionKey(decl: McpServerDeclaration, ctx: McpContext): string {
  const identity = decl.url !== undefined ? { url: decl.url } : { command: decl.command, args: decl.args ?? [] };
  const credentials = createHash('sha256')
    .update(canonicalJson({ headers: resolvedHeaders(decl, ctx.secrets), env: resolvedEnv(decl, ctx.secrets) }))
    .digest('hex');
  return canonicalJson({ ...identity, network: { allowHosts: ctx.network.allowHosts, allowPrivate: ctx.network.allowPrivate ?? false }, credentials });
}

/** The refusal when the server's tool is gone or differs from the pin; undefined when it matches. */
function driftRefusal(decl: McpServerDeclaration, pin: Pick<McpToolPin, 'tool' | 'schemaHash'>, listing: Map<string, unknown>): McpCallOutcome | undefined {
  const refuse = (why: string) => ({ ok: false, output: { error: `the MCP server "${decl.name}" ${why}; it was not called` } });
  const listed = listing.get(pin.tool);
  if (listed === undefined) return refuse(`no longer lists tool "${pin.tool}", which the bundle pinned`);
  let now: string;
  try {
    now = pinOf(decl.name, pin.tool, mcpToolName(decl.name, pin.tool), listed).schemaHash;
  } catch (err) {
    return refuse(`changed tool "${pin.tool}" since the bundle was published (pinned ${pin.schemaHash}, now unusable: ${(err as Error).message})`);
  }
  if (now !== pin.schemaHash) return refuse(`changed tool "${pin.tool}" since the bundle was published (pinned ${pin.schemaHash}, now ${now})`);
  return undefined;
}

/** A JSON-RPC error the server sent: the session is fine. */
function isServerAnswer(err: unknown): boolean {
  return err instanceof McpError && err.code !== ErrorCode.ConnectionClosed && err.code !== ErrorCode.RequestTimeout;
}

/** The request cannot have reached a live session: the session was gone (404), the server refused the connection, or the transport had closed. */
function neverDelivered(err: unknown): boolean {
  if (err instanceof StreamableHTTPError) return err.code === 404;
  const e = err as NodeJS.ErrnoException;
  return e?.code === 'ECONNREFUSED' || e?.message === 'Not connected';
}

function describeCallFailure(err: unknown, decl: McpServerDeclaration): string {
  if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
    return `no answer from the MCP server "${decl.name}" within ${(decl.timeoutMs ?? DEFAULT_MCP_TIMEOUT_MS) / 1000} s; the call may or may not have taken effect`;
  }
  if (isServerAnswer(err)) return `the MCP server "${decl.name}" answered with an error: ${describeError(err)}`;
  const text = describeError(err);
  return text.includes(`"${decl.name}"`) ? text : `the call to the MCP server "${decl.name}" failed: ${text}`;
}
