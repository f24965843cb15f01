/**
 * The cross-tenant matrix: every endpoint that takes an ID, called by tenant B with tenant A's IDs,
 * answers exactly as it does for an ID that exists nowhere (404, or an empty list), and leaves every
 * one of A's rows as it was.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type ApiResponse, type TestStack } from '../support/testStack';

/** The IDs a request names: A's real ones, or made-up ones of the same shape. */
interface Ids {
  runId: string;
  approvalId: string;
  bundleId: string;
  otherBundleId: string;
  agent: string;
  rolloutId: string;
  keyId: string;
}

interface Case {
  name: string;
  method: string;
  path: (ids: Ids) => string;
  body?: (ids: Ids) => unknown;
  /** 404, or the status of an empty answer (then `empty` says what empty looks like). */
  status: number;
  empty?: unknown;
}

const cases: Case[] = [
  { name: 'get a run', method: 'GET', path: (i) => `/v1/runs/${i.runId}`, status: 404 },
  { name: 'cancel a run', method: 'POST', path: (i) => `/v1/runs/${i.runId}/cancel`, status: 404 },
  { name: "stream a run's events", method: 'GET', path: (i) => `/v1/runs/${i.runId}/events`, status: 404 },
  {
    name: 'approve', method: 'POST', path: (i) => `/v1/runs/${i.runId}/approvals/${i.approvalId}`,
    body: () => ({ decision: 'approve' }), status: 404,
  },
  {
    name: 'approve with edited arguments', method: 'POST', path: (i) => `/v1/runs/${i.runId}/approvals/${i.approvalId}`,
    body: () => ({ decision: 'approve', arguments: { order_id: '1001', amount_cents: 1 } }), status: 404,
  },
  {
    name: 'reject', method: 'POST', path: (i) => `/v1/runs/${i.runId}/approvals/${i.approvalId}`,
    body: () => ({ decision: 'reject' }), status: 404,
  },
  {
    name: 'list runs by bundle', method: 'GET', path: (i) => `/v1/runs?bundleId=${encodeURIComponent(i.bundleId)}`,
    status: 200, empty: { runs: [], nextCursor: null },
  },
  {
    name: 'list runs by agent', method: 'GET', path: (i) => `/v1/runs?agent=${i.agent}`, status: 200, empty: { runs: [], nextCursor: null },
  },
  {
    // A pinned bundle is part of a valid-looking body, so this endpoint answers 400 for any bundle it cannot see.
    name: 'start a run pinned to a bundle', method: 'POST', path: () => '/v1/runs',
    body: (i) => ({ agent: i.agent, input: 'Refund order 1001', bundleId: i.bundleId }), status: 400,
  },
  { name: 'get a bundle', method: 'GET', path: (i) => `/v1/bundles/${i.bundleId}`, status: 404 },
  { name: 'diff two bundles', method: 'GET', path: (i) => `/v1/bundles/${i.bundleId}/diff/${i.otherBundleId}`, status: 404 },
  { name: "list an agent's bundles", method: 'GET', path: (i) => `/v1/agents/${i.agent}/bundles`, status: 200, empty: { bundles: [] } },
  { name: 'get an agent', method: 'GET', path: (i) => `/v1/agents/${i.agent}`, status: 404 },
  {
    // Like starting a pinned run: a bundle the caller cannot see is a 400 on the body.
    name: 'deploy a bundle', method: 'POST', path: (i) => `/v1/agents/${i.agent}/deployments`,
    body: (i) => ({ bundleId: i.otherBundleId, strategy: 'immediate' }), status: 400,
  },
  {
    name: 'start a canary', method: 'POST', path: (i) => `/v1/agents/${i.agent}/deployments`,
    body: (i) => ({ bundleId: i.otherBundleId, strategy: 'canary' }), status: 400,
  },
  { name: 'roll back', method: 'POST', path: (i) => `/v1/agents/${i.agent}/rollback`, status: 404 },
  { name: 'pause a rollout', method: 'POST', path: (i) => `/v1/agents/${i.agent}/rollout/pause`, body: () => ({}), status: 404 },
  { name: 'resume a rollout', method: 'POST', path: (i) => `/v1/agents/${i.agent}/rollout/resume`, body: () => ({}), status: 404 },
  { name: 'abort a rollout', method: 'POST', path: (i) => `/v1/agents/${i.agent}/rollout/abort`, body: () => ({}), status: 404 },
  { name: 'get a rollout', method: 'GET', path: (i) => `/v1/agents/${i.agent}/rollouts/${i.rolloutId}`, status: 404 },
  { name: "get a rollout under one's own agent", method: 'GET', path: (i) => `/v1/agents/support/rollouts/${i.rolloutId}`, status: 404 },
  { name: 'revoke a key', method: 'DELETE', path: (i) => `/v1/keys/${i.keyId}`, status: 404 },
  { name: "read a run's audit", method: 'GET', path: (i) => `/v1/audit?runId=${i.runId}`, status: 200, empty: { entries: [] } },
];

