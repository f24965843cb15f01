/**
 * `http_fetch`: GET a URL on the bundle's network allow-list; declarative HTTP tools (httpTool.ts)
 * send other methods through the same guard. Every hop (the first request and each
 * redirect, followed by hand) is checked: the host against the allow-list, then every address its
 * name resolves to; the connection goes to the address that was checked, never to a second lookup,
 * so DNS rebinding cannot swap in a private address. Responses are cut at 256 KB; the whole fetch
 * has a deadline. A credential the bundle names goes only to the hosts it names.
 */
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import net, { isIP } from 'node:net';
import tls from 'node:tls';
import { z } from 'zod';
import { defineTool, ToolError, type BosunTool } from '../../sdk/tools';
import { bareHost, hostMatches, portOf } from '../../shared/hostPatterns';
import { checkUrl, classifyAddress } from './netGuard';

export interface ResolvedAddress {
  address: string;
  family: number;
}
/** Every address a host name resolves to. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface DialTarget {
  /** The checked address to connect to. */
  address: string;
  family: number;
  port: number;
  /** The URL's host name, for TLS SNI and certificate checks. */
  hostname: string;
  tls: boolean;
}
export type Dialer = (target: DialTarget) => net.Socket;

export interface HttpFetchOptions {
  /** DNS; `dns.lookup(host, { all: true })` by default. Tests inject one. */
  resolve?: Resolver;
  /** Opens the connection to a checked address; TCP or TLS by default. Tests inject one. */
  dial?: Dialer;
  maxBytes?: number;
  timeoutMs?: number;
  maxRedirects?: number;
  /** Aborts the fetch from outside (the run was cancelled); the fetch then rejects with its reason. */
  signal?: AbortSignal;
}

export interface FetchPolicy {
  allowHosts: readonly string[];
  allowPrivate?: boolean;
  /** Headers carrying secrets, for requests to `hosts` only (never after a redirect from https to http). */
  auth?: { hosts: readonly string[]; headers: Readonly<Record<string, string>> };
}

/** What to send; a bare URL is a GET. */
export interface FetchRequest {
  url: string;
  /** GET when absent. Only a GET follows redirects (see guardedFetch). */
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Sent to every hop, over the defaults (User-Agent, Accept); never Host, which the URL sets. */
  headers?: Readonly<Record<string, string>>;
  /** The request body, sent as UTF-8 with its Content-Length; give its Content-Type in `headers`. */
  body?: string;
}

export interface FetchOutput {
  url: string;
  status: number;
  contentType: string | null;
  /** Text; null for binary content. */
  body: string | null;
  bytes: number;
  truncated: boolean;
  note?: string;
  redirects: string[];
}

export const MAX_RESPONSE_BYTES = 256 * 1024;
export const FETCH_TIMEOUT_MS = 10_000;
export const MAX_REDIRECTS = 5;

/** A request the guard will not make; the model hears why. */
export class FetchRefused extends Error {
  override name = 'FetchRefused';
}

/** `dns.lookup(host, { all: true })`, every address in the resolver's order. */
export const defaultResolve: Resolver = async (hostname) => lookup(hostname, { all: true, verbatim: true });

/** TCP, or TLS with the URL's host name for SNI and the certificate check. */
export const defaultDial: Dialer = ({ address, port, hostname, tls: secure }) =>
  secure
    ? tls.connect({ host: address, port, servername: isIP(hostname) ? undefined : hostname, ALPNProtocols: ['http/1.1'] })
    : net.connect({ host: address, port });

