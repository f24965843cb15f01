/**
 * A canary rollout, as a durable Temporal workflow: for each stage, send the canary its share of new
 * runs, hold, wait for enough finished runs on both arms, and compare them on live figures. A
 * breached threshold rolls the canary back without a human; passing the last stage (weight 100)
 * promotes it. Operators can pause, resume and abort by signal.
 * Deterministic: all I/O happens in activities, which only write while the rollout still owns the
 * agent's deployment, so a manual rollback always wins a race with this workflow.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  proxyActivities,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RolloutRef } from '../shared/rollout';
import {
  comparisonWindows,
  describeBreaches,
  hasEnoughRuns,
  thresholdBreaches,
  type ArmComparison,
  type FinalRolloutStatus,
  type RolloutDecision,
  type RolloutDecisionKind,
  type RolloutInput,
  type RolloutOutcome,
  type RolloutStage,
  type RolloutState,
  type RolloutStatus,
  type ThresholdBreach,
} from '../shared/rollout';

/** Who asked, and why; `by` is the API key ID. */
export interface RolloutControl {
  by: string;
  reason?: string;
}

export const pauseRolloutSignal = defineSignal<[RolloutControl]>('pauseRollout');
export const resumeRolloutSignal = defineSignal<[RolloutControl]>('resumeRollout');
export const abortRolloutSignal = defineSignal<[RolloutControl]>('abortRollout');
export const rolloutStatusQuery = defineQuery<RolloutState>('rolloutStatus');

const rollouts = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // PostgreSQL being away for a while must delay the rollout, never end it.
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

const decidedBySystem = 'system:rollout';

/** The rollout's working state: the query's answer plus what the workflow needs to carry on. */
interface Rollout {
  input: RolloutInput;
  ref: RolloutRef;
  state: RolloutState;
  rolloutStartedAt: string | null;
  abort: RolloutControl | undefined;
  /** Decisions that change no deployment, written in the order they were made. */
  recorder: Promise<void>;
}

type Verdict = { passed: true; comparison: ArmComparison } | { passed: false; comparison: ArmComparison; breaches: ThresholdBreach[] };

/** Ends the walk through the stages early; caught in agentRollout, never leaves the workflow. */
class RolloutInterrupted extends Error {
  constructor(readonly interruption: { kind: 'abort'; control: RolloutControl } | { kind: 'superseded'; status: RolloutStatus | 'unknown' }) {
    super(interruption.kind);
  }
}

export async function agentRollout(input: RolloutInput): Promise<RolloutOutcome> {
  const rollout = begin(input);
  listenForControls(rollout);
  try {
    const verdict = await walkStages(rollout);
    if (verdict.passed) await promote(rollout, verdict.comparison);
    else await rollBack(rollout, verdict.comparison, verdict.breaches);
  } catch (err) {
    if (!(err instanceof RolloutInterrupted)) throw err;
    await endInterrupted(rollout, err);
  }
  await rollout.recorder;
  await condition(allHandlersFinished);
  return { rolloutId: input.rolloutId, status: rollout.state.status as FinalRolloutStatus, decisions: rollout.state.decisions };
}

function begin(input: RolloutInput): Rollout {
  const { rolloutId, tenantId, agent, stableBundleId, canaryBundleId, resume } = input;
  const stageIndex = resume?.stageIndex ?? 0;
  return {
    input,
    ref: { rolloutId, tenantId, agent, stableBundleId, canaryBundleId },
    state: {
      rolloutId, agent, stableBundleId, canaryBundleId,
      status: resume?.paused ? 'paused' : 'running',
      stageIndex,
      weight: resume ? input.stages[stageIndex]!.weight : 0,
      stageStartedAt: resume?.stageStartedAt ?? null,
      lastComparison: null,
      decisions: resume?.decisions ?? [],
    },
    rolloutStartedAt: resume?.rolloutStartedAt ?? null,
    abort: undefined,
    recorder: Promise.resolve(),
  };
}

function listenForControls(rollout: Rollout): void {
  const { state } = rollout;
  setHandler(rolloutStatusQuery, () => state);
  setHandler(pauseRolloutSignal, (control) => {
    if (state.status !== 'running' || rollout.abort) return;
    state.status = 'paused';
    record(rollout, decision(rollout, 'paused', control.reason ?? 'paused by an operator', { weight: state.weight }, control.by), 'paused');
  });
  setHandler(resumeRolloutSignal, (control) => {
    if (state.status !== 'paused' || rollout.abort) return;
    state.status = 'running';
    record(rollout, decision(rollout, 'resumed', control.reason ?? 'resumed by an operator', { weight: state.weight }, control.by), 'running');
  });
  setHandler(abortRolloutSignal, (control) => {
    if (isActive(state.status)) rollout.abort ??= control;
  });
}

