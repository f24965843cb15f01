/**
 * Shadow replay selects only real production traffic: never a sandbox run, an eval case's, a pinned
 * run's, nor staging's (issue 15 D2); a shadowing setting keeps what a change leaves out (D6).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/pool';
import { recordRun, type NewRun } from '../../src/db/runs';
import { putShadowingSetting, selectProductionRuns } from '../../src/db/shadows';
import { newTenantId, openTenantDb } from '../support/tenantDb';

describe('selectProductionRuns', () => {
  const tenantId = newTenantId();
  let db: Db;
  beforeAll(async () => (db = await openTenantDb(tenantId)));
  afterAll(() => db?.end());

  async function run(label: string, extra: Partial<NewRun>): Promise<string> {
    const runId = randomUUID();
    await recordRun(db, {
      runId, tenantId, agent: 'support', bundleId: 'support@test', input: label, metadata: {}, idempotencyKey: undefined,
      requestFingerprint: label, createdBy: 'test', ...extra,
    }, 60_000);
    await db.query(`UPDATE runs SET status = 'completed' WHERE run_id = $1`, [runId]);
    return runId;
  }

  it('takes the live production runs only', async () => {
    const live = await run('live', {});
    await run('sandbox', { sandbox: true });
    await run('eval case', { sandbox: true, pinned: true, metadata: { eval_case: 'c1' }, tapes: [] });
    await run('pinned', { pinned: true });
    await run('staging', { environment: 'staging', sandbox: true });
    const selected = await selectProductionRuns(db, tenantId, { agent: 'support', statuses: ['completed'], sample: 50 });
    expect(selected.map((r) => r.runId)).toEqual([live]);
  });

  it('keeps the stored rate, names and patterns when a change leaves them out, and clears them when given empty', async () => {
    const agent = 'support';
    await putShadowingSetting(db, tenantId, { agent, enabled: true, rate: 0.2, names: ['Ada Lovelace'], patterns: ['CUST-\\d+'], updatedBy: 'test' });
    const changed = await putShadowingSetting(db, tenantId, { agent, enabled: true, rate: 0.5, updatedBy: 'test' });
    expect([changed.rate, changed.names, changed.patterns]).toEqual([0.5, ['Ada Lovelace'], ['CUST-\\d+']]);
    const off = await putShadowingSetting(db, tenantId, { agent, enabled: false, updatedBy: 'test' });
    expect([off.enabled, off.rate, off.names]).toEqual([false, 0.5, ['Ada Lovelace']]);
    const cleared = await putShadowingSetting(db, tenantId, { agent, enabled: false, names: [], patterns: [], updatedBy: 'test' });
    expect([cleared.names, cleared.patterns]).toEqual([[], []]);
  });
});
