import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { startTestStack, type TestStack } from '../support/testStack';

const finished = ['completed', 'failed', 'budget_exceeded', 'step_limit', 'cancelled'];

describe('cost attribution, prompt caching and per-tenant budgets', () => {
  let stack: TestStack;
  let bundleId: string;
  beforeAll(async () => {
    stack = await startTestStack({
      script: {
        rules: [{ when: { role: 'user' }, reply: { content: 'Done.' } }],
        faults: [{ when: { role: 'user', matches: 'Flaky' }, status: 500, times: 1 }],
      },
    });
    const base = readBundleDir('agents/support');
    const published = await stack.api('POST', '/v1/bundles', { ...base, model: { id: 'gpt-4o-mini', maxOutputTokens: 20 } });
    bundleId = published.body.bundleId;
  });
  afterAll(() => stack?.close());

  const runOnce = async (input: string) => {
    const start = await stack.api('POST', '/v1/runs', { agent: 'support', input, bundleId });
    return stack.waitForRun(start.body.runId, (r) => finished.includes(r.status));
  };

  it('prices cached prompt tokens at the cached price, once, and reports the saving', async () => {
    await runOnce('Warm the cache');
    const run = await runOnce('Use the cache');
    const [step] = run.steps;
    expect(step.cachedInputTokens).toBeGreaterThan(0);
    expect(step.cachedInputTokens).toBeLessThan(step.inputTokens);
    const uncached = step.inputTokens - step.cachedInputTokens;
    // gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per million tokens.
    const expected = Math.round(((uncached * 0.15 + step.cachedInputTokens * 0.075 + step.outputTokens * 0.6) / 1e6) * 1e6) / 1e6;
    expect(step.costUsd).toBeCloseTo(expected, 6);
    expect(run.usage).toMatchObject({ cachedInputTokens: step.cachedInputTokens, costUsd: step.costUsd });
    expect(run.usage.cacheSavingsUsd).toBeCloseTo((step.cachedInputTokens * 0.075) / 1e6, 6);
    const sentKeys = stack.model.requests.filter((r) => r.messages.some((m) => m.content === 'Use the cache'));
    expect(sentKeys.length).toBe(1);
  });

  it('totals usage by bundle and by day to the token', async () => {
    const usage = await stack.api('GET', '/v1/usage?groupBy=bundle');
    expect(usage.status).toBe(200);
    const { rows } = await stack.db.query(
      `SELECT sum(input_tokens)::int AS i, sum(output_tokens)::int AS o, sum(cost_usd) AS c FROM runs WHERE tenant_id = $1 AND bundle_id = $2`,
      [stack.tenantId, bundleId],
    );
    const total = usage.body.totals.find((t: any) => t.key === bundleId);
    expect(total).toMatchObject({ inputTokens: rows[0].i, outputTokens: rows[0].o });
    expect(total.costUsd).toBeCloseTo(rows[0].c, 6);
    const byDay = await stack.api('GET', '/v1/usage?groupBy=day');
    expect(byDay.body.totals[0].key).toMatch(/^\d{4}-\d\d-\d\d$/);
    expect((await stack.api('GET', '/v1/usage?groupBy=planet')).status).toBe(400);
  });

  it('never lets 50 concurrent runs overspend a budget that fits about 10 by more than one call', async () => {
    const calibration = await runOnce('How much does one run cost?');
    const perRun = calibration.usage.costUsd;
    const limitUsd = Math.round(perRun * 10.5 * 1e6) / 1e6;
    expect((await stack.api('PUT', '/v1/budgets/day', { limitUsd, mode: 'hard' })).status).toBe(200);

    const starts = await Promise.all(
      Array.from({ length: 50 }, (_, i) => stack.api('POST', '/v1/runs', { agent: 'support', input: `Budget run ${i}`, bundleId })),
    );
    const runs = await Promise.all(starts.map((s) => stack.waitForRun(s.body.runId, (r) => finished.includes(r.status), 120_000)));
    const byStatus = (status: string) => runs.filter((r) => r.status === status);
    expect(byStatus('completed').length + byStatus('budget_exceeded').length).toBe(50);
    expect(byStatus('completed').length).toBeGreaterThanOrEqual(5);
    expect(byStatus('budget_exceeded')[0].error).toMatchObject({ code: 'budget_exceeded', message: expect.stringMatching(/day budget of \$/) });

    const spent = runs.reduce((sum, r) => sum + r.usage.costUsd, 0);
    const budgets = await stack.api('GET', '/v1/budgets');
    const day = budgets.body.budgets.find((b: any) => b.period === 'day');
    expect(day.spentUsd).toBeCloseTo(spent, 6);
    expect(day.reservedUsd).toBe(0);
    // One call's worst case: the whole prompt uncached at 3 characters a token, plus 20 output tokens.
    const worstCall = perRun * 2;
    expect(spent).toBeLessThanOrEqual(limitUsd + worstCall);
    expect(day.thresholdsCrossed).toEqual([50, 80, 95].filter((t) => spent >= (limitUsd * t) / 100));
    expect(day.thresholdsCrossed).toContain(50);
  });

  it('charges a call that succeeds after a failed attempt, once', async () => {
    expect((await stack.api('PUT', '/v1/budgets/day', { limitUsd: 1000, mode: 'hard' })).status).toBe(200);
    const before = (await stack.api('GET', '/v1/budgets')).body.budgets.find((b: any) => b.period === 'day');
    const run = await runOnce('Flaky provider, then fine');
    expect(run.status).toBe('completed');
    expect(stack.model.requests.filter((r) => r.messages.some((m) => m.content === 'Flaky provider, then fine')).map((r) => r.answeredWith)).toEqual([500, 200]);
    const after = (await stack.api('GET', '/v1/budgets')).body.budgets.find((b: any) => b.period === 'day');
    expect(after.spentUsd - before.spentUsd).toBeCloseTo(run.usage.costUsd, 6);
    expect(after.reservedUsd).toBe(0);
  });

  it('records soft budgets without refusing, and validates budget requests', async () => {
    expect((await stack.api('PUT', '/v1/budgets/month', { limitUsd: 0.000001, mode: 'soft' })).status).toBe(200);
    expect((await stack.api('PUT', '/v1/budgets/week', { limitUsd: 1, mode: 'soft' })).status).toBe(400);
    expect((await stack.api('PUT', '/v1/budgets/day', { limitUsd: -1, mode: 'hard' })).status).toBe(400);
    expect((await stack.api('PUT', '/v1/budgets/day', { limitUsd: 1000, mode: 'hard' })).status).toBe(200);
    const run = await runOnce('Soft budgets only record');
    expect(run.status).toBe('completed');
    const month = (await stack.api('GET', '/v1/budgets')).body.budgets.find((b: any) => b.period === 'month');
    expect(month.spentUsd).toBeGreaterThan(month.limitUsd);
    expect(month.thresholdsCrossed).toEqual([50, 80, 95]);
  });
});