describe('cross-tenant matrix', () => {
  let a: TestStack;
  let b: TestStack;
  let ids: Ids;

  beforeAll(async () => {
    [a, b] = await Promise.all([startTestStack(), startTestStack()]);

    // A: an agent only A has, with a canary rollout that holds still, a run parked on approval, a key.
    const { id: _, ...support } = a.bundles.find((x) => x.name === 'support')!;
    const publish = async (description: string) => {
      const res = await a.api('POST', '/v1/bundles', { ...support, name: 'alpha-only', description });
      expect(res.status).toBe(201);
      return res.body.bundleId as string;
    };
    const stable = await publish('stable');
    const canary = await publish('canary');
    expect((await a.api('POST', '/v1/agents/alpha-only/deployments', { bundleId: stable, strategy: 'immediate' })).status).toBe(201);
    const rollout = await a.api('POST', '/v1/agents/alpha-only/deployments', {
      bundleId: canary, strategy: 'canary', checkIntervalSeconds: 3600,
      stages: [{ weight: 10, holdSeconds: 3600, minRuns: 1000 }, { weight: 100, holdSeconds: 3600, minRuns: 1000 }],
    });
    expect(rollout.status).toBe(202);
    await waitFor(async () => (await a.api('GET', '/v1/agents/alpha-only')).body.canaryWeight === 10);

    const runId = await a.startRun('Refund order 1001', {}, 'alpha-only');
    const parked = await a.waitForStatus(runId, 'awaiting_approval');
    const key = await a.api('POST', '/v1/keys', { roles: ['runner'], name: 'a-only' });
    expect(key.status).toBe(201);

    ids = {
      runId, approvalId: parked.pendingApprovals[0].approvalId, bundleId: stable, otherBundleId: canary,
      agent: 'alpha-only', rolloutId: rollout.body.rolloutId, keyId: key.body.keyId,
    };
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  /** Everything tenant A has in the database. */
  async function snapshotOfA() {
    const q = async (sql: string) => (await a.db.query(sql, [a.tenantId])).rows;
    return {
      runs: await q('SELECT * FROM runs WHERE tenant_id = $1 ORDER BY run_id'),
      approvals: await q('SELECT * FROM approvals WHERE tenant_id = $1 ORDER BY approval_id'),
      steps: await q('SELECT s.* FROM run_steps s JOIN runs r USING (run_id) WHERE r.tenant_id = $1 ORDER BY s.run_id, s.step, s.ordinal'),
      events: await q('SELECT e.run_id, e.seq, e.key FROM run_events e JOIN runs r USING (run_id) WHERE r.tenant_id = $1 ORDER BY e.run_id, e.seq'),
      bundles: await q('SELECT * FROM bundles WHERE tenant_id = $1 ORDER BY bundle_id'),
      deployments: await q('SELECT * FROM deployments WHERE tenant_id = $1 ORDER BY agent'),
      deploymentHistory: await q('SELECT * FROM deployment_history WHERE tenant_id = $1 ORDER BY id'),
      rollouts: await q('SELECT * FROM rollouts WHERE tenant_id = $1 ORDER BY rollout_id'),
      decisions: await q('SELECT d.* FROM rollout_decisions d JOIN rollouts r USING (rollout_id) WHERE r.tenant_id = $1 ORDER BY d.id'),
      keys: await q('SELECT * FROM api_keys WHERE tenant_id = $1 ORDER BY key_id'),
      audit: await q('SELECT * FROM audit_log WHERE tenant_id = $1 ORDER BY id'),
      refunds: await q('SELECT * FROM refunds WHERE tenant_id = $1 ORDER BY refund_id'),
    };
  }

  /** IDs of the same shapes that exist in no tenant. */
  const madeUp = (): Ids => ({
    runId: randomUUID(), approvalId: randomUUID(), bundleId: 'ghost@000000000000', otherBundleId: 'ghost@111111111111',
    agent: 'ghost', rolloutId: randomUUID(), keyId: 'key_000000000000',
  });

  /** The answer with every ID replaced by its name, so answers about different IDs compare. */
  function normalised(res: ApiResponse, named: Ids): unknown {
    let text = JSON.stringify(res.body ?? null);
    for (const [name, value] of Object.entries(named)) text = text.split(value).join(`<${name}>`);
    return { status: res.status, body: JSON.parse(text) };
  }

  it("answers tenant B about A's IDs exactly as about IDs that exist nowhere, and changes nothing of A's", async () => {
    const before = await snapshotOfA();
    const unknown = madeUp();
    const outcomes: string[] = [];
    for (const c of cases) {
      const call = (named: Ids) => b.api(c.method, c.path(named), c.body?.(named));
      const [withA, withNothing] = [await call(ids), await call(unknown)];
      outcomes.push(`${c.name}: ${withA.status}`);
      expect(withA.status, `${c.name}: ${JSON.stringify(withA.body)}`).toBe(c.status);
      if (c.empty !== undefined) expect(withA.body, c.name).toEqual(c.empty);
      else expect(withA.body.error, c.name).toBeDefined();
      expect(normalised(withA, ids), c.name).toEqual(normalised(withNothing, unknown));
    }
    expect(outcomes).toHaveLength(cases.length);

    // Lists B can see: nothing of A's in them.
    const inbox = await b.api('GET', '/v1/approvals?limit=200');
    expect(inbox.status).toBe(200);
    expect(JSON.stringify(inbox.body)).not.toContain(ids.approvalId);
    expect(JSON.stringify(inbox.body)).not.toContain(ids.runId);
    for (const status of ['pending', 'approved', 'rejected', 'expired']) {
      const page = await b.api('GET', `/v1/approvals?status=${status}`);
      expect(page.body.approvals.filter((x: any) => x.runId === ids.runId)).toEqual([]);
    }
    const runs = await b.api('GET', '/v1/runs?limit=200');
    expect(runs.body.runs.map((r: any) => r.runId)).not.toContain(ids.runId);
    const keys = await b.api('GET', '/v1/keys');
    expect(keys.body.keys.map((k: any) => k.keyId)).not.toContain(ids.keyId);
    const audit = await b.api('GET', '/v1/audit?limit=1000');
    expect(JSON.stringify(audit.body)).not.toContain(ids.runId);
    expect(JSON.stringify(audit.body)).not.toContain(ids.rolloutId);

    expect(await snapshotOfA()).toEqual(before);
  });

  it('A still sees and controls all of it afterwards', async () => {
    expect((await a.api('GET', `/v1/runs/${ids.runId}`)).body).toMatchObject({ status: 'awaiting_approval' });
    expect((await a.api('GET', `/v1/bundles/${ids.bundleId}`)).status).toBe(200);
    expect((await a.api('GET', `/v1/bundles/${ids.bundleId}/diff/${ids.otherBundleId}`)).status).toBe(200);
    expect((await a.api('GET', `/v1/agents/alpha-only/rollouts/${ids.rolloutId}`)).body).toMatchObject({ status: 'running' });
    expect((await a.api('GET', `/v1/audit?runId=${ids.runId}`)).body.entries.length).toBeGreaterThanOrEqual(0);
    const inbox = await a.api('GET', '/v1/approvals?status=pending');
    expect(inbox.body.approvals.map((x: any) => x.approvalId)).toContain(ids.approvalId);

    expect((await a.decide(ids.runId, ids.approvalId, 'approve')).status).toBe(202);
    await a.waitForStatus(ids.runId, 'completed');

    // The rollout controls work for A, and each request is audited, as is the abort the workflow carries out.
    for (const action of ['pause', 'resume', 'abort']) {
      expect((await a.api('POST', `/v1/agents/alpha-only/rollout/${action}`, { reason: `${action} by A` })).status).toBe(202);
      if (action === 'pause') await waitFor(async () => (await a.api('GET', `/v1/agents/alpha-only/rollouts/${ids.rolloutId}`)).body.status === 'paused');
    }
    const entries = await waitFor(async () => {
      const all: any[] = (await a.api('GET', '/v1/audit?limit=1000')).body.entries;
      return all.some((e) => e.action === 'rollout.aborted') ? all : undefined;
    });
    const rolloutActions = entries.filter((e) => e.target === ids.rolloutId).map((e) => e.action);
    expect(rolloutActions).toEqual([
      'rollout.started', 'rollout.canary_weight_set', 'rollout.pause_requested', 'rollout.resume_requested',
      'rollout.abort_requested', 'rollout.aborted',
    ]);
    expect((await a.api('GET', '/v1/agents/alpha-only')).body).toMatchObject({ stableBundleId: ids.bundleId, canaryBundleId: null, rolloutId: null });
    expect((await a.api('GET', `/v1/audit?runId=${ids.runId}`)).body.entries.map((e: any) => e.action)).toContain('approval.decided');
  });
});

async function waitFor<T>(read: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}
