/**
 * The runtime side of evals on a real stack: runs answered from tool tapes (no tool ever runs, a
 * call no tape covers fails and the run goes on, a retried call keeps its entry), stored evals,
 * feedback and the review list of candidate cases, a run's tool calls exported as tapes, tenancy
 * and bad bodies.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seedApiKeys } from '../../src/db/apiKeys';
import type { TapeEntry } from '../../src/shared/tapes';
import { countRefunds } from '../support/testStack';
import { useTestStack } from '../support/useTestStack';

const stack = useTestStack();

const tapedOrder = { order_id: '1001', customer: 'Tess Taped', item: 'Taped boots', amount_cents: 4321, status: 'delivered', refunded_cents: 0 };
const lookupTape: TapeEntry = { tool: 'lookup_order', args: { order_id: '1001' }, result: tapedOrder };
const refundTape: TapeEntry = { tool: 'issue_refund', args: { order_id: '1001' }, result: { refunded: true, refund_id: 777, order_id: '1001', amount_cents: 4321 } };

async function startTaped(tapes: TapeEntry[], input = 'Refund order 1001'): Promise<string> {
  const res = await stack.api('POST', '/v1/runs', { agent: 'support', input, tapes });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.runId;
}

/** Approves the run's pending approval, optionally with edited arguments, and waits for the run to end. */
async function approveAndFinish(runId: string, edit?: Record<string, unknown>) {
  const parked = await stack.waitForStatus(runId, 'awaiting_approval');
  const { approvalId } = parked.pendingApprovals[0];
  const res = await stack.api('POST', `/v1/runs/${runId}/approvals/${approvalId}`, { decision: 'approve', ...(edit && { arguments: edit }) });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return stack.waitForRun(runId, (run) => run.finishedAt !== null);
}

const toolSteps = (run: any) => run.steps.filter((s: { kind: string }) => s.kind === 'tool');

async function orderStatus(orderId: string): Promise<string> {
  const { rows } = await stack.db.query('SELECT status FROM orders WHERE tenant_id = $1 AND order_id = $2', [stack.tenantId, orderId]);
  return rows[0].status;
}

