/**
 * Rate limits from both sides: the provider's 429s (honoured, backed off with jitter, counted per
 * run) and Bosun's own per-provider limits, held in PostgreSQL across worker processes.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { admitCall, settleGrant, WINDOW_SECONDS } from '../../src/activities/model/providerLimiter';
import { createPool, type Db } from '../../src/db/pool';
import type { ModelScript, RecordedRequest } from '../../src/dev/scriptedModel';
import { startTestStack } from '../support/testStack';

const firstUserMessage = (r: RecordedRequest) => r.messages.find((m) => m.role === 'user')?.content;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Look an order up twice, then answer: three model calls per run, no approvals. */
const twoLookups = (faults: ModelScript['faults'] = []): ModelScript => ({
  rules: [
    { when: { role: 'tool', tool: 'lookup_order', minMessages: 6 }, reply: { content: 'Both look-ups agree.' } },
    { when: { role: 'tool', tool: 'lookup_order' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"1002"}' }] } },
    { when: { role: 'user', matches: 'order\\s*#?(\\d+)' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
  ],
  faults,
});

/** Look an order up, then answer: two model calls per run. */
const oneLookup: ModelScript = {
  rules: [
    { when: { role: 'tool', tool: 'lookup_order' }, reply: { content: 'Found it.' } },
    { when: { role: 'user', matches: 'order\\s*#?(\\d+)' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
  ],
};

describe('the provider limiter in PostgreSQL', () => {
  let dbs: Db[];
  beforeAll(() => {
    // Two pools: callers on different connections, as two workers are.
    dbs = [createPool(inject('databaseUrl'), 10), createPool(inject('databaseUrl'), 10)];
  });
  afterAll(() => Promise.all(dbs.map((db) => db.end())));

  const provider = (name: string) => `test://${name}-${Math.random().toString(36).slice(2)}`;
  const dbNow = async () => Number((await dbs[0]!.query('SELECT floor(extract(epoch FROM clock_timestamp()))::bigint AS s')).rows[0].s);
  const buckets = async (p: string) =>
    (await dbs[0]!.query('SELECT epoch_second AS second, requests, tokens FROM provider_rate_buckets WHERE provider = $1 ORDER BY 1', [p])).rows;

  it('grants exactly the limit to 60 concurrent callers and books the rest ahead, no window over the limit', async () => {
    const p = provider('concurrent');
    const limit = { requestsPerMinute: 25 };
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => admitCall(dbs[i % 2]!, { provider: p, limit, ticketId: `${p}:${i}`, tokens: 100 })),
    );
    expect(results.filter((r) => r.granted)).toHaveLength(25);
    const rows = await buckets(p);
    expect(rows.reduce((n, b) => n + b.requests, 0)).toBe(60);
    for (const b of rows) {
      const inWindow = rows.filter((o) => o.second >= b.second && o.second < b.second + WINDOW_SECONDS);
      expect(inWindow.reduce((n, o) => n + o.requests, 0)).toBeLessThanOrEqual(25);
    }
    // 25 now, 25 once those leave the window, 10 a window later.
    const seconds = rows.map((b) => b.second);
    expect(Math.max(...seconds) - Math.min(...seconds)).toBeGreaterThanOrEqual(2 * WINDOW_SECONDS);
    const { rows: tickets } = await dbs[0]!.query('SELECT count(*)::int AS n FROM provider_rate_tickets WHERE provider = $1', [p]);
    expect(tickets[0].n).toBe(35);
  });

  it('lets a booked call in at its second, once, and settles its real tokens', async () => {
    const p = provider('ticket');
    const limit = { requestsPerMinute: 3 };
    // The window is full because of a second about to leave it: the next room is in a second or two.
    const now = await dbNow();
    await dbs[0]!.query('INSERT INTO provider_rate_buckets VALUES ($1, $2, 3, 0)', [p, now - WINDOW_SECONDS + 2]);
    const first = await admitCall(dbs[0]!, { provider: p, limit, ticketId: `${p}:a`, tokens: 500 });
    expect(first.granted).toBe(false);
    if (first.granted) return;
    expect(first.second).toBeGreaterThan(now);
    // Back too early: still waiting for the same second, nothing counted twice.
    const early = await admitCall(dbs[1]!, { provider: p, limit, ticketId: `${p}:a`, tokens: 500 });
    expect(early).toMatchObject({ granted: false, second: first.second });
    await sleep(first.second * 1000 - first.nowMs + 100);
    const onTime = await admitCall(dbs[1]!, { provider: p, limit, ticketId: `${p}:a`, tokens: 500 });
    expect(onTime).toMatchObject({ granted: true, grant: { second: first.second, tokens: 500 } });
    expect((await buckets(p)).find((b) => b.second === first.second)).toMatchObject({ requests: 1, tokens: 500 });
    if (onTime.granted) await settleGrant(dbs[0]!, onTime.grant, 42);
    expect((await buckets(p)).find((b) => b.second === first.second)).toMatchObject({ requests: 1, tokens: 42 });
  });

  it('gives a second back when its call comes too late, and queues that call again', async () => {
    const p = provider('late');
    const limit = { requestsPerMinute: 1 };
    const now = await dbNow();
    // A call from before the window, which no longer counts; and one booked for 10 s ago, whose
    // caller was down when it was due. Without that booking the window has room now.
    await dbs[0]!.query('INSERT INTO provider_rate_buckets VALUES ($1, $2, 1, 7)', [p, now - 10 - WINDOW_SECONDS]);
    await dbs[0]!.query('INSERT INTO provider_rate_buckets VALUES ($1, $2, 1, 7)', [p, now - 10]);
    await dbs[0]!.query('INSERT INTO provider_rate_tickets VALUES ($1, $2, $3, 7)', [`${p}:late`, p, now - 10]);
    const late = await admitCall(dbs[0]!, { provider: p, limit, ticketId: `${p}:late`, tokens: 7 });
    expect(late.granted).toBe(true);
    if (late.granted) expect(late.grant.second).toBeGreaterThanOrEqual(now);
    const rows = await buckets(p);
    expect(rows.find((b) => b.second === now - 10)).toMatchObject({ requests: 0, tokens: 0 });
    expect(rows.reduce((n, b) => n + b.requests, 0)).toBe(2);
  });

  it('holds tokens per minute', async () => {
    const p = provider('tokens');
    const limit = { tokensPerMinute: 1000 };
    const admit = (id: string, tokens: number) => admitCall(dbs[0]!, { provider: p, limit, ticketId: `${p}:${id}`, tokens });
    expect((await admit('a', 400)).granted).toBe(true);
    expect((await admit('b', 600)).granted).toBe(true);
    expect((await admit('c', 1)).granted).toBe(false);
  });
});

describe.concurrent('rate limits end to end', () => {
  it('rides out a minute-long 429 storm: every run completes, Retry-After is honoured, retries are counted per run', async () => {
    const STORM_MS = 50_000;
    const RUNS = 20;
    const script = twoLookups([
      // Half of each group's calls are refused while the storm lasts: one group is told when to come back.
      { when: { conversation: '^Storm A' }, status: 429, retryAfterSeconds: 2, every: 2, forMs: STORM_MS },
      { when: { conversation: '^Storm B' }, status: 429, every: 2, forMs: STORM_MS },
    ]);
    const stack = await startTestStack({ script });
    try {
      stack.model.setScript(script);
      const stormStarted = Date.now();
      const inputs = Array.from({ length: RUNS }, (_, i) => `Storm ${i % 2 ? 'B' : 'A'} ${i}: look up order 1001`);
      const runIds: string[] = [];
      // Spread over the storm, so that it meets calls from its first second to its last.
      for (const input of inputs) {
        runIds.push(await stack.startRun(input));
        await sleep((STORM_MS - 12_000) / RUNS);
      }
      const runs = await Promise.all(runIds.map((id) => stack.waitForRun(id, (r) => ['completed', 'failed'].includes(r.status), 90_000)));

      const requests = stack.model.requests;
      const refused = requests.filter((r) => r.answeredWith === 429);
      expect(runs.map((r) => r.status)).toEqual(inputs.map(() => 'completed'));
      expect(runs.every((r) => r.output === 'Both look-ups agree.')).toBe(true);
      expect(refused.length).toBeGreaterThanOrEqual(RUNS);
      expect(Math.max(...refused.map((r) => r.at)) - stormStarted).toBeGreaterThan(STORM_MS - 15_000);
      expect(requests.filter((r) => r.at - stormStarted > STORM_MS + 50).every((r) => r.answeredWith === 200)).toBe(true);

      const firstRetryGaps: number[] = [];
      runs.forEach((run, i) => {
        const mine = requests.filter((r) => firstUserMessage(r) === inputs[i]);
        // Three model calls paid for, however many times each was refused.
        expect(mine.filter((r) => r.answeredWith === 200)).toHaveLength(3);
        expect(run.retries).toEqual({
          '429': mine.filter((r) => r.answeredWith === 429).length, '5xx': 0, timeout: 0, network: 0, rate_limited_local: 0, other: 0,
          model_refused: 0, content_filtered: 0, empty_reply: 0, context_length_exceeded: 0,
        });
        // Each step (same conversation length) is a run of 429s ending in a 200.
        for (const length of new Set(mine.map((r) => r.messages.length))) {
          const attempts = mine.filter((r) => r.messages.length === length);
          attempts.slice(0, -1).forEach((attempt, n) => {
            const gap = attempts[n + 1]!.at - attempt.at;
            if (inputs[i]!.startsWith('Storm A')) {
              expect(gap, `Retry-After: 2 after attempt ${n + 1} of ${inputs[i]}`).toBeGreaterThanOrEqual(2000);
            } else {
              // 1 s, 2 s, 4 s… times 0.5–1.5.
              expect(gap).toBeGreaterThanOrEqual(500 * 2 ** n);
              // (plus the worker's own bookkeeping between two attempts, slow on a busy machine)
              expect(gap).toBeLessThan(1500 * 2 ** n + 3000);
              if (n === 0) firstRetryGaps.push(gap);
            }
          });
        }
      });
      // Jitter: the first retries after a 429 without Retry-After do not all come back after the same delay.
      expect(firstRetryGaps.length).toBeGreaterThanOrEqual(8);
      expect(Math.max(...firstRetryGaps) - Math.min(...firstRetryGaps)).toBeGreaterThan(250);
    } finally {
      await stack.close();
    }
  }, 150_000);

  it('never lets two workers together send more than requestsPerMinute in any minute, and every run completes', async () => {
    const LIMIT = 30;
    const RUNS = 20;
    const limits = { BOSUN_PROVIDER_LIMITS: JSON.stringify({ default: { requestsPerMinute: LIMIT } }) };
    const stack = await startTestStack({ script: oneLookup, workerEnv: limits });
    try {
      // A second worker process on the same task queue, ready before the runs start: a limit kept
      // per process would let each worker send 30.
      await stack.startWorker(limits);
      const inputs = Array.from({ length: RUNS }, (_, i) => `Limited ${i}: look up order 1001`);
      const runIds = await Promise.all(inputs.map((input) => stack.startRun(input)));
      const runs = await Promise.all(runIds.map((id) => stack.waitForRun(id, (r) => ['completed', 'failed'].includes(r.status), 120_000)));
      expect(runs.map((r) => r.status)).toEqual(inputs.map(() => 'completed'));

      // Two model calls per run reached the provider, each once, none refused.
      const arrivals = stack.model.requests.map((r) => r.at).sort((a, b) => a - b);
      expect(arrivals).toHaveLength(2 * RUNS);
      expect(stack.model.requests.every((r) => r.answeredWith === 200)).toBe(true);
      // The busiest minute anywhere: as many calls as the limit allows, and not one more.
      const busiest = Math.max(...arrivals.map((at) => arrivals.filter((other) => other >= at && other < at + 60_000).length));
      expect(busiest).toBe(LIMIT);
      // The calls over the limit waited for the next minute rather than being sent.
      expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual(60_000);
      expect(runs.every((r) => r.retries['429'] === 0)).toBe(true);

      // Both workers took model calls: the limit held across processes. And every attempt the
      // limiter held back is counted in its run: Temporal's own attempt numbers say how many. The
      // model call is a local activity: its marker holds its attempt (a retry that waited past the
      // local retry threshold leaves a marker with a backoff, and the attempt carries on), and the
      // worker that ran it is the one that completed the workflow task the marker was recorded in.
      const identities = new Set<string>();
      const heldBack: number[] = [];
      for (const id of runIds) {
        const { events } = await stack.temporal.workflow.getHandle(id).fetchHistory();
        let identity = '';
        let attemptsBeforeTheLast = 0;
        for (const e of events ?? []) {
          identity = e.workflowTaskCompletedEventAttributes?.identity ?? identity;
          const marker = e.markerRecordedEventAttributes;
          const data = marker?.markerName === 'core_local_activity' && marker.details?.data?.payloads?.[0]?.data;
          const call = data ? JSON.parse(Buffer.from(data).toString('utf8')) : undefined;
          if (call?.activity_type === 'callModel' && !call.backoff) {
            identities.add(identity);
            attemptsBeforeTheLast += call.attempt - 1;
          }
        }
        heldBack.push(attemptsBeforeTheLast);
      }
      expect(identities.size).toBe(2);
      expect(runs.map((r) => r.retries.rate_limited_local)).toEqual(heldBack);
      // At least one call waited, but not necessarily 2 × RUNS − LIMIT: a run whose first call waited
      // into the next minute sends its second call into a window with room, and that call needs no wait.
      expect(heldBack.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    } finally {
      await stack.close();
    }
  }, 150_000);
});
