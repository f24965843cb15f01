/**
 * Text PostgreSQL cannot store (U+0000, lone surrogates) from a model or a tool: stored with the
 * character replaced by U+FFFD and the replacement noted, never a stuck run, never a second paid
 * call. Tool results keep such characters losslessly: the transcript holds them as JSON escapes.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { lookupOrder } from '../../examples/support-tools/orders';
import { withHandler } from '../support/tools';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToolActivities } from '../../src/activities/toolCalls';
import { readAudit } from '../../src/db/audit';
import type { Db } from '../../src/db/pool';
import type { ModelScript } from '../../src/dev/scriptedModel';
import { REPLACEMENT_CHARACTER as R } from '../../src/shared/storable';
import { fetcherAgent, fetchScript, makeAgentsDir, orderClerkAgent } from '../support/agentsDir';
import { listenLocally } from '../support/localServer';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';
import { startTestStack, type TestStack } from '../support/testStack';

const script: ModelScript = {
  rules: [
    { when: { role: 'user', matches: 'answer with a nul' }, reply: { content: 'before\u0000after' } },
    { when: { role: 'user', matches: 'answer with lone surrogates' }, reply: { content: 'high \uD800 low \uDC00 pair \uD83D\uDE00 end' } },
    // The model escapes U+0000 in its JSON, as a provider does: the parsed `reason` holds the character.
    {
      when: { role: 'user', matches: 'refund with a nul reason' },
      reply: { toolCalls: [{ name: 'issue_refund', arguments: '{"order_id":"1001","amount_cents":500,"reason":"torn\\u0000seam"}' }] },
    },
    // A lone surrogate in the arguments' text itself.
    {
      when: { role: 'user', matches: 'refund with a surrogate reason' },
      reply: { toolCalls: [{ name: 'issue_refund', arguments: '{"order_id":"1002","amount_cents":500,"reason":"torn \uD800 seam"}' }] },
    },
    { when: { role: 'user', matches: 'call a broken tool' }, reply: { toolCalls: [{ name: 'lookup\u0000order', arguments: '{"order_id":"1001"}' }] } },
    { when: { role: 'tool', matches: 'is not available' }, reply: { content: 'That tool does not exist.' } },
    { when: { role: 'tool', tool: 'issue_refund', matches: '"refunded":true' }, reply: { content: 'Refunded.' } },
    ...fetchScript.rules,
  ],
};

/** Serves `/nul`: a text page with U+0000 in it. */
function startTarget() {
  return listenLocally(http.createServer((_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('zero\u0000byte')));
}

describe('text PostgreSQL cannot store, from a model or a tool', () => {
  let stack: TestStack;
  let target: Awaited<ReturnType<typeof startTarget>>;
  let agents: ReturnType<typeof makeAgentsDir>;
  beforeAll(async () => {
    target = await startTarget();
    agents = makeAgentsDir({
      support: orderClerkAgent,
      fetcher: fetcherAgent([`127.0.0.1:${target.port}`], { allowPrivate: true }),
    });
    stack = await startTestStack({ agentsDir: agents.dir, script });
  });
  afterAll(async () => {
    await stack?.close();
    await target?.close();
    agents?.remove();
  });

  /** The requests the model got for the run that started with `input`. */
  const requestsFor = (input: string) => stack.model.requests.filter((r) => r.messages.find((m) => m.role === 'user')?.content === input);
  const completed = (runId: string) => stack.waitForStatus(runId, 'completed', 30_000);

  it('completes a run whose final answer holds U+0000, the character replaced and noted, asking the model once', async () => {
    const input = 'Please answer with a nul';
    const done = await completed(await stack.startRun(input));
    expect(done.output).toBe(`before${R}after`);
    expect(done.steps).toMatchObject([{ kind: 'model', status: 'ok', detail: { final: true, replacedCharacters: 1 } }]);
    expect(requestsFor(input)).toHaveLength(1);
  });

  it('replaces lone surrogates in an answer and keeps surrogate pairs', async () => {
    const input = 'Please answer with lone surrogates';
    const done = await completed(await stack.startRun(input));
    expect(done.output).toBe(`high ${R} low ${R} pair \uD83D\uDE00 end`);
    expect(done.steps[0].detail.replacedCharacters).toBe(2);
    expect(requestsFor(input)).toHaveLength(1);
  });

  it('asks for approval of a gated call whose reason holds U+0000, and runs what the approver saw', async () => {
    const input = 'Please refund with a nul reason';
    const runId = await stack.startRun(input);
    const parked = await stack.waitForStatus(runId, 'awaiting_approval', 30_000);
    const [approval] = parked.pendingApprovals;
    expect(approval).toMatchObject({ tool: 'issue_refund', arguments: { reason: `torn${R}seam` }, reason: `torn${R}seam` });
    expect((await stack.decide(runId, approval.approvalId, 'approve')).status).toBe(202);
    const done = await completed(runId);
    expect(done.output).toBe('Refunded.');
    expect(done.steps.find((s: any) => s.kind === 'tool')).toMatchObject({ name: 'issue_refund', status: 'ok', detail: { replacedCharacters: 1 } });
    const refunds = await stack.db.query('SELECT reason FROM refunds WHERE run_id = $1', [runId]);
    expect(refunds.rows).toEqual([{ reason: `torn${R}seam` }]);
    expect(requestsFor(input)).toHaveLength(2);
  });

  it('stores a lone surrogate in tool arguments replaced, and sends the provider only the stored text', async () => {
    const input = 'Please refund with a surrogate reason';
    const runId = await stack.startRun(input);
    const parked = await stack.waitForStatus(runId, 'awaiting_approval', 30_000);
    expect(parked.steps[0]).toMatchObject({ kind: 'model', detail: { replacedCharacters: 1 } });
    const [approval] = parked.pendingApprovals;
    expect(approval.arguments.reason).toBe(`torn ${R} seam`);
    await stack.decide(runId, approval.approvalId, 'approve');
    await completed(runId);
    const refunds = await stack.db.query('SELECT reason FROM refunds WHERE run_id = $1', [runId]);
    expect(refunds.rows).toEqual([{ reason: `torn ${R} seam` }]);
    // The next request carries the call as stored: valid UTF-16, its arguments valid JSON.
    const [, second] = requestsFor(input);
    const call = second!.messages.find((m) => m.role === 'assistant')!.tool_calls![0]!;
    expect(JSON.parse(call.function.arguments).reason).toBe(`torn ${R} seam`);
  });

  it('tells the model about a tool name with U+0000 as an unknown tool, and the run goes on', async () => {
    const input = 'Please call a broken tool';
    const done = await completed(await stack.startRun(input));
    expect(done.output).toBe('That tool does not exist.');
    expect(done.steps.map((s: any) => `${s.kind}:${s.name}:${s.status}`)).toEqual([
      'model:gpt-4o-mini:ok', `tool:lookup${R}order:invalid_arguments`, 'model:gpt-4o-mini:ok',
    ]);
    expect(requestsFor(input)).toHaveLength(2);
  });

  it('keeps U+0000 in a tool result losslessly, as a JSON escape in the transcript, and the run goes on', async () => {
    const url = `http://127.0.0.1:${target.port}/nul`;
    const runId = await stack.startRun(`Please fetch ${url}`, {}, 'fetcher');
    const done = await completed(runId);
    expect(done.output).toBe('Fetched with status 200.');
    const { rows } = await stack.db.query(`SELECT content FROM run_messages WHERE run_id = $1 AND role = 'tool'`, [runId]);
    expect(JSON.parse(rows[0].content).body).toBe('zero\u0000byte');
    // What the model saw: the same JSON text.
    const [, second] = requestsFor(`Please fetch ${url}`);
    expect(JSON.parse(second!.messages.at(-1)!.content!).body).toBe('zero\u0000byte');
  });
});

describe('a tool result with U+0000 and a lone surrogate, where the audit and the step row keep it', () => {
  let db: Db;
  const tenantId = newTenantId();
  beforeAll(async () => (db = await openTenantDb(tenantId)));
  afterAll(() => db?.end());

  it('keeps the result whole in the transcript and replaced, and noted, in the step row, the event and the audit entry', async () => {
    const output = { note: 'zero\u0000byte', half: 'x\uD800' };
    const { executeTool } = createToolActivities({ db, tools: [withHandler(lookupOrder, async () => output)] });
    const runId = await insertTestRun(db, tenantId, 'running');
    const call = { runId, tenantId, bundleId: 'support@test', step: 1, ordinal: 1, toolCallId: `call_${randomUUID()}`, tool: 'lookup_order' as const, args: { order_id: '1001' } };
    expect(await executeTool(call)).toBe('ok');

    const message = await db.query('SELECT content FROM run_messages WHERE run_id = $1', [runId]);
    expect(JSON.parse(message.rows[0].content)).toEqual(output);
    const step = await db.query('SELECT detail FROM run_steps WHERE run_id = $1', [runId]);
    expect(step.rows[0].detail).toMatchObject({ result: { note: `zero${R}byte`, half: `x${R}` }, replacedCharacters: 2 });
    const event = await db.query(`SELECT data FROM run_events WHERE run_id = $1 AND type = 'tool.called'`, [runId]);
    expect(event.rows[0].data).toMatchObject({ tool: 'lookup_order', status: 'ok' });
    const [entry] = await readAudit(db, tenantId, { runId, limit: 10 });
    expect(entry.detail).toMatchObject({ result: { note: `zero${R}byte`, half: `x${R}` }, replacedCharacters: 2 });
  });
});
