import type { DbClient } from '../../db/pool';
import type { ToolImplementation } from './types';

interface OrderRow {
  order_id: string;
  customer: string;
  item: string;
  amount_cents: number;
  status: string;
  refunded_cents: number;
}

async function findOrder(db: DbClient, tenantId: string, orderId: string): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>(
    `SELECT o.order_id, o.customer, o.item, o.amount_cents, o.status,
            COALESCE((SELECT SUM(r.amount_cents) FROM refunds r
                      WHERE r.tenant_id = o.tenant_id AND r.order_id = o.order_id), 0)::int AS refunded_cents
     FROM orders o WHERE o.tenant_id = $1 AND o.order_id = $2`,
    [tenantId, orderId],
  );
  return rows[0];
}

export const lookupOrder: ToolImplementation<'lookup_order'> = async (ctx, { order_id }) => {
  const order = await findOrder(ctx.db, ctx.tenantId, order_id);
  if (!order) return { ok: false, output: { error: `order ${order_id} not found` } };
  return { ok: true, output: order };
};

export const issueRefund: ToolImplementation<'issue_refund'> = async (ctx, { order_id, amount_cents, reason }) => {
  const previous = await ctx.db.query('SELECT refund_id, amount_cents FROM refunds WHERE idempotency_key = $1', [
    ctx.idempotencyKey,
  ]);
  if (previous.rows[0]) return refunded(previous.rows[0].refund_id, order_id, previous.rows[0].amount_cents);

  const order = await findOrder(ctx.db, ctx.tenantId, order_id);
  if (!order) return { ok: false, output: { error: `order ${order_id} not found` } };
  const refundable = order.amount_cents - order.refunded_cents;
  if (amount_cents > refundable) {
    return { ok: false, output: { error: `only ${refundable} cents of order ${order_id} can still be refunded` } };
  }
  // No refund for a run being cancelled (were it written, the run's end would roll it back: src/db/runEnd.ts).
  ctx.signal.throwIfAborted();
  // The unique idempotency key makes a concurrent duplicate wait for this insert and then do nothing.
  const inserted = await ctx.db.query(
    `INSERT INTO refunds (tenant_id, order_id, amount_cents, reason, run_id, idempotency_key)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING RETURNING refund_id`,
    [ctx.tenantId, order_id, amount_cents, reason ?? null, ctx.runId, ctx.idempotencyKey],
  );
  await ctx.db.query(
    `UPDATE orders SET status = CASE WHEN $3::int >= amount_cents THEN 'refunded' ELSE 'partially_refunded' END
     WHERE tenant_id = $1 AND order_id = $2`,
    [ctx.tenantId, order_id, order.refunded_cents + amount_cents],
  );
  return refunded(inserted.rows[0]?.refund_id, order_id, amount_cents);
};

const refunded = (refund_id: number | undefined, order_id: string, amount_cents: number) => ({
  ok: true,
  output: { refunded: true, refund_id, order_id, amount_cents },
});
