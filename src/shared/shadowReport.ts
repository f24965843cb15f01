/**
 * The comparison report of a shadow replay (issue 15): each replayed run (the candidate bundle, in
 * staging, on the anonymised input) against the production run it replays, scored with the eval
 * scorers (src/shared/evals/scorers.ts) as though the original were its golden case; aggregates
 * with a significance test on the success rate; the inputs where the candidate differs most first.
 * Pure. The original's input and arguments never appear: only tool names, statuses and figures.
 */
import type { GoldenCase, Outcome } from './evals/goldenCase';
import { latencyMsOf, outcomeOf, scoreRun, type Check, type ScoredRun } from './evals/scorers';
import { compareRates, mean, percentile, type RateComparison } from './evals/statistics';

/** One side of a comparison, in figures and names only. */
export interface ShadowSide {
  runId: string;
  status: string;
  outcome: Outcome[];
  tools: string[];
  approvals: string[];
  costUsd: number;
  latencyMs: number;
}

export interface ShadowItem {
  originalRunId: string;
  runId: string;
  /** The anonymised input both were given (the original's as the replay saw it). */
  input: string;
  /** The replay (or, for a mirrored run, its original) has not finished yet: not scored. */
  pending: boolean;
  /** How far apart they are: one per failed check, plus up to 0.25 each for the relative cost and latency change. */
  difference: number;
  checks: { task_success: Check; grounding: Check; tool_call_accuracy: Check; approval_accuracy: Check } | null;
  original: ShadowSide;
  candidate: ShadowSide;
}

export interface ShadowAggregates {
  runs: number;
  finished: number;
  /** Share of finished replays passing each check against their original. */
  agreement: { outcome: number; trajectory: number; approvals: number; grounding: number };
  original: { successRate: number; meanCostUsd: number; p50LatencyMs: number; p95LatencyMs: number };
  candidate: { successRate: number; meanCostUsd: number; p50LatencyMs: number; p95LatencyMs: number };
  /** Whether the candidate's success rate dropped significantly below production's (alpha 0.05). */
  successRate: RateComparison;
}

const terminal = new Set(['completed', 'failed', 'cancelled', 'step_limit', 'budget_exceeded']);

const toolNames = (run: ScoredRun) => run.steps.filter((s) => s.kind === 'tool').map((s) => s.name);

function sideOf(run: ScoredRun): ShadowSide {
  return {
    runId: run.runId, status: run.status, outcome: outcomeOf(run), tools: toolNames(run), approvals: run.approvals.map((a) => a.tool),
    costUsd: run.usage.costUsd, latencyMs: latencyMsOf(run),
  };
}

/** The one outcome a golden case expects of a run that reached `reached` (outcomeOf): refused over needs_approval, else the first. */
export function expectedOutcomeOf(reached: readonly Outcome[]): Outcome {
  return reached.includes('refused') && reached.includes('needs_approval') ? 'refused' : reached[0]!;
}

/** The original as the replay's golden case: its outcome, its trajectory (names: its arguments are not anonymised) and its approvals. */
function caseOfOriginal(original: ScoredRun, input: string): GoldenCase {
  const outcome = expectedOutcomeOf(outcomeOf(original));
  return {
    id: `shadow-${original.runId}`, input,
    approvals: original.approvals.map((a) => ({ tool: a.tool, decision: 'approve' as const })),
    expect: { outcome, contains: [], not_contains: [], tools: toolNames(original).map((name) => ({ name })), ordered: true, extra_calls: false },
    tapes: [],
  };
}

const relativeChange = (before: number, after: number) => (before === after ? 0 : Math.min(1, Math.abs(after - before) / Math.max(Math.abs(before), 1e-9)));

/** Compares one replay with its original. */
export function compareShadowPair(original: ScoredRun, candidate: ScoredRun): ShadowItem {
  const base = { originalRunId: original.runId, runId: candidate.runId, input: candidate.input, original: sideOf(original), candidate: sideOf(candidate) };
  // A mirrored original (continuous shadowing) may still be running when its replay has ended.
  if (!terminal.has(candidate.status) || !terminal.has(original.status)) return { ...base, pending: true, difference: 0, checks: null };
  const score = scoreRun(candidate, caseOfOriginal(original, candidate.input));
  const failed = Object.values(score.checks).filter((c) => !c.pass).length;
  const difference = failed + 0.25 * relativeChange(base.original.costUsd, base.candidate.costUsd)
    + 0.25 * relativeChange(base.original.latencyMs, base.candidate.latencyMs);
  return { ...base, pending: false, difference: Math.round(difference * 1000) / 1000, checks: score.checks };
}

const succeeded = (side: ShadowSide) => side.status === 'completed';

function figures(sides: ShadowSide[]) {
  const latencies = sides.map((s) => s.latencyMs);
  return {
    successRate: sides.length ? sides.filter(succeeded).length / sides.length : 0,
    meanCostUsd: mean(sides.map((s) => s.costUsd)),
    p50LatencyMs: sides.length ? percentile(latencies, 50) : 0,
    p95LatencyMs: sides.length ? percentile(latencies, 95) : 0,
  };
}

/** The report's items, most different first (unfinished last), and its aggregates over the finished ones. */
export function shadowReportOf(items: ShadowItem[]): { aggregates: ShadowAggregates; items: ShadowItem[] } {
  const finished = items.filter((i) => !i.pending);
  const share = (check: keyof NonNullable<ShadowItem['checks']>) =>
    finished.length ? finished.filter((i) => i.checks![check].pass).length / finished.length : 0;
  const originals = finished.map((i) => i.original);
  const candidates = finished.map((i) => i.candidate);
  const proportion = (sides: ShadowSide[]) => ({ successes: sides.filter(succeeded).length, trials: sides.length });
  return {
    aggregates: {
      runs: items.length,
      finished: finished.length,
      agreement: { outcome: share('task_success'), trajectory: share('tool_call_accuracy'), approvals: share('approval_accuracy'), grounding: share('grounding') },
      original: figures(originals),
      candidate: figures(candidates),
      successRate: compareRates(proportion(originals), proportion(candidates), 0.05),
    },
    items: [...items].sort((a, b) => Number(a.pending) - Number(b.pending) || b.difference - a.difference),
  };
}
