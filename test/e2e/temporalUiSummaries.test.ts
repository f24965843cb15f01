/**
 * Runs readable in the Temporal UI: a run's workflow carries a static summary and details (agent,
 * bundle, tenant, the input's first line, redacted), and each model and tool activity a summary of
 * its own (`model step 1 · gpt-4o-mini`, `issue_refund · order 1001`), read back from Temporal itself.
 */
import { describe, expect, it } from 'vitest';
import { activitySummaries } from '../support/historyShape';
import { useTestStack } from '../support/useTestStack';

describe('Temporal UI summaries', () => {
  const stack = useTestStack();

  it('a run shows its agent, bundle, tenant and redacted first input line, and each model and tool step its summary', async () => {
    const input = 'Refund order 1001, the customer is ada@example.com\nSecond line that is not shown';
    const runId = await stack.startRun(input);
    const run = await stack.waitForStatus(runId, 'awaiting_approval');

    const description = await stack.temporal.workflow.getHandle(runId).describe();
    expect(await description.staticSummary()).toBe('support · Refund order 1001, the customer is [redacted]');
    const details = await description.staticDetails();
    expect(details).toContain(`**Bundle** ${run.bundleId}`);
    expect(details).toContain(`**Tenant** ${stack.tenantId}`);
    expect(details).toContain('**Agent** support');
    expect(details).not.toContain('ada@example.com');
    expect(details).not.toContain('Second line');

    const approval = run.pendingApprovals[0];
    expect((await stack.decide(runId, approval.approvalId, 'approve')).status).toBe(202);
    await stack.waitForStatus(runId, 'completed');

    const summaries = activitySummaries((await stack.temporal.workflow.getHandle(runId).fetchHistory()).events ?? []);
    expect(summaries).toEqual(expect.arrayContaining([
      'callModel: model step 1 · gpt-4o-mini',
      'executeTool: lookup_order · order 1001',
      'callModel: model step 2 · gpt-4o-mini',
      'executeTool: issue_refund · order 1001',
      'callModel: model step 3 · gpt-4o-mini',
    ]));
  });
});
