/** The shadow report's HTML page (src/api/shadowReportPage.ts): escaped, its plots' data intact, its script and style allowed by hash. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { shadowReportPage } from '../../src/api/shadowReportPage';
import type { ScoredRun } from '../../src/shared/evals/scorers';
import { compareShadowPair, shadowReportOf } from '../../src/shared/shadowReport';

const hostile = 'Refund 1001 </script><script>window.pwned=1</script><img src=x onerror="window.pwned=2"> & \u2028 "quotes"';

const run = (runId: string, tools: string[], input: string, costUsd: number): ScoredRun => ({
  runId, status: 'completed', input, output: 'done', error: null,
  createdAt: '2026-11-30T00:00:00Z', startedAt: '2026-11-30T00:00:00Z', finishedAt: '2026-11-30T00:00:01Z',
  steps: tools.map((name, i) => ({ step: i + 1, ordinal: 1, kind: 'tool' as const, name, status: 'ok', detail: { arguments: {}, result: {} } })),
  approvals: [], usage: { costUsd },
});

function report(kind: 'replay' | 'continuous' = 'replay') {
  const ids = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
  const same = compareShadowPair(run(ids(1), ['lookup_order'], 'same', 0.001), run(ids(2), ['lookup_order'], 'plain input', 0.001));
  const differs = compareShadowPair(run(ids(3), ['lookup_order', 'issue_refund'], 'x', 0.001), run(ids(4), ['issue_refund'], hostile, 0.002));
  return {
    shadowId: ids(5), kind, agent: 'support', bundleId: 'support@0123456789ab', createdAt: '2026-11-30T00:00:00Z', done: true,
    ...shadowReportOf([same, differs]),
  };
}

describe('the shadow report page', () => {
  const { html, contentSecurityPolicy } = shadowReportPage(report());

  it('escapes every input: no text of the report can open an element or end the script', () => {
    expect(html).not.toContain('<script>window.pwned');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;/script&gt;&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x onerror=&quot;window.pwned=2&quot;&gt; &amp;');
    expect(html.match(/<script/g)).toHaveLength(2);
    expect(html.match(/<\/script>/g)).toHaveLength(2);
  });

  it('carries the plots\' data, most different first, in a JSON element that parses back', () => {
    const json = html.match(/<script type="application\/json" id="report-data">(.*?)<\/script>/s)![1]!;
    const data = JSON.parse(json);
    expect(data.items.map((i: any) => [i.rank, i.input.slice(0, 11)])).toEqual([[1, 'Refund 1001'], [2, 'plain input']]);
    expect(data.items[0].candidate.costUsd).toBe(0.002);
    expect(data.agreement.map((a: any) => a.check)).toEqual(['outcome', 'trajectory', 'approvals', 'grounding']);
    expect(html.indexOf('Refund 1001 &lt;/script')).toBeLessThan(html.indexOf('plain input'));
  });

  it('allows only its own script and style, by hash, and loads nothing from elsewhere', () => {
    const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    const script = html.match(/<script>(.*)<\/script>/s)![1]!;
    const style = html.match(/<style>(.*)<\/style>/s)![1]!;
    expect(contentSecurityPolicy).toContain(`script-src ${hash(script)};`);
    expect(contentSecurityPolicy).toContain(`style-src ${hash(style)};`);
    expect(contentSecurityPolicy).toMatch(/^default-src 'none';/);
    expect(script).toContain('window.Chart=');
    expect(html).not.toMatch(/\b(src|href)="https?:/);
  });
});

describe('the shadow report page before any replay finished, and for a continuous shadow', () => {
  const pending = { ...report(), done: false, ...shadowReportOf([]) };

  it('shows no verdict, agreement or figures, but says no replay has finished yet', () => {
    const { html } = shadowReportPage(pending);
    expect(html).not.toContain('No significant drop');
    expect(html).not.toContain('p = 1.000');
    expect(html).toContain('No finished replay yet');
    expect(html.match(/no finished replay yet/g)).toHaveLength(3);
    const data = JSON.parse(html.match(/<script type="application\/json" id="report-data">(.*?)<\/script>/s)![1]!);
    expect(data.agreement).toEqual([]);
  });

  it('titles a continuous shadow as the standing shadow it is', () => {
    const { html } = shadowReportPage(report('continuous'));
    expect(html).toContain('<h1>Standing continuous shadow of support:');
    expect(html).toContain('<title>bosun standing continuous shadow:');
    expect(shadowReportPage(report()).html).toContain('<h1>Shadow replay of support:');
  });

  it('labels cost axes and figures in dollars, never in exponent notation', () => {
    const { html } = shadowReportPage(report());
    const script = html.match(/<script>(.*)<\/script>/s)![1]!;
    const dollars = new Function(`${script.match(/const dollars = .*;/)![0]} return dollars;`)() as (v: number) => string;
    expect([dollars(1.05e-9), dollars(0.0025), dollars(0.000001), dollars(1.5)]).toEqual(['$0', '$0.0025', '$0.000001', '$1.5']);
    expect(script).toContain('ticks: { callback: (v) => format.text(v) }');
    expect(html).toContain('$0.001 → $0.002');
  });
});
