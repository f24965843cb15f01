/**
 * `bosun eval` as CI runs it: a child process against a real stack, offline on the scripted model
 * (which also plays the judge) and the cases' tapes. The demo agent passes its gate (exit 0), a
 * bundle whose prompt skips lookup_order fails it (exit 1, naming cases and metrics, with the
 * baseline's significance), and a production run with an edited approval becomes a golden case
 * with one command and then passes in the next eval.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestStack } from '../support/useTestStack';

const repo = path.resolve(__dirname, '../..');
const bin = path.join(repo, 'bin/bosun.js');

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('bosun eval against a running Bosun', () => {
  const stack = useTestStack();
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'bosun-eval-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  function bosun(args: string[]): Promise<CliResult> {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: repo,
      env: { ...process.env, BOSUN_URL: stack.baseUrl, BOSUN_API_KEY: stack.apiKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result: CliResult = { code: null, stdout: '', stderr: '' };
    child.stdout.on('data', (chunk) => (result.stdout += chunk));
    child.stderr.on('data', (chunk) => (result.stderr += chunk));
    return new Promise((resolve) => child.once('close', (code) => resolve({ ...result, code })));
  }

  /** The repository's gate, with the stack's scripted model as the judge and `suite` when given. */
  function gateFile(name: string, suite = path.join(repo, 'evals/golden_set.jsonl')): string {
    const file = path.join(tmp, `${name}.yaml`);
    writeFileSync(file, [
      'eval_gate:',
      `  bundle: ${path.join(repo, 'agents/support')}`,
      `  suite: ${suite}`,
      '  thresholds:',
      '    task_success: ">= 0.90"',
      '    grounding: ">= 0.95"',
      '    tool_call_accuracy: ">= 0.92"',
      '    p95_latency_ms: "<= 8000"',
      '    cost_per_run_usd: "<= 0.12"',
      '  on_regression: block_merge',
      '  baseline: stable',
      '  judge:',
      '    model: scripted-judge',
      `    base_url: ${stack.model.url}`,
      '    rubrics:',
      '      task_success: The answer does what the customer asked, or says plainly why not.',
      '',
    ].join('\n'));
    return file;
  }

  const readReport = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'));

  it('passes the demo agent offline: exit 0, reports written, the eval stored, no live write', async () => {
    const out = path.join(tmp, 'good');
    const result = await bosun(['eval', gateFile('gate'), '--out', out]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/^METRIC\s+VALUE\s+THRESHOLD\s+BASELINE\s+RESULT$/m);
    expect(result.stdout).toMatch(/^task_success\s+1\.00\s+>= 0\.90\s+ok$/m);
    expect(result.stdout).toMatch(/^PASS$/m);
    // Not a terminal: one plain progress line per run.
    expect(result.stderr).toMatch(/^\[6\/6\] \S+: passed$/m);

    const report = readReport(out);
    expect(report).toMatchObject({ exitCode: 0, agent: 'support', bundleId: stack.bundles[0]!.id, verdict: { passed: true } });
    expect(report.cases.map((c: any) => c.caseId)).toContain('refund-1003-edited-to-half');
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('<svg class="plot"');
    expect(readFileSync(path.join(out, 'junit.xml'), 'utf8')).toContain('failures="0"');

    // The judge was asked, and every write was answered from a tape: no refund row exists.
    expect(stack.model.requests.some((r) => r.messages.at(-1)?.content?.startsWith('[bosun judge]'))).toBe(true);
    const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM refunds WHERE tenant_id = $1', [stack.tenantId]);
    expect(rows[0].n).toBe(0);

    const { body } = await stack.api('GET', `/v1/evals?agent=support&suiteHash=${report.suite.hash}`);
    expect(body.evals[0]).toMatchObject({ evalId: report.evalId, bundleId: report.bundleId, summary: { passed: true } });
    expect(body.evals[0].gate.judge).toMatchObject({ model: 'scripted-judge', systemPrompt: expect.stringContaining('You grade the answer') });
  });

  it('fails a bundle that skips lookup_order: exit 1, naming the cases and metrics, significant against the stable baseline', async () => {
    const out = path.join(tmp, 'worse');
    const result = await bosun(['eval', gateFile('gate'), '--bundle', path.join(repo, 'evals/support/skips-lookup'), '--out', out]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/^bosun: the eval gate failed \(\d+ regressions\):$/m);
    // 3 of 6 against 6 of 6 is not significant on its own (Fisher p = 0.09); 1 of 6 is (p = 0.008).
    expect(result.stderr).toMatch(/^ {2}- task_success 0\.50 misses >= 0\.90$/m);
    expect(result.stderr).toMatch(/^ {2}- tool_call_accuracy 0\.17 misses >= 0\.92; tool_call_accuracy dropped from 1\.00 to 0\.17 against support@[0-9a-f]{12} \(Fisher's exact test, one-sided p = 0\.008\)$/m);
    expect(result.stdout).toMatch(/^failing cases \(\d\):$/m);
    expect(result.stdout).toMatch(/^ {2}refund-1001: 0\/1 runs passed$/m);
    expect(result.stdout).toContain('tool_call_accuracy: expected a call lookup_order {"order_id":"1001"}, none was made');
    expect(result.stdout).toMatch(/^ {2}unknown-order-9999: 0\/1 runs passed$/m);

    const report = readReport(out);
    expect(report.exitCode).toBe(1);
    expect(report.bundleId).not.toBe(stack.bundles[0]!.id);
    expect(report.baseline).toMatchObject({ bundleId: stack.bundles[0]!.id });
    expect(readFileSync(path.join(out, 'junit.xml'), 'utf8')).toMatch(/<testcase classname="eval\.support" name="refund-1001" time="[\d.]+">\n {6}<failure /);
  });

  it('turns a production run with an edited approval into a golden case, refuses it twice, and passes it in the next eval', async () => {
    const runId = await stack.startRun('Refund order 1002, it arrived late.');
    const waiting = await stack.waitForRun(runId, (run) => run.pendingApprovals.length === 1);
    const edited = { order_id: '1002', amount_cents: 5000, reason: 'late delivery: partial refund' };
    const decided = await stack.api('POST', `/v1/runs/${runId}/approvals/${waiting.pendingApprovals[0].approvalId}`, { decision: 'approve', arguments: edited });
    expect(decided.status).toBe(202);
    await stack.waitForStatus(runId, 'completed');

    const suite = path.join(tmp, 'flywheel', 'golden_set.jsonl');
    const added = await bosun(['golden', 'add', runId, '--suite', suite]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^added case support-[0-9a-f]{8} to .*golden_set\.jsonl \(reason: approval_edited, 2 tapes, expected outcome completed\)$/m);
    const [line] = readFileSync(suite, 'utf8').trim().split('\n');
    const written = JSON.parse(line!);
    expect(written).toMatchObject({
      input: 'Refund order 1002, it arrived late.',
      approvals: [{ tool: 'issue_refund', decision: 'edit', arguments: edited }],
      expect: { outcome: 'completed', tools: [{ name: 'lookup_order' }, { name: 'issue_refund', args: edited }] },
      provenance: { runId, bundleId: stack.bundles[0]!.id, reason: 'approval_edited' },
    });
    // The customer's name is redacted in the tape, as lookup_order's redaction rules say.
    expect(written.tapes[0].result.customer).toBe('[redacted]');

    const again = await bosun(['golden', 'add', runId, '--suite', suite, '--id', 'another-name']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already has this input \(input hash [0-9a-f]{16}\); nothing added/);

    const out = path.join(tmp, 'flywheel-eval');
    const result = await bosun(['eval', gateFile('flywheel', suite), '--out', out]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(readReport(out).cases).toEqual([expect.objectContaining({ caseId: written.id, passed: true })]);
    expect(existsSync(path.join(out, 'report.html'))).toBe(true);
  });
});
