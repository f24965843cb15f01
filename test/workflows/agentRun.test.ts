/**
 * The agentRun workflow's loop on the real dev server, with its activities replaced by in-memory
 * fakes that record every call: the approval gate (approve, edit, reject, expiry), the caps,
 * repeated tool-call IDs, invalid arguments sent back to the model, and how failures end a run.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { Activities } from '../../src/activities';
import type { AgentRunInput, ApprovalDecision, ModelReply, PendingApproval, RunPolicy, RunProgress, ToolCall } from '../../src/shared/domain';
import { agentRun, approvalDecidedSignal, progressQuery } from '../../src/workflows';
import { CURRENT_SHAPE } from '../../src/workflows/agentRun/patches';
import { historyShape } from '../support/historyShape';
import { useWorkflowWorker } from '../support/workflowWorker';

type ActivityName = keyof Activities;
type Recorded = { name: ActivityName; input: any };

const usage = { inputTokens: 10, outputTokens: 5, costUsd: 0.001 };
const toolCalls = (...calls: ToolCall[]): ModelReply => ({ kind: 'tool_calls', toolCalls: calls, usage });
const final = (text = 'done'): ModelReply => ({ kind: 'final', text, usage });
const refund = (id: string, amountCents = 500): ToolCall => ({ id, name: 'issue_refund', arguments: JSON.stringify({ order_id: '1001', amount_cents: amountCents }) });
const lookup = (id: string, orderId = '1001'): ToolCall => ({ id, name: 'lookup_order', arguments: JSON.stringify({ order_id: orderId }) });

/** One run's fake activities: the model answers from a script, one reply per step; every call is recorded. */
class FakeRun {
  readonly runId = randomUUID();
  readonly calls: Recorded[] = [];
  /** What expireApproval answers: the database's decision for an approval nobody signalled in time. */
  expiredAs: ApprovalDecision = 'rejected';
  /** Thrown by callModel instead of answering, when set. */
  modelFailure: Error | undefined;
  /** Tools the workflow's own worker does not host: a local call of one fails as ToolNotHosted. */
  notHosted = new Set<string>();
  /** Checks for a slot that answer RunQueued (no live worker has the run's tools yet) before one admits the run. */
  toolsMissingFor = 0;

  constructor(readonly replies: ModelReply[]) {}

  activity(name: ActivityName, input: any): unknown {
    this.calls.push({ name, input });
    switch (name) {
      case 'callModel': {
        if (this.modelFailure) throw this.modelFailure;
        const reply = this.replies[input.step - 1];
        if (!reply) throw ApplicationFailure.nonRetryable(`the script has no reply for step ${input.step}`, 'ScriptEnded');
        return reply;
      }
      case 'queueForSlot':
        if (this.toolsMissingFor > 0) {
          this.toolsMissingFor -= 1;
          throw ApplicationFailure.create({ type: 'RunQueued', message: 'no live worker has lookup_order', nextRetryDelay: 100 });
        }
        // A slot is free at once: the run never waits for its wake-up.
        return { admitted: true };
      case 'expireApproval':
        return this.expiredAs;
      case 'executeTool':
        if (input.here && this.notHosted.has(input.tool)) throw ApplicationFailure.nonRetryable(`this worker does not have ${input.tool}`, 'ToolNotHosted');
        return 'ok';
      default:
        return undefined;
    }
  }

  names(): ActivityName[] {
    return this.calls.map((c) => c.name);
  }

  named(name: ActivityName): any[] {
    return this.calls.filter((c) => c.name === name).map((c) => c.input);
  }

  approvals(): PendingApproval[] {
    return this.named('requestApprovals').flatMap((i) => i.approvals);
  }
}

const policy = (more: Partial<RunPolicy> = {}): RunPolicy => ({
  maxSteps: 10,
  approvalTimeoutMs: 60_000,
  tools: [
    { name: 'lookup_order', kind: 'read', requiresApproval: false },
    { name: 'issue_refund', kind: 'write', requiresApproval: true },
  ],
  ...more,
});

