/**
 * Per-tenant budgets (`tenant_budgets`, `budget_windows`, `budget_reservations`, `budget_events`)
 * and the usage the API reports. Each environment has its own ceilings (migration 023): a staging
 * run reserves and spends only against the tenant's staging budget, a production run only against
 * production's. Before each model call its worst case is reserved against every ceiling in
 * one transaction (the tenant's budget rows are locked, so concurrent first calls queue instead of
 * racing past a ceiling); afterwards the reservation is settled with the real cost.
 */
import { inTransaction, type Db, type DbClient } from './pool';
import type { Environment } from '../shared/environments';

export const budgetThresholds = [50, 80, 95] as const;

interface BudgetRow {
  environment: Environment;
  period: 'day' | 'month';
  limit_usd: number;
  mode: 'hard' | 'soft';
  on_exceeded: 'fail' | 'wait';
}

interface WindowRef {
  /** Absent in reservations made before budgets had environments: production's. */
  environment?: Environment;
  period: string;
  windowStart: string;
}

/** Whose ceilings: a tenant's, in one environment. */
export interface BudgetOwner {
  tenantId: string;
  environment: Environment;
}

export type Reservation =
  | { ok: true }
  | { ok: false; period: string; limitUsd: number; spentUsd: number; wait: boolean; windowEndsAt: string };

const micro = (usd: number) => Math.round(usd * 1e6) / 1e6;

/**
 * Reserves `amountUsd` for one model call unless a hard ceiling of the owner's environment would be
 * passed. Idempotent per ID.
 */
export async function reserveBudget(db: Db, owner: BudgetOwner, reservationId: string, amountUsd: number): Promise<Reservation> {
  return inTransaction(db, (client) => reserveBudgetIn(client, owner, reservationId, amountUsd));
}

/**
 * reserveBudget in the caller's transaction: the tenant's budget rows stay locked until it ends, so
 * a caller takes them last (after the run's row) and commits soon after. A refusal writes nothing.
 */
export async function reserveBudgetIn(client: DbClient, { tenantId, environment }: BudgetOwner, reservationId: string, amountUsd: number): Promise<Reservation> {
  const budgets = (await lockBudgets(client, tenantId)).filter((b) => b.environment === environment);
  // No ceiling to hold against: nothing to reserve (and nothing to settle later).
  if (budgets.length === 0) return { ok: true };
  // A retry of a call still holding its reservation keeps it; one whose failed attempt was settled reserves again.
  const existing = await client.query('SELECT settled_at FROM budget_reservations WHERE reservation_id = $1', [reservationId]);
  if (existing.rows[0] && existing.rows[0].settled_at === null) return { ok: true };
  const windows: WindowRef[] = [];
  for (const budget of budgets) {
    const window = await currentWindow(client, tenantId, environment, budget.period);
    const committed = window.spent_usd + window.reserved_usd;
    if (budget.mode === 'hard' && committed + amountUsd > budget.limit_usd) {
      return {
        ok: false, period: budget.period, limitUsd: budget.limit_usd, spentUsd: micro(committed),
        wait: budget.on_exceeded === 'wait', windowEndsAt: window.window_end,
      };
    }
    windows.push({ environment, period: budget.period, windowStart: window.window_start });
  }
  for (const w of windows) {
    await client.query(
      'UPDATE budget_windows SET reserved_usd = reserved_usd + $5 WHERE tenant_id = $1 AND environment = $2 AND period = $3 AND window_start = $4',
      [tenantId, environment, w.period, w.windowStart, amountUsd],
    );
  }
  await client.query(
    `INSERT INTO budget_reservations (reservation_id, tenant_id, amount_usd, windows) VALUES ($1, $2, $3, $4)
     ON CONFLICT (reservation_id) DO UPDATE SET amount_usd = $3, windows = $4, settled_at = NULL, created_at = now()`,
    [reservationId, tenantId, amountUsd, JSON.stringify(windows)],
  );
  return { ok: true };
}

/**
 * Replaces a reservation with what the call really cost (0 when it failed), in the caller's
 * transaction, and records any threshold the spend crossed. Settling twice changes nothing.
 */
