/**
 * Shadow replay (issue 15): `POST /v1/agents/:agent/shadow` replays a sample of the agent's
 * production runs, anonymised, against a candidate bundle in staging; `GET
 * /v1/agents/:agent/shadow/:shadowId` compares each replay with its original (docs/staging.md).
 */
import { z } from 'zod';
import { runStatuses } from '../shared/domain';
import { outcomes } from '../shared/evals/goldenCase';
import { patternProblems } from '../shared/anonymise';
import { pathParams, runStatusSchema, timestamp } from './fields';
import { routes } from './route';

/** At most this many runs per replay: a replay is a sample, and each run costs model calls under the tenant's budget. */
export const MAX_SHADOW_SAMPLE = 200;

/** How many runs a replay without `sample` or `sampleRate` takes. */
export const DEFAULT_SHADOW_SAMPLE = 50;

/** Body of `POST /v1/agents/:agent/shadow` (admin). */
export const shadowRequestSchema = z.strictObject({
  bundleId: z.string().min(1).max(120).optional().describe("The candidate bundle; the agent's staging bundle by default."),
  since: z.iso.datetime({ offset: true }).optional().describe('Only production runs created at or after this time.'),
  until: z.iso.datetime({ offset: true }).optional().describe('Only production runs created before this time.'),
  statuses: z.array(runStatusSchema).min(1).max(runStatuses.length).default(['completed']).describe('Only production runs that ended so.'),
  sample: z
    .number().int().min(1).max(MAX_SHADOW_SAMPLE).optional()
    .describe(`Sample size: at most this many of the matching runs (${DEFAULT_SHADOW_SAMPLE} when neither this nor sampleRate is given), those first by a hash of their run ID. Not with sampleRate.`),
  sampleRate: z
    .number().gt(0).max(1).optional()
    .describe(
      `Sample rate (0 < r ≤ 1): each matching run is taken when a hash of its run ID (the first 32 bits of its MD5, over 2^32) is below r, ` +
      `so the same request selects the same runs and a higher rate a superset; at most ${MAX_SHADOW_SAMPLE}. Not with sample.`,
    ),
  anonymise: z
    .strictObject({
      names: z.array(z.string().min(2).max(200)).max(10_000).default([]).describe('Names to replace (case-insensitive, whole words).'),
      patterns: z
        .array(z.string().min(1).max(500))
        .max(100)
        .default([])
        .superRefine((patterns, ctx) => patternProblems(patterns).forEach((message) => ctx.addIssue({ code: 'custom', message })))
        .describe('Regular expressions of your own identifiers (e.g. "CUST-\\\\d+"); each match is replaced.'),
    })
    .prefault({})
    .describe('Emails, phone numbers, card and account numbers are always replaced; these add to them.'),
  approvals: z
    .enum(['as_original', 'reject'])
    .default('as_original')
    .describe("as_original: each approval a replay asks is decided as a human decided the original's (none: rejected). reject: all are rejected."),
}).superRefine((request, ctx) => {
  if (request.sample !== undefined && request.sampleRate !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['sampleRate'], message: 'give sample (a size) or sampleRate (a rate), not both' });
  }
});
export type ShadowRequest = z.infer<typeof shadowRequestSchema>;

const pairSchema = z.strictObject({ originalRunId: z.uuid(), runId: z.uuid() });

/** Answer of `POST /v1/agents/:agent/shadow` (202): the replays started. */
export const shadowStartedSchema = z.strictObject({
  shadowId: z.uuid(),
  agent: z.string(),
  bundleId: z.string(),
  runs: z.array(pairSchema).describe('Each replayed run (a staging run) and the production run it replays.'),
  links: z.strictObject({ self: z.string() }),
});
export type ShadowStarted = z.infer<typeof shadowStartedSchema>;

const checkSchema = z.strictObject({ pass: z.boolean(), failures: z.array(z.string()) });

const sideSchema = z.strictObject({
  runId: z.uuid(),
  status: z.string(),
  outcome: z.array(z.enum(outcomes)),
  tools: z.array(z.string()).describe('The tools called, in order.'),
  approvals: z.array(z.string()).describe('The tools whose calls asked for approval, in order.'),
  costUsd: z.number(),
  latencyMs: z.number().describe('Start to end, without the time approvals waited.'),
});

const figuresSchema = z.strictObject({ successRate: z.number(), meanCostUsd: z.number(), p50LatencyMs: z.number(), p95LatencyMs: z.number() });

/** Answer of `GET /v1/agents/:agent/shadow/:shadowId`: the comparison report, most different first. */
export const shadowReportSchema = z.strictObject({
  shadowId: z.uuid(),
  agent: z.string(),
  bundleId: z.string(),
  createdAt: timestamp,
  done: z.boolean().describe('Every replay has finished.'),
  aggregates: z.strictObject({
    runs: z.number().int(),
    finished: z.number().int(),
    agreement: z.strictObject({ outcome: z.number(), trajectory: z.number(), approvals: z.number(), grounding: z.number() }),
    original: figuresSchema,
    candidate: figuresSchema,
    successRate: z.strictObject({ test: z.enum(['fisher_exact', 'two_proportion_z']), p: z.number(), significant: z.boolean() }),
  }),
  items: z.array(
    z.strictObject({
      originalRunId: z.uuid(),
      runId: z.uuid(),
      input: z.string().describe('The anonymised input both runs are compared on.'),
      pending: z.boolean(),
      difference: z.number(),
      checks: z
        .strictObject({ task_success: checkSchema, grounding: checkSchema, tool_call_accuracy: checkSchema, approval_accuracy: checkSchema })
        .nullable(),
      original: sideSchema,
      candidate: sideSchema,
    }),
  ),
});
export type ShadowReport = z.infer<typeof shadowReportSchema>;

const agentParam = { agent: 'The agent name.' };

/** The routes of shadow replays (the document's `Agents` tag; see ./route.ts). */
export const shadowRoutes = routes([
  {
    method: 'post', path: '/v1/agents/:agent/shadow', tag: 'Agents', role: 'admin', summary: "Replay a sample of the agent's production runs against a candidate in staging",
    description: 'Each replay is a staging (sandbox) run of the candidate, its input anonymised, with its original\'s recorded read results as tapes; its approvals are decided as the original\'s were, or rejected (docs/staging.md).',
    params: pathParams(agentParam),
    body: shadowRequestSchema,
    answers: { 202: { description: 'The replay has started: its runs, each with its original.', schema: shadowStartedSchema } },
  },
  {
    method: 'get', path: '/v1/agents/:agent/shadow/:shadowId', tag: 'Agents', role: 'runner', summary: 'A shadow replay compared with its originals',
    params: pathParams({ ...agentParam, shadowId: 'The shadow replay ID.' }),
    answers: { 200: { description: 'The comparison report.', schema: shadowReportSchema } },
    errors: { 404: 'No such shadow replay of this agent.' },
  },
]);
