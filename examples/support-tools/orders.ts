/**
 * The demo support agent's tools (agents/support), written with Bosun's tool SDK as any user's
 * tools are: `lookup_order` reads an order, `issue_refund` refunds it once a human approves. Both
 * work on the tenant's rows of the demo tables `orders` and `refunds` (Bosun's migrations create
 * them with row-level security for the tool role), through `ctx.db`.
 */
import { defineTool, ToolError, z, type ToolContext } from 'bosun/tools';

interface OrderRow {
  order_id: string;
  customer: string;
  item: string;
  amount_cents: number;
  status: string;
  refunded_cents: number;
}

const orderId = z.string().regex(/^\d{1,12}$/, 'an order number such as "1001"');

async function findOrder(ctx: ToolContext, orderId: string): Promise<OrderRow | undefined> {
  const { rows } = await ctx.db.query<OrderRow>(
    `SELECT o.order_id, o.customer, o.item, o.amount_cents, o.status,
            COALESCE((SELECT SUM(r.amount_cents) FROM refunds r
                      WHERE r.tenant_id = o.tenant_id AND r.order_id = o.order_id), 0)::int AS refunded_cents
     FROM orders o WHERE o.tenant_id = $1 AND o.order_id = $2`,
    [ctx.tenantId, orderId],
  );
  return rows[0];
}

export const lookupOrder = defineTool({
  name: 'lookup_order',
  version: 1,
  description: 'Look up an order by its number: item, amount, status and any refund already issued.',
  kind: 'read',
  args: z.object({ order_id: orderId }).strict(),
  scope: ['tenant:orders', 'tenant:refunds'],
  // The customer's name is personal data: the model needs it, the audit trail does not.
  redact: { result: { paths: ['customer'] } },
  async handler({ order_id }, ctx) {
    const order = await findOrder(ctx, order_id);
    if (!order) throw new ToolError(`order ${order_id} not found`);
    return order;
  },
});

export const issueRefund = defineTool({
  name: 'issue_refund',
  version: 1,
  description: 'Refund an order, in full or in part. Needs human approval before it runs.',
  kind: 'write',
  args: z
    .object({
      order_id: orderId,
      amount_cents: z.number().int().positive().max(10_000_000),
      reason: z.string().max(500).optional(),
    })
    .strict(),
  scope: ['tenant:orders', 'tenant:refunds'],
  async handler({ order_id, amount_cents, reason }, ctx) {
    const previous = await ctx.db.query('SELECT refund_id, amount_cents FROM refunds WHERE idempotency_key = $1', [ctx.idempotencyKey]);
    if (previous.rows[0]) return refunded(previous.rows[0].refund_id, order_id, previous.rows[0].amount_cents);

    const order = await findOrder(ctx, order_id);
    if (!order) throw new ToolError(`order ${order_id} not found`);
    const refundable = order.amount_cents - order.refunded_cents;
    if (amount_cents > refundable) throw new ToolError(`only ${refundable} cents of order ${order_id} can still be refunded`);
    // No refund for a run being cancelled (were it written, the run's end would roll it back).
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
  },
});

const refunded = (refund_id: number | undefined, order_id: string, amount_cents: number) => ({
  refunded: true, refund_id, order_id, amount_cents,
});
