/**
 * `bosun eval [gateFile]`: runs the golden set against a bundle through the real runtime, scores
 * it, writes JSON, JUnit and HTML reports, stores the eval, and exits 0 (pass), 1 (regression) or
 * 2 (usage or infrastructure error). `bosun golden add <runId>`: a run becomes a golden case.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { scoreRun, type RunScore } from '../../shared/evals/scorers';
import { caseResultOf, exitCodeOf, metricsOf, verdictOf, type Baseline } from '../../shared/evals/verdict';
import { CliError, answer, type ApiClient, type Schemas } from '../apiClient';
import { BundleFileError, readBundleDir } from '../bundleFiles';
import { stringOption, type Command, type CommandContext, type OptionValues } from '../command';
import { runCase, type CaseTarget } from './caseRunner';
import { GateFileError, loadGate, type LoadedGate } from './gateLoader';
import { addGoldenCase } from './goldenAdd';
import { htmlReport } from './htmlReport';
import { createJudge, type Judge } from './judge';
import { createProgress, summaryText } from './progress';
import { junitXml, type EvalReport } from './report';

/** A usage or infrastructure problem of an eval (bad gate file, API down, a run that never ends): exit code 2. */
export class EvalSetupError extends CliError {
  override readonly exitCode = 2;
}

/** The gate found a regression and blocks: exit code 1, with the regressions listed. */
export class EvalRegressionError extends CliError {}

export const defaultGateFile = 'evals/eval_gate.yaml';

async function resolveTarget(ctx: CommandContext, bundle: LoadedGate['bundle']): Promise<CaseTarget> {
  if ('id' in bundle) {
    await ctx.api.GET('/v1/bundles/{bundleId}', { params: { path: { bundleId: bundle.id } } });
    return { agent: bundle.id.split('@')[0]!, bundleId: bundle.id };
  }
  let body: Schemas['PublishBundleRequest'];
  try {
    // The files are the user's: the API checks them.
    body = readBundleDir(bundle.dir) as Schemas['PublishBundleRequest'];
  } catch (err) {
    if (err instanceof BundleFileError) throw new EvalSetupError(`cannot read the bundle in ${err.file}:`, err.problems);
    throw err;
  }
  const published = await answer(ctx.api.POST('/v1/bundles', { body }));
  ctx.note(`bundle under test: ${published.bundleId}${published.created ? ' (published now)' : ''}`);
  return { agent: published.bundle.name, bundleId: published.bundleId };
}

/**
 * The stored eval to compare with: the newest passing one of the baseline bundle on the same suite,
 * if any. A failed eval (a slow machine, a broken provider) is not what "no regression" is measured
 * against.
 */
async function findBaseline(api: ApiClient, loaded: LoadedGate, target: CaseTarget): Promise<{ baseline?: Baseline & { createdAt: string }; note: string }> {
  const wanted = loaded.gate.baseline;
  if (wanted === 'none') return { note: 'none asked for (baseline: none)' };
  const agent = () => answer(api.GET('/v1/agents/{agent}', { params: { path: { agent: target.agent } } }));
  const bundleId = wanted === 'stable' ? (await agent()).stableBundleId : wanted;
  const { evals } = await answer(api.GET('/v1/evals', { params: { query: { agent: target.agent, bundleId, suiteHash: loaded.suiteHash, limit: 20 } } }));
  const last = evals.find((e) => e.summary.passed);
  if (!last) return { note: `no passing stored eval of ${bundleId} on suite ${loaded.suiteHash}: thresholds only` };
  return { baseline: { evalId: last.evalId, bundleId, metrics: last.summary.metrics, createdAt: last.createdAt }, note: '' };
}

