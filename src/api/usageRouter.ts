import { Router } from 'express';
import { z } from 'zod';
import { listBudgets, setBudget, usageTotals } from '../db/budgets';
import type { Db } from '../db/pool';
import { principalOf } from './auth';
import { parse, stringParam } from './validation';
import { badRequest } from './errors';

/** Body of `PUT /v1/budgets/:period`. */
export const budgetRequestSchema = z
  .object({
    limitUsd: z.number().positive().max(1e9),
    mode: z.enum(['hard', 'soft']).describe('hard: model calls past the ceiling are refused; soft: recorded only.'),
    onExceeded: z.enum(['fail', 'wait']).default('fail').describe('For hard ceilings: end the run as budget_exceeded, or wait for the next period.'),
  })
  .strict();

/** Query of `GET /v1/usage`. */
export const usageQuerySchema = z
  .object({
    groupBy: z.enum(['tenant', 'agent', 'bundle', 'day']).default('tenant'),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export function usageRouter({ db }: { db: Db }): Router {
  const router = Router();

  router.put('/budgets/:period', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    const period = stringParam(req, 'period');
    if (period !== 'day' && period !== 'month') throw badRequest(['period: must be day or month']);
    const budget = parse(budgetRequestSchema, req.body);
    await setBudget(db, tenantId, period, budget);
    res.json({ period, ...budget });
  });

  /** Each ceiling with what its current window has spent and reserved, and the thresholds crossed. */
  router.get('/budgets', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    res.json({ budgets: await listBudgets(db, tenantId) });
  });

  /** Tokens and cost of model steps, totalled by tenant, agent, bundle or day. */
  router.get('/usage', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const query = parse(usageQuerySchema, req.query);
    res.json({ groupBy: query.groupBy, totals: await usageTotals(db, tenantId, query) });
  });

  return router;
}
