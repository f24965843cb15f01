/**
 * Runs: `POST /v1/runs` starts one, `GET /v1/runs` lists them, `GET /v1/runs/:runId` shows one,
 * `POST /v1/runs/:runId/cancel` stops one. Approvals are in ./approvals.ts.
 */
import { z } from 'zod';
import { tapesSchema } from '../shared/tapes';
import { multitaskStrategySchema } from '../shared/threads';
import { pendingApprovalSchema, runApprovalSchema } from './approvals';
import { environmentSchema, jsonObject, metadataSchema, nextCursor, pageCursor, pageLimit, pathParams, timestamp, runStatusSchema } from './fields';
import { routes } from './route';

/** Body of `POST /v1/runs`. */
export const createRunRequestSchema = z
  .object({
    agent: z.string().min(1).max(100).describe('Name of the agent to run, e.g. "support".'),
    input: z
      .string()
      .min(1)
      .describe("The user's request; as long as the request size limit allows (BOSUN_MAX_REQUEST_BYTES, 2 MiB by default). Kept in PostgreSQL, never in workflow history."),
    metadata: metadataSchema
      .optional()
      .describe('Free-form labels kept with the run.'),
    bundleId: z.string().max(120).optional().describe("Pin the run to this bundle instead of the agent's deployment (evals, staging)."),
    routingKey: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('Runs with the same key land on the same side of a canary (e.g. a conversation or tenant ID); the run ID by default.'),
    sandbox: z
      .boolean()
      .optional()
      .describe("A sandbox run: write and destructive tools run their sandbox implementation, or are refused; never their live handler."),
    threadId: z.uuid().optional().describe('Run as the next turn of this thread: the run sees the conversation so far (docs/conversations.md).'),
    multitaskStrategy: multitaskStrategySchema
      .optional()
      .describe("With threadId, when the thread's previous run is still active: reject (409), enqueue, interrupt or rollback; the bundle's default, else reject."),
    stream: z.boolean().optional().describe("Stream the model's tokens as message.delta events of GET /v1/runs/:runId/events; the bundle's model.stream by default."),
    tapes: tapesSchema
      .optional()
      .describe(
        'Recorded tool results (evals): each call is answered from the first unused entry that covers it, and a call none covers fails; no tool runs. Implies `sandbox`. In staging, only read tools are answered from tapes; write and destructive tools run their sandbox implementation. Kept in PostgreSQL, never in workflow history.',
      ),
    environment: environmentSchema
      .optional()
      .describe("production (default): the agent's deployment, live tools. staging: the agent's staging bundle (or bundleId), a sandbox run with staging secrets (docs/staging.md)."),
  })
  .strict();
export type CreateRunRequest = z.infer<typeof createRunRequestSchema>;

/** The `Idempotency-Key` header of `POST /v1/runs`. */
export const idempotencyKeySchema = z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

/** Query of `GET /v1/runs`. */
export const listRunsQuerySchema = z
  .object({
    agent: z.string().max(100).optional(),
    bundleId: z.string().max(120).optional(),
    status: runStatusSchema.optional(),
    environment: environmentSchema.optional(),
    limit: pageLimit(200, 50),
    cursor: pageCursor,
  })
  .strict();
export type ListRunsQuery = z.infer<typeof listRunsQuerySchema>;

/** `error` of a run that ended without its answer: `code` is a run error code (src/shared/runErrors.ts). */
export const runErrorSchema = z.strictObject({ code: z.string(), message: z.string() });
export type RunErrorView = z.infer<typeof runErrorSchema>;

const summaryFields = {
  runId: z.uuid(),
  tenantId: z.string(),
  agent: z.string(),
  bundleId: z.string().describe('The bundle the run is pinned to for its whole life.'),
  status: runStatusSchema,
  input: z.string(),
  environment: environmentSchema,
  createdAt: timestamp,
};

/** A run in a few fields. */
export const runSummarySchema = z.strictObject(summaryFields);
export type RunSummary = z.infer<typeof runSummarySchema>;

/** Answer of `POST /v1/runs` (202), also for a request repeated with the same Idempotency-Key. */
export const acceptedRunSchema = z.strictObject({
  ...summaryFields,
  links: z.strictObject({ self: z.string(), events: z.string() }),
  threadId: z.uuid().optional().describe('The thread the run is a turn of (runs started on a thread only).'),
  turn: z.number().int().min(1).optional().describe("The run's turn on its thread, from 1."),
});
export type AcceptedRun = z.infer<typeof acceptedRunSchema>;

/** One entry of `GET /v1/runs`. */
export const runListItemSchema = z.strictObject({
  ...summaryFields,
  output: z.string().nullable(),
  error: runErrorSchema.nullable(),
  costUsd: z.number(),
});
export type RunListItem = z.infer<typeof runListItemSchema>;

