/**
 * Declarative HTTP tools against a real local server: what the server receives (path, query, body,
 * headers), what the model gets back, and what the guard refuses. A test resolver and dialer stand
 * in for DNS and the internet, so public-looking names lead to the local server while the guard's
 * address checks stay on.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DialTarget, HttpFetchOptions, ResolvedAddress } from '../../src/activities/tools/httpFetch';
import { executeHttpTool, type HttpToolContext } from '../../src/activities/tools/httpTool';
import { httpToolSchema, type HttpToolDeclaration } from '../../src/shared/httpTools';
import { listenLocally } from '../support/localServer';

interface Hit {
  method: string;
  /** The request target exactly as it arrived, before any decoding. */
  target: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i += 1) await new Promise((r) => setTimeout(r, 20));
  if (!done()) throw new Error('condition not met within 10 s');
}

/**
 * `/echo…` answers JSON of what it received (headers included, so a secret comes back), `/redirect?to=`
 * 302, `/see-other` 303, `/big` 1 MB, `/hang` never, `/broken-json` invalid JSON, `/text` plain text,
 * `/missing` 404.
 */
async function startPartner() {
  const hits: Hit[] = [];
  const connections: net.Socket[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit: Hit = { method: req.method!, target: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      hits.push(hit);
      const url = new URL(req.url!, 'http://x');
      const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(value));
      if (url.pathname === '/redirect') return void res.writeHead(302, { location: url.searchParams.get('to')! }).end();
      if (url.pathname === '/see-other') return void res.writeHead(303, { location: '/echo/created' }).end();
      if (url.pathname === '/big') return void res.writeHead(200, { 'content-type': 'application/json' }).end(`"${'a'.repeat(1024 * 1024)}"`);
      if (url.pathname === '/hang') return;
      if (url.pathname === '/broken-json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"half":');
      if (url.pathname === '/text') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('plain words');
      if (url.pathname === '/missing') return json(404, { error: 'no such order' });
      json(200, { method: hit.method, target: hit.target, headers: hit.headers, body: hit.body });
    });
  });
  server.on('connection', (socket) => connections.push(socket));
  return { ...(await listenLocally(server)), hits, connections };
}

const TOKEN = 'tok-9f8e7d6c5b4a';
const API_KEY = 'key-0a1b2c3d4e5f';

const tool = (change: Record<string, unknown>): HttpToolDeclaration =>
  httpToolSchema.parse({
    name: 'partner_call',
    description: 'Calls the partner.',
    method: 'GET',
    url: 'http://api.partner.example/echo',
    args: { type: 'object', properties: {}, additionalProperties: true },
    kind: 'read',
    ...change,
  });

