/** Budgets and usage: `PUT /v1/budgets/:period`, `GET /v1/budgets`, `GET /v1/usage`. */
import { z } from 'zod';
import { environmentSchema, timestamp } from './fields';
import { routes } from './route';

/** `:period` of `PUT /v1/budgets/:period`. */
export const budgetPeriods = ['day', 'month'] as const;
export type BudgetPeriod = (typeof budgetPeriods)[number];

/** Body of `PUT /v1/budgets/:period`. */
export const budgetRequestSchema = z
  .object({
    // The column keeps 6 decimals: a smaller ceiling would be stored as 0, which it refuses.
    limitUsd: z.number().min(0.000001).max(1e9),
    mode: z.enum(['hard', 'soft']).describe('hard: model calls past the ceiling are refused; soft: recorded only.'),
    onExceeded: z.enum(['fail', 'wait']).default('fail').describe('For hard ceilings: end the run as budget_exceeded, or wait for the next period.'),
  })
  .strict();
export type BudgetRequest = z.infer<typeof budgetRequestSchema>;

/** Query of `PUT /v1/budgets/:period`: whose ceiling, production's (the default) or the separate one of staging runs. */
export const budgetQuerySchema = z
  .object({
    environment: environmentSchema.default('production').describe(
      'production: the ceiling of production runs; staging: a separate ceiling for staging runs and shadow replays, which never spend from production\'s.',
    ),
  })
  .strict();

/** Query of `GET /v1/budgets`: one environment's ceilings, or both. */
export const budgetListQuerySchema = z
  .object({ environment: environmentSchema.optional().describe("Only this environment's ceilings (production or staging); both when absent.") })
  .strict();

/** Query of `GET /v1/usage`. */
export const usageQuerySchema = z
  .object({
    groupBy: z.enum(['tenant', 'agent', 'bundle', 'day', 'environment']).default('tenant'),
    environment: environmentSchema.optional().describe('Only the model steps of runs in this environment (default: every run\'s).'),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type UsageQuery = z.infer<typeof usageQuerySchema>;

/** Answer of `PUT /v1/budgets/:period`: the ceiling as stored. */
export const budgetSchema = budgetRequestSchema.extend({ period: z.enum(budgetPeriods), environment: environmentSchema });
export type Budget = z.infer<typeof budgetSchema>;

/** A ceiling with what its current window (UTC day or month) has spent and reserved, in USD. */
export const budgetStatusSchema = budgetSchema.extend({
  spentUsd: z.number(),
  reservedUsd: z.number().describe('Held by model calls in flight.'),
  windowStart: timestamp,
  thresholdsCrossed: z.array(z.number().int()).describe('Percentages of the limit crossed in this window.'),
});
export type BudgetStatus = z.infer<typeof budgetStatusSchema>;

/** Answer of `GET /v1/budgets`. */
export const budgetListSchema = z.strictObject({ budgets: z.array(budgetStatusSchema) });

/** Tokens and cost of model steps for one group (a tenant, agent, bundle, UTC day `YYYY-MM-DD` or environment). */
export const usageTotalSchema = z.strictObject({
  key: z.string(),
  runs: z.number().int(),
  modelCalls: z.number().int(),
  inputTokens: z.number().int(),
  cachedInputTokens: z.number().int(),
  outputTokens: z.number().int(),
  costUsd: z.number(),
  cacheSavingsUsd: z.number(),
});

/** Answer of `GET /v1/usage`. */
export const usageSchema = z.strictObject({ groupBy: usageQuerySchema.shape.groupBy.unwrap(), totals: z.array(usageTotalSchema) });
export type UsageReport = z.infer<typeof usageSchema>;

/** The routes of budgets and usage (the document's `Usage` tag; see ./route.ts). */
export const usageRoutes = routes([
  {
    method: 'put', path: '/v1/budgets/:period', tag: 'Usage', role: 'admin', summary: "Set the tenant's spending ceiling for a UTC day or month",
    params: z.object({ period: z.enum(budgetPeriods) }),
    query: budgetQuerySchema,
    body: budgetRequestSchema,
    answers: { 200: { description: 'The ceiling as stored.', schema: budgetSchema } },
  },
  {
    method: 'get', path: '/v1/budgets', tag: 'Usage', role: 'admin', summary: "The tenant's ceilings (production's and staging's) with what each window has spent",
    query: budgetListQuerySchema,
    answers: { 200: { description: 'The budgets.', schema: budgetListSchema } },
  },
  {
    method: 'get', path: '/v1/usage', tag: 'Usage', role: 'runner', summary: 'Tokens and cost of model steps, grouped',
    query: usageQuerySchema,
    answers: { 200: { description: 'The totals.', schema: usageSchema } },
  },
]);
