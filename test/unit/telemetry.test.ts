/** The log's masking and field mapping, and the metrics' label caps, counting rules and token guard. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config';
import { configuredSecrets, logger, maskInLogs, maskLine, runFieldsOf, temporalLogger } from '../../src/telemetry/logger';
import { boundedLabel, metricsHandler, recordToolCall, workerRegistry } from '../../src/telemetry/metrics';

/** A pino logger writing into an array, parsed. */
function captured() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('logs', () => {
  it('masks secret values in a finished line, raw and JSON-escaped, but not short ones', () => {
    maskInLogs(['s3cr3t"value\\x', 'short']);
    const line = JSON.stringify({ msg: 'token s3cr3t"value\\x here', short: 'short' });
    expect(line).toContain('s3cr3t\\"value\\\\x');
    const masked = maskLine(line);
    expect(JSON.parse(masked)).toEqual({ msg: 'token [secret] here', short: 'short' });
    expect(maskLine('plain s3cr3t"value\\x')).toBe('plain [secret]');
  });

  it('redacts credentials by key in what the root logger writes', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      logger.warn({ token: 'tok-123456', nested: { api_key: 'key-123456', fine: 1 }, req: { headers: { authorization: 'Bearer abc-123456' } } }, 'probe');
      const line = JSON.parse(String(write.mock.calls.at(-1)![0]));
      expect(line).toMatchObject({ level: 'warn', msg: 'probe', token: '[redacted]', nested: { api_key: '[redacted]', fine: 1 } });
      expect(line.req.headers.authorization).toBe('[redacted]');
    } finally {
      write.mockRestore();
    }
  });

  it('collects every secret the configuration holds', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://bosun:pg%2Fpassword@db:5432/bosun', BOSUN_API_KEYS: 'apikey-one:acme', OPENAI_API_KEY: 'sk-provider-key',
      BOSUN_SECRETS_BACKEND: 'env', BOSUN_SECRET_PARTNER: 'partner-secret', BOSUN_METRICS_TOKEN: 'metrics-token-0123456789',
    });
    expect(configuredSecrets(config).sort()).toEqual(['apikey-one', 'metrics-token-0123456789', 'partner-secret', 'pg/password', 'sk-provider-key']);
    const vault = loadConfig({ BOSUN_SECRETS_BACKEND: 'vault', BOSUN_VAULT_ADDR: 'http://vault:8200', BOSUN_VAULT_TOKEN: 'hvs.vault-token' });
    expect(configuredSecrets(vault)).toContain('hvs.vault-token');
  });

  it("writes the SDK's lines with Bosun's runId and Temporal's own as temporalRunId", () => {
    const { logger, lines } = captured();
    const sdk = temporalLogger(logger, (message) => message.startsWith('skip me'));
    sdk.info('workflow line', { workflowType: 'agentRun', workflowId: 'run-1', runId: 'exec-1', taskQueue: 'q' });
    sdk.debug('activity line', { workflowType: 'agentRun', workflowId: 'run-1', workflowRunId: 'exec-1', runId: 'run-1', tenantId: 't', activityType: 'callModel' });
    sdk.warn('rollout line', { workflowType: 'agentRollout', workflowId: 'rollout-1', runId: 'exec-2' });
    sdk.error('failed', { error: new Error('boom') });
    sdk.info('skip me please');
    expect(lines.map((l) => [l.msg, l.level, l.runId, l.temporalRunId])).toEqual([
      ['workflow line', 30, 'run-1', 'exec-1'],
      ['activity line', 20, 'run-1', 'exec-1'],
      ['rollout line', 40, undefined, 'exec-2'],
      ['failed', 50, undefined, undefined],
    ]);
    expect(lines[1]).toMatchObject({ tenantId: 't', activityType: 'callModel' });
    expect(lines[3]).toMatchObject({ err: { message: 'boom', type: 'Error' } });
  });

  it("takes a run's fields from an activity's input", () => {
    expect(runFieldsOf({ runId: 'r', tenantId: 't', bundleId: 'b', step: 2 })).toEqual({ runId: 'r', tenantId: 't', bundleId: 'b' });
    expect(runFieldsOf({ approvalId: 'a' })).toEqual({});
    expect(runFieldsOf(undefined)).toEqual({});
  });
});

describe('metrics', () => {
  it('keeps a label to its cap of distinct values, then reads other', () => {
    const values = Array.from({ length: 60 }, (_, i) => `provider-${i}.example`);
    const labels = values.map((v) => boundedLabel('provider', v));
    expect(labels.slice(0, 50)).toEqual(values.slice(0, 50));
    expect(new Set(labels.slice(50))).toEqual(new Set(['other']));
    // Values seen before the cap keep their own series.
    expect(boundedLabel('provider', 'provider-3.example')).toBe('provider-3.example');
    expect(boundedLabel('provider', '')).toBe('unknown');
  });

  it('counts tool calls that ran, and errors, by what happened', async () => {
    for (const status of ['ok', 'error', 'invalid_arguments', 'rejected']) recordToolCall({ bundleId: 'unit@abc', tool: 'probe', status, latencyMs: 10 });
    const calls = (await workerRegistry.getSingleMetric('bosun_tool_calls_total')!.get()).values.filter((v) => v.labels.tool === 'probe');
    const errors = (await workerRegistry.getSingleMetric('bosun_tool_errors_total')!.get()).values.filter((v) => v.labels.tool === 'probe');
    expect(calls.map((v) => [v.labels.agent, v.labels.outcome, v.value])).toEqual([['unit', 'ok', 1], ['unit', 'error', 1]]);
    expect(errors.map((v) => [v.labels.error_type, v.value])).toEqual([['error', 1], ['invalid_arguments', 1]]);
  });

  it('answers a scrape only with the bearer token when one is set', async () => {
    const server = http.createServer(metricsHandler(workerRegistry, { token: 'metrics-token-0123456789' }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    try {
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('# TYPE bosun_runs_started_total counter');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
