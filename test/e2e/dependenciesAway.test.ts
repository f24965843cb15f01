/**
 * PostgreSQL or Temporal away: the API answers 503 with Retry-After, at once, and /readyz names the
 * dependency; clients retry with their Idempotency-Key once it is back. PostgreSQL "goes away"
 * behind a TCP proxy in front of a separate API, and Temporal is a dev server of this file's own, so
 * other test files running meanwhile are not disturbed.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type express from 'express';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { defaultApiSettings } from '../../src/config';
import { createPool, type Db } from '../../src/db/pool';
import { findOrBuildTemporalCli, startTemporalDevServer, type DevServer } from '../../src/dev/temporalServer';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy';
import { startTestStack, type TestStack } from '../support/testStack';

/** An app served on a free port, called with a stack's key; resolves with status, Retry-After and body. */
async function serve(app: express.Express, apiKey: string) {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  async function call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${baseUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
  }
  return { call, close: () => new Promise((resolve) => server.close(resolve)) };
}

const runRequest = { agent: 'support', input: 'Refund order 1001' };

async function runsHoldingKey(db: Db, tenantId: string, key: string): Promise<number> {
  const { rows } = await db.query('SELECT count(*)::int AS n FROM runs WHERE tenant_id = $1 AND idempotency_key = $2', [tenantId, key]);
  return rows[0].n;
}

