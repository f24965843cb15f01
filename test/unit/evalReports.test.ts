/**
 * The eval reports' shape: JUnit XML with a test case per golden case and per gated metric, and a
 * self-contained HTML page whose elements nest properly, with its SVG plots and no external resource.
 */
import { describe, expect, it } from 'vitest';
import { htmlReport } from '../../src/cli/eval/htmlReport';
import { junitXml, type EvalReport } from '../../src/cli/eval/report';
import { parseGate } from '../../src/shared/evals/gateFile';
import type { RunScore } from '../../src/shared/evals/scorers';
import { caseResultOf, metricsOf, verdictOf } from '../../src/shared/evals/verdict';

const voidElements = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);

/**
 * Checks that every element is closed in order (SVG elements may self-close) and returns the
 * element names in document order; throws naming the first mismatch.
 */
function elements(markup: string): string[] {
  const open: string[] = [];
  const names: string[] = [];
  const body = markup.replace(/<!DOCTYPE[^>]*>|<\?xml[^>]*\?>/g, '');
  for (const [tag, closing, name, selfClosing] of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)(?:\s[^<>]*?)?(\/?)>/g) as IterableIterator<RegExpMatchArray & [string, string, string, string]>) {
    if (closing) {
      const last = open.pop();
      if (last !== name) throw new Error(`</${name}> closes <${last}>: ${tag}`);
      continue;
    }
    names.push(name);
    if (!selfClosing && !voidElements.has(name)) open.push(name);
  }
  if (open.length) throw new Error(`unclosed: ${open.join(', ')}`);
  if (/<(?![a-zA-Z/!?])/.test(body.replace(/<style>[\s\S]*?<\/style>/, ''))) throw new Error('a bare < in text');
  return names;
}

const gate = parseGate({
  eval_gate: { bundle: 'support@0123456789ab', suite: 's', thresholds: { task_success: '>= 0.9', p95_latency_ms: '<= 8000', cost_per_run_usd: '<= 0.12' }, on_regression: 'block_merge' },
}) as Extract<ReturnType<typeof parseGate>, { ok: true }>;

function score(runId: string, pass: boolean, latencyMs: number): RunScore {
  const ok = { pass, failures: pass ? [] : ['the answer contains "<script>alert(1)</script>" & more'] };
  const yes = { pass: true, failures: [] };
  return { runId, passed: pass, checks: { task_success: ok, grounding: yes, tool_call_accuracy: yes, approval_accuracy: yes }, latencyMs, costUsd: 0.0005 };
}

function sampleReport(): EvalReport {
  const cases = [
    caseResultOf('refund-1001', [score('11111111-1111-4111-8111-111111111111', true, 1200)]),
    caseResultOf('unknown-<order>', [score('22222222-2222-4222-8222-222222222222', false, 2300), score('33333333-3333-4333-8333-333333333333', true, 900)]),
  ];
  const baseline = { evalId: 'e1', bundleId: 'support@aaaaaaaaaaaa', metrics: { task_success: 1, p95_latency_ms: 3000, cost_per_run_usd: 0.0005, runs: 3 } };
  const verdict = verdictOf(cases, gate.gate, gate.thresholds, baseline);
  return {
    gateFile: 'evals/eval_gate.yaml', agent: 'support', bundleId: 'support@0123456789ab',
    suite: { path: 'evals/golden_set.jsonl', hash: '0123456789abcdef', cases: 2 }, repeats: 2, onRegression: 'block_merge',
    baseline: { evalId: 'e1', bundleId: 'support@aaaaaaaaaaaa', createdAt: '2026-01-01T00:00:00.000Z' },
    startedAt: '2026-01-02T00:00:00.000Z', finishedAt: '2026-01-02T00:01:00.000Z', apiUrl: 'http://127.0.0.1:8080',
    metrics: metricsOf(cases), verdict, cases, exitCode: 1,
  };
}

describe('JUnit XML', () => {
  it('has a test case per golden case and per metric, failures with their reasons, text escaped', () => {
    const xml = junitXml(sampleReport());
    const names = elements(xml);
    expect(names.filter((n) => n === 'testsuite')).toHaveLength(2);
    expect(names.filter((n) => n === 'testcase')).toHaveLength(2 + 3);
    expect(xml).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="bosun eval support@0123456789ab" tests="5" failures="2">/);
    expect(xml).toContain('<testcase classname="eval.support" name="unknown-&lt;order&gt;"');
    expect(xml).toContain('<failure message="1 of 2 runs failed (flaky)" type="eval_case">task_success: the answer contains &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot; &amp; more</failure>');
    expect(xml).toMatch(/<testcase classname="eval\.support\.metrics" name="task_success" time="0">\n {6}<failure message="task_success 0\.67 misses &gt;= 0\.9/);
    expect(xml).toContain('<testcase classname="eval.support.metrics" name="cost_per_run_usd" time="0"/>');
    expect(xml).toContain('http://127.0.0.1:8080/v1/runs/11111111-1111-4111-8111-111111111111');
  });
});

describe('the HTML report', () => {
  const html = htmlReport(sampleReport());

  it('is well formed, with the metric bars and the latency and cost distributions as inline SVG', () => {
    const names = elements(html);
    expect(names.filter((n) => n === 'svg')).toHaveLength(3);
    expect(html).toContain('aria-label="metrics against thresholds and baseline"');
    expect(html).toContain('aria-label="latency distribution"');
    expect(html).toContain('aria-label="cost distribution"');
    // Each gated metric has a bar, a threshold line and a baseline marker.
    expect(html.match(/class="threshold"><title>threshold /g)).toHaveLength(3 + 2);
    expect(html.match(/class="baseline"><title>baseline /g)).toHaveLength(3);
    expect(html).toContain('REGRESSION (block_merge)');
  });

  it('links each run and escapes what the runs said', () => {
    expect(html).toContain('<a href="http://127.0.0.1:8080/v1/runs/22222222-2222-4222-8222-222222222222"');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script');
  });

  it('loads nothing from elsewhere: no scripts, stylesheets, images or URLs other than the run links', () => {
    expect(html).not.toMatch(/<(script|link|img|iframe)\b|\bsrc=|url\(|@import/i);
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>]+/g)].map((m) => m[0]);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:8080(\/v1\/runs\/[0-9a-f-]{36})?$/);
  });
});
