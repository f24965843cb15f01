/**
 * The gate file and suite (every problem listed), the verdict against thresholds and a baseline,
 * and the exit codes of `bosun eval`, through the CLI's own `main` where no API is needed.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { loadGate } from '../../src/cli/eval/gateLoader';
import { parseGate, type EvalGate } from '../../src/shared/evals/gateFile';
import { parseSuite } from '../../src/shared/evals/goldenCase';
import type { RunScore } from '../../src/shared/evals/scorers';
import { caseResultOf, exitCodeOf, verdictOf } from '../../src/shared/evals/verdict';

const repo = path.resolve(__dirname, '../..');

describe('the gate file', () => {
  it("accepts the article's shape, with defaults for the optional fields", () => {
    const parsed = parseGate({
      eval_gate: {
        bundle: 'support@0123456789ab', suite: './evals/golden_set.jsonl',
        thresholds: { task_success: '>= 0.90', grounding: '>= 0.95', tool_call_accuracy: '>= 0.92', p95_latency_ms: '<= 8000', cost_per_run_usd: '<= 0.12' },
        on_regression: 'block_merge',
      },
    });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.gate).toMatchObject({ repeats: 1, concurrency: 4, baseline: 'none', alpha: 0.05, min_effect: { p95_latency_ms: 0.2, cost_per_run_usd: 0.1 } });
    expect(parsed.thresholds.get('p95_latency_ms')).toEqual({ comparator: '<=', value: 8000, text: '<= 8000' });
  });

  it('lists every problem at once', () => {
    const parsed = parseGate({
      eval_gate: {
        suite: 7,
        thresholds: { task_success: 'about 0.9', grounding: '>= 1.5', speed: '>= 1' },
        on_regression: 'shrug',
        repeats: 0,
        baseline: 'yesterday',
        judge: { rubrics: {} },
        extra: true,
      },
    });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const text = parsed.problems.join('\n');
    for (const expected of [
      /^eval_gate\.bundle: /m,
      /^eval_gate\.suite: /m,
      /^eval_gate\.thresholds\.task_success: "about 0\.9" is not a comparison/m,
      /^eval_gate\.thresholds\.grounding: grounding is a rate between 0 and 1/m,
      /^eval_gate\.thresholds\.speed: unknown metric/m,
      /^eval_gate\.on_regression: /m,
      /^eval_gate\.repeats: /m,
      /^eval_gate\.baseline: stable, none, or a bundle ID/m,
      /^eval_gate\.judge\.model: /m,
      /^eval_gate\.judge\.rubrics: name a rubric/m,
      /^eval_gate: Unrecognized key: "extra"/m,
    ]) expect(text).toMatch(expected);
    expect(parseGate({ gate: {} })).toEqual({ ok: false, problems: expect.arrayContaining([expect.stringMatching(/^eval_gate: /)]) });
  });

  it("loads the repository's own gate and golden set", () => {
    const loaded = loadGate('evals/eval_gate.yaml', repo);
    expect(loaded.bundle).toEqual({ dir: path.join(repo, 'agents/support') });
    expect(loaded.cases.length).toBeGreaterThanOrEqual(5);
    expect(loaded.suiteHash).toMatch(/^[0-9a-f]{16}$/);
    expect(loadGate('evals/eval_gate.yaml', repo, { bundle: 'evals/support/skips-lookup' }).bundle).toEqual({ dir: path.join(repo, 'evals/support/skips-lookup') });
  });

  it('lists problems of the suite by line, with those of the bundle', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bosun-gate-'));
    writeFileSync(path.join(dir, 'suite.jsonl'), [
      '{"id":"a","input":"hi"}',
      'not json',
      '{"id":"a","input":"again"}',
      '{"id":"b","input":"x","approvals":[{"tool":"t","decision":"edit"}],"expect":{"outcome":"done"}}',
    ].join('\n'));
    writeFileSync(path.join(dir, 'gate.yaml'), 'eval_gate:\n  bundle: ./nowhere\n  suite: ./suite.jsonl\n  thresholds: { task_success: ">= 0.9" }\n  on_regression: warn\n');
    expect(() => loadGate('gate.yaml', dir)).toThrow(expect.objectContaining({
      problems: [
        'eval_gate.bundle: ./nowhere is neither a bundle directory nor a bundle ID such as support@0123456789ab',
        expect.stringMatching(/^eval_gate\.suite \(\.\/suite\.jsonl\): line 2: not JSON/),
        'eval_gate.suite (./suite.jsonl): line 3: id "a" is already used on line 1',
        'eval_gate.suite (./suite.jsonl): line 4: approvals.0: an edit needs arguments, and only an edit has them',
        expect.stringMatching(/^eval_gate\.suite \(\.\/suite\.jsonl\): line 4: expect\.outcome: /),
      ],
    }));
    expect(parseSuite('\n// nothing\n')).toEqual({ ok: false, problems: ['the suite has no cases'] });
  });
});

describe('the verdict', () => {
  const gate = (parseGate({
    eval_gate: { bundle: 'support@0123456789ab', suite: 's', thresholds: { task_success: '>= 0.9', p95_latency_ms: '<= 8000' }, on_regression: 'block_merge' },
  }) as Extract<ReturnType<typeof parseGate>, { ok: true }>);
  const score = (runId: string, pass: boolean, latencyMs = 1000): RunScore => {
    const ok = { pass, failures: pass ? [] : ['the answer does not contain "x"'] };
    const yes = { pass: true, failures: [] };
    return { runId, passed: pass, checks: { task_success: ok, grounding: yes, tool_call_accuracy: yes, approval_accuracy: yes }, latencyMs, costUsd: 0.001 };
  };
  const cases = (passing: number, failing: number) => [
    ...Array.from({ length: passing }, (_, i) => caseResultOf(`ok-${i}`, [score(`p${i}`, true)])),
    ...Array.from({ length: failing }, (_, i) => caseResultOf(`bad-${i}`, [score(`f${i}`, false)])),
  ];

  it('passes when every threshold holds', () => {
    const verdict = verdictOf(cases(10, 0), gate.gate, gate.thresholds);
    expect(verdict).toMatchObject({ passed: true, regressions: [] });
    expect(exitCodeOf(verdict, 'block_merge')).toBe(0);
  });

  it('names a missed threshold, and blocks only under block_merge', () => {
    const verdict = verdictOf(cases(8, 2), gate.gate, gate.thresholds);
    expect(verdict.regressions).toEqual(['task_success 0.80 misses >= 0.9']);
    expect(exitCodeOf(verdict, 'block_merge')).toBe(1);
    expect(exitCodeOf(verdict, 'warn')).toBe(0);
  });

  it('counts a drop against the baseline only when it is significant', () => {
    const baseline = { evalId: 'e1', bundleId: 'support@aaaaaaaaaaaa', metrics: { task_success: 1, p95_latency_ms: 1000, runs: 10 } };
    const loose: EvalGate = { ...gate.gate };
    const noThresholds = new Map();
    expect(verdictOf(cases(9, 1), loose, noThresholds, baseline).passed).toBe(true);
    const dropped = verdictOf(cases(5, 5), loose, noThresholds, baseline);
    expect(dropped.regressions).toEqual([expect.stringMatching(/^task_success dropped from 1\.00 to 0\.50 against support@aaaaaaaaaaaa \(Fisher's exact test, one-sided p = 0\.016\)$/)]);
    const slower = [caseResultOf('slow', Array.from({ length: 10 }, (_, i) => score(`s${i}`, true, 1300)))];
    expect(verdictOf(slower, loose, noThresholds, baseline).regressions).toEqual(['p95_latency_ms rose from 1000 ms to 1300 ms against support@aaaaaaaaaaaa (+30%, above the minimum effect of 20%)']);
  });

  it('flags flaky cases with pass@k and pass^k', () => {
    const flaky = caseResultOf('c', [score('a', true), score('b', false), score('c', true)]);
    expect(flaky).toMatchObject({ passed: false, flaky: true, passAtK: 1, passHatK: 0, failures: ['task_success: the answer does not contain "x"'] });
  });

  it('never passes a suite without runs', () => {
    expect(verdictOf([], gate.gate, gate.thresholds).passed).toBe(false);
  });
});

describe('exit codes of bosun eval', () => {
  async function bosun(args: string[], cwd = repo) {
    let stdout = '';
    let stderr = '';
    const code = await main(args, {
      stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), cwd,
      env: { BOSUN_API_KEY: 'bsn_test_key_not_used', BOSUN_URL: 'http://127.0.0.1:9' },
    });
    return { code, stdout, stderr };
  }

  it('exits 2 listing every problem of an invalid gate file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bosun-gate-'));
    writeFileSync(path.join(dir, 'gate.yaml'), 'eval_gate:\n  bundle: x\n  thresholds: { task_success: "high" }\n  on_regression: block\n');
    const { code, stderr } = await bosun(['eval', 'gate.yaml'], dir);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^bosun: gate\.yaml is not a valid eval gate:\n/);
    expect(stderr).toContain('  - eval_gate.suite: ');
    expect(stderr).toContain('  - eval_gate.thresholds.task_success: "high" is not a comparison');
    expect(stderr).toContain('  - eval_gate.on_regression: ');
  });

  it('exits 2 when the API cannot be reached (an infrastructure error, not a regression)', async () => {
    const { code, stderr } = await bosun(['eval', 'evals/eval_gate.yaml']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^bosun: cannot reach Bosun at http:\/\/127\.0\.0\.1:9/);
  });

  it('exits 2 for a bad flag value, and documents the exit codes', async () => {
    expect((await bosun(['eval', '--repeats', 'many'])).code).toBe(2);
    const help = await bosun(['eval', '--help']);
    expect(help.stdout).toContain('bosun eval: 0 pass, 1 regression (the gate blocks), 2 usage or infrastructure error.');
    expect(help.stdout).toContain('eval [gateFile]');
  });

  it('keeps the sample gate in the shape of the article', () => {
    const text = readFileSync(path.join(repo, 'evals/eval_gate.yaml'), 'utf8');
    for (const line of ['task_success: ">= 0.90"', 'grounding: ">= 0.95"', 'tool_call_accuracy: ">= 0.92"', 'p95_latency_ms: "<= 8000"', 'cost_per_run_usd: "<= 0.12"', 'on_regression: block_merge']) {
      expect(text).toContain(line);
    }
  });
});
