/**
 * What `bosun eval` shows while it runs and when it is done: a progress bar on a terminal (plain
 * lines elsewhere, e.g. in CI logs), then a summary table of the metrics and the failing cases.
 */
import type { CaseResult, GateVerdict } from '../../shared/evals/verdict';
import { table } from '../format';
import type { EvalReport } from './report';

export interface ProgressOutput {
  /** Rewrites the terminal's status line; only called when `interactive`. */
  status(text: string): void;
  /** A line on stderr. */
  line(text: string): void;
  interactive: boolean;
}

/** Counts finished runs out of `total`; `done` clears the bar. */
export function createProgress(total: number, out: ProgressOutput) {
  let finished = 0;
  let failed = 0;
  const barWidth = 30;
  return {
    runFinished(caseId: string, repeat: number, passed: boolean) {
      finished++;
      if (!passed) failed++;
      if (!out.interactive) {
        out.line(`[${finished}/${total}] ${caseId}${repeat > 0 ? ` (repeat ${repeat + 1})` : ''}: ${passed ? 'passed' : 'FAILED'}`);
        return;
      }
      const filled = Math.round((finished / total) * barWidth);
      out.status(`[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${finished}/${total} runs, ${failed} failed  ${caseId}`);
    },
    done() {
      if (out.interactive) out.status('');
    },
  };
}

const fmt = (metric: string, value: number) =>
  metric.endsWith('_ms') ? `${Math.round(value)} ms` : metric.endsWith('_usd') ? `$${value.toFixed(4)}` : value.toFixed(2);

function metricsTable(verdict: GateVerdict): string {
  return table(
    ['METRIC', 'VALUE', 'THRESHOLD', 'BASELINE', 'RESULT'],
    verdict.metrics.map((m) => [
      m.metric,
      fmt(m.metric, m.value),
      m.threshold?.text ?? '',
      m.baseline ? `${fmt(m.metric, m.baseline.baseline)}${m.baseline.significant ? ' (significant)' : ''}` : '',
      m.regression ? 'REGRESSION' : 'ok',
    ]),
  );
}

const caseLine = (c: CaseResult) =>
  `  ${c.caseId}${c.flaky ? ' (flaky)' : ''}: ${c.runs.filter((r) => r.passed).length}/${c.runs.length} runs passed\n${c.failures.map((f) => `      ${f}`).join('\n')}`;

/** The summary for people: metrics, failing and flaky cases, the verdict, where the reports are. */
export function summaryText(report: EvalReport, reportDir: string): string {
  const failing = report.cases.filter((c) => !c.passed);
  const baseline = 'none' in report.baseline ? `baseline: ${report.baseline.none}` : `baseline: eval ${report.baseline.evalId} of ${report.baseline.bundleId}`;
  const k = report.repeats > 1 ? `\npass@${report.repeats} ${report.metrics.pass_at_k!.toFixed(2)}, pass^${report.repeats} ${report.metrics.pass_hat_k!.toFixed(2)} (mean over cases)` : '';
  return [
    `eval of ${report.bundleId} on ${report.suite.cases} cases × ${report.repeats} (suite ${report.suite.hash}); ${baseline}`,
    '',
    metricsTable(report.verdict) + k,
    ...(failing.length ? ['', `failing cases (${failing.length}):`, ...failing.map(caseLine)] : []),
    '',
    report.verdict.passed ? 'PASS' : `REGRESSION${report.onRegression === 'warn' ? ' (on_regression: warn, not blocking)' : ''}:\n${report.verdict.regressions.map((r) => `  - ${r}`).join('\n')}`,
    `reports: ${reportDir}/report.html, report.json, junit.xml`,
  ].join('\n');
}
