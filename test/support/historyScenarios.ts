import { supportDemoScript } from '../../src/dev/demoScript';
import type { ModelScript } from '../../src/dev/scriptedModel';
import type { TestStack } from './testStack';

/** One run down each branch of the agentRun workflow. */
export const historyScenarios: {
  script: ModelScript;
  scenarios: { name: string; run(stack: TestStack): Promise<string> }[];
} = {
  script: {
    rules: [
      // A model that gets a tool's arguments wrong once, then gives up.
      { when: { role: 'user', matches: 'sloppy' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":42}' }] } },
      { when: { role: 'tool', matches: 'invalid tool call' }, reply: { content: 'I could not look that up.' } },
      ...supportDemoScript.rules,
    ],
  },
  scenarios: [
    { name: 'approved', run: (stack) => decideFirstApproval(stack, 'Refund order 1001', 'approve') },
    { name: 'rejected', run: (stack) => decideFirstApproval(stack, 'Refund order 1002', 'reject') },
    // Nobody decides within the stack's 2 s approval timeout.
    { name: 'expired', run: (stack) => runToCompletion(stack, 'Refund order 1003') },
    {
      name: 'cancelled',
      run: async (stack) => {
        const runId = await stack.startRun('Refund order 1004');
        await stack.waitForStatus(runId, 'awaiting_approval');
        await stack.api('POST', `/v1/runs/${runId}/cancel`);
        await stack.waitForStatus(runId, 'cancelled');
        return runId;
      },
    },
    { name: 'invalid-arguments', run: (stack) => runToCompletion(stack, 'Be sloppy with order 1001') },
    {
      // The approver refunds less than the model asked for; the run executes the edited arguments.
      name: 'edited-arguments',
      run: async (stack) => {
        const runId = await stack.startRun('Refund order 1002');
        const parked = await stack.waitForStatus(runId, 'awaiting_approval');
        const { approvalId } = parked.pendingApprovals[0];
        const res = await stack.api('POST', `/v1/runs/${runId}/approvals/${approvalId}`, {
          decision: 'approve', arguments: { order_id: '1002', amount_cents: 1000, reason: 'partial refund' },
        });
        if (res.status !== 202) throw new Error(`edited approval failed: ${res.status} ${JSON.stringify(res.body)}`);
        await stack.waitForStatus(runId, 'completed');
        return runId;
      },
    },
  ],
};

async function decideFirstApproval(stack: TestStack, input: string, decision: 'approve' | 'reject') {
  const runId = await stack.startRun(input);
  const parked = await stack.waitForStatus(runId, 'awaiting_approval');
  await stack.decide(runId, parked.pendingApprovals[0].approvalId, decision);
  await stack.waitForStatus(runId, 'completed');
  return runId;
}

async function runToCompletion(stack: TestStack, input: string) {
  const runId = await stack.startRun(input);
  await stack.waitForStatus(runId, 'completed');
  return runId;
}
