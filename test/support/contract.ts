/**
 * The API's answers checked against src/contract: which answer schema each route has, and a check
 * that throws naming every field that does not match. The test stack's `api()` runs it on every
 * answer, so each e2e file that calls a route also checks its shape.
 */
import type { z } from 'zod';
import {
  acceptedRunSchema,
  agentViewSchema,
  alertListSchema,
  alertRuleListSchema,
  alertRuleViewSchema,
  apiErrorBodySchema,
  approvalDecisionSchema,
  approvalPageSchema,
  auditPageSchema,
  budgetListSchema,
  budgetSchema,
  bundleDiffSchema,
  bundleListSchema,
  bundleSchema,
  cancelRunSchema,
  codecResponseSchema,
  createdEvalSchema,
  createdKeySchema,
  deploymentSchema,
  promotionGateSchema,
  shadowReportSchema,
  shadowStartedSchema,
  stagingDeploymentSchema,
  evalListSchema,
  feedbackSchema,
  healthSchema,
  keyListSchema,
  deletedMemoriesSchema,
  memoryPageSchema,
  memoryRecordSchema,
  memorySearchSchema,
  savedMemorySchema,
  publishedBundleSchema,
  readinessSchema,
  reviewPageSchema,
  rolloutControlSchema,
  rolloutViewSchema,
  runPageSchema,
  runTapesSchema,
  runViewSchema,
  threadPageSchema,
  threadSchema,
  threadViewSchema,
  usageSchema,
} from '../../src/contract';

interface Answer {
  method: string;
  /** Matched against the path without its query string. */
  path: RegExp;
  /** Success statuses this schema describes; an error status always has the error body. */
  status: number[];
  schema: z.ZodType;
}

const segment = '[^/]+';
const route = (pattern: string) => new RegExp(`^${pattern.replaceAll(':p', segment)}$`);

