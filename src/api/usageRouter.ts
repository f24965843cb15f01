import { Router } from 'express';
import { budgetPeriods, budgetQuerySchema, budgetRequestSchema, usageQuerySchema, type BudgetPeriod } from '../contract';
import { listBudgets, setBudget, usageTotals } from '../db/budgets';
import type { Db } from '../db/pool';
import { principalOf } from './auth';
import { parse, stringParam } from './validation';
import { badRequest } from './errors';

const isBudgetPeriod = (value: string): value is BudgetPeriod => (budgetPeriods as readonly string[]).includes(value);

export function usageRouter({ db }: { db: Db }): Router {
  const router = Router();

  router.put('/budgets/:period', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    const period = stringParam(req, 'period');
    if (!isBudgetPeriod(period)) throw badRequest([`period: must be ${budgetPeriods.join(' or ')}`]);
    const { environment } = parse(budgetQuerySchema, req.query);
    const budget = parse(budgetRequestSchema, req.body);
    await setBudget(db, { tenantId, environment }, period, budget);
    res.json({ period, environment, ...budget });
  });

  /** Each ceiling with what its current window has spent and reserved, and the thresholds crossed. */
  router.get('/budgets', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    res.json({ budgets: await listBudgets(db, tenantId) });
  });

  /** Tokens and cost of model steps, totalled by tenant, agent, bundle, day or environment; of one environment's runs when asked. */
  router.get('/usage', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const query = parse(usageQuerySchema, req.query);
    res.json({ groupBy: query.groupBy, totals: await usageTotals(db, tenantId, query) });
  });

  return router;
}