export async function settleBudget(client: DbClient, tenantId: string, reservationId: string, actualUsd: number): Promise<void> {
  const budgets = await lockBudgets(client, tenantId);
  const { rows } = await client.query(
    'UPDATE budget_reservations SET settled_at = now() WHERE reservation_id = $1 AND settled_at IS NULL RETURNING amount_usd, windows',
    [reservationId],
  );
  const reservation = rows[0] as { amount_usd: number; windows: WindowRef[] } | undefined;
  if (!reservation) return;
  for (const ref of reservation.windows) {
    const window = { ...ref, environment: ref.environment ?? 'production' };
    const { rows: updated } = await client.query(
      `UPDATE budget_windows SET reserved_usd = GREATEST(0, reserved_usd - $5), spent_usd = spent_usd + $6
       WHERE tenant_id = $1 AND environment = $2 AND period = $3 AND window_start = $4 RETURNING spent_usd`,
      [tenantId, window.environment, window.period, window.windowStart, reservation.amount_usd, actualUsd],
    );
    const budget = budgets.find((b) => b.environment === window.environment && b.period === window.period);
    if (budget && updated[0]) await recordThresholds(client, tenantId, window, budget.limit_usd, updated[0].spent_usd);
  }
}

async function recordThresholds(client: DbClient, tenantId: string, window: Required<WindowRef>, limitUsd: number, spentUsd: number) {
  for (const threshold of budgetThresholds.filter((t) => spentUsd >= (limitUsd * t) / 100)) {
    await client.query(
      `INSERT INTO budget_events (tenant_id, environment, period, window_start, threshold, spent_usd, limit_usd)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [tenantId, window.environment, window.period, window.windowStart, threshold, spentUsd, limitUsd],
    );
  }
}

/** Locks the tenant's budget rows (both environments'): every reservation and settlement of a tenant goes one at a time. */
async function lockBudgets(client: DbClient, tenantId: string): Promise<BudgetRow[]> {
  const { rows } = await client.query(
    'SELECT environment, period, limit_usd, mode, on_exceeded FROM tenant_budgets WHERE tenant_id = $1 ORDER BY environment, period FOR UPDATE',
    [tenantId],
  );
  return rows;
}

async function currentWindow(client: DbClient, tenantId: string, environment: Environment, period: string) {
  const { rows } = await client.query(
    `INSERT INTO budget_windows (tenant_id, environment, period, window_start)
     VALUES ($1, $2, $3, date_trunc($3, now(), 'UTC'))
     ON CONFLICT (tenant_id, environment, period, window_start) DO UPDATE SET tenant_id = EXCLUDED.tenant_id
     RETURNING window_start::text, (window_start + ('1 ' || period)::interval)::text AS window_end, spent_usd, reserved_usd`,
    [tenantId, environment, period],
  );
  return rows[0] as { window_start: string; window_end: string; spent_usd: number; reserved_usd: number };
}

export type BudgetPeriod = 'day' | 'month';

export interface BudgetSetting {
  limitUsd: number;
  /** hard: model calls past the ceiling are refused; soft: recorded only. */
  mode: 'hard' | 'soft';
  /** For hard ceilings: end the run as budget_exceeded, or wait for the next period. */
  onExceeded: 'fail' | 'wait';
}

/** Sets the owner's ceiling for `period` (in its environment), replacing the one it had. */
export async function setBudget(db: Db, { tenantId, environment }: BudgetOwner, period: BudgetPeriod, budget: BudgetSetting): Promise<void> {
  await db.query(
    `INSERT INTO tenant_budgets (tenant_id, environment, period, limit_usd, mode, on_exceeded) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (tenant_id, environment, period) DO UPDATE SET limit_usd = $4, mode = $5, on_exceeded = $6, updated_at = now()`,
    [tenantId, environment, period, budget.limitUsd, budget.mode, budget.onExceeded],
  );
}

/**
 * Each of the tenant's ceilings (production's, then staging's) with what its current window has
 * spent and reserved (USD), and the thresholds crossed.
 */
export async function listBudgets(db: Db, tenantId: string) {
  const { rows } = await db.query(
    `SELECT b.environment, b.period, b.limit_usd AS "limitUsd", b.mode, b.on_exceeded AS "onExceeded",
            COALESCE(w.spent_usd, 0) AS "spentUsd", COALESCE(w.reserved_usd, 0) AS "reservedUsd",
            date_trunc(b.period, now(), 'UTC') AS "windowStart",
            COALESCE((SELECT array_agg(e.threshold ORDER BY e.threshold) FROM budget_events e
                      WHERE e.tenant_id = b.tenant_id AND e.environment = b.environment AND e.period = b.period
                        AND e.window_start = date_trunc(b.period, now(), 'UTC')), '{}') AS "thresholdsCrossed"
     FROM tenant_budgets b
     LEFT JOIN budget_windows w ON w.tenant_id = b.tenant_id AND w.environment = b.environment AND w.period = b.period
                               AND w.window_start = date_trunc(b.period, now(), 'UTC')
     WHERE b.tenant_id = $1 ORDER BY b.environment, b.period`,
    [tenantId],
  );
  return rows;
}

export type UsageGrouping = 'tenant' | 'agent' | 'bundle' | 'day' | 'environment';

const groupColumn: Record<UsageGrouping, string> = {
  tenant: 'r.tenant_id', agent: 'r.agent', bundle: 's.bundle_id', day: "to_char(date_trunc('day', s.created_at, 'UTC'), 'YYYY-MM-DD')",
  environment: 'r.environment',
};

/**
 * Tokens and cost of the tenant's model steps created in [from, to) (ISO timestamps, either
 * optional), of runs in `environment` (every run's when absent), totalled per `groupBy` key (a day
 * is `YYYY-MM-DD` in UTC), in key order.
 */
export async function usageTotals(
  db: Db, tenantId: string, query: { groupBy: UsageGrouping; from?: string; to?: string; environment?: Environment },
) {
  const params: unknown[] = [tenantId];
  const conditions = ["r.tenant_id = $1", "s.kind = 'model'"];
  if (query.environment) conditions.push(`r.environment = $${params.push(query.environment)}`);
  if (query.from) conditions.push(`s.created_at >= $${params.push(query.from)}`);
  if (query.to) conditions.push(`s.created_at < $${params.push(query.to)}`);
  const { rows } = await db.query(
    `SELECT ${groupColumn[query.groupBy]} AS "key", count(DISTINCT s.run_id)::int AS runs, count(*)::int AS "modelCalls",
            COALESCE(sum(s.input_tokens), 0)::bigint AS "inputTokens",
            COALESCE(sum(s.cached_input_tokens), 0)::bigint AS "cachedInputTokens",
            COALESCE(sum(s.output_tokens), 0)::bigint AS "outputTokens",
            COALESCE(sum(s.cost_usd), 0) AS "costUsd", COALESCE(sum(s.cache_savings_usd), 0) AS "cacheSavingsUsd"
     FROM run_steps s JOIN runs r USING (run_id)
     WHERE ${conditions.join(' AND ')} GROUP BY 1 ORDER BY 1`,
    params,
  );
  return rows;
}

/**
 * Every tenant's ceilings with what is left of each in its current window (USD: the limit minus
 * what was spent and is reserved; negative when a soft ceiling was passed): the API's metrics.
 */
export async function budgetsRemaining(db: Db): Promise<{ tenantId: string; environment: Environment; period: string; remainingUsd: number }[]> {
  const { rows } = await db.query(
    `SELECT b.tenant_id AS "tenantId", b.environment, b.period, (b.limit_usd - COALESCE(w.spent_usd, 0) - COALESCE(w.reserved_usd, 0))::float8 AS "remainingUsd"
     FROM tenant_budgets b
     LEFT JOIN budget_windows w ON w.tenant_id = b.tenant_id AND w.environment = b.environment AND w.period = b.period
                               AND w.window_start = date_trunc(b.period, now(), 'UTC')`,
  );
  return rows;
}
