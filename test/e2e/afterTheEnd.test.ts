/**
 * After the end, nothing: once a run has ended, no step row, transcript message, event, audit entry,
 * tool side effect or model call happens in it, even from a call that was in flight when it was
 * cancelled. A result that arrives after the end is discarded and noted in discarded_results.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelActivities } from '../../src/activities/model/callModel';
import { createModelCallGuard } from '../../src/activities/model/callGuard';
import { createRunActivities } from '../../src/activities/runs';
import { createBundleCache } from '../../src/bundles/bundleStore';
import { loadConfig } from '../../src/config';
import type { Db } from '../../src/db/pool';
import { RunEndedError } from '../../src/db/runEnd';
import { seedAgents } from '../../src/dev/demoData';
import { supportDemoScript } from '../../src/dev/demoScript';
import { startScriptedModel, type ScriptedModelServer } from '../../src/dev/scriptedModel';
import { fetcherAgent, fetchScript, makeAgentsDir, orderClerkAgent } from '../support/agentsDir';
import { listenLocally } from '../support/localServer';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';
import { registerStackTools } from '../support/tools';
import { countRefunds, startTestStack, type TestStack } from '../support/testStack';

/** Everything a run left in PostgreSQL, with when each row was written. */
async function traceOf(db: Db, runId: string) {
  const query = async (sql: string) => (await db.query(sql, [runId])).rows;
  const [run] = await query('SELECT status, finished_at AS "finishedAt" FROM runs WHERE run_id = $1');
  return {
    run,
    steps: await query('SELECT step, ordinal, kind, name, status, created_at AS "at" FROM run_steps WHERE run_id = $1 ORDER BY step, ordinal'),
    messages: await query('SELECT step, ordinal, role, created_at AS "at" FROM run_messages WHERE run_id = $1 ORDER BY step, ordinal'),
    events: await query('SELECT seq, type, created_at AS "at" FROM run_events WHERE run_id = $1 ORDER BY seq'),
    audit: await query('SELECT id, action, target, created_at AS "at" FROM audit_log WHERE run_id = $1 ORDER BY id'),
    discarded: await query('SELECT step, ordinal, kind, name, run_status AS "runStatus", detail FROM discarded_results WHERE run_id = $1'),
  };
}
type Trace = Awaited<ReturnType<typeof traceOf>>;