describe('runs answered from tool tapes', () => {
  it('answers every call from its tapes: the refund is approved and recorded as the tape says, and never issued', async () => {
    const runId = await startTaped([lookupTape, refundTape]);
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    // The amount comes from the tape, not from order 1001's row (12900 cents).
    expect(parked.pendingApprovals[0].arguments).toMatchObject({ order_id: '1001', amount_cents: 4321 });
    const run = await approveAndFinish(runId);
    expect(run.status).toBe('completed');
    expect(run.output).toBe('Done: I refunded 4321 cents for order 1001.');
    expect(toolSteps(run).map((s: any) => [s.name, s.status, s.detail.tape])).toEqual([
      ['lookup_order', 'ok', 'hit'], ['issue_refund', 'ok', 'hit'],
    ]);
    expect(await countRefunds(stack.db, runId)).toBe(0);
    expect(await orderStatus('1001')).toBe('delivered');
  });

  it('records a call no tape covers as a tool error the model is told of, and the run goes on; the write never runs', async () => {
    const runId = await startTaped([lookupTape]);
    const run = await approveAndFinish(runId);
    expect(run.status).toBe('completed');
    expect(run.output).toMatch(/^Sorry, the refund failed: no tape covers this call: issue_refund/);
    const refund = toolSteps(run).find((s: any) => s.name === 'issue_refund');
    expect(refund).toMatchObject({
      status: 'error',
      detail: {
        tape: 'missed',
        result: { error: 'no tape covers this call: issue_refund {"order_id":"1001","amount_cents":4321,"reason":"customer requested a refund"}' },
      },
    });
    expect(await countRefunds(stack.db, runId)).toBe(0);
  });

  it('gives a retried call the entry its failed attempt had taken', async () => {
    // The first attempt of the run's first tool call fails after taking its entry, inside the
    // transaction that records the result (a sequence counts attempts across rollbacks).
    const fault = `tape_fault_${randomBytes(4).toString('hex')}`;
    await stack.db.query(`CREATE SEQUENCE ${fault}`);
    await stack.db.query(`
      CREATE FUNCTION ${fault}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.kind = 'tool' AND EXISTS (SELECT 1 FROM runs r JOIN run_tapes t USING (run_id) WHERE r.run_id = NEW.run_id AND r.tenant_id = '${stack.tenantId}')
           AND nextval('${fault}') = 1 THEN
          RAISE EXCEPTION 'injected: the first attempt fails after taking its entry';
        END IF;
        RETURN NEW;
      END $$`);
    await stack.db.query(`CREATE TRIGGER ${fault} BEFORE INSERT ON run_steps FOR EACH ROW EXECUTE FUNCTION ${fault}()`);
    try {
      const first = { ...tapedOrder, amount_cents: 1111 };
      const second = { ...tapedOrder, amount_cents: 2222 };
      const runId = await startTaped([{ tool: 'lookup_order', result: first }, { tool: 'lookup_order', result: second }]);
      const parked = await stack.waitForStatus(runId, 'awaiting_approval');
      const { rows } = await stack.db.query(`SELECT last_value FROM ${fault}`);
      expect(rows[0].last_value).toBeGreaterThanOrEqual(2);
      expect(parked.pendingApprovals[0].arguments).toMatchObject({ amount_cents: 1111 });
      const uses = await stack.db.query('SELECT step, ordinal, entry_index FROM run_tape_uses WHERE run_id = $1', [runId]);
      expect(uses.rows).toEqual([{ step: 1, ordinal: 1, entry_index: 0 }]);
      await stack.api('POST', `/v1/runs/${runId}/cancel`);
      await stack.waitForStatus(runId, 'cancelled');
    } finally {
      await stack.db.query(`DROP TRIGGER ${fault} ON run_steps`);
      await stack.db.query(`DROP FUNCTION ${fault}()`);
      await stack.db.query(`DROP SEQUENCE ${fault}`);
    }
  });

  it('exports a live run\'s tool calls as tapes, redacted, that replay the run without its tools', async () => {
    const live = await approveAndFinish(await stack.startRun('Refund order 1003'));
    expect(live.output).toBe('Done: I refunded 24900 cents for order 1003.');
    const res = await stack.api('GET', `/v1/runs/${live.runId}/tapes`);
    expect(res.status).toBe(200);
    expect(res.body.tapes).toEqual([
      {
        tool: 'lookup_order', args: { order_id: '1003' }, status: 'ok',
        result: { order_id: '1003', customer: '[redacted]', item: 'Noise-cancelling headphones', amount_cents: 24900, status: 'delivered', refunded_cents: 0 },
      },
      {
        tool: 'issue_refund', args: { order_id: '1003', amount_cents: 24900, reason: 'customer requested a refund' }, status: 'ok',
        result: { refunded: true, refund_id: expect.any(Number), order_id: '1003', amount_cents: 24900 },
      },
    ]);
    expect(JSON.stringify(res.body)).not.toContain('Alan Turing');

    // The exported tapes answer a new run of the same input the same way, without a second refund.
    const replay = await approveAndFinish(await startTaped(res.body.tapes, 'Refund order 1003'));
    expect(replay.output).toBe(live.output);
    expect(await countRefunds(stack.db, replay.runId)).toBe(0);
    expect((await stack.api('GET', `/v1/runs/${replay.runId}/tapes`)).body.tapes).toEqual(res.body.tapes);
  });

  it('refuses tapes it cannot use, listing every problem', async () => {
    const bad = await stack.api('POST', '/v1/runs', {
      agent: 'support', input: 'Refund order 1001', tapes: [{ tool: 'lookup_order' }, { tool: 'lookup_order', result: 1, status: 'maybe' }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^tapes\.0\.result: /), expect.stringMatching(/^tapes\.1\.status: /)]));
    const unknownTool = await stack.api('POST', '/v1/runs', {
      agent: 'support', input: 'Refund order 1001', tapes: [lookupTape, { tool: 'send_email', result: {} }],
    });
    expect(unknownTool.status).toBe(400);
    expect(unknownTool.body.error.problems).toEqual([expect.stringMatching(/^tapes\.1\.tool: bundle support@\w+ does not grant a tool "send_email"$/)]);
  });
});

