/**
 * MCP servers as tool sources, through the whole stack: a bundle grants tools of a streamable HTTP
 * server (behind a credential from the secret store) and of a stdio server; publishing pins their
 * schemas, a destructive tool waits for approval, an upstream schema change fails the call instead
 * of running it, and the credential never reaches the model or an answer of the API.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDocsMcpServer, type DocsMcpServer } from '../support/mcpServers';
import { useTestStack } from '../support/useTestStack';

const docsToken = `docs-${randomUUID()}`;
const stdioScript = path.resolve(__dirname, '../support/mcpStdioServer.ts');

const call = (name: string, args: string) => ({ toolCalls: [{ name, arguments: args }] });
const script = {
  rules: [
    { when: { role: 'user' as const, matches: '^search (\\w+)' }, reply: call('docs__search_docs', '{"query":"$1"}') },
    { when: { role: 'user' as const, matches: '^delete (\\w+)' }, reply: call('docs__delete_doc', '{"id":"$1"}') },
    { when: { role: 'user' as const, matches: '^add (\\d+) (\\d+)' }, reply: call('local__add', '{"a":$1,"b":$2}') },
    { when: { role: 'tool' as const, matches: '"error":"([^"]*)"' }, reply: { content: 'error: $1' } },
    { when: { role: 'tool' as const, tool: 'docs__search_docs', matches: '"hits":\\["(\\w+)' }, reply: { content: 'found $1' } },
    { when: { role: 'tool' as const, tool: 'docs__delete_doc', matches: 'deleted (\\w+)' }, reply: { content: 'deleted $1' } },
    { when: { role: 'tool' as const, tool: 'local__add', matches: '"sum":(\\d+)' }, reply: { content: 'sum $1' } },
  ],
};

describe('MCP servers granted by a bundle', () => {
  let docs: DocsMcpServer;
  const stack = useTestStack(() => ({
    script,
    env: {
      BOSUN_SECRET_DOCS_TOKEN: docsToken,
      BOSUN_SECRET_STDIO_TOKEN: 'stdio-token',
      // Tests only: an interpreter lets a bundle run anything; operators list wrapper programs.
      BOSUN_MCP_STDIO_COMMANDS: process.execPath,
    },
  }));
  beforeAll(async () => (docs = await startDocsMcpServer({ requireAuthorization: `Bearer ${docsToken}` })));
  afterAll(() => docs?.close());

  const bundle = (tools = [{ name: 'search_docs' }, { name: 'delete_doc' }], allowHosts = [`127.0.0.1:${docs.port}`]) => ({
    name: 'librarian', systemPrompt: 'You keep the docs.', model: { id: 'gpt-4o-mini' }, tools: [], limits: { maxSteps: 3 },
    secrets: ['DOCS_TOKEN', 'STDIO_TOKEN'],
    network: { allowHosts, allowPrivate: true },
    mcp: [
      { name: 'docs', url: docs.url, headers: { Authorization: { secret: 'DOCS_TOKEN', scheme: 'Bearer' } }, tools },
      { name: 'local', command: process.execPath, args: ['--import', 'tsx', stdioScript], env: { STDIO_TOKEN: { secret: 'STDIO_TOKEN' } }, tools: [{ name: 'add' }] },
    ],
  });
  let bundleId: string;
  const run = async (input: string) => {
    const res = await stack.api('POST', '/v1/runs', { agent: 'librarian', bundleId, input });
    expect(res.status).toBe(202);
    return res.body.runId as string;
  };

  it('pins the granted tools of both servers at publish, kinds from their hints', async () => {
    const res = await stack.api('POST', '/v1/bundles', bundle());
    expect(res.status).toBe(201);
    bundleId = res.body.bundleId;
    expect(res.body.bundle.pinnedTools.map((p: any) => [p.name, p.kind, p.source])).toEqual([
      ['docs__search_docs', 'read', { type: 'mcp', server: 'docs', tool: 'search_docs' }],
      ['docs__delete_doc', 'destructive', { type: 'mcp', server: 'docs', tool: 'delete_doc' }],
      ['local__add', 'read', { type: 'mcp', server: 'local', tool: 'add' }],
    ]);
    expect(JSON.stringify(res.body)).not.toContain(docsToken);
  });

  it('refuses at publish a server off the allow-list and a granted tool the server does not have, listing both', async () => {
    const res = await stack.api('POST', '/v1/bundles', { ...bundle([{ name: 'search_docs' }, { name: 'rename_doc' }]) });
    expect(res.status).toBe(400);
    expect(res.body.error.problems).toEqual([expect.stringMatching(/^mcp\.0: .*does not list the granted tool "rename_doc"/)]);
    const offList = await stack.api('POST', '/v1/bundles', bundle(undefined, ['docs.example']));
    expect(offList.status).toBe(400);
    expect(offList.body.error.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^mcp\.0\.url: 127\.0\.0\.1:\d+ is not in network\.allowHosts/)]));
  });

  it('calls a read tool at once, over HTTP and over stdio', async () => {
    expect((await stack.waitForStatus(await run('search bosun'), 'completed')).output).toBe('found bosun');
    expect((await stack.waitForStatus(await run('add 2 40'), 'completed')).output).toBe('sum 42');
  });

  it('holds a destructive tool for approval, then calls it once', async () => {
    const before = docs.calls.get('delete_doc') ?? 0;
    const parked = await stack.waitForStatus(await run('delete handbook'), 'awaiting_approval');
    expect(parked.pendingApprovals[0]).toMatchObject({ tool: 'docs__delete_doc', arguments: { id: 'handbook' }, risk: { kind: 'destructive' } });
    expect(docs.calls.get('delete_doc') ?? 0).toBe(before);
    await stack.decide(parked.runId, parked.pendingApprovals[0].approvalId, 'approve');
    const done = await stack.waitForStatus(parked.runId, 'completed');
    expect(done.output).toBe('deleted handbook');
    expect(docs.calls.get('delete_doc')).toBe(before + 1);
    const events = await stack.db.query('SELECT data FROM run_events WHERE run_id = $1', [parked.runId]);
    const messages = await stack.db.query('SELECT content FROM run_messages WHERE run_id = $1', [parked.runId]);
    expect(JSON.stringify([done, events.rows, messages.rows])).not.toContain(docsToken);
  });

  it('fails the call with a clear error when the server changed the tool since publish, and does not call it', async () => {
    docs.changeSearchDocs();
    await docs.restart();
    const before = docs.calls.get('search_docs') ?? 0;
    const done = await stack.waitForStatus(await run('search drift'), 'completed');
    expect(done.output).toMatch(/^error: /);
    const { rows: [told] } = await stack.db.query(`SELECT content FROM run_messages WHERE run_id = $1 AND role = 'tool'`, [done.runId]);
    expect(JSON.parse(told.content).error).toMatch(/^the MCP server "docs" changed tool "search_docs" since the bundle was published \(pinned [0-9a-f]+, now [0-9a-f]+\); it was not called/);
    expect(docs.calls.get('search_docs') ?? 0).toBe(before);
  });
});
