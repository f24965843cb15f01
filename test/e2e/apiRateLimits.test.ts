/**
 * Per-key rate limits shared by API replicas: two API processes (src/api/main.ts) on one database,
 * requests alternating between them, count against one limit per key; over it they answer 429
 * `rate_limited` with Retry-After; another key has its own count; a key's own limit in
 * api_rate_limits overrides the configured default.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool, type Db } from '../../src/db/pool';
import { spawnService, type Service } from '../../src/dev/services';
import { dropDatabase, freshDatabase } from '../support/provision';

const LIMIT = 4;
const keys = { first: 'rl-first-key', second: 'rl-second-key', own: 'rl-own-limit-key' };

/** A key's id as the API shows it (src/db/apiKeys.ts). */
const keyIdOf = (key: string) => `key_${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('API rate limits across two API processes', () => {
  const url = new URL(inject('databaseUrl'));
  url.pathname = `${url.pathname}_rate_limits_${process.pid}`;
  const databaseUrl = url.toString();
  let db: Db;
  const apis: { service: Service; baseUrl: string }[] = [];
  let turn = 0;

  /** GET /v1/runs with `key`, on the two API processes in turn. */
  async function call(key: string) {
    const { baseUrl } = apis[turn++ % apis.length]!;
    const res = await fetch(`${baseUrl}/v1/runs`, { headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
  }

  /** Waits (by PostgreSQL's clock) until a minute has at least 30 s left, so a burst stays in one window. */
  async function startOfAWindow() {
    const secondsIn = async () => (await db.query(`SELECT extract(second FROM now())::float AS s`)).rows[0].s as number;
    while ((await secondsIn()) > 30) await new Promise((r) => setTimeout(r, 1_000));
  }

  beforeAll(async () => {
    await freshDatabase(databaseUrl);
    db = createPool(databaseUrl, 2);
    for (let i = 0; i < 2; i += 1) {
      const port = await freePort();
      const service = spawnService(`api-${i}`, 'src/api/main.ts', {
        ...process.env,
        DATABASE_URL: databaseUrl,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        BOSUN_API_PORT: String(port),
        BOSUN_API_RATE_LIMIT: String(LIMIT),
        BOSUN_API_KEYS: Object.values(keys).map((key) => `${key}:rl-tenant`).join(','),
      }, true);
      apis.push({ service, baseUrl: `http://127.0.0.1:${port}` });
    }
    await Promise.all(apis.map((api) => api.service.ready));
  });
  afterAll(async () => {
    await Promise.all(apis.map((api) => api.service.stop()));
    await db?.end();
    await dropDatabase(databaseUrl);
  });

  it('shares one count per key between the processes and answers 429 with Retry-After over it', async () => {
    await startOfAWindow();
    const answers = [];
    for (let i = 0; i < LIMIT + 2; i += 1) answers.push(await call(keys.first));
    expect(answers.map((a) => a.status)).toEqual([...Array(LIMIT).fill(200), 429, 429]);
    const refused = answers[LIMIT]!;
    expect(refused.body).toEqual({
      error: { code: 'rate_limited', message: expect.stringContaining(`more than ${LIMIT} requests this minute`), problems: [] },
    });
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);

    // Another key of the same tenant has a count of its own.
    expect((await call(keys.second)).status).toBe(200);
  });

  it("applies a key's own limit over the default, read by both processes", async () => {
    await startOfAWindow();
    // As docs/deploy.md shows: the key's id (GET /v1/keys) and its own limit per minute.
    await db.query(
      `INSERT INTO api_rate_limits (key_id, limit_per_minute) VALUES ($1, 1) ON CONFLICT (key_id) DO UPDATE SET limit_per_minute = 1`,
      [keyIdOf(keys.own)],
    );
    expect([(await call(keys.own)).status, (await call(keys.own)).status]).toEqual([200, 429]);
  });
});
