import { describe, expect, it } from 'vitest';
import { countRefunds } from '../support/testStack';
import { useTestStack } from '../support/useTestStack';

describe('the demo support run through the HTTP API', () => {
  const stack = useTestStack();

  it('parks on approval, and on approval writes the refund once and completes', async () => {
    const start = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Refund order 1001', metadata: { ticket: 'T-1' } });
    expect(start.status).toBe(202);
    expect(start.body).toMatchObject({ status: 'queued', agent: 'support', tenantId: stack.tenantId });
    expect(start.body.bundleId).toMatch(/^support@[0-9a-f]{12}$/);
    const { runId } = start.body;

    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    expect(parked.pendingApprovals).toHaveLength(1);
    const [approval] = parked.pendingApprovals;
    expect(approval).toMatchObject({ tool: 'issue_refund', arguments: { order_id: '1001', amount_cents: 12900 } });
    expect(Date.parse(approval.expiresAt) - Date.parse(approval.requestedAt)).toBe(24 * 3600 * 1000);
    expect(parked.steps.map((s: any) => `${s.kind}:${s.name}`)).toEqual(['model:gpt-4o-mini', 'tool:lookup_order', 'model:gpt-4o-mini']);
    expect(await countRefunds(stack.db, runId)).toBe(0);

    const progress = await stack.temporal.workflow.getHandle(runId).query('progress');
    expect(progress).toMatchObject({ status: 'awaiting_approval', step: 2 });

    const decided = await stack.decide(runId, approval.approvalId, 'approve', 'looks right');
    expect(decided.status).toBe(202);

    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.output).toBe('Done: I refunded 12900 cents for order 1001.');
    expect(done.pendingApprovals).toEqual([]);
    expect(done.approvals[0]).toMatchObject({ status: 'approved', comment: 'looks right', decidedBy: expect.stringMatching(/^key_/) });
    expect(done.steps.map((s: any) => `${s.kind}:${s.name}:${s.status}`)).toEqual([
      'model:gpt-4o-mini:ok', 'tool:lookup_order:ok', 'model:gpt-4o-mini:ok', 'tool:issue_refund:ok', 'model:gpt-4o-mini:ok',
    ]);
    expect(done.steps.every((s: any) => s.bundleId === done.bundleId)).toBe(true);
    expect(done.metadata).toEqual({ ticket: 'T-1' });
    const modelSteps = done.steps.filter((s: any) => s.kind === 'model');
    expect(done.usage.inputTokens).toBe(modelSteps.reduce((n: number, s: any) => n + s.inputTokens, 0));
    expect(done.usage.inputTokens).toBeGreaterThan(0);
    expect(done.usage.costUsd).toBeGreaterThan(0);
    expect(await countRefunds(stack.db, runId)).toBe(1);
  });

  it('tells the model about a rejection, writes no refund, and keeps who decided', async () => {
    const runId = await stack.startRun('Please refund order 1002');
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    const { approvalId } = parked.pendingApprovals[0];

    expect((await stack.decide(runId, approvalId, 'reject', 'not eligible')).status).toBe(202);
    const done = await stack.waitForStatus(runId, 'completed');

    expect(done.output).toMatch(/not approved/);
    expect(done.approvals[0]).toMatchObject({ status: 'rejected', comment: 'not eligible', decidedBy: expect.stringMatching(/^key_/) });
    expect(done.steps.find((s: any) => s.name === 'issue_refund').status).toBe('rejected');
    expect(await countRefunds(stack.db, runId)).toBe(0);
    const lastRequest = stack.model.requests.filter((r) => r.messages.some((m) => m.content === 'Please refund order 1002')).at(-1)!;
    expect(lastRequest.messages.at(-1)).toMatchObject({ role: 'tool', content: expect.stringContaining('rejected') });
  });

  it('keeps the Temporal search attributes current so operators can filter runs', async () => {
    const runId = await stack.startRun('Refund order 1003');
    await stack.waitForStatus(runId, 'awaiting_approval');
    const query = `TenantId = "${stack.tenantId}" AND RunStatus = "awaiting_approval" AND AgentName = "support"`;
    const ids = await eventually(async () => {
      const found: string[] = [];
      for await (const w of stack.temporal.workflow.list({ query })) found.push(w.workflowId);
      return found.includes(runId) ? found : undefined;
    });
    expect(ids).toContain(runId);
    const description = await stack.temporal.workflow.getHandle(runId).describe();
    expect(description.typedSearchAttributes.get({ name: 'BundleId', type: 'KEYWORD' } as never)).toMatch(/^support@/);
  });

  it('cancels a waiting run', async () => {
    const runId = await stack.startRun('Refund order 1004');
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    expect((await stack.api('POST', `/v1/runs/${runId}/cancel`)).status).toBe(202);
    const done = await stack.waitForStatus(runId, 'cancelled');
    expect(done.approvals[0].status).toBe('cancelled');
    expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(409);
    expect((await stack.api('POST', `/v1/runs/${runId}/cancel`)).status).toBe(409);
    expect(await countRefunds(stack.db, runId)).toBe(0);
  });
});

/** Retries a read of eventually-consistent state (Temporal's visibility store) until it yields. */
async function eventually<T>(read: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}
