/**
 * Concurrency and fairness on a real stack: at most BOSUN_MAX_RUNNING_PER_TENANT runs of a tenant and
 * BOSUN_MAX_RUNNING_GLOBAL runs in all are `running` at once; the rest wait as `queued`, first in
 * first out within a tenant, showing their place in line, and none is dropped; a tenant that floods
 * the system does not starve another. The file has a database of its own, so "global" means these
 * tenants only (the other files' runs do not take slots here).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { seedApiKeys } from '../../src/db/apiKeys';
import { createPool, type Db } from '../../src/db/pool';
import { seedAgents, seedDemoOrders } from '../../src/dev/demoData';
import { supportDemoScript } from '../../src/dev/demoScript';
import { countRefunds, startTestStack, type TestStack } from '../support/testStack';
import { dropDatabase, freshDatabase } from '../support/provision';

const PER_TENANT = 3;
const GLOBAL = 4;
const MODEL_LATENCY_MS = 500;

interface Tenant {
  tenantId: string;
  headers: Record<string, string>;
}

describe('fair admission of runs', () => {
  let stack: TestStack;
  let db: Db;
  let databaseUrl: string;

  beforeAll(async () => {
    const url = new URL(inject('databaseUrl'));
    url.pathname = `${url.pathname}_fair`;
    databaseUrl = url.toString();
    await freshDatabase(databaseUrl);
    db = createPool(databaseUrl, 3);
    stack = await startTestStack({
      services: { databaseUrl, temporalAddress: inject('temporalAddress') },
      workerEnv: { BOSUN_MAX_RUNNING_PER_TENANT: String(PER_TENANT), BOSUN_MAX_RUNNING_GLOBAL: String(GLOBAL) },
      script: {
        // Every model call takes a while, so runs overlap; "slowly" ones hold their slot for seconds.
        rules: [{ when: { role: 'user', matches: 'slowly' }, reply: { content: 'Took my time.' }, latencyMs: 4000 }, ...supportDemoScript.rules],
        latencyMs: MODEL_LATENCY_MS,
      },
    });
  });
  // A sampler of a failed test stops with the file.
  let closed = false;
  afterAll(async () => {
    closed = true;
    await sleep(100);
    await stack?.close();
    await db?.end();
    if (databaseUrl) await dropDatabase(databaseUrl);
  });

  /** Another tenant on the same stack (same worker, same limits): its own API key, agents and orders. */
  async function newTenant(): Promise<Tenant> {
    const tenantId = `tenant_${randomBytes(6).toString('hex')}`;
    const key = `key_${randomBytes(12).toString('hex')}`;
    await seedApiKeys(stack.db, [{ key, tenantId, roles: ['runner', 'approver', 'admin'] }]);
    await seedDemoOrders(stack.db, tenantId);
    await seedAgents(stack.db, tenantId, stack.env.BOSUN_AGENTS_DIR!);
    return { tenantId, headers: { authorization: `Bearer ${key}` } };
  }

  async function start(tenant: Tenant, input: string): Promise<string> {
    const res = await stack.api('POST', '/v1/runs', { agent: 'support', input }, tenant.headers);
    if (res.status !== 202) throw new Error(`start failed: ${res.status} ${JSON.stringify(res.body)}`);
    expect(res.body.status).toBe('queued');
    return res.body.runId;
  }

  /** `count` runs started by `callers` concurrent callers; the IDs in no particular order. */
  async function startMany(tenant: Tenant, count: number, callers: number, input: (i: number) => string): Promise<string[]> {
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: callers }, async () => {
        for (let i = next++; i < count; i = next++) ids.push(await start(tenant, input(i)));
      }),
    );
    return ids;
  }

  const view = async (tenant: Tenant, runId: string) => (await stack.api('GET', `/v1/runs/${runId}`, undefined, tenant.headers)).body;

  async function waitFor(tenant: Tenant, runId: string, done: (run: any) => boolean, timeoutMs = 60_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await view(tenant, runId);
      if (done(run)) return run;
      if (Date.now() > deadline) throw new Error(`run ${runId} did not get there in time; last seen: ${JSON.stringify(run)}`);
      await sleep(100);
    }
  }

  const waitForAll = (tenant: Tenant, ids: string[], status: string, timeoutMs?: number) =>
    Promise.all(ids.map((id) => waitFor(tenant, id, (run) => run.status === status, timeoutMs)));

  /** Samples how many runs are `running`, per tenant and in all, until stopped. */
  function sampleRunning() {
    const maxByTenant = new Map<string, number>();
    let maxTotal = 0;
    let samples = 0;
    let stopped = false;
    const loop = (async () => {
      while (!stopped && !closed) {
        const { rows } = await db.query(`SELECT tenant_id, count(*)::int AS n FROM runs WHERE status = 'running' GROUP BY tenant_id`);
        let total = 0;
        for (const { tenant_id, n } of rows) {
          maxByTenant.set(tenant_id, Math.max(maxByTenant.get(tenant_id) ?? 0, n));
          total += n;
        }
        maxTotal = Math.max(maxTotal, total);
        samples += 1;
        await sleep(20);
      }
    })();
    return {
      async stop() {
        stopped = true;
        await loop;
        return { max: (t: Tenant) => maxByTenant.get(t.tenantId) ?? 0, maxTotal, samples };
      },
    };
  }

  /** Admission figures of runs from the database: ms from creation to admission, and admission order. */
  async function admissions(ids: string[]) {
    const { rows } = await db.query(
      `SELECT run_id, tenant_id, status, started_at, EXTRACT(EPOCH FROM (started_at - created_at)) * 1000 AS wait_ms
       FROM runs WHERE run_id = ANY($1) ORDER BY created_at, run_id`,
      [ids],
    );
    return rows as { run_id: string; tenant_id: string; status: string; started_at: Date; wait_ms: number }[];
  }

  it('keeps both limits, admits each tenant\'s runs in the order they came, and drops none', async () => {
    const a = await newTenant();
    const b = await newTenant();
    const sampler = sampleRunning();
    // One caller per tenant, so each tenant's creation order is well defined; both tenants at once.
    const sequential = async (t: Tenant, n: number, tag: string) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) ids.push(await start(t, `${tag}${i}: hello`));
      return ids;
    };
    const [aRuns, bRuns] = await Promise.all([sequential(a, 12, 'fifo-A'), sequential(b, 5, 'fifo-B')]);
    const done = [...(await waitForAll(a, aRuns, 'completed')), ...(await waitForAll(b, bRuns, 'completed'))];
    const seen = await sampler.stop();

    expect(seen.samples).toBeGreaterThan(20);
    const wiring = 'the worker applies BOSUN_MAX_RUNNING_* only when src/worker/main.ts passes `limits: config.limits` to createActivities';
    expect(seen.max(a), wiring).toBe(PER_TENANT);
    expect(seen.max(b)).toBeLessThanOrEqual(PER_TENANT);
    expect(seen.maxTotal, wiring).toBe(GLOBAL);
    // The model itself never had more calls in flight than the limits allow.
    const calls = stack.model.requests.filter((r) => /fifo-[AB]\d+/.test(r.messages[1]?.content ?? ''));
    expect(calls).toHaveLength(aRuns.length + bRuns.length);
    expect(maxOverlap(calls.map((r) => r.at), MODEL_LATENCY_MS)).toBeLessThanOrEqual(GLOBAL);
    expect(maxOverlap(calls.filter((r) => r.messages[1]!.content!.startsWith('fifo-A')).map((r) => r.at), MODEL_LATENCY_MS)).toBeLessThanOrEqual(PER_TENANT);

    // Nothing dropped: every run finished, with its answer.
    expect(done.map((r) => r.status)).toEqual(Array(aRuns.length + bRuns.length).fill('completed'));
    expect(done.every((r) => r.output === 'I can help with orders and refunds.' && r.queuePosition === null && r.startedAt)).toBe(true);

    // First in, first out within each tenant: admission order is creation order.
    for (const ids of [aRuns, bRuns]) {
      const rows = await admissions(ids);
      expect(rows.map((r) => r.run_id)).toEqual(ids);
      const byAdmission = [...rows].sort((x, y) => x.started_at.getTime() - y.started_at.getTime()).map((r) => r.run_id);
      expect(byAdmission).toEqual(ids);
    }
    const waits = (await admissions(aRuns)).map((r) => r.wait_ms);
    // The tail of A's line really waited (the limit was what held it, not luck).
    expect(Math.max(...waits)).toBeGreaterThan(2 * MODEL_LATENCY_MS);
    console.log(`fair queue: ${aRuns.length} + ${bRuns.length} runs, max running ${seen.max(a)}/${seen.max(b)} per tenant, ${seen.maxTotal} in all; A's waits ${waits.map((w) => Math.round(w)).join(', ')} ms`);
  });

  it('shows each queued run its place in its own tenant\'s line', async () => {
    const a = await newTenant();
    const b = await newTenant();
    const aRuns = await startMany(a, 12, 1, (i) => `line-A${i}`);
    // B's line is its own: however long A's is, a B run has at most B's older runs ahead of it.
    const bRuns = await startMany(b, 5, 1, (i) => `line-B${i}`);
    const bViews = await Promise.all(bRuns.map((id) => view(b, id)));
    expect(bViews.filter((run) => run.status === 'queued').length).toBeGreaterThanOrEqual(1);
    for (const run of bViews) {
      if (run.status === 'queued') expect(run.queuePosition).toBeLessThanOrEqual(bRuns.indexOf(run.runId) + 1);
      else expect(run.queuePosition).toBeNull();
    }

    // Follow A's last run from the back of the line to the front.
    const last = aRuns.at(-1)!;
    const positions: number[] = [];
    for (;;) {
      const run = await view(a, last);
      if (run.status !== 'queued') {
        expect(run.queuePosition).toBeNull();
        break;
      }
      if (positions.at(-1) !== run.queuePosition) positions.push(run.queuePosition);
      await sleep(50);
    }
    expect(positions[0]).toBeGreaterThanOrEqual(5);
    // One admission pass can fill all of a tenant's free slots, so the last place seen may be up to that many.
    expect(positions.at(-1)).toBeLessThanOrEqual(PER_TENANT);
    expect(positions.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeLessThan(positions[i - 1]!);

    await waitForAll(a, aRuns, 'completed');
    await waitForAll(b, bRuns, 'completed');
  });

  it('does not let a tenant that floods the system starve another', async () => {
    const a = await newTenant();
    const b = await newTenant();
    // Either tenant alone may fill every slot: only fairness keeps a slot coming B's way.
    await db.query(`INSERT INTO tenant_limits (tenant_id, max_running) VALUES ($1, $3), ($2, $3)`, [a.tenantId, b.tenantId, GLOBAL]);
    const sampler = sampleRunning();
    const aRuns = await startMany(a, 40, 8, (i) => `flood-A${i}`);
    const bRuns = await startMany(b, 2, 2, (i) => `flood-B${i}`);
    await waitForAll(a, aRuns, 'completed', 120_000);
    await waitForAll(b, bRuns, 'completed');
    const seen = await sampler.stop();

    expect(seen.maxTotal).toBe(GLOBAL);
    expect(seen.max(a)).toBe(GLOBAL);
    const aRows = await admissions(aRuns);
    const bRows = await admissions(bRuns);
    const lastB = Math.max(...bRows.map((r) => r.started_at.getTime()));
    const aAfterB = aRows.filter((r) => r.started_at.getTime() > lastB).length;
    const p50 = (rows: { wait_ms: number }[]) => median(rows.map((r) => r.wait_ms));
    console.log(
      `fair queue flood: A ${aRuns.length} runs p50 wait ${Math.round(p50(aRows))} ms (max ${Math.round(Math.max(...aRows.map((r) => r.wait_ms)))}), ` +
        `B ${bRuns.length} runs p50 wait ${Math.round(p50(bRows))} ms; ${aAfterB} of A's runs admitted after B's last`,
    );
    // Every B run got in long before A's backlog drained (first come, first served would admit B's
    // runs after all of A's), and even B's longest wait was shorter than A's median one. (How much
    // shorter depends on how loaded the machine is: B waits about one run's length for a slot to
    // free, A several, and a run's length stretches with the load, so no ratio is asserted.)
    expect(aAfterB).toBeGreaterThanOrEqual(aRuns.length / 2);
    expect(Math.max(...bRows.map((r) => r.wait_ms))).toBeLessThan(p50(aRows));
  });

  it('cancels a queued run without a slot, and the line moves up', async () => {
    const d = await newTenant();
    await db.query(`INSERT INTO tenant_limits (tenant_id, max_running) VALUES ($1, 1)`, [d.tenantId]);
    const slow = await start(d, 'slowly, please');
    await waitFor(d, slow, (run) => run.status === 'running');
    const [first, second] = [await start(d, 'queued first'), await start(d, 'queued second')];
    expect((await view(d, second)).queuePosition).toBe(2);

    expect((await stack.api('POST', `/v1/runs/${first}/cancel`, undefined, d.headers)).status).toBe(202);
    const cancelled = await waitFor(d, first, (run) => run.status === 'cancelled');
    expect(cancelled.startedAt).toBeNull();
    expect(cancelled.steps).toEqual([]);
    expect((await view(d, second)).queuePosition).toBe(1);
    expect((await view(d, slow)).status).toBe('running');

    const done = await waitFor(d, second, (run) => run.status === 'completed');
    expect(Date.parse(done.startedAt)).toBeGreaterThan(Date.parse((await view(d, slow)).finishedAt) - 1);
  });

  it('holds no slot while a run waits for a human, and takes one again, first in line, after the decision', async () => {
    const c = await newTenant();
    const sampler = sampleRunning();
    const refunds = [await start(c, 'Refund order 1001'), await start(c, 'Refund order 1002'), await start(c, 'Refund order 1003')];
    const parked = await Promise.all(refunds.map((id) => waitFor(c, id, (run) => run.status === 'awaiting_approval')));

    // Three parked runs, and the tenant's three slots are free: three slow runs take them at once.
    const slow = [await start(c, 'slowly 1'), await start(c, 'slowly 2'), await start(c, 'slowly 3')];
    await waitForAll(c, slow, 'running', 5_000);
    // Decided while the slots are taken: the refunds queue again, ahead of runs that came after them.
    for (const run of parked) {
      const decided = await stack.api('POST', `/v1/runs/${run.runId}/approvals/${run.pendingApprovals[0].approvalId}`, { decision: 'approve' }, c.headers);
      expect(decided.status).toBe(202);
    }
    const later = await start(c, 'hello after the refunds');
    await Promise.all(refunds.map((id) => waitFor(c, id, (run) => run.status === 'queued')));
    // Read once all three are back in line: a position counts the runs queued ahead at that moment.
    const requeued = await Promise.all(refunds.map(async (id) => (await stack.api('GET', `/v1/runs/${id}`, undefined, c.headers)).body));
    expect(requeued.map((r) => r.queuePosition).sort()).toEqual([1, 2, 3]);
    expect((await view(c, later)).queuePosition).toBe(4);

    const done = await waitForAll(c, refunds, 'completed');
    await waitForAll(c, [...slow, later], 'completed');
    const seen = await sampler.stop();
    expect(seen.max(c)).toBe(PER_TENANT);
    expect(done.map((r) => r.output)).toEqual([
      'Done: I refunded 12900 cents for order 1001.', 'Done: I refunded 8950 cents for order 1002.', 'Done: I refunded 24900 cents for order 1003.',
    ]);
    for (const id of refunds) expect(await countRefunds(db, id)).toBe(1);
    // The refunds took their slots again before the run that queued after them took one.
    const { rows } = await db.query('SELECT run_id, admitted_at FROM runs WHERE run_id = ANY($1)', [[...refunds, later]]);
    const admittedAt = (id: string) => rows.find((r) => r.run_id === id)!.admitted_at.getTime();
    // (One admission pass fills every free slot at once, so a refund and the later run may share a timestamp.)
    for (const id of refunds) expect(admittedAt(id)).toBeLessThanOrEqual(admittedAt(later));
  });
});

/** The most intervals [t, t + length) that overlap at any instant. */
function maxOverlap(starts: number[], length: number): number {
  const edges = starts.flatMap((t) => [[t, 1], [t + length, -1]] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let current = 0;
  let max = 0;
  for (const [, delta] of edges) max = Math.max(max, (current += delta));
  return max;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

