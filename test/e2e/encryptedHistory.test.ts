/**
 * Encrypted Temporal history on the real stack: what the Temporal Service stores (and its UI shows
 * without a codec server) is ciphertext; the admin-only codec server at /codec decodes it; rotating
 * the current key keeps older histories readable.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { seedApiKeys } from '../../src/db/apiKeys';
import { loadConfig } from '../../src/config';
import { EncryptionCodec } from '../../src/temporal/encryptionCodec';
import { countRefunds, startTestStack, type TestStack } from '../support/testStack';

type History = temporal.api.history.v1.IHistory;
interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}
/** A payload found in a history, and where: `<event type>.<field path>`. */
interface Found {
  where: string;
  payload: Payload;
}

const oldKey = randomBytes(32).toString('base64');
const newKey = randomBytes(32).toString('base64');
const b64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('base64');
const fromB64 = (text: string) => Buffer.from(text, 'base64').toString('utf8');

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
  data: b64(p.data),
});

/**
 * Every payload of a history's events, except search attributes: those stay readable by design,
 * so operators can filter runs in the UI.
 */
function payloadsOf(history: History): Found[] {
  const found: Found[] = [];
  const walk = (value: unknown, where: string) => {
    if (!value || typeof value !== 'object' || value instanceof Uint8Array) return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${where}[${i}]`));
      return;
    }
    const record = value as Record<string, unknown>;
    if (record.metadata && typeof record.metadata === 'object' && Object.values(record.metadata).every((v) => v instanceof Uint8Array)) {
      found.push({ where, payload: record as Payload });
      return;
    }
    for (const [key, child] of Object.entries(record)) {
      // Search attributes must stay readable to be searchable; patch markers (patched()) carry only the
      // patch's name and are written by the SDK without the codec; so is a local activity marker's
      // `data` (the SDK's record of the call: activity type, ID, attempt, times), while its `result` is encrypted.
      if (/searchAttributes/i.test(key) || key === 'patch-data' || (where === 'markerRecorded.details' && key === 'data')) continue;
      walk(child, `${where}.${key}`);
    }
  };
  for (const event of history.events ?? []) {
    for (const [key, attributes] of Object.entries(event)) {
      if (key.endsWith('EventAttributes') && attributes) walk(attributes, key.replace(/EventAttributes$/, ''));
    }
  }
  return found;
}

const meta = (p: Payload, key: string) => Buffer.from(p.metadata?.[key] ?? []).toString('utf8');

/** The whole history as Temporal stores it (protobuf) and as its tools export it (JSON). */
function serialized(history: History): string[] {
  return [Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1'), historyToJSON(history)];
}

describe('encrypted Temporal history', () => {
  let stack: TestStack;
  let plainConnection: Connection;
  /** A client with no codec: it sees what the Temporal Service and its Web UI see. */
  let plain: Client;
  const runnerKey = `runner_${randomBytes(6).toString('hex')}`;
  const histories = new Map<string, History>();
  /** Extra API instances a test serves (another configuration on the same database and Temporal). */
  const servers: Server[] = [];
  const listen = async (app: ReturnType<typeof createApp>) => {
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    servers.push(server);
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  };

  beforeAll(async () => {
    stack = await startTestStack({ encryptionKeys: `old:${oldKey}` });
    await seedApiKeys(stack.db, [{ key: runnerKey, tenantId: stack.tenantId, roles: ['runner'] }]);
    plainConnection = await Connection.connect({ address: inject('temporalAddress') });
    plain = new Client({ connection: plainConnection });
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    await plainConnection?.close();
    await stack?.close();
  });

  async function refundToCompletion(orderId: string): Promise<string> {
    const runId = await stack.startRun(`Refund order ${orderId}`);
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.output).toMatch(new RegExp(`^Done: I refunded \\d+ cents for order ${orderId}\\.$`));
    expect(await countRefunds(stack.db, runId)).toBe(1);
    // PostgreSQL says completed a moment before the workflow itself closes; wait for its last event.
    const deadline = Date.now() + 15_000;
    while ((await plain.workflow.getHandle(runId).describe()).status.name !== 'COMPLETED') {
      if (Date.now() > deadline) throw new Error(`workflow ${runId} did not close`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return runId;
  }

  async function decode(baseUrl: string, payloads: JsonPayload[], key: string | null = stack.apiKey) {
    const res = await fetch(`${baseUrl}/codec/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...(key && { authorization: `Bearer ${key}` }) },
      body: JSON.stringify({ payloads }),
    });
    return { status: res.status, body: (await res.json()) as any, headers: res.headers };
  }

  const decodedText = (payloads: JsonPayload[]) => payloads.map((p) => fromB64(p.data)).join('\n');

  it('stores only ciphertext in history, which the admin-only codec server decodes', async () => {
    const runId = await refundToCompletion('1001');
    const history = await plain.workflow.getHandle(runId).fetchHistory();
    histories.set(runId, history);

    const found = payloadsOf(history);
    const kinds = new Set(found.map((f) => f.where.replace(/\..*$/, '')));
    for (const kind of ['workflowExecutionStarted', 'activityTaskScheduled', 'activityTaskCompleted', 'workflowExecutionSignaled', 'workflowExecutionCompleted']) {
      expect(kinds, kind).toContain(kind);
    }
    for (const { where, payload } of found) {
      expect(meta(payload, 'encoding'), where).toBe('binary/encrypted');
      expect(meta(payload, 'encryption-key-id'), where).toBe('old');
    }
    // Neither the tool arguments nor the model's answer appear anywhere, in any form the Service keeps
    // (search attributes stay plain JSON by design, so operators can filter runs).
    for (const text of serialized(history)) {
      expect(text).not.toContain('"order_id":"1001"');
      expect(text).not.toContain('Done: I refunded');
    }
    // The plain client cannot read the result either.
    await expect(plain.workflow.getHandle(runId).result()).rejects.toThrow(/binary\/encrypted|encoding/i);

    const payloads = found.map((f) => toJson(f.payload));
    const { status, body } = await decode(stack.baseUrl, payloads);
    expect(status).toBe(200);
    expect(body.payloads).toHaveLength(payloads.length);
    // Back to what the SDK's payload converter wrote: JSON, and binary/null for activities returning nothing.
    const encodings = (body.payloads as JsonPayload[]).map((p) => fromB64(p.metadata.encoding!));
    expect(new Set(encodings)).toEqual(new Set(['json/plain', 'binary/null']));
    const text = decodedText(body.payloads);
    expect(text).toContain('"order_id":"1001"');
    expect(text).toContain('Done: I refunded 12900 cents for order 1001.');
    expect(text).toContain(runId);
    // Claim check: the user's input lives in PostgreSQL, not in history, encrypted or not.
    expect(text).not.toContain('Refund order 1001');
    // The stack's own client decodes transparently.
    expect(await stack.temporal.workflow.getHandle(runId).result()).toMatchObject({ status: 'completed', output: 'Done: I refunded 12900 cents for order 1001.' });
  });

  it('lets only admin keys encode and decode, and answers the Temporal UI origin', async () => {
    const payloads = payloadsOf(histories.values().next().value!).slice(0, 1).map((f) => toJson(f.payload));
    expect(payloads).toHaveLength(1);
    expect((await decode(stack.baseUrl, payloads, runnerKey)).status).toBe(403);
    expect((await decode(stack.baseUrl, payloads, runnerKey)).body.error.message).toMatch(/admin role/);
    expect((await decode(stack.baseUrl, payloads, null)).status).toBe(401);
    expect((await decode(stack.baseUrl, payloads, 'not-a-key')).status).toBe(401);

    // The browser's preflight carries no credentials; the UI's origin is answered, others are not.
    const preflight = (origin: string) =>
      fetch(`${stack.baseUrl}/codec/decode`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
      });
    const ui = await preflight('http://localhost:8233');
    expect(ui.status).toBe(204);
    expect(ui.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    expect(ui.headers.get('access-control-allow-headers')?.toLowerCase()).toMatch(/authorization.*content-type.*x-namespace/);
    expect(ui.headers.get('access-control-allow-methods')).toContain('POST');
    const other = await preflight('https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    // Errors are readable by the UI too, so it can show why.
    const denied = await fetch(`${stack.baseUrl}/codec/decode`, { method: 'POST', headers: { origin: 'http://127.0.0.1:8233', 'content-type': 'application/json' }, body: '{}' });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');

    // Encode (the UI uses it for signals and starts it sends) round-trips through decode.
    const plainPayload = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{"hello":"codec"}').toString('base64') };
    const encodeRes = await stack.api('POST', '/codec/encode', { payloads: [plainPayload] });
    expect(encodeRes.status).toBe(200);
    const [encoded] = encodeRes.body.payloads as JsonPayload[];
    expect(fromB64(encoded!.metadata.encoding!)).toBe('binary/encrypted');
    expect(fromB64(encoded!.metadata['encryption-key-id']!)).toBe('old');
    expect(fromB64(encoded!.data)).not.toContain('hello');
    const back = await decode(stack.baseUrl, [encoded!]);
    expect(back.body.payloads).toEqual([plainPayload]);
    expect((await stack.api('POST', '/codec/encode', { payloads: [plainPayload] }, { authorization: `Bearer ${runnerKey}` })).status).toBe(403);

    // Bad input is a 400 that says which payload and why.
    const tampered = { ...encoded!, data: Buffer.from(Buffer.from(encoded!.data, 'base64').map((b, i) => (i === 20 ? b ^ 1 : b))).toString('base64') };
    const refused = await decode(stack.baseUrl, [plainPayload, tampered]);
    expect(refused.status).toBe(400);
    expect(refused.body.error.problems).toEqual([expect.stringMatching(/^payloads\.1: .*failed authentication/)]);
    expect((await stack.api('POST', '/codec/decode', { payloads: 'nope' })).status).toBe(400);

    // An API without keys says so rather than echoing payloads back.
    const unencrypted = await listen(
      createApp({ db: stack.db, temporal: stack.temporal, taskQueue: stack.env.TEMPORAL_TASK_QUEUE!, approvalTimeoutMs: 60_000 }),
    );
    const off = await decode(unencrypted.url, payloads);
    expect(off.status).toBe(404);
    expect(off.body.error.message).toMatch(/encryption is off/);
  });

  it('keeps old histories readable after the current key rotates', async () => {
    const rotatedKeys = `old:${oldKey},new:${newKey}`;
    await stack.worker.stop();
    await stack.startWorker({ BOSUN_ENCRYPTION_KEYS: rotatedKeys, BOSUN_ENCRYPTION_KEY_ID: 'new' });

    const [oldRunId] = histories.keys();
    const newRunId = await refundToCompletion('1003');
    const newHistory = await plain.workflow.getHandle(newRunId).fetchHistory();
    const found = payloadsOf(newHistory);
    for (const { where, payload } of found) expect(meta(payload, 'encoding'), where).toBe('binary/encrypted');
    // What the worker wrote uses the new key; the API (not yet rolled) still writes with the old one.
    const keyIdOf = (kind: string) => new Set(found.filter((f) => f.where.startsWith(kind)).map((f) => meta(f.payload, 'encryption-key-id')));
    expect(keyIdOf('activityTaskCompleted')).toEqual(new Set(['new']));
    expect(keyIdOf('workflowExecutionCompleted')).toEqual(new Set(['new']));
    expect(keyIdOf('workflowExecutionStarted')).toEqual(new Set(['old']));
    for (const text of serialized(newHistory)) expect(text).not.toContain('"order_id":"1003"');

    // An API process without the new key says precisely what is missing.
    const stale = await decode(stack.baseUrl, found.map((f) => toJson(f.payload)));
    expect(stale.status).toBe(400);
    expect(stale.body.error.problems.join('\n')).toMatch(/key id "new", which is not configured/);

    // The API rolled with the rotated key set decodes both histories.
    const config = loadConfig({ ...stack.env, BOSUN_ENCRYPTION_KEYS: rotatedKeys, BOSUN_ENCRYPTION_KEY_ID: 'new' });
    const app = createApp({
      db: stack.db,
      temporal: stack.temporal,
      taskQueue: config.temporal.taskQueue,
      approvalTimeoutMs: config.approvalTimeoutMs,
      codec: new EncryptionCodec(config.encryption!),
      codecCorsOrigins: config.codecServer.corsOrigins,
    });
    const rotatedUrl = (await listen(app)).url;

    const oldDecoded = await decode(rotatedUrl, payloadsOf(histories.get(oldRunId!)!).map((f) => toJson(f.payload)));
    expect(oldDecoded.status).toBe(200);
    expect(decodedText(oldDecoded.body.payloads)).toContain('Done: I refunded 12900 cents for order 1001.');
    const newDecoded = await decode(rotatedUrl, found.map((f) => toJson(f.payload)));
    expect(newDecoded.status).toBe(200);
    expect(decodedText(newDecoded.body.payloads)).toContain('"order_id":"1003"');
    expect(decodedText(newDecoded.body.payloads)).toContain('Done: I refunded 24900 cents for order 1003.');
  });
});
