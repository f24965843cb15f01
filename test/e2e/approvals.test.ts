/**
 * Guardrails on tool calls, end to end: approval policies from the bundle (thresholds, a separate
 * approver), what an approval request shows, approving with edited arguments, several approvals in
 * one step, the approvals inbox, the audit of decisions, and every way a decision is refused.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supportDemoScript } from '../../src/dev/demoScript';
import type { ModelScript } from '../../src/dev/scriptedModel';
import { countRefunds, startTestStack, type TestStack } from '../support/testStack';

const reasonText = 'The parcel arrived broken, so I am refunding part of order $1.';

const script: ModelScript = {
  rules: [
    {
      // Two gated calls in one model step.
      when: { role: 'user', matches: 'refund both orders (\\d+) and (\\d+)' },
      reply: {
        toolCalls: [
          { name: 'issue_refund', arguments: '{"order_id":"$1","amount_cents":1000,"reason":"first of two"}' },
          { name: 'issue_refund', arguments: '{"order_id":"$2","amount_cents":2000,"reason":"second of two"}' },
        ],
      },
    },
    {
      // The model says why in its own words, beside the call (which has no reason argument).
      when: { role: 'user', matches: 'explain and refund order (\\d+)' },
      reply: { content: reasonText, toolCalls: [{ name: 'issue_refund', arguments: '{"order_id":"$1","amount_cents":3000}' }] },
    },
    ...supportDemoScript.rules,
  ],
};

const as = (key: string) => ({ authorization: `Bearer ${key}` });

describe('approvals: policies, edits, the inbox and the audit', () => {
  let stack: TestStack;
  /** Approvals expire after 2 s here; also a second tenant for the inbox. */
  let expiring: TestStack;

  beforeAll(async () => {
    [stack, expiring] = await Promise.all([startTestStack({ script }), startTestStack({ script, approvalTimeout: '2s' })]);
    // Orders of our own, so no test's refunds eat into another's refundable amount.
    for (const [orderId, amountCents] of [
      ['2001', 5000], ['2002', 60000], ['2003', 20000], ['2004', 20000], ['2005', 20000], ['2006', 20000],
      ['2007', 20000], ['2008', 20000], ['2009', 20000], ['2010', 20000], ['2011', 20000], ['2012', 20000],
    ] as const) {
      await stack.db.query(
        `INSERT INTO orders (tenant_id, order_id, customer, item, amount_cents, status) VALUES ($1, $2, 'Test', 'Thing', $3, 'delivered')`,
        [stack.tenantId, orderId, amountCents],
      );
    }
  });
  afterAll(async () => {
    await Promise.all([stack?.close(), expiring?.close()]);
  });

  async function createKey(roles: string[], on: TestStack = stack): Promise<{ key: string; keyId: string }> {
    const res = await on.api('POST', '/v1/keys', { roles });
    expect(res.status).toBe(201);
    return res.body;
  }

  /** Publishes a variant of the support bundle as `agent` and deploys it at once. */
  async function publishAgent(agent: string, changes: Record<string, unknown>): Promise<string> {
    const { id: _, ...support } = stack.bundles.find((b) => b.name === 'support')!;
    const published = await stack.api('POST', '/v1/bundles', { ...support, name: agent, ...changes });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
    const deployed = await stack.api('POST', `/v1/agents/${agent}/deployments`, { bundleId: published.body.bundleId, strategy: 'immediate' });
    expect(deployed.status).toBe(201);
    return published.body.bundleId;
  }

  async function parked(input: string, agent = 'support', headers: Record<string, string> = {}) {
    const runId = await stack.startRun(input, headers, agent);
    const run = await stack.waitForStatus(runId, 'awaiting_approval');
    return { runId, run, approval: run.pendingApprovals[0] };
  }

  const approvalRow = async (approvalId: string) =>
    (await stack.db.query('SELECT * FROM approvals WHERE approval_id = $1', [approvalId])).rows[0];

  const auditOf = async (on: TestStack, runId: string) => (await on.api('GET', `/v1/audit?runId=${runId}`)).body.entries as any[];

  describe('a threshold policy', () => {
    const thresholdTools = [
      { name: 'lookup_order', version: 1 },
      { name: 'issue_refund', version: 1, approval: { above: { field: 'amount_cents', value: 10000 } } },
    ];

    it('runs a small refund at once and parks a large one, showing why', async () => {
      const bundleId = await publishAgent('threshold', { tools: thresholdTools });

      const small = await stack.startRun('Refund order 2001', {}, 'threshold');
      const smallDone = await stack.waitForStatus(small, 'completed');
      expect(smallDone.approvals).toEqual([]);
      expect(smallDone.output).toBe('Done: I refunded 5000 cents for order 2001.');
      expect(await countRefunds(stack.db, small)).toBe(1);

      const { runId, run, approval } = await parked('Refund order 2002', 'threshold');
      expect(run.bundleId).toBe(bundleId);
      expect(run.pendingApprovals).toHaveLength(1);
      expect(approval).toMatchObject({
        tool: 'issue_refund',
        arguments: { order_id: '2002', amount_cents: 60000, reason: 'customer requested a refund' },
        // No text from the model beside the call, so its reason argument.
        reason: 'customer requested a refund',
        risk: { kind: 'write', rule: 'above', field: 'amount_cents', threshold: 10000, value: 60000 },
      });
      expect(approval.risk.summary).toMatch(/amount_cents 60000 is above the threshold of 10000/);
      expect(Date.parse(approval.expiresAt) - Date.parse(approval.requestedAt)).toBe(24 * 3600 * 1000);
      expect(await countRefunds(stack.db, runId)).toBe(0);

      expect((await stack.decide(runId, approval.approvalId, 'approve')).status).toBe(202);
      await stack.waitForStatus(runId, 'completed');
      expect(await countRefunds(stack.db, runId)).toBe(1);
    });

    it('refuses a threshold on an argument that is not a number', async () => {
      const { id: _, ...support } = stack.bundles.find((b) => b.name === 'support')!;
      const res = await stack.api('POST', '/v1/bundles', {
        ...support,
        name: 'bad-threshold',
        tools: [
          { name: 'lookup_order', version: 1 },
          { name: 'issue_refund', version: 1, approval: { above: { field: 'order_id', value: 5 } } },
        ],
      });
      expect(res.status).toBe(400);
      expect(res.body.error.problems).toEqual(['tools.1.approval.above.field: issue_refund has no numeric argument "order_id"']);
      const shapeless = await stack.api('POST', '/v1/bundles', {
        ...support, name: 'bad-threshold', tools: [{ name: 'issue_refund', version: 1, approval: { below: 5 } }],
      });
      expect(shapeless.status).toBe(400);
    });

    it("shows the model's own words as the reason when it wrote any", async () => {
      const { runId, approval } = await parked('Explain and refund order 2012');
      expect(approval.reason).toBe('The parcel arrived broken, so I am refunding part of order 2012.');
      expect(approval.risk).toMatchObject({ kind: 'write', rule: 'always' });
      const row = await approvalRow(approval.approvalId);
      expect(row).toMatchObject({ reason: approval.reason, risk: approval.risk, status: 'pending' });
      await stack.decide(runId, approval.approvalId, 'reject');
      await stack.waitForStatus(runId, 'completed');
    });
  });

  describe('a separate approver', () => {
    it('refuses the key that started the run, and takes another approver', async () => {
      await publishAgent('four-eyes', { approvals: { separateApprover: true } });
      const starter = await createKey(['runner', 'approver']);
      const other = await createKey(['approver']);
      const { runId, approval } = await parked('Refund order 2004', 'four-eyes', as(starter.key));
      const path = `/v1/runs/${runId}/approvals/${approval.approvalId}`;

      const own = await stack.api('POST', path, { decision: 'approve' }, as(starter.key));
      expect(own.status).toBe(403);
      expect(own.body.error.message).toMatch(/requires a separate approver.*started with your API key/);
      expect((await approvalRow(approval.approvalId)).status).toBe('pending');

      const decided = await stack.api('POST', path, { decision: 'approve', comment: 'second pair of eyes' }, as(other.key));
      expect(decided.status).toBe(202);
      expect(decided.body.decidedBy).toBe(other.keyId);
      const done = await stack.waitForStatus(runId, 'completed');
      expect(done.approvals[0]).toMatchObject({ status: 'approved', decidedBy: other.keyId });
      expect(await countRefunds(stack.db, runId)).toBe(1);
    });

    it('lets the starter approve where the bundle does not ask for a separate approver', async () => {
      const starter = await createKey(['runner', 'approver']);
      const { runId, approval } = await parked('Refund order 2005', 'support', as(starter.key));
      const res = await stack.api('POST', `/v1/runs/${runId}/approvals/${approval.approvalId}`, { decision: 'approve' }, as(starter.key));
      expect(res.status).toBe(202);
      await stack.waitForStatus(runId, 'completed');
    });
  });

  describe('approving with edited arguments', () => {
    it('refuses an invalid edit with every problem listed, leaving the approval pending', async () => {
      const { runId, approval } = await parked('Refund order 2006');
      const path = `/v1/runs/${runId}/approvals/${approval.approvalId}`;

      const invalid = await stack.api('POST', path, { decision: 'approve', arguments: { order_id: 'abc', amount_cents: -5, to_account: 'x' } });
      expect(invalid.status).toBe(400);
      const problems: string[] = invalid.body.error.problems;
      expect(problems.some((p) => p.startsWith('arguments.order_id: '))).toBe(true);
      expect(problems.some((p) => p.startsWith('arguments.amount_cents: '))).toBe(true);
      expect(problems.some((p) => /to_account/.test(p))).toBe(true);

      const notAnObject = await stack.api('POST', path, { decision: 'approve', arguments: [1] });
      expect(notAnObject.status).toBe(400);
      const withReject = await stack.api('POST', path, { decision: 'reject', arguments: { order_id: '2006', amount_cents: 100 } });
      expect(withReject.status).toBe(400);
      expect(withReject.body.error.problems).toEqual(['arguments: only an approval can edit the arguments']);

      const still = await stack.api('GET', `/v1/runs/${runId}`);
      expect(still.body).toMatchObject({ status: 'awaiting_approval', pendingApprovals: [{ approvalId: approval.approvalId }] });
      expect(await approvalRow(approval.approvalId)).toMatchObject({ status: 'pending', edited_arguments: null, decided_by: null });
      expect((await auditOf(stack, runId)).filter((e) => e.action === 'approval.decided')).toEqual([]);
      expect((await stack.decide(runId, approval.approvalId, 'reject')).status).toBe(202);
      await stack.waitForStatus(runId, 'completed');
    });

    it('executes the edited arguments, keeps both, and audits the change', async () => {
      const { runId, approval } = await parked('Refund order 2003');
      expect(approval.arguments).toEqual({ order_id: '2003', amount_cents: 20000, reason: 'customer requested a refund' });
      const edited = { order_id: '2003', amount_cents: 5000, reason: 'partial: one of four items' };

      const res = await stack.api('POST', `/v1/runs/${runId}/approvals/${approval.approvalId}`, {
        decision: 'approve', comment: 'only the broken item', arguments: edited,
      });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ decision: 'approved', edited: true, arguments: edited });

      const done = await stack.waitForStatus(runId, 'completed');
      expect(done.output).toBe('Done: I refunded 5000 cents for order 2003.');
      expect(done.approvals[0]).toMatchObject({
        status: 'approved', arguments: approval.arguments, editedArguments: edited, comment: 'only the broken item',
      });
      const refunds = await stack.db.query('SELECT order_id, amount_cents, reason FROM refunds WHERE run_id = $1', [runId]);
      expect(refunds.rows).toEqual([{ order_id: '2003', amount_cents: 5000, reason: 'partial: one of four items' }]);
      expect(done.steps.find((s: any) => s.name === 'issue_refund')).toMatchObject({ status: 'ok', detail: { arguments: edited } });

      const decisions = (await auditOf(stack, runId)).filter((e) => e.action === 'approval.decided');
      expect(decisions).toHaveLength(1);
      expect(decisions[0]).toMatchObject({
        actor: expect.stringMatching(/^key_/), target: approval.approvalId, status: 'approved', bundleId: done.bundleId,
        detail: {
          tool: 'issue_refund', decision: 'approved', comment: 'only the broken item', edited: true,
          argumentChanges: expect.arrayContaining([
            { path: 'amount_cents', from: 20000, to: 5000 },
            { path: 'reason', from: 'customer requested a refund', to: 'partial: one of four items' },
          ]),
        },
      });
    });

    it('treats an edit that changes nothing as a plain approval', async () => {
      const { runId, approval } = await parked('Refund order 2007');
      const res = await stack.api('POST', `/v1/runs/${runId}/approvals/${approval.approvalId}`, { decision: 'approve', arguments: approval.arguments });
      expect(res.status).toBe(202);
      expect(res.body.edited).toBe(false);
      await stack.waitForStatus(runId, 'completed');
      expect((await approvalRow(approval.approvalId)).edited_arguments).toBeNull();
      const refunds = await stack.db.query('SELECT amount_cents FROM refunds WHERE run_id = $1', [runId]);
      expect(refunds.rows).toEqual([{ amount_cents: 20000 }]);
    });
  });

  it('asks about several gated calls of one step separately, and acts on each decision', async () => {
    const { runId, run } = await parked('Refund both orders 2008 and 2009');
    expect(run.pendingApprovals).toHaveLength(2);
    const [first, second] = run.pendingApprovals;
    expect(first.approvalId).not.toBe(second.approvalId);
    expect(run.pendingApprovals.map((a: any) => a.arguments.order_id).sort()).toEqual(['2008', '2009']);
    const byOrder = (id: string) => run.pendingApprovals.find((a: any) => a.arguments.order_id === id);

    expect((await stack.decide(runId, byOrder('2008').approvalId, 'approve')).status).toBe(202);
    // Still waiting for the other one.
    const half = await stack.api('GET', `/v1/runs/${runId}`);
    expect(half.body.status).toBe('awaiting_approval');
    expect(half.body.pendingApprovals.map((a: any) => a.approvalId)).toEqual([byOrder('2009').approvalId]);
    expect(await countRefunds(stack.db, runId)).toBe(0);

    expect((await stack.decide(runId, byOrder('2009').approvalId, 'reject')).status).toBe(202);
    const done = await stack.waitForStatus(runId, 'completed');
    const refunds = await stack.db.query('SELECT order_id, amount_cents FROM refunds WHERE run_id = $1', [runId]);
    expect(refunds.rows).toEqual([{ order_id: '2008', amount_cents: 1000 }]);
    expect(done.steps.filter((s: any) => s.name === 'issue_refund').map((s: any) => s.status)).toEqual(['ok', 'rejected']);
    const statuses = Object.fromEntries(done.approvals.map((a: any) => [a.arguments.order_id, a.status]));
    expect(statuses).toEqual({ '2008': 'approved', '2009': 'rejected' });
  });

  describe('refused decisions', () => {
    it('answers 404 for a made-up approval ID, and for another run’s approval under this run', async () => {
      const a = await parked('Refund order 2010');
      const b = await parked('Refund order 2011');
      expect((await stack.decide(a.runId, randomUUID(), 'approve')).status).toBe(404);
      expect((await stack.decide(a.runId, b.approval.approvalId, 'approve')).status).toBe(404);
      expect((await stack.decide(b.runId, a.approval.approvalId, 'reject')).status).toBe(404);
      expect((await stack.decide(randomUUID(), a.approval.approvalId, 'approve')).status).toBe(404);
      expect((await approvalRow(a.approval.approvalId)).status).toBe('pending');
      expect((await approvalRow(b.approval.approvalId)).status).toBe('pending');

      // Duplicate decisions: the first wins, the second is a conflict, and neither run moved early.
      expect((await stack.decide(a.runId, a.approval.approvalId, 'approve')).status).toBe(202);
      const again = await stack.decide(a.runId, a.approval.approvalId, 'approve');
      expect(again.status).toBe(409);
      expect(again.body.error.message).toMatch(/already approved/);
      expect((await stack.decide(b.runId, b.approval.approvalId, 'reject')).status).toBe(202);
      await Promise.all([stack.waitForStatus(a.runId, 'completed'), stack.waitForStatus(b.runId, 'completed')]);
      expect(await countRefunds(stack.db, a.runId)).toBe(1);
      expect(await countRefunds(stack.db, b.runId)).toBe(0);
    });

    it('answers 403 to keys without the approver role', async () => {
      const runner = await createKey(['runner']);
      const admin = await createKey(['admin']);
      const { runId, approval } = await parked('Refund order 1004');
      const path = `/v1/runs/${runId}/approvals/${approval.approvalId}`;
      for (const key of [runner.key, admin.key]) {
        const res = await stack.api('POST', path, { decision: 'approve' }, as(key));
        expect(res.status).toBe(403);
        expect(res.body.error.message).toMatch(/approver role/);
        expect((await stack.api('GET', '/v1/approvals', undefined, as(key))).status).toBe(403);
      }
      expect((await approvalRow(approval.approvalId)).status).toBe('pending');
      await stack.api('POST', `/v1/runs/${runId}/cancel`);
      await stack.waitForStatus(runId, 'cancelled');
      const cancelled = (await auditOf(stack, runId)).find((e) => e.action === 'approval.cancelled');
      expect(cancelled).toMatchObject({ actor: 'system:run', target: approval.approvalId, status: 'cancelled' });
    });

    it('answers 409 once an approval has expired, and audits the expiry', async () => {
      const runId = await expiring.startRun('Refund order 1001');
      const run = await expiring.waitForStatus(runId, 'awaiting_approval');
      const { approvalId } = run.pendingApprovals[0];
      const done = await expiring.waitForRun(runId, (r) => r.approvals[0]?.status === 'expired');
      expect(done.approvals[0].decidedBy).toBe('system:expiry');
      const late = await expiring.decide(runId, approvalId, 'approve');
      expect(late.status).toBe(409);
      expect(late.body.error.message).toMatch(/expired/);
      await expiring.waitForStatus(runId, 'completed');
      expect(await countRefunds(expiring.db, runId)).toBe(0);

      const audit = await auditOf(expiring, runId);
      expect(audit.filter((e) => e.action === 'approval.expired')).toEqual([
        expect.objectContaining({ actor: 'system:expiry', target: approvalId, status: 'expired', detail: expect.objectContaining({ tool: 'issue_refund' }) }),
      ]);
      expect(audit.filter((e) => e.action === 'approval.decided')).toEqual([]);

      const inbox = await expiring.api('GET', '/v1/approvals?status=expired');
      expect(inbox.body.approvals.map((a: any) => a.approvalId)).toContain(approvalId);
    });
  });

  describe('the approvals inbox', () => {
    it("lists the tenant's approvals newest first, by status, a page at a time", async () => {
      const older = await parked('Refund order 1002');
      const newer = await parked('Explain and refund order 1003');

      const pending = await stack.api('GET', '/v1/approvals?status=pending');
      expect(pending.status).toBe(200);
      const ids = pending.body.approvals.map((a: any) => a.approvalId);
      expect(ids.indexOf(newer.approval.approvalId)).toBeLessThan(ids.indexOf(older.approval.approvalId));
      expect(ids.indexOf(newer.approval.approvalId)).toBeGreaterThanOrEqual(0);
      expect(pending.body.approvals.every((a: any) => a.status === 'pending')).toBe(true);
      const listed = pending.body.approvals.find((a: any) => a.approvalId === newer.approval.approvalId);
      expect(listed).toMatchObject({
        runId: newer.runId,
        agent: 'support',
        bundleId: newer.run.bundleId,
        tool: 'issue_refund',
        arguments: { order_id: '1003', amount_cents: 3000 },
        reason: 'The parcel arrived broken, so I am refunding part of order 1003.',
        risk: { kind: 'write', rule: 'always' },
        requestedAt: newer.approval.requestedAt,
        expiresAt: newer.approval.expiresAt,
        links: { decide: `/v1/runs/${newer.runId}/approvals/${newer.approval.approvalId}` },
      });
      const times = pending.body.approvals.map((a: any) => Date.parse(a.requestedAt));
      expect([...times].sort((x, y) => y - x)).toEqual(times);

      // One page at a time: the pages together are the whole list, without repeats.
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `/v1/approvals?status=pending&limit=1${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await stack.api('GET', query);
        expect(page.status).toBe(200);
        expect(page.body.approvals.length).toBeLessThanOrEqual(1);
        seen.push(...page.body.approvals.map((a: any) => a.approvalId));
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual(ids);

      await stack.decide(older.runId, older.approval.approvalId, 'approve');
      await stack.decide(newer.runId, newer.approval.approvalId, 'reject');
      await Promise.all([stack.waitForStatus(older.runId, 'completed'), stack.waitForStatus(newer.runId, 'completed')]);
      const approved = (await stack.api('GET', '/v1/approvals?status=approved')).body.approvals;
      const rejected = (await stack.api('GET', '/v1/approvals?status=rejected')).body.approvals;
      expect(approved.map((a: any) => a.approvalId)).toContain(older.approval.approvalId);
      expect(approved.every((a: any) => a.status === 'approved')).toBe(true);
      expect(rejected.map((a: any) => a.approvalId)).toContain(newer.approval.approvalId);
      const remaining = (await stack.api('GET', '/v1/approvals?status=pending')).body.approvals.map((a: any) => a.approvalId);
      expect(remaining).not.toContain(older.approval.approvalId);
      expect((await stack.api('GET', '/v1/approvals')).body.approvals.length).toBeGreaterThanOrEqual(approved.length + rejected.length);
    });

    it('validates its query', async () => {
      expect((await stack.api('GET', '/v1/approvals?status=maybe')).status).toBe(400);
      expect((await stack.api('GET', '/v1/approvals?limit=0')).status).toBe(400);
      expect((await stack.api('GET', '/v1/approvals?cursor=bogus')).status).toBe(400);
    });

    it("shows each tenant only its own approvals", async () => {
      const mine = await parked('Refund order 1001');
      const theirsRun = await expiring.startRun('Refund order 1002');
      await expiring.waitForStatus(theirsRun, 'awaiting_approval');

      const ours = (await stack.api('GET', '/v1/approvals?limit=200')).body.approvals;
      const theirs = (await expiring.api('GET', '/v1/approvals?limit=200')).body.approvals;
      expect(ours.map((a: any) => a.approvalId)).toContain(mine.approval.approvalId);
      expect(ours.map((a: any) => a.runId)).not.toContain(theirsRun);
      expect(theirs.map((a: any) => a.runId)).toContain(theirsRun);
      expect(theirs.map((a: any) => a.approvalId)).not.toContain(mine.approval.approvalId);
      const tenants = await stack.db.query('SELECT DISTINCT tenant_id FROM runs WHERE run_id = ANY($1::uuid[])', [ours.map((a: any) => a.runId)]);
      expect(tenants.rows).toEqual([{ tenant_id: stack.tenantId }]);
      await stack.api('POST', `/v1/runs/${mine.runId}/cancel`);
    });
  });

  it('audits bundle publishes and deployment changes', async () => {
    const first = await publishAgent('audited', { description: 'first' });
    const second = await publishAgent('audited', { description: 'second' });
    const republished = await stack.api('POST', '/v1/bundles', { ...stack.bundles.find((b) => b.name === 'support')!, id: undefined });
    expect(republished.status).toBe(200);
    const rolledBack = await stack.api('POST', '/v1/agents/audited/rollback');
    expect(rolledBack.status).toBe(200);
    expect(rolledBack.body.stableBundleId).toBe(first);

    const entries: any[] = (await stack.api('GET', '/v1/audit?limit=1000')).body.entries;
    const published = entries.filter((e) => e.action === 'bundle.published');
    expect(published).toEqual(expect.arrayContaining([
      expect.objectContaining({ bundleId: first, target: 'audited', status: 'created', actor: expect.stringMatching(/^key_/) }),
      expect.objectContaining({ bundleId: second, status: 'created' }),
      expect.objectContaining({ target: 'support', status: 'unchanged' }),
    ]));
    const deployments = entries.filter((e) => e.target === 'audited' && e.action.startsWith('deployment.'));
    expect(deployments.map((e) => [e.action, e.detail.fromBundleId, e.detail.toBundleId])).toEqual([
      ['deployment.deployed', null, first],
      ['deployment.deployed', first, second],
      ['deployment.rolled_back', second, first],
    ]);
  });
});