/** Checks one hop: allow-list, then every address. Returns the address to connect to. */
export async function checkHop(url: URL, policy: FetchPolicy, resolve: Resolver = defaultResolve): Promise<ResolvedAddress> {
  if (!hostMatches(policy.allowHosts, url)) throw new FetchRefused(`${url.host} is not on this agent's network allow-list`);
  const host = bareHost(url);
  const literal = isIP(host);
  let addresses: ResolvedAddress[];
  if (literal) {
    addresses = [{ address: host, family: literal }];
  } else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      if ((err as Error)?.name === 'TimeoutError') throw err;
      throw new FetchRefused(`${host} does not resolve`);
    }
  }
  if (addresses.length === 0) throw new FetchRefused(`${host} does not resolve`);
  if (!policy.allowPrivate) {
    for (const { address } of addresses) {
      const kind = classifyAddress(address);
      if (kind !== 'public') throw new FetchRefused(`${host} is a ${kind} address, which this agent may not reach`);
    }
  }
  // IPv4 first: a dual-stack name whose server listens on IPv4 only still answers.
  return [...addresses].sort((a, b) => a.family - b.family)[0]!;
}

/**
 * A request with the guard on every hop. Rejects with FetchRefused for a refused hop, other errors
 * for network trouble, the signal's reason when cancelled.
 *
 * Only a GET follows redirects. Any other method answers with the 3xx itself and a note naming the
 * location: following would either turn the write into a GET (what fetch does for 301/302 on a POST,
 * reporting the GET's answer as the write's) or send its body to an endpoint the bundle's author
 * never declared (307/308); the model sees the redirect and nothing is sent twice.
 */
export async function guardedFetch(request: string | FetchRequest, policy: FetchPolicy, options: HttpFetchOptions = {}): Promise<FetchOutput> {
  const { url: urlText, method = 'GET', headers: extraHeaders = {}, body: requestBody } = typeof request === 'string' ? { url: request } : request;
  const { resolve = defaultResolve, dial = defaultDial, maxBytes = MAX_RESPONSE_BYTES, timeoutMs = FETCH_TIMEOUT_MS, maxRedirects = MAX_REDIRECTS } = options;
  const deadline = options.signal ? AbortSignal.any([AbortSignal.timeout(timeoutMs), options.signal]) : AbortSignal.timeout(timeoutMs);
  const redirects: string[] = [];
  let text = urlText;
  let base: URL | undefined;
  let wasSecure = false;
  for (;;) {
    const checked = checkUrl(text, base);
    if (!checked.ok) throw new FetchRefused(checked.problem);
    const url = checked.url;
    url.hash = '';
    const secure = url.protocol === 'https:';
    const address = await beforeDeadline(checkHop(url, policy, resolve), deadline);
    const withAuth = policy.auth && hostMatches(policy.auth.hosts, url) && (secure || !wasSecure);
    const headers: Record<string, string> = {
      'user-agent': 'bosun-http-fetch/1',
      accept: '*/*',
      ...lowerCaseNames(extraHeaders),
      ...(withAuth ? lowerCaseNames(policy.auth!.headers) : {}),
      host: url.host,
      ...(requestBody === undefined ? {} : { 'content-length': String(Buffer.byteLength(requestBody)) }),
    };
    const res = await send(url, method, address, headers, requestBody, deadline, dial);
    const location = res.headers.location;
    const redirected = [301, 302, 303, 307, 308].includes(res.statusCode ?? 0) && location;
    if (redirected && method === 'GET') {
      res.destroy();
      if (redirects.length >= maxRedirects) throw new FetchRefused(`more than ${maxRedirects} redirects`);
      redirects.push(url.toString());
      text = location;
      base = url;
      wasSecure ||= secure;
      continue;
    }
    const contentType = res.headers['content-type'] ?? null;
    const { body, truncated } = await readCapped(res, maxBytes);
    const textual = contentType === null || /^text\/|[/+](json|xml)\b|^application\/(javascript|ecmascript|x-www-form-urlencoded)\b/i.test(contentType);
    const notes = [
      ...(redirected ? [`redirect to ${location} not followed: only GET requests follow redirects`] : []),
      ...(truncated ? [`response cut at ${maxBytes} bytes`] : []),
      ...(textual ? [] : [`binary content (${contentType}) not shown`]),
    ];
    return {
      url: url.toString(),
      status: res.statusCode ?? 0,
      contentType,
      body: textual ? new TextDecoder('utf-8').decode(body) : null,
      bytes: body.length,
      truncated,
      ...(notes.length ? { note: notes.join('; ') } : {}),
      redirects,
    };
  }
}

