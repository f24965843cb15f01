/**
 * What one `bosun eval` found, as one object (written as report.json), and as JUnit XML for CI
 * test tabs: one test case per golden case, one per gated metric.
 */
import type { CaseResult, GateVerdict } from '../../shared/evals/verdict';
import { escapeXml } from '../../shared/markup';

export interface EvalReport {
  gateFile: string;
  agent: string;
  bundleId: string;
  suite: { path: string; hash: string; cases: number };
  repeats: number;
  onRegression: 'block_merge' | 'warn';
  /** The stored eval compared with, or why there is none. */
  baseline: { evalId: string; bundleId: string; createdAt: string } | { none: string };
  startedAt: string;
  finishedAt: string;
  /** The API the runs ran on; each run is at `${apiUrl}/v1/runs/<runId>`. */
  apiUrl: string;
  judge?: { model: string; baseUrl: string; systemPrompt: string; rubrics: Record<string, string> };
  metrics: Record<string, number>;
  verdict: GateVerdict;
  cases: CaseResult[];
  /** 0 pass, 1 regression (under on_regression: block_merge). */
  exitCode: 0 | 1;
  /** The stored eval's ID, once stored. */
  evalId?: string;
}

const attrs = (values: Record<string, string | number>) =>
  Object.entries(values).map(([name, value]) => `${name}="${escapeXml(String(value))}"`).join(' ');

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function caseXml(c: CaseResult, report: EvalReport): string {
  const time = seconds(c.runs.reduce((sum, r) => sum + r.latencyMs, 0));
  const head = `    <testcase ${attrs({ classname: `eval.${report.agent}`, name: c.caseId, time })}`;
  const runs = c.runs.map((r) => `${report.apiUrl}/v1/runs/${r.runId}`).join('\n');
  if (c.passed) return `${head}>\n      <system-out>${escapeXml(runs)}</system-out>\n    </testcase>`;
  const message = `${c.runs.length - c.runs.filter((r) => r.passed).length} of ${c.runs.length} runs failed${c.flaky ? ' (flaky)' : ''}`;
  return [
    `${head}>`,
    `      <failure ${attrs({ message, type: 'eval_case' })}>${escapeXml(c.failures.join('\n'))}</failure>`,
    `      <system-out>${escapeXml(runs)}</system-out>`,
    '    </testcase>',
  ].join('\n');
}

function metricXml(m: GateVerdict['metrics'][number], report: EvalReport): string {
  const head = `    <testcase ${attrs({ classname: `eval.${report.agent}.metrics`, name: m.metric, time: 0 })}`;
  if (!m.regression) return `${head}/>`;
  return `${head}>\n      <failure ${attrs({ message: m.reason!, type: 'eval_metric' })}>${escapeXml(m.reason!)}</failure>\n    </testcase>`;
}

/** JUnit XML: a suite of the golden cases and a suite of the gated metrics. */
export function junitXml(report: EvalReport): string {
  const cases = report.cases.map((c) => caseXml(c, report));
  const metrics = report.verdict.metrics.map((m) => metricXml(m, report));
  const suite = (name: string, tests: string[], failures: number) =>
    `  <testsuite ${attrs({ name, tests: tests.length, failures, errors: 0, skipped: 0, timestamp: report.startedAt })}>\n${tests.join('\n')}\n  </testsuite>`;
  const caseFailures = report.cases.filter((c) => !c.passed).length;
  const metricFailures = report.verdict.metrics.filter((m) => m.regression).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites ${attrs({ name: `bosun eval ${report.bundleId}`, tests: cases.length + metrics.length, failures: caseFailures + metricFailures })}>`,
    suite(`${report.agent} golden cases (${report.suite.path})`, cases, caseFailures),
    suite(`${report.agent} gate metrics`, metrics, metricFailures),
    '</testsuites>',
    '',
  ].join('\n');
}
