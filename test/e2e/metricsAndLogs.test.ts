/**
 * Metrics and logs of the real processes: a worker and an API, each started as its own process,
 * are scraped at their `/metrics` while a demo run goes (start → approval → approve → completed,
 * its first model call answered 429 once): Bosun's counters move exactly once per occurrence (a run
 * re-admitted after its approval is not started twice, a retried call not paid twice), the API's
 * gauges read the pending approval and the budget, and the Temporal SDK's own metrics come through
 * the worker's endpoint. Every line both processes print on stdout is a JSON log line; the run's
 * lines carry its runId, tenantId and bundleId; no API key or configured secret appears, even
 * where a request put one in the logged URL.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supportDemoScript } from '../../src/dev/demoScript';
import { spawnService, type Service } from '../../src/dev/services';
import { freeLocalPort } from '../../src/telemetry/metrics';
import { useTestStack } from '../support/useTestStack';
import { parseMetrics, total, has, type Sample } from '../support/prometheusText';

/** A process started for this test, with what it wrote on stdout. */
interface Started {
  service: Service;
  stdout: string[];
}

function start(name: string, entry: string, env: NodeJS.ProcessEnv): Started {
  const stdout: string[] = [];
  const service = spawnService(name, entry, env, true, (line, stream) => {
    if (stream === 'stdout') stdout.push(line);
  });
  return { service, stdout };
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const workerSecret = `wsec_${randomBytes(12).toString('hex')}`;
const metricsToken = `mtok_${randomBytes(12).toString('hex')}`;

describe('metrics and logs of the worker and API processes', () => {
  const stack = useTestStack({
    // The run's first model call is answered 429 once: counted as rate limited and retried, once.
    script: { ...supportDemoScript, faults: [{ status: 429, retryAfterSeconds: 1, times: 1 }] },
  });
  let worker: Started;
  let api: Started;
  let apiUrl = '';
  let workerMetricsUrl = '';

  beforeAll(async () => {
    // Only this test's worker polls the stack's queue: its output and metrics are the run's.
    await stack.worker.stop();
    const env = { ...stack.env, BOSUN_LOG_LEVEL: 'DEBUG', BOSUN_METRICS_TOKEN: metricsToken };
    worker = start('worker', 'src/worker/main.ts', { ...env, BOSUN_METRICS_PORT: '0', BOSUN_SECRET_WORKER_PROBE: workerSecret });
    const port = await freeLocalPort();
    api = start('api', 'src/api/main.ts', { ...env, BOSUN_API_PORT: String(port), BOSUN_LOG_LEVEL: 'INFO' });
    apiUrl = `http://127.0.0.1:${port}`;
    await Promise.all([worker.service.ready, api.service.ready]);
    workerMetricsUrl = await waitFor('the worker to say where its metrics are', () =>
      worker.stdout.map((line) => JSON.parse(line) as { url?: string; msg: string }).find((l) => l.msg.startsWith('metrics served at'))?.url);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([worker?.service.stop(), api?.service.stop()]);
  });

  async function scrape(url: string): Promise<Sample[]> {
    const res = await fetch(url, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return parseMetrics(await res.text());
  }

  async function call(method: string, route: string, body?: unknown) {
    const res = await fetch(`${apiUrl}${route}`, {
      method, headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  const runView = async (runId: string) => (await call('GET', `/v1/runs/${runId}`)).body;
  const waitForStatus = (runId: string, status: string) =>
    waitFor(`run ${runId} to be ${status}`, async () => {
      const run = await runView(runId);
      return run.status === status ? run : undefined;
    });

  it('refuses a scrape without the metrics token, on both processes', async () => {
    for (const url of [`${apiUrl}/metrics`, workerMetricsUrl]) {
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: `Bearer ${stack.apiKey}` } })).status).toBe(401);
    }
  });

  it("shows Bosun's and Temporal's metrics changing as a run goes", async () => {
    const tenant = stack.tenantId;
    expect((await call('PUT', '/v1/budgets/day', { limitUsd: 5, mode: 'hard' })).status).toBe(200);
    const before = { worker: await scrape(workerMetricsUrl), api: await scrape(`${apiUrl}/metrics`) };
    expect(total(before.worker, 'bosun_runs_started_total', { tenant })).toBe(0);
    expect(total(before.api, 'bosun_approvals_pending', { tenant })).toBe(0);
    expect(total(before.api, 'bosun_budget_remaining_usd', { tenant, period: 'day' })).toBe(5);
    const temporalBefore = total(before.worker, 'temporal_activity_execution_latency_seconds_count');

    const started = await call('POST', '/v1/runs', { agent: 'support', input: 'Refund order 1001' });
    expect(started.status).toBe(202);
    const { runId, bundleId } = started.body;
    const parked = await waitForStatus(runId, 'awaiting_approval');

    // Parked on its approval: the API's gauges see it, the worker counted the start and the lookup.
    const waiting = { worker: await scrape(workerMetricsUrl), api: await scrape(`${apiUrl}/metrics`) };
    expect(total(waiting.api, 'bosun_approvals_pending', { tenant })).toBe(1);
    expect(total(waiting.api, 'bosun_approval_oldest_age_seconds', { tenant })).toBeGreaterThanOrEqual(0);
    expect(has(waiting.api, 'bosun_approval_oldest_age_seconds', { tenant })).toBe(true);
    expect(total(waiting.api, 'bosun_budget_remaining_usd', { tenant, period: 'day' })).toBeLessThan(5);
    expect(total(waiting.worker, 'bosun_runs_started_total', { agent: 'support', tenant })).toBe(1);
    expect(total(waiting.worker, 'bosun_queue_wait_seconds_count', { tenant })).toBe(1);
    expect(total(waiting.worker, 'bosun_tool_calls_total', { agent: 'support', tool: 'lookup_order', outcome: 'ok' })).toBe(1);
    expect(total(waiting.worker, 'bosun_runs_finished_total', { tenant })).toBe(0);
    // The 429 before the first answer: counted once, as a rate limit and as a retry.
    expect(total(waiting.worker, 'bosun_provider_rate_limited_total')).toBe(1);
    expect(total(waiting.worker, 'bosun_provider_retries_total', { reason: '429' })).toBe(1);

    expect((await call('POST', `/v1/runs/${runId}/approvals/${parked.pendingApprovals[0].approvalId}`, { decision: 'approve' })).status).toBe(202);
    const done = await waitForStatus(runId, 'completed');

    const after = { worker: await scrape(workerMetricsUrl), api: await scrape(`${apiUrl}/metrics`) };
    expect(total(after.api, 'bosun_approvals_pending', { tenant })).toBe(0);
    // Re-admitted after its approval, yet started once; finished once.
    expect(total(after.worker, 'bosun_runs_started_total', { agent: 'support', tenant })).toBe(1);
    expect(total(after.worker, 'bosun_runs_finished_total', { agent: 'support', tenant, status: 'completed' })).toBe(1);
    expect(total(after.worker, 'bosun_run_duration_seconds_count', { agent: 'support', status: 'completed' })).toBe(1);
    expect(total(after.worker, 'bosun_tool_calls_total', { tool: 'issue_refund', outcome: 'ok' })).toBe(1);
    expect(total(after.worker, 'bosun_step_duration_seconds_count', { agent: 'support', kind: 'tool' })).toBe(2);
    // Three model steps (lookup, refund, answer), each paid once: the run's own figures, to the token.
    expect(total(after.worker, 'bosun_step_duration_seconds_count', { agent: 'support', kind: 'model' })).toBe(3);
    const tokens = (bucket: string) => total(after.worker, 'bosun_tokens_total', { agent: 'support', tenant, bucket });
    expect(tokens('input') + tokens('cached_input')).toBe(done.usage.inputTokens);
    expect(tokens('cached_input')).toBe(done.usage.cachedInputTokens);
    expect(tokens('output')).toBe(done.usage.outputTokens);
    expect(done.usage.inputTokens).toBeGreaterThan(0);
    expect(total(after.worker, 'bosun_cost_usd_total', { agent: 'support', tenant, bundle: bundleId })).toBeCloseTo(done.usage.costUsd, 6);
    expect(done.usage.costUsd).toBeGreaterThan(0);
    expect(total(after.worker, 'bosun_provider_rate_limited_total')).toBe(1);
    // The Temporal SDK's metrics, from its own exporter, through the worker's endpoint.
    expect(total(after.worker, 'temporal_activity_execution_latency_seconds_count')).toBeGreaterThan(temporalBefore);
    expect(has(after.worker, 'temporal_worker_start_total')).toBe(true);
    // Node's process metrics on both.
    expect(has(after.worker, 'process_cpu_user_seconds_total')).toBe(true);
    expect(has(after.api, 'process_cpu_user_seconds_total')).toBe(true);

    // A request that puts the API key in its URL: the access log masks it.
    await call('GET', `/v1/runs?agent=${encodeURIComponent(stack.apiKey)}`);

    const lines = (started: Started) => started.stdout.map((line) => JSON.parse(line) as Record<string, any>);
    const workerLines = await waitFor('the run finished log line', () => {
      const parsed = lines(worker);
      return parsed.some((l) => l.msg === 'run finished' && l.runId === runId) ? parsed : undefined;
    });
    expect(workerLines.find((l) => l.msg === 'run finished' && l.runId === runId)).toMatchObject({
      level: 'info', name: 'worker', tenantId: tenant, bundleId, status: 'completed',
    });
    // The SDK's activity lines, with the run's fields from the activity's input.
    expect(workerLines.some((l) => l.activityType === 'executeTool' && l.runId === runId && l.tenantId === tenant && l.bundleId === bundleId)).toBe(true);
    expect(workerLines.some((l) => l.workflowType === 'agentRun' && l.runId === runId && l.temporalRunId)).toBe(true);

    const apiLines = await waitFor('the masked access log line', () => {
      const parsed = lines(api);
      return parsed.some((l) => String(l.req?.url).includes('[secret]')) ? parsed : undefined;
    });
    const access = apiLines.find((l) => l.runId === runId && l.req?.method === 'POST');
    expect(access).toMatchObject({ name: 'api', tenantId: tenant, res: { statusCode: 202 } });
    expect(access!.req.headers.authorization).toBe('[redacted]');

    for (const started of [worker, api]) {
      const text = started.stdout.join('\n');
      for (const secret of [stack.apiKey, workerSecret, metricsToken]) expect(text).not.toContain(secret);
    }
  });
});