/** Each stage in turn; stops at the first one whose figures breach a threshold. */
async function walkStages(rollout: Rollout): Promise<Verdict> {
  const { stages, resume } = rollout.input;
  let comparison: ArmComparison | undefined;
  for (let index = rollout.state.stageIndex; index < stages.length; index += 1) {
    const stage = stages[index]!;
    // A rollout that continued as new was already past this stage's start and hold.
    if (!(resume && index === resume.stageIndex)) {
      await startStage(rollout, index, stage);
      await hold(rollout, stage.holdSeconds * 1000);
    }
    comparison = await gatherFigures(rollout, index, stage);
    const breaches = thresholdBreaches(comparison, rollout.input.thresholds);
    if (breaches.length > 0) return { passed: false, comparison, breaches };
    await recordNow(rollout, decision(rollout, 'stage_passed', `stage ${index + 1} at ${stage.weight}% is within every threshold`, {
      stable: comparison.stable, canary: comparison.canary, thresholds: rollout.input.thresholds,
    }));
  }
  return { passed: true, comparison: comparison! };
}

async function startStage(rollout: Rollout, index: number, stage: RolloutStage): Promise<void> {
  await untilRunning(rollout);
  await rollout.recorder;
  rollout.state.stageIndex = index;
  const started = decision(rollout, 'stage_started', `stage ${index + 1} of ${rollout.input.stages.length}: canary at ${stage.weight}%`, {
    weight: stage.weight, holdSeconds: stage.holdSeconds, minRuns: stage.minRuns,
  });
  // Kept before the write, so a pause that arrives meanwhile is listed after the stage it paused.
  rollout.state.decisions.push(started);
  const write = await rollouts.setCanaryWeight({ ...rollout.ref, weight: stage.weight, decision: started });
  if (!write.applied) {
    rollout.state.decisions = rollout.state.decisions.filter((d) => d !== started);
    throw new RolloutInterrupted({ kind: 'superseded', status: write.status });
  }
  rollout.state.weight = stage.weight;
  rollout.state.stageStartedAt = write.at;
  rollout.rolloutStartedAt ??= write.at;
}

/** Waits out the stage's hold; the clock stops while the rollout is paused. */
async function hold(rollout: Rollout, ms: number): Promise<void> {
  let remaining = ms;
  while (remaining > 0) {
    await untilRunning(rollout);
    const since = Date.now();
    const interrupted = await condition(() => rollout.state.status === 'paused' || rollout.abort !== undefined, remaining);
    throwIfAborted(rollout);
    if (!interrupted) return;
    remaining -= Date.now() - since;
  }
}

/** Compares the arms every check interval until both have enough finished runs (and the rollout is not paused). */
async function gatherFigures(rollout: Rollout, index: number, stage: RolloutStage): Promise<ArmComparison> {
  const windows = comparisonWindows(stage, rollout.state.stageStartedAt!, rollout.rolloutStartedAt!);
  for (;;) {
    await untilRunning(rollout);
    const measured = await rollouts.compareArms({ ...rollout.ref, ...windows });
    if (!measured.ownsDeployment) throw new RolloutInterrupted({ kind: 'superseded', status: measured.rolloutStatus });
    rollout.state.lastComparison = measured.comparison;
    throwIfAborted(rollout);
    if (rollout.state.status === 'running' && hasEnoughRuns(measured.comparison, stage.minRuns)) return measured.comparison;
    await continueAsNewIfSuggested(rollout, index);
    await condition(() => rollout.abort !== undefined, rollout.input.checkIntervalSeconds * 1000);
    throwIfAborted(rollout);
  }
}

async function promote(rollout: Rollout, comparison: ArmComparison): Promise<void> {
  throwIfAborted(rollout);
  await rollout.recorder;
  const promoted = decision(rollout, 'promoted', `every stage passed; ${rollout.input.canaryBundleId} is now stable`, {
    stable: comparison.stable, canary: comparison.canary, thresholds: rollout.input.thresholds,
  });
  const write = await rollouts.promoteCanary({ ...rollout.ref, decision: promoted });
  if (!write.applied) throw new RolloutInterrupted({ kind: 'superseded', status: write.status });
  end(rollout, 'promoted', promoted);
}

