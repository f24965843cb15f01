import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunActivities } from '../../src/activities/runs';
import { createToolActivities, type ExecuteToolInput } from '../../src/activities/toolCalls';
import { authenticate } from '../../src/api/auth';
import { seedApiKeys } from '../../src/db/apiKeys';
import { eventsRouter } from '../../src/api/eventsRouter';
import type { Db } from '../../src/db/pool';
import { appendRunEvent, readRunEvents } from '../../src/db/runEvents';
import { refundedAnswer, supportDemoScript } from '../../src/dev/demoScript';
import { openSse, type SseConnection, type SseEvent } from '../support/sse';
import { useTestStack } from '../support/useTestStack';
import { stackTools } from '../support/tools';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';

/** Every event of the demo refund run, approved, in order. */
const approvedRunTypes = [
  'run.started',
  'step.started', 'step.finished', 'tool.called', // lookup_order
  'step.started', 'step.finished', 'approval.requested', // issue_refund waits for a human
  'approval.decided', 'tool.called', // the refund
  'step.started', 'step.finished', 'run.finished', // the answer
];
const parkedCount = approvedRunTypes.indexOf('approval.requested') + 1;

const ids = (events: SseEvent[]) => events.map((e) => Number(e.id));
const types = (events: SseEvent[]) => events.map((e) => e.event);
const dataOf = (events: SseEvent[], type: string) => events.filter((e) => e.event === type).map((e) => JSON.parse(e.data));
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

const stack = useTestStack();

