/**
 * How Bosun runs the user's tools, through the whole stack: the registry (GET /v1/tools), runs
 * that wait `queued` for a worker with their tools, reads of one step running together, results
 * too long for the model, a tool's own retry policy, sandbox runs, and HTTP tools declared in a
 * bundle reaching only their allow-listed endpoint, with approval and an Idempotency-Key.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAgentsDir, orderClerkAgent, type TestAgent } from '../support/agentsDir';
import { listenLocally, type LocalServer } from '../support/localServer';
import { countRefunds } from '../support/testStack';
import { useTestStack } from '../support/useTestStack';

const runtimeAgent: TestAgent = {
  prompt: 'You exercise tools.',
  bundle: {
    model: { id: 'gpt-4o-mini' },
    tools: [
      { name: 'meet_peer', version: 1 }, { name: 'big_report', version: 1 }, { name: 'flaky_lookup', version: 1 },
      { name: 'send_email', version: 1, approval: 'never' },
    ],
    limits: { maxSteps: 4 },
  },
};

const call = (name: string, args = '{}') => ({ name, arguments: args });
const script = {
  rules: [
    { when: { role: 'user' as const, matches: '^meet' }, reply: { toolCalls: [call('meet_peer'), call('meet_peer')] } },
    { when: { role: 'user' as const, matches: '^report (\\d+)' }, reply: { toolCalls: [call('big_report', '{"size":$1}')] } },
    { when: { role: 'user' as const, matches: '^flaky' }, reply: { toolCalls: [call('flaky_lookup')] } },
    { when: { role: 'user' as const, matches: '^email' }, reply: { toolCalls: [call('send_email', '{"to":"ada@example.com"}')] } },
    { when: { role: 'user' as const, matches: '^extra' }, reply: { toolCalls: [call('needs_a_worker')] } },
    { when: { role: 'user' as const, matches: '^refund (\\d+)' }, reply: { toolCalls: [call('issue_refund', '{"order_id":"$1","amount_cents":100}')] } },
    { when: { role: 'user' as const, matches: '^ticket (\\w+)' }, reply: { toolCalls: [call('create_ticket', '{"subject":"$1"}')] } },
    { when: { role: 'tool' as const, matches: '"error":"([^"]*)"' }, reply: { content: 'error: $1' } },
    { when: { role: 'tool' as const, tool: 'meet_peer' }, reply: { content: 'met' } },
    { when: { role: 'tool' as const, tool: 'big_report', matches: 'whole result is stored' }, reply: { content: 'report cut' } },
    { when: { role: 'tool' as const, tool: 'flaky_lookup', matches: '"attempts":(\\d+)' }, reply: { content: 'attempts $1' } },
    { when: { role: 'tool' as const, tool: 'send_email', matches: '"mode":"(\\w+)"' }, reply: { content: 'mode $1' } },
    { when: { role: 'tool' as const, tool: 'needs_a_worker' }, reply: { content: 'extra done' } },
    { when: { role: 'tool' as const, tool: 'create_ticket', matches: '"status":(\\d+)' }, reply: { content: 'ticket status $1' } },
  ],
};

describe('the tool runtime', () => {
  const agents = makeAgentsDir({ runtime: runtimeAgent, clerk: orderClerkAgent });
  const stack = useTestStack({
    script,
    agentsDir: agents.dir,
    workerEnv: { BOSUN_TOOL_MODULES: './examples/support-tools,./test/fixtures/toolPacks/runtime.ts', BOSUN_TOOL_RESULT_MAX_CHARS: '2000' },
  });
  afterAll(() => agents.remove());

  const runTo = async (input: string, extra: Record<string, unknown> = {}) => {
    const res = await stack.api('POST', '/v1/runs', { agent: 'runtime', input, ...extra });
    expect(res.status).toBe(202);
    return stack.waitForRun(res.body.runId, (r) => ['completed', 'failed'].includes(r.status));
  };

  it('lists the registered tools with their schemas and the live builds that have them', async () => {
    const { status, body } = await stack.api('GET', '/v1/tools');
    expect(status).toBe(200);
    const meet = body.tools.find((t: any) => t.name === 'meet_peer');
    expect(meet).toMatchObject({ version: 1, manifest: { kind: 'read', parameters: { type: 'object' }, source: { type: 'worker' } } });
    expect(meet.builds).toEqual([expect.objectContaining({ buildId: 'unversioned', live: true })]);
    expect(body.tools.map((t: any) => t.name)).toEqual(expect.arrayContaining(['http_fetch', 'lookup_order', 'issue_refund', 'send_email']));
  });

  it('runs the read calls of one step together', async () => {
    const run = await runTo('meet');
    expect(run.output).toBe('met');
    expect(run.steps.filter((s: any) => s.kind === 'tool').map((s: any) => s.status)).toEqual(['ok', 'ok']);
  });

  it('cuts a long result for the model with a note, and keeps the whole of it', async () => {
    const run = await runTo('report 50000');
    expect(run.output).toBe('report cut');
    const { rows: [message] } = await stack.db.query(`SELECT content FROM run_messages WHERE run_id = $1 AND role = 'tool'`, [run.runId]);
    const shown = JSON.parse(message.content);
    expect(shown.note).toMatch(/only the first 2000 are shown/);
    expect(shown.partial_result).toHaveLength(2000);
    const { rows: [whole] } = await stack.db.query('SELECT content FROM tool_call_outputs WHERE run_id = $1', [run.runId]);
    expect(JSON.parse(whole.content).report).toHaveLength(50_000);
  });

  it("retries a failing tool by its own retry policy", async () => {
    const run = await runTo('flaky');
    expect(run.output).toBe('attempts 3');
  });

  it('runs a write tool live in a normal run and its sandbox implementation in a sandbox run', async () => {
    expect((await runTo('email')).output).toBe('mode live');
    expect((await runTo('email', { sandbox: true })).output).toBe('mode sandbox');
  });

  it('never runs the live handler of a write tool without a sandbox in a sandbox run, approved or not', async () => {
    const res = await stack.api('POST', '/v1/runs', { agent: 'clerk', input: 'refund 1002', sandbox: true });
    const parked = await stack.waitForStatus(res.body.runId, 'awaiting_approval');
    await stack.decide(parked.runId, parked.pendingApprovals[0].approvalId, 'approve');
    const run = await stack.waitForStatus(parked.runId, 'completed');
    expect(run.output).toMatch(/^error: issue_refund was not run: this is a sandbox run/);
    expect(await countRefunds(stack.db, run.runId)).toBe(0);
  });

  describe('a tool no live worker has', () => {
    const extraEnv = { BOSUN_TOOL_MODULES: './test/fixtures/toolPacks/extra.ts' };
    let bundleId: string;

    beforeAll(async () => {
      const extra = await stack.startWorker(extraEnv);
      const published = await stack.api('POST', '/v1/bundles', {
        name: 'extra', systemPrompt: 'You need a worker.', model: { id: 'gpt-4o-mini' },
        tools: [{ name: 'needs_a_worker', version: 1 }], limits: { maxSteps: 3 },
      });
      expect(published.status).toBe(201);
      bundleId = published.body.bundleId;
      await extra.stop();
      // As if that worker had been gone for an hour: its registration is no longer live.
      await stack.db.query(`UPDATE tool_registrations SET last_seen_at = now() - interval '1 hour' WHERE name = 'needs_a_worker'`);
    });

    it('waits queued, saying which tool it waits for, and runs once a worker with it starts', async () => {
      const res = await stack.api('POST', '/v1/runs', { agent: 'extra', bundleId, input: 'extra' });
      expect(res.status).toBe(202);
      const waiting = await stack.waitForRun(res.body.runId, (r) => r.waitingFor !== null);
      expect(waiting).toMatchObject({ status: 'queued', waitingFor: expect.stringMatching(/^a worker with needs_a_worker@1#[0-9a-f]{16}$/) });
      await stack.startWorker(extraEnv);
      const done = await stack.waitForStatus(res.body.runId, 'completed');
      expect(done).toMatchObject({ output: 'extra done', waitingFor: null });
    });
  });

  describe('an HTTP tool declared in the bundle', () => {
    let server: LocalServer;
    const received: { method?: string; path?: string; idempotencyKey?: string; body: string }[] = [];

    beforeAll(async () => {
      server = await listenLocally(http.createServer((req, res) => {
        let body = '';
        req.on('data', (chunk) => (body += chunk));
        req.on('end', () => {
          received.push({ method: req.method, path: req.url, idempotencyKey: req.headers['idempotency-key'] as string | undefined, body });
          res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 7 }));
        });
      }));
    });
    afterAll(() => server?.close());

    const ticketer = (host: string) => ({
      name: 'ticketer', systemPrompt: 'You file tickets.', model: { id: 'gpt-4o-mini' }, tools: [], limits: { maxSteps: 3 },
      network: { allowHosts: [`127.0.0.1:${server.port}`], allowPrivate: true },
      httpTools: [{
        name: 'create_ticket', description: 'Files a ticket.', method: 'POST', url: `http://${host}/tickets`, kind: 'write',
        args: { type: 'object', properties: { subject: { type: 'string', maxLength: 100 } }, required: ['subject'], additionalProperties: false },
      }],
    });

    it('is refused at publish when its host is not allow-listed', async () => {
      const res = await stack.api('POST', '/v1/bundles', ticketer('127.0.0.2:9'));
      expect(res.status).toBe(400);
      expect(res.body.error.problems).toEqual([expect.stringMatching(/^httpTools\.0\.url: .*127\.0\.0\.2:9/)]);
    });

    it('waits for approval, then sends one request with the idempotency key', async () => {
      const published = await stack.api('POST', '/v1/bundles', ticketer(`127.0.0.1:${server.port}`));
      expect(published.status).toBe(201);
      expect(published.body.bundle.pinnedTools).toEqual([expect.objectContaining({ name: 'create_ticket', kind: 'write', source: { type: 'http' } })]);
      const res = await stack.api('POST', '/v1/runs', { agent: 'ticketer', bundleId: published.body.bundleId, input: 'ticket printer' });
      const parked = await stack.waitForStatus(res.body.runId, 'awaiting_approval');
      expect(received).toEqual([]);
      expect(parked.pendingApprovals[0]).toMatchObject({ tool: 'create_ticket', arguments: { subject: 'printer' } });
      await stack.decide(parked.runId, parked.pendingApprovals[0].approvalId, 'approve');
      const run = await stack.waitForStatus(parked.runId, 'completed');
      expect(run.output).toBe('ticket status 201');
      expect(received).toEqual([{ method: 'POST', path: '/tickets', idempotencyKey: expect.stringContaining(parked.runId), body: '{"subject":"printer"}' }]);
    });
  });
});