describe('stored evals', () => {
  const evalOf = (bundleId: string, suiteHash: string, passed: boolean) => ({
    agent: 'support', bundleId, suiteHash,
    gate: { thresholds: { task_success: '>= 0.90' }, on_regression: 'block_merge' },
    summary: { metrics: { task_success: passed ? 1 : 0.5, p95_latency_ms: 1200 }, passed, regressions: passed ? [] : ['task_success 0.5 < 0.90'] },
    cases: [{ caseId: 'refund-1001', runIds: [randomUUID()], passed, metrics: { task_success: passed, latency_ms: 1200 }, failures: passed ? [] : ['no refund'] }],
  });

  it('stores evals and lists them newest first, filtered by agent, bundle and suite', async () => {
    const { stableBundleId } = (await stack.api('GET', '/v1/agents/support')).body;
    const suite = `suite_${randomBytes(4).toString('hex')}`;
    const posted = [evalOf(stableBundleId, suite, true), evalOf(stableBundleId, suite, false), evalOf(stableBundleId, `${suite}_other`, true)];
    const created = [];
    for (const e of posted) {
      const res = await stack.api('POST', '/v1/evals', e);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      created.push(res.body);
    }

    const bySuite = await stack.api('GET', `/v1/evals?agent=support&bundleId=${encodeURIComponent(stableBundleId)}&suiteHash=${suite}`);
    expect(bySuite.body.evals.map((e: any) => e.evalId)).toEqual([created[1].evalId, created[0].evalId]);
    expect(bySuite.body.evals[0]).toEqual({ ...posted[1], evalId: created[1].evalId, createdAt: created[1].createdAt });
    const newest = await stack.api('GET', `/v1/evals?bundleId=${encodeURIComponent(stableBundleId)}&limit=1`);
    expect(newest.body.evals.map((e: any) => e.evalId)).toEqual([created[2].evalId]);
    expect((await stack.api('GET', '/v1/evals?agent=looper')).body.evals).toEqual([]);
  });

  it('refuses a bad eval, listing every problem, and an eval of a bundle that is not the agent\'s', async () => {
    const bad = await stack.api('POST', '/v1/evals', { agent: 'support', summary: { metrics: { x: 'high' }, passed: 'yes' }, cases: [{}], extra: 1 });
    expect(bad.status).toBe(400);
    const fields = bad.body.error.problems.map((p: string) => p.split(':')[0]);
    expect(fields).toEqual(expect.arrayContaining(['bundleId', 'suiteHash', 'gate', 'summary.metrics.x', 'summary.passed', 'summary.regressions', 'cases.0.caseId', 'body']));
    const unknown = await stack.api('POST', '/v1/evals', evalOf('support@000000000000', 's', true));
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.problems).toEqual(['bundleId: no bundle support@000000000000 for agent "support"']);
    expect((await stack.api('GET', '/v1/evals?limit=0')).status).toBe(400);
  });
});

