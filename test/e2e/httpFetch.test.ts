/**
 * http_fetch's guard against reaching what it must not: hosts off the allow-list, private and
 * loopback addresses (directly, through DNS, or after a redirect), IP literals in disguise, and
 * oversized or endless answers. The guard runs against real sockets; a test resolver and dialer
 * stand in for DNS and the internet, so "public" names can lead to a local server.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createHttpFetchTool, guardedFetch, MAX_RESPONSE_BYTES, type DialTarget, type FetchPolicy, type HttpFetchOptions, type ResolvedAddress,
} from '../../src/activities/tools/httpFetch';
import { invokeTool } from '../../src/activities/tools/invoke';
import type { ToolContext } from '../../src/sdk/tools';
import { fetcherAgent, fetchScript, makeAgentsDir } from '../support/agentsDir';
import { listenLocally } from '../support/localServer';
import { startTestStack, type TestStack } from '../support/testStack';

async function waitFor(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 20));
}

interface Hit {
  path: string;
  host: string | undefined;
  authorization: string | undefined;
}

/** A local HTTP server; `/redirect?to=<url>` answers 302, `/big` 1 MB, `/hang` never, anything else 200. */
async function startTarget() {
  const hits: Hit[] = [];
  /** Every connection the server accepted, in order. */
  const connections: net.Socket[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.push({ path: url.pathname + url.search, host: req.headers.host, authorization: req.headers.authorization });
    if (url.pathname === '/redirect') return void res.writeHead(302, { location: url.searchParams.get('to')! }).end();
    if (url.pathname === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
    if (url.pathname === '/big') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('a'.repeat(1024 * 1024));
    if (url.pathname === '/binary') return void res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(64));
    if (url.pathname === '/missing') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('no such page');
    if (url.pathname === '/hang') return; // never answers
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hello: 'world', path: url.pathname }));
  });
  server.on('connection', (socket) => connections.push(socket));
  return { ...(await listenLocally(server)), hits, connections };
}

