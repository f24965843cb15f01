/**
 * The agentRollout workflow's logic on the real dev server, with its activities replaced by
 * in-memory fakes: pausing stops the hold clock, a breach rolls back, an abort or a deployment
 * taken away ends it, and continue-as-new keeps the rollout's state.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ComparedArms, CompareArmsInput, DeploymentWrite, RemoveCanaryInput, SetCanaryWeightInput } from '../../src/shared/rollout';
import { type ArmFigures, type RolloutDecision, type RolloutInput, type RolloutOutcome, type RolloutStage, type RolloutState } from '../../src/shared/rollout';
import { rolloutThresholdsSchema } from '../../src/shared/rolloutSettings';
import { abortRolloutSignal, agentRollout, pauseRolloutSignal, resumeRolloutSignal, rolloutStatusQuery } from '../../src/workflows';
import { useWorkflowWorker } from '../support/workflowWorker';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the fake activities answer, and every call they got. */
class FakeRolloutStore {
  calls: { name: string; input: any }[] = [];
  /** How compareArms answers its n-th call (0-based). */
  measure: (call: number, input: CompareArmsInput) => Partial<ComparedArms> & { canary?: Partial<ArmFigures>; stable?: Partial<ArmFigures> } = () => ({});
  owned = true;

  activities() {
    const written = (): DeploymentWrite => ({ applied: this.owned, status: this.owned ? 'running' : 'rolled_back', at: new Date().toISOString() });
    return {
      setCanaryWeight: async (input: SetCanaryWeightInput) => (this.calls.push({ name: 'setCanaryWeight', input }), written()),
      promoteCanary: async (input: unknown) => (this.calls.push({ name: 'promoteCanary', input }), written()),
      removeCanary: async (input: RemoveCanaryInput) => (this.calls.push({ name: 'removeCanary', input }), written()),
      recordRolloutDecision: async (input: unknown) => void this.calls.push({ name: 'recordRolloutDecision', input }),
      compareArms: async (input: CompareArmsInput): Promise<ComparedArms> => {
        const n = this.calls.filter((c) => c.name === 'compareArms').length;
        this.calls.push({ name: 'compareArms', input });
        const { canary, stable, ...rest } = this.measure(n, input);
        return {
          comparison: { stable: figures(input.stableBundleId, stable), canary: figures(input.canaryBundleId, canary), measuredAt: new Date().toISOString() },
          ownsDeployment: this.owned,
          rolloutStatus: this.owned ? 'running' : 'rolled_back',
          ...rest,
        };
      },
    };
  }

  named(name: string) {
    return this.calls.filter((c) => c.name === name).map((c) => c.input);
  }
}

const figures = (bundleId: string, more: Partial<ArmFigures> = {}): ArmFigures => ({
  bundleId, since: '', finishedRuns: 10, failedRuns: 0, failureRate: 0, p95LatencyMs: 100, costPerRunUsd: 0.001,
  toolSteps: 0, toolErrors: 0, toolErrorRate: 0, ...more,
});

