/**
 * `bosun golden add <runId>`: the flywheel's last step. A run (typically from the review list:
 * failed, capped, rejected, edited or disliked) becomes a golden case with its input, its redacted
 * tool tapes, the expected outcome and trajectory (an approver's edit is the expected call), and
 * provenance. A case whose input is already in the suite is refused.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { goldenCaseSchema, outcomes, type CaseApproval, type GoldenCase, type Outcome } from '../../shared/evals/goldenCase';
import { CliError, answer, type Schemas } from '../apiClient';
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

/**
 * The case for `run`. The trajectory is the run's calls as they ran (edited arguments included),
 * when the run completed; a run that failed states no trajectory, since its calls are suspect.
 */
export function caseFromRun(run: RunView, tapes: Schemas['RunTapes']['tapes'], options: { id?: string; reason?: string; outcome?: string; contains?: string }): GoldenCase {
  const completed = run.status === 'completed';
  return goldenCaseSchema.parse({
    id: options.id ?? `${run.agent}-${run.runId.slice(0, 8)}`,
    input: run.input,
    approvals: approvalsOf(run),
    expect: {
      outcome: expectedOutcome(run, options.outcome),
      ...(options.contains && { contains: [options.contains] }),
      ...(completed && { tools: tapes.map((t) => ({ name: t.tool, ...(t.args && { args: t.args }) })) }),
    },
    tapes,
    provenance: { runId: run.runId, bundleId: run.bundleId, reason: options.reason ?? reasonOf(run), addedAt: new Date().toISOString() },
  });
}

/** Appends the case for `runId` to the suite; refuses an input (or case ID) already there. */
export async function addGoldenCase(ctx: CommandContext, [runId]: string[], options: OptionValues) {
  const suite = path.resolve(ctx.cwd, stringOption(options, 'suite') ?? defaultSuite);
  const existing = existsSync(suite) && readFileSync(suite, 'utf8').trim() ? readSuite(suite) : [];
  const params = { path: { runId: runId! } };
  const run = await answer(ctx.api.GET('/v1/runs/{runId}', { params }));
  const { tapes } = await answer(ctx.api.GET('/v1/runs/{runId}/tapes', { params }));
  const c = caseFromRun(run, tapes, {
    id: stringOption(options, 'id'), reason: stringOption(options, 'reason'), outcome: stringOption(options, 'outcome'), contains: stringOption(options, 'contains'),
  });
  const hash = inputHashOf(c);
  const duplicate = existing.find((e) => inputHashOf(e) === hash);
  if (duplicate) throw new CliError(`case ${duplicate.id} in ${suite} already has this input (input hash ${hash}); nothing added`);
  if (existing.some((e) => e.id === c.id)) throw new CliError(`case ${c.id} is already in ${suite}; pass --id to name this one`);
  mkdirSync(path.dirname(suite), { recursive: true });
  const separator = existsSync(suite) && !readFileSync(suite, 'utf8').endsWith('\n') && readFileSync(suite, 'utf8').length ? '\n' : '';
  appendFileSync(suite, `${separator}${JSON.stringify(c)}\n`);
  show(ctx, c, (added) => `added case ${added.id} to ${path.relative(ctx.cwd, suite)} (reason: ${added.provenance!.reason}, ${added.tapes.length} tapes, expected outcome ${added.expect.outcome})`);
}