describe('the http_fetch guard', () => {
  let target: Awaited<ReturnType<typeof startTarget>>;
  beforeAll(async () => {
    target = await startTarget();
  });
  afterAll(() => target?.close());

  /** A fake DNS: public-looking names lead (through `dial`) to the local server. */
  const dns: Record<string, string[]> = {
    'partner.example': ['93.184.216.34'],
    'other.example': ['93.184.216.35'],
    'both.example': ['93.184.216.36', '10.0.0.7'],
    'internal.example': ['10.0.0.8'],
    'metadata.example': ['169.254.169.254'],
    'v6loop.example': ['::1'],
    'mapped.example': ['::ffff:127.0.0.1'],
  };
  let resolved: string[];
  let dialed: DialTarget[];
  const options = (extra: HttpFetchOptions = {}): HttpFetchOptions => ({
    resolve: async (host) => {
      resolved.push(host);
      const addresses = dns[host];
      if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return addresses.map((address): ResolvedAddress => ({ address, family: net.isIP(address) }));
    },
    dial: (t) => {
      dialed.push(t);
      return net.connect({ host: '127.0.0.1', port: target.port });
    },
    ...extra,
  });
  const start = () => {
    resolved = [];
    dialed = [];
    target.hits.length = 0;
  };
  const policy = (extra: Partial<FetchPolicy> = {}): FetchPolicy => ({
    allowHosts: ['partner.example', 'other.example', 'both.example', 'internal.example', 'metadata.example', 'v6loop.example',
      'mapped.example', `127.0.0.1:${target.port}`, `[::1]:${target.port}`],
    ...extra,
  });

  it('fetches an allowed host, connecting to the address it checked with the Host header of the name', async () => {
    start();
    const out = await guardedFetch('http://partner.example/orders/42?x=1#frag', policy(), options());
    expect(out).toMatchObject({ status: 200, url: 'http://partner.example/orders/42?x=1', truncated: false, redirects: [] });
    expect(JSON.parse(out.body!)).toEqual({ hello: 'world', path: '/orders/42' });
    expect(dialed).toEqual([{ address: '93.184.216.34', family: 4, port: 80, hostname: 'partner.example', tls: false }]);
    expect(target.hits).toEqual([{ path: '/orders/42?x=1', host: 'partner.example', authorization: undefined }]);
  });

  it('refuses a host that is not on the allow-list without resolving or connecting to it', async () => {
    start();
    for (const url of ['http://evil.example/', 'http://partner.example.evil.example/', 'http://partner.example:8080/', `http://127.0.0.1:${target.port + 1}/`]) {
      await expect(guardedFetch(url, policy(), options()), url).rejects.toThrow(/is not on this agent's network allow-list/);
    }
    expect(resolved).toEqual([]);
    expect(dialed).toEqual([]);
  });

  it('refuses names that resolve to any non-public address, checking every address', async () => {
    start();
    const cases: [string, RegExp][] = [
      ['http://both.example/', /both\.example is a private address/],
      ['http://internal.example/', /private address/],
      ['http://metadata.example/latest/meta-data/', /link-local address/],
      ['http://v6loop.example/', /loopback address/],
      ['http://mapped.example/', /ipv4-mapped address/],
    ];
    for (const [url, problem] of cases) await expect(guardedFetch(url, policy(), options()), url).rejects.toThrow(problem);
    expect(dialed).toEqual([]);
    expect(target.hits).toEqual([]);
  });

  it('resolves once per hop and connects to that answer, so a rebinding DNS cannot swap in a private address', async () => {
    start();
    let calls = 0;
    const rebinding = options({
      resolve: async (host) => {
        resolved.push(host);
        calls += 1;
        return [{ address: calls === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
      },
    });
    expect((await guardedFetch('http://partner.example/', policy(), rebinding)).status).toBe(200);
    expect(resolved).toEqual(['partner.example']);
    expect(dialed.map((d) => d.address)).toEqual(['93.184.216.34']);
  });

  it.each([
    ['loopback', `http://127.0.0.1:PORT/admin`, /127\.0\.0\.1 is a loopback address/],
    ['loopback IPv6', `http://[::1]:PORT/admin`, /loopback address/],
    ['a decimal IP', `http://2130706433:PORT/admin`, /2130706433 is not written in dotted decimal form/],
    ['a hex IP', `http://0x7f.1:PORT/admin`, /dotted decimal/],
    ['a name resolving privately', 'http://internal.example/admin', /private address/],
    ['a host off the list', 'http://elsewhere.example/', /not on this agent's network allow-list/],
    ['a file', 'file:///etc/passwd', /scheme file: is not allowed/],
  ])('re-checks every redirect: one to %s is refused', async (_what, to, problem) => {
    start();
    const location = encodeURIComponent(to.replace('PORT', String(target.port)));
    await expect(guardedFetch(`http://partner.example/redirect?to=${location}`, policy(), options())).rejects.toThrow(problem);
    // Only the first request reached a server.
    expect(target.hits.map((h) => h.path)).toEqual([`/redirect?to=${location}`]);
  });

  it('follows allowed redirects, relative ones included, and at most five', async () => {
    start();
    const out = await guardedFetch(`http://partner.example/redirect?to=${encodeURIComponent('http://other.example/next')}`, policy(), options());
    expect(out).toMatchObject({ status: 200, url: 'http://other.example/next', redirects: [expect.stringContaining('http://partner.example/redirect')] });
    expect(dialed.map((d) => d.address)).toEqual(['93.184.216.34', '93.184.216.35']);
    start();
    await expect(guardedFetch('http://partner.example/loop', policy(), options())).rejects.toThrow(/more than 5 redirects/);
    expect(target.hits).toHaveLength(6);
  });

  it('sends the auth header only to the hosts it is for, and not to where they redirect', async () => {
    start();
    const auth = { hosts: ['partner.example'], headers: { Authorization: 'Bearer token-123' } };
    await guardedFetch(`http://partner.example/redirect?to=${encodeURIComponent('http://other.example/landing')}`, policy({ auth }), options());
    expect(target.hits.map((h) => [h.host, h.authorization])).toEqual([
      ['partner.example', 'Bearer token-123'],
      ['other.example', undefined],
    ]);
  });

  it.each([
    'http://2130706433/', 'http://0x7f.1/', 'http://0x7f000001/', 'http://0177.0.0.1/', 'http://127.1/',
  ])('refuses the disguised IP literal %s even with allowPrivate', async (url) => {
    start();
    await expect(guardedFetch(url, policy({ allowHosts: ['127.0.0.1'], allowPrivate: true }), options())).rejects.toThrow(/dotted decimal/);
    expect(dialed).toEqual([]);
  });

  it.each([
    ['http://127.0.0.1/', '127.0.0.1', /loopback/],
    ['http://[::1]/', '[::1]', /loopback/],
    ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]', /ipv4-mapped/],
    ['http://[::ffff:7f00:1]/', '[::ffff:7f00:1]', /ipv4-mapped/],
    ['http://[fe80::1]/', '[fe80::1]', /link-local/],
    ['http://[fd00::1]/', '[fd00::1]', /unique-local/],
    ['http://169.254.169.254/', '169.254.169.254', /link-local/],
    ['http://100.64.0.1/', '100.64.0.1', /cgnat/],
    ['http://0.0.0.0/', '0.0.0.0', /unspecified/],
    ['http://224.0.0.1/', '224.0.0.1', /multicast/],
  ])('refuses the IP literal %s even when the allow-list names it', async (url, allowed, problem) => {
    start();
    await expect(guardedFetch(url, policy({ allowHosts: [allowed] }), options())).rejects.toThrow(problem);
    expect(dialed).toEqual([]);
  });

  it('reaches a loopback address when the bundle sets allowPrivate (so the refusals above are the guard)', async () => {
    start();
    const out = await guardedFetch(`http://127.0.0.1:${target.port}/ok`, policy({ allowPrivate: true }), {});
    expect(out.status).toBe(200);
    expect(target.hits).toHaveLength(1);
  });

  it('cuts an oversized answer at 256 KB and says so; binary content is not shown', async () => {
    start();
    const big = await guardedFetch('http://partner.example/big', policy(), options());
    expect(big).toMatchObject({ status: 200, truncated: true, bytes: MAX_RESPONSE_BYTES, note: `response cut at ${MAX_RESPONSE_BYTES} bytes` });
    expect(big.body).toHaveLength(MAX_RESPONSE_BYTES);
    const small = await guardedFetch('http://partner.example/big', policy(), options({ maxBytes: 1000 }));
    expect(small).toMatchObject({ truncated: true, bytes: 1000 });
    const binary = await guardedFetch('http://partner.example/binary', policy(), options());
    expect(binary).toMatchObject({ body: null, bytes: 64, note: 'binary content (image/png) not shown' });
  });

  it('tells the model about refusals, timeouts and error statuses as tool errors', async () => {
    start();
    const ctx = { network: { allowHosts: ['partner.example'] }, secrets: {}, signal: new AbortController().signal } as unknown as ToolContext;
    const fetchTool = createHttpFetchTool(options({ timeoutMs: 300 }));
    const tool = (context: ToolContext, args: { url: string }) => invokeTool(fetchTool, args, context);
    expect(await tool(ctx, { url: 'http://partner.example/hang' })).toEqual({
      ok: false, output: { error: 'no complete answer within 0.3 s', url: 'http://partner.example/hang' },
    });
    expect(await tool(ctx, { url: 'http://elsewhere.example/' })).toMatchObject({ ok: false, output: { error: expect.stringMatching(/^refused: /) } });
    expect(await tool(ctx, { url: 'http://partner.example/missing' })).toMatchObject({ ok: false, output: { status: 404, body: 'no such page' } });
    const none = { network: undefined, secrets: {}, signal: new AbortController().signal } as unknown as ToolContext;
    expect(await tool(none, { url: 'http://partner.example/' })).toMatchObject({ ok: false, output: { error: expect.stringMatching(/no network.allowHosts/) } });
  });

  it('stops a fetch when its run is cancelled, closing the connection, and returns no result', async () => {
    start();
    const cancel = new AbortController();
    const ctx = { network: { allowHosts: ['partner.example'] }, secrets: {}, signal: cancel.signal } as unknown as ToolContext;
    // A deadline far beyond the test's own timeout: only the signal can end this fetch in time.
    const fetching = invokeTool(createHttpFetchTool(options({ timeoutMs: 3_600_000 })), { url: 'http://partner.example/hang' }, ctx);
    await waitFor(() => target.hits.length === 1);
    const socket = target.connections.at(-1)!;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    cancel.abort(new Error('run cancelled'));
    await expect(fetching).rejects.toThrow(/aborted/);
    await closed;
  });
});

describe('http_fetch in a run', () => {
  let stack: TestStack;
  let target: Awaited<ReturnType<typeof startTarget>>;
  let agents: ReturnType<typeof makeAgentsDir>;
  beforeAll(async () => {
    target = await startTarget();
    agents = makeAgentsDir({
      // Loopback is on the list, but allowPrivate is off: the address check must still refuse it.
      fetcher: fetcherAgent([`127.0.0.1:${target.port}`]),
    });
    stack = await startTestStack({ agentsDir: agents.dir, script: fetchScript });
  });
  afterAll(async () => {
    await stack?.close();
    await target?.close();
    agents?.remove();
  });

  it.each([
    [`http://127.0.0.1:PORT/hello`, /refused: 127\.0\.0\.1 is a loopback address/],
    [`http://2130706433:PORT/hello`, /refused: the IP address 2130706433 is not written in dotted decimal form/],
    [`http://[::ffff:127.0.0.1]:PORT/`, /refused: \[::ffff:7f00:1\]:\d+ is not on this agent's network allow-list/],
    ['http://elsewhere.example/', /refused: elsewhere\.example is not on this agent's network allow-list/],
  ])('refuses %s, tells the model, and the run goes on', async (url, problem) => {
    const runId = await stack.startRun(`Please fetch ${url.replace('PORT', String(target.port))}`, {}, 'fetcher');
    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.output).toMatch(problem);
    expect(done.steps.map((s: any) => `${s.kind}:${s.name}:${s.status}`)).toEqual(['model:gpt-4o-mini:ok', 'tool:http_fetch:error', 'model:gpt-4o-mini:ok']);
    expect(target.hits).toEqual([]);
  });
});
