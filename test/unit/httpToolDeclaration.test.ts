/**
 * A declarative HTTP tool as a bundle writes it: what the schema accepts, what the checks against
 * the bundle find (all at once), and how a call's arguments become a request.
 */
import { describe, expect, it } from 'vitest';
import {
  expandHttpRequest, httpToolProblems, httpToolSchema, httpToolSecretNames, HttpToolArgumentError, type HttpToolDeclaration,
} from '../../src/shared/httpTools';

const orderLookup = {
  name: 'get_order',
  description: 'Look up an order at the partner.',
  method: 'GET',
  url: 'https://api.partner.example/v1/orders/{order_id}?expand={expand}',
  args: {
    type: 'object',
    properties: { order_id: { type: 'string' }, expand: { type: 'string' }, limit: { type: 'integer' } },
    required: ['order_id', 'expand'],
    additionalProperties: false,
  },
  headers: { Accept: 'application/json', Authorization: { secret: 'PARTNER_TOKEN', scheme: 'Bearer' } },
  kind: 'read',
} as const;

const reach = { secrets: ['PARTNER_TOKEN'], allowHosts: ['api.partner.example'] };

/** The schema's messages for a declaration changed by `change`, as `path: message`. */
function schemaIssues(change: Record<string, unknown>): string[] {
  const result = httpToolSchema.safeParse({ ...orderLookup, ...change });
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const parse = (change: Record<string, unknown> = {}): HttpToolDeclaration => httpToolSchema.parse({ ...orderLookup, ...change });

describe('the HTTP tool schema', () => {
  it('accepts a complete declaration and the optional fields', () => {
    expect(schemaIssues({})).toEqual([]);
    expect(schemaIssues({ method: 'POST', kind: 'write', approval: { above: { field: 'limit', value: 10 } }, timeoutMs: 120_000 })).toEqual([]);
    expect(schemaIssues({ headers: undefined, approval: 'never' })).toEqual([]);
  });

  it.each([
    ['a name with capitals', { name: 'GetOrder' }, /^name: /],
    ['an empty description', { description: '' }, /^description: /],
    ['an unknown method', { method: 'HEAD' }, /^method: /],
    ['an unknown kind', { kind: 'dangerous' }, /^kind: /],
    ['a timeout over two minutes', { timeoutMs: 120_001 }, /^timeoutMs: /],
    ['an unknown field', { retries: 3 }, /Unrecognized key/],
    ['args that are not an object schema', { args: { type: 'string' } }, /^args.type: /],
    ['args without properties', { args: { type: 'object' } }, /^args.properties: /],
    ['a Host header', { headers: { Host: 'evil.example' } }, /^headers.Host: a header Bosun sets itself or a hop-by-hop header/],
    ['a hop-by-hop header', { headers: { 'Transfer-Encoding': 'chunked' } }, /hop-by-hop/],
    ['an Idempotency-Key header', { headers: { 'Idempotency-Key': 'fixed' } }, /a header Bosun sets itself/],
    ['a header value with a line break', { headers: { 'X-A': 'a\r\nHost: evil' } }, /printable ASCII on one line/],
    ['a secret name in lower case', { headers: { 'X-Key': { secret: 'partner_token' } } }, /an upper-case secret name/],
    ['a non-http scheme', { url: 'ftp://api.partner.example/{order_id}' }, /^url: an http:\/\/ or https:\/\/ URL/],
    ['a placeholder in the host', { url: 'https://{order_id}.partner.example/' }, /not in the scheme, host or port/],
    ['a placeholder in the port', { url: 'https://api.partner.example:{order_id}/' }, /not in the scheme, host or port/],
    ['credentials in the URL', { url: 'https://user:pw@api.partner.example/' }, /credentials in the URL are not allowed/],
    ['a header name with a space', { headers: { 'X Key': 'v' } }, /^headers.X Key: a header name/],
    ['a stray brace', { url: 'https://api.partner.example/{order id}' }, /a brace that is not a \{placeholder\}/],
    ['a dot segment', { url: 'https://api.partner.example/v1/%2E%2e/admin' }, /"\." or "\.\." is not allowed/],
    ['a disguised IP address', { url: 'http://0x7f.1/orders' }, /write the host as "127\.0\.0\.1"/],
    ['the default port written out', { url: 'https://api.partner.example:443/orders' }, /write the host as "api\.partner\.example"/],
  ])('refuses %s', (_what, change, message) => {
    expect(schemaIssues(change)).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });

  it('refuses an args schema too large or too deep', () => {
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`p${i}`, { type: 'string' }]));
    expect(schemaIssues({ args: { type: 'object', properties: many } })).toContain('args.properties: at most 100 properties');
    const long = { type: 'object', properties: { a: { type: 'string', description: 'x'.repeat(20_001) } } };
    expect(schemaIssues({ args: long })).toContain('args: at most 20000 characters as JSON');
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 10; i += 1) deep = { type: 'object', properties: { a: deep } };
    expect(schemaIssues({ args: { type: 'object', properties: { a: deep } } })).toContain('args: nested at most 10 levels deep');
  });
});

