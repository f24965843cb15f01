/**
 * MCP tools over real transports: the SDK's streamable HTTP server and a stdio server process, a
 * hand-written endpoint for listings no honest server sends. Listing pins granted tools; the pool
 * calls them, refuses drifted ones, survives server restarts and keeps secrets out of what it returns.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMcpPool, listMcpTools, McpServerProblem, type McpContext, type McpPool } from '../../src/activities/tools/mcp';
import { schemaHashOf } from '../../src/bundles/bundleId';
import { mcpServerSchema, type McpServerDeclaration } from '../../src/shared/mcp';
import { startDocsMcpServer, startRawMcpServer, type DocsMcpServer } from '../support/mcpServers';

const token = `docs-${randomUUID()}`;
const stdioToken = `stdio-${randomUUID()}`;
const stdioScript = path.resolve(__dirname, '../support/mcpStdioServer.ts');

const httpDecl = (url: string, tools = ['search_docs', 'delete_doc', 'tag_doc']): McpServerDeclaration =>
  mcpServerSchema.parse({ name: 'docs', url, headers: { Authorization: { secret: 'DOCS_TOKEN', scheme: 'Bearer' } }, tools: tools.map((name) => ({ name })) });
const stdioDecl = (command = process.execPath): McpServerDeclaration =>
  mcpServerSchema.parse({ name: 'local', command, args: ['--import', 'tsx', stdioScript], env: { STDIO_TOKEN: { secret: 'STDIO_TOKEN' } }, tools: [{ name: 'whoami' }, { name: 'add' }, { name: 'crash' }] });
const contextFor = (port: number, overrides: Partial<McpContext> = {}): McpContext & { signal: AbortSignal } => ({
  secrets: { DOCS_TOKEN: token, STDIO_TOKEN: stdioToken },
  network: { allowHosts: [`127.0.0.1:${port}`], allowPrivate: true },
  stdioCommands: [process.execPath],
  signal: new AbortController().signal,
  ...overrides,
});
/** Bounded polling: true once `check` holds, false after `tries` looks. */
async function eventually(check: () => boolean, tries = 200): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