describe('agentRollout workflow', () => {
  let store: FakeRolloutStore;

  // Each test sets `store`; the worker forwards to whichever is current.
  const temporal = useWorkflowWorker(Object.fromEntries(
    ['setCanaryWeight', 'promoteCanary', 'removeCanary', 'recordRolloutDecision', 'compareArms'].map((name) => [
      name, (input: unknown) => (store.activities() as any)[name](input),
    ]),
  ));

  function start(stages: Partial<RolloutStage>[], extra: Partial<RolloutInput> = {}) {
    store = new FakeRolloutStore();
    const input: RolloutInput = {
      rolloutId: randomUUID(), tenantId: 't', agent: 'a', stableBundleId: 'a@stable', canaryBundleId: 'a@canary',
      stages: stages.map((s) => ({ weight: 100, holdSeconds: 0, minRuns: 1, ...s })),
      thresholds: rolloutThresholdsSchema.parse({}),
      checkIntervalSeconds: 0.05,
      ...extra,
    };
    return temporal.client.workflow.start(agentRollout, { workflowId: `rollout-${input.rolloutId}`, taskQueue: temporal.taskQueue, args: [input] });
  }

  const kinds = (decisions: RolloutDecision[]) => decisions.map((d) => `${d.decision}:${d.stage}`);

  it('promotes after the last stage and judges stable since the rollout began once the canary has all traffic', async () => {
    const handle = await start([{ weight: 20 }, { weight: 100 }]);
    const outcome: RolloutOutcome = await handle.result();
    expect(outcome.status).toBe('promoted');
    expect(kinds(outcome.decisions)).toEqual(['stage_started:0', 'stage_passed:0', 'stage_started:1', 'stage_passed:1', 'promoted:1']);
    expect(store.named('setCanaryWeight').map((i) => i.weight)).toEqual([20, 100]);
    const [first, last] = [store.named('compareArms')[0], store.named('compareArms').at(-1)];
    expect(last.canarySince).not.toBe(first.canarySince);
    expect(last.stableSince).toBe(first.stableSince);
    expect(store.named('promoteCanary')).toHaveLength(1);
    expect(store.named('removeCanary')).toHaveLength(0);
  });

  it('rolls back on a breach, with the figures, and goes no further', async () => {
    const handle = await start([{ weight: 10 }, { weight: 100 }]);
    store.measure = () => ({ canary: { failedRuns: 5, failureRate: 0.5 } });
    const outcome = await handle.result();
    expect(outcome.status).toBe('rolled_back');
    expect(store.named('setCanaryWeight')).toHaveLength(1);
    const [removed] = store.named('removeCanary') as RemoveCanaryInput[];
    expect(removed!.status).toBe('rolled_back');
    expect(removed!.decision.figures).toMatchObject({ canary: { failureRate: 0.5 }, stable: { failureRate: 0 }, breaches: [{ metric: 'failureRate' }] });
  });

  it('waits for enough runs on both arms, checking every interval', async () => {
    const handle = await start([{ weight: 100, minRuns: 10 }]);
    store.measure = (n) => ({ canary: { finishedRuns: n < 3 ? 9 : 10 } });
    expect((await handle.result()).status).toBe('promoted');
    expect(store.named('compareArms')).toHaveLength(4);
  });

  it('stops the hold clock while paused, and records who paused and resumed', async () => {
    const handle = await start([{ weight: 50, holdSeconds: 1 }, { weight: 100 }]);
    await until(() => store.named('setCanaryWeight').length === 1);
    await handle.signal(pauseRolloutSignal, { by: 'key_a', reason: 'investigating' });
    await sleep(1500);
    expect(store.named('compareArms')).toHaveLength(0);
    const state: RolloutState = await handle.query(rolloutStatusQuery);
    expect(state).toMatchObject({ status: 'paused', stageIndex: 0, weight: 50 });
    expect(store.named('recordRolloutDecision').map((i) => [i.decision.decision, i.status])).toEqual([['paused', 'paused']]);

    await handle.signal(resumeRolloutSignal, { by: 'key_b' });
    const outcome = await handle.result();
    expect(outcome.status).toBe('promoted');
    expect(kinds(outcome.decisions).slice(0, 4)).toEqual(['stage_started:0', 'paused:0', 'resumed:0', 'stage_passed:0']);
    expect(outcome.decisions[1]).toMatchObject({ decidedBy: 'key_a', reason: 'investigating' });
    expect(outcome.decisions[2]).toMatchObject({ decidedBy: 'key_b' });
  });

  it('aborts during a hold by removing the canary', async () => {
    const handle = await start([{ weight: 50, holdSeconds: 600 }, { weight: 100 }]);
    await until(() => store.named('setCanaryWeight').length === 1);
    await handle.signal(abortRolloutSignal, { by: 'key_c', reason: 'stop' });
    const outcome = await handle.result();
    expect(outcome.status).toBe('aborted');
    expect(store.named('removeCanary')).toMatchObject([{ status: 'aborted', decision: { decision: 'aborted', decidedBy: 'key_c', reason: 'stop' } }]);
  });

  it('stops without writing once the deployment is taken from it', async () => {
    const handle = await start([{ weight: 50, minRuns: 1000 }, { weight: 100 }]);
    await until(() => store.named('compareArms').length >= 2);
    store.owned = false;
    const outcome = await handle.result();
    expect(outcome.status).toBe('rolled_back');
    expect(store.named('removeCanary')).toHaveLength(0);
    expect(store.named('promoteCanary')).toHaveLength(0);
    expect(store.named('setCanaryWeight')).toHaveLength(1);
  });

  it('continues as new while it waits for traffic, keeping its stage, windows and decisions', async () => {
    const handle = await start([{ weight: 30, minRuns: 10 }, { weight: 100, minRuns: 10 }], { checkIntervalSeconds: 1 });
    let enoughRuns = false;
    store.measure = () => ({ canary: { finishedRuns: enoughRuns ? 10 : 0 } });
    await until(() => store.named('compareArms').length >= 1);
    // Pauses and resumes fill the history fast, past the dev server's continue-as-new suggestion (150 events).
    for (let i = 0; i < 12; i += 1) {
      await handle.signal(pauseRolloutSignal, { by: 'key_a' });
      await handle.signal(resumeRolloutSignal, { by: 'key_a' });
    }
    await until(() => store.named('recordRolloutDecision').length === 24);
    await untilAsync(async () => (await handle.describe()).runId !== handle.firstExecutionRunId, 15_000);
    const carried: RolloutState = await handle.query(rolloutStatusQuery);
    expect(carried).toMatchObject({ status: 'running', stageIndex: 0, weight: 30 });
    expect(carried.decisions).toHaveLength(25);

    enoughRuns = true;
    const outcome = await handle.result();
    expect(outcome.status).toBe('promoted');
    expect(kinds(outcome.decisions)).toEqual([
      'stage_started:0', ...Array.from({ length: 12 }, () => ['paused:0', 'resumed:0']).flat(),
      'stage_passed:0', 'stage_started:1', 'stage_passed:1', 'promoted:1',
    ]);
    // One window per stage, across the continue-as-new; stable's reaches back to the rollout's start throughout.
    expect(new Set(store.named('compareArms').map((i) => i.canarySince)).size).toBe(2);
    expect(new Set(store.named('compareArms').map((i) => i.stableSince)).size).toBe(1);
    expect(store.named('setCanaryWeight').map((i) => i.weight)).toEqual([30, 100]);
  });
});

async function untilAsync(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(100);
  }
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(20);
  }
}