describe('agentRun workflow', () => {
  const runs = new Map<string, FakeRun>();
  const runOfApproval = new Map<string, FakeRun>();

  /** Finds the run an activity call belongs to: by run ID, or by approval ID for expireApproval. */
  function runOf(input: any): FakeRun {
    const run = input.runId ? runs.get(input.runId) : runOfApproval.get(input.approvalId);
    if (!run) throw new Error(`no fake run for ${JSON.stringify(input)}`);
    return run;
  }

  const activityNames: ActivityName[] = [
    'startRun', 'admitRun', 'queueForSlot', 'setRunStatus', 'callModel', 'requestApprovals', 'expireApproval', 'recordToolError', 'executeTool',
    'finishRun',
  ];

  const temporal = useWorkflowWorker(Object.fromEntries(
    activityNames.map((name) => [
      name,
      async (input: any) => {
        const run = runOf(input);
        if (name === 'requestApprovals') for (const a of input.approvals) runOfApproval.set(a.approvalId, run);
        return run.activity(name, input);
      },
    ]),
  ));

  /** Starts a run whose model answers `replies`; `prepare` sets up its fakes before the workflow starts. */
  async function start(
    replies: ModelReply[], runPolicy: RunPolicy = policy(), prepare: (run: FakeRun) => void = () => {}, more: Partial<AgentRunInput> = {},
  ): Promise<{ run: FakeRun; handle: WorkflowHandle<typeof agentRun> }> {
    const run = new FakeRun(replies);
    prepare(run);
    runs.set(run.runId, run);
    const input: AgentRunInput = { runId: run.runId, tenantId: 't1', agent: 'support', bundleId: 'support@test', policy: runPolicy, ...more };
    const handle = await temporal.client.workflow.start(agentRun, { workflowId: `run-${run.runId}`, taskQueue: temporal.taskQueue, args: [input] });
    return { run, handle };
  }

  /** Waits until the run parked on its approvals, and returns them. */
  async function parkedApprovals(run: FakeRun, handle: WorkflowHandle<typeof agentRun>): Promise<PendingApproval[]> {
    await until(() => run.approvals().length > 0);
    await untilAsync(async () => (await handle.query(progressQuery)).status === 'awaiting_approval');
    return run.approvals();
  }

  it('gates a write call until a human approves it, then runs it once', async () => {
    const { run, handle } = await start([toolCalls(lookup('c1'), refund('c2')), final('refunded')]);
    const [approval, ...others] = await parkedApprovals(run, handle);
    expect(others).toEqual([]);
    expect(approval).toMatchObject({ toolCallId: 'c2', tool: 'issue_refund', arguments: { order_id: '1001', amount_cents: 500 }, risk: { rule: 'default' } });
    const progress: RunProgress = await handle.query(progressQuery);
    expect(progress).toMatchObject({ status: 'awaiting_approval', step: 1, pendingApprovals: [{ approvalId: approval!.approvalId }] });
    // Nothing of the step ran while it waited, not even its read.
    expect(run.named('executeTool')).toEqual([]);

    await handle.signal(approvalDecidedSignal, { approvalId: approval!.approvalId, decision: 'approved', decidedBy: 'key_a' });
    const outcome = await handle.result();
    expect(outcome).toMatchObject({ status: 'completed', output: 'refunded', steps: 2, usage: { inputTokens: 20, outputTokens: 10 } });
    // The answer ends the run in its own model step: no finishRun follows it.
    expect(run.names()).toEqual([
      'queueForSlot', 'callModel', 'requestApprovals', 'queueForSlot', 'executeTool', 'executeTool', 'callModel',
    ]);
    expect(run.named('executeTool').map((i) => [i.toolCallId, i.tool, i.ordinal, i.args])).toEqual([
      ['c1', 'lookup_order', 1, { order_id: '1001' }],
      ['c2', 'issue_refund', 2, { order_id: '1001', amount_cents: 500 }],
    ]);
    expect(run.named('callModel').map((i) => i.endsRunOnAnswer)).toEqual([true, true]);
    expect((await handle.query(progressQuery)).pendingApprovals).toEqual([]);
    // Everything but the write ran as local activities (markers): the read here, on the run's own worker.
    expect(run.named('executeTool').map((i) => i.here)).toEqual([true, undefined]);
    const shape = historyShape((await handle.fetchHistory()).events ?? []);
    expect(shape.activities).toEqual(['executeTool']);
    expect(shape.localActivities).toEqual(['queueForSlot', 'callModel', 'requestApprovals', 'queueForSlot', 'executeTool', 'callModel']);
    // One marker stands for every patch (src/workflows/agentRun/patches.ts).
    expect(shape.patches).toEqual([CURRENT_SHAPE]);
  });

  it("calls a read on its tool's queue when the run's own worker does not host the tool", async () => {
    const { run, handle } = await start([toolCalls(lookup('c1')), final('found')], policy(), (r) => r.notHosted.add('lookup_order'));
    expect(await handle.result()).toMatchObject({ status: 'completed', output: 'found' });
    // Tried here first (failing at once, not retried), then as a regular activity.
    expect(run.named('executeTool').map((i) => [i.toolCallId, i.here])).toEqual([['c1', true], ['c1', undefined]]);
    const shape = historyShape((await handle.fetchHistory()).events ?? []);
    expect(shape.activities).toEqual(['executeTool']);
    expect(shape.localActivities).toEqual(['queueForSlot', 'callModel', 'executeTool', 'callModel']);
  });

  it('keeps the steps of a turn of a thread regular activities, which hear of an interrupt or a cancellation between steps', async () => {
    const { handle } = await start([toolCalls(lookup('c1')), final('found')], policy(), () => {}, { onThread: true });
    expect(await handle.result()).toMatchObject({ status: 'completed', output: 'found' });
    const shape = historyShape((await handle.fetchHistory()).events ?? []);
    expect(shape.activities).toEqual(['queueForSlot', 'callModel', 'executeTool', 'callModel']);
    expect(shape.localActivities).toEqual([]);
    expect(shape.patches).toEqual([CURRENT_SHAPE]);
  });

  it('waits for a worker with its tools through the regular check, whose retries hold no workflow task open', async () => {
    const { handle } = await start([final()], policy(), (r) => (r.toolsMissingFor = 2));
    expect(await handle.result()).toMatchObject({ status: 'completed' });
    const shape = historyShape((await handle.fetchHistory()).events ?? []);
    // The local check failed at once (not retried), the regular one retried on the server until admitted.
    expect(shape.localActivities).toEqual(['queueForSlot', 'callModel']);
    expect(shape.activities).toEqual(['queueForSlot']);
  });

  it('ends its workflow task every ten local model steps', async () => {
    const replies = [...Array.from({ length: 11 }, (_, i) => toolCalls(lookup(`c${i}`))), final()];
    const { handle } = await start(replies, policy({ maxSteps: 20 }));
    expect(await handle.result()).toMatchObject({ status: 'completed', steps: 12 });
    const shape = historyShape((await handle.fetchHistory()).events ?? []);
    expect(shape.timers).toBe(1);
    expect(shape.activities).toEqual([]);
  });

  it("runs an approver's edited arguments instead of the model's", async () => {
    const { run, handle } = await start([toolCalls(refund('c1', 90_000)), final()]);
    const [approval] = await parkedApprovals(run, handle);
    await handle.signal(approvalDecidedSignal, {
      approvalId: approval!.approvalId, decision: 'approved', decidedBy: 'key_a', arguments: { order_id: '1001', amount_cents: 2500 },
    });
    expect((await handle.result()).status).toBe('completed');
    expect(run.named('executeTool')).toMatchObject([{ toolCallId: 'c1', tool: 'issue_refund', args: { order_id: '1001', amount_cents: 2500 } }]);
    expect(run.named('recordToolError')).toEqual([]);
  });

  it('checks edited arguments again and sends invalid ones back to the model without running the call', async () => {
    const { run, handle } = await start([toolCalls(refund('c1')), final()]);
    const [approval] = await parkedApprovals(run, handle);
    await handle.signal(approvalDecidedSignal, {
      approvalId: approval!.approvalId, decision: 'approved', decidedBy: 'key_a', arguments: { order_id: '1001', amount_cents: -5 },
    });
    expect((await handle.result()).status).toBe('completed');
    expect(run.named('executeTool')).toEqual([]);
    expect(run.named('recordToolError')).toMatchObject([{
      toolCallId: 'c1', status: 'invalid_arguments', message: expect.stringMatching(/^the approved arguments are invalid: amount_cents/),
      detail: { approvalId: approval!.approvalId },
    }]);
  });

  it('tells the model a rejected call was not carried out, and goes on', async () => {
    const { run, handle } = await start([toolCalls(refund('c1')), final('not refunded')]);
    const [approval] = await parkedApprovals(run, handle);
    await handle.signal(approvalDecidedSignal, { approvalId: approval!.approvalId, decision: 'rejected', decidedBy: 'key_a' });
    expect(await handle.result()).toMatchObject({ status: 'completed', output: 'not refunded', steps: 2 });
    expect(run.named('executeTool')).toEqual([]);
    expect(run.named('recordToolError')).toEqual([{
      runId: run.runId, tenantId: 't1', bundleId: 'support@test', step: 1, ordinal: 1, toolCallId: 'c1', tool: 'issue_refund',
      status: 'rejected', message: 'a human reviewer rejected this action; it was not carried out', detail: { approvalId: approval!.approvalId },
    }]);
  });

  it('expires an undecided approval after the policy timeout as a rejection', async () => {
    const { run, handle } = await start([toolCalls(refund('c1')), final()], policy({ approvalTimeoutMs: 300 }));
    expect((await handle.result()).status).toBe('completed');
    const [approval] = run.approvals();
    expect(run.named('expireApproval')).toEqual([{ approvalId: approval!.approvalId }]);
    expect(run.names()).toEqual([
      'queueForSlot', 'callModel', 'requestApprovals', 'expireApproval', 'queueForSlot', 'recordToolError', 'callModel',
    ]);
    expect(run.named('recordToolError')).toMatchObject([{ toolCallId: 'c1', status: 'rejected' }]);
    const shape = historyShape((await handle.fetchHistory()).events ?? []);
    expect(shape.activities).toEqual([]);
    expect(shape.localActivities).toEqual(['queueForSlot', 'callModel', 'requestApprovals', 'expireApproval', 'queueForSlot', 'recordToolError', 'callModel']);
  });

  it('runs an expired call when the database says it was approved just in time', async () => {
    const { run, handle } = await start([toolCalls(refund('c1')), final()], policy({ approvalTimeoutMs: 300 }), (r) => {
      r.expiredAs = 'approved';
    });
    expect((await handle.result()).status).toBe('completed');
    expect(run.named('expireApproval')).toHaveLength(1);
    expect(run.named('executeTool')).toMatchObject([{ toolCallId: 'c1', args: { order_id: '1001', amount_cents: 500 } }]);
  });

  it('ends at the step cap without another model call', async () => {
    const { run, handle } = await start([toolCalls(lookup('c1')), toolCalls(lookup('c2')), toolCalls(lookup('c3'))], policy({ maxSteps: 2 }));
    expect(await handle.result()).toMatchObject({ status: 'step_limit', errorCode: 'step_limit', steps: 2 });
    expect(run.named('callModel').map((i) => i.step)).toEqual([1, 2]);
    expect(run.named('executeTool')).toHaveLength(2);
    expect(run.named('finishRun')).toMatchObject([{ status: 'step_limit', errorCode: 'step_limit' }]);
    // An end other than an answer is recorded by finishRun, as a local activity.
    const shape = historyShape((await handle.fetchHistory()).events ?? []);
    expect(shape.localActivities.at(-1)).toBe('finishRun');
    expect(shape.activities).toEqual([]);
  });

  it('ends at the tool-call cap before running a step whose calls would pass it', async () => {
    const { run, handle } = await start([toolCalls(lookup('c1')), toolCalls(lookup('c2'), lookup('c3')), final()], policy({ maxToolCalls: 2 }));
    expect(await handle.result()).toMatchObject({ status: 'budget_exceeded', errorCode: 'tool_call_limit', steps: 2 });
    expect(run.named('executeTool').map((i) => i.toolCallId)).toEqual(['c1']);
    expect(run.names().at(-1)).toBe('finishRun');
  });

  it('refuses a tool-call ID the model repeats, within a step and across steps, without running it again', async () => {
    const { run, handle } = await start([toolCalls(lookup('c1'), lookup('c1', '1002')), toolCalls(lookup('c1', '1003')), final()]);
    expect((await handle.result()).status).toBe('completed');
    expect(run.named('executeTool').map((i) => [i.toolCallId, i.args])).toEqual([['c1', { order_id: '1001' }]]);
    expect(run.named('recordToolError').map((i) => [i.step, i.ordinal, i.status, i.message])).toEqual([
      [1, 2, 'invalid_arguments', 'invalid tool call: tool call ID "c1" was already used'],
      [2, 1, 'invalid_arguments', 'invalid tool call: tool call ID "c1" was already used'],
    ]);
  });

  it('sends invalid arguments, an ungranted tool and a cut-off call back to the model as tool errors, and goes on', async () => {
    const { run, handle } = await start([
      toolCalls(
        { id: 'c1', name: 'lookup_order', arguments: '{"order_id":"abc"}' },
        { id: 'c2', name: 'http_fetch', arguments: '{"url":"https://example.com"}' },
        { id: 'c3', name: 'lookup_order', arguments: '{"order_', truncated: true },
        { id: 'c4', name: 'issue_refund', arguments: 'not json' },
      ),
      final('sorry'),
    ]);
    expect(await handle.result()).toMatchObject({ status: 'completed', output: 'sorry' });
    expect(run.named('executeTool')).toEqual([]);
    expect(run.named('requestApprovals')).toEqual([]);
    const errors = run.named('recordToolError');
    expect(errors.map((i) => [i.toolCallId, i.ordinal, i.status])).toEqual([
      ['c1', 1, 'invalid_arguments'], ['c2', 2, 'invalid_arguments'], ['c3', 3, 'invalid_arguments'], ['c4', 4, 'invalid_arguments'],
    ]);
    expect(errors.map((i) => i.message)).toEqual([
      expect.stringMatching(/^invalid tool call: order_id: /),
      'invalid tool call: tool "http_fetch" is not available to this agent',
      expect.stringMatching(/^invalid tool call: the reply reached its output token limit/),
      'invalid tool call: arguments are not valid JSON',
    ]);
  });

  it('ends as budget_exceeded when the model activity finds the budget spent', async () => {
    const { run, handle } = await start([final()], policy(), (r) => {
      r.modelFailure = ApplicationFailure.nonRetryable('the tenant budget is spent', 'BudgetExceeded');
    });
    expect(await handle.result()).toMatchObject({ status: 'budget_exceeded', errorCode: 'budget_exceeded', error: 'the tenant budget is spent' });
    expect(run.named('finishRun')).toMatchObject([{ status: 'budget_exceeded', errorCode: 'budget_exceeded' }]);
  });

  it('never retries a terminal failure type, even thrown retryable, and fails the run with its code', async () => {
    const { run, handle } = await start([final()], policy(), (r) => {
      r.modelFailure = ApplicationFailure.retryable('model provider answered 401: bad key', 'ModelAuthRejected');
    });
    const failed = await handle.result().catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect((failed as WorkflowFailedError).cause).toMatchObject({ type: 'RunFailed', message: 'model provider answered 401: bad key' });
    expect(run.named('callModel')).toHaveLength(1);
    expect(run.named('finishRun')).toEqual([{ runId: run.runId, status: 'failed', error: 'model provider answered 401: bad key', errorCode: 'provider_auth_failed' }]);
  });
});

async function until(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  await untilAsync(async () => condition(), timeoutMs);
}

async function untilAsync(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