describe('GET /v1/runs/:runId/events (Server-Sent Events)', () => {
  const streams: SseConnection[] = [];
  afterAll(() => Promise.all(streams.map((s) => s.close())));

  async function events(runId: string, headers: Record<string, string> = {}, query = '') {
    const stream = await openSse(`${stack.baseUrl}/v1/runs/${runId}/events${query}`, { authorization: `Bearer ${stack.apiKey}`, ...headers });
    streams.push(stream);
    return stream;
  }

  async function readUntil(stream: SseConnection, type: string): Promise<SseEvent[]> {
    const got: SseEvent[] = [];
    for (;;) {
      const event = await stream.next();
      if (!event) throw new Error(`the stream ended before ${type}; got ${JSON.stringify(types(got))}`);
      got.push(event);
      if (event.event === type) return got;
    }
  }

  it('streams the approved refund run in order, from the start to the end of the run', async () => {
    const start = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Refund order 1001' });
    expect(start.status).toBe(202);
    const { runId, bundleId } = start.body;
    expect(start.body.links.events).toBe(`/v1/runs/${runId}/events`);

    const stream = await openSse(`${stack.baseUrl}${start.body.links.events}`, { authorization: `Bearer ${stack.apiKey}` });
    streams.push(stream);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);

    const beforeDecision = await readUntil(stream, 'approval.requested');
    expect(types(beforeDecision)).toEqual(approvedRunTypes.slice(0, parkedCount));
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    const [requested] = dataOf(beforeDecision, 'approval.requested');
    expect(requested).toMatchObject({
      approvalId: parked.pendingApprovals[0].approvalId,
      tool: 'issue_refund',
      arguments: { order_id: '1001', amount_cents: 12900 },
      expiresAt: parked.pendingApprovals[0].expiresAt,
    });
    // Nothing more while the run waits for a human.
    await expect(stream.next(1500)).rejects.toThrow(/did not arrive/);

    expect((await stack.decide(runId, requested.approvalId, 'approve', 'ok')).status).toBe(202);
    const afterDecision = await stream.rest();
    expect(stream.ended).toBe(true);
    const all = [...beforeDecision, ...afterDecision];
    expect(types(all)).toEqual(approvedRunTypes);
    expect(ids(all)).toEqual(oneTo(approvedRunTypes.length));

    const payloads = all.map((e) => JSON.parse(e.data));
    expect(payloads.every((d) => d.runId === runId && d.bundleId === bundleId)).toBe(true);

    const done = await stack.waitForStatus(runId, 'completed');
    const [started1, started2, started3] = dataOf(all, 'step.started');
    expect([started1.step, started2.step, started3.step]).toEqual([1, 2, 3]);
    expect(started1).toMatchObject({ kind: 'model', model: 'gpt-4o-mini' });
    const finished = dataOf(all, 'step.finished');
    expect(finished.map((f) => f.step)).toEqual([1, 2, 3]);
    let runningInput = 0;
    for (const [i, f] of finished.entries()) {
      expect(f).toMatchObject({ model: 'gpt-4o-mini', usage: { inputTokens: done.steps.filter((s: any) => s.kind === 'model')[i].inputTokens } });
      expect(f.usage.inputTokens).toBeGreaterThan(0);
      runningInput += f.usage.inputTokens;
      expect(f.totalUsage.inputTokens).toBe(runningInput);
    }
    expect(finished.at(-1).totalUsage).toEqual(done.usage);

    const [lookup, refund] = dataOf(all, 'tool.called');
    expect(lookup).toMatchObject({ tool: 'lookup_order', status: 'ok', step: 1, arguments: { order_id: '1001' } });
    expect(refund).toMatchObject({ tool: 'issue_refund', status: 'ok', step: 2, arguments: { order_id: '1001', amount_cents: 12900 } });
    expect(typeof refund.latencyMs).toBe('number');
    expect(dataOf(all, 'approval.decided')[0]).toMatchObject({
      approvalId: requested.approvalId, decision: 'approved', decidedBy: expect.stringMatching(/^key_/), comment: 'ok',
    });
    expect(dataOf(all, 'run.finished')[0]).toMatchObject({ status: 'completed', output: done.output, error: null, usage: done.usage });

    // The wire format, byte for byte, of the whole (now finished) run.
    const raw = await fetch(`${stack.baseUrl}/v1/runs/${runId}/events`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    const text = await raw.text();
    expect(text).toMatch(/^retry: \d+\n\n(id: \d+\nevent: [a-z.]+\ndata: \{[^\n]*\}\n\n){12}$/);
    expect([...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual(oneTo(12));

    // An EventSource reconnecting after the end is told to stop.
    const after = await events(runId, { 'last-event-id': '12' });
    expect(after.status).toBe(204);
  });

  it('gives a client that reconnects with Last-Event-ID exactly the events it missed', async () => {
    const runId = await stack.startRun('Refund order 1003');
    const first = await events(runId);
    const seen = [await first.next(), await first.next(), await first.next()] as SseEvent[];
    expect(ids(seen)).toEqual([1, 2, 3]);
    await first.close();

    // More happens while the client is away.
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    const second = await events(runId, { 'last-event-id': seen.at(-1)!.id! });
    const backlog = await readUntil(second, 'approval.requested');
    expect(ids(backlog)).toEqual([4, 5, 6, 7]);
    await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve');
    const live = await second.rest();

    const resumed = [...seen, ...backlog, ...live];
    expect(ids(resumed)).toEqual(oneTo(approvedRunTypes.length));
    expect(types(resumed)).toEqual(approvedRunTypes);
    // The same events a client reading from the start gets, field for field.
    const fromStart = await (await events(runId)).rest();
    expect(fromStart).toEqual(resumed);

    // ?after= resumes too; Last-Event-ID (what an EventSource sends) wins over it.
    expect(ids(await (await events(runId, {}, '?after=9')).rest())).toEqual([10, 11, 12]);
    expect(ids(await (await events(runId, { 'last-event-id': '10' }, '?after=2')).rest())).toEqual([11, 12]);
    expect((await events(runId, { 'last-event-id': 'x' })).status).toBe(400);
    expect((await events(runId, {}, '?after=-1')).status).toBe(400);
  });

  it("answers 404 for another tenant's run and for unknown runs", async () => {
    const runId = await stack.startRun('Refund order 1002');
    const otherKey = `key_${randomBytes(6).toString('hex')}`;
    await seedApiKeys(stack.db, [{ key: otherKey, tenantId: `other_${randomBytes(4).toString('hex')}`, roles: ['runner', 'approver', 'admin'] }]);

    const foreign = await events(runId, { authorization: `Bearer ${otherKey}` });
    expect(foreign.status).toBe(404);
    expect((await events(randomUUID())).status).toBe(404);
    expect((await events('not-a-run')).status).toBe(404);
    expect((await events(runId, { authorization: 'Bearer nope' })).status).toBe(401);
    // The owner does see it.
    const own = await events(runId);
    expect(own.status).toBe(200);
    expect((await own.next())?.event).toBe('run.started');
    await own.close();
  });

  it('records one event per occurrence when a worker dies mid model call and the call is retried', async () => {
    // The final answer takes 4 s, so the worker can be killed while it is being written.
    stack.model.setScript({ rules: [{ ...refundedAnswer, latencyMs: 4000 }, ...supportDemoScript.rules] });
    try {
      const runId = await stack.startRun('Refund order 1004');
      const parked = await stack.waitForStatus(runId, 'awaiting_approval');
      await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve');
      const finalCall = () => stack.model.requests.filter((r) => r.messages.at(-1)?.content?.includes('"order_id":"1004","amount_cents"'));
      await waitFor(() => finalCall().length === 1);
      await stack.worker.kill();
      await stack.startWorker();
      await stack.waitForStatus(runId, 'completed');
      expect(finalCall().length).toBe(2); // the model step really ran twice

      const stream = await (await events(runId)).rest();
      expect(types(stream)).toEqual(approvedRunTypes);
      expect(ids(stream)).toEqual(oneTo(approvedRunTypes.length));
      const stored = await readRunEvents(stack.db, runId, 0, 100);
      expect(new Set(stored.map((e) => e.key)).size).toBe(stored.length);
    } finally {
      stack.model.setScript(supportDemoScript);
    }
  });
});

describe('run events written by retried and racing activities', () => {
  let db: Db;
  // A tenant of its own, so the refunds here do not meet the stack's runs.
  const tenantId = newTenantId();
  beforeAll(async () => (db = await openTenantDb(tenantId)));
  afterAll(() => db?.end());

  async function newRun(): Promise<string> {
    const runId = await insertTestRun(db, tenantId, 'queued', 'Refund order 1003');
    return runId;
  }

  const stored = async (runId: string) => readRunEvents(db, runId, 0, 1000);

  it('appends a tool call once however often, and however concurrently, its activity runs', async () => {
    const { executeTool, recordToolError } = createToolActivities({ db, tools: stackTools });
    const runId = await newRun();
    const call = (ordinal: number): ExecuteToolInput => ({
      runId, tenantId, bundleId: 'support@test', step: 1, ordinal, toolCallId: `call_${randomUUID()}`,
      tool: 'issue_refund', args: { order_id: '1003', amount_cents: 100 },
    });
    const retried = call(1);
    expect(await executeTool(retried)).toBe('ok');
    expect(await executeTool(retried)).toBe('ok');
    const raced = call(2);
    await Promise.all([executeTool(raced), executeTool(raced), executeTool(raced)]);
    const rejected = { ...call(3), status: 'rejected' as const, message: 'no' };
    await Promise.all([recordToolError(rejected), recordToolError(rejected)]);

    const events = await stored(runId);
    expect(events.map((e) => `${e.seq}:${e.key}`)).toEqual(['1:tool:1:1', '2:tool:1:2', '3:tool:1:3']);
    expect(events[2]!.data).toMatchObject({ runId, bundleId: 'support@test', tool: 'issue_refund', status: 'rejected', error: 'no' });
  });

  it('appends run and approval events once when their activities are retried', async () => {
    const activities = createRunActivities({ db });
    const runId = await newRun();
    const approval = {
      approvalId: randomUUID(), toolCallId: 'call_1', tool: 'issue_refund', arguments: { order_id: '1003' },
      requestedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString(),
    };
    const request = { runId, tenantId, bundleId: 'support@test', step: 1, approvals: [approval] };
    // Each one twice in a row, as a retry after a lost completion runs it; then twice at once.
    const twice = async (work: () => Promise<unknown>) => {
      await work();
      await work();
      await Promise.all([work(), work()]);
    };
    await twice(() => activities.startRun({ runId }));
    await twice(() => activities.requestApprovals(request));
    await twice(async () => expect(await activities.expireApproval({ approvalId: approval.approvalId })).toBe('rejected'));
    await twice(() => activities.finishRun({ runId, status: 'completed', output: 'done' }));
    const events = await stored(runId);
    expect(events.map((e) => e.type)).toEqual(['run.started', 'approval.requested', 'approval.decided', 'run.finished']);
    expect(events[2]!.data).toMatchObject({ approvalId: approval.approvalId, decision: 'expired', decidedBy: 'system:expiry' });
    expect(events[3]!.data).toMatchObject({ status: 'completed', output: 'done', bundleId: 'support@test' });
  });

  it('numbers concurrent appends 1, 2, 3… without gaps or duplicates', async () => {
    const runId = await newRun();
    const keys = Array.from({ length: 40 }, (_, i) => `test:${i % 20}`); // every key twice
    const seqs = await Promise.all(keys.map((key) => appendRunEvent(db, runId, 'tool.called', key, { key })));
    expect(seqs.filter((s) => s !== undefined).sort((a, b) => a! - b!)).toEqual(oneTo(20));
    const events = await stored(runId);
    expect(events.map((e) => e.seq)).toEqual(oneTo(20));
    expect(new Set(events.map((e) => e.key)).size).toBe(20);
  });
});

describe('an open event stream', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const server of servers) server.closeAllConnections();
  });

  /** The events router alone, with its own heartbeat interval. */
  async function serve(timings: { eventsHeartbeatMs: number }) {
    const app = express();
    app.use('/v1', authenticate(stack.db), eventsRouter({ db: stack.db, ...timings }));
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    servers.push(server);
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { server, open: (runId: string) => openSse(`${baseUrl}/v1/runs/${runId}/events`, { authorization: `Bearer ${stack.apiKey}` }) };
  }

  async function parkedRun(order: string) {
    const runId = await stack.startRun(`Refund order ${order}`);
    await stack.waitForStatus(runId, 'awaiting_approval');
    return runId;
  }

  it('sends a heartbeat comment whenever the run has been quiet for a while', async () => {
    const { open } = await serve({ eventsHeartbeatMs: 100 });
    const stream = await open(await parkedRun('1001'));
    for (let i = 0; i < parkedCount; i += 1) expect(await stream.next()).toBeDefined();
    await expect(stream.next(450)).rejects.toThrow(/did not arrive/); // no event while parked, but...
    expect(stream.comments.filter((c) => c === 'heartbeat').length).toBeGreaterThanOrEqual(2);
    await stream.close();
  });

  it('ends its streams when the server shuts down, so the shutdown can finish', async () => {
    const { server, open } = await serve({ eventsHeartbeatMs: 60_000 });
    const stream = await open(await parkedRun('1002'));
    for (let i = 0; i < parkedCount; i += 1) expect(await stream.next()).toBeDefined();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await stream.rest(5000)).toEqual([]);
    expect(stream.ended).toBe(true);
    await closed;
  });
});

async function waitFor(check: () => boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
