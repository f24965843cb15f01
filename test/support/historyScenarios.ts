import { randomUUID } from 'node:crypto';
import { insertAlertEvent } from '../../src/db/alerts';
import { supportDemoScript } from '../../src/dev/demoScript';
import type { ModelScript } from '../../src/dev/scriptedModel';
import { evaluateRule } from '../../src/shared/alerts';
import type { TestStack } from './testStack';

/** One run down each branch of the agentRun workflow, and one alert evaluation. */
export const historyScenarios: {
  script: ModelScript;
  scenarios: { name: string; run(stack: TestStack): Promise<string> }[];
} = {
  script: {
    rules: [
      // A model that gets a tool's arguments wrong once, then gives up.
      { when: { role: 'user', matches: 'sloppy' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":42}' }] } },
      { when: { role: 'tool', matches: 'invalid tool call' }, reply: { content: 'I could not look that up.' } },
      // A run that holds its run slot for a while.
      { when: { role: 'user', matches: 'take your time' }, reply: { content: 'Thought it over.' }, latencyMs: 3000 },
      // A model call still in flight when a newer message on the run's thread interrupts it.
      { when: { role: 'user', matches: 'look up order (\\d+) slowly' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] }, latencyMs: 2000 },
      // A model call still in flight when its run is cancelled.
      { when: { role: 'user', matches: 'think it over for a minute' }, reply: { content: 'Thought it over.' }, latencyMs: 60_000 },
      ...supportDemoScript.rules,
    ],
  },
  scenarios: [
    { name: 'approved', run: (stack) => decideFirstApproval(stack, 'Refund order 1001', 'approve') },
    { name: 'rejected', run: (stack) => decideFirstApproval(stack, 'Refund order 1002', 'reject') },
    // Nobody decides within the stack's 2 s approval timeout.
    { name: 'expired', run: (stack) => runToCompletion(stack, 'Refund order 1003') },
    { name: 'cancelled', run: (stack) => cancelWhileAwaitingApproval(stack, 'Refund order 1004') },
    {
      // Cancelled while its model call is in flight: the call is abandoned and the run ends at once.
      name: 'cancelled-during-a-model-call',
      run: async (stack) => {
        const input = 'Think it over for a minute';
        const runId = await stack.startRun(input);
        await stack.waitForRun(runId, () => stack.model.requests.some((r) => r.messages.at(-1)?.content === input));
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
    // The lean-steps shape (src/workflows/agentRun/proxies.ts): approvals requested and expired and
    // the refused call recorded as local activities, the run ended by its answering model step ...
    { name: 'lean-expired', run: (stack) => runToCompletion(stack, 'Refund order 1003') },
    {
      // ... or, cancelled while it waits for its approval, by finishRun as a local activity.
      name: 'lean-cancelled',
      run: (stack) => cancelWhileAwaitingApproval(stack, 'Refund order 1004'),
    },
    {
      // The tenant may run one run at a time: the refund waits as queued behind a slow run, parks on
      // its approval without a slot, and after the decision queues again behind another slow run.
      name: 'queued-for-a-slot',
      run: async (stack) => {
        await stack.db.query(
          `INSERT INTO tenant_limits (tenant_id, max_running) VALUES ($1, 1) ON CONFLICT (tenant_id) DO UPDATE SET max_running = 1`,
          [stack.tenantId],
        );
        try {
          const first = await stack.startRun('Take your time with this one');
          await stack.waitForStatus(first, 'running');
          const runId = await stack.startRun('Refund order 1001');
          await stack.waitForRun(runId, (run) => run.status === 'queued' && run.queuePosition === 1);
          const parked = await stack.waitForStatus(runId, 'awaiting_approval');
          const second = await stack.startRun('Take your time with this one too');
          await stack.waitForStatus(second, 'running');
          await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve');
          await stack.waitForStatus(runId, 'queued');
          await stack.waitForStatus(runId, 'completed');
          await stack.waitForStatus(second, 'completed');
          return runId;
        } finally {
          await stack.db.query('DELETE FROM tenant_limits WHERE tenant_id = $1', [stack.tenantId]);
        }
      },
    },
  ],
};

/**
 * A run on a thread that a newer message interrupts (src/workflows/agentRun/interrupt.ts) once
 * `until` holds for it: it stops at its next safe point, and the newer run completes.
 */
async function interruptOnThread(stack: TestStack, input: string, until: (run: any) => boolean) {
  const thread = await stack.api('POST', '/v1/threads', { agent: 'support' });
  const first = await stack.api('POST', `/v1/threads/${thread.body.threadId}/runs`, { input });
  const runId = first.body.runId as string;
  await stack.waitForRun(runId, until);
  const next = await stack.api('POST', `/v1/threads/${thread.body.threadId}/runs`, { input: 'Hello', multitaskStrategy: 'interrupt' });
  if (next.status !== 202) throw new Error(`interrupting message failed: ${next.status} ${JSON.stringify(next.body)}`);
  await stack.waitForStatus(runId, 'cancelled');
  await stack.waitForStatus(next.body.runId, 'completed');
  return runId;
}

async function decideFirstApproval(stack: TestStack, input: string, decision: 'approve' | 'reject') {
  const runId = await stack.startRun(input);
  const parked = await stack.waitForStatus(runId, 'awaiting_approval');
  await stack.decide(runId, parked.pendingApprovals[0].approvalId, decision);
  await stack.waitForStatus(runId, 'completed');
  return runId;
}

async function cancelWhileAwaitingApproval(stack: TestStack, input: string) {
  const runId = await stack.startRun(input);
  await stack.waitForStatus(runId, 'awaiting_approval');
  await stack.api('POST', `/v1/runs/${runId}/cancel`);
  await stack.waitForStatus(runId, 'cancelled');
  return runId;
}

async function runToCompletion(stack: TestStack, input: string) {
  const runId = await stack.startRun(input);
  await stack.waitForStatus(runId, 'completed');
  return runId;
}

historyScenarios.scenarios.push(
  {
    // Interrupted during its first model call: the tool it asked for runs, then the run ends before the next model call.
    name: 'interrupted-between-steps',
    run: (stack) => {
      const input = 'Please look up order 1001 slowly';
      return interruptOnThread(stack, input, () => stack.model.requests.some((r) => r.messages.at(-1)?.content === input));
    },
  },
  {
    // Interrupted while it waits for an approval: the call is not run, the run ends at once.
    name: 'interrupted-awaiting-approval',
    run: (stack) => interruptOnThread(stack, 'Refund order 1002', (run) => run.status === 'awaiting_approval'),
  },
);

// The same path since queued runs are woken (each wait: one check, then the `admitted` signal from
// the run that freed the slot); `queued-for-a-slot` was recorded when they polled by retrying admitRun.
historyScenarios.scenarios.push({ name: 'woken-for-a-slot', run: historyScenarios.scenarios.find((s) => s.name === 'queued-for-a-slot')!.run });

// The local-steps shape (src/workflows/agentRun/proxies.ts): the slot checks, the model steps and
// the read (lookup_order, hosted by the stack's worker) as local activities, the approved write
// (issue_refund) as a regular activity on its tool's queue.
historyScenarios.scenarios.push({ name: 'local-steps', run: (stack) => decideFirstApproval(stack, 'Refund order 1001', 'approve') });

// The same paths in the current shape (src/workflows/agentRun/patches.ts): one marker for every
// patch the run takes, a turn of a thread interrupted while it waits for an approval among them.
historyScenarios.scenarios.push(
  { name: 'current-shape', run: (stack) => decideFirstApproval(stack, 'Refund order 1001', 'approve') },
  { name: 'current-shape-interrupted', run: historyScenarios.scenarios.find((s) => s.name === 'interrupted-awaiting-approval')!.run },
);

// An alert evaluation with a transition to deliver whose webhook the egress guard refuses: the
// evaluation, the delivery and the failure recorded (the stack's workers have no schedule).
historyScenarios.scenarios.push({
  name: 'alert-evaluation',
  run: async (stack) => {
    const figures = evaluateRule({ signal: 'tool_error_rate', window: '15m', when: 'above', threshold: 0.2, baseline: null, minSamples: 1 }, { samples: 1, value: 1 });
    await insertAlertEvent(stack.db, {
      eventId: randomUUID(), ruleId: 'history', scope: '*', tenantId: null, transition: 'fired', figures, text: '[FIRING] history',
      webhookUrl: 'https://hooks.example.invalid/not-allowed',
    });
    const workflowId = `alert-evaluation-${randomUUID()}`;
    await stack.temporal.workflow.execute('alertEvaluation', { taskQueue: stack.env.TEMPORAL_TASK_QUEUE!, workflowId });
    return workflowId;
  },
});
