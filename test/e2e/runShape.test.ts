/**
 * What one run of the 3-step agent (model → lookup_order → model → lookup_order → model → answer)
 * costs Temporal: its history's events, workflow tasks, activities and local activities, counted
 * from the history (15 events, one workflow task, six local activities, no activity task).
 * Timings of a few runs one at a time are printed for comparison, never asserted.
 */
import { describe, expect, it } from 'vitest';
import type { ModelScript } from '../../src/dev/scriptedModel';
import { CURRENT_SHAPE } from '../../src/workflows/agentRun/patches';
import { historyShape } from '../support/historyShape';
import { useTestStack } from '../support/useTestStack';

const threeStepScript: ModelScript = {
  rules: [
    { when: { role: 'user', matches: 'Check order (\\d+)' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
    { when: { role: 'tool', tool: 'lookup_order', minMessages: 6, matches: '"order_id":"(\\d+)"' }, reply: { content: 'Order $1 is on its way.' } },
    { when: { role: 'tool', tool: 'lookup_order', matches: '"order_id":"(\\d+)"' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
  ],
};

describe('the cost of one 3-step run', () => {
  const stack = useTestStack({ script: threeStepScript });

  /** One run through the API; `ms` from the start request to the workflow's result (Temporal's long poll, not the 100 ms API poll). */
  async function runOnce(order: string) {
    const started = performance.now();
    const runId = await stack.startRun(`Check order ${order}`);
    await stack.temporal.workflow.getHandle(runId).result();
    const ms = performance.now() - started;
    return { runId, done: await stack.waitForStatus(runId, 'completed'), ms };
  }

  it('has the expected history', async () => {
    const { runId, done, ms } = await runOnce('1001');
    expect(done.output).toBe('Order 1001 is on its way.');
    const { events } = await stack.temporal.workflow.getHandle(runId).fetchHistory();
    const shape = historyShape(events ?? []);
    console.log('3-step run history:', JSON.stringify(shape));
    // Every step a local activity (src/workflows/agentRun/proxies.ts): the slot check, the model
    // steps and the reads of lookup_order, which this worker hosts; no activity task at all. The
    // answer ends the run in the last model step, so no finishRun follows it.
    expect(shape.activities).toEqual([]);
    expect(shape.localActivities).toEqual(['queueForSlot', 'callModel', 'executeTool', 'callModel', 'executeTool', 'callModel']);
    // One patch marker (src/workflows/agentRun/patches.ts) stands for all five the run takes.
    expect(shape.patches).toEqual([CURRENT_SHAPE]);
    expect(shape.timers).toBe(0);
    // The whole run in its first workflow task. Only a run slower than the workflow task's
    // heartbeat (80 % of its 10 s timeout) may take more: one per heartbeat, three events each.
    if (ms < 8000) expect(shape.workflowTasks).toBe(1);
    // Started, three events a workflow task, a marker each local activity and patch, the upserts, completed.
    expect(shape.events).toBe(1 + 3 * shape.workflowTasks + shape.localActivities.length + shape.patches.length + shape.upserts + 1);
    // 15 in all in one workflow task (23 with a marker per patch, 51 with regular activities): a new patch or step shows here.
    expect(shape.events - 3 * (shape.workflowTasks - 1)).toBe(15);
    // RunStatus changes twice (queued → running → completed); the other upserts are Temporal's, one per patch.
    expect(shape.upserts - shape.patches.length).toBe(2);
    // The run ended once, with the answer, and run.finished is its last event.
    const { rows } = await stack.db.query('SELECT type FROM run_events WHERE run_id = $1 ORDER BY seq', [runId]);
    expect(rows.filter((r) => r.type === 'run.finished')).toHaveLength(1);
    expect(rows.at(-1)?.type).toBe('run.finished');
  });

  it('prints the time of runs one at a time (for comparison, not asserted)', async () => {
    const timings: number[] = [];
    for (let i = 0; i < 10; i += 1) timings.push((await runOnce(['1001', '1002', '1003', '1004'][i % 4]!)).ms);
    const sorted = [...timings].sort((a, b) => a - b);
    console.log(`one at a time (ms, API start to workflow result): p50 ${Math.round(sorted[5]!)}; all ${timings.map(Math.round).join(', ')}`);
  });
});
