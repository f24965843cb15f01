/**
 * Agents: which bundle an agent's new runs use (its deployment), and canary rollouts.
 * `GET /v1/agents/:agent`, `POST /v1/agents/:agent/deployments`, `POST /v1/agents/:agent/rollback`,
 * `POST /v1/agents/:agent/rollout/{pause,resume,abort}`, `GET /v1/agents/:agent/rollouts/:rolloutId`;
 * staging (issue 15): `PUT /v1/agents/:agent/staging`, `PUT /v1/agents/:agent/promotion-gate`.
 */
import { z } from 'zod';
import { rolloutDecisionKinds, rolloutStatuses } from '../shared/rollout';
import { defaultCheckIntervalSeconds, defaultRolloutStages, rolloutStageSchema, rolloutStagesSchema, rolloutThresholdsSchema } from '../shared/rolloutSettings';
import { jsonObject, pathParams, timestamp } from './fields';
import { routes } from './route';

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

/** A sandbox tenant's name: `<tenant>:sandbox` or `<tenant>:sandbox:<label>` (tenant IDs have no colon, so no API key can carry it). */
export const SANDBOX_TENANT_PATTERN = /^[^:\s]{1,200}:sandbox(:[a-z0-9_-]{1,40})?$/;

/** Body of `PUT /v1/agents/:agent/staging`: the bundle the agent's staging runs use, and the tenant their tools see. */
export const stagingDeploymentRequestSchema = z
  .object({
    bundleId: bundleIdField,
    sandboxTenant: z
      .string()
      .regex(SANDBOX_TENANT_PATTERN, 'must be <your tenant>:sandbox or <your tenant>:sandbox:<label> (lower-case letters, digits, - and _)')
      .nullable()
      .optional()
      .describe(
        "The tenant whose rows staging runs' tools see (their ctx.tenantId and row-level security): `<your tenant>:sandbox[:<label>]`, " +
        'so reads run against its rows and sandboxed writes land there, never in your production rows. null: your tenant itself; absent: unchanged.',
      ),
  })
  .strict();
export type StagingDeploymentRequest = z.infer<typeof stagingDeploymentRequestSchema>;

/** The agent's staging deployment: answer of `PUT /v1/agents/:agent/staging`. */
export const stagingDeploymentSchema = z.strictObject({
  agent: z.string(),
  bundleId: z.string().describe('The bundle staging runs use unless they pin one.'),
  sandboxTenant: z.string().nullable().describe("The tenant staging runs' tools see; null: the run's own tenant."),
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
  // A copy: the answer of PUT …/staging is a named component, and zod-to-openapi would put this `null` on it (./openapi.ts).
  staging: z.strictObject(stagingDeploymentSchema.shape).nullable(),
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

const agentParam = { agent: 'The agent name.' };

/** The routes of agents: deployments and rollouts (the document's `Agents` tag; see ./route.ts). */
export const agentRoutes = routes([
  {
    method: 'get', path: '/v1/agents/:agent', tag: 'Agents', role: 'runner', summary: "An agent's deployment, the rollout in progress, its staging deployment and promotion gate",
    params: pathParams(agentParam),
    answers: { 200: { description: 'The agent.', schema: agentViewSchema } },
    errors: { 404: 'The agent has no deployment.' },
  },
  {
    method: 'post', path: '/v1/agents/:agent/deployments', tag: 'Agents', role: 'admin', summary: 'Deploy a bundle, at once or as a canary',
    params: pathParams(agentParam),
    body: deploymentRequestSchema,
    answers: {
      201: { description: 'strategy immediate: the bundle is deployed.', schema: deploymentSchema },
      202: { description: 'strategy canary: the rollout has started.', schema: rolloutViewSchema },
    },
    errors: {
      409: 'A rollout is in progress, there is no stable bundle for a canary, or the bundle is already stable; or `promotion_refused`: the bundle does not meet the promotion gate (`problems` names each requirement missing).',
    },
  },
  {
    method: 'put', path: '/v1/agents/:agent/staging', tag: 'Agents', role: 'admin', summary: "Set the bundle the agent's staging runs use",
    description: 'Staging needs no promotion gate; runs with `environment: staging` use this bundle unless they pin one (docs/staging.md).',
    params: pathParams(agentParam),
    body: stagingDeploymentRequestSchema,
    answers: { 200: { description: 'The staging deployment.', schema: stagingDeploymentSchema } },
  },
  {
    method: 'put', path: '/v1/agents/:agent/promotion-gate', tag: 'Agents', role: 'admin', summary: 'Set what a deployment to production requires of its bundle',
    params: pathParams(agentParam),
    body: promotionGateSchema,
    answers: { 200: { description: 'The promotion gate.', schema: promotionGateSchema } },
    errors: { 404: 'The tenant has published no bundle of this agent.' },
  },
  {
    method: 'post', path: '/v1/agents/:agent/rollback', tag: 'Agents', role: 'admin', summary: 'Deploy the previous stable bundle again',
    params: pathParams(agentParam),
    answers: { 200: { description: 'The deployment after the rollback.', schema: deploymentSchema } },
    errors: { 404: 'The agent has no deployment.', 409: 'There is no earlier bundle.' },
  },
  {
    method: 'post', path: '/v1/agents/:agent/rollout/:action', tag: 'Agents', role: 'admin', summary: 'Pause, resume or abort the rollout in progress',
    params: pathParams({ ...agentParam, action: 'pause, resume or abort.' }),
    body: rolloutControlRequestSchema.optional(),
    answers: { 202: { description: 'The request reached the rollout.', schema: rolloutControlSchema } },
    errors: { 404: 'No such action, or no rollout in progress.', 409: 'The rollout has already ended.' },
  },
  {
    method: 'get', path: '/v1/agents/:agent/rollouts/:rolloutId', tag: 'Agents', role: 'runner', summary: 'A rollout with its decisions',
    params: pathParams({ ...agentParam, rolloutId: 'The rollout ID.' }),
    answers: { 200: { description: 'The rollout.', schema: rolloutViewSchema } },
    errors: { 404: 'No such rollout.' },
  },
]);
