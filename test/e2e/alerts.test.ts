/**
 * Alerts through the whole stack: a rule from BOSUN_ALERT_RULES on the tool error rate of an agent,
 * the schedule the worker created (triggered by the test, never waited for), a scripted burst of
 * tool errors that fires the alert exactly once (its webhook retried after a 503 and sent with one
 * Idempotency-Key), and the resolution once successful calls outnumber the errors. Also the rules
 * API and who sees which alerts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { seedApiKeys } from '../../src/db/apiKeys';
import { alertScheduleId } from '../../src/temporal/alertSchedule';
import type { AlertEvaluationResult } from '../../src/workflows/alertEvaluation';
import { makeAgentsDir, type TestAgent } from '../support/agentsDir';
import { listenLocally, type LocalServer } from '../support/localServer';
import { useTestStack } from '../support/useTestStack';

const clerk: TestAgent = {
  prompt: 'You look orders up.',
  bundle: { model: { id: 'gpt-4o-mini' }, tools: [{ name: 'lookup_order', version: 1 }], limits: { maxSteps: 3 } },
};

const script = {
  rules: [
    { when: { role: 'user' as const, matches: '^lookup (\\d+)' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
    { when: { role: 'tool' as const, tool: 'lookup_order', matches: '"error":"([^"]*)"' }, reply: { content: 'Sorry: $1.' } },
    { when: { role: 'tool' as const, tool: 'lookup_order' }, reply: { content: 'Found it.' } },
  ],
};

/** Cross-tenant, from the rules file: fires above 50 % failed lookups over the last hour, with at least 4 calls. */
const rulesFile = {
  rules: [{ id: 'clerk-tool-errors', agent: 'clerk', signal: 'tool_error_rate', window: '1h', when: 'above', threshold: 0.5, minSamples: 4 }],
};

interface Delivery {
  idempotencyKey: string | undefined;
  body: any;
}

/** A webhook receiver that answers the first request 503 (the delivery must retry) and every later one 200. */
function startReceiver() {
  const deliveries: Delivery[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      deliveries.push({ idempotencyKey: req.headers['idempotency-key'] as string | undefined, body: JSON.parse(text) });
      res.writeHead(deliveries.length === 1 ? 503 : 200).end();
    });
  });
  return { server, deliveries };
}

const OPERATOR_KEY = 'alerts-operator-key';