describe('declarative HTTP tools', () => {
  let partner: Awaited<ReturnType<typeof startPartner>>;
  beforeAll(async () => {
    partner = await startPartner();
  });
  afterAll(() => partner?.close());

  const dns: Record<string, string> = {
    'api.partner.example': '93.184.216.34',
    'other.partner.example': '93.184.216.35',
    'evil.example': '93.184.216.66',
  };
  let resolved: string[];
  let dialed: DialTarget[];
  beforeEach(() => {
    resolved = [];
    dialed = [];
    partner.hits.length = 0;
  });
  const fetchOptions: HttpFetchOptions = {
    resolve: async (host): Promise<ResolvedAddress[]> => {
      resolved.push(host);
      const address = dns[host];
      if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return [{ address, family: 4 }];
    },
    // Plain TCP even for https: the guard's per-hop rules are what is under test, not TLS.
    dial: (t) => {
      dialed.push(t);
      return net.connect({ host: '127.0.0.1', port: partner.port });
    },
  };
  const ctx = (change: Partial<HttpToolContext> = {}): HttpToolContext => ({
    network: { allowHosts: ['api.partner.example', 'other.partner.example'] },
    secrets: { PARTNER_TOKEN: TOKEN, PARTNER_KEY: API_KEY },
    idempotencyKey: 'run-1:step-3:call-0',
    signal: new AbortController().signal,
    fetchOptions,
    ...change,
  });

  it('fills path and query placeholders percent-encoded, so a value cannot climb the path', async () => {
    const decl = tool({
      url: 'http://api.partner.example/echo/items/{item}?q={q}',
      args: {
        type: 'object',
        properties: { item: { type: 'string' }, q: { type: 'string' }, limit: { type: 'integer' } },
        required: ['item', 'q'],
      },
    });
    const result = await executeHttpTool(decl, { item: '../../admin', q: 'a b&c=d/é', limit: 5 }, ctx());
    expect(result.ok).toBe(true);
    expect(partner.hits.map((h) => [h.method, h.target])).toEqual([['GET', '/echo/items/..%2F..%2Fadmin?q=a%20b%26c%3Dd%2F%C3%A9&limit=5']]);
    expect(partner.hits[0]!.headers['idempotency-key']).toBeUndefined();
    expect(partner.hits[0]!.headers.host).toBe('api.partner.example');
    expect(result.output).toMatchObject({ status: 200, contentType: 'application/json; charset=utf-8', body: { method: 'GET', body: '' } });
  });

  it('refuses arguments that would make a path segment ".." before connecting', async () => {
    const decl = tool({ url: 'http://api.partner.example/echo/items/{item}', args: { type: 'object', properties: { item: { type: 'string' } }, required: ['item'] } });
    const result = await executeHttpTool(decl, { item: '..' }, ctx());
    expect(result).toEqual({ ok: false, output: { error: expect.stringMatching(/^bad arguments: .*"\." or "\.\."/) } });
    expect(dialed).toEqual([]);
  });

  it('POSTs the other arguments as JSON with an Idempotency-Key, the same one when the call is retried', async () => {
    const decl = tool({
      method: 'POST',
      kind: 'write',
      url: 'http://api.partner.example/echo/orders/{order_id}/refunds',
      args: { type: 'object', properties: { order_id: { type: 'integer' }, amount_cents: { type: 'integer' }, reason: { type: 'string' } }, required: ['order_id'] },
    });
    const args = { order_id: 1001, amount_cents: 250, reason: 'arrived "late" — ü' };
    const first = await executeHttpTool(decl, args, ctx());
    const retry = await executeHttpTool(decl, args, ctx());
    expect(first.ok && retry.ok).toBe(true);
    expect(partner.hits).toHaveLength(2);
    for (const hit of partner.hits) {
      expect(hit).toMatchObject({ method: 'POST', target: '/echo/orders/1001/refunds' });
      expect(JSON.parse(hit.body)).toEqual({ amount_cents: 250, reason: 'arrived "late" — ü' });
      expect(hit.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': 'run-1:step-3:call-0' });
      expect(Number(hit.headers['content-length'])).toBe(Buffer.byteLength(hit.body));
    }
  });

  it('sends secret headers to the declared host, and masks them when the server echoes them', async () => {
    const decl = tool({
      headers: { Authorization: { secret: 'PARTNER_TOKEN', scheme: 'Bearer' }, 'X-Api-Key': { secret: 'PARTNER_KEY' }, Accept: 'application/json' },
    });
    const result = await executeHttpTool(decl, {}, ctx());
    expect(partner.hits[0]!.headers).toMatchObject({ authorization: `Bearer ${TOKEN}`, 'x-api-key': API_KEY, accept: 'application/json' });
    const text = JSON.stringify(result);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(API_KEY);
    expect(result.output).toMatchObject({ body: { headers: { authorization: 'Bearer [secret:PARTNER_TOKEN]', 'x-api-key': '[secret:PARTNER_KEY]' } } });
  });

  it('keeps secret headers from where the declared host redirects, another allowed host or its own http', async () => {
    const headers = { Authorization: { secret: 'PARTNER_TOKEN', scheme: 'Bearer' } };
    const elsewhere = encodeURIComponent('http://other.partner.example/echo');
    await executeHttpTool(tool({ url: `http://api.partner.example/redirect?to=${elsewhere}`, headers }), {}, ctx());
    // The same host and port, https then http: only the downgrade rule keeps the secret back.
    const downgrade = encodeURIComponent('http://api.partner.example:8443/echo');
    const network = { allowHosts: ['api.partner.example:8443'] };
    await executeHttpTool(tool({ url: `https://api.partner.example:8443/redirect?to=${downgrade}`, headers }), {}, ctx({ network }));
    expect(partner.hits.map((h) => [h.headers.host, h.target.split('?')[0], h.headers.authorization])).toEqual([
      ['api.partner.example', '/redirect', `Bearer ${TOKEN}`],
      ['other.partner.example', '/echo', undefined],
      ['api.partner.example:8443', '/redirect', `Bearer ${TOKEN}`],
      ['api.partner.example:8443', '/echo', undefined],
    ]);
  });

  it('refuses a host off the allow-list without resolving it or connecting', async () => {
    const result = await executeHttpTool(tool({ url: 'http://evil.example/echo' }), {}, ctx());
    expect(result).toEqual({ ok: false, output: { error: "refused: evil.example is not on this agent's network allow-list" } });
    expect(resolved).toEqual([]);
    expect(dialed).toEqual([]);
    expect(partner.hits).toEqual([]);
    const none = await executeHttpTool(tool({}), {}, ctx({ network: undefined }));
    expect(none).toEqual({ ok: false, output: { error: expect.stringMatching(/^refused: .*no network.allowHosts/) } });
    expect(dialed).toEqual([]);
  });

  it('refuses a redirect to a host off the allow-list after the first request only', async () => {
    const to = encodeURIComponent('http://evil.example/steal');
    const result = await executeHttpTool(tool({ url: `http://api.partner.example/redirect?to=${to}` }), {}, ctx());
    expect(result).toEqual({ ok: false, output: { error: "refused: evil.example is not on this agent's network allow-list" } });
    expect(partner.hits.map((h) => h.target)).toEqual([`/redirect?to=${to}`]);
    expect(resolved).toEqual(['api.partner.example']);
  });

  it('does not follow a redirect on a POST: the model gets the 3xx and where it pointed', async () => {
    const result = await executeHttpTool(tool({ method: 'POST', kind: 'write', url: 'http://api.partner.example/see-other' }), { a: 1 }, ctx());
    expect(result).toEqual({
      ok: true,
      output: { status: 303, contentType: null, body: '', note: 'redirect to /echo/created not followed: only GET requests follow redirects' },
    });
    expect(partner.hits.map((h) => h.method + ' ' + h.target)).toEqual(['POST /see-other']);
  });

  it('ends a call that gets no answer within the declared timeout with a clear error', async () => {
    const read = await executeHttpTool(tool({ url: 'http://api.partner.example/hang', timeoutMs: 300 }), {}, ctx());
    expect(read).toEqual({ ok: false, output: { error: 'no complete answer within 0.3 s' } });
    const write = await executeHttpTool(tool({ method: 'PUT', kind: 'write', url: 'http://api.partner.example/hang', timeoutMs: 300 }), {}, ctx());
    expect(write).toEqual({
      ok: false,
      output: { error: 'no complete answer within 0.3 s; the request may have been carried out, and a retry of this call sends the same Idempotency-Key' },
    });
  });

  it('cuts a huge answer and says so, leaving it as text', async () => {
    const result = await executeHttpTool(tool({ url: 'http://api.partner.example/big' }), {}, ctx());
    expect(result).toMatchObject({ ok: true, output: { status: 200, truncated: true, note: 'response cut at 262144 bytes' } });
    expect((result.output as { body: string }).body).toHaveLength(262_144);
  });

  it('gives text when a body is not JSON or does not parse, and ok: false for an error status', async () => {
    expect(await executeHttpTool(tool({ url: 'http://api.partner.example/text' }), {}, ctx()))
      .toEqual({ ok: true, output: { status: 200, contentType: 'text/plain', body: 'plain words' } });
    expect(await executeHttpTool(tool({ url: 'http://api.partner.example/broken-json' }), {}, ctx()))
      .toMatchObject({ ok: true, output: { body: '{"half":' } });
    expect(await executeHttpTool(tool({ url: 'http://api.partner.example/missing' }), {}, ctx()))
      .toMatchObject({ ok: false, output: { status: 404, body: { error: 'no such order' } } });
  });

  it('stops when the run is cancelled, closing the connection, and returns no result', async () => {
    const cancel = new AbortController();
    // A deadline far beyond the test's own timeout: only the signal can end this call in time.
    const calling = executeHttpTool(tool({ url: 'http://api.partner.example/hang', timeoutMs: 120_000 }), {}, ctx({ signal: cancel.signal }));
    await waitFor(() => partner.hits.length === 1);
    const socket = partner.connections.at(-1)!;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    cancel.abort(new Error('run cancelled'));
    await expect(calling).rejects.toThrow(/run cancelled|aborted/);
    await closed;
  });

  it('throws when a secret the headers name was not resolved (the worker, not the model, is at fault)', async () => {
    const decl = tool({ headers: { 'X-Api-Key': { secret: 'PARTNER_KEY' } } });
    await expect(executeHttpTool(decl, {}, ctx({ secrets: {} }))).rejects.toThrow('secret PARTNER_KEY was not resolved for the HTTP tool partner_call');
    expect(dialed).toEqual([]);
  });
});
