/**
 * `bosun golden add <runId>`: the flywheel's last step. A run (typically from the review list:
 * failed, capped, rejected, edited or disliked) becomes a golden case with its input, its redacted
 * tool tapes, the expected outcome and trajectory (an approver's edit is the expected call), and
 * provenance. A case whose input is already in the suite is refused. `bosun golden add --shadow`:
 * the inputs of a shadow replay where the candidate differed from production become cases the same way.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { goldenCaseSchema, outcomes, type CaseApproval, type ExpectedCall, type GoldenCase, type Outcome } from '../../shared/evals/goldenCase';
import { expectedOutcomeOf } from '../../shared/shadowReport';
import { CliError, UsageError, answer, type Schemas } from '../apiClient';
import { show, stringOption, type CommandContext, type OptionValues } from '../command';
import { inputHashOf, readSuite } from './gateLoader';

export const defaultSuite = 'evals/golden_set.jsonl';

type RunView = Schemas['RunView'];

/** Why a run is a candidate, as the review list names it (the first that applies). */
export function reasonOf(run: RunView): string {
  if (run.approvals.some((a) => a.editedArguments)) return 'approval_edited';
  if (run.approvals.some((a) => a.status === 'rejected')) return 'approval_rejected';
  if (run.status === 'budget_exceeded') return 'budget_exceeded';
  if (run.status === 'step_limit' || ['tool_call_limit', 'token_limit', 'cost_limit'].includes(run.error?.code ?? '')) return 'cap_reached';
  if (run.status === 'failed') return 'failed';
  return 'operator';
}

/** How the case answers each approval: as the human did (an edit keeps the edited arguments). */
function approvalsOf(run: RunView): CaseApproval[] {
  return run.approvals.flatMap((a): CaseApproval[] => {
    if (a.editedArguments) return [{ tool: a.tool, decision: 'edit', arguments: a.editedArguments }];
    if (a.status === 'approved') return [{ tool: a.tool, decision: 'approve' }];
    if (a.status === 'rejected') return [{ tool: a.tool, decision: 'reject' }];
    return [];
  });
}

function expectedOutcome(run: RunView, given: string | undefined): Outcome {
  if (given !== undefined) {
    if (!(outcomes as readonly string[]).includes(given)) throw new CliError(`--outcome must be one of ${outcomes.join(', ')}, not "${given}"`);
    return given as Outcome;
  }
  return run.approvals.some((a) => a.status === 'rejected') && !run.approvals.some((a) => a.status === 'approved') ? 'refused' : 'completed';
}

/** What a case states beyond the run, each by default taken from the run. */
interface CaseOptions {
  id?: string;
  reason?: string;
  outcome?: string;
  contains?: string;
  /** The expected trajectory instead of the run's own calls. */
  tools?: ExpectedCall[];
}

/**
 * The case for `run`. The trajectory is the run's calls as they ran (edited arguments included),
 * when the run completed; a run that failed states no trajectory, since its calls are suspect.
 */
export function caseFromRun(run: RunView, tapes: Schemas['RunTapes']['tapes'], options: CaseOptions): GoldenCase {
  const completed = run.status === 'completed';
  const ran = completed ? tapes.map((t) => ({ name: t.tool, ...(t.args && { args: t.args }) })) : undefined;
  return goldenCaseSchema.parse({
    id: options.id ?? `${run.agent}-${run.runId.slice(0, 8)}`,
    input: run.input,
    approvals: approvalsOf(run),
    expect: {
      outcome: expectedOutcome(run, options.outcome),
      ...(options.contains && { contains: [options.contains] }),
      ...((options.tools ?? ran) && { tools: options.tools ?? ran }),
    },
    tapes,
    provenance: { runId: run.runId, bundleId: run.bundleId, reason: options.reason ?? reasonOf(run), addedAt: new Date().toISOString() },
  });
}

type ShadowItem = Schemas['ShadowReport']['items'][number];

/**
 * The case for an input of a shadow replay where the candidate differed from production, built
 * from the replay (a staging run): its anonymised input, its approvals (decided as the original's
 * were), production's outcome and tool trajectory as the expectation (tool names only: the
 * original's arguments were never anonymised), and as tapes the anonymised read results the replay
 * was given, then its own calls of the other tools (writes, answered by the sandbox).
 */
export function caseFromShadowItem(item: ShadowItem, replay: RunView, tapes: Schemas['RunTapes'], shadowId: string): GoldenCase {
  const given = tapes.given ?? [];
  const givenTools = new Set(given.map((t) => t.tool));
  const failed = Object.entries(item.checks ?? {}).filter(([, c]) => !c.pass).map(([name]) => name);
  return caseFromRun(replay, [...given, ...tapes.tapes.filter((t) => !givenTools.has(t.tool))], {
    id: `${replay.agent}-shadow-${replay.runId.slice(0, 8)}`,
    reason: `shadow_differed (shadow ${shadowId}${failed.length ? `: ${failed.join(', ')}` : ': cost or latency'})`,
    outcome: expectedOutcomeOf(item.original.outcome),
    tools: item.original.tools.map((name) => ({ name })),
  });
}

