import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { parseDuration } from '../../src/shared/duration';

describe('loadConfig', () => {
  it('fills in local defaults', () => {
    const config = loadConfig({});
    expect(config.temporal).toEqual({
      address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'bosun-agents', connection: { address: '127.0.0.1:7233' },
    });
    expect(config.tracing).toEqual({ export: undefined, captureMessageContent: false, genaiLatestOnly: false });
    expect(config.approvalTimeoutMs).toBe(24 * 3600 * 1000);
    expect(config.api.keys).toEqual([]);
    expect(config.model.prices['gpt-4o-mini']).toEqual({ input: 0.15, cachedInput: 0.075, output: 0.6 });
  });

  it('parses keys, durations and price overrides', () => {
    const config = loadConfig({
      BOSUN_API_KEYS: 'k1:acme, k2:globex:runner+approver',
      BOSUN_APPROVAL_TIMEOUT: '15m',
      BOSUN_MODEL_PRICES: '{"my-model":{"input":1,"output":2}}',
      OPENAI_API_KEY: '',
    });
    expect(config.api.keys).toEqual([
      { key: 'k1', tenantId: 'acme', roles: ['runner', 'approver', 'admin'] },
      { key: 'k2', tenantId: 'globex', roles: ['runner', 'approver'] },
    ]);
    expect(config.approvalTimeoutMs).toBe(900_000);
    expect(config.model.prices['my-model']).toEqual({ input: 1, output: 2 });
    expect(config.model.prices['gpt-4o-mini']).toBeDefined();
    expect(config.model.apiKey).toBe('not-needed');
  });

  it('reads the request limit, the key time to live, the Temporal deadline and the record grace', () => {
    expect(loadConfig({}).api).toMatchObject({ maxRequestBytes: 2 * 1024 * 1024, idempotencyKeyTtlMs: 86_400_000, temporalCallTimeoutMs: 5_000 });
    expect(loadConfig({}).runRecordGraceMs).toBe(30_000);
    const config = loadConfig({
      BOSUN_MAX_REQUEST_BYTES: '4194304', BOSUN_IDEMPOTENCY_KEY_TTL: '7d', BOSUN_TEMPORAL_CALL_TIMEOUT: '2s', BOSUN_RUN_RECORD_GRACE: '1m',
    });
    expect(config.api).toMatchObject({ maxRequestBytes: 4_194_304, idempotencyKeyTtlMs: 7 * 86_400_000, temporalCallTimeoutMs: 2_000 });
    expect(config.runRecordGraceMs).toBe(60_000);
    expect(() => loadConfig({ BOSUN_MAX_REQUEST_BYTES: '10', BOSUN_IDEMPOTENCY_KEY_TTL: 'forever' })).toThrow(
      /BOSUN_MAX_REQUEST_BYTES[\s\S]*BOSUN_IDEMPOTENCY_KEY_TTL/,
    );
  });

  it('lists every problem and never echoes a key', () => {
    const attempt = () => loadConfig({ BOSUN_API_PORT: 'eighty', BOSUN_APPROVAL_TIMEOUT: 'soon', DATABASE_URL: 'nope' });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.split(':')[0]).sort()).toEqual(['BOSUN_API_PORT', 'BOSUN_APPROVAL_TIMEOUT', 'DATABASE_URL']);
    }
    expect(() => loadConfig({ BOSUN_API_KEYS: 'secretvalue-without-tenant' })).toThrow(/must look like key:tenant/);
    expect(() => loadConfig({ BOSUN_API_KEYS: 'secretvalue-without-tenant' })).not.toThrow(/secretvalue/);
    expect(() => loadConfig({ BOSUN_API_KEYS: 'k1:acme:runner+root' })).toThrow(/runner\+approver\+admin/);
    expect(() => loadConfig({ BOSUN_MODEL_PRICES: '{"m":{"input":-1,"output":1}}' })).toThrow(/BOSUN_MODEL_PRICES\.m\.input/);
    // Model calls are local activities: they need their run in the workflow cache.
    expect(() => loadConfig({ BOSUN_MAX_CACHED_WORKFLOWS: '0' })).toThrow(/BOSUN_MAX_CACHED_WORKFLOWS: must be at least 1/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['24h', 86_400_000], ['15m', 900_000], ['30s', 30_000], ['250ms', 250], ['1.5h', 5_400_000], ['2d', 172_800_000],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '0s', '10', 'h', '-5m', '5 weeks'])('refuses %j', (text) => expect(parseDuration(text)).toBeUndefined());
});
