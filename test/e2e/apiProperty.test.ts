/**
 * Property test at the API: every body field, query field, path parameter and header of every route,
 * filled with generated hostile values (Unicode with U+0000 and lone surrogates, very long strings,
 * numbers past a double's range, deep nesting, wrong types), never gets a 5xx, and every request is
 * answered. Seeded and counted (see test/support/hostileValues.ts), so each run sends the same
 * requests: 710 of them, in about 20 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { encodeUrlText, hostileString, hostileValue, pick, seededRng, toJsonText, type Rng } from '../support/hostileValues';
import { startTestStack, testAgentsDir, type TestStack } from '../support/testStack';

const SEED = 20_260_808;
/** Generated values per body field, query field, path parameter and header. */
const SAMPLES = 5;
/** Bodies that are not the route's shape at all. */
const malformedBodies = ['{', '[]', '"text"', 'null', '1', '{"a":1}{', '\uFEFF{}', '{"agent":"support","agent":7}', ''];

type Json = Record<string, unknown>;
type Path = (string | number)[];

describe('API property: no generated request gets a 5xx', () => {
  let stack: TestStack;
  let supportBundleId: string;
  let finishedRunId: string;
  const pending: { runId: string; approvalId: string }[] = [];

  async function parkRun(): Promise<void> {
    const runId = await stack.startRun('Refund order 1001');
    const run = await stack.waitForStatus(runId, 'awaiting_approval');
    pending.push({ runId, approvalId: run.pendingApprovals[0].approvalId });
  }

  beforeAll(async () => {
    stack = await startTestStack({ agentsDir: testAgentsDir });
    supportBundleId = stack.bundles.find((b) => b.name === 'support')!.id;
    finishedRunId = await stack.startRun('hello');
    await stack.waitForStatus(finishedRunId, 'completed');
    await Promise.all([parkRun(), parkRun(), parkRun()]);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('answers every generated request with a status below 500', async () => {
    const rng = seededRng(SEED);
    const failures: string[] = [];
    let sent = 0;

    async function send(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<number> {
      sent += 1;
      try {
        const res = await fetch(`${stack.baseUrl}${url}`, {
          method,
          headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', ...headers },
          body,
          signal: AbortSignal.timeout(30_000),
        });
        await res.arrayBuffer();
        return res.status;
      } catch (err) {
        failures.push(`${method} ${url.slice(0, 120)}: no answer (${(err as Error).message}) ← ${preview(body ?? '')}`);
        return 0;
      }
    }
    async function expectAnswered(method: string, url: string, where: string, value: unknown, body?: string, headers?: Record<string, string>) {
      const status = await send(method, url, body, headers);
      if (status >= 500) failures.push(`${method} ${url.slice(0, 120)} ${where}: ${status} ← ${preview(toJsonText(value))}`);
      return status;
    }

    interface BodyRoute {
      method: string;
      url: () => string;
      body: Json;
      /** After a 2xx: what the route needs to be tried again (a decided approval cannot be decided twice). */
      accepted?: () => Promise<void>;
    }
    async function sendBody(route: BodyRoute, where: string, value: unknown, text: string) {
      const status = await expectAnswered(route.method, route.url(), where, value, text);
      if (status >= 200 && status < 300) await route.accepted?.();
    }

    // Bodies: each field (and each object and array on the way) replaced by generated values, then removed.
    const bodyRoutes: BodyRoute[] = [
      { method: 'POST', url: () => '/v1/runs', body: { agent: 'support', input: 'hello', metadata: { ticket: 'T-1', n: 1, ok: true, none: null }, routingKey: 'r-1' } },
      {
        method: 'POST', url: () => `/v1/runs/${pending[0]!.runId}/approvals/${pending[0]!.approvalId}`,
        body: { decision: 'approve', arguments: { order_id: '1001', amount_cents: 1, reason: 'r' }, comment: 'ok' }, accepted: nextApproval,
      },
      { method: 'POST', url: () => '/v1/bundles', body: readBundleDir(`${testAgentsDir}/support`) },
      { method: 'POST', url: () => '/v1/agents/support/deployments', body: { bundleId: supportBundleId, strategy: 'immediate' } },
      {
        method: 'POST', url: () => '/v1/agents/support/deployments',
        body: {
          bundleId: supportBundleId, strategy: 'canary', stages: [{ weight: 50, holdSeconds: 60, minRuns: 5 }, { weight: 100 }],
          thresholds: { maxFailureRateIncrease: 0.05, maxP95LatencyRatio: 2 }, checkIntervalSeconds: 30,
        },
      },
      { method: 'POST', url: () => '/v1/agents/support/rollout/pause', body: { reason: 'looking into it' } },
      { method: 'POST', url: () => '/v1/keys', body: { name: 'ci', roles: ['runner', 'approver'] } },
      { method: 'PUT', url: () => '/v1/budgets/month', body: { limitUsd: 1000, mode: 'soft', onExceeded: 'fail' } },
      { method: 'POST', url: () => '/codec/decode', body: { payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'e30=' }] } },
      { method: 'POST', url: () => '/v1/memories', body: { namespace: 'user:u1', text: 'Likes green tea.', subject: 'u1', ttl: '30d' } },
      { method: 'PATCH', url: () => '/v1/memories/00000000-0000-4000-8000-000000000000', body: { text: 'Likes coffee.', expiresAt: null } },
    ];
    for (const route of bodyRoutes) {
      for (const path of pathsOf(route.body)) {
        const where = path.length ? path.join('.') : 'body';
        for (let i = 0; i < SAMPLES; i += 1) {
          const value = hostileValue(rng);
          await sendBody(route, where, value, toJsonText(withValue(route.body, path, value)));
        }
        if (path.length > 0) await sendBody(route, `${where} removed`, '', toJsonText(withValue(route.body, path, undefined)));
      }
      for (const text of malformedBodies) await sendBody(route, 'malformed body', text, text);
      const extra = hostileString(rng).slice(0, 100);
      await sendBody(route, `unknown field ${JSON.stringify(extra)}`, extra, toJsonText({ ...route.body, [extra]: hostileValue(rng) }));
    }

    // Queries: each field generated, repeated, and an unknown one.
    const queryRoutes: [string, string[]][] = [
      ['/v1/runs', ['agent', 'bundleId', 'status', 'limit', 'cursor']],
      ['/v1/approvals', ['status', 'limit', 'cursor']],
      ['/v1/audit', ['runId', 'since', 'limit']],
      ['/v1/usage', ['groupBy', 'from', 'to']],
      [`/v1/runs/${finishedRunId}/events`, ['after']],
      ['/v1/memories', ['namespace', 'subject', 'limit', 'cursor']],
      ['/v1/memories/search', ['q', 'namespace', 'limit']],
    ];
    for (const [route, fields] of queryRoutes) {
      for (const field of [...fields, 'unknown']) {
        for (let i = 0; i < SAMPLES; i += 1) {
          const value = urlValue(rng);
          await expectAnswered('GET', `${route}?${field}=${encodeUrlText(value)}`, `?${field}`, value);
        }
        await expectAnswered('GET', `${route}?${field}=a&${field}=b`, `?${field} twice`, ['a', 'b']);
      }
    }

    // Path parameters.
    const pathRoutes: [string, (segment: string) => string][] = [
      ['GET', (x) => `/v1/runs/${x}`],
      ['GET', (x) => `/v1/runs/${x}/events`],
      ['POST', (x) => `/v1/runs/${x}/cancel`],
      ['POST', (x) => `/v1/runs/${x}/approvals/${x}`],
      ['GET', (x) => `/v1/bundles/${x}`],
      ['GET', (x) => `/v1/bundles/${supportBundleId}/diff/${x}`],
      ['GET', (x) => `/v1/agents/${x}`],
      ['GET', (x) => `/v1/agents/${x}/bundles`],
      ['POST', (x) => `/v1/agents/${x}/deployments`],
      ['POST', (x) => `/v1/agents/support/rollout/${x}`],
      ['GET', (x) => `/v1/agents/support/rollouts/${x}`],
      ['DELETE', (x) => `/v1/keys/${x}`],
      ['PUT', (x) => `/v1/budgets/${x}`],
      ['GET', (x) => `/v1/memories/${x}`],
      ['PATCH', (x) => `/v1/memories/${x}`],
      ['DELETE', (x) => `/v1/memories/${x}`],
      ['DELETE', (x) => `/v1/memories?subject=${x}`],
    ];
    for (const [method, route] of pathRoutes) {
      for (let i = 0; i < SAMPLES; i += 1) {
        const value = urlValue(rng);
        await expectAnswered(method, route(encodeUrlText(value)), 'path', value, method === 'GET' ? undefined : '{}');
      }
    }

    // Headers the API reads.
    for (let i = 0; i < SAMPLES * 3; i += 1) {
      const value = headerValue(rng);
      await expectAnswered('POST', '/v1/runs', 'Idempotency-Key', value, toJsonText(bodyRoutes[0]!.body), { 'idempotency-key': value });
      await expectAnswered('GET', `/v1/runs/${finishedRunId}/events`, 'Last-Event-ID', value, undefined, { 'last-event-id': value });
    }

    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(700);
  }, 240_000);

  /** The decision route's approval was decided: the next pending one, parking another run when none is left. */
  async function nextApproval(): Promise<void> {
    pending.shift();
    if (pending.length === 0) await parkRun();
  }
});

/** Every path into a JSON value: the root, each key and index, all the way down. */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  const children =
    Array.isArray(value) ? value.map((v, i) => pathsOf(v, [...prefix, i])) :
    value !== null && typeof value === 'object' ? Object.entries(value).map(([k, v]) => pathsOf(v, [...prefix, k])) : [];
  return [prefix, ...children.flat()];
}

/** A copy of `body` with the value at `path` replaced (or removed, for undefined); the root replaces the body. */
function withValue(body: Json, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(body);
  let parent: any = copy;
  for (const key of path.slice(0, -1)) parent = parent[key];
  const last = path.at(-1)!;
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    parent[last] = value;
  }
  return copy;
}

/** A generated string short enough for a URL (Node refuses request heads over 16 KiB with a 431). */
function urlValue(rng: Rng): string {
  return hostileString(rng).slice(0, 2_000);
}

/** A generated header value: what HTTP can carry (Latin-1, no control characters). */
function headerValue(rng: Rng): string {
  const text = [...hostileString(rng).slice(0, 500)].filter((c) => c >= ' ' && c <= '\u00ff' && c !== '\u007f').join('');
  return text.trim() || pick(rng, ['a', 'x y', 'ÿ']);
}

function preview(text: string): string {
  return text.length > 160 ? `${text.slice(0, 160)}… (${text.length} chars)` : text;
}
