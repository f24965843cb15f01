/**
 * Alerts on drift and cost (admin): `GET /v1/alerts`, `GET|POST /v1/alerts/rules`,
 * `DELETE /v1/alerts/rules/:ruleId`. A tenant's admin sees the alerts and rules of its tenant;
 * admins of BOSUN_ALERT_OPERATOR_TENANTS see every tenant's, and cross-tenant rules from the
 * rules file (docs/observability.md, "Alerts").
 */
import { z } from 'zod';
import { alertRuleFields, alertSignals, oneLimit } from '../shared/alerts';
import { pathParams, timestamp } from './fields';
import { routes } from './route';

const { tenantId: _tenantOfFileRules, ...apiRuleFields } = alertRuleFields;

/** Body of `POST /v1/alerts/rules`: a rule over the caller's tenant's runs. */
export const createAlertRuleRequestSchema = z.strictObject(apiRuleFields).refine(...oneLimit);
export type CreateAlertRuleRequest = z.infer<typeof createAlertRuleRequestSchema>;

/** A rule as the API shows it; of its webhook only the host (a webhook's path often holds a secret). */
export const alertRuleViewSchema = z.strictObject({
  ruleId: z.string(),
  source: z.enum(['config', 'api']).describe('config: from BOSUN_ALERT_RULES (change it there); api: from POST /v1/alerts/rules.'),
  tenantId: z.string().nullable().describe('The tenant whose runs it watches; null: every tenant (rules file only).'),
  agent: z.string(),
  bundleId: z.string().nullable(),
  signal: z.enum(alertSignals),
  window: z.string(),
  when: z.enum(['above', 'below']),
  threshold: z.number().nullable(),
  baseline: z.strictObject({ window: z.string(), factor: z.number() }).nullable(),
  minSamples: z.number().int(),
  webhookHost: z.string().nullable().describe('The host its transitions go to; null: BOSUN_ALERT_WEBHOOK_URL (or nowhere).'),
  description: z.string().nullable(),
  createdBy: z.string(),
  createdAt: timestamp,
});
export type AlertRuleView = z.infer<typeof alertRuleViewSchema>;

/** Answer of `GET /v1/alerts/rules`. */
export const alertRuleListSchema = z.strictObject({ rules: z.array(alertRuleViewSchema) });

/** Query of `GET /v1/alerts`. */
export const alertsQuerySchema = z.strictObject({ state: z.enum(['firing', 'resolved']).optional() });

/** What the last evaluation of an alert found. */
export const alertFiguresSchema = z.strictObject({
  signal: z.enum(alertSignals),
  window: z.string(),
  value: z.number().nullable().describe('The signal over the window; null without samples.'),
  samples: z.number().int(),
  minSamples: z.number().int(),
  when: z.enum(['above', 'below']),
  limit: z.number().nullable().describe('The threshold, or factor × the baseline; null while the baseline has too few samples.'),
  baseline: z.strictObject({ window: z.string(), factor: z.number(), value: z.number().nullable(), samples: z.number().int() }).nullable(),
  firing: z.boolean(),
  reason: z.string(),
});

/** An alert: a rule in one scope (`*`, or a tenant for a per-tenant signal), its state and latest figures. */
export const alertViewSchema = z.strictObject({
  ruleId: z.string(),
  scope: z.string(),
  tenantId: z.string().nullable(),
  agent: z.string(),
  bundleId: z.string().nullable(),
  state: z.enum(['firing', 'resolved']),
  figures: alertFiguresSchema,
  since: timestamp.describe('When it entered its state.'),
  evaluatedAt: timestamp,
  text: z.string().nullable().describe('The text of its last transition, as the webhook sent it.'),
});
export type AlertView = z.infer<typeof alertViewSchema>;

/** Answer of `GET /v1/alerts`: newest change first. */
export const alertListSchema = z.strictObject({ alerts: z.array(alertViewSchema) });

const ruleParams = pathParams({ ruleId: 'The alert rule ID.' });

/** The alerts routes (admin): a tenant's admin sees its tenant's; an operator's admin every tenant's. */
export const alertRoutes = routes([
  {
    method: 'get', path: '/v1/alerts', tag: 'Alerts', role: 'admin', summary: 'List alerts, firing and resolved',
    query: alertsQuerySchema,
    answers: { 200: { description: 'The alerts the caller may see.', schema: alertListSchema } },
  },
  {
    method: 'get', path: '/v1/alerts/rules', tag: 'Alerts', role: 'admin', summary: 'List alert rules (from the API and the rules file)',
    answers: { 200: { description: 'The rules the caller may see.', schema: alertRuleListSchema } },
  },
  {
    method: 'post', path: '/v1/alerts/rules', tag: 'Alerts', role: 'admin', summary: "Add an alert rule over the tenant's runs",
    description: 'A webhook URL must be on a host of BOSUN_ALERT_WEBHOOK_HOSTS.',
    body: createAlertRuleRequestSchema,
    answers: { 201: { description: 'The rule, as stored.', schema: alertRuleViewSchema } },
  },
  {
    method: 'delete', path: '/v1/alerts/rules/:ruleId', tag: 'Alerts', role: 'admin', summary: 'Delete an alert rule',
    params: ruleParams,
    answers: { 204: { description: 'Deleted.' } },
    errors: { 404: 'No such rule the caller may see.', 409: 'The rule comes from the rules file (BOSUN_ALERT_RULES): change it there.' },
  },
]);
