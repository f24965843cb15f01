/**
 * From scored runs to the gate's verdict: metrics over all runs, each checked against its
 * threshold and, when there is a baseline, against the baseline (a significant drop for rates, a
 * rise beyond the stated minimum effect for latency and cost). Pure.
 */
import { isRateMetric, meetsThreshold, metricNames, rateMetrics, type EvalGate, type MetricName, type Threshold } from './gateFile';
import type { RunScore } from './scorers';
import { compareRates, mean, passAtK, passHatK, percentile, type RateComparison } from './statistics';

export interface CaseResult {
  caseId: string;
  runs: RunScore[];
  /** Every run of the case passed every check. */
  passed: boolean;
  /** With k = the number of runs: at least one passes / all pass (estimators of statistics.ts). */
  passAtK: number;
  passHatK: number;
  /** Some runs passed and some did not. */
  flaky: boolean;
  /** Why runs failed, `metric: reason`, each reason once. */
  failures: string[];
}

/** Folds the scored runs of one case into its result. */
export function caseResultOf(caseId: string, runs: RunScore[]): CaseResult {
  const n = runs.length;
  const c = runs.filter((r) => r.passed).length;
  const failures = new Set(runs.flatMap((r) => Object.entries(r.checks).flatMap(([metric, ch]) => ch.failures.map((f) => `${metric}: ${f}`))));
  return {
    caseId, runs, passed: n > 0 && c === n,
    passAtK: n ? passAtK(n, c, n) : 0,
    passHatK: n ? passHatK(n, c, n) : 0,
    flaky: c > 0 && c < n,
    failures: [...failures],
  };
}

/** Every metric of the gate over all runs of all cases, plus `runs` (how many) and mean pass@k / pass^k. */
export function metricsOf(cases: CaseResult[]): Record<MetricName | 'runs' | 'pass_at_k' | 'pass_hat_k', number> {
  const runs = cases.flatMap((c) => c.runs);
  const rate = (metric: (typeof rateMetrics)[number]) => (runs.length ? runs.filter((r) => r.checks[metric].pass).length / runs.length : 0);
  return {
    task_success: rate('task_success'),
    grounding: rate('grounding'),
    tool_call_accuracy: rate('tool_call_accuracy'),
    approval_accuracy: rate('approval_accuracy'),
    p95_latency_ms: percentile(runs.map((r) => r.latencyMs), 95),
    cost_per_run_usd: mean(runs.map((r) => r.costUsd)),
    runs: runs.length,
    pass_at_k: mean(cases.map((c) => c.passAtK)),
    pass_hat_k: mean(cases.map((c) => c.passHatK)),
  };
}

/** A stored eval to compare with: its bundle and summary metrics (`runs` included). */
export interface Baseline {
  evalId: string;
  bundleId: string;
  metrics: Record<string, number>;
}

export type BaselineComparison =
  | ({ kind: 'rate'; baseline: number } & RateComparison)
  | { kind: 'amount'; baseline: number; rise: number; minEffect: number; significant: boolean };

export interface MetricVerdict {
  metric: MetricName;
  value: number;
  threshold?: Threshold;
  thresholdMet?: boolean;
  baseline?: BaselineComparison;
  regression: boolean;
  /** Why it is a regression, for people; undefined when it is not. */
  reason?: string;
}

export interface GateVerdict {
  metrics: MetricVerdict[];
  passed: boolean;
  regressions: string[];
}

const shown = (metric: MetricName, value: number) =>
  metric === 'p95_latency_ms' ? `${Math.round(value)} ms` : metric === 'cost_per_run_usd' ? `$${value.toFixed(4)}` : value.toFixed(2);

function compareWithBaseline(metric: MetricName, value: number, runs: number, baseline: Baseline, gate: EvalGate): BaselineComparison | undefined {
  const before = baseline.metrics[metric];
  if (before === undefined) return undefined;
  if (isRateMetric(metric)) {
    const trials = baseline.metrics.runs ?? 0;
    const comparison = compareRates({ successes: Math.round(before * trials), trials }, { successes: Math.round(value * runs), trials: runs }, gate.alpha);
    return { kind: 'rate', baseline: before, ...comparison };
  }
  const minEffect = gate.min_effect[metric as 'p95_latency_ms' | 'cost_per_run_usd'];
  const rise = before > 0 ? (value - before) / before : value > 0 ? Infinity : 0;
  return { kind: 'amount', baseline: before, rise, minEffect, significant: rise > minEffect };
}

function regressionReason(v: Omit<MetricVerdict, 'regression' | 'reason'>, baselineBundle?: string): string | undefined {
  const parts: string[] = [];
  if (v.threshold && !v.thresholdMet) parts.push(`${v.metric} ${shown(v.metric, v.value)} misses ${v.threshold.text}`);
  const b = v.baseline;
  if (b?.significant) {
    const how = b.kind === 'rate'
      ? `${b.test === 'fisher_exact' ? "Fisher's exact test" : 'two-proportion z test'}, one-sided p = ${b.p.toFixed(3)}`
      : `+${(b.rise * 100).toFixed(0)}%, above the minimum effect of ${(b.minEffect * 100).toFixed(0)}%`;
    parts.push(`${v.metric} ${b.kind === 'rate' ? 'dropped' : 'rose'} from ${shown(v.metric, b.baseline)} to ${shown(v.metric, v.value)} against ${baselineBundle} (${how})`);
  }
  return parts.length ? parts.join('; ') : undefined;
}

/**
 * The gate's verdict: a metric regresses when it misses its threshold, or (with a baseline) when it
 * is significantly worse than the baseline. The gate passes when no metric regresses and at least
 * one run was scored.
 */
export function verdictOf(cases: CaseResult[], gate: EvalGate, thresholds: Map<MetricName, Threshold>, baseline?: Baseline): GateVerdict {
  const metrics = metricsOf(cases);
  const verdicts = metricNames
    .filter((metric) => thresholds.has(metric) || baseline?.metrics[metric] !== undefined)
    .map((metric): MetricVerdict => {
      const value = metrics[metric];
      const threshold = thresholds.get(metric);
      const partial = {
        metric, value, threshold,
        thresholdMet: threshold ? meetsThreshold(value, threshold) : undefined,
        baseline: baseline ? compareWithBaseline(metric, value, metrics.runs, baseline, gate) : undefined,
      };
      const reason = regressionReason(partial, baseline?.bundleId);
      return { ...partial, regression: reason !== undefined, reason };
    });
  const regressions = verdicts.flatMap((v) => (v.reason ? [v.reason] : []));
  if (metrics.runs === 0) regressions.push('no run was scored');
  return { metrics: verdicts, passed: regressions.length === 0, regressions };
}

/** The process exit code of `bosun eval`: 0 pass (or a regression under `on_regression: warn`), 1 a regression that blocks. */
export function exitCodeOf(verdict: Pick<GateVerdict, 'passed'>, onRegression: EvalGate['on_regression']): 0 | 1 {
  return verdict.passed || onRegression === 'warn' ? 0 : 1;
}
