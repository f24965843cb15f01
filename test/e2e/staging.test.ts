/**
 * Staging (issue 15) end to end on the real dev server, worker and PostgreSQL: environments and the
 * promotion gate, sandboxed tools in staging, and shadow replay of anonymised production runs with
 * its comparison report. "Nothing real is written" is checked by counting rows and live calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRefunds, startTestStack, type TestStack } from '../support/testStack';

const evalOf = (bundleId: string, passed: boolean) => ({
  agent: 'support', bundleId, suiteHash: 'suite-1', gate: {},
  summary: { metrics: { task_success: passed ? 1 : 0.5 }, passed, regressions: passed ? [] : ['task_success: 0.5 < 0.9'] },
  cases: [],
});

/** Rows the support agent's write tool makes in production tables, for the whole tenant. */
async function productionWrites(stack: TestStack): Promise<{ refunds: number; refundedOrders: number }> {
  const { rows } = await stack.db.query(
    `SELECT (SELECT count(*)::int FROM refunds WHERE tenant_id = $1) AS refunds,
            (SELECT count(*)::int FROM orders WHERE tenant_id = $1 AND status <> 'delivered') AS "refundedOrders"`,
    [stack.tenantId],
  );
  return rows[0];
}

/** A refund approved by a human in production: the run the shadow replays later. */
async function approvedRefund(stack: TestStack, input: string): Promise<string> {
  const runId = await stack.startRun('support', input);
  const parked = await stack.waitForStatus(runId, 'awaiting_approval');
  expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
  await stack.waitForStatus(runId, 'completed');
  return runId;
}

describe('staging', () => {
  let stack: TestStack;
  let candidate: string;

  beforeAll(async () => {
    stack = await startTestStack();
    const { id: _, ...support } = stack.bundles.find((b) => b.name === 'support')!;
    const published = await stack.api('POST', '/v1/bundles', { ...support, description: 'support, the candidate' });
    expect(published.status, JSON.stringify(published.body)).toBeLessThan(300);
    candidate = published.body.bundleId;
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('runs a candidate in staging first, sandboxed, and refuses its promotion until it ran there and its eval passed', async () => {
    expect((await stack.api('PUT', '/v1/agents/support/promotion-gate', { requireStaging: true, requireEval: true })).status).toBe(200);
    const refused = await stack.api('POST', '/v1/agents/support/deployments', { bundleId: candidate, strategy: 'immediate' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('promotion_refused');
    expect(refused.body.error.problems).toEqual([
      `staging: ${candidate} has no completed staging run (deploy it to staging and run it there first)`,
      `eval: ${candidate} has no stored eval (run bosun eval on it)`,
    ]);
    // No staging deployment yet: a staging run has nothing to run.
    const early = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Refund order 1002', environment: 'staging' });
    expect(early.status).toBe(400);

    expect((await stack.api('PUT', '/v1/agents/support/staging', { bundleId: candidate })).body).toMatchObject({ agent: 'support', bundleId: candidate });
    const started = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Refund order 1002', environment: 'staging' });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ environment: 'staging', bundleId: candidate });
    const runId = started.body.runId;
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
    const done = await stack.waitForStatus(runId, 'completed');
    // The read ran live; the write has no sandbox implementation, so it was refused, never run.
    const tools = done.steps.filter((s: any) => s.kind === 'tool');
    expect(tools.map((s: any) => [s.name, s.status])).toEqual([['lookup_order', 'ok'], ['issue_refund', 'error']]);
    expect(JSON.stringify(tools[1].detail.result)).toContain('this is a sandbox run');
    expect(await countRefunds(stack.db, runId)).toBe(0);
    expect(await productionWrites(stack)).toEqual({ refunds: 0, refundedOrders: 0 });

    // Runs are listed, and found in Temporal, by environment.
    const staging = await stack.api('GET', '/v1/runs?environment=staging');
    expect(staging.body.runs.map((r: any) => r.runId)).toEqual([runId]);
    expect((await stack.api('GET', '/v1/runs?environment=production')).body.runs.map((r: any) => r.runId)).not.toContain(runId);
    const query = `Environment = "staging" AND TenantId = "${stack.tenantId}"`;
    const found = await eventually(async () => {
      const ids: string[] = [];
      for await (const w of stack.temporal.workflow.list({ query })) ids.push(w.workflowId);
      return ids.length ? ids : undefined;
    });
    expect(found).toEqual([runId]);

    const evalMissing = await stack.api('POST', '/v1/agents/support/deployments', { bundleId: candidate, strategy: 'canary' });
    expect(evalMissing.status).toBe(409);
    expect(evalMissing.body.error.problems).toEqual([`eval: ${candidate} has no stored eval (run bosun eval on it)`]);
    expect((await stack.api('POST', '/v1/evals', evalOf(candidate, false))).status).toBe(201);
    const failed = await stack.api('POST', '/v1/agents/support/deployments', { bundleId: candidate, strategy: 'immediate' });
    expect(failed.body.error.problems).toEqual([`eval: the latest eval of ${candidate} did not pass its gate`]);
    expect((await stack.api('POST', '/v1/evals', evalOf(candidate, true))).status).toBe(201);
    const promoted = await stack.api('POST', '/v1/agents/support/deployments', { bundleId: candidate, strategy: 'immediate' });
    expect(promoted.status, JSON.stringify(promoted.body)).toBe(201);
    const agent = (await stack.api('GET', '/v1/agents/support')).body;
    expect(agent).toMatchObject({
      stableBundleId: candidate, staging: { bundleId: candidate }, promotionGate: { requireStaging: true, requireEval: true },
    });
  });
});

/** Retries a read of eventually-consistent state (Temporal's visibility store) until it yields. */
async function eventually<T>(read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 250));
  }
}