/** Why `c` cannot join the suite (its input or ID already there), or undefined. */
function duplicateIn(existing: GoldenCase[], c: GoldenCase, suite: string): string | undefined {
  const hash = inputHashOf(c);
  const duplicate = existing.find((e) => inputHashOf(e) === hash);
  if (duplicate) return `case ${duplicate.id} in ${suite} already has this input (input hash ${hash})`;
  if (existing.some((e) => e.id === c.id)) return `case ${c.id} is already in ${suite}; pass --id to name this one`;
  return undefined;
}

function appendToSuite(suite: string, cases: GoldenCase[]): void {
  mkdirSync(path.dirname(suite), { recursive: true });
  const text = existsSync(suite) ? readFileSync(suite, 'utf8') : '';
  const separator = text.length && !text.endsWith('\n') ? '\n' : '';
  appendFileSync(suite, `${separator}${cases.map((c) => `${JSON.stringify(c)}\n`).join('')}`);
}

const detailOf = (c: GoldenCase) => `(reason: ${c.provenance!.reason}, ${c.tapes.length} tapes, expected outcome ${c.expect.outcome})`;

/**
 * Usage error (exit 2) for a continuous shadow: its mirrored runs have no tapes (their reads are live
 * sandbox reads), so the outcome production reached cannot be expected of a case replayed from tapes.
 */
export function refuseContinuousShadow(report: { kind: 'replay' | 'continuous'; shadowId: string }): void {
  if (report.kind !== 'continuous') return;
  throw new UsageError(
    `${report.shadowId} is a continuous shadow: its mirrored runs read live sandbox data, not recorded tapes, so production's outcome cannot be expected of them. ` +
    'Export a shadow replay instead (bosun shadow start <agent> --wait, then bosun golden add --shadow <shadowId>), or add single runs with bosun golden add <runId>.',
  );
}

/** The cases from the shadow replay's inputs where the candidate differed, most different first (at most `top`). */
async function shadowCases(ctx: CommandContext, agent: string, shadowId: string, top: number | undefined): Promise<GoldenCase[]> {
  const report = await answer(ctx.api.GET('/v1/agents/{agent}/shadow/{shadowId}', { params: { path: { agent, shadowId } } }));
  refuseContinuousShadow(report);
  const differing = report.items.filter((i) => !i.pending && i.difference > 0).slice(0, top);
  const cases: GoldenCase[] = [];
  for (const item of differing) {
    const params = { path: { runId: item.runId } };
    const [replay, tapes] = await Promise.all([answer(ctx.api.GET('/v1/runs/{runId}', { params })), answer(ctx.api.GET('/v1/runs/{runId}/tapes', { params }))]);
    cases.push(caseFromShadowItem(item, replay, tapes, shadowId));
  }
  return cases;
}

/**
 * `bosun golden add <runId>`: appends the run's case to the suite, refusing an input (or case ID)
 * already there. `bosun golden add --shadow <shadowId> --agent <agent>`: appends a case for each
 * input where the replay's candidate differed from production, skipping those already there.
 */
export async function addGoldenCase(ctx: CommandContext, [runId]: string[], options: OptionValues) {
  const suite = path.resolve(ctx.cwd, stringOption(options, 'suite') ?? defaultSuite);
  const existing = existsSync(suite) && readFileSync(suite, 'utf8').trim() ? readSuite(suite) : [];
  const shadowId = stringOption(options, 'shadow');
  if ((runId === undefined) === (shadowId === undefined)) throw new UsageError('name a run, or a shadow replay with --shadow <shadowId> --agent <agent>');
  if (shadowId !== undefined) {
    const agent = stringOption(options, 'agent');
    if (agent === undefined) throw new UsageError('--shadow needs --agent <agent>: the agent the replay is of');
    const perRun = ['id', 'reason', 'outcome', 'contains'].filter((name) => options[name] !== undefined);
    if (perRun.length) throw new UsageError(`--${perRun.join(', --')} name one case: not with --shadow (production's outcome and trajectory are expected)`);
    const top = stringOption(options, 'top');
    if (top !== undefined && !/^[1-9]\d*$/.test(top)) throw new UsageError(`--top must be a whole number above 0, not "${top}"`);
    const added: GoldenCase[] = [];
    for (const c of await shadowCases(ctx, agent, shadowId, top === undefined ? undefined : Number(top))) {
      const why = duplicateIn([...existing, ...added], c, path.relative(ctx.cwd, suite));
      if (why) ctx.note(`skipped: ${why}`);
      else added.push(c);
    }
    appendToSuite(suite, added);
    show(ctx, added, (cases) => `added ${cases.length} cases from shadow replay ${shadowId} to ${path.relative(ctx.cwd, suite)}${cases.map((c) => `\n  ${c.id} ${detailOf(c)}`).join('')}`);
    return;
  }
  const params = { path: { runId: runId! } };
  const run = await answer(ctx.api.GET('/v1/runs/{runId}', { params }));
  const { tapes } = await answer(ctx.api.GET('/v1/runs/{runId}/tapes', { params }));
  const c = caseFromRun(run, tapes, {
    id: stringOption(options, 'id'), reason: stringOption(options, 'reason'), outcome: stringOption(options, 'outcome'), contains: stringOption(options, 'contains'),
  });
  const why = duplicateIn(existing, c, suite);
  if (why) throw new CliError(`${why}; nothing added`);
  appendToSuite(suite, [c]);
  show(ctx, c, (added) => `added case ${added.id} to ${path.relative(ctx.cwd, suite)} ${detailOf(added)}`);
}