describe('MCP tools over streamable HTTP', () => {
  let server: DocsMcpServer;
  let pool: McpPool;
  beforeAll(async () => (server = await startDocsMcpServer({ requireAuthorization: `Bearer ${token}` })));
  afterAll(() => server?.close());
  afterEach(() => pool?.close());

  it('pins each granted tool with its kind from the hints and a stable schema hash', async () => {
    const ctx = contextFor(server.port);
    const pins = await listMcpTools(httpDecl(server.url), ctx);
    expect(pins.map((p) => [p.name, p.kind])).toEqual([['docs__search_docs', 'read'], ['docs__delete_doc', 'destructive'], ['docs__tag_doc', 'write']]);
    const search = pins[0]!;
    expect(search.inputSchema).toMatchObject({ type: 'object', properties: { query: { type: 'string' } } });
    expect(search.annotations).toEqual({ readOnlyHint: true });
    expect(search.schemaHash).toBe(schemaHashOf({ inputSchema: search.inputSchema, annotations: search.annotations, description: search.description }));
    expect((await listMcpTools(httpDecl(server.url), ctx)).map((p) => p.schemaHash)).toEqual(pins.map((p) => p.schemaHash));
  });

  it('refuses a listing that lacks granted tools, naming every one', async () => {
    const listing = listMcpTools(httpDecl(server.url, ['search_docs', 'publish_doc', 'purge_all']), contextFor(server.port));
    await expect(listing).rejects.toThrow(McpServerProblem);
    await expect(listing).rejects.toThrow('the MCP server "docs" does not list the granted tools "publish_doc", "purge_all"');
  });

  it('calls tools with the secret header, and never returns the secret', async () => {
    pool = createMcpPool();
    const ctx = contextFor(server.port);
    const [search, del] = await listMcpTools(httpDecl(server.url), ctx);
    const before = server.calls.get('search_docs') ?? 0;
    expect(await pool.callTool(httpDecl(server.url), search!, { query: 'refunds' }, ctx)).toEqual({ ok: true, output: { hits: ['refunds-1', 'refunds-2'] } });
    expect(await pool.callTool(httpDecl(server.url), del!, { id: 'd1' }, ctx)).toEqual({ ok: true, output: { text: 'deleted d1\n[image image/png, 8 bytes, not shown]' } });
    expect(server.calls.get('search_docs')).toBe(before + 1);
    expect(server.requests.every((h) => h.authorization === `Bearer ${token}`)).toBe(true);

    const echoed = await pool.callTool(httpDecl(server.url), search!, { query: 'echo-auth' }, ctx);
    expect(echoed).toEqual({ ok: true, output: { text: 'you sent Bearer [secret:DOCS_TOKEN]' } });
    expect(JSON.stringify(echoed)).not.toContain(token);
  });

  it('keeps two tenants\' credentials in separate sessions', async () => {
    pool = createMcpPool();
    const other = `other-${randomUUID()}`;
    const openServer = await startDocsMcpServer();
    try {
      const [search] = await listMcpTools(httpDecl(openServer.url), contextFor(openServer.port));
      const initializations = () => openServer.requests.filter((h) => h['mcp-session-id'] === undefined);
      const before = initializations().length;
      for (const secret of [token, other, token, other]) {
        const ctx = contextFor(openServer.port, { secrets: { DOCS_TOKEN: secret } });
        expect((await pool.callTool(httpDecl(openServer.url), search!, { query: 'q' }, ctx)).ok).toBe(true);
      }
      expect(initializations().slice(before).map((h) => h.authorization)).toEqual([`Bearer ${token}`, `Bearer ${other}`]);
    } finally {
      await openServer.close();
    }
  });

  it('answers isError results as ok: false with their text, and cuts long output', async () => {
    pool = createMcpPool({ maxOutputChars: 1000 });
    const ctx = contextFor(server.port);
    const [search, , tag] = await listMcpTools(httpDecl(server.url), ctx);
    expect(await pool.callTool(httpDecl(server.url), tag!, { id: 'd1', tag: 'bad' }, ctx)).toEqual({ ok: false, output: { error: 'tag "bad" is not allowed' } });
    expect(await pool.callTool(httpDecl(server.url), search!, { query: 'huge' }, ctx)).toEqual({
      ok: true,
      output: { text: 'x'.repeat(1000), truncated: true, note: 'cut at 1000 characters' },
    });
  });

  it('reopens a session the server lost in a restart, transparently', async () => {
    pool = createMcpPool();
    const ctx = contextFor(server.port);
    const [, , tag] = await listMcpTools(httpDecl(server.url), ctx);
    expect((await pool.callTool(httpDecl(server.url), tag!, { id: 'd1', tag: 'a' }, ctx)).ok).toBe(true);
    await server.restart();
    expect(await pool.callTool(httpDecl(server.url), tag!, { id: 'd1', tag: 'b' }, ctx)).toEqual({ ok: true, output: { text: 'tagged d1 with b' } });
  });

  it('refuses, without calling it, a tool that changed since the pin', async () => {
    const drifting = await startDocsMcpServer();
    pool = createMcpPool();
    try {
      const ctx = contextFor(drifting.port);
      const [search] = await listMcpTools(httpDecl(drifting.url), ctx);
      expect((await pool.callTool(httpDecl(drifting.url), search!, { query: 'a' }, ctx)).ok).toBe(true);
      drifting.changeSearchDocs();
      await drifting.restart();
      const now = (await listMcpTools(httpDecl(drifting.url), ctx))[0]!.schemaHash;
      expect(now).not.toBe(search!.schemaHash);
      expect(await pool.callTool(httpDecl(drifting.url), search!, { query: 'b' }, ctx)).toEqual({
        ok: false,
        output: { error: `the MCP server "docs" changed tool "search_docs" since the bundle was published (pinned ${search!.schemaHash}, now ${now}); it was not called` },
      });
      expect(drifting.calls.get('search_docs')).toBe(1);
    } finally {
      await drifting.close();
    }
  });

  it('refuses a host off the allow-list, and a loopback address without allowPrivate, before connecting', async () => {
    pool = createMcpPool();
    const pin = { tool: 'search_docs', schemaHash: 'whatever' };
    const requests = server.requests.length;
    for (const network of [{ allowHosts: ['api.example.com'] }, { allowHosts: [`127.0.0.1:${server.port}`] }]) {
      const ctx = contextFor(server.port, { network });
      await expect(listMcpTools(httpDecl(server.url), ctx)).rejects.toThrow(/refused: .*(not on this agent's network allow-list|loopback address)/);
      const outcome = await pool.callTool(httpDecl(server.url), pin, { query: 'x' }, ctx);
      expect(outcome).toMatchObject({ ok: false, output: { error: expect.stringMatching(/^could not open a session with the MCP server "docs": refused: /) } });
    }
    expect(server.requests.length).toBe(requests);
  });

  it('rejects with the abort reason when the run is cancelled mid-call', async () => {
    const hanging = await startRawMcpServer([{ name: 'slow', inputSchema: { type: 'object' } }], 'hang');
    pool = createMcpPool();
    try {
      // The call's own timeout far beyond the test's: only the cancellation can end it in time.
      const decl = mcpServerSchema.parse({ name: 'slow', url: hanging.url, tools: [{ name: 'slow' }], timeoutMs: 600_000 });
      const ctx = contextFor(hanging.port);
      const [pin] = await listMcpTools(decl, ctx);
      const cancel = new AbortController();
      const call = pool.callTool(decl, pin!, {}, { ...ctx, signal: cancel.signal });
      expect(await eventually(() => hanging.methods.includes('tools/call'))).toBe(true);
      cancel.abort(new Error('run cancelled'));
      await expect(call).rejects.toThrow('run cancelled');
      // The SDK tells the server, and the session stays open long enough to say it.
      expect(await eventually(() => hanging.methods.includes('notifications/cancelled'))).toBe(true);
    } finally {
      await hanging.close();
    }
  });
});

describe('MCP tools over stdio', () => {
  let pool: McpPool;
  afterEach(() => pool?.close());
  const ctx = contextFor(0);

  it('lists, calls with the secret in its environment, and starts the server again after it died', async () => {
    pool = createMcpPool();
    const pins = await listMcpTools(stdioDecl(), ctx);
    expect(pins.map((p) => [p.name, p.kind])).toEqual([['local__whoami', 'read'], ['local__add', 'read'], ['local__crash', 'destructive']]);
    const [whoami, add, crash] = pins;
    expect(await pool.callTool(stdioDecl(), add!, { a: 2, b: 3 }, ctx)).toEqual({ ok: true, output: { sum: 5 } });
    const first = await pool.callTool(stdioDecl(), whoami!, {}, ctx);
    expect(first).toMatchObject({ ok: true, output: { text: expect.stringMatching(/^token \[secret:STDIO_TOKEN\], pid \d+$/) } });
    expect(JSON.stringify(first)).not.toContain(stdioToken);

    expect(await pool.callTool(stdioDecl(), crash!, {}, ctx)).toMatchObject({ ok: false, output: { error: expect.stringMatching(/"local"/) } });
    const again = await pool.callTool(stdioDecl(), whoami!, {}, ctx);
    expect(again.ok).toBe(true);
    const pidOf = (outcome: { output: unknown }) => (outcome.output as { text: string }).text.split('pid ')[1];
    expect(pidOf(again)).not.toBe(pidOf(first));
  });

  it('refuses a command the operator did not allow', async () => {
    pool = createMcpPool();
    const refused = /refused: the stdio command ".*" of the MCP server "local" is not on this worker's allow-list of MCP commands/;
    await expect(listMcpTools(stdioDecl('/bin/sh'), ctx)).rejects.toThrow(refused);
    expect(await pool.callTool(stdioDecl('/bin/sh'), { tool: 'whoami', schemaHash: 'x' }, {}, ctx)).toMatchObject({ ok: false, output: { error: expect.stringMatching(refused) } });
  });
});

describe('hostile MCP listings end in a clear error', () => {
  const tool = (over: Record<string, unknown>) => ({ name: 'lookup', inputSchema: { type: 'object', properties: {} }, ...over });
  // As JSON text: JSON.stringify itself would overflow the stack at this depth.
  const nested = `[{"name":"lookup","inputSchema":${'{"type":"object","properties":{"x":'.repeat(5000)}{"type":"string"}${'}}'.repeat(5000)}}]`;

  it.each([
    ['a schema that is not an object schema', [tool({ inputSchema: { type: 'string' } })], /lists tool "lookup" with an invalid inputSchema.type/],
    ['no schema at all', [tool({ inputSchema: undefined })], /lists tool "lookup" with an invalid inputSchema/],
    ['a schema over 64 KB', [tool({ inputSchema: { type: 'object', description: 'y'.repeat(70_000) } })], /an input schema of \d+ bytes \(at most 65536\)/],
    ['U+0000 in the description', [tool({ description: 'look\u0000up' })], /U\+0000 or a lone surrogate/],
    ['a schema nested 5000 deep', nested, /nested deeper than 64 levels/],
    ['annotations of the wrong type', [tool({ annotations: { readOnlyHint: 'yes' } })], /invalid annotations.readOnlyHint/],
    ['a tool list that is not a list', { lookup: {} }, /sent a malformed tool list/],
  ])('%s', async (_, tools, problem) => {
    const raw = await startRawMcpServer(tools);
    try {
      const decl = mcpServerSchema.parse({ name: 'hostile', url: raw.url, tools: [{ name: 'lookup' }] });
      await expect(listMcpTools(decl, contextFor(raw.port))).rejects.toThrow(problem);
    } finally {
      await raw.close();
    }
  });

  it('ignores odd tools it was not asked for', async () => {
    const raw = await startRawMcpServer([{ name: 'we\u0000ird/../name', inputSchema: { type: 'string' } }, tool({})]);
    try {
      const decl = mcpServerSchema.parse({ name: 'hostile', url: raw.url, tools: [{ name: 'lookup' }] });
      expect((await listMcpTools(decl, contextFor(raw.port))).map((p) => p.name)).toEqual(['hostile__lookup']);
    } finally {
      await raw.close();
    }
  });

  it('gives up on an answer too large, and on a server that never answers', async () => {
    const big = await startRawMcpServer([tool({}), ...Array.from({ length: 200 }, (_, i) => tool({ name: `t${i}`, description: 'z'.repeat(10_000) }))]);
    const silent = await startRawMcpServer([tool({})], 'hang', { hangOnList: true });
    try {
      const declOf = (url: string) => mcpServerSchema.parse({ name: 'hostile', url, tools: [{ name: 'lookup' }] });
      await expect(listMcpTools(declOf(big.url), contextFor(big.port), { maxResponseBytes: 100_000 })).rejects.toThrow(/more than 100000 bytes/);
      await expect(listMcpTools(declOf(silent.url), contextFor(silent.port), { timeoutMs: 300 })).rejects.toThrow(/listing the tools of the MCP server "hostile" failed: .*timed out/i);
    } finally {
      await Promise.all([big.close(), silent.close()]);
    }
  });
});
