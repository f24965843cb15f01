import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { createToolActivities, type ExecuteToolInput } from '../../src/activities/toolCalls';
import type { Db } from '../../src/db/pool';
import { useTestStack } from '../support/useTestStack';
import { stackTools } from '../support/tools';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';

/** The write tool's at-most-once guarantee, exercised the way Temporal retries and races activities. */
describe('tool calls against PostgreSQL', () => {
  let db: Db;
  const tenantId = newTenantId();
  beforeAll(async () => (db = await openTenantDb(tenantId)));
  afterAll(() => db?.end());

  async function newRefundCall(): Promise<ExecuteToolInput> {
    const runId = await insertTestRun(db, tenantId, 'running', 'Refund order 1003');
    return {
      runId, tenantId, bundleId: 'support@test', step: 1, ordinal: 1, toolCallId: `call_${randomUUID()}`,
      tool: 'issue_refund', args: { order_id: '1003', amount_cents: 100 },
    };
  }

  const refundsOf = async (runId: string) =>
    (await db.query('SELECT count(*)::int AS n FROM refunds WHERE run_id = $1', [runId])).rows[0].n;

  it('writes a refund once however often its activity is retried', async () => {
    const { executeTool } = createToolActivities({ db, tools: stackTools });
    const call = await newRefundCall();
    expect(await executeTool(call)).toBe('ok');
    expect(await executeTool(call)).toBe('ok');
    expect(await executeTool(call)).toBe('ok');
    expect(await refundsOf(call.runId)).toBe(1);
  });

  it('writes a refund once when two attempts race', async () => {
    const { executeTool } = createToolActivities({ db, tools: stackTools });
    const call = await newRefundCall();
    const results = await Promise.all([executeTool(call), executeTool(call), executeTool(call)]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    expect(await refundsOf(call.runId)).toBe(1);
  });

  it('writes nothing when a tool fails half-way (the transaction rolls back)', async () => {
    const { executeTool } = createToolActivities({ db, tools: stackTools });
    const call = await newRefundCall();
    // A constraint on this run alone makes recording the result fail after the refund insert...
    const constraint = `no_steps_${call.runId.replace(/-/g, '')}`;
    await db.query(`ALTER TABLE run_steps ADD CONSTRAINT ${constraint} CHECK (run_id <> '${call.runId}') NOT VALID`);
    try {
      await expect(executeTool(call)).rejects.toThrow(constraint);
    } finally {
      await db.query(`ALTER TABLE run_steps DROP CONSTRAINT ${constraint}`);
    }
    // ...and the refund went with it, so the retry does it exactly once.
    expect(await refundsOf(call.runId)).toBe(0);
    expect(await executeTool(call)).toBe('ok');
    expect(await refundsOf(call.runId)).toBe(1);
  });
});

describe('tool calls the model gets wrong', () => {
  const stack = useTestStack({
      script: {
        rules: [
          { when: { role: 'user', matches: 'sloppy' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":42}' }] } },
          { when: { role: 'user', matches: 'sneaky' }, reply: { toolCalls: [{ name: 'drop_tables', arguments: '{}' }] } },
          { when: { role: 'tool', matches: 'invalid tool call' }, reply: { content: 'That did not work.' } },
        ],
      },
    });

  it.each([
    ['arguments that fail the schema', 'Be sloppy', /order_id: /],
    ['a tool the bundle does not grant', 'Be sneaky', /drop_tables\W+is not available/],
  ])('answers %s with a tool error, and the run goes on', async (_name, input, problem) => {
    const runId = await stack.startRun(input);
    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.output).toBe('That did not work.');
    const toolStep = done.steps.find((s: any) => s.kind === 'tool');
    expect(toolStep.status).toBe('invalid_arguments');
    expect(toolStep.detail.error).toMatch(problem);
    const told = stack.model.requests.at(-1)!.messages.at(-1)!;
    expect(told).toMatchObject({ role: 'tool', content: expect.stringMatching(problem) });
  });

  // A fake model endpoint that gives two gated calls one ID (the scripted model makes unique IDs).
  it('runs or gates a call only once per ID, answering the repeat with a tool error', async () => {
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const messages = JSON.parse(body).messages as { role: string }[];
        const message = messages.at(-1)!.role === 'user'
          ? {
              role: 'assistant', content: null,
              tool_calls: [1, 2].map(() => ({ id: 'call_same', type: 'function', function: { name: 'issue_refund', arguments: '{"order_id":"1001","amount_cents":100}' } })),
            }
          : { role: 'assistant', content: 'Done.' };
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, message, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = readBundleDir('agents/support');
      const { port } = server.address() as import('node:net').AddressInfo;
      const published = await stack.api('POST', '/v1/bundles', { ...base, model: { id: 'gpt-4o-mini', baseUrl: `http://127.0.0.1:${port}/v1` } });
      const start = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Refund twice', bundleId: published.body.bundleId });
      const parked = await stack.waitForStatus(start.body.runId, 'awaiting_approval');
      expect(parked.pendingApprovals).toHaveLength(1);
      await stack.decide(start.body.runId, parked.pendingApprovals[0].approvalId, 'approve');
      const done = await stack.waitForStatus(start.body.runId, 'completed');
      const toolSteps = done.steps.filter((s: any) => s.kind === 'tool');
      expect(toolSteps.map((s: any) => s.status)).toEqual(['ok', 'invalid_arguments']);
      expect(toolSteps[1].detail.error).toMatch(/call_same" was already used/);
      const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM refunds WHERE run_id = $1', [start.body.runId]);
      expect(rows[0].n).toBe(1);
    } finally {
      server.close();
    }
  });
});
