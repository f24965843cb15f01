/** The step's calls after the gate, one after another in the model's order: run, or the model is told why not. */
import type { CheckedCall } from './checkCalls';
import { tools } from './proxies';
import type { Run } from './state';

export async function act(run: Run, calls: CheckedCall[]): Promise<void> {
  const { runId, tenantId, bundleId } = run.input;
  for (const c of calls) {
    const ref = { runId, tenantId, bundleId, step: run.counters.step, ordinal: c.ordinal, toolCallId: c.call.id, tool: c.call.name };
    if (c.valid) await tools.executeTool({ ...ref, tool: c.tool, args: c.args });
    else await tools.recordToolError({ ...ref, status: c.status, message: c.message, detail: c.detail });
  }
  // The step's approvals are settled: the progress query stops showing them.
  run.pendingApprovals = [];
}
