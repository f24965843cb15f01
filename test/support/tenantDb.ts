/** For tests that drive activities directly against PostgreSQL: a tenant of their own with demo orders. */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { createPool, type Db } from '../../src/db/pool';
import { appendMessage } from '../../src/db/transcript';
import { seedDemoOrders } from '../../src/dev/demoData';

export const newTenantId = () => `tenant_${randomUUID().slice(0, 8)}`;

export async function openTenantDb(tenantId: string): Promise<Db> {
  const db = createPool(inject('databaseUrl'));
  await seedDemoOrders(db, tenantId);
  return db;
}

/** A run row of the support agent (on `bundleId`, its test bundle by default), optionally with the user's opening message. */
export async function insertTestRun(
  db: Db, tenantId: string, status: string, userInput?: string, bundleId = 'support@test',
): Promise<string> {
  const runId = randomUUID();
  await db.query(
    `INSERT INTO runs (run_id, tenant_id, agent, bundle_id, status, input, created_by)
     VALUES ($1, $2, 'support', $4, $3, 'x', 'test')`,
    [runId, tenantId, status, bundleId],
  );
  if (userInput) await appendMessage(db, runId, { step: 0, ordinal: 0, role: 'user', content: userInput });
  return runId;
}
