/**
 * The eval report as one self-contained HTML page: inline CSS and inline SVG plots (each metric
 * against its threshold and baseline, the latency and cost distributions) and a table of the cases
 * linking each run. Nothing is loaded from elsewhere, so it opens from a CI artifact offline.
 */
import type { MetricVerdict } from '../../shared/evals/verdict';
import { escapeXml as esc } from '../../shared/markup';
import type { EvalReport } from './report';

const width = 560;
const rowHeight = 34;
const labelWidth = 170;

const fmt = (metric: string, value: number) =>
  metric.endsWith('_ms') ? `${Math.round(value)} ms` : metric.endsWith('_usd') ? `$${value.toFixed(4)}` : value.toFixed(2);

function scaleMax(m: MetricVerdict): number {
  if (m.metric !== 'p95_latency_ms' && m.metric !== 'cost_per_run_usd') return 1;
  return Math.max(m.value, m.threshold?.value ?? 0, m.baseline?.baseline ?? 0) * 1.15 || 1;
}

/** One bar per metric: its value, a dashed line at the threshold, a diamond at the baseline. */
export function metricBars(metrics: MetricVerdict[]): string {
  const plot = width - labelWidth - 80;
  const rows = metrics.map((m, i) => {
    const y = 10 + i * rowHeight;
    const max = scaleMax(m);
    const x = (v: number) => labelWidth + (Math.min(v, max) / max) * plot;
    const parts = [
      `<text x="0" y="${y + 16}" class="label">${esc(m.metric)}</text>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${plot}" height="16" class="track"/>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${(x(m.value) - labelWidth).toFixed(1)}" height="16" class="${m.regression ? 'bad' : 'good'}"><title>${esc(fmt(m.metric, m.value))}</title></rect>`,
      `<text x="${labelWidth + plot + 6}" y="${y + 16}" class="value">${esc(fmt(m.metric, m.value))}</text>`,
    ];
    if (m.threshold) {
      const tx = x(m.threshold.value).toFixed(1);
      parts.push(`<line x1="${tx}" x2="${tx}" y1="${y}" y2="${y + 24}" class="threshold"><title>threshold ${esc(m.threshold.text)}</title></line>`);
    }
    if (m.baseline) {
      const bx = x(m.baseline.baseline);
      parts.push(`<path d="M${bx.toFixed(1)} ${y + 6} l5 6 l-5 6 l-5 -6 z" class="baseline"><title>baseline ${esc(fmt(m.metric, m.baseline.baseline))}</title></path>`);
    }
    return parts.join('');
  });
  const height = 20 + metrics.length * rowHeight;
  return `<svg class="plot" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="metrics against thresholds and baseline">${rows.join('')}</svg>`;
}

/** A histogram of `values` in 10 bins, with a dashed line at `threshold` when given. */
export function histogram(label: string, values: number[], unit: (v: number) => string, threshold?: number): string {
  const bins = 10;
  const height = 160;
  const plotHeight = 110;
  const max = Math.max(...values, threshold ?? 0) * 1.05 || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v / max) * bins))]!++;
  const top = Math.max(...counts, 1);
  const barWidth = (width - 40) / bins;
  const bars = counts.map((count, i) => {
    const h = (count / top) * plotHeight;
    const from = unit((i * max) / bins);
    const to = unit(((i + 1) * max) / bins);
    return `<rect x="${(20 + i * barWidth).toFixed(1)}" y="${(20 + plotHeight - h).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${h.toFixed(1)}" class="good"><title>${count} runs, ${esc(from)}–${esc(to)}</title></rect>`;
  });
  const line = threshold === undefined ? '' : (() => {
    const x = (20 + (threshold / max) * (width - 40)).toFixed(1);
    return `<line x1="${x}" x2="${x}" y1="10" y2="${20 + plotHeight}" class="threshold"><title>threshold ${esc(unit(threshold))}</title></line>`;
  })();
  const axis = `<text x="20" y="${height - 12}" class="value">0</text><text x="${width - 20}" y="${height - 12}" class="value" text-anchor="end">${esc(unit(max))}</text>`;
  return `<svg class="plot" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(label)}">${bars.join('')}${line}<line x1="20" x2="${width - 20}" y1="${20 + plotHeight}" y2="${20 + plotHeight}" class="axis"/>${axis}</svg>`;
}

