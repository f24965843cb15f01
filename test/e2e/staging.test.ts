/**
 * Staging (issue 15) end to end on the real dev server, worker and PostgreSQL: environments and the
 * promotion gate, sandboxed tools in staging, and shadow replay of anonymised production runs with
 * its comparison report. "Nothing real is written" is checked by counting rows and live calls.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, personalDetails, productionRun, stageBlindCandidate } from '../support/shadowFixtures';
import { countRefunds, startTestStack, type TestStack } from '../support/testStack';
import { bosunIn } from '../support/cliInProcess';

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

/** How many production runs the shadow replays (the 50). */
const N = Number(process.env.BOSUN_SHADOW_TEST_RUNS ?? 50);

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
    const gate = await bosunIn(stack, ['gate', 'support', '--require-staging', '--require-eval']);
    expect(gate.code, gate.stderr).toBe(0);
    expect(gate.stdout).toContain('promotion of support requires: a staging run and a passing eval');
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

    const staged = await bosunIn(stack, ['stage', 'support', candidate]);
    expect(staged.code, staged.stderr).toBe(0);
    expect(staged.stdout).toContain(`staged ${candidate} for support`);
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
    const listed = await bosunIn(stack, ['runs', 'list', '--environment', 'staging', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(runId);
    const listedProduction = await bosunIn(stack, ['runs', 'list', '--environment', 'production', '--json']);
    expect(listedProduction.stdout).not.toContain(runId);
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

  it('replays anonymised production runs against a candidate in staging: nothing real written, a report, and no personal detail', async () => {
    const seeded = personalDetails(N);
    // Production: refunds a human approved (and some rejected), on orders that exist and one that does not.
    const originals = await Promise.all(seeded.map((p, i) => productionRun(stack, p.input, i % 7 === 3 ? 'reject' : 'approve')));
    const before = await productionWrites(stack);
    expect(before.refunds).toBeGreaterThan(0);

    // The candidate refunds without looking the order up: its trajectory differs from production's.
    const worseId = await stageBlindCandidate(stack);

    const bad = await stack.api('POST', '/v1/agents/support/shadow', { sample: 0, statuses: ['done'], anonymise: { patterns: ['('] }, extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.problems.map((p: string) => p.split(':')[0])).toEqual(
      expect.arrayContaining(['sample', 'statuses.0', 'anonymise.patterns', 'body']),
    );
    expect((await stack.api('GET', `/v1/agents/support/shadow/${randomUUID()}`)).status).toBe(404);

    const started = await stack.api('POST', '/v1/agents/support/shadow', {
      sample: N, statuses: ['completed'], anonymise: { names: seeded.map((p) => p.name), patterns: ['CUST-\\d+'] },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body.runs).toHaveLength(N);
    expect(new Set(started.body.runs.map((r: any) => r.originalRunId))).toEqual(new Set(originals));

    const report = await eventually(async () => {
      const { body } = await stack.api('GET', `/v1/agents/support/shadow/${started.body.shadowId}`);
      return body.done ? body : undefined;
    }, 600_000);
    expect(report.aggregates).toMatchObject({ runs: N, finished: N });
    const differences = report.items.map((i: any) => i.difference);
    expect(differences).toEqual([...differences].sort((a, b) => b - a));
    // Where production looked the order up and the candidate did not, the trajectory check says so, first.
    expect(report.items[0].checks.tool_call_accuracy.pass).toBe(false);
    const refund = report.items.find((i: any) => i.original.tools.join() === 'lookup_order,issue_refund');
    expect(refund.candidate.tools).toEqual(['issue_refund']);
    expect(refund.checks.tool_call_accuracy.failures).toEqual(['expected a call lookup_order {}, none was made']);
    expect(report.aggregates.agreement.trajectory).toBeLessThan(1);
    // Approved refunds were replayed to their approval, decided as the human decided the original.
    const replays = await Promise.all(report.items.map((i: any) => stack.api('GET', `/v1/runs/${i.runId}`).then((r) => r.body)));
    expect(replays.every((r: any) => r.environment === 'staging' && r.bundleId === worseId && r.status === 'completed')).toBe(true);
    const decided = replays.flatMap((r: any) => r.approvals.map((a: any) => a.status));
    expect(decided.filter((d: string) => d === 'approved').length).toBeGreaterThan(0);
    expect(decided.filter((d: string) => d === 'rejected').length).toBeGreaterThan(0);

    // Nothing real: no production row, no live write-tool call (every issue_refund call a replay ran, not
    // counting those rejected before they ran, was sandboxed).
    expect(await productionWrites(stack)).toEqual(before);
    const replayIds = report.items.map((i: any) => i.runId);
    const { rows: calls } = await stack.db.query(
      `SELECT (detail->>'sandbox') IS NOT DISTINCT FROM 'true' AS sandboxed, count(*)::int AS n FROM audit_log
       WHERE action = 'tool.called' AND target = 'issue_refund' AND status IN ('ok', 'error') AND run_id = ANY($1::uuid[]) GROUP BY 1`,
      [replayIds],
    );
    expect(calls.find((c: any) => !c.sandboxed)).toBeUndefined();
    expect(calls.find((c: any) => c.sandboxed)?.n).toBeGreaterThan(0);
    for (const runId of replayIds) expect(await countRefunds(stack.db, runId)).toBe(0);

    // No personal detail the originals carried reaches a replay's input, transcript or the report.
    const { rows: messages } = await stack.db.query('SELECT content FROM run_messages WHERE run_id = ANY($1::uuid[])', [replayIds]);
    const everything = JSON.stringify([report, replays, messages]);
    for (const detail of seeded.flatMap((p) => p.details)) expect(everything).not.toContain(detail);
    // Deterministic per value: the email two originals share has one pseudonym in both replays.
    const inputOf = (i: number) => report.items.find((item: any) => item.originalRunId === originals[i]).input;
    const pseudonym = (input: string) => input.match(/user-[0-9a-f]+@example\.invalid/)?.[0];
    expect(pseudonym(inputOf(0))).toBeDefined();
    expect(pseudonym(inputOf(0))).toBe(pseudonym(inputOf(1)));
    expect(pseudonym(inputOf(0))).not.toBe(pseudonym(inputOf(2)));

    // The CLI's summary: aggregates, then the most different inputs.
    const cli = await bosunIn(stack, ['shadow', 'report', 'support', started.body.shadowId, '--top', '3']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(`${started.body.shadowId} (done)`);
    expect(cli.stdout).toMatch(/agreement\s+outcome \d+%, trajectory \d+%/);
    expect(cli.stdout).toContain('tool_call_accuracy');
    for (const detail of seeded.flatMap((p) => p.details)) expect(cli.stdout).not.toContain(detail);

    // The candidate ran in staging but has no passing eval: production stays closed to it.
    const refused = await stack.api('POST', '/v1/agents/support/deployments', { bundleId: worseId, strategy: 'immediate' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.problems).toEqual([`eval: ${worseId} has no stored eval (run bosun eval on it)`]);
  }, 900_000);
});