async function rollBack(rollout: Rollout, comparison: ArmComparison, breaches: ThresholdBreach[]): Promise<void> {
  await rollout.recorder;
  const rolledBack = decision(rollout, 'rolled_back', `stage ${rollout.state.stageIndex + 1} breached: ${describeBreaches(breaches)}`, {
    stable: comparison.stable, canary: comparison.canary, thresholds: rollout.input.thresholds, breaches,
  });
  const write = await rollouts.removeCanary({ ...rollout.ref, status: 'rolled_back', decision: rolledBack });
  if (!write.applied) throw new RolloutInterrupted({ kind: 'superseded', status: write.status });
  end(rollout, 'rolled_back', rolledBack);
}

/** An abort removes the canary like a rollback; a rollout someone else ended just stops. */
async function endInterrupted(rollout: Rollout, interrupted: RolloutInterrupted): Promise<void> {
  const cause = interrupted.interruption;
  if (cause.kind === 'abort') {
    await rollout.recorder;
    const aborted = decision(rollout, 'aborted', cause.control.reason ?? 'aborted by an operator', {
      weight: rollout.state.weight, lastComparison: rollout.state.lastComparison,
    }, cause.control.by);
    const write = await rollouts.removeCanary({ ...rollout.ref, status: 'aborted', decision: aborted });
    if (write.applied) return end(rollout, 'aborted', aborted);
    return endSuperseded(rollout, write.status);
  }
  endSuperseded(rollout, cause.status);
}

/** The deployment was taken from the rollout (a manual rollback), which recorded its own decision. */
function endSuperseded(rollout: Rollout, status: RolloutStatus | 'unknown'): void {
  const final: FinalRolloutStatus = status === 'promoted' || status === 'rolled_back' ? status : 'aborted';
  rollout.state.status = final;
  rollout.state.decisions.push(decision(rollout, final, 'the deployment was changed outside this rollout, which ended it; nothing was written', {}));
}

function end(rollout: Rollout, status: FinalRolloutStatus, final: RolloutDecision): void {
  rollout.state.status = status;
  if (status !== 'promoted') rollout.state.weight = 0;
  rollout.state.decisions.push(final);
}

async function untilRunning(rollout: Rollout): Promise<void> {
  await condition(() => rollout.state.status !== 'paused' || rollout.abort !== undefined);
  throwIfAborted(rollout);
}

function throwIfAborted(rollout: Rollout): void {
  if (rollout.abort) throw new RolloutInterrupted({ kind: 'abort', control: rollout.abort });
}

/** Keeps the history small however long a stage waits for traffic. */
async function continueAsNewIfSuggested(rollout: Rollout, stageIndex: number): Promise<void> {
  if (!workflowInfo().continueAsNewSuggested) return;
  await rollout.recorder;
  await condition(allHandlersFinished);
  throwIfAborted(rollout);
  await continueAsNew<typeof agentRollout>({
    ...rollout.input,
    resume: {
      stageIndex,
      stageStartedAt: rollout.state.stageStartedAt!,
      rolloutStartedAt: rollout.rolloutStartedAt!,
      paused: rollout.state.status === 'paused',
      decisions: rollout.state.decisions,
    },
  });
}

function decision(
  rollout: Rollout, kind: RolloutDecisionKind, reason: string, figures: Record<string, unknown>, decidedBy = decidedBySystem,
): RolloutDecision {
  return { id: uuid4(), stage: rollout.state.stageIndex, decision: kind, reason, figures, decidedBy, decidedAt: new Date().toISOString() };
}

/** Keeps a decision in the workflow's state and queues its write behind earlier ones. */
function record(rollout: Rollout, made: RolloutDecision, status?: 'running' | 'paused'): void {
  rollout.state.decisions.push(made);
  const { rolloutId } = rollout.input;
  rollout.recorder = rollout.recorder.then(() => rollouts.recordRolloutDecision({ rolloutId, decision: made, status }));
}

async function recordNow(rollout: Rollout, made: RolloutDecision): Promise<void> {
  record(rollout, made);
  await rollout.recorder;
}

function isActive(status: RolloutStatus): boolean {
  return status === 'running' || status === 'paused';
}
