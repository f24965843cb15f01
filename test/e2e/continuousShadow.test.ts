/**
 * Shadow replays as durable workflows, and continuous shadowing (issue 15 §3, §5), end to end on
 * the real dev server, worker processes and PostgreSQL. A replay's worker is killed in the middle:
 * a fresh worker finishes every replay, each approval decided as a human decided its original's
 * (edits included, anonymised), without the API deciding anything (the report is not read until the
 * shadow's workflow marked it complete). Continuous shadowing mirrors every production run at rate
 * 1, none at rate 0, and never holds a production run's start: with no worker at all, the start
 * still answers, and the mirror follows once a worker is back.
 */
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestStack } from '../support/useTestStack';
import type { TestStack } from '../support/testStack';
import { bosunIn } from '../support/cliInProcess';
import { until } from '../support/shadowFixtures';

/** A production run decided by a human as `decision` says when it asks; returns its ID once it completed. */
async function productionRun(stack: TestStack, input: string, decision: 'approve' | 'reject' | { edit: Record<string, unknown> }): Promise<string> {
  const runId = await stack.startRun(input);
  const run = await stack.waitForRun(runId, (r) => r.status === 'awaiting_approval' || r.status === 'completed', 300_000);
  if (run.status === 'awaiting_approval') {
    const approval = run.pendingApprovals[0];
    const body = typeof decision === 'string' ? { decision } : { decision: 'approve', arguments: { ...approval.arguments, ...decision.edit } };
    const decided = await stack.api('POST', `/v1/runs/${runId}/approvals/${approval.approvalId}`, body);
    expect(decided.status, JSON.stringify(decided.body)).toBe(202);
    await stack.waitForStatus(runId, 'completed', 300_000);
  }
  return runId;
}

async function approvalsOf(stack: TestStack, runIds: string[]) {
  const { rows } = await stack.db.query(
    `SELECT run_id AS "runId", tool, status, decided_by AS "decidedBy", edited_arguments AS "editedArguments" FROM approvals
     WHERE run_id = ANY($1::uuid[]) ORDER BY requested_at`,
    [runIds],
  );
  return rows;
}

async function linksOf(stack: TestStack, shadowId: string): Promise<{ originalRunId: string; runId: string | null }[]> {
  const { rows } = await stack.db.query(
    'SELECT original_run_id AS "originalRunId", run_id AS "runId" FROM shadow_runs WHERE shadow_id = $1', [shadowId],
  );
  return rows;
}

const statusOf = async (stack: TestStack, runId: string) => (await stack.api('GET', `/v1/runs/${runId}`)).body.status as string;
const ended = (status: string) => ['completed', 'failed', 'cancelled', 'step_limit', 'budget_exceeded'].includes(status);

