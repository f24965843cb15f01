import type { Db } from '../db/pool';

const demoOrders = [
  { orderId: '1001', customer: 'Ada Lovelace', item: 'Mechanical keyboard', amountCents: 12900 },
  { orderId: '1002', customer: 'Grace Hopper', item: 'USB-C dock', amountCents: 8950 },
  { orderId: '1003', customer: 'Alan Turing', item: 'Noise-cancelling headphones', amountCents: 24900 },
  { orderId: '1004', customer: 'Katherine Johnson', item: 'Standing desk mat', amountCents: 3900 },
];

/** Gives a tenant the demo orders the support agent's tools read and refund. */
export async function seedDemoOrders(db: Db, tenantId: string): Promise<void> {
  for (const o of demoOrders) {
    await db.query(
      `INSERT INTO orders (tenant_id, order_id, customer, item, amount_cents, status)
       VALUES ($1, $2, $3, $4, $5, 'delivered') ON CONFLICT DO NOTHING`,
      [tenantId, o.orderId, o.customer, o.item, o.amountCents],
    );
  }
}
