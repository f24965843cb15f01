/**
 * /readyz counts Temporal as up only when the API's own namespace answers: a server that is up but
 * has no such namespace (a wrong TEMPORAL_NAMESPACE, or a Cloud API key without access to it) keeps
 * the API out of service with 503, while /healthz (liveness) still answers.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { createPool, type Db } from '../../src/db/pool';

describe('/readyz and the Temporal namespace', () => {
  let connection: Connection;
  let db: Db;
  const servers: Server[] = [];

  /** An API on its own port whose Temporal client uses `namespace`; its base URL. */
  async function apiOn(namespace: string): Promise<string> {
    const app = createApp({ db, temporal: new Client({ connection, namespace }), taskQueue: 'readiness', approvalTimeoutMs: 60_000 });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    connection = await Connection.connect({ address: inject('temporalAddress') });
    db = createPool(inject('databaseUrl'), 2);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await connection?.close();
    await db?.end();
  });

  it('is ready when PostgreSQL and its namespace answer', async () => {
    const res = await fetch(`${await apiOn('default')}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ready: true, dependencies: { postgres: 'up', temporal: 'up' } });
  });

  it('is not ready on a namespace the server does not have, and stays live', async () => {
    const baseUrl = await apiOn('no-such-namespace');
    const ready = await fetch(`${baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBeTruthy();
    expect(await ready.json()).toEqual({ ready: false, dependencies: { postgres: 'up', temporal: 'down' } });
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
  });
});