describe('shadow replay as a workflow', () => {
  const stack = useTestStack();

  it('finishes every replay with its decisions when the worker dies in the middle, the API deciding none', async () => {
    const support = stack.bundles.find((b) => b.name === 'support')!;
    expect((await stack.api('PUT', '/v1/agents/support/staging', { bundleId: support.id })).status).toBe(200);
    const decisions: ('approve' | 'reject' | { edit: Record<string, unknown> })[] = [
      'approve', 'reject', { edit: { amount_cents: 500, reason: 'partial refund, confirmed with grace.hopper@mail.example.com' } }, 'approve', 'reject', 'approve',
    ];
    const originals = await Promise.all(decisions.map((d, i) => productionRun(stack, `Refund order ${1001 + (i % 4)}, I am grace.hopper@mail.example.com`, d)));

    const started = await stack.api('POST', '/v1/agents/support/shadow', { sample: originals.length });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const { shadowId } = started.body;
    expect(started.body.runs.map((r: any) => r.originalRunId).sort()).toEqual([...originals].sort());

    // In the middle: some replays started, not all ended, the shadow not complete.
    await until(async () => (await linksOf(stack, shadowId)).some((l) => l.runId), 'a replay started');
    await stack.worker.kill();
    const { rows: [middle] } = await stack.db.query(
      `SELECT completed_at, (SELECT count(*)::int FROM approvals a JOIN shadow_runs l USING (run_id)
                             WHERE l.shadow_id = $1 AND a.decided_by = $2) AS decided
       FROM shadows WHERE shadow_id = $1`,
      [shadowId, `shadow:${shadowId}`],
    );
    expect(middle.completed_at).toBeNull();
    // Some decisions, at least, are left to the next worker.
    expect(middle.decided).toBeLessThan(originals.length);
    await stack.startWorker();

    // The shadow's workflow marks it complete; nobody reads the report (which decided approvals before) until then.
    await until(async () => {
      const { rows } = await stack.db.query('SELECT completed_at FROM shadows WHERE shadow_id = $1', [shadowId]);
      return rows[0].completed_at !== null;
    }, 'the shadow completed');
    const links = await linksOf(stack, shadowId);
    expect(links).toHaveLength(originals.length);
    for (const link of links) expect(ended(await statusOf(stack, link.runId!))).toBe(true);

    // Each replay's approval decided as its original's, by the shadow's reviewer; the edit carried, anonymised.
    const original = new Map((await approvalsOf(stack, originals)).map((a) => [a.runId, a]));
    const replayed = await approvalsOf(stack, links.map((l) => l.runId!));
    expect(replayed).toHaveLength(originals.length);
    for (const approval of replayed) {
      const link = links.find((l) => l.runId === approval.runId)!;
      const asOriginal = original.get(link.originalRunId)!;
      expect(approval.decidedBy).toBe(`shadow:${shadowId}`);
      expect(approval.status).toBe(asOriginal.status);
      if (asOriginal.editedArguments) {
        expect(approval.editedArguments.amount_cents).toBe(500);
        expect(approval.editedArguments.reason).toMatch(/^partial refund, confirmed with user-[0-9a-f]+@example\.invalid$/);
      } else {
        expect(approval.editedArguments).toBeNull();
      }
    }
    expect(replayed.filter((a) => a.editedArguments)).toHaveLength(1);

    const report = await stack.api('GET', `/v1/agents/support/shadow/${shadowId}`);
    expect(report.body).toMatchObject({ done: true, aggregates: { runs: originals.length, finished: originals.length } });
    expect(JSON.stringify(report.body)).not.toContain('grace.hopper');
  }, 900_000);
});