describe('PostgreSQL away', () => {
  let stack: TestStack;
  let proxy: TcpProxy;
  let db: Db;
  let api: Awaited<ReturnType<typeof serve>>;
  /** Names this file's connections, so only they are ever terminated. */
  const applicationName = `bosun_pg_away_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    stack = await startTestStack();
    const url = new URL(stack.env.DATABASE_URL!);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.port = String(proxy.port);
    url.searchParams.set('application_name', applicationName);
    db = createPool(url.toString(), 2, { connectionTimeoutMs: 3_000 });
    api = await serve(createApp({ db, temporal: stack.temporal, taskQueue: stack.env.TEMPORAL_TASK_QUEUE!, approvalTimeoutMs: 60_000 }), stack.apiKey);
  });
  afterAll(async () => {
    await api?.close();
    await proxy?.close();
    await db?.end();
    await stack?.close();
  });

  it('answers 503 with Retry-After while it is away, and serves the retried request once it is back', async () => {
    const started = await api.call('POST', '/v1/runs', runRequest);
    expect(started.status).toBe(202);
    expect((await api.call('GET', '/readyz')).body).toEqual({ ready: true, dependencies: { postgres: 'up', temporal: 'up' } });

    await proxy.cut();
    const read = await api.call('GET', `/v1/runs/${started.body.runId}`);
    expect(read).toMatchObject({ status: 503, retryAfter: '2', body: { error: { code: 'unavailable', message: expect.stringMatching(/PostgreSQL/) } } });
    const key = `pg-away-${randomBytes(4).toString('hex')}`;
    const refused = await api.call('POST', '/v1/runs', runRequest, { 'idempotency-key': key });
    expect(refused).toMatchObject({ status: 503, retryAfter: '2' });
    const ready = await api.call('GET', '/readyz');
    expect(ready).toMatchObject({ status: 503, retryAfter: '2', body: { ready: false, dependencies: { postgres: 'down', temporal: 'up' } } });

    await proxy.restore();
    const retried = await api.call('POST', '/v1/runs', runRequest, { 'idempotency-key': key });
    expect(retried.status).toBe(202);
    expect((await api.call('GET', `/v1/runs/${started.body.runId}`)).status).toBe(200);
    expect((await api.call('GET', '/readyz')).status).toBe(200);
    expect(await runsHoldingKey(stack.db, stack.tenantId, key)).toBe(1);
    await stack.waitForStatus(retried.body.runId, 'awaiting_approval');
  });

  it('answers 503 when PostgreSQL ends the connection mid-request (57P01 admin_shutdown)', async () => {
    const runId = await stack.startRun('Refund order 1002');
    const approvalId = (await stack.waitForStatus(runId, 'awaiting_approval')).pendingApprovals[0].approvalId;
    // Holds the approval's row lock, so the API's decision waits on it, mid-request.
    const holder = await stack.db.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM approvals WHERE approval_id = $1 FOR UPDATE', [approvalId]);
      const decision = api.call('POST', `/v1/runs/${runId}/approvals/${approvalId}`, { decision: 'approve' });
      const pid = await waitFor(async () => {
        const { rows } = await stack.db.query(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [applicationName],
        );
        return rows[0]?.pid as number | undefined;
      });
      await stack.db.query('SELECT pg_terminate_backend($1)', [pid]);
      expect(await decision).toMatchObject({ status: 503, retryAfter: '2', body: { error: { code: 'unavailable' } } });
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    // Nothing was decided; sent again, the decision goes through.
    expect((await api.call('POST', `/v1/runs/${runId}/approvals/${approvalId}`, { decision: 'approve' })).status).toBe(202);
    await stack.waitForStatus(runId, 'completed');
  });
});

describe('Temporal away', () => {
  const cliPath = findOrBuildTemporalCli(process.env.TEMPORAL_CLI, () => undefined);
  let temporal: DevServer;
  let stack: TestStack;

  beforeAll(async () => {
    temporal = await startTemporalDevServer({ cliPath });
    stack = await startTestStack({ services: { databaseUrl: inject('databaseUrl'), temporalAddress: temporal.address } });
  });
  afterAll(async () => {
    await stack?.close();
    await temporal?.stop();
  });

  it('answers 503 with Retry-After without holding a database connection, and takes the retry once Temporal is back', async () => {
    // The APIs' own connection to Temporal: grpc-js shares a subchannel between connections to one
    // address, and the calls made while Temporal is away grow its reconnect backoff, which the
    // restarted dev server's own connection would then wait out past its 10 s deadline on a busy
    // machine. A private subchannel with a short backoff keeps the two apart.
    const connection = await Connection.connect({
      address: temporal.address,
      channelArgs: { 'grpc.use_local_subchannel_pool': 1, 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2_000 },
    });
    const temporalClient = new Client({ connection });
    const api = await serve(createApp({ db: stack.db, temporal: temporalClient, taskQueue: stack.env.TEMPORAL_TASK_QUEUE!, approvalTimeoutMs: 60_000 }), stack.apiKey);
    // A second API on one database connection: a request that held it while waiting for Temporal would hold up every other.
    const single = createPool(stack.env.DATABASE_URL!, 1);
    const singleApi = await serve(
      createApp({
        db: single, temporal: temporalClient, taskQueue: stack.env.TEMPORAL_TASK_QUEUE!, approvalTimeoutMs: 60_000,
        settings: { ...defaultApiSettings, temporalCallTimeoutMs: 10_000 },
      }),
      stack.apiKey,
    );
    try {
      expect((await api.call('GET', '/readyz')).body).toEqual({ ready: true, dependencies: { postgres: 'up', temporal: 'up' } });
      await temporal.stop();

      const key = `temporal-away-${randomBytes(4).toString('hex')}`;
      const finished: string[] = [];
      const start = singleApi.call('POST', '/v1/runs', runRequest, { 'idempotency-key': key }).finally(() => finished.push('start'));
      const list = singleApi.call('GET', '/v1/runs?limit=1').finally(() => finished.push('list'));
      const [refused, listed] = await Promise.all([start, list]);
      expect(listed.status).toBe(200);
      expect(refused).toMatchObject({ status: 503, retryAfter: '2', body: { error: { code: 'unavailable', message: expect.stringMatching(/Temporal/) } } });
      expect(finished).toEqual(['list', 'start']);
      expect(await runsHoldingKey(stack.db, stack.tenantId, key)).toBe(0);

      const ready = await api.call('GET', '/readyz');
      expect(ready).toMatchObject({ status: 503, retryAfter: '2', body: { ready: false, dependencies: { postgres: 'up', temporal: 'down' } } });

      temporal = await startTemporalDevServer({ cliPath, port: Number(temporal.address.split(':').pop()) });
      const retried = await waitFor(async () => {
        const res = await api.call('POST', '/v1/runs', runRequest, { 'idempotency-key': key });
        return res.status === 202 ? res : undefined;
      });
      await stack.waitForStatus(retried.body.runId, 'awaiting_approval');
      expect(await runsHoldingKey(stack.db, stack.tenantId, key)).toBe(1);
      expect((await api.call('GET', '/readyz')).status).toBe(200);
    } finally {
      await Promise.all([api.close(), singleApi.close()]);
      await single.end();
      await connection.close();
    }
    // Two dev server starts and a 10 s deadline: generous, for a busy machine.
  }, 180_000);
});

/** Polls until `probe` gives a value (generously: the machine may be busy). */
async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}
