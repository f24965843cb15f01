/**
 * The shadow workflows on the real dev server with fake activities: a replay starts each original
 * once (retrying a start that failed), passes over its replays when one of them asks for approval
 * (the wake signal, not a timer), and completes once every replay ended; continuous shadowing
 * mirrors each run handed over, in order, and idles without a timer while no mirror is open.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { continuousShadow, mirrorRunSignal, shadowReplay, shadowWakeSignal } from '../../src/workflows';
import { useWorkflowWorker } from '../support/workflowWorker';

const originals = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'];
const startAttempts = new Map<string, number>();
const started = new Set<string>();
const state = { passes: 0, ended: 0, completed: 0 };
const mirrored: string[] = [];

const worker = useWorkflowWorker({
  shadowOriginals: async () => originals,
  startShadowReplay: async ({ originalRunId }: { originalRunId: string }) => {
    const attempt = (startAttempts.get(originalRunId) ?? 0) + 1;
    startAttempts.set(originalRunId, attempt);
    if (originalRunId === 'o3' && attempt === 1) throw ApplicationFailure.create({ message: 'PostgreSQL away' });
    started.add(originalRunId);
    return { runId: `run-${originalRunId}` };
  },
  driveShadow: async ({ shadowId }: { shadowId: string }) => {
    if (shadowId === 'standing') return { runs: mirrored.length, ended: mirrored.length, decided: 0 };
    state.passes += 1;
    return { runs: originals.length, ended: state.ended, decided: 0 };
  },
  completeShadow: async () => void (state.completed += 1),
  mirrorProductionRun: async ({ runId }: { runId: string }) => {
    mirrored.push(runId);
    return { shadowId: 'standing', runId: `mirror-${runId}` };
  },
});

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const EventType = { timerStarted: 17, signaled: 26 } as const;

describe('shadowReplay', () => {
  it('starts each replay once, passes over them when one asks for approval, and completes when all ended', async () => {
    // No timer can fire during the test: every pass after the first is a signal's.
    const handle = await worker.client.workflow.start(shadowReplay, {
      taskQueue: worker.taskQueue, workflowId: `shadow-${randomUUID()}`, args: [{ shadowId: randomUUID(), passEveryMs: 600_000 }],
    });
    await until(() => state.passes === 1);
    expect([...started].sort()).toEqual(originals);
    expect(startAttempts.get('o3')).toBe(2);
    await handle.signal(shadowWakeSignal);
    await until(() => state.passes === 2);
    state.ended = originals.length;
    await handle.signal(shadowWakeSignal);
    expect(await handle.result()).toEqual({ runs: 6, ended: 6, decided: 0 });
    expect(state).toEqual({ passes: 3, ended: 6, completed: 1 });
    expect(Object.values(Object.fromEntries(startAttempts)).reduce((a, b) => a + b)).toBe(originals.length + 1);
  });
});

describe('continuousShadow', () => {
  it('mirrors each run handed over, in order, and idles without a timer while no mirror is open', async () => {
    const workflowId = `shadowing-${randomUUID()}`;
    const options = { taskQueue: worker.taskQueue, workflowId, args: [{ tenantId: 't', agent: 'support' }] as [{ tenantId: string; agent: string }], signal: mirrorRunSignal };
    await worker.client.workflow.signalWithStart(continuousShadow, { ...options, signalArgs: [{ runId: 'p1' }] });
    await worker.client.workflow.signalWithStart(continuousShadow, { ...options, signalArgs: [{ runId: 'p2' }] });
    await worker.client.workflow.signalWithStart(continuousShadow, { ...options, signalArgs: [{ runId: 'p3' }] });
    await until(() => mirrored.length === 3);
    expect(mirrored).toEqual(['p1', 'p2', 'p3']);
    const handle = worker.client.workflow.getHandle(workflowId);
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.filter((e) => Number(e.eventType) === EventType.signaled)).toHaveLength(3);
    expect(events.filter((e) => Number(e.eventType) === EventType.timerStarted)).toHaveLength(0);
    await handle.terminate('test over');
  });
});
