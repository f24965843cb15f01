/**
 * Evals and the flywheel back into the golden set: `POST /v1/evals` stores an eval's results,
 * `GET /v1/evals` lists them (baselines); `POST /v1/runs/:runId/feedback` scores a run;
 * `GET /v1/review` lists runs worth a golden case; `GET /v1/runs/:runId/tapes` exports a run's tool
 * calls as tapes (src/shared/tapes.ts) for `bosun golden add`.
 */
import { z } from 'zod';
import { tapeEntrySchema } from '../shared/tapes';
import { runErrorSchema } from './runs';
import { jsonObject, nextCursor, pageCursor, pageLimit, pathParams, timestamp, runStatusSchema } from './fields';
import { routes } from './route';

export { MAX_TAPE_ENTRIES, tapeEntrySchema, tapesSchema, type TapeEntry } from '../shared/tapes';

const metricName = z.string().min(1).max(100);

/** An eval's verdict over the whole suite. */
export const evalSummarySchema = z.strictObject({
  metrics: z.record(metricName, z.number()).describe('Each metric over the suite, e.g. task_success: 0.93, p95_latency_ms: 4100.'),
  passed: z.boolean().describe('Every threshold met and no significant regression against the baseline.'),
  regressions: z.array(z.string().max(2000)).max(1000).describe('What failed the gate, one line each.'),
});
export type EvalSummary = z.infer<typeof evalSummarySchema>;

/** One golden case's results: its runs (more than one with `repeats`), verdict, metrics and why it failed. */
export const evalCaseSchema = z.strictObject({
  caseId: z.string().min(1).max(200),
  runIds: z.array(z.uuid()).max(100),
  passed: z.boolean(),
  metrics: z.record(metricName, z.union([z.number(), z.boolean()])),
  failures: z.array(z.string().max(2000)).max(100),
});
export type EvalCase = z.infer<typeof evalCaseSchema>;

const evalFields = {
  agent: z.string().min(1).max(100),
  bundleId: z.string().min(1).max(120).describe('The bundle under test: a bundle of `agent` the tenant published.'),
  suiteHash: z.string().min(1).max(200).describe('Hash of the golden set: evals compare only on the same suite.'),
  gate: jsonObject.describe('The parsed gate file (thresholds, judge, baseline, repeats).'),
  summary: evalSummarySchema,
  cases: z.array(evalCaseSchema).max(10_000),
};

/** Body of `POST /v1/evals` (runner). */
export const createEvalRequestSchema = z.strictObject(evalFields);
export type CreateEvalRequest = z.infer<typeof createEvalRequestSchema>;

/** Answer of `POST /v1/evals` (201). */
export const createdEvalSchema = z.strictObject({ evalId: z.uuid(), createdAt: timestamp });
export type CreatedEval = z.infer<typeof createdEvalSchema>;

/** A stored eval: what was posted, with its ID and when it was stored. */
export const evalSchema = z.strictObject({ evalId: z.uuid(), ...evalFields, createdAt: timestamp });
export type StoredEval = z.infer<typeof evalSchema>;

/** Query of `GET /v1/evals`: every filter given must hold. */
export const listEvalsQuerySchema = z
  .object({
    agent: z.string().max(100).optional(),
    bundleId: z.string().max(120).optional(),
    suiteHash: z.string().max(200).optional(),
    limit: pageLimit(100, 20),
  })
  .strict();
export type ListEvalsQuery = z.infer<typeof listEvalsQuerySchema>;

/** Answer of `GET /v1/evals`: newest first. */
export const evalListSchema = z.strictObject({ evals: z.array(evalSchema) });
export type EvalList = z.infer<typeof evalListSchema>;

/** Body of `POST /v1/runs/:runId/feedback` (runner). */
export const feedbackRequestSchema = z.strictObject({
  score: z.number().min(-1).max(1).describe('-1 (bad) to 1 (good); below 0 puts the run on the review list.'),
  label: z.string().min(1).max(100).optional().describe('A short tag, e.g. "wrong_amount".'),
  comment: z.string().max(4000).optional().describe('What was wrong, or what the answer should have been.'),
});
export type FeedbackRequest = z.infer<typeof feedbackRequestSchema>;

