/**
 * One agent run, as a durable Temporal workflow: ask the model, run the tools it asks for (after a
 * human approves the risky ones), repeat until it answers or the step cap is reached.
 * Deterministic: all I/O happens in activities, the transcript lives in PostgreSQL.
 */
import {
  CancellationScope,
  condition,
  continueAsNew,
  ContinueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  addUsage,
  zeroUsage,
  type AgentRunInput,
  type ApprovalDecidedSignal,
  type ApprovalDecision,
  type PendingApproval,
  type RunOutcome,
  type RunProgress,
  type RunStatus,
  type ToolCall,
  type Usage,
} from '../shared/domain';
import { approvalRequirement, type ApprovalRisk } from '../shared/approvals';
import { capReached, toolCallCapReached } from '../shared/caps';
import { failureTypeOf, FailureType, runRetryPolicies, terminalFailure } from '../shared/failures';
import { runErrorCodeOf } from '../shared/runErrors';
import { RunStatusKey } from '../shared/searchAttributes';
import { isToolName, parseToolArguments, type ToolName } from '../shared/tools';

export const approvalDecidedSignal = defineSignal<[ApprovalDecidedSignal]>('approvalDecided');
export const progressQuery = defineQuery<RunProgress>('progress');

const bookkeeping = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds', retry: runRetryPolicies.bookkeeping });

const model = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', heartbeatTimeout: '10 seconds', retry: runRetryPolicies.model });

const tools = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // Tools heartbeat while they work: a dead worker's call moves on, and a cancelled run's call stops.
  heartbeatTimeout: '10 seconds',
  retry: runRetryPolicies.tools,
});

/** A model's tool call, checked against the bundle before anything runs. */
type CheckedCall =
  | { call: ToolCall; ordinal: number; valid: true; args: unknown; risk: ApprovalRisk | undefined }
  | { call: ToolCall; ordinal: number; valid: false; problems: string[] };