describe('feedback and the review list', () => {
  /** Every candidate on the review list, page by page (two a page, so paging is exercised). */
  async function reviewList(): Promise<any[]> {
    const runs: any[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await stack.api('GET', `/v1/review?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      runs.push(...page.body.runs);
      cursor = page.body.nextCursor;
    } while (cursor);
    return runs;
  }

  it('lists a run with negative feedback, with the feedback, and leaves out a run liked', async () => {
    const disliked = await approveAndFinish(await startTaped([lookupTape, refundTape]));
    const liked = await approveAndFinish(await startTaped([lookupTape, refundTape]));
    const bad = await stack.api('POST', `/v1/runs/${disliked.runId}/feedback`, { score: -1, label: 'wrong_amount', comment: 'should refund 1000' });
    expect(bad.status).toBe(201);
    expect(bad.body).toMatchObject({ runId: disliked.runId, score: -1, label: 'wrong_amount', comment: 'should refund 1000' });
    expect((await stack.api('POST', `/v1/runs/${liked.runId}/feedback`, { score: 1 })).status).toBe(201);

    const list = await reviewList();
    const entry = list.find((r) => r.runId === disliked.runId);
    expect(entry).toMatchObject({ input: 'Refund order 1001', status: 'completed', reasons: ['negative_feedback'], editedCalls: [] });
    expect(entry.feedback).toEqual([bad.body]);
    expect(list.find((r) => r.runId === liked.runId)).toBeUndefined();
  });

  it('lists an approval an approver edited, with the edited call as the expected one, and a rejected one', async () => {
    const edit = { order_id: '1001', amount_cents: 1000, reason: 'partial refund: one item kept' };
    const edited = await approveAndFinish(await startTaped([lookupTape, { tool: 'issue_refund', result: { refunded: true, order_id: '1001', amount_cents: 1000 } }]), edit);
    expect(edited.status).toBe('completed');
    const rejected = await startTaped([lookupTape]);
    const parked = await stack.waitForStatus(rejected, 'awaiting_approval');
    expect((await stack.decide(rejected, parked.pendingApprovals[0].approvalId, 'reject', 'not eligible')).status).toBe(202);
    await stack.waitForStatus(rejected, 'completed');

    const list = await reviewList();
    expect(list.find((r) => r.runId === edited.runId)).toMatchObject({
      reasons: ['approval_edited'],
      editedCalls: [{
        approvalId: edited.approvals[0].approvalId, tool: 'issue_refund', arguments: edit, comment: null,
        originalArguments: { order_id: '1001', amount_cents: 4321, reason: 'customer requested a refund' },
      }],
    });
    expect(list.find((r) => r.runId === rejected)).toMatchObject({ reasons: ['approval_rejected'], editedCalls: [] });
    // Newest first across pages.
    const times = list.map((r) => Date.parse(r.createdAt));
    expect(times).toEqual([...times].sort((x, y) => y - x));
  });

  it('lists a run that hit a cap, with its error, and leaves out one cancelled', async () => {
    const ended = async () => {
      const runId = await startTaped([lookupTape]);
      await stack.waitForStatus(runId, 'awaiting_approval');
      await stack.api('POST', `/v1/runs/${runId}/cancel`);
      await stack.waitForStatus(runId, 'cancelled');
      return runId;
    };
    const [capped, cancelled] = [await ended(), await ended()];
    // As the workflow ends a run at its step limit (src/shared/caps.ts), without a model looping for it.
    await stack.db.query(`UPDATE runs SET status = 'step_limit', error_code = 'step_limit', error = 'step limit of 8 reached' WHERE run_id = $1`, [capped]);
    const list = await reviewList();
    expect(list.find((r) => r.runId === capped)).toMatchObject({ reasons: ['cap_reached'], error: { code: 'step_limit', message: 'step limit of 8 reached' } });
    expect(list.find((r) => r.runId === cancelled)).toBeUndefined();
  });

  it('refuses bad feedback, listing every problem', async () => {
    const runId = (await stack.api('GET', '/v1/runs?limit=1')).body.runs[0].runId;
    const bad = await stack.api('POST', `/v1/runs/${runId}/feedback`, { score: 2, label: '', mood: 'sad' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.problems.map((p: string) => p.split(':')[0])).toEqual(expect.arrayContaining(['score', 'label', 'body']));
    expect((await stack.api('POST', `/v1/runs/${runId}/feedback`, {})).body.error.problems).toEqual([expect.stringMatching(/^score: /)]);
    expect((await stack.api('GET', '/v1/review?cursor=nonsense')).status).toBe(400);
  });
});

describe('tenancy', () => {
  it("answers another tenant about this tenant's runs and evals as about ones that exist nowhere", async () => {
    const runId = await startTaped([lookupTape]);
    await stack.api('POST', `/v1/runs/${runId}/feedback`, { score: -0.5 });
    const { stableBundleId } = (await stack.api('GET', '/v1/agents/support')).body;
    const posted = await stack.api('POST', '/v1/evals', {
      agent: 'support', bundleId: stableBundleId, suiteHash: 'tenancy', gate: {}, summary: { metrics: {}, passed: true, regressions: [] }, cases: [],
    });
    expect(posted.status).toBe(201);

    const otherKey = `key_${randomBytes(8).toString('hex')}`;
    await seedApiKeys(stack.db, [{ key: otherKey, tenantId: `tenant_${randomBytes(6).toString('hex')}`, roles: ['runner', 'approver', 'admin'] }]);
    const asOther = (method: string, path: string, body?: unknown) => stack.api(method, path, body, { authorization: `Bearer ${otherKey}` });
    for (const id of [runId, randomUUID()]) {
      expect((await asOther('POST', `/v1/runs/${id}/feedback`, { score: -1 })).status).toBe(404);
      expect((await asOther('GET', `/v1/runs/${id}/tapes`)).status).toBe(404);
    }
    expect((await asOther('GET', '/v1/review')).body).toEqual({ runs: [], nextCursor: null });
    expect((await asOther('GET', '/v1/evals?suiteHash=tenancy')).body).toEqual({ evals: [] });
    // A bundle the other tenant cannot see is as unknown as one that does not exist.
    const foreign = await asOther('POST', '/v1/evals', {
      agent: 'support', bundleId: stableBundleId, suiteHash: 'x', gate: {}, summary: { metrics: {}, passed: true, regressions: [] }, cases: [],
    });
    expect(foreign.status).toBe(400);
    const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM feedback WHERE run_id = $1', [runId]);
    expect(rows[0].n).toBe(1);
    await stack.api('POST', `/v1/runs/${runId}/cancel`);
  });
});