/** The run ended once, as `cancelled`, and nothing in it was written after its end. */
function expectNothingAfterTheEnd(trace: Trace) {
  expect(trace.run.status).toBe('cancelled');
  expect(trace.events.filter((e) => e.type === 'run.finished')).toHaveLength(1);
  expect(trace.events.at(-1).type).toBe('run.finished');
  const end = trace.run.finishedAt.getTime();
  for (const row of [...trace.steps, ...trace.messages, ...trace.events, ...trace.audit]) expect(row.at.getTime()).toBeLessThanOrEqual(end);
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A page that never answers; it notes each connection the client closes. */
async function startSlowTarget() {
  const sockets: Socket[] = [];
  const closed: Socket[] = [];
  const server = http.createServer(() => undefined);
  server.on('connection', (socket) => {
    sockets.push(socket);
    socket.once('close', () => closed.push(socket));
  });
  return { ...(await listenLocally(server)), sockets, closed };
}

describe('after a run has ended, nothing happens in it', () => {
  let stack: TestStack;
  let target: Awaited<ReturnType<typeof startSlowTarget>>;
  let agents: ReturnType<typeof makeAgentsDir>;
  beforeAll(async () => {
    target = await startSlowTarget();
    agents = makeAgentsDir({
      clerk: orderClerkAgent,
      fetcher: fetcherAgent([`127.0.0.1:${target.port}`], { allowPrivate: true }),
    });
    stack = await startTestStack({
      agentsDir: agents.dir,
      script: {
        rules: [
          { when: { role: 'user', matches: 'think for a minute' }, reply: { content: 'Done thinking.' }, latencyMs: 60_000 },
          ...fetchScript.rules,
          ...supportDemoScript.rules,
        ],
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await target?.close();
    agents?.remove();
  });

  const cancel = async (runId: string) => {
    expect((await stack.api('POST', `/v1/runs/${runId}/cancel`)).status).toBe(202);
    await stack.waitForStatus(runId, 'cancelled');
  };

  it('rolls back a refund that completes after its run was cancelled, and notes it as discarded', async () => {
    const runId = await stack.startRun('Refund order 1001', {}, 'clerk');
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    // The order's row stays locked, so the approved refund blocks halfway, after its refunds insert.
    const blocker = await stack.db.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`SELECT 1 FROM orders WHERE tenant_id = $1 AND order_id = '1001' FOR UPDATE`, [stack.tenantId]);
      const blockerPid = (await blocker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
      await until('the refund waits for the order', async () =>
        (await stack.db.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [blockerPid])).rowCount);
      await cancel(runId);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }

    const trace = await until('the late result is noted', async () => {
      const t = await traceOf(stack.db, runId);
      return t.discarded.length ? t : undefined;
    });
    expect(trace.discarded).toEqual([
      { step: 2, ordinal: 1, kind: 'tool', name: 'issue_refund', runStatus: 'cancelled', detail: { toolCallId: expect.any(String), status: 'ok' } },
    ]);
    expectNothingAfterTheEnd(trace);
    expect(await countRefunds(stack.db, runId)).toBe(0);
    expect(trace.steps.map((s) => `${s.kind}:${s.name}:${s.status}`)).toEqual(['model:gpt-4o-mini:ok', 'tool:lookup_order:ok', 'model:gpt-4o-mini:ok']);
    expect(trace.audit.map((a) => a.action)).toEqual(['tool.called', 'approval.decided']);
  });

  it('stops an http_fetch in flight when its run is cancelled, and records nothing of it', async () => {
    const url = `http://127.0.0.1:${target.port}/slow`;
    const runId = await stack.startRun(`Please fetch ${url}`, {}, 'fetcher');
    await until('the page is asked for', () => target.sockets.length === 1);
    await cancel(runId);
    await until('the fetch lets go of the page', () => target.closed.length === 1);

    const trace = await traceOf(stack.db, runId);
    expectNothingAfterTheEnd(trace);
    expect(trace.steps.map((s) => `${s.kind}:${s.name}`)).toEqual(['model:gpt-4o-mini']);
    expect(trace.audit).toEqual([]);
    // Stopped by the cancellation, the call has no result; one its deadline ended would be noted as discarded.
    expect(trace.discarded.every((d) => d.kind === 'tool' && d.name === 'http_fetch')).toBe(true);
  });

  it('aborts a model call in flight when its run is cancelled: no step row, no further call', async () => {
    const input = 'Please think for a minute';
    const runId = await stack.startRun(input, {}, 'clerk');
    const requests = () => stack.model.requests.filter((r) => r.messages.find((m) => m.role === 'user')?.content === input);
    await until('the model is asked', () => requests().length === 1);
    await cancel(runId);
    await until('the call is abandoned', () => requests()[0]!.aborted);

    const trace = await traceOf(stack.db, runId);
    expectNothingAfterTheEnd(trace);
    expect(trace.steps).toEqual([]);
    expect(trace.events.map((e) => e.type)).toEqual(['run.started', 'step.started', 'run.finished']);
    expect(trace.discarded).toEqual([]);
    expect(requests()).toHaveLength(1);
  });
});

describe('a model reply that arrives after its run ended', () => {
  let db: Db;
  let model: ScriptedModelServer;
  const tenantId = newTenantId();
  const agents = makeAgentsDir({
    clerk: { prompt: 'You help with orders.', bundle: { model: { id: 'gpt-4o-mini' }, tools: [{ name: 'lookup_order', version: 1 }], limits: { maxSteps: 4 } } },
  });
  beforeAll(async () => {
    db = await openTenantDb(tenantId);
    await registerStackTools(db);
    model = await startScriptedModel({ rules: [{ when: { role: 'user' }, reply: { content: 'A late answer.' } }] });
  });
  afterAll(async () => {
    await model?.close();
    await db?.end();
    agents.remove();
  });

  it('is not stored, is noted as discarded with what it cost, and is charged to the tenant', async () => {
    const [bundle] = await seedAgents(db, tenantId, agents.dir);
    await db.query(`INSERT INTO tenant_budgets (tenant_id, period, limit_usd, mode) VALUES ($1, 'day', 100, 'hard')`, [tenantId]);
    const runId = await insertTestRun(db, tenantId, 'running', 'Hello', bundle!.id);

    // The provider answers at once; the answer reaches the activity only when the test lets it.
    let deliver!: () => void;
    const delivered = new Promise<void>((resolve) => (deliver = resolve));
    let answered!: () => void;
    const received = new Promise<void>((resolve) => (answered = resolve));
    const client = new OpenAI({
      apiKey: 'test', baseURL: model.url, maxRetries: 0,
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        answered();
        await delivered;
        return response;
      },
    });
    const prices = loadConfig({}).model.prices;
    const { callModel } = createModelActivities({
      db, bundles: createBundleCache(db), modelClient: () => client, prices,
      modelCalls: createModelCallGuard({ db, limits: {}, defaultBaseUrl: model.url }),
    });
    const calling = callModel({ runId, bundleId: bundle!.id, step: 1 });
    await received;
    await createRunActivities({ db }).finishRun({ runId, status: 'cancelled' });
    deliver();
    await expect(calling).rejects.toBeInstanceOf(RunEndedError);

    const trace = await traceOf(db, runId);
    expect(trace.steps).toEqual([]);
    expect(trace.messages.map((m) => `${m.step}:${m.role}`)).toEqual(['0:user']);
    expect(trace.events.map((e) => e.type)).toEqual(['step.started', 'run.finished']);
    expect(trace.discarded).toEqual([
      { step: 1, ordinal: 0, kind: 'model', name: 'gpt-4o-mini', runStatus: 'cancelled', detail: { usage: expect.objectContaining({ costUsd: expect.any(Number) }) } },
    ]);
    const cost = trace.discarded[0].detail.usage.costUsd;
    expect(cost).toBeGreaterThan(0);
    const { rows: [run] } = await db.query('SELECT cost_usd, step_count FROM runs WHERE run_id = $1', [runId]);
    expect(run).toEqual({ cost_usd: 0, step_count: 0 });
    const { rows: [reservation] } = await db.query('SELECT settled_at FROM budget_reservations WHERE reservation_id = $1', [`${runId}:1`]);
    expect(reservation.settled_at).not.toBeNull();
    const { rows: [window] } = await db.query(`SELECT spent_usd, reserved_usd FROM budget_windows WHERE tenant_id = $1`, [tenantId]);
    expect(window.spent_usd).toBeCloseTo(cost, 6);
    expect(window.reserved_usd).toBe(0);
    expect(model.requests).toHaveLength(1);
  });

  it('is never asked for once the run has ended', async () => {
    const [bundle] = await seedAgents(db, tenantId, agents.dir);
    const runId = await insertTestRun(db, tenantId, 'running', 'Hello again', bundle!.id);
    await createRunActivities({ db }).finishRun({ runId, status: 'cancelled' });
    const asked = model.requests.length;
    const { callModel } = createModelActivities({
      db, bundles: createBundleCache(db), modelClient: () => new OpenAI({ apiKey: 'test', baseURL: model.url, maxRetries: 0 }),
      prices: loadConfig({}).model.prices, modelCalls: createModelCallGuard({ db, limits: {}, defaultBaseUrl: model.url }),
    });
    await expect(callModel({ runId, bundleId: bundle!.id, step: 1 })).rejects.toBeInstanceOf(RunEndedError);
    expect(model.requests).toHaveLength(asked);
    const trace = await traceOf(db, runId);
    expect(trace.events.map((e) => e.type)).toEqual(['run.finished']);
    expect(trace.steps).toEqual([]);
  });
});
