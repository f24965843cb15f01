import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerSchemaOf, checkAnswer } from '../support/contract';
import { startTestStack, type TestStack } from '../support/testStack';

describe('API contract: bad input, authentication, tenancy and idempotency', () => {
  let stack: TestStack;
  let other: TestStack;
  beforeAll(async () => {
    [stack, other] = await Promise.all([startTestStack(), startTestStack()]);
  });
  afterAll(async () => {
    await Promise.all([stack?.close(), other?.close()]);
  });

  const problemsOf = (body: any): string[] => body.error.problems;

  it.each([
    ['malformed JSON', '{"agent": "support", "input": ', /malformed JSON/],
    ['a missing input', { agent: 'support' }, /^input: /],
    ['wrong types', { agent: 7, input: ['x'] }, /^agent: /],
    ['an empty input', { agent: 'support', input: '' }, /^input: /],
    ['an unknown field', { agent: 'support', input: 'hi', priority: 'high' }, /priority/],
    ['an unknown agent', { agent: 'nope', input: 'hi' }, /unknown agent "nope"/],
    ['bad metadata', { agent: 'support', input: 'hi', metadata: { nested: { a: 1 } } }, /^metadata\.nested/],
    ['a JSON array', [1, 2], /^body: /],
  ])('answers 400 listing the problems for %s', async (_name, body, problem) => {
    const res = await stack.api('POST', '/v1/runs', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bad_request');
    expect(problemsOf(res.body).some((p) => problem.test(p))).toBe(true);
  });

  it('lists every problem at once', async () => {
    const res = await stack.api('POST', '/v1/runs', { agent: 3, input: 4 });
    expect(res.status).toBe(400);
    expect(problemsOf(res.body)).toHaveLength(2);
  });

  it('refuses a malformed Idempotency-Key', async () => {
    const res = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'hi' }, { 'idempotency-key': 'has spaces in it' });
    expect(res.status).toBe(400);
    expect(problemsOf(res.body)[0]).toMatch(/printable ASCII/);
  });

  it('answers 401 without a key or with an unknown one', async () => {
    expect((await stack.api('GET', '/v1/runs/00000000-0000-0000-0000-000000000000', undefined, { authorization: '' })).status).toBe(401);
    expect((await stack.api('POST', '/v1/runs', { agent: 'support', input: 'hi' }, { authorization: 'Bearer nope' })).status).toBe(401);
  });

  it('answers 404 for unknown runs, malformed IDs and other tenants', async () => {
    expect((await stack.api('GET', '/v1/runs/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await stack.api('GET', '/v1/runs/not-a-uuid')).status).toBe(404);
    expect((await stack.api('GET', '/v1/nothing-here')).status).toBe(404);

    const runId = await other.startRun('Refund order 1001');
    const parked = await other.waitForStatus(runId, 'awaiting_approval');
    const approvalId = parked.pendingApprovals[0].approvalId;
    expect((await stack.api('GET', `/v1/runs/${runId}`)).status).toBe(404);
    expect((await stack.decide(runId, approvalId, 'approve')).status).toBe(404);
    expect((await stack.api('POST', `/v1/runs/${runId}/cancel`)).status).toBe(404);
    // Untouched by the attempts: still waiting for its own tenant's decision.
    const still = await other.api('GET', `/v1/runs/${runId}`);
    expect(still.body).toMatchObject({ status: 'awaiting_approval', approvals: [{ status: 'pending' }] });
  });

  it('validates approval decisions', async () => {
    const runId = await stack.startRun('Refund order 1002');
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    const approvalId = parked.pendingApprovals[0].approvalId;
    const bad = await stack.api('POST', `/v1/runs/${runId}/approvals/${approvalId}`, { decision: 'maybe' });
    expect(bad.status).toBe(400);
    expect(problemsOf(bad.body)[0]).toMatch(/^decision: /);
    expect((await stack.decide(runId, '00000000-0000-0000-0000-000000000000', 'approve')).status).toBe(404);
    expect((await stack.decide(runId, approvalId, 'approve')).status).toBe(202);
    const again = await stack.decide(runId, approvalId, 'reject');
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/already approved/);
    await stack.waitForStatus(runId, 'completed');
  });

  it('lets exactly one of two concurrent decisions win', async () => {
    const runId = await stack.startRun('Refund order 1003');
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    const approvalId = parked.pendingApprovals[0].approvalId;
    const answers = await Promise.all([
      stack.decide(runId, approvalId, 'approve'),
      stack.decide(runId, approvalId, 'reject'),
      stack.decide(runId, approvalId, 'approve'),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409, 409]);
    const winner = answers.find((a) => a.status === 202)!.body.decision;
    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.approvals[0].status).toBe(winner);
    expect(done.steps.find((s: any) => s.name === 'issue_refund').status).toBe(winner === 'approved' ? 'ok' : 'rejected');
  });

  it('returns the same run for the same Idempotency-Key, even under concurrency', async () => {
    const key = `order-1004-${Date.now()}`;
    const body = { agent: 'support', input: 'Refund order 1004' };
    const answers = await Promise.all(Array.from({ length: 5 }, () => stack.api('POST', '/v1/runs', body, { 'idempotency-key': key })));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
    const runIds = new Set(answers.map((a) => a.body.runId));
    expect(runIds.size).toBe(1);
    const [runId] = runIds;
    const { rows } = await stack.db.query('SELECT run_id FROM runs WHERE tenant_id = $1 AND idempotency_key = $2', [stack.tenantId, key]);
    expect(rows).toHaveLength(1);
    const executions = [];
    for await (const w of stack.temporal.workflow.list({ query: `WorkflowId = "${runId}"` })) executions.push(w);
    expect(executions.length).toBeLessThanOrEqual(1);

    const reused = await stack.api('POST', '/v1/runs', { ...body, input: 'Refund order 1001' }, { 'idempotency-key': key });
    expect(reused.status).toBe(409);
    const otherTenant = await other.api('POST', '/v1/runs', body, { 'idempotency-key': key });
    expect(otherTenant.status).toBe(202);
    expect(otherTenant.body.runId).not.toBe(runId);
  });

  /** Calls a route and checks that src/contract describes its answer (stack.api then parsed it with that schema). */
  async function described(method: string, url: string, body?: unknown, expectedStatus?: number) {
    const res = await stack.api(method, url, body);
    if (expectedStatus !== undefined) expect(res.status).toBe(expectedStatus);
    expect(answerSchemaOf(method, url, res.status), `${method} ${url} ${res.status} has no answer schema`).toBeDefined();
    return res.body;
  }

  it('answers the main routes in the shapes src/contract gives them', async () => {
    const started = await described('POST', '/v1/runs', { agent: 'support', input: 'Refund order 1001', metadata: { ticket: 'T-1' } }, 202);
    const parked = await stack.waitForStatus(started.runId, 'awaiting_approval');
    const pending = parked.pendingApprovals[0];
    await described('GET', `/v1/runs/${started.runId}`, undefined, 200);
    await described('GET', '/v1/runs?limit=1', undefined, 200);
    await described('GET', '/v1/approvals?status=pending', undefined, 200);
    await described('POST', `/v1/runs/${started.runId}/approvals/${pending.approvalId}`, { decision: 'approve', comment: 'ok' }, 202);
    await stack.waitForStatus(started.runId, 'completed');
    const done = await described('GET', `/v1/runs/${started.runId}`, undefined, 200);
    expect(done.steps.map((s: { kind: string }) => s.kind)).toEqual(expect.arrayContaining(['model', 'tool']));
    await described('GET', '/v1/approvals', undefined, 200);

    const toCancel = await stack.startRun('Refund order 1002');
    await stack.waitForStatus(toCancel, 'awaiting_approval');
    await described('POST', `/v1/runs/${toCancel}/cancel`, undefined, 202);

    const agent = await described('GET', '/v1/agents/support', undefined, 200);
    await described('GET', '/v1/agents/support/bundles', undefined, 200);
    const bundle = await described('GET', `/v1/bundles/${agent.stableBundleId}`, undefined, 200);
    const { id: _id, ...content } = bundle;
    await described('POST', '/v1/bundles', content, 200);
    const changed = await described('POST', '/v1/bundles', { ...content, description: 'the contract test' }, 201);
    await described('GET', `/v1/bundles/${agent.stableBundleId}/diff/${changed.bundleId}`, undefined, 200);
    await described('POST', '/v1/agents/support/deployments', { bundleId: agent.stableBundleId, strategy: 'immediate' }, 201);

    await described('POST', '/v1/keys', { roles: ['runner'], name: 'contract' }, 201);
    await described('GET', '/v1/keys', undefined, 200);
    await described('GET', `/v1/audit?runId=${started.runId}`, undefined, 200);
    await described('PUT', '/v1/budgets/day', { limitUsd: 1000, mode: 'soft' }, 200);
    await described('GET', '/v1/budgets', undefined, 200);
    await described('GET', '/v1/usage?groupBy=day', undefined, 200);
    await described('GET', '/v1/runs?limit=0', undefined, 400);
  });

  it('refuses an answer whose field was renamed, dropped or added', async () => {
    const runId = await stack.startRun('Refund order 1003');
    const view = (await stack.api('GET', `/v1/runs/${runId}`)).body;
    const { bundleId, ...rest } = view;
    expect(() => checkAnswer('GET', `/v1/runs/${runId}`, 200, { ...rest, bundle: bundleId })).toThrow(/bundleId[\s\S]*bundle/);
    expect(() => checkAnswer('GET', `/v1/runs/${runId}`, 200, rest)).toThrow(/bundleId/);
    expect(() => checkAnswer('GET', `/v1/runs/${runId}`, 200, { ...view, usage: { ...view.usage, tokens: 1 } })).toThrow(/usage/);
  });
});
