import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { alertsQuerySchema, createAlertRuleRequestSchema, type AlertRuleView } from '../contract';
import { appendAudit } from '../db/audit';
import { deleteAlertRule, findAlertRule, listAlertRules, listAlerts, upsertAlertRule } from '../db/alerts';
import { inTransaction, type Db } from '../db/pool';
import type { AlertRule } from '../shared/alerts';
import { hostMatches } from '../shared/hostPatterns';
import { principalOf, type Principal } from './auth';
import { badRequest, conflict, notFound } from './errors';
import { parse, parseQuery, stringParam } from './validation';

/** What the alerts API needs of the configuration: the webhook allow-list, and the operators' tenants. */
export interface AlertsRouterSettings {
  webhookAllowHosts: readonly string[];
  operatorTenants: readonly string[];
}

/**
 * Alerts and alert rules, for admins. A tenant's admin sees and manages its tenant's rules and
 * alerts; an operator (an admin of BOSUN_ALERT_OPERATOR_TENANTS) sees every tenant's, cross-tenant
 * rules from the rules file included. Rules from the file are changed in the file, never here.
 */
export function alertsRouter({ db, alerts }: { db: Db; alerts: AlertsRouterSettings }): Router {
  const router = Router();
  /** The tenant whose alerts the caller sees; undefined: all (an operator). */
  const visibleTenant = (principal: Principal) => (alerts.operatorTenants.includes(principal.tenantId) ? undefined : principal.tenantId);

  router.get('/alerts', async (req, res) => {
    const principal = principalOf(req, 'admin');
    const { state } = parseQuery(alertsQuerySchema, req.query);
    res.json({ alerts: await listAlerts(db, { tenantId: visibleTenant(principal), state }) });
  });

  router.get('/alerts/rules', async (req, res) => {
    const principal = principalOf(req, 'admin');
    res.json({ rules: (await listAlertRules(db, visibleTenant(principal))).map(ruleView) });
  });

  router.post('/alerts/rules', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const spec = parse(createAlertRuleRequestSchema, req.body);
    if (spec.webhookUrl && !hostMatches(alerts.webhookAllowHosts, new URL(spec.webhookUrl))) {
      throw badRequest([`webhookUrl: ${new URL(spec.webhookUrl).host} is not among the hosts alert webhooks may reach (BOSUN_ALERT_WEBHOOK_HOSTS)`]);
    }
    const rule = await inTransaction(db, async (client) => {
      const stored = await upsertAlertRule(client, { ruleId: randomUUID(), source: 'api', tenantId, spec, createdBy: keyId });
      await appendAudit(client, { tenantId, actor: keyId, action: 'alert_rule.created', target: stored.ruleId, detail: { ...ruleView(stored) } });
      return stored;
    });
    res.status(201).json(ruleView(rule));
  });

  router.delete('/alerts/rules/:ruleId', async (req, res) => {
    const principal = principalOf(req, 'admin');
    const ruleId = stringParam(req, 'ruleId');
    const rule = await findAlertRule(db, ruleId);
    const tenant = visibleTenant(principal);
    if (!rule || (tenant !== undefined && rule.tenantId !== tenant)) throw notFound('Alert rule');
    if (rule.source === 'config') throw conflict(`Alert rule ${ruleId} comes from BOSUN_ALERT_RULES; remove it from that file.`);
    await inTransaction(db, async (client) => {
      if (!(await deleteAlertRule(client, ruleId))) throw notFound('Alert rule');
      await appendAudit(client, { tenantId: principal.tenantId, actor: principal.keyId, action: 'alert_rule.deleted', target: ruleId });
    });
    res.status(204).end();
  });

  return router;
}

function ruleView({ webhookUrl, ...rule }: AlertRule): AlertRuleView {
  return { ...rule, webhookHost: webhookUrl ? new URL(webhookUrl).host : null };
}