/** Every JSON answer of the API, by route. */
export const answers: Answer[] = [
  { method: 'GET', path: route('/healthz'), status: [200], schema: healthSchema },
  { method: 'GET', path: route('/readyz'), status: [200, 503], schema: readinessSchema },
  { method: 'POST', path: route('/v1/runs'), status: [202], schema: acceptedRunSchema },
  { method: 'GET', path: route('/v1/runs'), status: [200], schema: runPageSchema },
  { method: 'GET', path: route('/v1/runs/:p'), status: [200], schema: runViewSchema },
  { method: 'POST', path: route('/v1/runs/:p/approvals/:p'), status: [202], schema: approvalDecisionSchema },
  { method: 'POST', path: route('/v1/runs/:p/cancel'), status: [202], schema: cancelRunSchema },
  { method: 'GET', path: route('/v1/approvals'), status: [200], schema: approvalPageSchema },
  { method: 'POST', path: route('/v1/bundles'), status: [200, 201], schema: publishedBundleSchema },
  { method: 'GET', path: route('/v1/bundles/:p'), status: [200], schema: bundleSchema },
  { method: 'GET', path: route('/v1/bundles/:p/diff/:p'), status: [200], schema: bundleDiffSchema },
  { method: 'GET', path: route('/v1/agents/:p/bundles'), status: [200], schema: bundleListSchema },
  { method: 'GET', path: route('/v1/agents/:p'), status: [200], schema: agentViewSchema },
  { method: 'POST', path: route('/v1/agents/:p/deployments'), status: [201], schema: deploymentSchema },
  { method: 'POST', path: route('/v1/agents/:p/deployments'), status: [202], schema: rolloutViewSchema },
  { method: 'POST', path: route('/v1/agents/:p/rollback'), status: [200], schema: deploymentSchema },
  { method: 'POST', path: route('/v1/agents/:p/rollout/:p'), status: [202], schema: rolloutControlSchema },
  { method: 'GET', path: route('/v1/agents/:p/rollouts/:p'), status: [200], schema: rolloutViewSchema },
  { method: 'PUT', path: route('/v1/agents/:p/staging'), status: [200], schema: stagingDeploymentSchema },
  { method: 'PUT', path: route('/v1/agents/:p/promotion-gate'), status: [200], schema: promotionGateSchema },
  { method: 'POST', path: route('/v1/agents/:p/shadow'), status: [202], schema: shadowStartedSchema },
  { method: 'GET', path: route('/v1/agents/:p/shadow/:p'), status: [200], schema: shadowReportSchema },
  { method: 'POST', path: route('/v1/keys'), status: [201], schema: createdKeySchema },
  { method: 'GET', path: route('/v1/keys'), status: [200], schema: keyListSchema },
  { method: 'GET', path: route('/v1/audit'), status: [200], schema: auditPageSchema },
  { method: 'PUT', path: route('/v1/budgets/:p'), status: [200], schema: budgetSchema },
  { method: 'GET', path: route('/v1/budgets'), status: [200], schema: budgetListSchema },
  { method: 'GET', path: route('/v1/usage'), status: [200], schema: usageSchema },
  { method: 'POST', path: route('/codec/(encode|decode)'), status: [200], schema: codecResponseSchema },
  { method: 'POST', path: route('/v1/evals'), status: [201], schema: createdEvalSchema },
  { method: 'GET', path: route('/v1/evals'), status: [200], schema: evalListSchema },
  { method: 'POST', path: route('/v1/runs/:p/feedback'), status: [201], schema: feedbackSchema },
  { method: 'GET', path: route('/v1/review'), status: [200], schema: reviewPageSchema },
  { method: 'GET', path: route('/v1/runs/:p/tapes'), status: [200], schema: runTapesSchema },
  { method: 'GET', path: route('/v1/alerts'), status: [200], schema: alertListSchema },
  { method: 'GET', path: route('/v1/alerts/rules'), status: [200], schema: alertRuleListSchema },
  { method: 'POST', path: route('/v1/alerts/rules'), status: [201], schema: alertRuleViewSchema },
  { method: 'POST', path: route('/v1/memories'), status: [200, 201], schema: savedMemorySchema },
  { method: 'GET', path: route('/v1/memories'), status: [200], schema: memoryPageSchema },
  { method: 'GET', path: route('/v1/memories/search'), status: [200], schema: memorySearchSchema },
  { method: 'DELETE', path: route('/v1/memories'), status: [200], schema: deletedMemoriesSchema },
  { method: 'GET', path: route('/v1/memories/:p'), status: [200], schema: memoryRecordSchema },
  { method: 'PATCH', path: route('/v1/memories/:p'), status: [200], schema: memoryRecordSchema },
  { method: 'POST', path: route('/v1/threads'), status: [201], schema: threadSchema },
  { method: 'GET', path: route('/v1/threads'), status: [200], schema: threadPageSchema },
  { method: 'GET', path: route('/v1/threads/:p'), status: [200], schema: threadViewSchema },
  { method: 'POST', path: route('/v1/threads/:p/runs'), status: [202], schema: acceptedRunSchema },
];

/** The schema an answer must match; undefined for answers without a JSON body (204, the event stream). */
export function answerSchemaOf(method: string, url: string, status: number): z.ZodType | undefined {
  const path = url.split('?')[0]!;
  if (status >= 400 && !(path === '/readyz' && status === 503)) return apiErrorBodySchema;
  return answers.find((a) => a.method === method && a.status.includes(status) && a.path.test(path))?.schema;
}

/**
 * Parses an answer with its contract schema and returns it; throws listing every field that does
 * not match (a renamed, missing, extra or mistyped field). Answers no entry of `answers` describes
 * pass unchecked.
 */
export function checkAnswer(method: string, url: string, status: number, body: unknown): unknown {
  const schema = answerSchemaOf(method, url, status);
  if (!schema) return body;
  const parsed = schema.safeParse(body);
  if (parsed.success) return body;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new Error(`${method} ${url} answered ${status} with a body the contract does not describe:\n  - ${problems.join('\n  - ')}\n${JSON.stringify(body).slice(0, 2000)}`);
}
