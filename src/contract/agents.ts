/**
 * Agents: which bundle an agent's new runs use (its deployment), and canary rollouts.
 * `GET /v1/agents/:agent`, `POST /v1/agents/:agent/deployments`, `POST /v1/agents/:agent/rollback`,
 * `POST /v1/agents/:agent/rollout/{pause,resume,abort}`, `GET /v1/agents/:agent/rollouts/:rolloutId`.
 */
import { z } from 'zod';
import { rolloutDecisionKinds, rolloutStatuses } from '../shared/rollout';
import { defaultCheckIntervalSeconds, defaultRolloutStages, rolloutStageSchema, rolloutStagesSchema, rolloutThresholdsSchema } from '../shared/rolloutSettings';
import { jsonObject, timestamp } from './fields';

const bundleIdField = z.string().min(1).max(120);

/** Body of `POST /v1/agents/:agent/deployments`. */
export const deploymentRequestSchema = z.discriminatedUnion('strategy', [
  z
    .object({
      bundleId: bundleIdField,
      strategy: z.literal('immediate').describe('immediate: every new run uses the bundle at once.'),
    })
    .strict(),
  z
    .object({
      bundleId: bundleIdField,
      strategy: z
        .literal('canary')
        .describe('canary: the bundle takes a growing share of new runs, stage by stage, and is rolled back by itself if it does worse than stable.'),
      stages: rolloutStagesSchema.default(defaultRolloutStages),
      thresholds: rolloutThresholdsSchema.prefault({}),
      checkIntervalSeconds: z.number().int().min(1).max(3600).default(defaultCheckIntervalSeconds)
        .describe('How often a stage that has held long enough checks whether both arms have enough runs.'),
    })
    .strict(),
]);
export type DeploymentRequest = z.infer<typeof deploymentRequestSchema>;
export type CanaryRequest = Extract<DeploymentRequest, { strategy: 'canary' }>;

/** Body of `POST /v1/agents/:agent/rollout/{pause,resume,abort}` (optional). */
export const rolloutControlRequestSchema = z.object({ reason: z.string().min(1).max(500).optional() }).strict();
export type RolloutControlRequest = z.infer<typeof rolloutControlRequestSchema>;

/** Answer of `POST /v1/agents/:agent/deployments` with strategy immediate (201) and of `POST …/rollback`. */
export const deploymentSchema = z.strictObject({
  agent: z.string(),
  stableBundleId: z.string(),
  canaryBundleId: z.string().nullable(),
  canaryWeight: z.number().min(0).max(100).describe('Percent of new runs that go to the canary.'),
  rolloutId: z.uuid().nullable(),
  updatedAt: timestamp,
});
export type Deployment = z.infer<typeof deploymentSchema>;

/** One decision of a rollout and the figures behind it (src/shared/rollout.ts, RolloutDecision). */
export const rolloutDecisionSchema = z.strictObject({
  id: z.uuid(),
  stage: z.number().int().nullable().describe("Index into the rollout's stages; null when not tied to one."),
  decision: z.enum(rolloutDecisionKinds),
  reason: z.string(),
  figures: jsonObject,
  decidedBy: z.string(),
  decidedAt: timestamp,
});
export type RolloutDecisionView = z.infer<typeof rolloutDecisionSchema>;

const rolloutLinksSchema = z.strictObject({ self: z.string(), workflowId: z.string() });

/** Answer of `GET /v1/agents/:agent/rollouts/:rolloutId`, and of a canary deployment (202). */
export const rolloutViewSchema = z.strictObject({
  rolloutId: z.uuid(),
  tenantId: z.string(),
  agent: z.string(),
  stableBundleId: z.string(),
  canaryBundleId: z.string(),
  stages: z.array(rolloutStageSchema),
  thresholds: rolloutThresholdsSchema,
  checkIntervalSeconds: z.number().int(),
  status: z.enum(rolloutStatuses),
  startedBy: z.string(),
  startedAt: timestamp,
  finishedAt: timestamp.nullable(),
  decisions: z.array(rolloutDecisionSchema),
  links: rolloutLinksSchema,
});
export type RolloutView = z.infer<typeof rolloutViewSchema>;

/** What `GET /v1/agents/:agent` shows of a rollout in progress. */
export const activeRolloutSchema = z.strictObject({
  rolloutId: z.uuid(),
  status: z.enum(rolloutStatuses),
  canaryBundleId: z.string(),
  canaryWeight: z.number(),
  stage: z.number().int().describe('Index of the current stage.'),
  stages: z.number().int().describe('How many stages the rollout has.'),
  startedBy: z.string(),
  startedAt: timestamp,
  lastDecision: rolloutDecisionSchema.nullable(),
  links: rolloutLinksSchema,
});
export type ActiveRollout = z.infer<typeof activeRolloutSchema>;

/** Body of `PUT /v1/agents/:agent/staging`: the bundle the agent's staging runs use. */
export const stagingDeploymentRequestSchema = z.object({ bundleId: bundleIdField }).strict();
export type StagingDeploymentRequest = z.infer<typeof stagingDeploymentRequestSchema>;

/** The agent's staging deployment: answer of `PUT /v1/agents/:agent/staging`. */
export const stagingDeploymentSchema = z.strictObject({
  agent: z.string(),
  bundleId: z.string().describe('The bundle staging runs use unless they pin one.'),
  updatedBy: z.string(),
  updatedAt: timestamp,
});
export type StagingDeploymentView = z.infer<typeof stagingDeploymentSchema>;

/** Body and answer of `PUT /v1/agents/:agent/promotion-gate`: what a deployment to production requires of its bundle. */
export const promotionGateSchema = z.strictObject({
  requireStaging: z.boolean().describe('The bundle has completed at least one staging run.'),
  requireEval: z.boolean().describe("The bundle's latest stored eval (POST /v1/evals) passed its gate."),
});
export type PromotionGateView = z.infer<typeof promotionGateSchema>;

/** Answer of `GET /v1/agents/:agent`: its production deployment, the rollout in progress, its staging deployment and promotion gate. */
export const agentViewSchema = deploymentSchema.extend({
  rollout: activeRolloutSchema.nullable(),
  staging: stagingDeploymentSchema.nullable(),
  promotionGate: promotionGateSchema,
});
export type AgentView = z.infer<typeof agentViewSchema>;

/** Answer of `POST /v1/agents/:agent/rollout/{pause,resume,abort}` (202): the request reached the rollout's workflow. */
export const rolloutControlSchema = z.strictObject({
  rolloutId: z.uuid(),
  action: z.enum(['pause', 'resume', 'abort']),
  requestedBy: z.string(),
});
export type RolloutControlAnswer = z.infer<typeof rolloutControlSchema>;
