/**
 * The alert evaluation activities against a real PostgreSQL of their own: signals measured from
 * runs and steps (a latency baseline, spend per tenant, the online judge's grounding verdicts),
 * alerts firing and resolving with one event per transition, and webhook delivery through the
 * egress guard (refused, retried, delivered once) to a receiver the test runs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createAlertActivities } from '../../src/activities/alerts';
import { upsertAlertRule } from '../../src/db/alerts';
import { migrate } from '../../src/db/migrate';
import { createPool, type Db } from '../../src/db/pool';
import type { AlertRuleSpec } from '../../src/shared/alerts';
import { listenLocally, type LocalServer } from '../support/localServer';
import { dropDatabase, freshDatabase } from '../support/provision';

interface TestRun {
  tenantId?: string;
  agent: string;
  status?: string;
  /** Seconds before now the run started and ended. */
  startedAgo: number;
  endedAgo: number;
  costUsd?: number;
  input?: string;
  output?: string;
  /** Tool steps: their status and result. */
  tools?: { status: string; result: unknown }[];
  /** A model step's cost, recorded `endedAgo` seconds before now. */
  modelCostUsd?: number;
}

describe('alert signals and delivery', () => {
  const url = new URL(inject('databaseUrl'));
  url.pathname = `${url.pathname}_alerts_${randomBytes(4).toString('hex')}`;
  let db: Db;
  const received: { key: string | undefined; body: any }[] = [];
  let answer = 200;
  let receiver: LocalServer;
  beforeAll(async () => {
    await freshDatabase(url.toString());
    db = createPool(url.toString(), 4);
    await migrate(db);
    receiver = await listenLocally(http.createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        received.push({ key: req.headers['idempotency-key'] as string, body: JSON.parse(text) });
        res.writeHead(answer).end();
      });
    }));
  });
  afterAll(async () => {
    await receiver?.close();
    await db?.end();
    await dropDatabase(url.toString());
  });

  const activities = (allowPrivate = true) => createAlertActivities({
    db, alerts: { webhook: { defaultUrl: undefined, allowHosts: [`127.0.0.1:${receiver.port}`], allowPrivate }, groundingSampleRate: 1 },
  });

  async function insertRun(run: TestRun): Promise<string> {
    const runId = randomUUID();
    await db.query(
      `INSERT INTO runs (run_id, tenant_id, agent, bundle_id, status, input, output, created_by, cost_usd, created_at, finished_at)
       VALUES ($1, $2, $3, $3 || '@test', $4, $5, $6, 'test', $7, now() - make_interval(secs => $8::float8), now() - make_interval(secs => $9::float8))`,
      [runId, run.tenantId ?? 'acme', run.agent, run.status ?? 'completed', run.input ?? 'x', run.output ?? null, run.costUsd ?? 0, run.startedAgo, run.endedAgo],
    );
    const steps = [
      ...(run.modelCostUsd !== undefined ? [{ kind: 'model', name: 'gpt-4o-mini', status: 'ok', detail: {}, cost: run.modelCostUsd }] : []),
      ...(run.tools ?? []).map((t) => ({ kind: 'tool', name: 'lookup_order', status: t.status, detail: { result: t.result }, cost: 0 })),
    ];
    for (const [index, step] of steps.entries()) {
      await db.query(
        `INSERT INTO run_steps (run_id, step, ordinal, kind, name, status, bundle_id, detail, cost_usd, created_at)
         VALUES ($1, 1, $2, $3, $4, $5, 'x@test', $6, $7, now() - make_interval(secs => $8::float8))`,
        [runId, index, step.kind, step.name, step.status, JSON.stringify(step.detail), step.cost, run.endedAgo],
      );
    }
    return runId;
  }

  const addRule = (ruleId: string, spec: Partial<AlertRuleSpec> & Pick<AlertRuleSpec, 'agent' | 'signal' | 'when'>, tenantId: string | null = null, webhookUrl?: string) =>
    upsertAlertRule(db, { ruleId, source: 'api', tenantId, createdBy: 'test', spec: { window: '15m', minSamples: 5, ...spec, ...(webhookUrl ? { webhookUrl } : {}) } });

  const alertsOf = async (ruleId: string) =>
    (await db.query(`SELECT scope, tenant_id AS "tenantId", state, figures FROM alerts WHERE rule_id = $1 ORDER BY scope`, [ruleId])).rows;
  const eventsOf = async (ruleId: string) =>
    (await db.query(`SELECT event_id AS "eventId", scope, transition, delivery FROM alert_events WHERE rule_id = $1 ORDER BY created_at`, [ruleId])).rows;

  it('fires on p95 latency over 1.5 × the previous day\'s, measured on the database\'s clock', async () => {
    // The baseline: 20 runs of 1 s that ended 2 h ago; the current window: 20 runs of 2 s in the last 15 minutes.
    for (let i = 0; i < 20; i++) await insertRun({ agent: 'drifty', startedAgo: 7201, endedAgo: 7200 });
    for (let i = 0; i < 20; i++) await insertRun({ agent: 'drifty', startedAgo: 62, endedAgo: 60 });
    await addRule('latency', { agent: 'drifty', signal: 'p95_latency_ms', when: 'above', baseline: { window: '24h', factor: 1.5 }, minSamples: 20 });
    await activities().evaluateAlertRules();
    const [alert] = await alertsOf('latency');
    expect(alert).toMatchObject({ scope: '*', state: 'firing', figures: { samples: 20, limit: expect.closeTo(1500, 0), baseline: { samples: 20 } } });
    expect(alert.figures.value).toBeCloseTo(2000, -1);
    // No webhook anywhere: the transition is kept, with nothing to deliver.
    expect(await eventsOf('latency')).toMatchObject([{ transition: 'fired', delivery: 'none' }]);
  });

  it('keeps one alert per tenant for spend per tenant per hour, and resolves a tenant whose spend left the window', async () => {
    for (let i = 0; i < 6; i++) await insertRun({ tenantId: 'big', agent: 'spender', startedAgo: 120, endedAgo: 100, modelCostUsd: 0.5 });
    for (let i = 0; i < 6; i++) await insertRun({ tenantId: 'small', agent: 'spender', startedAgo: 120, endedAgo: 100, modelCostUsd: 0.01 });
    await addRule('spend', { agent: 'spender', signal: 'cost_per_tenant_hour_usd', when: 'above', threshold: 2, window: '1h' });
    const { evaluateAlertRules } = activities();
    await evaluateAlertRules();
    expect(await alertsOf('spend')).toMatchObject([{ scope: 'big', tenantId: 'big', state: 'firing', figures: { value: expect.closeTo(3, 6), samples: 6 } }]);

    // Two hours later (the steps moved back): big's spend left the window, and its alert resolves.
    await db.query(`UPDATE run_steps SET created_at = created_at - interval '2 hours' WHERE run_id IN (SELECT run_id FROM runs WHERE agent = 'spender')`);
    await evaluateAlertRules();
    expect(await alertsOf('spend')).toMatchObject([{ scope: 'big', state: 'resolved', figures: { samples: 0, value: null, firing: false } }]);
    expect((await eventsOf('spend')).map((e) => [e.scope, e.transition])).toEqual([['big', 'fired'], ['big', 'resolved']]);
  });

  it('judges sampled completed runs of the rules\' agents and tenants for grounding once, and fires on the share of ungrounded answers', async () => {
    const result = { order_id: '1001', amount_cents: 12900 };
    for (let i = 0; i < 2; i++) {
      await insertRun({ agent: 'talker', startedAgo: 30, endedAgo: 20, input: 'order 1001?', output: 'Order 1001 is 12900 cents.', tools: [{ status: 'ok', result }] });
    }
    for (let i = 0; i < 3; i++) {
      await insertRun({ agent: 'talker', startedAgo: 30, endedAgo: 20, input: 'order 1001?', output: 'Order 1001 is 99999 cents.', tools: [{ status: 'ok', result }] });
    }
    await insertRun({ agent: 'talker', status: 'failed', startedAgo: 30, endedAgo: 20 });
    await addRule('grounding', { agent: 'talker', signal: 'grounding_rate', when: 'below', threshold: 0.8 });
    // A tenant's grounding rule samples that tenant's runs only.
    await addRule('picky-grounding', { agent: 'picky', signal: 'grounding_rate', when: 'below', threshold: 0.8 }, 'acme');
    await insertRun({ tenantId: 'elsewhere', agent: 'picky', startedAgo: 30, endedAgo: 20, output: 'fine' });
    const { evaluateAlertRules } = activities();
    expect(await evaluateAlertRules()).toMatchObject({ judged: 5 });
    const { rows } = await db.query(`SELECT grounded, failures, judge FROM alert_grounding_samples WHERE agent = 'talker' ORDER BY grounded`);
    expect(rows.map((r) => r.grounded)).toEqual([false, false, false, true, true]);
    expect(rows[0]).toMatchObject({ judge: 'evals.scoreGrounding', failures: ['the number 99999 is in no tool result'] });
    expect(await alertsOf('grounding')).toMatchObject([{ state: 'firing', figures: { value: 0.4, samples: 5 } }]);
    // Judged once: the next evaluation finds nothing new to judge.
    expect(await evaluateAlertRules()).toMatchObject({ judged: 0 });
  });

  it('delivers a transition once, retries a 5xx, and refuses a webhook the guard does not allow', async () => {
    const hook = `http://127.0.0.1:${receiver.port}/hook`;
    for (let i = 0; i < 5; i++) await insertRun({ agent: 'breaker', startedAgo: 30, endedAgo: 20, tools: [{ status: 'error', result: null }] });
    await addRule('breaks', { agent: 'breaker', signal: 'tool_error_rate', when: 'above', threshold: 0.5 }, 'acme', hook);
    const { evaluateAlertRules, deliverAlertEvent } = activities();
    const { pendingEventIds } = await evaluateAlertRules();
    const [event] = await eventsOf('breaks');
    expect(pendingEventIds).toContain(event.eventId);

    answer = 503;
    const failed = await deliverAlertEvent(event.eventId).catch((err) => err);
    expect(failed).toBeInstanceOf(ApplicationFailure);
    expect(failed).toMatchObject({ type: 'AlertWebhookFailed', nonRetryable: false, message: expect.stringMatching(/answered HTTP 503/) });

    // Loopback is private: without allowPrivate the guard refuses it, for good.
    const refused = await activities(false).deliverAlertEvent(event.eventId).catch((err) => err);
    expect(refused).toMatchObject({ type: 'AlertWebhookRefused', nonRetryable: true, message: expect.stringMatching(/loopback address/) });

    answer = 200;
    expect(await deliverAlertEvent(event.eventId)).toBe('delivered');
    expect(await deliverAlertEvent(event.eventId)).toBe('settled');
    expect(received.map((r) => r.key)).toEqual([event.eventId, event.eventId]);
    expect(received[1]!.body).toMatchObject({ transition: 'fired', ruleId: 'breaks', tenantId: 'acme', text: expect.stringMatching(/^\[FIRING\] breaks: tool error rate/) });
    expect(await eventsOf('breaks')).toMatchObject([{ delivery: 'delivered' }]);
    expect((await evaluateAlertRules()).pendingEventIds).not.toContain(event.eventId);
  });
});
