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
import { idempotencyKeySchema } from './runs';

/** At most this many runs per replay: a replay is a sample, and each run costs model calls under the tenant's budget. */
export const MAX_SHADOW_SAMPLE = 200;

/** How many runs a replay without `sample` or `sampleRate` takes. */
export const DEFAULT_SHADOW_SAMPLE = 50;

/** Names anonymised besides the built-in kinds: a replay's, or an agent's continuous shadowing's. */
const nameList = z.array(z.string().min(2).max(200)).max(10_000);
const namesSchema = nameList.default([]).describe('Names to replace (case-insensitive, whole words).');
const patternList = z
  .array(z.string().min(1).max(500))
  .max(100)
  .superRefine((patterns, ctx) => patternProblems(patterns).forEach((message) => ctx.addIssue({ code: 'custom', message })));

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
      names: namesSchema,
      patterns: patternList
        .default([])
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
  if (request.since !== undefined && request.until !== undefined && Date.parse(request.until) <= Date.parse(request.since)) {
    ctx.addIssue({ code: 'custom', path: ['until'], message: 'must be after since (no run is created before it and at or after since)' });
  }
});
export type ShadowRequest = z.infer<typeof shadowRequestSchema>;

const pairSchema = z.strictObject({
  originalRunId: z.uuid(),
  runId: z.uuid().nullable().describe("The replay (a staging run); null until the shadow's workflow has started it (the report lists it then)."),
});

/** Answer of `POST /v1/agents/:agent/shadow` (202): the replay is recorded and its workflow started. */
export const shadowStartedSchema = z.strictObject({
  shadowId: z.uuid(),
  agent: z.string(),
  bundleId: z.string(),
  runs: z.array(pairSchema).describe('Each production run the shadow replays.'),
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
  kind: z.enum(['replay', 'continuous']).describe("replay: a selection of production runs, replayed with their recorded reads as tapes; continuous: the agent's standing shadow of mirrored live runs (no tapes: their reads are live sandbox reads)."),
  agent: z.string(),
  bundleId: z.string(),
  createdAt: timestamp,
  done: z.boolean().describe("Every replay has finished (the shadow's workflow completed); never for a standing continuous shadow."),
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

/** Body of `PUT /v1/agents/:agent/shadowing` (admin): continuous shadowing of the agent's production runs. */
export const shadowingRequestSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Off keeps the standing report; no new run is mirrored.'),
  rate: z
    .number().min(0).max(1).optional()
    .describe('The share of production runs mirrored, sampled by a hash of the run ID (1: every run, 0: none). Absent: the stored rate (required the first time shadowing is enabled).'),
  names: nameList.optional().describe('Names to replace in mirrored inputs (case-insensitive, whole words); stored with the setting. Absent: the stored names are kept; [] clears them.'),
  patterns: patternList
    .optional()
    .describe('Regular expressions of your own identifiers, anonymised besides emails, phone, card and account numbers. Absent: the stored patterns are kept; [] clears them.'),
});
export type ShadowingRequest = z.infer<typeof shadowingRequestSchema>;

const shadowingSettingSchema = z.strictObject({
  agent: z.string(),
  enabled: z.boolean(),
  rate: z.number(),
  names: z.array(z.string()).optional().describe('The stored names (real customer names): shown to admin keys only.'),
  nameCount: z.number().int().min(0).describe('How many names are stored.'),
  patterns: z.array(z.string()),
  updatedBy: z.string(),
  updatedAt: timestamp,
});
export type ShadowingSetting = z.infer<typeof shadowingSettingSchema>;

/** Answer of `GET /v1/agents/:agent/shadowing`: the setting (null: never set) and the standing report (null: nothing mirrored yet). */
export const shadowingViewSchema = z.strictObject({
  setting: shadowingSettingSchema.nullable(),
  report: shadowReportSchema.nullable().describe(
    "The latest mirrored runs (at most 200) of its `bundleId`, the latest staged candidate mirrored, against their originals, each scored once both ended.",
  ),
});
export type ShadowingView = z.infer<typeof shadowingViewSchema>;

const agentParam = { agent: 'The agent name.' };

/** The routes of shadow replays (the document's `Agents` tag; see ./route.ts). */
export const shadowRoutes = routes([
  {
    method: 'post', path: '/v1/agents/:agent/shadow', tag: 'Agents', role: 'admin', summary: "Replay a sample of the agent's production runs against a candidate in staging",
    description: 'Each replay is a staging (sandbox) run of the candidate, its input anonymised, with its original\'s recorded read results as tapes; its approvals are decided as the original\'s were, or rejected (docs/staging.md).',
    params: pathParams(agentParam),
    headers: z.object({
      'idempotency-key': idempotencyKeySchema.optional().describe('As for `POST /v1/runs`: the same key and request answer the same shadow (kept as long).'),
    }),
    body: shadowRequestSchema,
    answers: {
      202: { description: 'The replay has started (or had, for a repeated Idempotency-Key): its runs, each with its original.', schema: shadowStartedSchema },
    },
    errors: { 409: 'The Idempotency-Key belongs to a different request (`idempotency_key_reused`).' },
  },
  {
    method: 'get', path: '/v1/agents/:agent/shadow/:shadowId', tag: 'Agents', role: 'runner', summary: 'A shadow replay compared with its originals',
    params: pathParams({ ...agentParam, shadowId: 'The shadow replay ID.' }),
    answers: { 200: { description: 'The comparison report.', schema: shadowReportSchema } },
    errors: { 404: 'No such shadow replay of this agent.' },
  },
  {
    method: 'get', path: '/v1/agents/:agent/shadow/:shadowId/report.html', tag: 'Agents', role: 'runner', summary: 'The comparison report as an HTML page with plots',
    description: "One self-contained page (Chart.js inlined, nothing loaded from elsewhere): agreement per check, each input's cost and latency in production against the candidate, the difference per input, and the inputs (anonymised) most different first. `bosun shadow report --html FILE` saves it.",
    params: pathParams({ ...agentParam, shadowId: 'The shadow replay ID.' }),
    answers: { 200: { description: 'The page, served with a Content-Security-Policy that allows only its own script and style.', schema: z.string(), mediaType: 'text/html' } },
    errors: { 404: 'No such shadow replay of this agent.' },
  },
  {
    method: 'put', path: '/v1/agents/:agent/shadowing', tag: 'Agents', role: 'admin', summary: "Mirror a share of the agent's production runs to staging, continuously",
    description: "After each production run is accepted (never delaying or changing it), a share of them is replayed, anonymised, by the agent's staging deployment; the comparison accumulates in a standing report (docs/staging.md).",
    params: pathParams(agentParam),
    body: shadowingRequestSchema,
    answers: { 200: { description: 'The setting.', schema: shadowingSettingSchema } },
    errors: { 400: 'The agent has no staging deployment to mirror to, or no rate is given nor stored.', 404: 'The tenant has published no bundle of this agent.' },
  },
  {
    method: 'get', path: '/v1/agents/:agent/shadowing', tag: 'Agents', role: 'runner', summary: "The agent's continuous shadowing and its standing report",
    description: 'The stored names are real customer names: only an admin key sees them; others see how many there are (nameCount).',
    params: pathParams(agentParam),
    answers: { 200: { description: 'The setting and the standing report.', schema: shadowingViewSchema } },
    errors: { 404: 'The tenant has published no bundle of this agent.' },
  },
]);
