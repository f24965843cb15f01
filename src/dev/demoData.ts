import { readAgentsDir } from '../cli/bundleFiles';
import { saveBundle, validateForPublish } from '../bundles/bundleStore';
import { lockDeployment, setDeployment } from '../bundles/deployments';
import { inTransaction, type Db } from '../db/pool';
import type { Bundle } from '../shared/bundle';
import type { ModelPrices } from '../shared/pricing';

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

/**
 * Publishes every bundle under `agentsDir` for a tenant (their tools must be registered: start a
 * worker that has them first), and deploys it to agents that have no
 * deployment yet, so a fresh stack can run them at once. Each is checked as `POST /v1/bundles`
 * checks it, models against `prices` (the built-in table when absent).
 */
export async function seedAgents(db: Db, tenantId: string, agentsDir: string, prices?: ModelPrices): Promise<Bundle[]> {
  const bundles: Bundle[] = [];
  for (const raw of readAgentsDir(agentsDir)) {
    const validated = await validateForPublish(db, raw, prices);
    if (!validated.ok) throw new Error(`bundle in ${agentsDir} is invalid:\n  - ${validated.problems.join('\n  - ')}`);
    bundles.push(validated.bundle);
  }
  for (const bundle of bundles) {
    await saveBundle(db, tenantId, bundle, 'system:seed');
    await inTransaction(db, async (client) => {
      if (await lockDeployment(client, tenantId, bundle.name)) return;
      await setDeployment(client, tenantId, bundle.name, {
        stableBundleId: bundle.id, canaryBundleId: null, canaryWeight: 0, rolloutId: null, reason: 'seed', changedBy: 'system:seed',
      });
    });
  }
  return bundles;
}
