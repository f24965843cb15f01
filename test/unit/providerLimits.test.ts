import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { failureReason, retryDelayMs } from '../../src/activities/model/callGuard';
import { findSlot, resolveProvider, type Bucket } from '../../src/activities/model/providerLimiter';
import { providerTokens } from '../../src/activities/model/tokens';
import { ConfigError, loadConfig } from '../../src/config';
import { startScriptedModel, type ScriptedModelServer } from '../../src/dev/scriptedModel';

/** Every window of `window` consecutive seconds, by its first second, with what it holds. */
function windowTotals(buckets: Bucket[], window: number) {
  const seconds = buckets.map((b) => b.second);
  const totals: { start: number; requests: number; tokens: number }[] = [];
  for (let start = Math.min(...seconds) - window + 1; start <= Math.max(...seconds); start++) {
    const inside = buckets.filter((b) => b.second >= start && b.second < start + window);
    totals.push({ start, requests: inside.reduce((n, b) => n + b.requests, 0), tokens: inside.reduce((n, b) => n + b.tokens, 0) });
  }
  return totals;
}

function add(buckets: Bucket[], second: number, tokens: number) {
  const b = buckets.find((x) => x.second === second);
  if (b) {
    b.requests += 1;
    b.tokens += tokens;
  } else buckets.push({ second, requests: 1, tokens });
}

