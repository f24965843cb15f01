/**
 * `GET /v1/runs/:runId/events` wakes on PostgreSQL LISTEN/NOTIFY (src/db/runEventListener.ts and the
 * trigger of migration 015): the events router alone over real HTTP, on a pool of its own whose
 * connections carry a name of this file's, so PostgreSQL's pg_stat_activity shows every statement
 * they run (the listening connection's included). Events are appended through another pool, as the
 * worker appends them; no Temporal needed.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { inject } from 'vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from '../../src/api/auth';
import { errorHandler } from '../../src/api/errors';
import { eventsRouter, type EventsRouterDeps } from '../../src/api/eventsRouter';
import { seedApiKeys } from '../../src/db/apiKeys';
import { createPool, type Db } from '../../src/db/pool';
import { createRunEventListener, type RunEventListener } from '../../src/db/runEventListener';
import { appendRunEvent, eventKeys } from '../../src/db/runEvents';
import { openSse, type SseConnection } from '../support/sse';
import { startTcpProxy } from '../support/tcpProxy';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';

const applicationName = `bosun_sse_${randomBytes(4).toString('hex')}`;
const tenantId = newTenantId();
const apiKey = `key_${randomBytes(6).toString('hex')}`;

/** Every statement the router's pool was asked to run: its SQL and its first parameter. */
const statements: { sql: string; first: unknown }[] = [];
/** How often the router read the events of `runId`. */
const readsOf = (runId: string) => statements.filter((s) => s.sql.includes('FROM run_events') && s.first === runId).length;

let routerDb: Db;
/** Another connection to the same database: where "the worker" appends events and the test looks around. */
let other: Db;
const servers: Server[] = [];
const streams: SseConnection[] = [];
const listeners: RunEventListener[] = [];

beforeAll(async () => {
  const url = new URL(inject('databaseUrl'));
  url.searchParams.set('application_name', applicationName);
  routerDb = createPool(url.toString(), 5);
  other = await openTenantDb(tenantId);
  await seedApiKeys(other, [{ key: apiKey, tenantId, roles: ['runner'] }]);
});

afterAll(async () => {
  await Promise.all(streams.map((s) => s.close()));
  for (const server of servers) server.closeAllConnections();
  await Promise.all(listeners.map((l) => l.close()));
  await routerDb?.end();
  await other?.end();
});