describe('httpToolProblems', () => {
  it('finds nothing in a consistent declaration', () => {
    expect(httpToolProblems(parse(), reach)).toEqual([]);
  });

  it('lists every problem at once', () => {
    const decl = parse({
      url: 'https://api.other.example/v1/{order_id}/{missing}/{flag}/{optional}',
      args: {
        type: 'object',
        properties: { order_id: { type: 'string' }, flag: { type: 'boolean' }, optional: { type: 'number' }, note: { type: 'string' } },
        required: ['order_id', 'flag', 'ghost'],
      },
      headers: { 'X-Key': { secret: 'UNLISTED' }, 'x-key': 'again', Authorization: { secret: 'PARTNER_TOKEN' } },
      approval: { above: { field: 'note', value: 5 } },
    });
    expect(httpToolProblems(decl, reach)).toEqual([
      'url: the placeholder {missing} is not a property of args',
      'url: the placeholder {flag} needs a string, number or integer argument, not "boolean"',
      'url: the placeholder {optional} needs args.required to list "optional"',
      'args.required: "ghost" is not a property of args',
      "headers.X-Key.secret: UNLISTED is not listed in the bundle's secrets",
      'headers.x-key: given twice (header names ignore case)',
      "url: api.other.example is not in the bundle's network.allowHosts",
      'approval.above.field: "note" is not a number or integer argument',
    ]);
  });

  it('matches the host as the network guard does (wildcards, ports)', () => {
    expect(httpToolProblems(parse(), { ...reach, allowHosts: ['*.partner.example'] })).toEqual([]);
    expect(httpToolProblems(parse(), { ...reach, allowHosts: ['api.partner.example:8443'] })).toEqual([
      "url: api.partner.example is not in the bundle's network.allowHosts",
    ]);
    expect(httpToolProblems(parse(), { ...reach, allowHosts: [] })).toHaveLength(1);
  });

  it('does not police kind against method', () => {
    expect(httpToolProblems(parse({ kind: 'destructive' }), reach)).toEqual([]);
    expect(httpToolProblems(parse({ method: 'POST', kind: 'read' }), reach)).toEqual([]);
  });

  it('names the secrets the headers carry, each once', () => {
    expect(httpToolSecretNames(parse({ headers: { A: { secret: 'ONE' }, B: { secret: 'ONE' }, C: 'plain', D: { secret: 'TWO' } } }))).toEqual(['ONE', 'TWO']);
    expect(httpToolSecretNames(parse({ headers: undefined }))).toEqual([]);
  });
});

describe('expandHttpRequest', () => {
  it('percent-encodes placeholders, so a value cannot add path segments or query parameters', () => {
    const plan = expandHttpRequest(parse(), { order_id: '../admin?x=1#f', expand: 'a b&c=d/é' });
    expect(plan).toEqual({
      method: 'GET',
      url: 'https://api.partner.example/v1/orders/..%2Fadmin%3Fx%3D1%23f?expand=a%20b%26c%3Dd%2F%C3%A9',
      query: [],
    });
    expect(new URL(plan.url).pathname).toBe('/v1/orders/..%2Fadmin%3Fx%3D1%23f');
  });

  it('puts the other arguments in the query string for GET and DELETE', () => {
    const plan = expandHttpRequest(parse({ method: 'DELETE' }), {
      order_id: 42, expand: 'items', limit: 5, tags: ['a', 'b&c'], filter: { min: 1 }, none: null, gone: undefined, yes: true,
    });
    expect(plan.url).toBe('https://api.partner.example/v1/orders/42?expand=items&limit=5&tags=a&tags=b%26c&filter=%7B%22min%22%3A1%7D&yes=true');
    expect(plan.query).toEqual([['limit', '5'], ['tags', 'a'], ['tags', 'b&c'], ['filter', '{"min":1}'], ['yes', 'true']]);
    expect(plan.body).toBeUndefined();
  });

  it('puts the other arguments in a JSON body for POST, PUT and PATCH', () => {
    for (const method of ['POST', 'PUT', 'PATCH'] as const) {
      const decl = parse({ method, url: 'https://api.partner.example/v1/orders/{order_id}/refunds' });
      const plan = expandHttpRequest(decl, { order_id: '7', amount_cents: 500, reason: 'late "delivery"' });
      expect(plan).toEqual({
        method, url: 'https://api.partner.example/v1/orders/7/refunds', query: [], body: JSON.stringify({ amount_cents: 500, reason: 'late "delivery"' }),
      });
    }
    expect(expandHttpRequest(parse({ method: 'POST', url: 'https://api.partner.example/ping' }), {}).body).toBe('{}');
  });

  it.each([
    ['a missing placeholder argument', { expand: 'x' }, /needs the argument "order_id" as a string or number/],
    ['an object in a placeholder', { order_id: { id: 1 }, expand: 'x' }, /needs the argument "order_id"/],
    ['a non-finite number', { order_id: Number.NaN, expand: 'x' }, /needs the argument "order_id"/],
    ['an empty path value', { order_id: '', expand: 'x' }, /"order_id" is empty/],
    ['a value that is ".."', { order_id: '..', expand: 'x' }, /path segment "\." or "\.\."/],
    ['a value that is "."', { order_id: '.', expand: 'x' }, /path segment/],
  ])('refuses %s', (_what, args, message) => {
    expect(() => expandHttpRequest(parse(), args)).toThrow(HttpToolArgumentError);
    expect(() => expandHttpRequest(parse(), args)).toThrow(message);
  });

  it('allows an empty value in the query', () => {
    expect(expandHttpRequest(parse(), { order_id: '1', expand: '' }).url).toBe('https://api.partner.example/v1/orders/1?expand=');
  });
});