/** A run's feedback entry: answer of `POST /v1/runs/:runId/feedback` (201). */
export const feedbackSchema = z.strictObject({
  feedbackId: z.uuid(),
  runId: z.uuid(),
  score: z.number(),
  label: z.string().nullable(),
  comment: z.string().nullable(),
  createdBy: z.string().describe('The API key that sent it.'),
  createdAt: timestamp,
});
export type Feedback = z.infer<typeof feedbackSchema>;

/** Why a run is a candidate for the golden set. */
export const reviewReasons = [
  'failed', 'cap_reached', 'budget_exceeded', 'approval_rejected', 'negative_feedback', 'approval_edited',
] as const;
export type ReviewReason = (typeof reviewReasons)[number];

/** A call an approver edited before approving it: `arguments` is the expected call, a free label. */
export const editedCallSchema = z.strictObject({
  approvalId: z.uuid(),
  tool: z.string(),
  arguments: jsonObject.describe('What the approver had the tool run with: the expected arguments.'),
  originalArguments: z.unknown().describe("The model's own arguments."),
  comment: z.string().nullable(),
});
export type EditedCall = z.infer<typeof editedCallSchema>;

/** One run of `GET /v1/review`. */
export const reviewCandidateSchema = z.strictObject({
  runId: z.uuid(),
  agent: z.string(),
  bundleId: z.string(),
  status: runStatusSchema,
  input: z.string().describe("The run's input: the new case's input."),
  error: runErrorSchema.nullable(),
  createdAt: timestamp,
  reasons: z.array(z.enum(reviewReasons)).min(1),
  editedCalls: z.array(editedCallSchema),
  feedback: z.array(feedbackSchema).describe('Every feedback entry of the run, oldest first.'),
});
export type ReviewCandidate = z.infer<typeof reviewCandidateSchema>;

/** Query of `GET /v1/review` (runner). */
export const reviewQuerySchema = z.strictObject({ limit: pageLimit(100, 20), cursor: pageCursor });
export type ReviewQuery = z.infer<typeof reviewQuerySchema>;

/** Answer of `GET /v1/review`: the tenant's candidate runs, newest first. */
export const reviewPageSchema = z.strictObject({ runs: z.array(reviewCandidateSchema), nextCursor });
export type ReviewPage = z.infer<typeof reviewPageSchema>;

/**
 * Answer of `GET /v1/runs/:runId/tapes`: one entry per tool call that ran (or was answered from a
 * tape), in the run's order; results redacted by each tool's pinned `redact.result`, arguments
 * without the fields its `redact.arguments` masked.
 */
export const runTapesSchema = z.strictObject({
  tapes: z.array(tapeEntrySchema).describe("The run's tool calls, as they ran."),
  given: z.array(tapeEntrySchema).optional().describe('The tapes the run was started with (an eval case, a shadow replay: already anonymised), when it had any.'),
});
export type RunTapes = z.infer<typeof runTapesSchema>;

const runParam = pathParams({ runId: 'The run ID (a UUID).' });

/** The routes of evals, feedback and review (the document's `Evals` tag; see ./route.ts). */
export const evalRoutes = routes([
  {
    method: 'post', path: '/v1/evals', tag: 'Evals', role: 'runner', summary: "Store an eval's results",
    body: createEvalRequestSchema,
    answers: { 201: { description: 'Stored.', schema: createdEvalSchema } },
  },
  {
    method: 'get', path: '/v1/evals', tag: 'Evals', role: 'runner', summary: 'Stored evals, newest first',
    query: listEvalsQuerySchema,
    answers: { 200: { description: 'The evals.', schema: evalListSchema } },
  },
  {
    method: 'post', path: '/v1/runs/:runId/feedback', tag: 'Evals', role: 'runner', summary: 'Score a run',
    params: runParam,
    body: feedbackRequestSchema,
    answers: { 201: { description: 'The feedback entry.', schema: feedbackSchema } },
    errors: { 404: 'No such run for this tenant.' },
  },
  {
    method: 'get', path: '/v1/review', tag: 'Evals', role: 'runner', summary: 'Runs worth a golden case, newest first',
    query: reviewQuerySchema,
    answers: { 200: { description: 'A page of candidate runs.', schema: reviewPageSchema } },
  },
  {
    method: 'get', path: '/v1/runs/:runId/tapes', tag: 'Evals', role: 'runner', summary: "A run's tool calls as tapes",
    params: runParam,
    answers: { 200: { description: 'The tapes, in the run order.', schema: runTapesSchema } },
    errors: { 404: 'No such run for this tenant.' },
  },
]);
