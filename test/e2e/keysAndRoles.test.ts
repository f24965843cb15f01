import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/testStack';

describe('API keys, roles and the audit log', () => {
  let stack: TestStack;
  let other: TestStack;
  beforeAll(async () => {
    [stack, other] = await Promise.all([startTestStack(), startTestStack()]);
  });
  afterAll(async () => {
    await Promise.all([stack?.close(), other?.close()]);
  });

  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  const createKey = async (roles: string[], name?: string) => {
    const res = await stack.api('POST', '/v1/keys', { roles, name });
    expect(res.status).toBe(201);
    return res.body as { key: string; keyId: string };
  };

  it('grants each role only what it names', async () => {
    const runner = await createKey(['runner'], 'ci runner');
    const approver = await createKey(['approver']);

    const start = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Refund order 1001' }, as(runner.key));
    expect(start.status).toBe(202);
    const parked = await stack.waitForStatus(start.body.runId, 'awaiting_approval');
    const decisionPath = `/v1/runs/${start.body.runId}/approvals/${parked.pendingApprovals[0].approvalId}`;

    expect((await stack.api('POST', decisionPath, { decision: 'approve' }, as(runner.key))).status).toBe(403);
    expect((await stack.api('POST', '/v1/runs', { agent: 'support', input: 'hi' }, as(approver.key))).status).toBe(403);
    expect((await stack.api('GET', '/v1/keys', undefined, as(runner.key))).status).toBe(403);
    expect((await stack.api('POST', '/v1/bundles', {}, as(approver.key))).status).toBe(403);
    expect((await stack.api('GET', '/v1/audit', undefined, as(approver.key))).status).toBe(403);

    const decided = await stack.api('POST', decisionPath, { decision: 'approve' }, as(approver.key));
    expect(decided.status).toBe(202);
    expect(decided.body.decidedBy).toBe(approver.keyId);
  });

  it('lists keys without their secrets', async () => {
    const made = await createKey(['runner'], 'listed');
    const res = await stack.api('GET', '/v1/keys');
    expect(res.status).toBe(200);
    const listed = res.body.keys.find((k: any) => k.keyId === made.keyId);
    expect(listed).toMatchObject({ name: 'listed', roles: ['runner'], revokedAt: null });
    expect(JSON.stringify(res.body)).not.toContain(made.key);
    expect(JSON.stringify(res.body)).not.toMatch(/key_hash|keyHash/);
    const { rows } = await stack.db.query('SELECT key_hash FROM api_keys WHERE key_id = $1', [made.keyId]);
    expect(rows[0].key_hash).not.toContain(made.key);
  });

  it('stops a revoked key on its very next request', async () => {
    const doomed = await createKey(['runner']);
    expect((await stack.api('GET', '/v1/runs', undefined, as(doomed.key))).status).toBe(200);
    expect((await stack.api('DELETE', `/v1/keys/${doomed.keyId}`)).status).toBe(204);
    expect((await stack.api('GET', '/v1/runs', undefined, as(doomed.key))).status).toBe(401);
    expect((await stack.api('DELETE', `/v1/keys/${doomed.keyId}`)).status).toBe(404);
  });

  it("answers 404 for another tenant's key, and leaves it working", async () => {
    const theirs = (await other.api('POST', '/v1/keys', { roles: ['runner'] })).body;
    expect((await stack.api('DELETE', `/v1/keys/${theirs.keyId}`)).status).toBe(404);
    expect((await other.api('GET', '/v1/runs', undefined, as(theirs.key))).status).toBe(200);
    const mine = await stack.api('GET', '/v1/keys');
    expect(mine.body.keys.map((k: any) => k.keyId)).not.toContain(theirs.keyId);
  });

  it('validates key requests', async () => {
    const res = await stack.api('POST', '/v1/keys', { roles: ['root'] });
    expect(res.status).toBe(400);
    expect(res.body.error.problems[0]).toMatch(/^roles\.0: /);
  });

  it('keeps an append-only audit of key changes, scoped to the tenant', async () => {
    const made = await createKey(['approver'], 'audited');
    await stack.api('DELETE', `/v1/keys/${made.keyId}`);
    const audit = await stack.api('GET', '/v1/audit');
    expect(audit.status).toBe(200);
    const actions = audit.body.entries.filter((e: any) => e.target === made.keyId).map((e: any) => e.action);
    expect(actions).toEqual(['key.created', 'key.revoked']);
    expect(JSON.stringify(audit.body)).not.toContain(made.key);
    expect((await other.api('GET', '/v1/audit')).body.entries.some((e: any) => e.target === made.keyId)).toBe(false);
    await expect(stack.db.query(`UPDATE audit_log SET action = 'x' WHERE target = $1`, [made.keyId])).rejects.toThrow(/append-only/);
    await expect(stack.db.query(`DELETE FROM audit_log WHERE target = $1`, [made.keyId])).rejects.toThrow(/append-only/);
  });
});
