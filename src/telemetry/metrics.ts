/**
 * Bosun's Prometheus metrics (prom-client). The worker counts what happens where the row recording
 * it is written, once per logical occurrence (after that row's transaction commits, and only when
 * this attempt wrote it: a Temporal retry that finds the row counts nothing); the API reads the
 * gauges of what is waiting (approvals, queued runs, budgets) from PostgreSQL at scrape time. The
 * names and labels are listed in docs/observability.md ("Metrics"), and alerts and dashboards use them.
 *
 * Label values are bounded: tenants, agents, bundles, tools, providers and models are what
 * operators configure, and past a cap per label (a runaway of new values) a value reads `other`.
 */
import { timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Environment } from '../shared/environments';

/** How many distinct values a label keeps before further ones read `other`. */
const labelCaps = { tenant: 500, agent: 500, bundle: 2000, tool: 1000, provider: 50, model: 200 } as const;
type CappedLabel = keyof typeof labelCaps;
const seenValues = new Map<CappedLabel, Set<string>>();

/** `value` itself while its label has room (or the value was seen before), `other` past the cap; `unknown` when empty. */
export function boundedLabel(label: CappedLabel, value: string | undefined): string {
  if (!value) return 'unknown';
  const seen = seenValues.get(label) ?? new Set<string>();
  seenValues.set(label, seen);
  if (seen.has(value)) return value;
  if (seen.size >= labelCaps[label]) return 'other';
  seen.add(value);
  return value;
}

/**
 * The `environment` label of a run's metrics: `staging` for a staging run, `production` for any other
 * (runs from before environments included). Two values, whatever the input.
 */
export const environmentLabel = (environment: string | undefined): Environment => (environment === 'staging' ? 'staging' : 'production');

/** The agent of a bundle ID (`<agent>@<hash>`). */
export const agentOfBundle = (bundleId: string): string => bundleId.split('@')[0] ?? bundleId;

/** The worker's registry: Bosun's counters and histograms, and Node's process metrics. */
export const workerRegistry = new Registry();
const registers = [workerRegistry];

