import { describe, expect, it } from 'vitest';
import { deploymentRequestSchema } from '../../src/contract';
import { comparisonWindows, describeBreaches, hasEnoughRuns, thresholdBreaches, type ArmComparison, type ArmFigures } from '../../src/shared/rollout';
import { defaultRolloutStages, rolloutStagesSchema, rolloutThresholdsSchema } from '../../src/shared/rolloutSettings';

const arm = (figures: Partial<ArmFigures>): ArmFigures => ({
  bundleId: 'agent@000000000000', since: '2026-01-01T00:00:00.000Z', finishedRuns: 100, failedRuns: 0, failureRate: 0,
  p95LatencyMs: 1000, costPerRunUsd: 0.01, toolSteps: 50, toolErrors: 0, toolErrorRate: 0, ...figures,
});
const compare = (stable: Partial<ArmFigures>, canary: Partial<ArmFigures>): ArmComparison => ({
  stable: arm(stable), canary: arm(canary), measuredAt: '2026-01-01T00:10:00.000Z',
});
const thresholds = rolloutThresholdsSchema.parse({});

describe('thresholdBreaches', () => {
  it('passes a canary that does as well as stable', () => {
    expect(thresholdBreaches(compare({}, {}), thresholds)).toEqual([]);
  });

  it.each([
    ['failure rate', { failureRate: 0.02 }, { failureRate: 0.08 }, 'failureRate'],
    ['p95 latency', { p95LatencyMs: 1000 }, { p95LatencyMs: 1600 }, 'p95Latency'],
    ['cost per run', { costPerRunUsd: 0.01 }, { costPerRunUsd: 0.013 }, 'costPerRun'],
    ['tool error rate', { toolErrorRate: 0 }, { toolErrorRate: 0.1 }, 'toolErrorRate'],
  ] as const)('flags a canary that is worse on %s', (_name, stable, canary, metric) => {
    const breaches = thresholdBreaches(compare(stable, canary), thresholds);
    expect(breaches.map((b) => b.metric)).toEqual([metric]);
  });

  it('allows exactly the limit, and treats the limits as the rollout set them', () => {
    expect(thresholdBreaches(compare({ failureRate: 0.1 }, { failureRate: 0.15 }), thresholds)).toEqual([]);
    expect(thresholdBreaches(compare({ p95LatencyMs: 1000 }, { p95LatencyMs: 1500 }), thresholds)).toEqual([]);
    const strict = rolloutThresholdsSchema.parse({ maxFailureRateIncrease: 0 });
    expect(thresholdBreaches(compare({ failureRate: 0.1 }, { failureRate: 0.11 }), strict)).toHaveLength(1);
  });

  it('reports the measured increase or ratio with its limit', () => {
    const [breach] = thresholdBreaches(compare({ failureRate: 0 }, { failureRate: 1 }), thresholds);
    expect(breach).toEqual({ metric: 'failureRate', stable: 0, canary: 1, measured: 1, limit: 0.05 });
    const [ratio] = thresholdBreaches(compare({ p95LatencyMs: 100 }, { p95LatencyMs: 300 }), thresholds);
    expect(ratio).toMatchObject({ metric: 'p95Latency', measured: 3, limit: 1.5 });
    expect(describeBreaches([breach!, ratio!])).toBe('failureRate: canary 1 vs stable 0 (+1 > 0.05); p95Latency: canary 300 vs stable 100 (×3 > 1.5)');
  });

  it('counts a cost where stable had none as unbounded, and nothing against nothing as fine', () => {
    expect(thresholdBreaches(compare({ costPerRunUsd: 0 }, { costPerRunUsd: 0.01 }), thresholds)).toEqual([
      { metric: 'costPerRun', stable: 0, canary: 0.01, measured: 'unbounded', limit: 1.25 },
    ]);
    expect(thresholdBreaches(compare({ costPerRunUsd: 0, p95LatencyMs: 0 }, { costPerRunUsd: 0, p95LatencyMs: 0 }), thresholds)).toEqual([]);
  });
});

describe('hasEnoughRuns and comparisonWindows', () => {
  it('waits for both arms', () => {
    expect(hasEnoughRuns(compare({ finishedRuns: 20 }, { finishedRuns: 19 }), 20)).toBe(false);
    expect(hasEnoughRuns(compare({ finishedRuns: 19 }, { finishedRuns: 20 }), 20)).toBe(false);
    expect(hasEnoughRuns(compare({ finishedRuns: 20 }, { finishedRuns: 20 }), 20)).toBe(true);
  });

  it('judges both arms since the stage began, except stable once the canary takes everything', () => {
    expect(comparisonWindows({ weight: 50, holdSeconds: 1, minRuns: 1 }, 'stage', 'rollout')).toEqual({ canarySince: 'stage', stableSince: 'stage' });
    expect(comparisonWindows({ weight: 100, holdSeconds: 1, minRuns: 1 }, 'stage', 'rollout')).toEqual({ canarySince: 'stage', stableSince: 'rollout' });
  });
});

describe('rollout request schemas', () => {
  it('fills stage and threshold defaults', () => {
    expect(rolloutStagesSchema.parse([{ weight: 12.5 }, { weight: 100, minRuns: 5 }])).toEqual([
      { weight: 12.5, holdSeconds: 600, minRuns: 50 },
      { weight: 100, holdSeconds: 600, minRuns: 5 },
    ]);
    expect(rolloutThresholdsSchema.parse({ maxP95LatencyRatio: 2 })).toEqual({
      maxFailureRateIncrease: 0.05, maxP95LatencyRatio: 2, maxCostPerRunRatio: 1.25, maxToolErrorRateIncrease: 0.05,
    });
    expect(rolloutStagesSchema.parse(defaultRolloutStages)).toEqual(defaultRolloutStages);
  });

  it.each([
    ['weights that do not rise', [{ weight: 50 }, { weight: 50 }, { weight: 100 }], /rise/],
    ['a last stage short of 100', [{ weight: 5 }, { weight: 50 }], /weight 100/],
    ['a weight of 0', [{ weight: 0 }, { weight: 100 }], /0\.weight/],
    ['finer than a hundredth of a percent', [{ weight: 0.005 }, { weight: 100 }], /0\.weight/],
    ['no stage at all', [], /.+/],
  ])('refuses %s', (_name, stages, problem) => {
    const parsed = rolloutStagesSchema.safeParse(stages);
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')).toMatch(problem);
  });

  it('accepts a canary deployment with every default', () => {
    expect(deploymentRequestSchema.parse({ bundleId: 'support@abc', strategy: 'canary' })).toEqual({
      bundleId: 'support@abc',
      strategy: 'canary',
      stages: defaultRolloutStages,
      thresholds: rolloutThresholdsSchema.parse({}),
      checkIntervalSeconds: 30,
    });
    expect(deploymentRequestSchema.parse({ bundleId: 'support@abc', strategy: 'immediate' })).toEqual({ bundleId: 'support@abc', strategy: 'immediate' });
  });

  it('refuses rollout options on an immediate deployment, and unknown strategies', () => {
    expect(deploymentRequestSchema.safeParse({ bundleId: 'support@abc', strategy: 'immediate', stages: [{ weight: 100 }] }).success).toBe(false);
    expect(deploymentRequestSchema.safeParse({ bundleId: 'support@abc', strategy: 'blue-green' }).success).toBe(false);
    expect(deploymentRequestSchema.safeParse({ bundleId: 'support@abc', strategy: 'canary', thresholds: { maxErrors: 1 } }).success).toBe(false);
  });
});