describe('alerts on the tool error rate', () => {
  const receiver = startReceiver();
  let listening: LocalServer;
  const rulesDir = mkdtempSync(path.join(tmpdir(), 'bosun-alert-rules-'));
  const agents = makeAgentsDir({ clerk });
  beforeAll(async () => {
    listening = await listenLocally(receiver.server);
    writeFileSync(path.join(rulesDir, 'rules.yaml'), stringify(rulesFile));
  });
  const stack = useTestStack(() => ({
    script,
    agentsDir: agents.dir,
    env: {
      BOSUN_ALERT_RULES: path.join(rulesDir, 'rules.yaml'),
      // Long: the test triggers every evaluation itself.
      BOSUN_ALERT_INTERVAL: '1h',
      BOSUN_ALERT_WEBHOOK_URL: `http://127.0.0.1:${listening.port}/hooks/bosun`,
      BOSUN_ALERT_WEBHOOK_ALLOW_PRIVATE: 'true',
      BOSUN_ALERT_OPERATOR_TENANTS: 'operators',
    },
  }));
  beforeAll(() => seedApiKeys(stack.db, [{ key: OPERATOR_KEY, tenantId: 'operators', roles: ['admin'] }]));
  afterAll(async () => {
    await listening?.close();
    agents.remove();
    rmSync(rulesDir, { recursive: true, force: true });
  });

  const asOperator = { authorization: `Bearer ${OPERATOR_KEY}` };

  /** Triggers the schedule once and waits for that evaluation's workflow to finish; its result. */
  async function evaluateOnce(): Promise<AlertEvaluationResult> {
    const schedule = stack.temporal.schedule.getHandle(alertScheduleId(stack.env.TEMPORAL_TASK_QUEUE!));
    const before = (await schedule.describe()).info.numActionsTaken;
    await schedule.trigger();
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { info } = await schedule.describe();
      const started = info.recentActions.at(-1)?.action;
      if (info.numActionsTaken > before && started) {
        return stack.temporal.workflow.getHandle(started.workflow.workflowId, started.workflow.firstExecutionRunId).result();
      }
      if (Date.now() > deadline) throw new Error('the triggered alert evaluation did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function lookups(orderId: string, times: number): Promise<void> {
    const runIds = await Promise.all(Array.from({ length: times }, () => stack.startRun(`lookup ${orderId}`, {}, 'clerk')));
    for (const runId of runIds) await stack.waitForStatus(runId, 'completed');
  }

  const alertOf = async () => (await stack.api('GET', '/v1/alerts', undefined, asOperator)).body.alerts.find((a: any) => a.ruleId === 'config:clerk-tool-errors');
  const transitions = (kind: string) => receiver.deliveries.filter((d) => d.body.transition === kind);

  it('does not fire on fewer calls than the rule\'s minimum, however many fail', async () => {
    await lookups('9999', 2);
    const result = await evaluateOnce();
    expect(result).toMatchObject({ transitions: 0, delivered: 0 });
    expect(await alertOf()).toBeUndefined();
    expect(receiver.deliveries).toEqual([]);
  });

  it('fires once on a burst of tool errors, delivering one transition after a retry', async () => {
    await lookups('9999', 3);
    expect(await evaluateOnce()).toMatchObject({ transitions: 1, delivered: 1, failed: 0 });
    const alert = await alertOf();
    expect(alert).toMatchObject({
      state: 'firing', scope: '*', tenantId: null, agent: 'clerk',
      figures: { signal: 'tool_error_rate', value: 1, samples: 5, minSamples: 4, limit: 0.5, firing: true },
    });
    // The receiver's 503 was retried with the same key: two requests, one transition.
    const fired = transitions('fired');
    expect(fired).toHaveLength(2);
    expect(new Set(fired.map((d) => d.idempotencyKey)).size).toBe(1);
    expect(fired[0]!.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(fired[1]!.body).toMatchObject({ ruleId: 'config:clerk-tool-errors', transition: 'fired', figures: { value: 1, samples: 5 } });
    expect(fired[1]!.body.text).toMatch(/^\[FIRING\] config:clerk-tool-errors: tool error rate of agent clerk: 100% > 50% over the last 1h, 5 samples$/);

    // Still failing: evaluated again, no second page.
    await lookups('9999', 1);
    expect(await evaluateOnce()).toMatchObject({ transitions: 0, delivered: 0 });
    expect(await alertOf()).toMatchObject({ state: 'firing', since: alert.since, figures: { samples: 6 } });
    expect(transitions('fired')).toHaveLength(2);
  });

  it('resolves, with a second webhook, once successful calls bring the rate under the limit', async () => {
    await lookups('1001', 7);
    expect(await evaluateOnce()).toMatchObject({ transitions: 1, delivered: 1 });
    expect(await alertOf()).toMatchObject({ state: 'resolved', figures: { value: expect.closeTo(6 / 13, 6), samples: 13, firing: false } });
    const resolved = transitions('resolved');
    expect(resolved).toHaveLength(1);
    expect(resolved[0]!.body.text).toMatch(/^\[RESOLVED\] config:clerk-tool-errors: tool error rate of agent clerk: 46\.2% ≤ 50%/);
    expect(resolved[0]!.idempotencyKey).not.toBe(transitions('fired')[0]!.idempotencyKey);
    expect(receiver.deliveries).toHaveLength(3);
  });

  it('shows a cross-tenant alert to operators only', async () => {
    expect((await stack.api('GET', '/v1/alerts')).body.alerts).toEqual([]);
    expect((await stack.api('GET', '/v1/alerts?state=resolved', undefined, asOperator)).body.alerts).toHaveLength(1);
    expect((await stack.api('GET', '/v1/alerts?state=firing', undefined, asOperator)).body.alerts).toHaveLength(0);
  });

  it('manages a tenant\'s own rules, refusing bad ones with every problem and leaving file rules to the file', async () => {
    const bad = await stack.api('POST', '/v1/alerts/rules', { agent: 'clerk', signal: 'latency', when: 'sideways', threshold: 1, baseline: { window: '1d', factor: 2 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^signal:/), expect.stringMatching(/^when:/)]));
    const twoLimits = await stack.api('POST', '/v1/alerts/rules', { agent: 'clerk', signal: 'p95_latency_ms', when: 'above', threshold: 1, baseline: { window: '24h', factor: 1.5 } });
    expect(twoLimits.status).toBe(400);
    expect(twoLimits.body.error.problems).toEqual([expect.stringMatching(/^threshold: give exactly one of threshold/)]);
    const elsewhere = await stack.api('POST', '/v1/alerts/rules', {
      agent: 'clerk', signal: 'cost_per_run_usd', when: 'above', threshold: 0.5, webhookUrl: 'https://hooks.example.com/T000/secret',
    });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error.problems).toEqual([expect.stringMatching(/^webhookUrl: hooks\.example\.com is not among/)]);

    const created = await stack.api('POST', '/v1/alerts/rules', {
      agent: 'clerk', signal: 'p95_latency_ms', when: 'above', window: '15m', baseline: { window: '24h', factor: 1.5 }, minSamples: 30,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ source: 'api', tenantId: stack.tenantId, threshold: null, baseline: { window: '24h', factor: 1.5 }, webhookHost: null });
    const mine = (await stack.api('GET', '/v1/alerts/rules')).body.rules;
    expect(mine.map((r: any) => r.ruleId)).toEqual([created.body.ruleId]);
    const all = (await stack.api('GET', '/v1/alerts/rules', undefined, asOperator)).body.rules;
    expect(all.map((r: any) => r.ruleId)).toEqual(expect.arrayContaining(['config:clerk-tool-errors', created.body.ruleId]));

    expect((await stack.api('DELETE', '/v1/alerts/rules/config:clerk-tool-errors')).status).toBe(404);
    expect((await stack.api('DELETE', '/v1/alerts/rules/config:clerk-tool-errors', undefined, asOperator)).status).toBe(409);
    expect((await stack.api('DELETE', `/v1/alerts/rules/${created.body.ruleId}`)).status).toBe(204);
    expect((await stack.api('GET', '/v1/alerts/rules')).body.rules).toEqual([]);
  });

  it('answers 403 to a key without the admin role', async () => {
    const { body } = await stack.api('POST', '/v1/keys', { roles: ['runner'] });
    expect((await stack.api('GET', '/v1/alerts', undefined, { authorization: `Bearer ${body.key}` })).status).toBe(403);
  });
});
