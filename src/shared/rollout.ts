/**
 * Canary rollouts: the stages a canary bundle climbs through, the thresholds that roll it back, and
 * the decisions a rollout records. Pure: no I/O, safe to import from workflow code.
 */
import type { RolloutStage, RolloutThresholds } from './rolloutSettings';

export type { RolloutStage, RolloutThresholds } from './rolloutSettings';

export const rolloutStatuses = ['running', 'paused', 'promoted', 'rolled_back', 'aborted'] as const;
export type RolloutStatus = (typeof rolloutStatuses)[number];
export type FinalRolloutStatus = Extract<RolloutStatus, 'promoted' | 'rolled_back' | 'aborted'>;
export const activeRolloutStatuses: readonly RolloutStatus[] = ['running', 'paused'];

export const rolloutDecisionKinds = ['stage_started', 'stage_passed', 'promoted', 'rolled_back', 'paused', 'resumed', 'aborted'] as const;
export type RolloutDecisionKind = (typeof rolloutDecisionKinds)[number];

/** One decision and the numbers behind it, as the workflow keeps it and `rollout_decisions` stores it. */
export interface RolloutDecision {
  /** Made by the workflow (deterministic uuid4), so a retried write stores it once. */
  id: string;
  /** Index into the rollout's stages; null when the decision was not tied to one. */
  stage: number | null;
  decision: RolloutDecisionKind;
  reason: string;
  figures: Record<string, unknown>;
  decidedBy: string;
  decidedAt: string;
}

/** Which rollout, of which agent, between which bundles. */
export interface RolloutRef {
  rolloutId: string;
  tenantId: string;
  agent: string;
  stableBundleId: string;
  canaryBundleId: string;
}

/** Workflow input: everything a rollout needs, fixed when it starts. */
export interface RolloutInput extends RolloutRef {
  stages: RolloutStage[];
  thresholds: RolloutThresholds;
  checkIntervalSeconds: number;
  /** Set when the rollout continues as new: where the previous execution left off. */
  resume?: RolloutResume;
}

export interface RolloutResume {
  stageIndex: number;
  stageStartedAt: string;
  rolloutStartedAt: string;
  paused: boolean;
  decisions: RolloutDecision[];
}

/** Live figures of one arm, from PostgreSQL, over runs that finished since `since`. */
export interface ArmFigures {
  bundleId: string;
  since: string;
  finishedRuns: number;
  failedRuns: number;
  /** failed / finished; 0 without finished runs. */
  failureRate: number;
  /** p95 of finished_at − created_at, in milliseconds. */
  p95LatencyMs: number;
  costPerRunUsd: number;
  toolSteps: number;
  toolErrors: number;
  /** Tool steps whose status is not "ok", over all tool steps. */
  toolErrorRate: number;
}

export interface ArmComparison {
  stable: ArmFigures;
  canary: ArmFigures;
  measuredAt: string;
}

export interface ThresholdBreach {
  metric: 'failureRate' | 'p95Latency' | 'costPerRun' | 'toolErrorRate';
  stable: number;
  canary: number;
  /** The increase (rates) or ratio (latency, cost) that was measured, and the most allowed. */
  measured: number | 'unbounded';
  limit: number;
}

// The rollout activities' inputs and results (src/activities/rollouts.ts).

export interface SetCanaryWeightInput extends RolloutRef {
  weight: number;
  decision: RolloutDecision;
}

export interface EndRolloutInput extends RolloutRef {
  decision: RolloutDecision;
}

export interface RemoveCanaryInput extends EndRolloutInput {
  status: Extract<FinalRolloutStatus, 'rolled_back' | 'aborted'>;
}

export interface CompareArmsInput extends RolloutRef {
  stableSince: string;
  canarySince: string;
}

export interface ComparedArms {
  comparison: ArmComparison;
  ownsDeployment: boolean;
  rolloutStatus: RolloutStatus | 'unknown';
}

/** applied: false when the deployment no longer belongs to the rollout; `status` is then the rollout's own. */
export interface DeploymentWrite {
  applied: boolean;
  status: RolloutStatus | 'unknown';
  /** The database's clock when the change was made (the start of a stage's comparison window). */
  at: string;
}

