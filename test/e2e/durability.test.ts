import { describe, expect, it } from 'vitest';
import { refundedAnswer, supportDemoScript } from '../../src/dev/demoScript';
import { countRefunds, testAgentsDir } from '../support/testStack';
import { useTestStack } from '../support/useTestStack';

describe('durability: workers die, runs do not', () => {
  const stack = useTestStack({
      agentsDir: testAgentsDir,
      script: {
        rules: [
          // The looper asks for the same order again and again, then answers after its 80th tool result:
          // with local steps a step adds about two and a half events to the history, so it takes that
          // many to pass the test server's 150 (SUGGEST_CONTINUE_AS_NEW_AFTER_EVENTS).
          { when: { role: 'tool', tool: 'lookup_order', minMessages: 162 }, reply: { content: 'Checked eighty times.' } },
          { when: { role: 'user', matches: 'keep checking order (\\d+)' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
          { when: { role: 'tool', tool: 'lookup_order', matches: 'Katherine' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"1004"}' }] } },
          // The final answer of a refund takes a while, so a worker can die while it is being written.
          { ...refundedAnswer, latencyMs: 4000 },
          ...supportDemoScript.rules,
        ],
      },
    });

  it('takes a decision while no worker runs and finishes on a fresh worker, refunding once', async () => {
    const runId = await stack.startRun('Refund order 1001');
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    await stack.worker.kill();

    expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await stack.api('GET', `/v1/runs/${runId}`)).body.status).toBe('awaiting_approval');

    await stack.startWorker();
    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.output).toMatch(/refunded 12900 cents/);
    expect(await countRefunds(stack.db, runId)).toBe(1);
  });

  it('drains and exits 0 on SIGTERM, and the run finishes on the next worker', async () => {
    const runId = await stack.startRun('Refund order 1003');
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    await stack.worker.stop();
    expect(await stack.worker.exited).toBe(0);
    await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve');
    await stack.startWorker();
    expect((await stack.waitForStatus(runId, 'completed')).output).toMatch(/refunded 24900 cents/);
    expect(await countRefunds(stack.db, runId)).toBe(1);
  });

  it('resumes a run whose worker was SIGKILLed in the middle of a model call', async () => {
    const runId = await stack.startRun('Refund order 1002');
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve');
    // The refund is written; the final model call (4 s of scripted latency) is in flight.
    await stack.waitForRun(runId, (run) => run.steps.some((s: any) => s.name === 'issue_refund'));
    await waitFor(() => stack.model.requests.some((r) => r.messages.at(-1)?.content?.includes('"order_id":"1002","amount_cents"')));
    await stack.worker.kill();
    await stack.startWorker();

    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.output).toBe('Done: I refunded 8950 cents for order 1002.');
    expect(await countRefunds(stack.db, runId)).toBe(1);
    expect(done.steps.filter((s: any) => s.kind === 'model')).toHaveLength(3);
  });

  it('continues as new when the history grows long, keeping steps and usage whole', async () => {
    const runId = await stack.startRun('Keep checking order 1004', {}, 'looper');
    const done = await stack.waitForStatus(runId, 'completed', 120_000);
    expect(done.output).toBe('Checked eighty times.');
    const modelSteps = done.steps.filter((s: any) => s.kind === 'model');
    expect(modelSteps.map((s: any) => s.step)).toEqual(Array.from({ length: 81 }, (_, i) => i + 1));
    expect(done.usage.inputTokens).toBe(modelSteps.reduce((n: number, s: any) => n + s.inputTokens, 0));

    const executions: string[] = [];
    for await (const w of stack.temporal.workflow.list({ query: `WorkflowId = "${runId}"` })) executions.push(w.status.name);
    expect(executions.filter((s) => s === 'CONTINUED_AS_NEW').length).toBeGreaterThanOrEqual(1);
    const result = await stack.temporal.workflow.getHandle(runId).result();
    const { inputTokens, outputTokens, costUsd } = done.usage;
    expect(result).toMatchObject({ status: 'completed', steps: 81, usage: { inputTokens, outputTokens, costUsd } });
  });
});

async function waitFor(check: () => boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
