/**
 * The approval gate of one step: every valid call whose risk needs a human is put to one, all at
 * once, and the run parks as `awaiting_approval` until each is decided or the policy's approval
 * timeout passes; then it takes a run slot again. A rejected (or expired) call is refused; an
 * approved one runs, with the approver's edit when there is one, checked again by the tool's own
 * parser.
 */
import { condition, uuid4 } from '@temporalio/workflow';
import type { PendingApproval } from '../../shared/domain';
import { checkToolArguments } from '../../shared/toolArguments';
import { readmitAfterApprovals } from './admission';
import { parametersOf, type CheckedCall, type ValidCall } from './checkCalls';
import { interruptedEnd, RunInterrupted } from './interrupt';
import { bookkeepingNow } from './proxies';
import { setStatus, type Run } from './state';

/** The step's calls with every gated one decided: approved calls stay valid (edited arguments in place), the others are refused. */
export async function gate(run: Run, calls: CheckedCall[]): Promise<CheckedCall[]> {
  run.pendingApprovals = approvalsFor(run, calls);
  if (run.pendingApprovals.length === 0) return calls;
  const { runId, tenantId, bundleId } = run.input;
  await bookkeepingNow(run).requestApprovals({ runId, tenantId, bundleId, step: run.counters.step, approvals: run.pendingApprovals });
  setStatus(run, 'awaiting_approval');
  await waitForDecisions(run);
  await readmitAfterApprovals(run);
  const approvalByCall = new Map(run.pendingApprovals.map((a) => [a.toolCallId, a.approvalId]));
  return calls.map((c) => {
    const approvalId = c.valid ? approvalByCall.get(c.call.id) : undefined;
    return c.valid && approvalId ? decided(run, c, approvalId) : c;
  });
}

function approvalsFor(run: Run, calls: CheckedCall[]): PendingApproval[] {
  const requestedAt = Date.now();
  return calls.flatMap((c) =>
    c.valid && c.risk
      ? [{
          approvalId: uuid4(),
          toolCallId: c.call.id,
          tool: c.tool,
          arguments: c.args,
          requestedAt: new Date(requestedAt).toISOString(),
          expiresAt: new Date(requestedAt + run.input.policy.approvalTimeoutMs).toISOString(),
          risk: c.risk,
        }]
      : [],
  );
}

async function waitForDecisions(run: Run): Promise<void> {
  const undecided = () => run.pendingApprovals.filter((a) => !run.decisions.has(a.approvalId));
  // An interrupt (./interrupt.ts) ends the wait too: the calls waiting are not run, the run ends.
  if (await condition(() => undecided().length === 0 || run.interruptedBy !== undefined, run.input.policy.approvalTimeoutMs)) {
    if (undecided().length > 0 && interruptedEnd(run)) throw new RunInterrupted();
    return;
  }
  // Expiry counts as rejection, unless a decision reached the database just in time.
  for (const a of undecided()) {
    run.decisions.set(a.approvalId, await bookkeepingNow(run).expireApproval({ approvalId: a.approvalId }));
  }
}

function decided(run: Run, call: ValidCall, approvalId: string): CheckedCall {
  const { ordinal } = call;
  if (run.decisions.get(approvalId) !== 'approved') {
    return { call: call.call, ordinal, valid: false, status: 'rejected', message: 'a human reviewer rejected this action; it was not carried out', detail: { approvalId } };
  }
  // An approver's edit runs instead of the model's arguments, checked again by the same parser.
  // Histories from before edits carry none, so they replay the same commands.
  const edited = run.editedArguments.get(approvalId);
  if (edited === undefined) return call;
  const reparsed = checkToolArguments(parametersOf(call.policy)!, edited);
  if (!reparsed.ok) {
    return {
      call: call.call, ordinal, valid: false, status: 'invalid_arguments',
      message: `the approved arguments are invalid: ${reparsed.problems.join('; ')}`, detail: { approvalId },
    };
  }
  return { ...call, args: reparsed.args };
}
