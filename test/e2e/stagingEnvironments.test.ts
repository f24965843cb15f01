/**
 * Environments beyond the run row (issue 15 §1-3), end to end on the real dev server, worker and
 * PostgreSQL: the `environment` label of the run metrics, `deployment.environment.name` on a run's
 * spans, usage by environment (API and CLI), shadow selection by a deterministic sample rate, a
 * staging budget separate from production's, and a sandbox tenant whose rows staging tools see.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signalFigures } from '../../src/db/alerts';
import { terminalStatuses } from '../../src/shared/domain';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlpReceiver';
import { startTestStack, type TestStack } from '../support/testStack';
import { bosunIn } from '../support/cliInProcess';
import { parseMetrics, total, type Sample } from '../support/prometheusText';

/** The documented sample hash of a run: the first 32 bits of the MD5 of its ID, over 2^32. */
const runHash = (runId: string) => parseInt(createHash('md5').update(runId).digest('hex').slice(0, 8), 16) / 2 ** 32;

/** Retries `read` until it yields (metrics are counted after commit, spans leave in batches). */
async function eventually<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in time`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('staging environments: metrics, traces, usage, sampling, budgets and a sandbox tenant', () => {
  let receiver: OtlpReceiver;
  let stack: TestStack;
  let sandboxTenant: string;
  /** Production runs of the support agent, the shadow's originals. */
  const production: string[] = [];
  let stagingRunId: string;

  /** Rows of `tenant` in the demo's production tables. */
  async function rowsOf(tenant: string): Promise<{ refunds: number; refundedOrders: number; orders: number }> {
    const { rows } = await stack.db.query(
      `SELECT (SELECT count(*)::int FROM refunds WHERE tenant_id = $1) AS refunds,
              (SELECT count(*)::int FROM orders WHERE tenant_id = $1 AND status <> 'delivered') AS "refundedOrders",
              (SELECT count(*)::int FROM orders WHERE tenant_id = $1) AS orders`,
      [tenant],
    );
    return rows[0];
  }

  async function decidedRun(runId: string, decision: 'approve' | 'reject'): Promise<any> {
    const parked = await stack.waitForStatus(runId, 'awaiting_approval', 120_000);
    expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, decision)).status).toBe(202);
    return stack.waitForStatus(runId, 'completed', 120_000);
  }

  async function scrapeWorker(): Promise<Sample[]> {
    const url = stack.workerOutput.map((line) => /metrics served at (http:\/\/[^\s"]+)/.exec(line)?.[1]).find(Boolean);
    if (!url) throw new Error('the worker announced no metrics URL');
    return parseMetrics(await (await fetch(url)).text());
  }

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    stack = await startTestStack({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SEMCONV_STABILITY_OPT_IN: 'gen_ai_latest_experimental' },
      workerEnv: { BOSUN_METRICS_PORT: '0', BOSUN_TOOL_MODULES: './test/fixtures/toolPacks/sandboxRefunds.ts' },
    });
    sandboxTenant = `${stack.tenantId}:sandbox`;
    // The sandbox tenant's own order, which the real tenant does not have.
    await stack.db.query(
      `INSERT INTO orders (tenant_id, order_id, customer, item, amount_cents, status) VALUES ($1, '5555', 'Sandbox Person', 'Test kettle', 4200, 'delivered')`,
      [sandboxTenant],
    );
    for (const input of ['Refund order 1001', 'Refund order 1002', 'Refund order 1003', 'Refund order 1004']) {
      production.push(await stack.startRun(input));
    }
    for (const runId of production) await decidedRun(runId, 'reject');
  }, 600_000);
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  it('runs a staging run against the sandbox tenant: its read sees that tenant, its sandboxed write lands there, production rows stay', async () => {
    const { id: _, ...support } = stack.bundles.find((b) => b.name === 'support')!;
    const candidate = (await stack.api('POST', '/v1/bundles', { ...support, description: 'support, the candidate' })).body.bundleId;
    const foreign = await stack.api('PUT', '/v1/agents/support/staging', { bundleId: candidate, sandboxTenant: 'someone-else:sandbox' });
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.problems[0]).toMatch(/^sandboxTenant: must be .+:sandbox/);
    const malformed = await stack.api('PUT', '/v1/agents/support/staging', { bundleId: candidate, sandboxTenant: stack.tenantId });
    expect(malformed.status).toBe(400);
    const staged = await bosunIn(stack, ['stage', 'support', candidate, '--sandbox-tenant', sandboxTenant]);
    expect(staged.code, staged.stderr).toBe(0);
    expect(staged.stdout).toContain(`staged ${candidate} for support: runs with environment staging use it, sandboxed; their tools see tenant ${sandboxTenant}`);
    // Absent: kept when the bundle changes.
    expect((await stack.api('PUT', '/v1/agents/support/staging', { bundleId: candidate })).body.sandboxTenant).toBe(sandboxTenant);

    // Production and staging budgets, both generous for now.
    for (const environment of ['production', 'staging']) {
      const set = await stack.api('PUT', `/v1/budgets/day?environment=${environment}`, { limitUsd: 100, mode: 'hard' });
      expect(set.status, JSON.stringify(set.body)).toBe(200);
      expect(set.body).toMatchObject({ period: 'day', environment, limitUsd: 100 });
    }

    const realBefore = await rowsOf(stack.tenantId);
    const sandboxBefore = await rowsOf(sandboxTenant);
    // Started by the CLI, as docs/staging.md shows (POST /v1/runs with environment staging).
    const started = await bosunIn(stack, ['runs', 'start', 'support', 'Refund order 5555', '--environment', 'staging', '--json']);
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout).environment).toBe('staging');
    stagingRunId = JSON.parse(started.stdout).runId;
    const done = await decidedRun(stagingRunId, 'approve');
    const tools = done.steps.filter((s: any) => s.kind === 'tool');
    // Order 5555 exists only in the sandbox tenant: the live read saw its rows; the refund ran its sandbox implementation there.
    expect(tools.map((s: any) => [s.name, s.status])).toEqual([['lookup_order', 'ok'], ['issue_refund', 'ok']]);
    expect(done.output).toContain('order 5555');
    expect(await rowsOf(sandboxTenant)).toEqual({ ...sandboxBefore, refunds: sandboxBefore.refunds + 1, refundedOrders: sandboxBefore.refundedOrders + 1 });
    expect(await rowsOf(stack.tenantId)).toEqual(realBefore);
    const { rows: refunds } = await stack.db.query('SELECT tenant_id FROM refunds WHERE run_id = $1', [stagingRunId]);
    expect(refunds).toEqual([{ tenant_id: sandboxTenant }]);
    const { rows: audit } = await stack.db.query(
      `SELECT tenant_id, detail->>'sandboxTenant' AS sandbox, detail->>'sandbox' AS sandboxed FROM audit_log
       WHERE run_id = $1 AND action = 'tool.called' AND target = 'issue_refund'`,
      [stagingRunId],
    );
    expect(audit).toEqual([{ tenant_id: stack.tenantId, sandbox: sandboxTenant, sandboxed: 'true' }]);
  }, 300_000);

  it('labels the run metrics with the environment', async () => {
    const labels = { agent: 'support', tenant: stack.tenantId };
    const samples = await eventually('staging run counted', async () => {
      const scraped = await scrapeWorker();
      return total(scraped, 'bosun_runs_finished_total', { ...labels, environment: 'staging' }) === 1 ? scraped : undefined;
    });
    expect(total(samples, 'bosun_runs_finished_total', { ...labels, environment: 'production', status: 'completed' })).toBe(production.length);
    expect(total(samples, 'bosun_runs_started_total', { ...labels, environment: 'staging' })).toBe(1);
    expect(total(samples, 'bosun_runs_started_total', { ...labels, environment: 'production' })).toBe(production.length);
    expect(total(samples, 'bosun_run_duration_seconds_count', { agent: 'support', environment: 'staging' })).toBe(1);
    expect(total(samples, 'bosun_tokens_total', { ...labels, environment: 'staging', bucket: 'output' })).toBeGreaterThan(0);
    expect(total(samples, 'bosun_cost_usd_total', { ...labels, environment: 'staging' })).toBeGreaterThan(0);
    expect(total(samples, 'bosun_tool_calls_total', { agent: 'support', environment: 'staging', tool: 'issue_refund', outcome: 'ok' })).toBe(1);
    expect(total(samples, 'bosun_tool_calls_total', { agent: 'support', environment: 'production', tool: 'lookup_order' })).toBe(production.length);
    // Two values only: nothing else reads as an environment.
    const values = new Set(samples.filter((s) => s.name.startsWith('bosun_')).map((s) => s.labels.environment).filter(Boolean));
    expect([...values].sort()).toEqual(['production', 'staging']);
  });

  it("puts deployment.environment.name on a run's spans", async () => {
    const spansOf = (runId: string) => {
      const agent = receiver.spans.find((s) => s.name === 'invoke_agent support' && s.attributes['bosun.run.id'] === runId);
      return agent && receiver.spans.filter((s) => s.traceId === agent.traceId);
    };
    // The production run's refund was rejected, so never executed.
    const runs = [
      [stagingRunId, 'staging', ['invoke_agent support', 'chat gpt-4o-mini', 'execute_tool lookup_order', 'execute_tool issue_refund']],
      [production[0]!, 'production', ['invoke_agent support', 'chat gpt-4o-mini', 'execute_tool lookup_order']],
    ] as const;
    for (const [runId, environment, names] of runs) {
      const trace = await eventually(`spans of the ${environment} run`, async () => {
        const spans = spansOf(runId);
        return spans && names.every((n) => spans.some((s) => s.name === n)) ? spans : undefined;
      });
      for (const span of trace.filter((s) => (names as readonly string[]).includes(s.name))) {
        expect([span.name, span.attributes['deployment.environment.name']]).toEqual([span.name, environment]);
      }
    }
  });

  it('reports usage by environment, through the API and the CLI', async () => {
    const byEnvironment = await stack.api('GET', '/v1/usage?groupBy=environment');
    expect(byEnvironment.status).toBe(200);
    expect(byEnvironment.body.totals.map((t: any) => [t.key, t.runs])).toEqual([['production', production.length], ['staging', 1]]);
    const stagingOnly = await stack.api('GET', '/v1/usage?groupBy=agent&environment=staging');
    expect(stagingOnly.body.totals.map((t: any) => [t.key, t.runs])).toEqual([['support', 1]]);
    expect(stagingOnly.body.totals[0].costUsd).toBe(byEnvironment.body.totals[1].costUsd);
    const bad = await stack.api('GET', '/v1/usage?environment=dev');
    expect(bad.status).toBe(400);
    expect(bad.body.error.problems[0]).toMatch(/^environment:/);

    const cli = await bosunIn(stack, ['usage', '--group-by', 'environment', '--environment', 'production', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout).totals.map((t: any) => [t.key, t.runs])).toEqual([['production', production.length]]);
    const table = await bosunIn(stack, ['usage', '--group-by', 'environment']);
    expect(table.stdout).toMatch(/^ENVIRONMENT\s+RUNS/);
    expect(table.stdout).toMatch(/\nstaging\s+1\s/);
  });

  it('spends staging runs from the staging budget only', async () => {
    const { body } = await stack.api('GET', '/v1/budgets');
    const budget = (environment: string) => body.budgets.find((b: any) => b.environment === environment);
    const staging = (await stack.api('GET', `/v1/runs/${stagingRunId}`)).body;
    // The staging run's spend is staging's, none of it production's (whose runs ran before the budget was set).
    expect(budget('staging').spentUsd).toBeGreaterThan(0);
    expect(budget('staging').spentUsd).toBeCloseTo(staging.usage.costUsd, 5);
    expect(budget('production').spentUsd).toBe(0);
  });

  it('selects production runs by a deterministic sample rate, and refuses a rate that makes no sense', async () => {
    for (const [body, problem] of [
      [{ sample: 2, sampleRate: 0.5 }, 'sampleRate: give sample (a size) or sampleRate (a rate), not both'],
      [{ sampleRate: 0 }, 'sampleRate:'],
      [{ sampleRate: 1.5 }, 'sampleRate:'],
      [{ sampleRate: 'half' }, 'sampleRate:'],
    ] as const) {
      const refused = await stack.api('POST', '/v1/agents/support/shadow', body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error.problems.join('\n')).toContain(problem);
    }
    // A rate between the second and third lowest hashes: exactly the two runs below it.
    const hashes = production.map(runHash).sort((a, b) => a - b);
    const rate = (hashes[1]! + hashes[2]!) / 2;
    const expected = production.filter((runId) => runHash(runId) < rate).sort();
    expect(expected).toHaveLength(2);
    // The staging budget is now all but spent: every replay ends at its first model call.
    expect((await stack.api('PUT', '/v1/budgets/day?environment=staging', { limitUsd: 0.000001, mode: 'hard' })).status).toBe(200);
    const productionSpent = async () => (await stack.api('GET', '/v1/budgets')).body.budgets.find((b: any) => b.environment === 'production').spentUsd;
    const spentBefore = await productionSpent();

    const selections: string[][] = [];
    const replays: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const started = await stack.api('POST', '/v1/agents/support/shadow', { sampleRate: rate, statuses: ['completed'] });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      selections.push(started.body.runs.map((r: any) => r.originalRunId).sort());
      // The shadow's workflow starts the replays: their run IDs appear in the report as it does.
      const { shadowId } = started.body;
      const items = await eventually('the replays started', async () => {
        const report = (await stack.api('GET', `/v1/agents/support/shadow/${shadowId}`)).body;
        return report.items.length === started.body.runs.length && report.items.every((i: any) => i.runId) ? report.items : undefined;
      });
      replays.push(...items.map((i: any) => i.runId));
    }
    expect(selections).toEqual([expected, expected]);

    // A replay that runs out of the staging budget ends as budget_exceeded ...
    for (const runId of replays) {
      const ended = await stack.waitForRun(runId, (r) => terminalStatuses.includes(r.status), 120_000);
      expect([ended.status, ended.error?.code]).toEqual(['budget_exceeded', 'budget_exceeded']);
      expect(ended.error.message).toContain("the tenant's staging day budget of $0.000001");
    }
    // ... and production's budget and runs go on as before.
    expect(await productionSpent()).toBe(spentBefore);
    const after = await decidedRun(await stack.startRun('Refund order 1001'), 'reject');
    expect(after.status).toBe('completed');
    expect(await productionSpent()).toBeGreaterThan(spentBefore);
  }, 300_000);

  it("keeps staging runs out of the agents' alert signals, and in the tenant's spend", async () => {
    const rule = { agent: 'support', bundleId: null, tenantId: stack.tenantId };
    const { rows } = await stack.db.query("SELECT environment, count(*)::int AS n FROM runs WHERE tenant_id = $1 AND finished_at IS NOT NULL GROUP BY 1", [stack.tenantId]);
    const finished = Object.fromEntries(rows.map((r: any) => [r.environment, r.n]));
    expect(finished.staging).toBeGreaterThan(0);
    // Every production run completed; the failed replays and the staging run are staging's.
    const success = (await signalFigures(stack.db, { ...rule, signal: 'task_success_rate' }, 3600, 0)).get('*');
    expect(success).toEqual({ samples: finished.production, value: 1 });
    const spend = (await signalFigures(stack.db, { ...rule, signal: 'cost_per_tenant_hour_usd' }, 3600, 0)).get('*');
    const { body } = await stack.api('GET', '/v1/usage?groupBy=tenant');
    expect(spend!.value).toBeCloseTo(body.totals[0].costUsd, 5);
  });
  it("keeps continuous shadowing's names from runner keys and what a change leaves out; refuses unknown agents and queries it does not know", async () => {
    const shadowing = '/v1/agents/support/shadowing';
    const set = await stack.api('PUT', shadowing, { enabled: false, rate: 0.5, names: ['Ada Lovelace'], patterns: ['CUST-\\d+'] });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect([set.body.names, set.body.nameCount]).toEqual([['Ada Lovelace'], 1]);
    // Absent names, patterns and rate keep the stored ones, through the API and the CLI (--off needs no --rate).
    const kept = await stack.api('PUT', shadowing, { enabled: false });
    expect([kept.status, kept.body.rate, kept.body.names, kept.body.patterns]).toEqual([200, 0.5, ['Ada Lovelace'], ['CUST-\\d+']]);
    const off = await bosunIn(stack, ['shadow', 'continuous', 'support', '--off']);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toContain("not mirroring support's production runs");
    const notNumber = await bosunIn(stack, ['shadow', 'continuous', 'support', '--rate', 'abc']);
    expect([notNumber.code, notNumber.stderr]).toEqual([2, expect.stringContaining('--rate must be a number from 0 to 1')]);
    // The names are real customer names: an admin sees them, a runner key only how many there are.
    const runner = (await stack.api('POST', '/v1/keys', { roles: ['runner'] })).body.key;
    const asRunner = await stack.api('GET', shadowing, undefined, { authorization: `Bearer ${runner}` });
    expect(asRunner.status).toBe(200);
    expect(asRunner.body.setting).not.toHaveProperty('names');
    expect(asRunner.body.setting.nameCount).toBe(1);
    expect((await stack.api('GET', shadowing)).body.setting.names).toEqual(['Ada Lovelace']);

    // An agent the tenant never published: 404, and nothing stored.
    expect((await stack.api('PUT', '/v1/agents/nosuchagent/promotion-gate', { requireStaging: true, requireEval: false })).status).toBe(404);
    expect((await stack.api('GET', '/v1/agents/nosuchagent/shadowing')).status).toBe(404);
    expect((await stack.api('PUT', '/v1/agents/nosuchagent/shadowing', { enabled: false, rate: 0 })).status).toBe(404);
    const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM shadowing_settings WHERE tenant_id = $1 AND agent = $2', [stack.tenantId, 'nosuchagent']);
    expect(rows[0].n).toBe(0);

    // Queries: an unknown environment, a parameter named as the query's (not the body's), until before since.
    const nope = await stack.api('GET', '/v1/budgets?environment=nope');
    expect([nope.status, nope.body.error.problems[0]]).toEqual([400, expect.stringMatching(/^environment: /)]);
    const foo = await stack.api('PUT', '/v1/budgets/day?environment=staging&foo=bar', { limitUsd: 100, mode: 'hard' });
    expect(foo.status).toBe(400);
    expect(foo.body.error.problems).toEqual([expect.stringMatching(/^query: .*foo/)]);
    const backwards = await stack.api('POST', '/v1/agents/support/shadow', { since: '2026-11-02T00:00:00Z', until: '2026-11-01T00:00:00Z' });
    expect([backwards.status, backwards.body.error.problems]).toEqual([400, [expect.stringMatching(/^until: must be after since/)]]);
  });
});
