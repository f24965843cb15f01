/**
 * The HTTP API's edges on the real stack: text PostgreSQL cannot store, request size, and
 * Idempotency-Keys bound to the whole request for a limited time.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { defaultApiSettings } from '../../src/config';
import { startTestStack, testAgentsDir, type TestStack } from '../support/testStack';

describe('API edges', () => {
  let stack: TestStack;
  /** A run waiting for a human, for the approval routes. */
  let parked: { runId: string; approvalId: string };
  beforeAll(async () => {
    stack = await startTestStack();
    const runId = await stack.startRun('Refund order 1001');
    const run = await stack.waitForStatus(runId, 'awaiting_approval');
    parked = { runId, approvalId: run.pendingApprovals[0].approvalId };
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** Sends a raw request: the path as given (percent-encoding untouched) and a JSON body (a string is sent as is). */
  async function send(method: string, route: string, body?: unknown) {
    const res = await fetch(`${stack.baseUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  describe('text PostgreSQL cannot store answers 400 naming the field, on every route', () => {
    const nul = 'a\u0000b';
    const lone = 'a\ud800b';
    // Deeper than JSON.stringify can go: the JSON text is written out directly.
    const deep = `${'['.repeat(100_000)}"bottom"${']'.repeat(100_000)}`;

    it.each([
      ['U+0000 in a run input', 'POST', '/v1/runs', { agent: 'support', input: `Refund ${nul}` }, /^input: contains U\+0000/],
      ['U+0000 in a metadata value', 'POST', '/v1/runs', { agent: 'support', input: 'hi', metadata: { ticket: nul } }, /^metadata\.ticket: contains U\+0000/],
      ['U+0000 in a metadata key', 'POST', '/v1/runs', { agent: 'support', input: 'hi', metadata: { [nul]: 'x' } }, /^metadata: the key "a\\u0000b" contains U\+0000/],
      ['a lone surrogate in a run input', 'POST', '/v1/runs', { agent: 'support', input: `Refund ${lone}` }, /^input: contains a lone UTF-16 surrogate \(U\+D800\)/],
      ['a lone low surrogate in metadata', 'POST', '/v1/runs', { agent: 'support', input: 'hi', metadata: { t: '\udc00' } }, /^metadata\.t: contains a lone UTF-16 surrogate \(U\+DC00\)/],
      ['U+0000 in a bundle prompt', 'POST', '/v1/bundles', () => ({ ...readBundleDir(`${testAgentsDir}/support`), systemPrompt: `You help. ${nul}` }), /^systemPrompt: contains U\+0000/],
      ['U+0000 in a key name', 'POST', '/v1/keys', { name: nul, roles: ['runner'] }, /^name: contains U\+0000/],
      ['U+0000 in a deployment bundleId', 'POST', '/v1/agents/support/deployments', { bundleId: nul, strategy: 'immediate' }, /^bundleId: contains U\+0000/],
      ['a lone surrogate in a rollout reason', 'POST', '/v1/agents/support/rollout/pause', { reason: lone }, /^reason: contains a lone UTF-16 surrogate/],
      ['U+0000 in a query', 'GET', '/v1/runs?agent=a%00b', undefined, /^agent: contains U\+0000/],
      ['U+0000 in a path segment', 'GET', '/v1/agents/a%00b', undefined, /^agent: contains U\+0000/],
      ['a percent-encoded lone surrogate in a path', 'GET', '/v1/agents/%ED%A0%80/bundles', undefined, /^path: malformed percent-encoding/],
    ] as const)('%s', async (_name, method, route, body, problem) => {
      const res = await send(method, route, typeof body === 'function' ? body() : body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('bad_request');
      expect(res.body.error.problems).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
    });

    it('on approval decisions too: comments, edited arguments and their nesting', async () => {
      const route = `/v1/runs/${parked.runId}/approvals/${parked.approvalId}`;
      const comment = await send('POST', route, { decision: 'reject', comment: nul });
      expect(comment.status).toBe(400);
      expect(comment.body.error.problems).toEqual([expect.stringMatching(/^comment: contains U\+0000/)]);
      const edited = await send('POST', route, { decision: 'approve', arguments: { order_id: '1001', amount_cents: 100, reason: lone } });
      expect(edited.status).toBe(400);
      expect(edited.body.error.problems).toEqual([expect.stringMatching(/^arguments\.reason: contains a lone UTF-16 surrogate/)]);
      const nested = await send('POST', route, `{"decision":"approve","arguments":{"order_id":"1001","amount_cents":100,"reason":${deep}}}`);
      expect(nested.status).toBe(400);
      expect(nested.body.error.problems).toEqual([expect.stringMatching(/^arguments\.reason(\.0)+: nested deeper than 32 levels/)]);
      // Nothing was decided by the refused requests.
      const run = await stack.api('GET', `/v1/runs/${parked.runId}`);
      expect(run.body).toMatchObject({ status: 'awaiting_approval', approvals: [{ status: 'pending', comment: null }] });
    });

    it('keeps well-formed text exactly as sent, astral characters included', async () => {
      const input = 'Where is order 1001? 🚀 ñ 中文 \u{1F600} \uFFFD \u200B end';
      const metadata = { 'clé 🙂': 'välue \u{10FFFF}', plain: 'x' };
      const created = await stack.api('POST', '/v1/runs', { agent: 'support', input, metadata });
      expect(created.status).toBe(202);
      const run = await stack.api('GET', `/v1/runs/${created.body.runId}`);
      expect(run.body.input).toBe(input);
      expect(run.body.metadata).toEqual(metadata);
    });
  });

  describe('content type', () => {
    const post = (route: string, headers: Record<string, string>) => fetch(`${stack.baseUrl}${route}`, {
      // Bytes, not a string: fetch adds no Content-Type of its own to them.
      method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}`, ...headers }, body: new TextEncoder().encode(JSON.stringify({ agent: 'support', input: 'Hello' })),
    });

    it.each([
      ['no Content-Type', {}, /^body: sent with no Content-Type; send Content-Type: application\/json$/],
      ['text/plain', { 'content-type': 'text/plain' }, /^body: sent with Content-Type text\/plain; send Content-Type: application\/json$/],
    ] as const)('answers 400 asking for JSON to a body sent with %s', async (_name, headers, problem) => {
      const res = await post('/v1/runs', headers);
      expect(res.status).toBe(400);
      const body = (await res.json()) as any;
      expect(body.error.code).toBe('bad_request');
      expect(body.error.problems).toEqual([expect.stringMatching(problem)]);
    });

    it('takes a JSON body whose content type names a charset', async () => {
      const res = await post('/v1/runs', { 'content-type': 'application/json; charset=utf-8' });
      expect(res.status).toBe(202);
    });
  });

  describe('request size', () => {
    it('answers 413 naming the limit for a body over it', async () => {
      const limit = defaultApiSettings.maxRequestBytes;
      const res = await send('POST', '/v1/runs', { agent: 'support', input: 'x'.repeat(limit) });
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('payload_too_large');
      expect(res.body.error.message).toContain(`${limit} bytes`);
    });

    it('runs a 1 MiB input, kept in PostgreSQL and out of workflow history', async () => {
      const marker = randomBytes(8).toString('hex');
      const input = `Where is order 1001? ${marker.repeat(1024 * 1024 / marker.length)}`;
      expect(input.length).toBeGreaterThan(1024 * 1024);
      const runId = await stack.startRun(input);
      const run = await stack.waitForStatus(runId, 'awaiting_approval');
      expect(run.input).toBe(input);

      const history = await stack.temporal.workflow.getHandle(runId).fetchHistory();
      const payloads = payloadBytes(history);
      expect(payloads.total).toBeLessThan(64 * 1024);
      expect(payloads.containing(marker)).toBe(0);
    });
  });

  describe('Idempotency-Key', () => {
    const request = { agent: 'support', input: 'Refund order 1001', metadata: { ticket: 'T-100', channel: 'email' } };
    const post = (key: string, body: object) => stack.api('POST', '/v1/runs', body, { 'idempotency-key': key });

    it('returns the same run for the same request, and 409 for another request under the same key', async () => {
      const key = `ticket-${randomBytes(4).toString('hex')}`;
      const first = await post(key, request);
      expect(first.status).toBe(202);
      // The same request, its metadata keys in another order: the same fingerprint.
      const again = await post(key, { ...request, metadata: { channel: 'email', ticket: 'T-100' } });
      expect(again.status).toBe(202);
      expect(again.body.runId).toBe(first.body.runId);

      const variants = [
        { ...request, metadata: { ticket: 'T-200', channel: 'email' } },
        { ...request, metadata: undefined },
        { ...request, bundleId: stack.bundles.find((b) => b.name === 'support')!.id },
        { ...request, routingKey: 'conversation-7' },
        { ...request, input: 'Refund order 1002' },
      ];
      for (const variant of variants) {
        const res = await post(key, variant);
        expect(res.status, JSON.stringify(variant)).toBe(409);
        expect(res.body.error.code).toBe('idempotency_key_reused');
        expect(res.body.error.message).toContain(first.body.runId);
      }
      const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM runs WHERE tenant_id = $1 AND idempotency_key = $2', [stack.tenantId, key]);
      expect(rows[0].n).toBe(1);
    });

    it('is released once older than its time to live, and then starts a new run', async () => {
      const key = `ticket-${randomBytes(4).toString('hex')}`;
      const first = await post(key, request);
      expect(first.status).toBe(202);
      const ttlHours = defaultApiSettings.idempotencyKeyTtlMs / 3_600_000;
      await stack.db.query(`UPDATE runs SET created_at = now() - $2 * interval '1 hour' - interval '1 minute' WHERE run_id = $1`, [first.body.runId, ttlHours]);

      const later = await post(key, { ...request, metadata: { ticket: 'T-200' } });
      expect(later.status).toBe(202);
      expect(later.body.runId).not.toBe(first.body.runId);
      const { rows } = await stack.db.query('SELECT run_id FROM runs WHERE tenant_id = $1 AND idempotency_key = $2', [stack.tenantId, key]);
      expect(rows.map((r) => r.run_id)).toEqual([later.body.runId]);
    });
  });
});

/** Every payload's bytes in a workflow history: their total, and how many hold a marker. */
function payloadBytes(history: unknown) {
  const arrays: Uint8Array[] = [];
  const walk = (value: unknown) => {
    if (value instanceof Uint8Array) arrays.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(history);
  return {
    total: arrays.reduce((sum, a) => sum + a.length, 0),
    containing: (marker: string) => arrays.filter((a) => Buffer.from(a).includes(marker)).length,
  };
}
