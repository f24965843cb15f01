import { describe, expect, it } from 'vitest';
import { kindOf } from '../../src/activities/tools/mcp';
import { mcpServerProblems, mcpServerSchema, mcpToolName, type McpServerDeclaration } from '../../src/shared/mcp';

const http = { name: 'docs', url: 'https://mcp.example.com/mcp', headers: { Authorization: { secret: 'DOCS_TOKEN', scheme: 'Bearer' } }, tools: [{ name: 'search_docs' }] };
const stdio = { name: 'local', command: 'mcp-files', args: ['--root', '/srv'], env: { FILES_TOKEN: { secret: 'FILES_TOKEN' } }, tools: [{ name: 'read_file', approval: 'never' }] };
const problemsOf = (decl: unknown, bundle = { secrets: ['DOCS_TOKEN', 'FILES_TOKEN'], allowHosts: ['mcp.example.com'] }) =>
  mcpServerProblems(mcpServerSchema.parse(decl), bundle);
const issuesOf = (decl: unknown) => {
  const parsed = mcpServerSchema.safeParse(decl);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('MCP server declarations', () => {
  it('accepts an HTTP and a stdio server', () => {
    expect(issuesOf(http)).toEqual([]);
    expect(issuesOf(stdio)).toEqual([]);
    expect(issuesOf({ ...http, tools: [{ name: 'a', approval: { above: { field: 'amount', value: 100 } } }], timeoutMs: 5000 })).toEqual([]);
  });

  it.each([
    ['both url and command', { ...http, command: 'x' }, /exactly one of url \(streamable HTTP\) and command \(stdio\)/],
    ['neither url nor command', { name: 'x', tools: [{ name: 'a' }] }, /exactly one of url/],
    ['headers on a stdio server', { ...stdio, headers: http.headers }, /headers are for HTTP servers/],
    ['env on an HTTP server', { ...http, env: stdio.env }, /args and env are for stdio servers/],
    ['args on an HTTP server', { ...http, args: ['x'] }, /args and env are for stdio servers/],
    ['a name with capitals', { ...http, name: 'Docs' }, /^name: /],
    ['a name of 32 characters', { ...http, name: `a${'b'.repeat(31)}` }, /^name: /],
    ['a name with an underscore', { ...http, name: 'my_docs' }, /^name: /],
    ['a URL that is not http(s)', { ...http, url: 'file:///etc/passwd' }, /^url: /],
    ['a URL that is not a URL', { ...http, url: 'not a url' }, /^url: /],
    ['a URL with credentials', { ...http, url: 'https://user:pw@mcp.example.com/' }, /^url: a URL without credentials/],
    ['a lower-case secret name', { ...http, headers: { Authorization: { secret: 'token' } } }, /^headers.Authorization.secret: /],
    ['a header the transport sets', { ...http, headers: { 'Mcp-Session-Id': { secret: 'DOCS_TOKEN' } } }, /^headers.Mcp-Session-Id: /],
    ['an env variable that loads code', { ...stdio, env: { NODE_OPTIONS: { secret: 'FILES_TOKEN' } } }, /^env.NODE_OPTIONS: /],
    ['no tools', { ...http, tools: [] }, /^tools: /],
    ['an unknown field', { ...http, transport: 'sse' }, /Unrecognized key/],
    ['an unknown field in a tool', { ...http, tools: [{ name: 'a', kind: 'read' }] }, /^tools.0: Unrecognized key/],
    ['an approval rule of the wrong shape', { ...http, tools: [{ name: 'a', approval: 'sometimes' }] }, /^tools.0.approval: /],
    ['a timeout of zero', { ...http, timeoutMs: 0 }, /^timeoutMs: /],
  ])('refuses %s', (_, decl, issue) => {
    expect(issuesOf(decl).join('\n')).toMatch(issue);
  });
});

describe('mcpServerProblems', () => {
  it('finds nothing wrong with a sound declaration', () => {
    expect(problemsOf(http)).toEqual([]);
    expect(problemsOf(stdio, { secrets: ['FILES_TOKEN'], allowHosts: [] })).toEqual([]);
  });

  it('lists every problem at once', () => {
    const decl: McpServerDeclaration = mcpServerSchema.parse({
      name: 'docs',
      url: 'https://mcp.example.com:8443/mcp',
      headers: { Authorization: { secret: 'DOCS_TOKEN' }, 'X-Tenant': { secret: 'TENANT_KEY' } },
      tools: [{ name: 'search' }, { name: 'search' }, { name: 'read.file' }, { name: 'x'.repeat(60) }],
    });
    expect(mcpServerProblems(decl, { secrets: ['DOCS_TOKEN'], allowHosts: ['mcp.example.com', '*.example.com'] })).toEqual([
      'headers.X-Tenant.secret: TENANT_KEY is not listed in secrets',
      'url: mcp.example.com:8443 is not in network.allowHosts',
      'tools.2.name: the model would call it "docs__read.file", which is not 1-64 letters, digits, _ and -',
      `tools.3.name: the model would call it "docs__${'x'.repeat(60)}", which is not 1-64 letters, digits, _ and -`,
    ]);
  });

  it('checks env secrets and matches hosts as http_fetch does (wildcards for subdomains only)', () => {
    expect(problemsOf(stdio, { secrets: [], allowHosts: [] })).toEqual(['env.FILES_TOKEN.secret: FILES_TOKEN is not listed in secrets']);
    expect(problemsOf({ ...http, url: 'https://a.mcp.example.com/' }, { secrets: ['DOCS_TOKEN'], allowHosts: ['*.example.com'] })).toEqual([]);
    expect(problemsOf({ ...http, url: 'https://example.com/' }, { secrets: ['DOCS_TOKEN'], allowHosts: ['*.example.com'] })).toEqual(['url: example.com is not in network.allowHosts']);
    expect(problemsOf(http, { secrets: ['DOCS_TOKEN'], allowHosts: [] })).toEqual(['url: mcp.example.com is not in network.allowHosts']);
  });

  it('names tools <server>__<tool>', () => {
    expect(mcpToolName('docs', 'search_docs')).toBe('docs__search_docs');
  });
});

describe('kindOf (MCP hints as the spec reads them)', () => {
  it.each([
    [{ readOnlyHint: true }, 'read'],
    [{ readOnlyHint: true, destructiveHint: true }, 'read'],
    [{ destructiveHint: false }, 'write'],
    [{ destructiveHint: true }, 'destructive'],
    [{ readOnlyHint: false }, 'destructive'],
    [{}, 'destructive'],
    [undefined, 'destructive'],
  ])('%j → %s', (annotations, kind) => expect(kindOf(annotations)).toBe(kind));
});
