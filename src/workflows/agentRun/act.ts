/**
 * The step's calls after the gate: run, or the model is told why not. Each tool is called on its
 * own task queue with its own timeout and retry policy, as the bundle pinned them. Read tools next
 * to each other in the model's order run together; a write or destructive tool runs alone, after
 * everything the model asked for before it (runs from before `parallel-read-tools` run every call
 * one after another, as they did). Since `local-steps`, a read runs as a local activity where this
 * run's worker hosts its tool, and on the tool's queue only where it does not (./proxies.ts).
 */
import { proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { ToolPolicy } from '../../shared/approvals';
import { failureTypeOf, FailureType, runRetryPolicies } from '../../shared/failures';
import { toolCallSummary } from '../../shared/runSummaries';
import type { CheckedCall } from './checkCalls';
import { PARALLEL_READ_TOOLS, since } from './patches';
import { leanSteps, LOCAL_RETRY_THRESHOLD, localBookkeeping, localSteps, tools } from './proxies';
import type { Run } from './state';

export async function act(run: Run, calls: CheckedCall[]): Promise<void> {
  const batches = since(run, PARALLEL_READ_TOOLS) ? readsTogether(calls) : calls.map((c) => [c]);
  const statuses: string[] = [];
  for (const batch of batches) statuses.push(...(await Promise.all(batch.map((c) => actOn(run, c)))));
  run.lastToolStatuses = statuses;
  // The step's approvals are settled: the progress query stops showing them.
  run.pendingApprovals = [];
}

/** Runs the call, or records why it does not run; how it ended. */
async function actOn(run: Run, c: CheckedCall): Promise<string> {
  const { runId, tenantId, bundleId, sandbox } = run.input;
  const ref = { runId, tenantId, bundleId, step: run.counters.step, ordinal: c.ordinal, toolCallId: c.call.id, tool: c.call.name };
  if (c.valid) {
    // The Temporal UI names the call by its tool and key argument (redacted with the pin's rules).
    const summary = toolCallSummary(c.tool, c.args, c.policy.redactArguments);
    const input = { ...ref, args: c.args, ...(sandbox && { sandbox }) };
    const here = c.policy.kind === 'read' && localSteps(run) ? await readHere(c.policy, summary, input) : undefined;
    return here ?? toolProxy(c.policy).executeTool.executeWithOptions({ summary }, [input]);
  }
  // A local activity on the lean branch (./proxies.ts); runs from before it had it on the tools' options.
  await (leanSteps(run) ? localBookkeeping : tools).recordToolError({ ...ref, status: c.status, message: c.message, detail: c.detail });
  return c.status;
}

/** Consecutive valid read calls form one batch; every other call is a batch of its own. */
function readsTogether(calls: CheckedCall[]): CheckedCall[][] {
  const batches: CheckedCall[][] = [];
  for (const c of calls) {
    const last = batches[batches.length - 1];
    if (isRead(c) && last && isRead(last[0]!)) last.push(c);
    else batches.push([c]);
  }
  return batches;
}

const isRead = (c: CheckedCall) => c.valid && c.policy.kind === 'read';

/**
 * A read call as a local activity on this run's worker (LOCAL_STEPS, ./proxies.ts): how it ended,
 * or undefined when this worker does not host the pinned tool (ToolNotHosted, recorded in the
 * marker, so a replay takes the same branch) and the call must go to the tool's own queue.
 */
async function readHere(policy: ToolPolicy, summary: string, input: Parameters<Activities['executeTool']>[0]): Promise<string | undefined> {
  try {
    return await proxyLocalActivities<Activities>({ ...toolTimeoutAndRetry(policy), localRetryThreshold: LOCAL_RETRY_THRESHOLD })
      .executeTool.executeWithOptions({ summary }, [{ ...input, here: true }]);
  } catch (err) {
    if (failureTypeOf(err) === FailureType.ToolNotHosted) return undefined;
    throw err;
  }
}

/** The tool's own queue, timeout and retry policy; the run's defaults for what the pin leaves out. */
function toolProxy(policy: ToolPolicy) {
  if (!policy.taskQueue && policy.timeoutMs === undefined && !policy.retry) return tools;
  const options: ActivityOptions = {
    ...toolTimeoutAndRetry(policy),
    heartbeatTimeout: '10 seconds',
    ...(policy.taskQueue && { taskQueue: policy.taskQueue }),
  };
  return proxyActivities<Activities>(options);
}

/** The pin's timeout and retry policy, the run's defaults for what it leaves out. */
function toolTimeoutAndRetry(policy: ToolPolicy): Pick<ActivityOptions, 'startToCloseTimeout' | 'retry'> {
  const base = runRetryPolicies.tools;
  return {
    startToCloseTimeout: policy.timeoutMs ?? '30 seconds',
    retry: {
      ...base,
      ...(policy.retry?.maximumAttempts !== undefined && { maximumAttempts: policy.retry.maximumAttempts }),
      ...(policy.retry?.initialIntervalMs !== undefined && { initialInterval: policy.retry.initialIntervalMs }),
      ...(policy.retry?.backoffCoefficient !== undefined && { backoffCoefficient: policy.retry.backoffCoefficient }),
      ...(policy.retry?.maximumIntervalMs !== undefined && { maximumInterval: policy.retry.maximumIntervalMs }),
    },
  };
}