/** A small deterministic generator, so a failure here can be replayed. */
function seeded(seed: number) {
  return () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

describe('findSlot', () => {
  const limit = { requestsPerMinute: 3 };
  it('grants now while every window containing now has room', () => {
    expect(findSlot([], 1000, 10, limit)).toBe(1000);
    expect(findSlot([{ second: 990, requests: 2, tokens: 0 }], 1000, 10, limit)).toBe(1000);
  });
  it('waits until the oldest call leaves the window, however far back it is', () => {
    // Full since second 950: room again when second 950 leaves every 62-second window, at 1012.
    expect(findSlot([{ second: 950, requests: 3, tokens: 0 }], 1000, 10, limit)).toBe(1012);
    expect(findSlot([{ second: 950, requests: 2, tokens: 0 }, { second: 980, requests: 1, tokens: 0 }], 1000, 10, limit)).toBe(1012);
  });
  it('counts calls booked ahead, so a later caller queues behind them', () => {
    const buckets = [{ second: 950, requests: 3, tokens: 0 }, { second: 1012, requests: 3, tokens: 0 }];
    expect(findSlot(buckets, 1000, 10, limit)).toBe(1074);
  });
  it('holds tokens per minute too, and lets a call larger than the limit run alone', () => {
    const tokenLimit = { tokensPerMinute: 1000 };
    expect(findSlot([{ second: 999, requests: 1, tokens: 700 }], 1000, 300, tokenLimit)).toBe(1000);
    expect(findSlot([{ second: 999, requests: 1, tokens: 701 }], 1000, 300, tokenLimit)).toBe(1061);
    expect(findSlot([], 1000, 50_000, tokenLimit)).toBe(1000);
    expect(findSlot([{ second: 999, requests: 1, tokens: 1 }], 1000, 50_000, tokenLimit)).toBe(1061);
  });
  it('never lets any window pass a limit, and always picks the earliest second that fits', () => {
    const random = seeded(42);
    const window = 10;
    const both = { requestsPerMinute: 4, tokensPerMinute: 1000 };
    const buckets: Bucket[] = [];
    let now = 0;
    for (let call = 0; call < 400; call++) {
      now += Math.floor(random() * 3);
      const tokens = 50 + Math.floor(random() * 400);
      const slot = findSlot(buckets, now, tokens, both, window);
      expect(slot).toBeGreaterThanOrEqual(now);
      if (slot > now) {
        // One second earlier would have broken a window.
        const earlier = buckets.map((b) => ({ ...b }));
        add(earlier, slot - 1, tokens);
        expect(windowTotals(earlier, window).some((w) => w.requests > 4 || w.tokens > 1000)).toBe(true);
      }
      add(buckets, slot, tokens);
    }
    const totals = windowTotals(buckets, window);
    expect(Math.max(...totals.map((w) => w.requests))).toBe(4);
    expect(Math.max(...totals.map((w) => w.tokens))).toBeLessThanOrEqual(1000);
  });
});

describe('resolveProvider', () => {
  const limits = { default: { requestsPerMinute: 10 }, 'https://other.example/v1': { tokensPerMinute: 5 } };
  it('limits the configured provider as default, whether a bundle names it or not', () => {
    expect(resolveProvider(limits, undefined, 'http://127.0.0.1:9/v1/')).toEqual({ provider: 'http://127.0.0.1:9/v1', limit: { requestsPerMinute: 10 } });
    expect(resolveProvider(limits, 'http://127.0.0.1:9/v1', 'http://127.0.0.1:9/v1/')?.limit).toEqual({ requestsPerMinute: 10 });
    expect(resolveProvider(limits, undefined, undefined)?.provider).toBe('https://api.openai.com/v1');
  });
  it('limits another provider only by its own entry', () => {
    expect(resolveProvider(limits, 'https://other.example/v1/', undefined)).toEqual({ provider: 'https://other.example/v1', limit: { tokensPerMinute: 5 } });
    expect(resolveProvider(limits, 'https://third.example/v1', undefined)).toBeUndefined();
    expect(resolveProvider({}, undefined, undefined)).toBeUndefined();
  });
});

describe('providerTokens', () => {
  it('counts the prompt at three characters a token and the longest reply allowed', () => {
    const messages = [{ role: 'user', content: 'x'.repeat(100) }];
    const chars = JSON.stringify(messages).length + 2;
    expect(providerTokens({ messages, max_completion_tokens: 20 })).toBe(Math.ceil(chars / 3) + 20);
    expect(providerTokens({ messages })).toBe(Math.ceil(chars / 3) + 4096);
  });
});

describe('retryDelayMs', () => {
  it('never waits less than Retry-After, and at most 20 % (2 s) more', () => {
    expect(retryDelayMs({ failures: 1, retryAfterMs: 2000, random: () => 0 })).toBe(2000);
    expect(retryDelayMs({ failures: 1, retryAfterMs: 2000, random: () => 0.999999 })).toBe(2400);
    expect(retryDelayMs({ failures: 5, retryAfterMs: 30_000, random: () => 0.999999 })).toBe(32_000);
  });
  it('backs off exponentially from 1 s to 1 min, times 0.5–1.5', () => {
    expect([1, 2, 3, 4, 7, 8, 20].map((failures) => retryDelayMs({ failures, random: () => 0.5 }))).toEqual([
      1000, 2000, 4000, 8000, 60_000, 60_000, 60_000,
    ]);
    expect(retryDelayMs({ failures: 3, random: () => 0 })).toBe(2000);
    expect(retryDelayMs({ failures: 3, random: () => 0.999999 })).toBe(6000);
  });
});

describe('failureReason', () => {
  const apiError = (status: number) => OpenAI.APIError.generate(status, { error: { message: 'x' } }, 'x', new Headers());
  it.each([
    [429, '429'], [500, '5xx'], [503, '5xx'], [408, 'timeout'], [409, 'other'], [400, undefined], [401, undefined], [404, undefined],
  ])('%d → %s', (status, reason) => expect(failureReason(apiError(status))).toBe(reason));
  it('tells timeouts, lost connections, cancellations and anything else apart', () => {
    expect(failureReason(new OpenAI.APIConnectionTimeoutError())).toBe('timeout');
    expect(failureReason(new OpenAI.APIConnectionError({ message: 'ECONNREFUSED' }))).toBe('network');
    expect(failureReason(new OpenAI.APIUserAbortError())).toBeUndefined();
    expect(failureReason(new TypeError('boom'))).toBe('other');
  });
});

describe('BOSUN_PROVIDER_LIMITS', () => {
  it('is empty when unset, and keys providers by default or base URL', () => {
    expect(loadConfig({}).providerLimits).toEqual({});
    const config = loadConfig({
      BOSUN_PROVIDER_LIMITS: '{"default":{"requestsPerMinute":600,"tokensPerMinute":2000000},"https://x.example/v1/":{"tokensPerMinute":5}}',
    });
    expect(config.providerLimits).toEqual({
      default: { requestsPerMinute: 600, tokensPerMinute: 2_000_000 },
      'https://x.example/v1': { tokensPerMinute: 5 },
    });
  });
  it('lists every problem', () => {
    const problems = (raw: string) => {
      try {
        loadConfig({ BOSUN_PROVIDER_LIMITS: raw });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
      return [];
    };
    expect(problems('{nope')).toEqual(['BOSUN_PROVIDER_LIMITS: not valid JSON']);
    expect(problems('[1]')).toHaveLength(1);
    const listed = problems(
      '{"default":{"requestsPerMinute":0},"openai":{"requestsPerMinute":5},"https://a.example/v1":{},' +
        '"https://b.example/v1":{"requestsPerMinute":1.5,"tokensPerMinute":"many"},"https://c.example":{"rpm":3}}',
    );
    expect(listed.map((p) => p.split(':')[0])).toEqual([
      'BOSUN_PROVIDER_LIMITS.default.requestsPerMinute',
      'BOSUN_PROVIDER_LIMITS.openai',
      'BOSUN_PROVIDER_LIMITS.https',
      'BOSUN_PROVIDER_LIMITS.https',
      'BOSUN_PROVIDER_LIMITS.https',
      'BOSUN_PROVIDER_LIMITS.https',
      'BOSUN_PROVIDER_LIMITS.https',
    ]);
    expect(listed.join('\n')).toMatch(/https:\/\/a\.example\/v1: set requestsPerMinute, tokensPerMinute or both/);
    expect(listed.join('\n')).toMatch(/https:\/\/c\.example: .*rpm/);
    expect(listed.join('\n')).toMatch(/https:\/\/b\.example\/v1\.requestsPerMinute/);
    expect(listed.join('\n')).toMatch(/https:\/\/b\.example\/v1\.tokensPerMinute/);
    expect(problems('{"https://a.example/v1":{"tokensPerMinute":5},"https://a.example/v1/":{"tokensPerMinute":6}}')).toEqual([
      'BOSUN_PROVIDER_LIMITS.https://a.example/v1/: the same provider is listed more than once',
    ]);
  });
});

describe('scripted faults: every, forMs and conversation', () => {
  let server: ScriptedModelServer;
  afterAll(() => server?.close());
  const ask = (text: string) =>
    fetch(`${server.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'system', content: 's' }, { role: 'user', content: text }, { role: 'tool', content: '{}' }] }),
    }).then((r) => r.status);

  it('faults every other matching request of one conversation, until the storm ends', async () => {
    server = await startScriptedModel({ rules: [], faults: [{ when: { conversation: '^Storm' }, status: 429, every: 2, forMs: 1500 }] });
    const during = [];
    for (let i = 0; i < 6; i++) during.push(await ask(i % 3 === 0 ? 'Calm' : 'Storm'));
    // Calm is never faulted and does not count; Storm requests alternate 429, 200, 429, 200.
    expect(during).toEqual([200, 429, 200, 200, 429, 200]);
    await new Promise((r) => setTimeout(r, 1600));
    expect([await ask('Storm'), await ask('Storm'), await ask('Storm')]).toEqual([200, 200, 200]);
    server.setScript({ rules: [], faults: [{ when: { conversation: '^Storm' }, status: 500, every: 3, forMs: 10_000 }] });
    expect([await ask('Storm'), await ask('Storm'), await ask('Storm'), await ask('Storm')]).toEqual([500, 200, 200, 500]);
  });
});