/** Runs `work` over `items` with at most `limit` at a time; the first error stops new work and is thrown. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      await work(item).catch((err: unknown) => {
        failed = true;
        throw err;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

async function runSuite(ctx: CommandContext, loaded: LoadedGate, target: CaseTarget, judge: Judge | undefined, repeats: number, concurrency: number) {
  const jobs = loaded.cases.flatMap((c) => Array.from({ length: repeats }, (_, repeat) => ({ c, repeat })));
  const scores = new Map<string, RunScore[]>(loaded.cases.map((c) => [c.id, []]));
  const progress = createProgress(jobs.length, { status: ctx.status, line: ctx.note, interactive: ctx.interactive });
  try {
    await inParallel(jobs, concurrency, async ({ c, repeat }) => {
      const run = await runCase(ctx.api, c, target);
      const score = scoreRun(run, c, judge ? await judge.grade(run, c) : {});
      scores.get(c.id)![repeat] = score;
      progress.runFinished(c.id, repeat, score.passed);
    });
  } finally {
    progress.done();
  }
  return loaded.cases.map((c) => caseResultOf(c.id, scores.get(c.id)!));
}

function writeReports(dir: string, report: EvalReport): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(dir, 'junit.xml'), junitXml(report));
  writeFileSync(path.join(dir, 'report.html'), htmlReport(report));
}

function storeRequest(report: EvalReport, loaded: LoadedGate): Schemas['CreateEvalRequest'] {
  return {
    agent: report.agent,
    bundleId: report.bundleId,
    suiteHash: report.suite.hash,
    gate: { ...loaded.gate, ...(report.judge && { judge: { ...loaded.gate.judge, ...report.judge } }) },
    summary: { metrics: report.metrics, passed: report.verdict.passed, regressions: report.verdict.regressions },
    cases: report.cases.map((c) => ({
      caseId: c.caseId,
      runIds: c.runs.map((r) => r.runId),
      passed: c.passed,
      metrics: {
        pass_at_k: c.passAtK, pass_hat_k: c.passHatK, flaky: c.flaky,
        ...Object.fromEntries(Object.keys(c.runs[0]?.checks ?? {}).map((m) => [m, c.runs.every((r) => r.checks[m as keyof RunScore['checks']].pass)])),
        latency_ms: Math.max(...c.runs.map((r) => r.latencyMs)),
        cost_usd: c.runs.reduce((sum, r) => sum + r.costUsd, 0) / (c.runs.length || 1),
      },
      failures: c.failures,
    })),
  };
}

function positiveInt(options: OptionValues, name: string): number | undefined {
  const text = stringOption(options, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 64) throw new EvalSetupError(`--${name} must be a whole number from 1 to 64, not "${text}"`);
  return value;
}

async function evaluate(ctx: CommandContext, [file = defaultGateFile]: string[], options: OptionValues) {
  const startedAt = new Date().toISOString();
  const loaded = loadGate(file, ctx.cwd, { bundle: stringOption(options, 'bundle'), baseline: stringOption(options, 'baseline') });
  const repeats = positiveInt(options, 'repeats') ?? loaded.gate.repeats;
  const concurrency = positiveInt(options, 'concurrency') ?? loaded.gate.concurrency;
  const judge = loaded.gate.judge ? createJudge(loaded.gate.judge, ctx.env) : undefined;
  const target = await resolveTarget(ctx, loaded.bundle);
  const { baseline, note } = await findBaseline(ctx.api, loaded, target);
  const cases = await runSuite(ctx, loaded, target, judge, repeats, concurrency);
  const verdict = verdictOf(cases, loaded.gate, loaded.thresholds, baseline);
  const report: EvalReport = {
    gateFile: file,
    agent: target.agent,
    bundleId: target.bundleId,
    suite: { path: path.relative(ctx.cwd, loaded.suitePath) || loaded.suitePath, hash: loaded.suiteHash, cases: loaded.cases.length },
    repeats,
    onRegression: loaded.gate.on_regression,
    baseline: baseline ? { evalId: baseline.evalId, bundleId: baseline.bundleId, createdAt: baseline.createdAt } : { none: note },
    startedAt,
    finishedAt: new Date().toISOString(),
    apiUrl: ctx.api.baseUrl,
    ...(judge && { judge: judge.record }),
    metrics: metricsOf(cases),
    verdict,
    cases,
    exitCode: exitCodeOf(verdict, loaded.gate.on_regression),
  };
  const reportDir = path.resolve(ctx.cwd, stringOption(options, 'out') ?? 'eval-results');
  writeReports(reportDir, report);
  // Stored after the reports are written, so an API that cannot store still leaves them behind.
  const stored = await answer(ctx.api.POST('/v1/evals', { body: storeRequest(report, loaded) }));
  report.evalId = stored.evalId;
  writeReports(reportDir, report);
  ctx.print(ctx.json ? JSON.stringify(report, null, 2) : summaryText(report, path.relative(ctx.cwd, reportDir) || '.'));
  if (report.exitCode === 1) throw new EvalRegressionError(`the eval gate failed (${verdict.regressions.length} regressions):`, verdict.regressions);
}

/** Every failure that is not the gate's own verdict becomes a usage or infrastructure error (exit 2). */
async function evalCommand(ctx: CommandContext, args: string[], options: OptionValues) {
  try {
    await evaluate(ctx, args, options);
  } catch (err) {
    if (err instanceof EvalRegressionError || err instanceof EvalSetupError) throw err;
    if (err instanceof GateFileError) throw new EvalSetupError(err.message, err.problems);
    if (err instanceof CliError) throw new EvalSetupError(err.message, err.problems, err.status);
    throw new EvalSetupError(err instanceof Error ? err.message : String(err));
  }
}

