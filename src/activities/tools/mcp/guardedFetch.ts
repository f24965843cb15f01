/**
 * The `fetch` the MCP HTTP transport uses: every request passes http_fetch's guard (the bundle's
 * allow-list, then every address the host resolves to) and its socket goes to the address that was
 * checked, never to a second lookup, so DNS rebinding cannot swap in a private address. The secret
 * headers go only to the server's own origin; answers are cut off past a size.
 */
import http from 'node:http';
import { pipeline, Readable, Transform } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { bareHost, defaultPort } from '../../../shared/hostPatterns';
import { checkHop, defaultDial, defaultResolve, FetchRefused, type FetchPolicy, type HttpFetchOptions } from '../httpFetch';
import { checkUrl } from '../netGuard';

export interface GuardedFetchSettings {
  /** The MCP endpoint; `secretHeaders` go to its origin only. */
  serverUrl: URL;
  policy: Pick<FetchPolicy, 'allowHosts' | 'allowPrivate'>;
  /** Header name → value, values holding secrets. */
  secretHeaders: Readonly<Record<string, string>>;
  /** One response body is cut (the stream errors) past this many bytes. */
  maxResponseBytes: number;
  options?: Pick<HttpFetchOptions, 'resolve' | 'dial'>;
}

const nullBodyStatuses = new Set([101, 204, 205, 304]);

/** A FetchLike that rejects with FetchRefused for a refused host or address, with Node's network errors otherwise. */
export function guardedMcpFetch(settings: GuardedFetchSettings): FetchLike {
  const { serverUrl, policy, secretHeaders, maxResponseBytes } = settings;
  const resolve = settings.options?.resolve ?? defaultResolve;
  const dial = settings.options?.dial ?? defaultDial;
  return async (input, init = {}) => {
    const checked = checkUrl(input instanceof URL ? input.href : input);
    if (!checked.ok) throw new FetchRefused(checked.problem);
    const url = checked.url;
    const address = await checkHop(url, policy, resolve);
    if (init.body !== undefined && init.body !== null && typeof init.body !== 'string') throw new Error('the MCP transport sent a body that is not text');
    const headers: Record<string, string> = Object.fromEntries(new Headers(init.headers).entries());
    if (url.origin === serverUrl.origin) Object.assign(headers, lowerCaseKeys(secretHeaders));
    headers.host = url.host;
    if (typeof init.body === 'string') headers['content-length'] = String(Buffer.byteLength(init.body));
    const method = init.method ?? 'GET';
    const res = await new Promise<http.IncomingMessage>((resolveResponse, reject) => {
      const req = http.request(
        {
          method,
          path: `${url.pathname}${url.search}`,
          headers,
          setHost: false,
          signal: init.signal ?? undefined,
          // No agent, no lookup: the socket goes to the address checkHop verified.
          createConnection: () =>
            dial({ address: address.address, family: address.family, port: url.port ? Number(url.port) : defaultPort(url), hostname: bareHost(url), tls: url.protocol === 'https:' }),
        },
        resolveResponse,
      );
      req.on('error', reject);
      req.end(typeof init.body === 'string' ? init.body : undefined);
    });
    return toResponse(res, method, maxResponseBytes);
  };
}

function lowerCaseKeys(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/** The Node response as a web Response whose body stream errors once it passes `maxBytes`. */
function toResponse(res: http.IncomingMessage, method: string, maxBytes: number): Response {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) {
    res.destroy();
    throw new Error(`the MCP server answered with HTTP status ${status}`);
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
  }
  if (nullBodyStatuses.has(status) || method === 'HEAD') {
    res.resume();
    return new Response(null, { status, statusText: res.statusMessage, headers });
  }
  let seen = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > maxBytes ? new Error(`the MCP server sent more than ${maxBytes} bytes in one response`) : null, chunk);
    },
  });
  const body = pipeline(res, cap, () => {});
  return new Response(Readable.toWeb(body) as unknown as NodeReadableStream as unknown as ReadableStream, { status, statusText: res.statusMessage, headers });
}