export async function agentRun(input: AgentRunInput): Promise<RunOutcome> {
  const { runId, policy } = input;
  let status: RunStatus = 'running';
  let step = input.resume?.step ?? 0;
  let usage: Usage = input.resume?.usage ?? zeroUsage();
  let toolCalls = input.resume?.toolCalls ?? 0;
  // Tool-call IDs key approvals and idempotency: one the model repeats must not run (or wait) twice.
  const seenToolCallIds = new Set(input.resume?.toolCallIds ?? []);
  let pendingApprovals: PendingApproval[] = [];
  const decisions = new Map<string, ApprovalDecision>();
  /** Arguments an approver substituted for the model's, by approval. */
  const editedArguments = new Map<string, Record<string, unknown>>();

  setHandler(approvalDecidedSignal, ({ approvalId, decision, arguments: edited }) => {
    if (decisions.has(approvalId)) return;
    decisions.set(approvalId, decision);
    if (decision === 'approved' && edited !== undefined) editedArguments.set(approvalId, edited);
  });
  setHandler(progressQuery, () => ({ status, step, usage, pendingApprovals }));

  /** Keeps the query and the Temporal UI's RunStatus filter current; PostgreSQL is told by activities. */
  function setStatus(next: RunStatus): void {
    status = next;
    upsertSearchAttributes([{ key: RunStatusKey, value: next }]);
  }

  async function finish(outcome: Omit<RunOutcome, 'steps' | 'usage'>): Promise<RunOutcome> {
    setStatus(outcome.status);
    await bookkeeping.finishRun({ runId, ...outcome });
    return { ...outcome, steps: step, usage };
  }

  /**
   * Waits as `queued` until the run gets a run slot (see src/activities/admission.ts): admitRun
   * fails with a short next-retry delay until it admits the run, and retries without end. Runs from
   * before fair admission (no `fair-admission` marker in their history) start without it.
   */
  async function admit({ requeued }: { requeued: boolean }): Promise<void> {
    // A new run is `queued` in the search attributes already: the API started it so.
    if (requeued) setStatus('queued');
    else status = 'queued';
    await bookkeeping.admitRun({ runId, tenantId: input.tenantId, agent: input.agent, bundleId: input.bundleId });
    setStatus('running');
  }

  /** Asks a human about every gated call of this step at once, and waits for all the answers. */
  async function requestApprovals(calls: CheckedCall[]): Promise<void> {
    const requestedAt = Date.now();
    pendingApprovals = calls.flatMap((c) =>
      c.valid && c.risk
        ? [{
            approvalId: uuid4(),
            toolCallId: c.call.id,
            tool: c.call.name,
            arguments: c.args,
            requestedAt: new Date(requestedAt).toISOString(),
            expiresAt: new Date(requestedAt + policy.approvalTimeoutMs).toISOString(),
            risk: c.risk,
          }]
        : [],
    );
    if (pendingApprovals.length === 0) return;
    await bookkeeping.requestApprovals({ runId, tenantId: input.tenantId, bundleId: input.bundleId, step, approvals: pendingApprovals });
    setStatus('awaiting_approval');

    const allDecided = () => pendingApprovals.every((a) => decisions.has(a.approvalId));
    if (!(await condition(allDecided, policy.approvalTimeoutMs))) {
      // Expiry counts as rejection, unless a decision reached the database just in time.
      for (const a of pendingApprovals.filter((p) => !decisions.has(p.approvalId))) {
        decisions.set(a.approvalId, await bookkeeping.expireApproval({ approvalId: a.approvalId }));
      }
    }
    if (patched('fair-admission')) {
      // A run waiting for a human held no run slot; it takes one again, ahead of its tenant's newer runs.
      await admit({ requeued: true });
    } else {
      setStatus('running');
      await bookkeeping.setRunStatus({ runId, status });
    }
  }

  async function runToolCalls(calls: ToolCall[]): Promise<void> {
    const checked = calls.map((call, index) => checkCall(call, index + 1));
    await requestApprovals(checked);
    const approvalByCall = new Map(pendingApprovals.map((a) => [a.toolCallId, a.approvalId]));
    for (const c of checked) {
      const ref = { runId, tenantId: input.tenantId, bundleId: input.bundleId, step, ordinal: c.ordinal, toolCallId: c.call.id, tool: c.call.name };
      if (!c.valid) {
        await tools.recordToolError({ ...ref, status: 'invalid_arguments', message: `invalid tool call: ${c.problems.join('; ')}` });
        continue;
      }
      const approvalId = approvalByCall.get(c.call.id);
      if (approvalId && decisions.get(approvalId) !== 'approved') {
        await tools.recordToolError({ ...ref, status: 'rejected', message: 'a human reviewer rejected this action; it was not carried out', detail: { approvalId } });
        continue;
      }
      // An approver's edit runs instead of the model's arguments, checked again by the same parser.
      // Histories from before edits carry none, so they replay the same commands.
      const edited = approvalId ? editedArguments.get(approvalId) : undefined;
      let args = c.args;
      if (edited !== undefined) {
        const reparsed = parseToolArguments(c.call.name as ToolName, JSON.stringify(edited));
        if (!reparsed.ok) {
          await tools.recordToolError({
            ...ref, status: 'invalid_arguments', message: `the approved arguments are invalid: ${reparsed.problems.join('; ')}`, detail: { approvalId },
          });
          continue;
        }
        args = reparsed.args;
      }
      await tools.executeTool({ ...ref, tool: c.call.name as never, args });
    }
    pendingApprovals = [];
  }

  function checkCall(call: ToolCall, ordinal: number): CheckedCall {
    if (seenToolCallIds.has(call.id)) {
      return { call, ordinal, valid: false, problems: [`tool call ID "${call.id}" was already used`] };
    }
    seenToolCallIds.add(call.id);
    if (call.truncated) {
      return { call, ordinal, valid: false, problems: [TRUNCATED_CALL_PROBLEM] };
    }
    const granted = policy.tools.find((t) => t.name === call.name);
    if (!granted || !isToolName(call.name)) {
      return { call, ordinal, valid: false, problems: [`tool "${call.name}" is not available to this agent`] };
    }
    const parsed = parseToolArguments(call.name, call.arguments);
    return parsed.ok
      ? { call, ordinal, valid: true, args: parsed.args, risk: approvalRequirement(granted, parsed.args) }
      : { call, ordinal, valid: false, problems: parsed.problems };
  }

  try {
    if (!input.resume) {
      if (patched('fair-admission')) await admit({ requeued: false });
      else await bookkeeping.startRun({ runId });
    }
    for (;;) {
      const cap = capReached(policy, { step, usage, toolCalls });
      if (cap) return await finish(cap);
      if (workflowInfo().continueAsNewSuggested) {
        // Keeps the history small however long the run: the transcript is in PostgreSQL already.
        await continueAsNew<typeof agentRun>({ ...input, resume: { step, usage, toolCalls, toolCallIds: [...seenToolCallIds] } });
      }
      step += 1;
      const reply = await model.callModel({ runId, bundleId: input.bundleId, step });
      usage = addUsage(usage, reply.usage);
      if (reply.kind === 'final') return await finish({ status: 'completed', output: reply.text });
      const toolCap = toolCallCapReached(policy, toolCalls, reply.toolCalls.length);
      if (toolCap) return await finish(toolCap);
      await runToolCalls(reply.toolCalls);
      toolCalls += reply.toolCalls.length;
    }
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => finish({ status: 'cancelled' }));
      throw err;
    }
    const message = failureMessage(err);
    const errorCode = runErrorCodeOf(failureTypeOf(err));
    if (failureTypeOf(err) === FailureType.BudgetExceeded) return await finish({ status: 'budget_exceeded', error: message, errorCode });
    await finish({ status: 'failed', error: message, errorCode });
    throw terminalFailure(FailureType.RunFailed, message);
  }
}

const TRUNCATED_CALL_PROBLEM =
  'the reply reached its output token limit in the middle of this call, so its arguments are incomplete and it was not run; ' +
  'ask for it again with shorter arguments';

function failureMessage(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const root = cause instanceof Error ? cause : err;
  return root instanceof Error ? root.message : String(root);
}