/** A rollout as the API starts it (src/db/rollouts.ts stores it). */
export interface NewRollout extends RolloutRef {
  stages: RolloutStage[];
  thresholds: RolloutThresholds;
  checkIntervalSeconds: number;
  startedBy: string;
}

/** A stored rollout. */
export interface RolloutView extends NewRollout {
  status: RolloutStatus;
  startedAt: string;
  finishedAt: string | null;
}

/** What the workflow's `rolloutStatus` query answers. */
export interface RolloutState {
  rolloutId: string;
  agent: string;
  stableBundleId: string;
  canaryBundleId: string;
  status: RolloutStatus;
  stageIndex: number;
  weight: number;
  stageStartedAt: string | null;
  lastComparison: ArmComparison | null;
  decisions: RolloutDecision[];
}

export interface RolloutOutcome {
  rolloutId: string;
  status: FinalRolloutStatus;
  decisions: RolloutDecision[];
}

/** True once both arms have enough finished runs to be judged. */
export function hasEnoughRuns(comparison: ArmComparison, minRuns: number): boolean {
  return comparison.stable.finishedRuns >= minRuns && comparison.canary.finishedRuns >= minRuns;
}

/** Every threshold the canary breaches against stable; empty when it may go on. */
export function thresholdBreaches(comparison: ArmComparison, thresholds: RolloutThresholds): ThresholdBreach[] {
  const { stable, canary } = comparison;
  const checks: (ThresholdBreach | undefined)[] = [
    increaseBreach('failureRate', stable.failureRate, canary.failureRate, thresholds.maxFailureRateIncrease),
    ratioBreach('p95Latency', stable.p95LatencyMs, canary.p95LatencyMs, thresholds.maxP95LatencyRatio),
    ratioBreach('costPerRun', stable.costPerRunUsd, canary.costPerRunUsd, thresholds.maxCostPerRunRatio),
    increaseBreach('toolErrorRate', stable.toolErrorRate, canary.toolErrorRate, thresholds.maxToolErrorRateIncrease),
  ];
  return checks.filter((b): b is ThresholdBreach => b !== undefined);
}

function increaseBreach(metric: ThresholdBreach['metric'], stable: number, canary: number, limit: number): ThresholdBreach | undefined {
  // Rounded so float noise (0.15 − 0.1) never breaches a limit it only touches.
  const increase = Math.round((canary - stable) * 1e9) / 1e9;
  return increase > limit ? { metric, stable, canary, measured: increase, limit } : undefined;
}

/** A stable figure of 0 with a canary above it is an unbounded ratio, and breaches any limit. */
function ratioBreach(metric: ThresholdBreach['metric'], stable: number, canary: number, limit: number): ThresholdBreach | undefined {
  if (stable <= 0) return canary > 0 ? { metric, stable, canary, measured: 'unbounded', limit } : undefined;
  const ratio = Math.round((canary / stable) * 1e9) / 1e9;
  return ratio > limit ? { metric, stable, canary, measured: ratio, limit } : undefined;
}

/** "failureRate: canary 1 vs stable 0 (+1 > 0.05)" — one line per breach, for the decision's reason. */
export function describeBreaches(breaches: ThresholdBreach[]): string {
  return breaches
    .map((b) => {
      const measured = b.measured === 'unbounded' ? 'unbounded' : b.metric.endsWith('Rate') ? `+${b.measured}` : `×${b.measured}`;
      return `${b.metric}: canary ${round(b.canary)} vs stable ${round(b.stable)} (${measured} > ${b.limit})`;
    })
    .join('; ');
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;

/**
 * The windows each arm is judged over: both since the stage began, except that a stage sending all
 * traffic to the canary leaves stable no new runs, so stable's baseline then reaches back to the
 * rollout's start.
 */
export function comparisonWindows(stage: RolloutStage, stageStartedAt: string, rolloutStartedAt: string) {
  return { canarySince: stageStartedAt, stableSince: stage.weight >= 100 ? rolloutStartedAt : stageStartedAt };
}