describe('continuous shadowing', () => {
  const stack = useTestStack();

  async function mirrorsOf(runIds: string[]): Promise<Map<string, string>> {
    const { rows } = await stack.db.query(
      `SELECT l.original_run_id AS "originalRunId", l.run_id AS "runId" FROM shadow_runs l JOIN shadows s USING (shadow_id)
       WHERE s.kind = 'continuous' AND l.original_run_id = ANY($1::uuid[])`,
      [runIds],
    );
    return new Map(rows.map((r) => [r.originalRunId, r.runId]));
  }

  it('mirrors every production run at rate 1 and none at rate 0 to staging, and the standing report accumulates', async () => {
    const support = stack.bundles.find((b) => b.name === 'support')!;
    const refused = await stack.api('PUT', '/v1/agents/support/shadowing', { rate: 1 });
    expect(refused.status).toBe(400);
    expect((await stack.api('PUT', '/v1/agents/support/staging', { bundleId: support.id })).status).toBe(200);
    const bad = await stack.api('PUT', '/v1/agents/support/shadowing', { rate: 1.5, patterns: ['('], extra: true });
    expect(bad.status).toBe(400);
    expect(bad.body.error.problems.map((p: string) => p.split(':')[0]).sort()).toEqual(['body', 'patterns', 'rate']);

    const on = await stack.api('PUT', '/v1/agents/support/shadowing', { rate: 1, patterns: ['CUST-\\d+'], names: ['Ada Lovelace'] });
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    expect(on.body).toMatchObject({ agent: 'support', enabled: true, rate: 1, patterns: ['CUST-\\d+'], names: ['Ada Lovelace'] });
    const N = 3;
    const mirroredOriginals = await Promise.all(Array.from({ length: N }, (_, i) =>
      productionRun(stack, `Refund order ${1001 + i} for CUST-${4200 + i}, Ada Lovelace, ada@mail.example.com`, i === 1 ? 'reject' : 'approve')));
    const mirrors = await until(async () => {
      const found = await mirrorsOf(mirroredOriginals);
      return found.size === N && found;
    }, 'every production run mirrored');
    for (const runId of mirrors.values()) {
      const replay = (await stack.api('GET', `/v1/runs/${runId}`)).body;
      expect(replay.environment).toBe('staging');
      expect(replay.input).not.toMatch(/CUST-\d+|ada@mail|Lovelace/);
    }
    // The standing report: each pair scored once both ended, the mirrors' approvals decided as the originals'.
    const view = await until(async () => {
      const { body } = await stack.api('GET', '/v1/agents/support/shadowing');
      return body.report?.aggregates.finished === N && body;
    }, 'the standing report accumulated');
    expect(view.setting).toMatchObject({ enabled: true, rate: 1 });
    expect(view.report.aggregates.runs).toBe(N);
    expect(view.report.done).toBe(false);
    expect(new Set(view.report.items.map((i: any) => i.originalRunId))).toEqual(new Set(mirroredOriginals));
    const replayApprovals = await approvalsOf(stack, [...mirrors.values()]);
    expect(replayApprovals.map((a) => a.status).sort()).toEqual(['approved', 'approved', 'rejected']);
    expect(replayApprovals.every((a) => a.decidedBy === `shadow:${view.report.shadowId}`)).toBe(true);

    // Rate 0: none mirrored. (The later run at rate 1 is mirrored by the same workflow, after them.)
    expect((await stack.api('PUT', '/v1/agents/support/shadowing', { rate: 0 })).status).toBe(200);
    const unmirrored = await Promise.all([1001, 1002].map((order) => productionRun(stack, `Refund order ${order}`, 'reject')));
    const cli = await bosunIn(stack, ['shadow', 'continuous', 'support', '--rate', '1']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain("mirroring 100% of support's production runs to staging");
    const marker = await stack.startRun('Refund order 1003');
    await until(async () => (await mirrorsOf([marker])).size === 1, 'the marker run mirrored');
    expect((await mirrorsOf(unmirrored)).size).toBe(0);
    // Only real production traffic is mirrored: never a sandbox run (every eval case is one) nor a run pinned to a bundle.
    const notTraffic: string[] = [];
    for (const extra of [{ sandbox: true }, { bundleId: stack.bundles.find((b) => b.name === 'support')!.id }]) {
      const started = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Refund order 1002', ...extra });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      notTraffic.push(started.body.runId);
    }
    const later = await stack.startRun('Refund order 1004');
    await until(async () => (await mirrorsOf([later])).size === 1, 'a later run mirrored');
    expect((await mirrorsOf(notTraffic)).size).toBe(0);
    // Mirrors read live sandbox data, not tapes: the standing shadow cannot become golden cases.
    const golden = await bosunIn(stack, ['golden', 'add', '--shadow', view.report.shadowId, '--agent', 'support', '--suite', path.join(tmpdir(), 'bosun-never-written.jsonl')]);
    expect([golden.code, golden.stderr]).toEqual([2, expect.stringContaining(`${view.report.shadowId} is a continuous shadow`)]);
    const standing = await bosunIn(stack, ['shadow', 'standing', 'support']);
    expect(standing.code, standing.stderr).toBe(0);
    expect(standing.stdout).toContain('support: mirroring 100% of production runs');
    expect(standing.stdout).toMatch(/agreement\s+outcome \d+%/);
    expect(standing.stdout).not.toContain('ada@mail');
  }, 900_000);

  it("never holds a production run's start: with no worker it answers, and the mirror follows once one is back", async () => {
    await stack.worker.stop();
    const answered = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Refund order 1004' });
    expect(answered.status).toBe(202);
    expect(answered.body.environment).toBe('production');
    const runId = answered.body.runId;
    // The mirror is signalled after the run's row committed: the workflow has it, no staging run can exist yet.
    const handle = stack.temporal.workflow.getHandle(`shadowing:${stack.tenantId}:support`);
    await until(async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      return events.some((e) => {
        const data = e.workflowExecutionSignaledEventAttributes?.input?.payloads?.[0]?.data;
        return data !== undefined && data !== null && Buffer.from(data).toString().includes(runId);
      });
    }, 'the mirror signalled', 60_000);
    expect((await mirrorsOf([runId])).size).toBe(0);

    await stack.startWorker();
    const parked = await stack.waitForStatus(runId, 'awaiting_approval', 300_000);
    expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
    const done = await stack.waitForStatus(runId, 'completed', 300_000);
    expect(done.output).toMatch(/refunded/);
    const mirror = await until(async () => (await mirrorsOf([runId])).get(runId), 'the run mirrored');
    expect(mirror).not.toBe(runId);
  }, 900_000);
});
