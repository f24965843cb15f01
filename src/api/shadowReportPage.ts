/**
 * The comparison report of a shadow replay as one self-contained HTML page (`GET
 * /v1/agents/:agent/shadow/:shadowId/report.html`, `bosun shadow report --html`): the aggregates,
 * four plots drawn by Chart.js (agreement per check, cost and latency of production against the
 * candidate per input, the difference per input) and the inputs, most different first. Chart.js's
 * UMD build is inlined, so the page loads nothing from elsewhere and opens offline. Every text of
 * the report is escaped (inputs are user text), and the plots' data rides in a JSON script element
 * no text can end; the Content-Security-Policy allows only the page's own script and style, by hash.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ShadowReport } from '../contract';
import { escapeXml as esc, jsonForScript } from '../shared/markup';

type Item = ShadowReport['items'][number];

let chartLibrary: string | undefined;

/** Chart.js's UMD build (MIT), read once, without its source-map comment (the map is not served). */
function chartJs(): string {
  chartLibrary ??= readFileSync(path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8')
    .replace(/\n\/\/# sourceMappingURL=\S*\s*$/, '\n');
  return chartLibrary;
}

/** Draws the plots from the page's JSON (runs in the browser; reads only `#report-data`). */
const drawPlots = `(() => {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  const production = '#1565c0', candidate = '#ef6c00';
  // Dollars to the micro-dollar, never in exponent notation ($0.0025, not 2.5E-3); milliseconds whole.
  const dollars = (v) => '$' + Number(Number(v).toFixed(6));
  const formats = { USD: { text: dollars, floor: 0.000001 }, ms: { text: (v) => Math.round(v) + ' ms', floor: 1 } };
  new Chart(document.getElementById('plot-agreement'), {
    type: 'bar',
    data: { labels: data.agreement.map((a) => a.check), datasets: [{ label: 'replays that agree with production (%)', data: data.agreement.map((a) => a.percent), backgroundColor: '#4caf50' }] },
    options: { indexAxis: 'y', scales: { x: { min: 0, max: 100 } } },
  });
  const label = (item) => '#' + item.rank + ': ' + item.input;
  const versus = (id, key, unit) => {
    const points = data.items.map((i) => ({ x: i.original[key], y: i.candidate[key], item: i }));
    const format = formats[unit];
    const top = Math.max(format.floor, ...points.flatMap((p) => [p.x, p.y])) * 1.05;
    const axis = (text) => ({ min: 0, max: top, ticks: { callback: (v) => format.text(v) }, title: { display: true, text } });
    new Chart(document.getElementById(id), {
      type: 'scatter',
      data: { datasets: [
        { label: 'one input: production (x) against the candidate (y)', data: points, backgroundColor: candidate },
        { label: 'equal', type: 'line', data: [{ x: 0, y: 0 }, { x: top, y: top }], borderColor: '#999', borderDash: [4, 3], pointRadius: 0 },
      ] },
      options: {
        scales: { x: axis('production'), y: axis('candidate') },
        plugins: { tooltip: { callbacks: { label: (c) => c.raw.item ? [label(c.raw.item), 'production ' + format.text(c.raw.x) + ', candidate ' + format.text(c.raw.y)] : 'equal' } } },
      },
    });
  };
  versus('plot-cost', 'costUsd', 'USD');
  versus('plot-latency', 'latencyMs', 'ms');
  new Chart(document.getElementById('plot-ranking'), {
    type: 'bar',
    data: { labels: data.items.map((i) => '#' + i.rank), datasets: [{ label: 'difference (one per failed check, up to 0.25 each for cost and latency)', data: data.items.map((i) => i.difference), backgroundColor: candidate }] },
    options: { plugins: { tooltip: { callbacks: { title: (c) => label(data.items[c[0].dataIndex]) } } } },
  });
  document.body.dataset.plotted = 'true';
})();`;

const style = `body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1.5em}.plot{position:relative;height:300px}
.verdict{font-weight:bold;padding:6px 10px;display:inline-block;border-radius:4px}.verdict.same{background:#e8f5e9}.verdict.drop{background:#ffebee}.verdict.none{background:#eee}
tr.differs td:first-child{border-left:4px solid #ef6c00}tr.same td:first-child{border-left:4px solid #2e7d32}tr.pending td:first-child{border-left:4px solid #bbb}
td.input{white-space:pre-wrap;word-break:break-word;max-width:40em}`;

const percent = (share: number) => Math.round(share * 1000) / 10;
const usd = (value: number) => `$${Number(value.toFixed(6))}`;
const NONE_FINISHED = 'no finished replay yet';

/** What the page calls the shadow: a replay of a selection, or the agent's standing continuous shadow. */
const titleOf = (report: ShadowReport) => (report.kind === 'continuous' ? 'Standing continuous shadow' : 'Shadow replay');

/** The names of the checks the candidate failed against its original; null while it runs. */
function failedChecks(item: Item): string[] | null {
  return item.checks ? Object.entries(item.checks).filter(([, c]) => !c.pass).map(([name]) => name) : null;
}

function side(s: Item['original']): string {
  return `${esc(s.status)}<br/>${esc(s.tools.join(' → ') || 'no tool')}${s.approvals.length ? `<br/>approvals: ${esc(s.approvals.join(', '))}` : ''}`;
}

function itemRows(report: ShadowReport): string {
  return report.items.map((item, index) => {
    const failed = failedChecks(item);
    const kind = failed === null ? 'pending' : failed.length || item.difference > 0 ? 'differs' : 'same';
    const why = failed === null ? 'still running' : [...failed, ...item.checks ? Object.values(item.checks).flatMap((c) => c.failures) : []].join('\n') || 'same';
    return `<tr class="${kind}" data-difference="${item.difference}"><td>${index + 1}</td><td>${item.difference.toFixed(3)}</td><td class="input">${esc(why)}</td>`
      + `<td>${side(item.original)}</td><td>${side(item.candidate)}</td>`
      + `<td>${esc(usd(item.original.costUsd))} → ${esc(usd(item.candidate.costUsd))}</td><td>${item.original.latencyMs} → ${item.candidate.latencyMs} ms</td>`
      + `<td class="input">${esc(item.input)}</td></tr>`;
  }).join('\n');
}

function plotData(report: ShadowReport) {
  const a = report.aggregates.agreement;
  const finished = report.items.filter((i) => !i.pending);
  return {
    // Before any replay finished there is no agreement to plot (not 0%).
    agreement: report.aggregates.finished === 0 ? [] : [['outcome', a.outcome], ['trajectory', a.trajectory], ['approvals', a.approvals], ['grounding', a.grounding]].map(([check, share]) => ({ check, percent: percent(share as number) })),
    items: finished.map((i) => ({
      rank: report.items.indexOf(i) + 1, difference: i.difference, input: i.input.slice(0, 80),
      original: { costUsd: i.original.costUsd, latencyMs: i.original.latencyMs }, candidate: { costUsd: i.candidate.costUsd, latencyMs: i.candidate.latencyMs },
    })),
  };
}

function summary(report: ShadowReport): string {
  const { aggregates: a } = report;
  const test = a.successRate.test === 'fisher_exact' ? "Fisher's exact test" : 'two-proportion z test';
  const none = a.finished === 0;
  const rows: [string, string][] = [
    [titleOf(report).toLowerCase(), `${report.shadowId} of ${report.agent}, started ${report.createdAt}`],
    ['candidate', report.bundleId],
    ['replays', `${a.finished} of ${a.runs} finished${report.done ? '' : ' (still running: reload for the rest)'}`],
    ['success rate', none ? NONE_FINISHED : `production ${percent(a.original.successRate)}%, candidate ${percent(a.candidate.successRate)}% (${test}, p = ${a.successRate.p.toFixed(3)})`],
    ['mean cost a run', none ? NONE_FINISHED : `production ${usd(a.original.meanCostUsd)}, candidate ${usd(a.candidate.meanCostUsd)}`],
    ['latency p50 / p95', none ? NONE_FINISHED : `production ${a.original.p50LatencyMs} / ${a.original.p95LatencyMs} ms, candidate ${a.candidate.p50LatencyMs} / ${a.candidate.p95LatencyMs} ms`],
  ];
  return `<table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * The page for `report`, and the Content-Security-Policy to serve it with: only its own inline
 * script and style run (by hash), nothing is fetched, and it cannot be framed.
 */
export function shadowReportPage(report: ShadowReport): { html: string; contentSecurityPolicy: string } {
  const script = `${chartJs()}\n${drawPlots}`;
  const a = report.aggregates;
  const verdict = a.finished === 0
    ? `<span class="verdict none">No finished replay yet: nothing to compare (reload as replays finish)</span>`
    : a.successRate.significant
    ? `<span class="verdict drop">The candidate's success rate dropped significantly (p = ${a.successRate.p.toFixed(3)})</span>`
    : `<span class="verdict same">No significant drop in success rate (p = ${a.successRate.p.toFixed(3)})</span>`;
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>bosun ${titleOf(report).toLowerCase()}: ${esc(report.agent)} against ${esc(report.bundleId)}</title>
<style>${style}</style>
</head>
<body>
<h1>${titleOf(report)} of ${esc(report.agent)}: production against ${esc(report.bundleId)}</h1>
<p>${verdict}</p>
${summary(report)}
<h2>Plots</h2>
<div class="plots">
<figure><figcaption>Agreement with production, per check</figcaption><div class="plot"><canvas id="plot-agreement" role="img" aria-label="agreement per check"></canvas></div></figure>
<figure><figcaption>Difference per input, most different first</figcaption><div class="plot"><canvas id="plot-ranking" role="img" aria-label="difference per input"></canvas></div></figure>
<figure><figcaption>Cost per input: production against the candidate</figcaption><div class="plot"><canvas id="plot-cost" role="img" aria-label="cost per input"></canvas></div></figure>
<figure><figcaption>Latency per input: production against the candidate</figcaption><div class="plot"><canvas id="plot-latency" role="img" aria-label="latency per input"></canvas></div></figure>
</div>
<h2>Inputs, most different first</h2>
<table id="items">
<thead><tr><th>#</th><th>difference</th><th>differs in</th><th>production</th><th>candidate</th><th>cost</th><th>latency</th><th>input (anonymised)</th></tr></thead>
<tbody>
${itemRows(report)}
</tbody>
</table>
<script type="application/json" id="report-data">${jsonForScript(plotData(report))}</script>
<script>${script}</script>
</body>
</html>
`;
  const contentSecurityPolicy = `default-src 'none'; script-src ${sha256(script)}; style-src ${sha256(style)}; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  return { html, contentSecurityPolicy };
}
