/** Every tool call lands in the append-only audit log once, redacted, in the transaction that records it. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToolActivities, type ExecuteToolInput } from '../../src/activities/toolCalls';
import { readAudit } from '../../src/db/audit';
import type { Db } from '../../src/db/pool';
import { defineTool, z } from '../../src/sdk/tools';
import { REDACTED } from '../../src/shared/redaction';
import { lookupOrder } from '../../examples/support-tools/orders';
import { tools as supportTools } from '../../examples/support-tools';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';

describe('audit of tool calls', () => {
  let db: Db;
  const tenantId = newTenantId();
  beforeAll(async () => (db = await openTenantDb(tenantId)));
  afterAll(() => db?.end());

  async function newCall(ordinal = 1): Promise<ExecuteToolInput> {
    const runId = await insertTestRun(db, tenantId, 'running');
    return { runId, tenantId, bundleId: 'support@test', step: 1, ordinal, toolCallId: `call_${randomUUID()}`, tool: 'lookup_order', args: { order_id: '1001' } };
  }
  const auditOf = (runId: string) => readAudit(db, tenantId, { runId, limit: 100 });

  it('writes one redacted entry per call, however often and however concurrently its activity runs', async () => {
    const { executeTool } = createToolActivities({ db, tools: supportTools });
    const retried = await newCall();
    for (let i = 0; i < 3; i++) expect(await executeTool(retried)).toBe('ok');
    const raced = await newCall();
    expect(await Promise.all([executeTool(raced), executeTool(raced), executeTool(raced)])).toEqual(['ok', 'ok', 'ok']);

    for (const call of [retried, raced]) {
      const entries = await auditOf(call.runId);
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({
        actor: 'worker', action: 'tool.called', runId: call.runId, bundleId: 'support@test', target: 'lookup_order', status: 'ok',
        latencyMs: expect.any(Number),
        detail: {
          step: 1, ordinal: 1, toolCallId: call.toolCallId, scope: ['tenant:orders', 'tenant:refunds'], secrets: [],
          toolVersion: 1, schemaHash: lookupOrder.manifest.schemaHash,
          arguments: { order_id: '1001' },
          result: { order_id: '1001', customer: REDACTED, amount_cents: 12900 },
        },
      });
    }
    // The step row the API shows is redacted the same way; the model (the transcript) sees the whole result.
    const step = await db.query('SELECT detail FROM run_steps WHERE run_id = $1', [retried.runId]);
    expect(step.rows[0].detail.result.customer).toBe(REDACTED);
    const message = await db.query('SELECT content FROM run_messages WHERE run_id = $1', [retried.runId]);
    expect(JSON.parse(message.rows[0].content).customer).toBe('Ada Lovelace');
    expect(JSON.stringify(await auditOf(retried.runId))).not.toContain('Ada Lovelace');
  });

  it('audits a tool error, a rejected or invalid call once, and a failed attempt not at all', async () => {
    const { executeTool, recordToolError } = createToolActivities({ db, tools: supportTools });
    const missing = { ...(await newCall()), args: { order_id: '424242' } };
    expect(await executeTool(missing)).toBe('error');
    expect(await auditOf(missing.runId)).toMatchObject([{ status: 'error', detail: { result: { error: 'order 424242 not found' } } }]);

    const rejected = { ...(await newCall()), status: 'rejected' as const, message: 'a human said no', detail: { approvalId: 'a1' } };
    await Promise.all([recordToolError(rejected), recordToolError(rejected)]);
    await recordToolError(rejected);
    expect(await auditOf(rejected.runId)).toMatchObject([
      { action: 'tool.called', target: 'lookup_order', status: 'rejected', latencyMs: 0, detail: { error: 'a human said no', approvalId: 'a1' } },
    ]);

    let attempts = 0;
    const flakyLookup = defineTool({
      name: 'lookup_order', version: 1, kind: 'read', description: 'Fails its first attempt.',
      args: z.object({ order_id: z.string() }),
      handler: async () => {
        attempts += 1;
        if (attempts === 1) throw new Error('connection reset');
        return { fine: true };
      },
    });
    const flaky = createToolActivities({ db, tools: [flakyLookup] });
    const call = await newCall();
    await expect(flaky.executeTool(call)).rejects.toThrow('connection reset');
    expect(await auditOf(call.runId)).toEqual([]);
    expect(await flaky.executeTool(call)).toBe('ok');
    expect(await flaky.executeTool(call)).toBe('ok');
    expect(attempts).toBe(2);
    expect(await auditOf(call.runId)).toHaveLength(1);
  });
});