const runsStarted = new Counter({
  name: 'bosun_runs_started_total', help: 'Runs admitted for the first time (their run.started event).', labelNames: ['agent', 'tenant', 'environment'], registers,
});
const runsFinished = new Counter({
  name: 'bosun_runs_finished_total', help: 'Runs ended, by final status.', labelNames: ['agent', 'tenant', 'environment', 'status'], registers,
});
const runDuration = new Histogram({
  name: 'bosun_run_duration_seconds', help: 'From a run\'s creation to its end (queueing and approvals included).',
  labelNames: ['agent', 'environment', 'status'], buckets: [1, 5, 15, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600], registers,
});
const stepDuration = new Histogram({
  name: 'bosun_step_duration_seconds', help: 'One model call or one tool call, as recorded in its step row.',
  labelNames: ['agent', 'kind'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers,
});
const tokens = new Counter({
  name: 'bosun_tokens_total', help: 'Model tokens paid for: input (uncached prompt), cached_input, output.',
  labelNames: ['agent', 'tenant', 'environment', 'bucket'], registers,
});
const cost = new Counter({
  name: 'bosun_cost_usd_total', help: 'What model calls cost, in USD.', labelNames: ['agent', 'tenant', 'environment', 'bundle'], registers,
});
const toolCalls = new Counter({
  name: 'bosun_tool_calls_total', help: 'Tool calls that ran (or were answered from tapes), by outcome.', labelNames: ['agent', 'environment', 'tool', 'outcome'], registers,
});
const toolErrors = new Counter({
  name: 'bosun_tool_errors_total', help: 'Tool calls the model was told failed: the tool failed (error) or its arguments did not fit (invalid_arguments).',
  labelNames: ['agent', 'environment', 'tool', 'error_type'], registers,
});
const queueWait = new Histogram({
  name: 'bosun_queue_wait_seconds', help: 'From a run\'s creation to its first admission to a run slot.',
  labelNames: ['tenant'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600], registers,
});
const rateLimited = new Counter({
  name: 'bosun_provider_rate_limited_total', help: 'Model calls the provider answered 429.', labelNames: ['provider', 'model'], registers,
});
const providerRetries = new Counter({
  name: 'bosun_provider_retries_total', help: 'Model calls retried, by reason (429, 5xx, timeout, network, rate_limited_local, model_refused, …).',
  labelNames: ['provider', 'model', 'reason'], registers,
});

export interface RunStarted {
  agent: string;
  tenantId: string;
  /** The run's environment (production when absent). */
  environment?: string;
  /** From its creation to its first admission; absent for runs started without admission. */
  queueWaitSeconds?: number;
}

/** A run's first admission (counted where its `run.started` event was appended). */
export function recordRunStarted({ agent, tenantId, environment, queueWaitSeconds }: RunStarted): void {
  const tenant = boundedLabel('tenant', tenantId);
  runsStarted.inc({ agent: boundedLabel('agent', agent), tenant, environment: environmentLabel(environment) });
  if (queueWaitSeconds !== undefined) queueWait.observe({ tenant }, Math.max(0, queueWaitSeconds));
}

/** A run's end (counted where its row took its final status). */
export function recordRunFinished(
  { agent, tenantId, environment, status, durationSeconds }: { agent: string; tenantId: string; environment?: string; status: string; durationSeconds: number },
): void {
  const labels = { agent: boundedLabel('agent', agent), environment: environmentLabel(environment), status };
  runsFinished.inc({ ...labels, tenant: boundedLabel('tenant', tenantId) });
  runDuration.observe(labels, Math.max(0, durationSeconds));
}

export interface ModelCallFigures {
  bundleId: string;
  tenantId: string;
  /** The run's environment (production when absent). */
  environment?: string;
  latencyMs: number;
  /** Prompt tokens not read from the provider's cache, prompt tokens read from it, and output tokens. */
  tokens: { input: number; cachedInput: number; output: number };
  costUsd: number;
}

/** A model call paid for (counted where its step row was written). */
export function recordModelCall({ bundleId, tenantId, environment, latencyMs, tokens: used, costUsd }: ModelCallFigures): void {
  const agent = boundedLabel('agent', agentOfBundle(bundleId));
  const run = { agent, tenant: boundedLabel('tenant', tenantId), environment: environmentLabel(environment) };
  stepDuration.observe({ agent, kind: 'model' }, latencyMs / 1000);
  tokens.inc({ ...run, bucket: 'input' }, used.input);
  tokens.inc({ ...run, bucket: 'cached_input' }, used.cachedInput);
  tokens.inc({ ...run, bucket: 'output' }, used.output);
  cost.inc({ ...run, bundle: boundedLabel('bundle', bundleId) }, costUsd);
}

/**
 * A tool call's recorded result (counted where its transcript row was written): `ok` and `error`
 * ran the tool; `invalid_arguments` counts as an error that never ran it; `rejected` (a human said
 * no) is neither.
 */
export function recordToolCall(
  { bundleId, environment, tool, status, latencyMs }: { bundleId: string; environment?: string; tool: string; status: string; latencyMs: number },
): void {
  const labels = { agent: boundedLabel('agent', agentOfBundle(bundleId)), environment: environmentLabel(environment), tool: boundedLabel('tool', tool) };
  if (status === 'ok' || status === 'error') {
    toolCalls.inc({ ...labels, outcome: status });
    stepDuration.observe({ agent: labels.agent, kind: 'tool' }, latencyMs / 1000);
  }
  if (status === 'error' || status === 'invalid_arguments') toolErrors.inc({ ...labels, error_type: status });
}

/** A model call that will be asked again (counted where its retry row was written); `429` also counts as rate limited. */
export function recordModelRetry({ provider, model, reason }: { provider: string; model: string; reason: string }): void {
  const labels = { provider: boundedLabel('provider', provider), model: boundedLabel('model', model) };
  providerRetries.inc({ ...labels, reason });
  if (reason === '429') rateLimited.inc(labels);
}

/** The provider label of a model endpoint: its host (and port), `default` for the configured provider without a URL. */
export function providerOf(baseUrl: string | undefined): string {
  if (!baseUrl) return 'default';
  try {
    return new URL(baseUrl).host;
  } catch {
    return 'other';
  }
}

/** What the API's gauges read from PostgreSQL at each scrape (src/db: approvals, runs, budgets). */
export interface GaugeSources {
  pendingApprovals(): Promise<{ tenantId: string; pending: number; oldestAgeSeconds: number }[]>;
  queuedRuns(): Promise<{ tenantId: string; queued: number }[]>;
  budgetsRemaining(): Promise<{ tenantId: string; environment: string; period: string; remainingUsd: number }[]>;
}

/**
 * The API's registry: Node's process metrics and the gauges read at each scrape (three aggregate
 * queries): approvals pending and the age of the oldest, queued runs, and budget remaining, each
 * by tenant. A tenant with nothing waiting has no series (absent, not 0).
 */
export function createApiRegistry(sources: GaugeSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  // One query for both approval gauges: their collects run together and share it.
  let approvals: ReturnType<GaugeSources['pendingApprovals']> | undefined;
  const readApprovals = () => (approvals ??= sources.pendingApprovals().finally(() => (approvals = undefined)));
  new Gauge({
    name: 'bosun_approvals_pending', help: 'Approvals waiting for a decision.', labelNames: ['tenant'], registers,
    async collect() {
      const rows = await readApprovals();
      this.reset();
      for (const row of rows) this.set({ tenant: boundedLabel('tenant', row.tenantId) }, row.pending);
    },
  });
  new Gauge({
    name: 'bosun_approval_oldest_age_seconds', help: 'How long the oldest pending approval has waited.', labelNames: ['tenant'], registers,
    async collect() {
      const rows = await readApprovals();
      this.reset();
      for (const row of rows) this.set({ tenant: boundedLabel('tenant', row.tenantId) }, row.oldestAgeSeconds);
    },
  });
  new Gauge({
    name: 'bosun_runs_queued', help: 'Runs waiting for a run slot (or for a worker with their tools).', labelNames: ['tenant'], registers,
    async collect() {
      const rows = await sources.queuedRuns();
      this.reset();
      for (const row of rows) this.set({ tenant: boundedLabel('tenant', row.tenantId) }, row.queued);
    },
  });
  new Gauge({
    name: 'bosun_budget_remaining_usd', help: 'A budget\'s limit minus what its current window spent and reserved (negative when overspent).',
    labelNames: ['tenant', 'environment', 'period'], registers,
    async collect() {
      const rows = await sources.budgetsRemaining();
      this.reset();
      for (const row of rows) {
        this.set({ tenant: boundedLabel('tenant', row.tenantId), environment: environmentLabel(row.environment), period: row.period }, row.remainingUsd);
      }
    },
  });
  return registry;
}

/**
 * Answers a scrape: the registry's metrics, then `more` (the Temporal SDK's, in the worker), in
 * Prometheus' text format. With a `token`, only `Authorization: Bearer <token>` is answered (401 otherwise).
 */
export function metricsHandler(registry: Registry, { token, more }: { token?: string; more?: () => Promise<string> } = {}) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (token && !bearerMatches(req.headers.authorization, token)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('metrics need Authorization: Bearer <BOSUN_METRICS_TOKEN>\n');
      return;
    }
    try {
      const own = await registry.metrics();
      const extra = more ? await more() : '';
      res.writeHead(200, { 'content-type': registry.contentType }).end(extra ? `${own}\n${extra}` : own);
    } catch (err) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${(err as Error).message}\n`);
    }
  };
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface MetricsServer {
  /** Where the metrics are served, e.g. `http://127.0.0.1:9464/metrics`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the worker's registry at `/metrics` on `port` (0: any free port), followed by the Temporal
 * SDK's metrics read from its own exporter at `temporalMetricsUrl`.
 */
export async function serveWorkerMetrics({ port, token, temporalMetricsUrl }: { port: number; token?: string; temporalMetricsUrl?: string }): Promise<MetricsServer> {
  collectDefaultMetrics({ register: workerRegistry });
  const handle = metricsHandler(workerRegistry, { token, more: temporalMetricsUrl ? () => fetchText(temporalMetricsUrl) : undefined });
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') return void handle(req, res);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`the Temporal SDK's exporter answered ${res.status}`);
  return res.text();
}

/** A TCP port free on 127.0.0.1 right now, for the Temporal SDK's exporter (which cannot report a port it chose). */
export async function freeLocalPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
