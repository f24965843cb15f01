/**
 * The Prometheus rules and the Grafana dashboard in deploy/: `promtool test rules` passes on the
 * rules' own tests (a burst of tool errors fires and resolves, a few errors do not, latency drift
 * against the previous day, spend per tenant), `promtool check rules` accepts them, and both read
 * only the metrics Bosun serves. promtool comes from Debian's `prometheus` package (.ci/run installs it).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const run = promisify(execFile);
const deploy = path.resolve(__dirname, '../../deploy');
const promtool = process.env.PROMTOOL ?? 'promtool';

/** The metric names Bosun's processes serve (the shared interface list of the metrics' module). */
const bosunMetrics = [
  'bosun_runs_started_total', 'bosun_runs_finished_total', 'bosun_run_duration_seconds', 'bosun_step_duration_seconds',
  'bosun_tokens_total', 'bosun_cost_usd_total', 'bosun_tool_calls_total', 'bosun_tool_errors_total', 'bosun_approvals_pending',
  'bosun_approval_oldest_age_seconds', 'bosun_runs_queued', 'bosun_queue_wait_seconds', 'bosun_provider_rate_limited_total',
  'bosun_provider_retries_total', 'bosun_budget_remaining_usd',
];
/** A histogram's series: its buckets, count and sum. */
const seriesOf = (name: string) => name.replace(/_(bucket|count|sum)$/, '');

/** Every `bosun_…` metric a text's PromQL reads (recorded series `bosun:…` are the rules' own). */
const metricsIn = (text: string) => [...new Set([...text.matchAll(/\bbosun_[a-z_]+/g)].map((m) => seriesOf(m[0])))];

describe('Prometheus rules and the Grafana dashboard', () => {
  it('pass their promtool unit tests', async () => {
    const { stdout } = await run(promtool, ['test', 'rules', 'bosun.rules.test.yml'], { cwd: path.join(deploy, 'prometheus') });
    expect(stdout).toMatch(/SUCCESS/);
  });

  it('are valid rules', async () => {
    const { stdout } = await run(promtool, ['check', 'rules', path.join(deploy, 'prometheus/bosun.rules.yml')]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('give the dashboard valid PromQL (each query checked as a recording rule, Grafana\'s variables filled in)', async () => {
    const dashboard = JSON.parse(readFileSync(path.join(deploy, 'grafana/bosun.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
    const filled = exprs.map((e) => e.replaceAll('$__rate_interval', '5m').replaceAll('$agent', '.*').replaceAll('$tenant', '.*').replaceAll('$environment', '.*'));
    const dir = mkdtempSync(path.join(tmpdir(), 'bosun-dashboard-'));
    try {
      const file = path.join(dir, 'dashboard.rules.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: filled.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] }));
      const { stdout } = await run(promtool, ['check', 'rules', file]);
      expect(stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('read only the metrics Bosun serves, and the dashboard covers every alert signal', () => {
    const rules = readFileSync(path.join(deploy, 'prometheus/bosun.rules.yml'), 'utf8');
    const dashboard = JSON.parse(readFileSync(path.join(deploy, 'grafana/bosun.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
    expect(metricsIn(rules).filter((m) => !bosunMetrics.includes(m))).toEqual([]);
    expect(metricsIn(exprs.join('\n')).filter((m) => !bosunMetrics.includes(m))).toEqual([]);
    const titles = dashboard.panels.map((p: any) => p.title);
    expect(titles).toEqual(expect.arrayContaining([
      'Task success rate (15m)', 'Tool error rate (15m)', 'p95 run latency: last 15m and the previous 24h', 'Cost per run (1h)', 'Cost per tenant per hour',
    ]));
  });
});
