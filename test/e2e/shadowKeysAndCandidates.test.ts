/**
 * Shadow replay's Idempotency-Key and the standing shadow's candidate (issue 15, docs/staging.md),
 * end to end on the real dev server, worker and PostgreSQL: the same request with the same key,
 * concurrent repeats included, starts one shadow (another request with that key: 409); after a new
 * bundle is staged, mirrors run it and the standing report covers only its pairs, naming it.
 */
import { describe, expect, it } from 'vitest';
import { useTestStack } from '../support/useTestStack';
import type { TestStack } from '../support/testStack';
import { until } from '../support/shadowFixtures';

/** A production run whose approval, if it asks one, a human rejects; returns its ID once it completed. */
async function rejectedRun(stack: TestStack, input: string): Promise<string> {
  const runId = await stack.startRun(input);
  const run = await stack.waitForRun(runId, (r) => r.status === 'awaiting_approval' || r.status === 'completed', 300_000);
  if (run.status === 'awaiting_approval') {
    expect((await stack.decide(runId, run.pendingApprovals[0].approvalId, 'reject')).status).toBe(202);
    await stack.waitForStatus(runId, 'completed', 300_000);
  }
  return runId;
}

describe('shadow idempotency and the standing shadow candidate', () => {
  const stack = useTestStack();
  const shadowWithKey = (key: string, body: Record<string, unknown>) => stack.api('POST', '/v1/agents/support/shadow', body, { 'Idempotency-Key': key });

  it('starts one shadow for one Idempotency-Key, concurrent repeats included, and refuses the key for another request', async () => {
    const support = stack.bundles.find((b) => b.name === 'support')!;
    expect((await stack.api('PUT', '/v1/agents/support/staging', { bundleId: support.id })).status).toBe(200);
    const original = await rejectedRun(stack, 'Refund order 1001');

    const body = { sample: 1, approvals: 'reject' };
    const answers = [...(await Promise.all([shadowWithKey('replay-1', body), shadowWithKey('replay-1', body)])), await shadowWithKey('replay-1', body)];
    for (const answer of answers) {
      expect(answer.status, JSON.stringify(answer.body)).toBe(202);
      expect(answer.body).toMatchObject({ agent: 'support', bundleId: support.id, runs: [{ originalRunId: original }] });
    }
    expect(new Set(answers.map((a) => a.body.shadowId)).size).toBe(1);
    const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM shadows WHERE tenant_id = $1 AND kind = 'replay'`, [stack.tenantId]);
    expect(rows[0].n).toBe(1);

    const other = await shadowWithKey('replay-1', { sample: 1, approvals: 'as_original' });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_key_reused');
    const bad = await shadowWithKey('a key with spaces', body);
    expect(bad.status).toBe(400);
  }, 600_000);

  it("reports the current staging bundle's mirrors only, under its bundle ID, once a new bundle is staged", async () => {
    const support = stack.bundles.find((b) => b.name === 'support')!;
    expect((await stack.api('PUT', '/v1/agents/support/staging', { bundleId: support.id })).status).toBe(200);
    expect((await stack.api('PUT', '/v1/agents/support/shadowing', { rate: 1 })).status).toBe(200);
    const mirrorOf = async (runId: string) => {
      const { rows } = await stack.db.query(
        `SELECT l.run_id AS "runId" FROM shadow_runs l JOIN shadows s USING (shadow_id) WHERE s.kind = 'continuous' AND l.original_run_id = $1`,
        [runId],
      );
      return rows[0]?.runId as string | undefined;
    };
    const standing = async () => (await stack.api('GET', '/v1/agents/support/shadowing')).body.report;

    const first = await rejectedRun(stack, 'Refund order 1002');
    await until(() => mirrorOf(first), 'the first run mirrored');
    const before = await until(async () => {
      const report = await standing();
      return report?.items.length === 1 && report;
    }, 'the first pair reported');
    expect(before).toMatchObject({ bundleId: support.id, items: [{ originalRunId: first }] });

    const { id: _, ...bundle } = support;
    const published = await stack.api('POST', '/v1/bundles', { ...bundle, description: 'support, the next candidate' });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
    const candidate = published.body.bundleId as string;
    expect(candidate).not.toBe(support.id);
    expect((await stack.api('PUT', '/v1/agents/support/staging', { bundleId: candidate })).status).toBe(200);

    const second = await rejectedRun(stack, 'Refund order 1003');
    const mirror = await until(() => mirrorOf(second), 'the second run mirrored');
    expect((await stack.api('GET', `/v1/runs/${mirror}`)).body.bundleId).toBe(candidate);
    const after = await until(async () => {
      const report = await standing();
      return report?.items.some((i: { originalRunId: string }) => i.originalRunId === second) && report;
    }, "the new candidate's pair reported");
    // The same standing shadow, now of the new candidate: the earlier candidate's pair is left out.
    expect(after).toMatchObject({ shadowId: before.shadowId, bundleId: candidate });
    expect(after.items.map((i: { originalRunId: string }) => i.originalRunId)).toEqual([second]);
  }, 600_000);
});