/** The promise's outcome, or the deadline's reason if that comes first (a DNS lookup cannot be cancelled). */
function beforeDeadline<T>(work: Promise<T>, deadline: AbortSignal): Promise<T> {
  if (deadline.aborted) return Promise.reject(deadline.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(deadline.reason);
    deadline.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => deadline.removeEventListener('abort', onAbort));
  });
}

const lowerCaseNames = (headers: Readonly<Record<string, string>>) =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));

function send(
  url: URL, method: string, address: ResolvedAddress, headers: Record<string, string>, body: string | undefined, signal: AbortSignal, dial: Dialer,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method,
        path: `${url.pathname}${url.search}`,
        headers,
        setHost: false,
        signal,
        // No agent, no lookup: the socket goes to the address checkHop verified.
        createConnection: () =>
          dial({ address: address.address, family: address.family, port: portOf(url), hostname: bareHost(url), tls: url.protocol === 'https:' }),
      },
      resolve,
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function readCapped(res: http.IncomingMessage, maxBytes: number): Promise<{ body: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    const room = maxBytes - size;
    if (chunk.length > room) {
      chunks.push(chunk.subarray(0, room));
      // Leaving the loop destroys the response: the rest is never read.
      return { body: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(chunks), truncated: false };
}

/** A failed fetch as the model hears it: `refused: …` for the guard, else the timeout or the network error. */
export function describeFetchFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof FetchRefused) return `refused: ${err.message}`;
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no complete answer within ${timeoutMs / 1000} s`;
  return `fetch failed: ${e?.code ?? e?.message ?? String(err)}`;
}

/**
 * The tool, built into every Bosun worker: the bundle's network policy, and its auth header from a
 * secret resolved for this call (the bundle names it in network.auth.secret, see toolSecretNames).
 */
export function createHttpFetchTool(options: HttpFetchOptions = {}): BosunTool {
  return defineTool({
    name: 'http_fetch',
    version: 1,
    description:
      'Fetch a URL with HTTP GET and return its status and text. Only hosts this agent is allowed to reach answer; ' +
      'responses are cut at 256 KB.',
    kind: 'read',
    args: z
      .object({
        // Fully parsed in the handler (the workflow checks only this pattern).
        // Spelled out rather than /i: JSON Schema patterns carry no flags, and the workflow checks this one.
        url: z.string().max(2048).regex(/^[hH][tT][tT][pP][sS]?:\/\/\S+$/, 'an http:// or https:// URL'),
        method: z.literal('GET').optional(),
      })
      .strict(),
    scope: ['network:allow-list'],
    // A third party's page may hold anything; the audit keeps where it went and what came back, not the body.
    redact: { result: { paths: ['body'] } },
    async handler({ url }, ctx) {
      const network = ctx.network;
      if (!network) throw new ToolError('refused: this agent may not reach any host (its bundle has no network.allowHosts)', { url });
      let auth: FetchPolicy['auth'];
      if (network.auth) {
        const secret = ctx.secrets[network.auth.secret];
        if (!secret) throw new Error(`secret ${network.auth.secret} was not resolved for http_fetch`);
        const scheme = network.auth.scheme ?? 'Bearer';
        auth = { hosts: network.auth.hosts, headers: { [network.auth.header ?? 'authorization']: scheme ? `${scheme} ${secret}` : secret } };
      }
      let output: FetchOutput;
      try {
        output = await guardedFetch(url, { allowHosts: network.allowHosts, allowPrivate: network.allowPrivate, auth }, { ...options, signal: ctx.signal });
      } catch (err) {
        // Cancelled (or the worker is going away): no result, not a tool error for the model.
        if (ctx.signal.aborted) throw err;
        throw new ToolError(describeFetchFailure(err, options.timeoutMs ?? FETCH_TIMEOUT_MS), { url });
      }
      // The page, and the model told the server said no.
      if (output.status >= 400) throw new ToolError(`the server answered ${output.status}`, { ...output });
      return output;
    },
  });
}