function caseRows(report: EvalReport): string {
  return report.cases.map((c) => {
    const runs = c.runs.map((r, i) => `<a href="${esc(`${report.apiUrl}/v1/runs/${r.runId}`)}" title="${esc(r.runId)}">run ${i + 1}${r.passed ? '' : ' ✗'}</a>`).join(' ');
    const failures = c.failures.length ? `<ul>${c.failures.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : '';
    return `<tr class="${c.passed ? 'pass' : 'fail'}"><td>${esc(c.caseId)}</td><td>${c.passed ? 'pass' : c.flaky ? 'flaky' : 'fail'}</td><td>${c.passAtK.toFixed(2)}</td><td>${c.passHatK.toFixed(2)}</td><td>${runs}</td><td>${failures}</td></tr>`;
  }).join('\n');
}

function baselineText(report: EvalReport): string {
  return 'none' in report.baseline ? esc(report.baseline.none) : `eval ${esc(report.baseline.evalId)} of ${esc(report.baseline.bundleId)} (${esc(report.baseline.createdAt)})`;
}

function metricRows(report: EvalReport): string {
  return report.verdict.metrics.map((m) => {
    const base = m.baseline
      ? `${fmt(m.metric, m.baseline.baseline)} (${m.baseline.kind === 'rate' ? `${m.baseline.test === 'fisher_exact' ? 'Fisher exact' : 'z test'} p=${m.baseline.p.toFixed(3)}` : `${(m.baseline.rise * 100).toFixed(0)}% vs min effect ${(m.baseline.minEffect * 100).toFixed(0)}%`}${m.baseline.significant ? ', significant' : ''})`
      : '';
    return `<tr class="${m.regression ? 'fail' : 'pass'}"><td>${esc(m.metric)}</td><td>${esc(fmt(m.metric, m.value))}</td><td>${esc(m.threshold?.text ?? '')}</td><td>${esc(base)}</td><td>${m.regression ? esc(m.reason!) : 'ok'}</td></tr>`;
  }).join('\n');
}

const style = `body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
tr.fail td:first-child{border-left:4px solid #c62828}tr.pass td:first-child{border-left:4px solid #2e7d32}
.verdict{font-weight:bold;padding:6px 10px;display:inline-block;border-radius:4px}.verdict.pass{background:#e8f5e9}.verdict.fail{background:#ffebee}
.plot .label{font-size:12px}.plot .value{font-size:11px;fill:#555}.plot .track{fill:#eee}.plot .good{fill:#4caf50}.plot .bad{fill:#e53935}
.plot .threshold{stroke:#222;stroke-width:2;stroke-dasharray:4 3}.plot .baseline{fill:#1565c0}.plot .axis{stroke:#999}
ul{margin:0;padding-left:1.2em}`;

/** The whole page. */
export function htmlReport(report: EvalReport): string {
  const runs = report.cases.flatMap((c) => c.runs);
  const latencyThreshold = report.verdict.metrics.find((m) => m.metric === 'p95_latency_ms')?.threshold?.value;
  const costThreshold = report.verdict.metrics.find((m) => m.metric === 'cost_per_run_usd')?.threshold?.value;
  const passed = report.verdict.passed;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>bosun eval: ${esc(report.bundleId)}</title>
<style>${style}</style>
</head>
<body>
<h1>bosun eval: ${esc(report.bundleId)}</h1>
<p><span class="verdict ${passed ? 'pass' : 'fail'}">${passed ? 'PASS' : `REGRESSION (${esc(report.onRegression)})`}</span></p>
<table>
<tr><th>suite</th><td>${esc(report.suite.path)}: ${report.suite.cases} cases × ${report.repeats} repeats, hash ${esc(report.suite.hash)}</td></tr>
<tr><th>baseline</th><td>${baselineText(report)}</td></tr>
<tr><th>when</th><td>${esc(report.startedAt)} – ${esc(report.finishedAt)}</td></tr>
${report.judge ? `<tr><th>judge</th><td>${esc(report.judge.model)} at ${esc(report.judge.baseUrl)}</td></tr>` : ''}
</table>
<h2>Metrics against thresholds and baseline</h2>
${metricBars(report.verdict.metrics)}
<table>
<tr><th>metric</th><th>value</th><th>threshold</th><th>baseline</th><th>verdict</th></tr>
${metricRows(report)}
</table>
<h2>Latency per run</h2>
${histogram('latency distribution', runs.map((r) => r.latencyMs), (v) => `${Math.round(v)} ms`, latencyThreshold)}
<h2>Cost per run</h2>
${histogram('cost distribution', runs.map((r) => r.costUsd), (v) => `$${v.toFixed(4)}`, costThreshold)}
<h2>Cases</h2>
<table>
<tr><th>case</th><th>result</th><th>pass@k</th><th>pass^k</th><th>runs</th><th>failures</th></tr>
${caseRows(report)}
</table>
</body>
</html>
`;
}
