/**
 * What a canary deployment may set: its stages and the thresholds that roll it back, with their
 * defaults. Apart from ./rollout.ts, which the rollout workflow imports: zod stays out of the
 * workflow bundle.
 */
import { z } from 'zod';

export const rolloutStageSchema = z
  .object({
    weight: z.number().gt(0).max(100).multipleOf(0.01).describe('Percent of new runs that go to the canary during this stage.'),
    holdSeconds: z.number().int().min(0).max(7 * 86_400).default(600).describe('How long the stage lasts at least.'),
    minRuns: z.number().int().min(0).max(100_000).default(50).describe('Finished runs each arm needs before the stage is judged.'),
  })
  .strict();
export type RolloutStage = z.infer<typeof rolloutStageSchema>;

export const defaultRolloutStages: RolloutStage[] = [
  { weight: 5, holdSeconds: 300, minRuns: 20 },
  { weight: 25, holdSeconds: 600, minRuns: 50 },
  { weight: 50, holdSeconds: 600, minRuns: 100 },
  { weight: 100, holdSeconds: 600, minRuns: 100 },
];

export const rolloutStagesSchema = z
  .array(rolloutStageSchema)
  .min(1)
  .max(10)
  .refine((stages) => stages.every((s, i) => i === 0 || s.weight > stages[i - 1]!.weight), 'weights must rise from stage to stage')
  .refine((stages) => stages.at(-1)?.weight === 100, 'the last stage must have weight 100 (it is what promotes the canary)');

/** Canary against stable, per stage; breaching any one rolls the canary back. */
export const rolloutThresholdsSchema = z
  .object({
    maxFailureRateIncrease: z.number().min(0).max(1).default(0.05).describe('Canary failure rate minus stable failure rate (0.05 = 5 points).'),
    maxP95LatencyRatio: z.number().min(1).max(1000).default(1.5).describe('Canary p95 run latency over stable p95.'),
    maxCostPerRunRatio: z.number().min(1).max(1000).default(1.25).describe('Canary mean cost per run over stable.'),
    maxToolErrorRateIncrease: z.number().min(0).max(1).default(0.05).describe('Canary tool error rate minus stable tool error rate.'),
  })
  .strict();
export type RolloutThresholds = z.infer<typeof rolloutThresholdsSchema>;

export const defaultCheckIntervalSeconds = 30;