export const evalCommands: Command[] = [
  {
    words: ['eval'],
    args: ['[gateFile]'],
    summary: `run the golden set against a bundle and gate on its thresholds (default ${defaultGateFile}); exit 0 pass, 1 regression, 2 usage or infrastructure error`,
    options: {
      bundle: { type: 'string', value: '<dir|bundleId>', description: "the bundle under test instead of the gate file's" },
      baseline: { type: 'string', value: '<stable|none|bundleId>', description: "compare with the last stored eval of this bundle on the same suite (stable: the agent's stable bundle)" },
      repeats: { type: 'string', value: '<k>', description: 'runs per case (pass@k, pass^k, flaky cases)' },
      concurrency: { type: 'string', value: '<n>', description: 'cases running at the same time' },
      out: { type: 'string', value: '<dir>', description: 'where report.json, junit.xml and report.html go (default eval-results)' },
    },
    run: evalCommand,
  },
];

export const goldenCommands: Command[] = [
  {
    words: ['golden', 'add'],
    args: ['[runId]'],
    summary: "write a golden case from a run (or, with --shadow, from each input where a shadow replay's candidate differed): its input, redacted tool tapes, the expected outcome and trajectory, and provenance",
    options: {
      shadow: { type: 'string', value: '<shadowId>', description: 'instead of a run: the inputs of this shadow replay where the candidate differed from production (anonymised; production is the expectation)' },
      agent: { type: 'string', value: '<agent>', description: 'with --shadow: the agent the replay is of' },
      top: { type: 'string', value: '<n>', description: 'with --shadow: only the n most different inputs' },
      suite: { type: 'string', value: '<file>', description: 'the suite to append to (default evals/golden_set.jsonl)' },
      reason: { type: 'string', value: '<text>', description: 'why the run belongs in the golden set (default: from the run, e.g. approval_edited)' },
      id: { type: 'string', value: '<caseId>', description: 'the case ID (default: <agent>-<first 8 characters of the run ID>)' },
      outcome: { type: 'string', value: '<outcome>', description: 'expected outcome: completed, refused, needs_approval or failed (default: from the run)' },
      contains: { type: 'string', value: '<text>', description: 'text the answer must contain' },
    },
    run: addGoldenCase,
  },
];
