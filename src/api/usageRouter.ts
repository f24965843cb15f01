import { Router } from 'express';
import { budgetPeriods, budgetRequestSchema, usageQuerySchema } from '../contract';
import type { Db } from '../db/pool';
import { principalOf } from './auth';
import { parse, stringParam } from './validation';
import { badRequest } from './errors';

const groupColumn = { tenant: 'r.tenant_id', agent: 'r.agent', bundle: 's.bundle_id', day: "to_char(date_trunc('day', s.created_at, 'UTC'), 'YYYY-MM-DD')" } as const;

export function usageRouter({ db }: { db: Db }): Router {
  const router = Router();

  router.put('/budgets/:period', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    const period = stringParam(req, 'period');
    if (!(budgetPeriods as readonly string[]).includes(period)) throw badRequest([`period: must be ${budgetPeriods.join(' or ')}`]);
    const budget = parse(budgetRequestSchema, req.body);
    await db.query(
      `INSERT INTO tenant_budgets (tenant_id, period, limit_usd, mode, on_exceeded) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant_id, period) DO UPDATE SET limit_usd = $3, mode = $4, on_exceeded = $5, updated_at = now()`,
      [tenantId, period, budget.limitUsd, budget.mode, budget.onExceeded],
    );
    res.json({ period, ...budget });
  });

  /** Each ceiling with what its current window has spent and reserved, and the thresholds crossed. */
  router.get('/budgets', async (req, res) => {
    const { tenantId } = principalOf(req, 'admin');
    const { rows } = await db.query(
      `SELECT b.period, b.limit_usd AS "limitUsd", b.mode, b.on_exceeded AS "onExceeded",
              COALESCE(w.spent_usd, 0) AS "spentUsd", COALESCE(w.reserved_usd, 0) AS "reservedUsd",
              date_trunc(b.period, now(), 'UTC') AS "windowStart",
              COALESCE((SELECT array_agg(e.threshold ORDER BY e.threshold) FROM budget_events e
                        WHERE e.tenant_id = b.tenant_id AND e.period = b.period
                          AND e.window_start = date_trunc(b.period, now(), 'UTC')), '{}') AS "thresholdsCrossed"
       FROM tenant_budgets b
       LEFT JOIN budget_windows w ON w.tenant_id = b.tenant_id AND w.period = b.period
                                 AND w.window_start = date_trunc(b.period, now(), 'UTC')
       WHERE b.tenant_id = $1 ORDER BY b.period`,
      [tenantId],
    );
    res.json({ budgets: rows });
  });

  /** Tokens and cost of model steps, totalled by tenant, agent, bundle or day. */
  router.get('/usage', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const query = parse(usageQuerySchema, req.query);
    const params: unknown[] = [tenantId];
    const conditions = ["r.tenant_id = $1", "s.kind = 'model'"];
    if (query.from) conditions.push(`s.created_at >= $${params.push(query.from)}`);
    if (query.to) conditions.push(`s.created_at < $${params.push(query.to)}`);
    const key = groupColumn[query.groupBy];
    const { rows } = await db.query(
      `SELECT ${key} AS "key", count(DISTINCT s.run_id)::int AS runs, count(*)::int AS "modelCalls",
              COALESCE(sum(s.input_tokens), 0)::bigint AS "inputTokens",
              COALESCE(sum(s.cached_input_tokens), 0)::bigint AS "cachedInputTokens",
              COALESCE(sum(s.output_tokens), 0)::bigint AS "outputTokens",
              COALESCE(sum(s.cost_usd), 0) AS "costUsd", COALESCE(sum(s.cache_savings_usd), 0) AS "cacheSavingsUsd"
       FROM run_steps s JOIN runs r USING (run_id)
       WHERE ${conditions.join(' AND ')} GROUP BY 1 ORDER BY 1`,
      params,
    );
    res.json({ groupBy: query.groupBy, totals: rows });
  });

  return router;
}
