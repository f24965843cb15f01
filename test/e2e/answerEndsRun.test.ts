/**
 * A final answer ends its run in the model step's own transaction (callModel's `endsRunOnAnswer`,
 * the `lean-steps` branch of the workflow), so no finishRun follows it: the run ends once, with the
 * answer, and `run.finished` is its last event; a retry neither asks again nor ends it twice.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelCallGuard } from '../../src/activities/model/callGuard';
import { createModelActivities } from '../../src/activities/model/callModel';
import { createRunActivities } from '../../src/activities/runs';
import { createBundleCache } from '../../src/bundles/bundleStore';
import { loadConfig } from '../../src/config';
import type { Db } from '../../src/db/pool';
import { RunEndedError } from '../../src/db/runEnd';
import { seedAgents } from '../../src/dev/demoData';
import { startScriptedModel, type ScriptedModelServer } from '../../src/dev/scriptedModel';
import { makeAgentsDir } from '../support/agentsDir';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';
import { registerStackTools } from '../support/tools';

describe('a final answer with endsRunOnAnswer', () => {
  let db: Db;
  let model: ScriptedModelServer;
  let bundleId: string;
  const tenantId = newTenantId();
  const agents = makeAgentsDir({
    clerk: { prompt: 'You help with orders.', bundle: { model: { id: 'gpt-4o-mini' }, tools: [], limits: { maxSteps: 4 } } },
  });
  let callModel: ReturnType<typeof createModelActivities>['callModel'];

  beforeAll(async () => {
    db = await openTenantDb(tenantId);
    await registerStackTools(db);
    model = await startScriptedModel({
      rules: [
        { when: { role: 'user', matches: 'look it up' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"1001"}' }] } },
        { when: { role: 'user' }, reply: { content: 'Order 1001 is on its way.' } },
      ],
    });
    bundleId = (await seedAgents(db, tenantId, agents.dir))[0]!.id;
    ({ callModel } = createModelActivities({
      db, bundles: createBundleCache(db), modelClient: () => new OpenAI({ apiKey: 'test', baseURL: model.url, maxRetries: 0 }),
      prices: loadConfig({}).model.prices, modelCalls: createModelCallGuard({ db, limits: {}, defaultBaseUrl: model.url }),
    }));
  });
  afterAll(async () => {
    await model?.close();
    await db?.end();
    agents.remove();
  });

  const newRun = (input: string): Promise<string> => insertTestRun(db, tenantId, 'running', input, bundleId);

  async function endOf(runId: string) {
    const { rows: [run] } = await db.query('SELECT status, output, step_count, cost_usd, finished_at FROM runs WHERE run_id = $1', [runId]);
    const { rows: events } = await db.query('SELECT type, data FROM run_events WHERE run_id = $1 ORDER BY seq', [runId]);
    return { run, events };
  }

  const requestsOf = (input: string) => model.requests.filter((r) => r.messages.some((m) => m.role === 'user' && m.content === input)).length;

  it('ends the run with the answer, once, in the step that stored it', async () => {
    const runId = await newRun('When does order 1001 arrive?');
    const reply = await callModel({ runId, bundleId, step: 1, endsRunOnAnswer: true });
    expect(reply).toMatchObject({ kind: 'final', text: 'Order 1001 is on its way.' });

    const { run, events } = await endOf(runId);
    expect(run).toMatchObject({ status: 'completed', output: 'Order 1001 is on its way.', step_count: 1 });
    expect(run.finished_at).not.toBeNull();
    expect(events.map((e) => e.type)).toEqual(['step.started', 'step.finished', 'run.finished']);
    // run.finished counts the step it ended with.
    expect(events.at(-1).data).toMatchObject({ status: 'completed', output: 'Order 1001 is on its way.', steps: 1, usage: { costUsd: run.cost_usd } });

    // A retry returns the stored answer: no second request, no second end.
    await expect(callModel({ runId, bundleId, step: 1, endsRunOnAnswer: true })).resolves.toEqual(reply);
    expect(requestsOf('When does order 1001 arrive?')).toBe(1);
    expect((await endOf(runId)).events.filter((e) => e.type === 'run.finished')).toHaveLength(1);
  });

  it('leaves the run open after a reply with tool calls', async () => {
    const runId = await newRun('Please look it up');
    expect(await callModel({ runId, bundleId, step: 1, endsRunOnAnswer: true })).toMatchObject({ kind: 'tool_calls' });
    const { run, events } = await endOf(runId);
    expect(run).toMatchObject({ status: 'running', finished_at: null });
    expect(events.map((e) => e.type)).toEqual(['step.started', 'step.finished']);
  });

  it('ends a run whose answer a retry finds stored but not yet ended', async () => {
    const runId = await newRun('Is order 1001 shipped?');
    // Stored by an attempt that did not end the run (a workflow from before lean-steps).
    await callModel({ runId, bundleId, step: 1 });
    expect((await endOf(runId)).run).toMatchObject({ status: 'running', finished_at: null });
    await callModel({ runId, bundleId, step: 1, endsRunOnAnswer: true });
    const { run, events } = await endOf(runId);
    expect(run).toMatchObject({ status: 'completed', output: 'Order 1001 is on its way.' });
    expect(events.map((e) => e.type)).toEqual(['step.started', 'step.finished', 'run.finished']);
    expect(requestsOf('Is order 1001 shipped?')).toBe(1);
  });

  it('does not end again, nor store the answer, when the run ended before the step', async () => {
    const runId = await newRun('Where is order 1001?');
    await createRunActivities({ db }).finishRun({ runId, status: 'cancelled' });
    await expect(callModel({ runId, bundleId, step: 1, endsRunOnAnswer: true })).rejects.toBeInstanceOf(RunEndedError);
    const { run, events } = await endOf(runId);
    expect(run).toMatchObject({ status: 'cancelled', output: null });
    expect(events.map((e) => e.type)).toEqual(['run.finished']);
  });
});