/** Answer of `GET /v1/runs`: newest first. */
export const runPageSchema = z.strictObject({ runs: z.array(runListItemSchema), nextCursor });
export type RunPage = z.infer<typeof runPageSchema>;

/** One model call or tool call of a run: `steps[]` of `GET /v1/runs/:runId`, in (step, ordinal) order. */
export const runStepSchema = z.strictObject({
  step: z.number().int(),
  ordinal: z.number().int().describe('0 for the model call of the step; k + 1 for its k-th tool call.'),
  kind: z.enum(['model', 'tool']),
  name: z.string().describe('The model that answered, or the tool.'),
  status: z.string(),
  bundleId: z.string(),
  detail: jsonObject,
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  cachedInputTokens: z.number().int(),
  costUsd: z.number(),
  latencyMs: z.number().int(),
  createdAt: timestamp,
});
export type RunStep = z.infer<typeof runStepSchema>;

/** A run's tokens and cost so far (USD). */
export const runUsageSchema = z.strictObject({
  inputTokens: z.number().int(),
  cachedInputTokens: z.number().int(),
  outputTokens: z.number().int(),
  costUsd: z.number(),
  cacheSavingsUsd: z.number(),
});
export type RunUsage = z.infer<typeof runUsageSchema>;

/** Answer of `GET /v1/runs/:runId`. */
export const runViewSchema = z.strictObject({
  ...summaryFields,
  metadata: jsonObject,
  output: z.string().nullable(),
  error: runErrorSchema.nullable(),
  updatedAt: timestamp,
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  retries: z.record(z.string(), z.number().int()).describe('Model-call attempts retried, by reason (every reason present).'),
  queuePosition: z.number().int().nullable().describe("Queued runs: 1 + the tenant's queued runs created before it; else null."),
  waitingFor: z.string().nullable().describe('Queued runs held back by more than their turn: what they wait for (e.g. a worker with one of their tools); else null.'),
  outputTruncated: z.boolean().describe("The answer stopped at the model's output token limit."),
  steps: z.array(runStepSchema),
  pendingApprovals: z.array(pendingApprovalSchema),
  approvals: z.array(runApprovalSchema),
  usage: runUsageSchema,
});
export type RunView = z.infer<typeof runViewSchema>;

/** Answer of `POST /v1/runs/:runId/cancel` (202): `status` is the run's status when the request arrived. */
export const cancelRunSchema = z.strictObject({
  runId: z.uuid(),
  status: runStatusSchema,
  cancelRequested: z.literal(true),
});
export type CancelRunAnswer = z.infer<typeof cancelRunSchema>;

const runParams = pathParams({ runId: 'The run ID (a UUID).' });

/** The routes of runs (the document's `Runs` tag; see ./route.ts). */
export const runRoutes = routes([
  {
    method: 'post', path: '/v1/runs', tag: 'Runs', role: 'runner', summary: 'Start a run',
    description: "Starts a run of the agent's deployed bundle (or the pinned `bundleId`); with `threadId`, as the thread's next message (docs/conversations.md). A request repeated with the same `Idempotency-Key` answers the run it started.",
    headers: z.object({ 'idempotency-key': idempotencyKeySchema.optional().describe('Makes retries safe: the same key and request answer the same run (kept 24 h by default).') }),
    body: createRunRequestSchema,
    answers: { 202: { description: 'The run is accepted (or was, for a repeated Idempotency-Key); with `threadId` and `turn` for a run on a thread.', schema: acceptedRunSchema } },
    errors: {
      404: 'No thread `threadId` for this tenant.',
      409: 'The Idempotency-Key belongs to a different request; or the thread is busy (`thread_busy` under reject, `rollback_refused` once its active run started a write).',
    },
  },
  {
    method: 'get', path: '/v1/runs', tag: 'Runs', role: 'runner', summary: "List the tenant's runs, newest first",
    query: listRunsQuerySchema,
    answers: { 200: { description: 'A page of runs.', schema: runPageSchema } },
  },
  {
    method: 'get', path: '/v1/runs/:runId', tag: 'Runs', role: 'runner', summary: 'Show a run: steps, approvals, usage',
    params: runParams,
    answers: { 200: { description: 'The run.', schema: runViewSchema } },
    errors: { 404: 'No such run for this tenant.' },
  },
  {
    method: 'post', path: '/v1/runs/:runId/cancel', tag: 'Runs', role: 'runner', summary: 'Cancel a run',
    params: runParams,
    answers: { 202: { description: 'The cancellation reached the run.', schema: cancelRunSchema } },
    errors: { 404: 'No such run for this tenant.', 409: 'The run has already ended.' },
  },
]);
