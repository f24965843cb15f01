/**
 * Runs a declarative HTTP tool (src/shared/httpTools.ts): the call's arguments become the request,
 * which goes through http_fetch's guard (allow-list, address classes, DNS pinning, size cap,
 * deadline). Secrets named by the declaration's headers go to the declared host only, and never
 * come back in the output.
 */
import { maskValues } from '../../shared/redaction';
import { expandHttpRequest, HttpToolArgumentError, httpToolSecretNames, type HttpToolDeclaration } from '../../shared/httpTools';
import { portOf } from '../../shared/hostPatterns';
import { describeFetchFailure, FETCH_TIMEOUT_MS, FetchRefused, guardedFetch, type FetchOutput, type HttpFetchOptions } from './httpFetch';
import type { DeclaredToolExecutor } from './declared';
import type { ToolOutcome } from './invoke';

export interface HttpToolContext {
  /** The bundle's network policy; no host at all when undefined. */
  network: { allowHosts: readonly string[]; allowPrivate?: boolean } | undefined;
  /** The resolved values of the secrets the declaration's headers name (httpToolSecretNames), by name. */
  secrets: Readonly<Record<string, string>>;
  /** Unique per tool call and the same on its retries: sent as Idempotency-Key by every tool that is not a read. */
  idempotencyKey: string;
  /** The run's cancellation: when it fires, executeHttpTool rejects instead of returning a result. */
  signal: AbortSignal;
  /** Test hooks (resolver, dialer) and limits; `timeoutMs` here yields to the declaration's. */
  fetchOptions?: HttpFetchOptions;
}

/** What the model gets back from a request that was answered. */
export interface HttpToolOutput {
  status: number;
  contentType: string | null;
  /** Parsed JSON when the content type is JSON and the whole body parses; else the text (null for binary content). */
  body: unknown;
  truncated?: true;
  note?: string;
}

/**
 * Calls the endpoint `decl` declares with `args` (already checked against `decl.args`).
 * Resolves `{ ok: status < 400, output: HttpToolOutput }` for an answered request, and
 * `{ ok: false, output: { error } }` when the arguments cannot make a request, the guard refuses a
 * hop, the deadline (decl.timeoutMs, else 10 s) passes or the network fails; every secret value is
 * masked as `[secret:NAME]` in either. Rejects when `ctx.signal` fires (with its reason), and with an
 * Error when a secret the headers name is missing from `ctx.secrets` (the worker's fault, not the model's).
 */
export async function executeHttpTool(decl: HttpToolDeclaration, args: Readonly<Record<string, unknown>>, ctx: HttpToolContext): Promise<ToolOutcome> {
  const secrets = secretsOf(decl, ctx.secrets);
  const result = await callEndpoint(decl, args, ctx, secrets);
  return { ok: result.ok, output: maskValues(result.output, secrets) };
}

async function callEndpoint(
  decl: HttpToolDeclaration, args: Readonly<Record<string, unknown>>, ctx: HttpToolContext, secrets: Readonly<Record<string, string>>,
): Promise<ToolOutcome> {
  if (!ctx.network) return { ok: false, output: { error: 'refused: this agent may not reach any host (its bundle has no network.allowHosts)' } };
  let plan: ReturnType<typeof expandHttpRequest>;
  try {
    plan = expandHttpRequest(decl, args);
  } catch (err) {
    if (err instanceof HttpToolArgumentError) return { ok: false, output: { error: `bad arguments: ${err.message}` } };
    throw err;
  }
  const headers: Record<string, string> = {
    ...(plan.body === undefined ? {} : { 'content-type': 'application/json' }),
    ...plainHeaders(decl),
    ...(decl.kind === 'read' ? {} : { 'idempotency-key': ctx.idempotencyKey }),
  };
  const declaredHost = new URL(plan.url);
  const timeoutMs = decl.timeoutMs ?? ctx.fetchOptions?.timeoutMs ?? FETCH_TIMEOUT_MS;
  try {
    const answer = await guardedFetch(
      { url: plan.url, method: plan.method, headers, body: plan.body },
      {
        allowHosts: ctx.network.allowHosts,
        allowPrivate: ctx.network.allowPrivate,
        // The declared host and port exactly: a redirect elsewhere, even to an allowed host, goes without them.
        auth: { hosts: [`${declaredHost.hostname}:${portOf(declaredHost)}`], headers: secretHeaders(decl, secrets) },
      },
      { ...ctx.fetchOptions, timeoutMs, signal: ctx.signal },
    );
    return { ok: answer.status < 400, output: outputOf(answer) };
  } catch (err) {
    // Cancelled (or the worker is going away): no result, not a tool error for the model.
    if (ctx.signal.aborted) throw err;
    // A refused request was never sent; a write that failed on the way may have happened anyway.
    const maybeDone = decl.kind !== 'read' && !(err instanceof FetchRefused)
      ? '; the request may have been carried out, and a retry of this call sends the same Idempotency-Key'
      : '';
    return { ok: false, output: { error: `${describeFetchFailure(err, timeoutMs)}${maybeDone}` } };
  }
}

/** The values of the secrets the headers name; throws when one was not resolved. */
function secretsOf(decl: HttpToolDeclaration, resolved: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    httpToolSecretNames(decl).map((name) => {
      const value = resolved[name];
      if (!value) throw new Error(`secret ${name} was not resolved for the HTTP tool ${decl.name}`);
      return [name, value];
    }),
  );
}

function plainHeaders(decl: HttpToolDeclaration): Record<string, string> {
  return Object.fromEntries(Object.entries(decl.headers ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

function secretHeaders(decl: HttpToolDeclaration, secrets: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(decl.headers ?? {}).flatMap(([name, value]) =>
      typeof value === 'string' ? [] : [[name, value.scheme ? `${value.scheme} ${secrets[value.secret]}` : secrets[value.secret]!]],
    ),
  );
}

const isJson = (contentType: string | null) => contentType !== null && /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i.test(contentType);

function outputOf(answer: FetchOutput): HttpToolOutput {
  return {
    status: answer.status,
    contentType: answer.contentType,
    body: answer.body !== null && !answer.truncated && isJson(answer.contentType) ? parsedOrText(answer.body) : answer.body,
    ...(answer.truncated ? { truncated: true as const } : {}),
    ...(answer.note ? { note: answer.note } : {}),
  };
}

function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Runs the bundle's HTTP tools for src/activities/toolCalls.ts: the declaration the pin names, from
 * the run's bundle. A sandbox run's write or destructive call is refused, never sent.
 */
export function httpToolExecutor(fetchOptions?: HttpFetchOptions): DeclaredToolExecutor {
  return async (pin, args, ctx, bundle) => {
    const decl = bundle.httpTools?.find((t) => t.name === pin.name);
    if (!decl) throw new Error(`bundle ${bundle.id} declares no HTTP tool ${pin.name}`);
    if (ctx.sandbox && decl.kind !== 'read') {
      return { ok: false, output: { error: `${decl.name} was not called: this is a sandbox run, and it is a ${decl.kind} HTTP tool with no sandbox` } };
    }
    return executeHttpTool(decl, args as Record<string, unknown>, {
      network: ctx.network, secrets: ctx.secrets, idempotencyKey: ctx.idempotencyKey, signal: ctx.signal, fetchOptions,
    });
  };
}
