import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { startTestStack, type TestStack } from '../support/testStack';

/** A runaway model that never stops asking for tools, against each of the run's hard ceilings. */
describe('per-run caps', () => {
  let stack: TestStack;
  const base = readBundleDir('agents/support');
  beforeAll(async () => {
    stack = await startTestStack({
      script: {
        rules: [
          { when: { role: 'user' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"1001"}' }] } },
          { when: { role: 'tool' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"1002"}' }] } },
        ],
      },
    });
  });
  afterAll(() => stack?.close());

  async function runWithLimits(limits: Record<string, number>) {
    const published = await stack.api('POST', '/v1/bundles', { ...base, limits: { maxSteps: 50, ...limits } });
    expect(published.status).toBeLessThan(300);
    const start = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Loop forever', bundleId: published.body.bundleId });
    expect(start.status).toBe(202);
    const run = await stack.waitForRun(start.body.runId, (r) => ['step_limit', 'budget_exceeded', 'failed', 'completed'].includes(r.status));
    const requests = stack.model.requests.filter((r) => r.messages.some((m) => m.content === 'Loop forever') && r.messages.length >= 2);
    return { run, modelSteps: run.steps.filter((s: any) => s.kind === 'model'), toolSteps: run.steps.filter((s: any) => s.kind === 'tool'), requests };
  }

  it('stops at exactly the step cap', async () => {
    const { run, modelSteps } = await runWithLimits({ maxSteps: 4 });
    expect(run.status).toBe('step_limit');
    expect(run.error).toEqual({ code: 'step_limit', message: expect.stringMatching(/step limit of 4/) });
    expect(modelSteps).toHaveLength(4);
  });

  it('stops at exactly the tool-call cap, without running the call past it', async () => {
    const { run, modelSteps, toolSteps } = await runWithLimits({ maxToolCalls: 3 });
    expect(run.status).toBe('budget_exceeded');
    expect(run.error).toEqual({ code: 'tool_call_limit', message: expect.stringMatching(/tool call limit of 3/) });
    expect(toolSteps).toHaveLength(3);
    expect(modelSteps).toHaveLength(4);
  });

  it('makes no model call once the token cap is reached', async () => {
    const { run, modelSteps } = await runWithLimits({ maxTotalTokens: 2000 });
    expect(run.status).toBe('budget_exceeded');
    expect(run.error.code).toBe('token_limit');
    const tokens = modelSteps.map((s: any) => s.inputTokens + s.outputTokens);
    const total = tokens.reduce((a: number, b: number) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(2000);
    expect(total - tokens.at(-1)).toBeLessThan(2000);
    expect(run.usage.inputTokens + run.usage.outputTokens).toBe(total);
  });

  it('makes no model call once the cost cap is reached', async () => {
    const { run, modelSteps } = await runWithLimits({ maxCostUsd: 0.0005 });
    expect(run.status).toBe('budget_exceeded');
    expect(run.error).toEqual({ code: 'cost_limit', message: expect.stringMatching(/cost limit/) });
    const costs = modelSteps.map((s: any) => s.costUsd);
    const total = costs.reduce((a: number, b: number) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(0.0005);
    expect(total - costs.at(-1)).toBeLessThan(0.0005);
  });
});
