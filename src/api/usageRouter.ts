import { Router } from 'express';
import { budgetListQuerySchema, budgetPeriods, budgetQuerySchema, budgetRequestSchema, usageQuerySchema, type BudgetPeriod } from '../contract';
import { listBudgets, setBudget, usageTotals } from '../db/budgets';
import type { Db } from '../db/pool';
import { principalOf } from './auth';
import { parse, parseQuery, stringParam } from './validation';
import { badRequest } from './errors';

const isBudgetPeriod = (value: string): value is BudgetPeriod => (budgetPeriods as readonly string[]).includes(value);

export function usageRouter({ db }: { db: Db }): Router {
  const router = Router();

  router.put('/budgets/:period', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    const period = stringParam(req, 'period');
    if (!isBudgetPeriod(period)) throw badRequest([`period: must be ${budgetPeriods.join(' or ')}`]);
    const { environment } = parseQuery(budgetQuerySchema, req.query);
    const budget = parse(budgetRequestSchema, req.body);
    await setBudget(db, { tenantId, environment }, period, budget);
    res.json({ period, environment, ...budget });
  });

  /** Each ceiling with what its current window has spent and reserved, and the thresholds crossed. */
  router.get('/budgets', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    const { environment } = parseQuery(budgetListQuerySchema, req.query);
    const budgets = await listBudgets(db, tenantId);
    res.json({ budgets: environment ? budgets.filter((b) => b.environment === environment) : budgets });
  });

  /** Tokens and cost of model steps, totalled by tenant, agent, bundle, day or environment; of one environment's runs when asked. */
  router.get('/usage', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const query = parseQuery(usageQuerySchema, req.query);
    res.json({ groupBy: query.groupBy, totals: await usageTotals(db, tenantId, query) });
  });

  return router;
}
