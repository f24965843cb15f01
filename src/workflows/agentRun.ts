/**
 * One agent run, as a durable Temporal workflow: ask the model, run the tools it asks for (after a
 * human approves the risky ones), repeat until it answers or a cap is reached. Each step is a
 * function over the run's state (./agentRun/state.ts): admission (./agentRun/admission.ts), the
 * model call, the calls' check (./agentRun/checkCalls.ts), the approval gate
 * (./agentRun/approvalGate.ts), the tools (./agentRun/act.ts) and the end (./agentRun/finish.ts).
 * Deterministic: all I/O happens in activities, the transcript lives in PostgreSQL.
 */
import { continueAsNew, defineQuery, defineSignal, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { capReached, toolCallCapReached } from '../shared/caps';
import {
  addUsage, type AgentRunInput, type ApprovalDecidedSignal, type ModelReply, type RunOutcome, type RunPolicy, type RunProgress,
} from '../shared/domain';
import { routeModel } from '../shared/modelRoutes';
import { modelStepSummary } from '../shared/runSummaries';
import { act } from './agentRun/act';
import { startOrResume } from './agentRun/admission';
import { gate } from './agentRun/approvalGate';
import { checkCalls } from './agentRun/checkCalls';
import { answered, endOnFailure, finish } from './agentRun/finish';
import { interruptedEnd, interruptSignal, listenForInterrupt, RunInterrupted } from './agentRun/interrupt';
import { leanSteps, localModel, localSteps, model } from './agentRun/proxies';
import { beginRun, type Run } from './agentRun/state';

export const approvalDecidedSignal = defineSignal<[ApprovalDecidedSignal]>('approvalDecided');
export const progressQuery = defineQuery<RunProgress>('progress');
export { interruptSignal };

export async function agentRun(input: AgentRunInput): Promise<RunOutcome> {
  const run = beginRun(input);
  listenForDecisions(run);
  listenForInterrupt(run);
  try {
    await startOrResume(run);
    const firstStep = run.counters.step;
    for (;;) {
      const cap = capReached(input.policy, run.counters);
      if (cap) return await finish(run, cap);
      await endTaskEvery(run, firstStep);
      await continueAsNewIfSuggested(run);
      // A safe point: between steps.
      const interrupted = interruptedEnd(run);
      if (interrupted) return await finish(run, interrupted);
      const { reply, endedRun } = await callModel(run);
      if (reply.kind === 'final') return endedRun ? answered(run, reply.text) : await finish(run, { status: 'completed', output: reply.text });
      const toolCap = toolCallCapReached(input.policy, run.counters.toolCalls, reply.toolCalls.length);
      if (toolCap) return await finish(run, toolCap);
      const checked = checkCalls(run, reply.toolCalls);
      const decided = await gate(run, checked);
      await act(run, decided);
      run.counters.toolCalls += reply.toolCalls.length;
    }
  } catch (err) {
    const interrupted = err instanceof RunInterrupted && interruptedEnd(run);
    if (interrupted) return await finish(run, interrupted);
    return await endOnFailure(run, err);
  }
}

function listenForDecisions(run: Run): void {
  setHandler(approvalDecidedSignal, ({ approvalId, decision, arguments: edited }) => {
    if (run.decisions.has(approvalId)) return;
    run.decisions.set(approvalId, decision);
    if (decision === 'approved' && edited !== undefined) run.editedArguments.set(approvalId, edited);
  });
  setHandler(progressQuery, () => ({
    status: run.status, step: run.counters.step, usage: run.counters.usage, pendingApprovals: run.pendingApprovals,
  }));
}

/** Model steps a run takes in one workflow task at most, when its steps are local activities. */
const LOCAL_STEPS_PER_TASK = 10;

/**
 * Local steps (./agentRun/proxies.ts) run inside one workflow task for as long as each leads to
 * the next; every LOCAL_STEPS_PER_TASK model steps the run ends that task with a 1 ms timer, so
 * the steps' markers reach history in bounded batches, a signal or cancellation sent meanwhile is
 * seen, and continue-as-new is suggested on time.
 */
async function endTaskEvery(run: Run, firstStep: number): Promise<void> {
  const taken = run.counters.step - firstStep;
  if (taken > 0 && taken % LOCAL_STEPS_PER_TASK === 0 && localSteps(run)) await sleep(1);
}

/** Keeps the history small however long the run: the transcript is in PostgreSQL already. */
async function continueAsNewIfSuggested(run: Run): Promise<void> {
  if (!workflowInfo().continueAsNewSuggested) return;
  const { step, usage, toolCalls } = run.counters;
  await continueAsNew<typeof agentRun>({
    ...run.input, resume: { step, usage, toolCalls, toolCallIds: [...run.seenToolCallIds], toolStatuses: run.lastToolStatuses },
  });
}

/**
 * The model a step goes to, as the model activity routes it (src/activities/model/stepContext.ts,
 * from the same statuses of the previous step's calls); undefined for runs from before policies named it.
 */
function modelOfStep(policy: RunPolicy, step: number, previousToolStatuses: readonly string[]): string | undefined {
  if (!policy.model) return undefined;
  return routeModel(policy.model, { step, previousToolStatuses })?.model ?? policy.model.id;
}

/**
 * The next step's model call; its usage counts towards the caps. On the lean branch a final answer
 * ends the run in the same transaction that stores it (`endedRun`), so no finishRun follows.
 */
async function callModel(run: Run): Promise<{ reply: ModelReply; endedRun: boolean }> {
  run.counters.step += 1;
  const { runId, bundleId } = run.input;
  const endsRunOnAnswer = leanSteps(run);
  const { step } = run.counters;
  const summary = modelStepSummary(step, modelOfStep(run.input.policy, step, run.lastToolStatuses));
  // A local activity since LOCAL_STEPS (./agentRun/proxies.ts tells why).
  const proxy = localSteps(run) ? localModel : model;
  const reply = await proxy.callModel.executeWithOptions({ summary }, [{ runId, bundleId, step, ...(endsRunOnAnswer && { endsRunOnAnswer }) }]);
  run.counters.usage = addUsage(run.counters.usage, reply.usage);
  return { reply, endedRun: endsRunOnAnswer };
}
