/** The tape path of the tool activity against PostgreSQL: concurrent and repeated attempts of a call, and calls in turn. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tools as supportTools } from '../../examples/support-tools';
import { createToolActivities, type ExecuteToolInput } from '../../src/activities/toolCalls';
import { inTransaction, type Db } from '../../src/db/pool';
import { storeRunTapes } from '../../src/db/runTapes';
import type { TapeEntry } from '../../src/shared/tapes';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';

describe('calls answered from tapes', () => {
  let db: Db;
  const tenantId = newTenantId();
  beforeAll(async () => (db = await openTenantDb(tenantId)));
  afterAll(() => db?.end());

  const entry = (label: string): TapeEntry => ({ tool: 'lookup_order', result: { label } });

  async function tapedRun(entries: TapeEntry[]): Promise<string> {
    const runId = await insertTestRun(db, tenantId, 'running');
    await inTransaction(db, (client) => storeRunTapes(client, runId, entries));
    return runId;
  }
  const call = (runId: string, ordinal: number): ExecuteToolInput => ({
    runId, tenantId, bundleId: 'support@test', step: 1, ordinal, toolCallId: `call_${randomUUID()}`, tool: 'lookup_order', args: { order_id: '1001' },
  });
  async function resultsOf(runId: string): Promise<unknown[]> {
    const { rows } = await db.query(`SELECT content FROM run_messages WHERE run_id = $1 AND role = 'tool' ORDER BY step, ordinal`, [runId]);
    return rows.map((r) => JSON.parse(r.content));
  }
  const usesOf = async (runId: string) =>
    (await db.query('SELECT ordinal, entry_index FROM run_tape_uses WHERE run_id = $1 ORDER BY ordinal', [runId])).rows;

  it('gives concurrent attempts of one call one entry, and the next call the next entry', async () => {
    const { executeTool } = createToolActivities({ db, tools: supportTools });
    const runId = await tapedRun([entry('first'), entry('second'), entry('third')]);
    const first = call(runId, 1);
    expect(await Promise.all([executeTool(first), executeTool(first), executeTool(first)])).toEqual(['ok', 'ok', 'ok']);
    expect(await executeTool(call(runId, 2))).toBe('ok');
    // A late retry of the first call finds its result and takes nothing.
    expect(await executeTool(first)).toBe('ok');
    expect(await resultsOf(runId)).toEqual([{ label: 'first' }, { label: 'second' }]);
    expect(await usesOf(runId)).toEqual([{ ordinal: 1, entry_index: 0 }, { ordinal: 2, entry_index: 1 }]);
  });

  it('gives calls running together different entries, each exactly once', async () => {
    const { executeTool } = createToolActivities({ db, tools: supportTools });
    const runId = await tapedRun([entry('a'), entry('b'), entry('c')]);
    const calls = [1, 2, 3, 4].map((ordinal) => call(runId, ordinal));
    // Which call gets which entry follows the order they reach the tapes; what is taken does not.
    expect((await Promise.all(calls.map(executeTool))).sort()).toEqual(['error', 'ok', 'ok', 'ok']);
    const results = (await resultsOf(runId)).map((r: any) => r.label ?? r.error).sort();
    expect(results).toEqual(['a', 'b', 'c', 'no tape covers this call: lookup_order {"order_id":"1001"}']);
    expect((await usesOf(runId)).map((u) => u.entry_index).sort()).toEqual([0, 1, 2]);
  });
});