/** The pool, counting every query it is asked to run (the router reads through `query` only). */
function counted(db: Db): Db {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'query') {
        return (...args: unknown[]) => {
          statements.push({ sql: String(args[0]), first: (args[1] as unknown[] | undefined)?.[0] });
          return (target.query as (...a: unknown[]) => unknown)(...args);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Db;
}

/** The events router (and authentication) on the counted pool, served over HTTP. */
async function serve(options: Omit<EventsRouterDeps, 'db'> = {}) {
  const db = counted(routerDb);
  const app = express();
  app.use('/v1', authenticate(db), eventsRouter({ db, ...options }));
  app.use(errorHandler);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const open = async (runId: string, headers: Record<string, string> = {}) => {
    const stream = await openSse(`${baseUrl}/v1/runs/${runId}/events`, { authorization: `Bearer ${apiKey}`, ...headers });
    streams.push(stream);
    return stream;
  };
  return { server, open };
}

/** A run row with nothing behind it (no workflow): its events are whatever the test appends. */
async function quietRun(events = 1): Promise<string> {
  const runId = await insertTestRun(other, tenantId, 'awaiting_approval');
  for (let i = 1; i <= events; i += 1) await append(runId, i);
  return runId;
}

const append = (runId: string, n: number) => appendRunEvent(other, runId, 'tool.called', `test:${n}`, { n });

/**
 * A listener on the router's pool settings, already listening: it holds a subscription of its own,
 * and resolves once that is woken, which happens when LISTEN has taken effect.
 */
async function listeningListener(options: Parameters<typeof createRunEventListener>[1] = {}): Promise<RunEventListener> {
  const listener = createRunEventListener(routerDb.options, options);
  listeners.push(listener);
  await new Promise<void>((resolve) => listener.subscribe('00000000-0000-0000-0000-000000000000', resolve));
  return listener;
}

/** Every backend of the router's pool and listener, with the start of the last statement each ran. */
async function activity(): Promise<Map<number, string>> {
  const { rows } = await other.query(
    `SELECT pid, query_start::text AS started FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`,
    [applicationName],
  );
  return new Map(rows.map((r) => [r.pid, r.started]));
}

/** The backends that ran a statement between two looks (new ones included; closed ones ran nothing). */
function busyBetween(before: Map<number, string>, after: Map<number, string>): number[] {
  return [...after].filter(([pid, started]) => before.get(pid) !== started).map(([pid]) => pid);
}

/** The backend of the listening connection named `name`, once there is exactly one and it is not `except`. */
async function listenerBackend(name: string, except?: number): Promise<number> {
  return pollFor(async () => {
    const { rows } = await other.query(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() AND query LIKE 'LISTEN %'`,
      [name],
    );
    return rows.length === 1 && rows[0].pid !== except ? (rows[0].pid as number) : undefined;
  }, 'a listening connection');
}

async function pollFor<T>(look: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await look();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what} did not appear in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const idOf = async (stream: SseConnection) => (await stream.next(15_000))?.id;

describe('an event stream that wakes on NOTIFY', () => {
  it('makes no query at all while its streams are idle, heartbeats included', async () => {
    // Events first, then the listener: no notification is on its way to any of these streams.
    const runIds = await Promise.all(Array.from({ length: 20 }, () => quietRun()));
    const { open } = await serve({ runEventListener: await listeningListener(), eventsHeartbeatMs: 300 });
    const open20 = await Promise.all(runIds.map((runId) => open(runId)));
    for (const stream of open20) expect(await idOf(stream)).toBe('1');

    const queriesBefore = statements.length;
    const backendsBefore = await activity();
    expect(backendsBefore.size).toBeGreaterThanOrEqual(2); // the pool's connection and the listening one
    // Two seconds of nothing happening, as every stream sees it: no event, only heartbeats.
    await Promise.all(open20.map((stream) => expect(stream.next(2000)).rejects.toThrow(/did not arrive/)));

    expect(statements.length - queriesBefore).toBe(0);
    expect(busyBetween(backendsBefore, await activity())).toEqual([]);
    for (const stream of open20) expect(stream.comments.filter((c) => c === 'heartbeat').length).toBeGreaterThanOrEqual(3);
  });

  it('delivers an event appended by another connection with one read, and none for a client that left', async () => {
    const { server, open } = await serve({ runEventListener: await listeningListener() });
    const closedResponses = new Set<string>();
    // (Express has taken the /v1 off the URL by the time this listener runs.)
    server.on('request', ({ url }, res) => res.on('close', () => closedResponses.add(url!)));
    const [watched, left] = [await quietRun(), await quietRun()];
    const gone = await open(left);
    expect(await idOf(gone)).toBe('1');
    await gone.close();
    await pollFor(async () => (closedResponses.has(`/runs/${left}/events`) ? true : undefined), 'the server seeing the client go');
    const readsOfLeft = readsOf(left);

    const stream = await open(watched);
    expect(await idOf(stream)).toBe('1');
    const readsOfWatched = readsOf(watched);
    // A while of nothing: a stream that polled would read meanwhile.
    await expect(stream.next(1000)).rejects.toThrow(/did not arrive/);
    await append(left, 2);
    await append(watched, 2);
    expect(await idOf(stream)).toBe('2');
    // Woken once by the notification, it read once; the run whose client left was not read at all.
    expect(readsOf(watched) - readsOfWatched).toBe(1);
    expect(readsOf(left)).toBe(readsOfLeft);
  });

  it('survives its listening connection being killed: events from the outage and after it arrive, none lost', async () => {
    // A name of its own, to be found; a second before reconnecting, so the next event is committed while nobody listens.
    const name = `${applicationName}_listener`;
    const url = new URL(inject('databaseUrl'));
    url.searchParams.set('application_name', name);
    const listener = createRunEventListener({ connectionString: url.toString() }, { reconnectDelayMs: 1000 });
    listeners.push(listener);
    const { open } = await serve({ runEventListener: listener });
    const runId = await quietRun();
    const stream = await open(runId);
    expect(await idOf(stream)).toBe('1');
    const killed = await listenerBackend(name);

    await other.query('SELECT pg_terminate_backend($1)', [killed]);
    await append(runId, 2);
    // No notification can carry it: the stream reads again once the listener is back.
    expect(await idOf(stream)).toBe('2');
    await listenerBackend(name, killed);
    await append(runId, 3);
    expect(await idOf(stream)).toBe('3');
  });

  it('resumes with Last-Event-ID after its server shut down, with exactly the events missed, then live ones', async () => {
    const first = await serve({ runEventListener: await listeningListener() });
    const second = await serve();
    const runId = await quietRun(3);
    const before = await first.open(runId);
    expect([await idOf(before), await idOf(before), await idOf(before)]).toEqual(['1', '2', '3']);

    // Shutting down ends the stream (a closing server waits for it); the client resumes elsewhere.
    const closed = new Promise<void>((resolve) => first.server.close(() => resolve()));
    expect(await before.rest(10_000)).toEqual([]);
    await closed;
    await append(runId, 4);
    await append(runId, 5);

    const after = await second.open(runId, { 'last-event-id': '3' });
    expect([await idOf(after), await idOf(after)]).toEqual(['4', '5']);
    await append(runId, 6);
    expect(await idOf(after)).toBe('6');
    await appendRunEvent(other, runId, 'run.finished', eventKeys.runFinished(), { status: 'completed' });
    expect((await after.rest(10_000)).map((e) => e.id)).toEqual(['7']);
    expect(after.ended).toBe(true);
    expect((await second.open(runId, { 'last-event-id': '7' })).status).toBe(204);
  });

  it('gives a stream the events committed between its first read and its listener listening', async () => {
    // The listener's way to PostgreSQL is cut, so it cannot LISTEN until the test lets it.
    const url = new URL(inject('databaseUrl'));
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    try {
      await proxy.cut();
      url.port = String(proxy.port);
      const listener = createRunEventListener({ connectionString: url.toString() });
      listeners.push(listener);
      const { open } = await serve({ runEventListener: listener });
      const runIds = await Promise.all(Array.from({ length: 5 }, () => quietRun(0)));
      const opened = await Promise.all(runIds.map((runId) => open(runId)));
      await pollFor(async () => (runIds.every((runId) => readsOf(runId) > 0) ? true : undefined), 'every first read');
      for (const runId of runIds) for (let n = 1; n <= 2; n += 1) await append(runId, n);

      await proxy.restore();
      for (const stream of opened) expect([await idOf(stream), await idOf(stream)]).toEqual(['1', '2']);
    } finally {
      await proxy.close();
    }
  });
});
