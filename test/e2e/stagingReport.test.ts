/**
 * The shadow replay's comparison report beyond its JSON (issue 15 §4) and its traces, end to end on
 * the real dev server, worker, PostgreSQL and an OTLP receiver: the HTML page with plots (API and
 * `bosun shadow report --html`), the export of the inputs where the candidate differed to the golden
 * set with `bosun golden add --shadow` (cases the production bundle passes and the candidate fails in
 * `bosun eval`), and no personal detail of the originals on any span of the replays' traces, with
 * message-content capture off and on.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goldenCaseSchema } from '../../src/shared/evals/goldenCase';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlpReceiver';
import { eventually, personalDetails, productionRun, stageBlindCandidate } from '../support/shadowFixtures';
import { startTestStack, type TestStack } from '../support/testStack';
import { bosunIn } from '../support/cliInProcess';

/** Production runs per stack: every fourth rejected by its human. */
const N = 4;

/** A stack exporting traces to a receiver of its own, with message content captured or not. */
function tracedStack(capture: boolean) {
  const context = {} as { stack: TestStack; receiver: OtlpReceiver };
  beforeAll(async () => {
    context.receiver = await startOtlpReceiver();
    context.stack = await startTestStack({
      env: {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${context.receiver.url}/v1/traces`,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_SEMCONV_STABILITY_OPT_IN: 'gen_ai_latest_experimental',
        ...(capture && { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' }),
      },
    });
  });
  afterAll(async () => {
    await context.stack?.close();
    await context.receiver?.close();
  });
  return context;
}

/**
 * Seeds N production runs full of personal details, stages the blind candidate and replays them
 * all; the finished report and the seeded details.
 */
async function replayed(stack: TestStack) {
  const seeded = personalDetails(N);
  const originals = await Promise.all(seeded.map((p, i) => productionRun(stack, p.input, i % 4 === 3 ? 'reject' : 'approve')));
  const candidate = await stageBlindCandidate(stack);
  const started = await stack.api('POST', '/v1/agents/support/shadow', {
    sample: N, anonymise: { names: seeded.map((p) => p.name), patterns: ['CUST-\\d+'] },
  });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const report = await eventually(async () => {
    const { body } = await stack.api('GET', `/v1/agents/support/shadow/${started.body.shadowId}`);
    return body.done ? body : undefined;
  }, 600_000);
  expect(report.aggregates).toMatchObject({ runs: N, finished: N });
  return { seeded, originals, candidate, report, details: seeded.flatMap((p) => p.details) };
}

interface ExportedSpan { traceId: string; name: string; attributes?: unknown; events?: unknown; links?: unknown; status?: unknown }

/** Every span the receiver got, as exported: what it says (name, attributes, events, links, status), and its trace. */
function exportedSpans(receiver: OtlpReceiver): { traceId: string; says: string }[] {
  return receiver.raw.flatMap((body) => {
    const request = JSON.parse(body) as { resourceSpans?: { scopeSpans?: { spans?: ExportedSpan[] }[] }[] };
    return (request.resourceSpans ?? []).flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => (ss.spans ?? []).map((s) => ({
      // IDs and times left out: digits of a timestamp are no personal detail.
      traceId: s.traceId, says: JSON.stringify({ name: s.name, attributes: s.attributes, events: s.events, links: s.links, status: s.status }),
    }))));
  });
}

/**
 * What each span of the traces the runs are in says, once each run's `invoke_agent` span (it ends
 * last) has arrived.
 */
async function spansOfRuns(receiver: OtlpReceiver, runIds: string[]): Promise<string[]> {
  await eventually(async () => {
    const ended = new Set(receiver.spans.filter((s) => s.name === 'invoke_agent support').map((s) => s.attributes['bosun.run.id']));
    return runIds.every((id) => ended.has(id)) || undefined;
  }, 120_000);
  const traces = new Set(receiver.spans.filter((s) => runIds.includes(s.attributes['bosun.run.id'] as string)).map((s) => s.traceId));
  return exportedSpans(receiver).filter((s) => traces.has(s.traceId)).map((s) => s.says);
}

function expectNoDetail(text: string, details: string[], where: string): void {
  for (const detail of details) expect(text.includes(detail), `"${detail}" in ${where}`).toBe(false);
}

describe('the shadow report as a page and as golden cases, and the replay traced without content', () => {
  const context = tracedStack(false);
  let tmp: string;

  beforeAll(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'bosun-shadow-report-'));
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('serves the report as a page with plots, exports the differing inputs as golden cases, and traces no personal detail', async () => {
    const { stack, receiver } = context;
    const { report, details } = await replayed(stack);
    const shadowId = report.shadowId;
    const replayIds: string[] = report.items.map((i: any) => i.runId);

    // Traces: the replays' spans carry no personal detail, and neither does any span at all (no content captured).
    const spans = await spansOfRuns(receiver, replayIds);
    expect(spans.map((s) => JSON.parse(s).name)).toEqual(expect.arrayContaining(['POST /v1/agents/:agent/shadow', 'invoke_agent support', 'execute_tool issue_refund', 'approval issue_refund']));
    expectNoDetail(spans.join('\n'), details, "the replays' traces");
    expectNoDetail(exportedSpans(receiver).map((s) => s.says).join('\n'), details, 'a span');

    // The page, from the API: HTML, escaped, self-contained, locked down by its Content-Security-Policy.
    const page = await fetch(`${stack.baseUrl}/v1/agents/support/shadow/${shadowId}/report.html`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-/);
    const html = await page.text();
    expectNoDetail(html, details, 'the page');
    expect(html).not.toMatch(/<script[^>]+src=|<link /);
    for (const id of ['plot-agreement', 'plot-ranking', 'plot-cost', 'plot-latency']) expect(html).toContain(`<canvas id="${id}"`);
    expect(html.match(/<tr class="(differs|same)"/g)).toHaveLength(N);
    expect((await fetch(`${stack.baseUrl}/v1/agents/support/shadow/${shadowId}/report.html`)).status).toBe(401);

    // The CLI: a summary with the significance, and the same page saved.
    const cli = await bosunIn(stack, ['shadow', 'report', 'support', shadowId, '--html', 'report.html'], tmp);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/success\s+production \d+%, candidate \d+%: (no significant|a significant) drop \((Fisher's exact|two-proportion z) p \d\.\d{3}\)/);
    expect(cli.stdout).toMatch(/latency p50\/p95\s+production \d+\/\d+ ms, candidate \d+\/\d+ ms/);
    expect(cli.stdout).toContain(`bosun golden add --shadow ${shadowId} --agent support`);
    const saved = readFileSync(path.join(tmp, 'report.html'), 'utf8');
    expect(saved).toContain('<canvas id="plot-ranking"');
    expectNoDetail(saved, details, 'the saved page');

    // The golden set: one case per differing input, anonymised, production's trajectory expected.
    const suite = path.join(tmp, 'golden_set.jsonl');
    const exported = await bosunIn(stack, ['golden', 'add', '--shadow', shadowId, '--agent', 'support', '--suite', suite]);
    expect(exported.code, exported.stderr).toBe(0);
    const differing = report.items.filter((i: any) => i.difference > 0);
    expect(differing.length).toBeGreaterThan(0);
    expect(exported.stdout).toContain(`added ${differing.length} cases from shadow replay ${shadowId}`);
    const text = readFileSync(suite, 'utf8');
    expectNoDetail(text, details, 'the golden set');
    const cases = text.trim().split('\n').map((line) => goldenCaseSchema.parse(JSON.parse(line)));
    expect(cases.map((c) => c.provenance!.runId)).toEqual(differing.map((i: any) => i.runId));
    // A refund the human approved in production: its case approves, and expects production's two calls.
    const refund = cases.find((c) => c.approvals[0]?.decision === 'approve')!;
    expect(refund).toMatchObject({
      expect: { outcome: 'completed', tools: [{ name: 'lookup_order' }, { name: 'issue_refund' }] },
      approvals: [{ tool: 'issue_refund', decision: 'approve' }],
      provenance: { reason: expect.stringMatching(new RegExp(`^shadow_differed \\(shadow ${shadowId}: .*tool_call_accuracy`)) },
    });
    // The candidate never looked the order up, yet the case has lookup_order's (anonymised) result: the tape the replay was given.
    expect(refund.tapes.map((t) => t.tool)).toEqual(['lookup_order', 'issue_refund']);
    const rejected = cases.find((c) => c.approvals[0]?.decision === 'reject')!;
    expect(rejected.expect.outcome).toBe('refused');
    expect(refund.input).toBe(report.items.find((i: any) => i.runId === refund.provenance!.runId).input);
    const again = await bosunIn(stack, ['golden', 'add', '--shadow', shadowId, '--agent', 'support', '--suite', suite]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('added 0 cases');
    expect(again.stderr).toContain('skipped: case');
    expect(readFileSync(suite, 'utf8')).toBe(text);

    // The cases are golden cases: production's bundle passes them in `bosun eval`, the candidate does not.
    const gate = (bundle: string) => {
      const file = path.join(tmp, `gate-${bundle.slice(-6)}.yaml`);
      writeFileSync(file, ['eval_gate:', `  bundle: ${bundle}`, `  suite: ${suite}`, '  thresholds:', '    tool_call_accuracy: ">= 1.0"', '  on_regression: block_merge', '  baseline: none', ''].join('\n'));
      return file;
    };
    const production = report.items[0].original;
    const productionBundle = (await stack.api('GET', `/v1/runs/${production.runId}`)).body.bundleId;
    const good = await bosunIn(stack, ['eval', gate(productionBundle), '--out', path.join(tmp, 'eval-production')]);
    expect(good.code, `${good.stdout}\n${good.stderr}`).toBe(0);
    const bad = await bosunIn(stack, ['eval', gate(report.bundleId), '--out', path.join(tmp, 'eval-candidate')]);
    expect(bad.code, bad.stdout).toBe(1);
  }, 900_000);
});

describe('the shadow replay traced with message content captured', () => {
  const context = tracedStack(true);

  it('puts the anonymised messages on the replays\' spans, and no personal detail', async () => {
    const { stack, receiver } = context;
    const { report, details } = await replayed(stack);
    const text = (await spansOfRuns(receiver, report.items.map((i: any) => i.runId))).join('\n');
    expectNoDetail(text, details, "the replays' traces");
    // Content is on the spans (else this test proves nothing): the replays' messages, anonymised.
    expect(text).toContain('gen_ai.input.messages');
    expect(text).toContain('gen_ai.tool.call.result');
    expect(text).toMatch(/user-[0-9a-f]+@example\.invalid/);
  }, 900_000);
});
