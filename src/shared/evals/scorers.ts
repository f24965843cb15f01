/**
 * The scorers of `bosun eval`: each looks at one finished run of a golden case and says whether it
 * passed its check, and why not. Deterministic and pure; the judge's verdicts, when the gate names
 * a judge, come in from outside and are ANDed with the deterministic checks.
 */
import { canonicalJson, type ExpectedCall, type GoldenCase, type Outcome } from './goldenCase';

/** What the scorers read of a run: a structural subset of `GET /v1/runs/:runId`. */
export interface ScoredRun {
  runId: string;
  status: string;
  input: string;
  output: string | null;
  error: { code: string; message: string } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  steps: { step: number; ordinal: number; kind: 'model' | 'tool'; name: string; status: string; detail: Record<string, unknown> }[];
  // `arguments?`: any JSON, so the OpenAPI document (and the CLI's generated types) cannot mark it required.
  approvals: { approvalId: string; tool: string; status: string; arguments?: unknown; editedArguments: Record<string, unknown> | null; requestedAt: string; decidedAt: string | null }[];
  usage: { costUsd: number };
}

/** A check's result: `failures` says why it did not pass, one line each. */
export interface Check {
  pass: boolean;
  failures: string[];
}

/** A judge's verdict on one rubric. */
export interface JudgeVerdict {
  pass: boolean;
  score: number;
  reason: string;
}

const check = (failures: string[]): Check => ({ pass: failures.length === 0, failures });

const toolSteps = (run: ScoredRun) => run.steps.filter((s) => s.kind === 'tool');

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The arguments of a tool step: as recorded, or for a call a human rejected (its step records only
 * the approval) the arguments the approval showed.
 */
function argumentsOf(step: ScoredRun['steps'][number], run: ScoredRun): Record<string, unknown> {
  if (isObject(step.detail.arguments)) return step.detail.arguments;
  const approval = run.approvals.find((a) => a.approvalId === step.detail.approvalId);
  const shown = approval?.editedArguments ?? approval?.arguments;
  return isObject(shown) ? shown : {};
}

const callText = (name: string, args?: Record<string, unknown>) => `${name} ${args ? canonicalJson(args) : '{}'}`;

/** The outcome a run reached: see `expectationSchema.outcome`. */
export function outcomeOf(run: ScoredRun): Outcome[] {
  if (run.status !== 'completed') return ['failed'];
  const reached: Outcome[] = ['completed'];
  if (run.approvals.length) reached.push('needs_approval');
  if (!run.approvals.some((a) => a.status === 'approved')) reached.push('refused');
  return reached;
}

/** Tool calls that no tape entry covered: each fails the case (a live call never happens). */
export function tapeMisses(run: ScoredRun): string[] {
  return toolSteps(run).filter((s) => s.detail.tape === 'missed').map((s) => `no tape covers ${callText(s.name, argumentsOf(s, run))}`);
}

/**
 * Task success: the expected outcome was reached, the answer contains every `contains` text and no
 * `not_contains` text (case-insensitive), every tool call was covered by a tape, and the judge (if
 * any) passed the task_success rubric.
 */
export function scoreTaskSuccess(run: ScoredRun, c: GoldenCase, judge?: JudgeVerdict): Check {
  const failures: string[] = [];
  const reached = outcomeOf(run);
  if (!reached.includes(c.expect.outcome)) {
    const why = run.error ? ` (${run.error.code}: ${run.error.message})` : '';
    failures.push(`expected outcome ${c.expect.outcome}, the run ended ${run.status}${why}`);
  }
  const answer = (run.output ?? '').toLowerCase();
  for (const text of c.expect.contains) if (!answer.includes(text.toLowerCase())) failures.push(`the answer does not contain "${text}"`);
  for (const text of c.expect.not_contains) if (answer.includes(text.toLowerCase())) failures.push(`the answer contains "${text}"`);
  failures.push(...tapeMisses(run));
  if (judge && !judge.pass) failures.push(`judge: ${judge.reason}`);
  return check(failures);
}

// ── grounding ──────────────────────────────────────────────────────────────────────────────────

export type ClaimKind = 'quote' | 'id' | 'number';
export interface Claim {
  kind: ClaimKind;
  text: string;
}

const quotePattern = /"([^"\n]{2,200})"|“([^”\n]{2,200})”|`([^`\n]{2,200})`/g;
/** A token with both letters and digits (ORD-1001, a UUID, A12B): an identifier. */
const idPattern = /\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9_-]{2,}\b/g;
/** 1st, 22nd, 3rd, 4th: ordinals, not identifiers (and mostly too small to be claims). */
const ordinalPattern = /^\d+(st|nd|rd|th)$/i;
const numberPattern = /\d[\d,]*(?:\.\d+)?/g;

/** `12,900` → `12900`, `3.50` → `3.5`: numbers compare by value, not by how they are written. */
const normalNumber = (text: string) => String(Number(text.replaceAll(',', '')));

/**
 * The checkable claims of an answer: quoted values ("…", “…”, `…`), identifiers (tokens mixing
 * letters and digits), and numbers of two digits or more (smaller ones are mostly counts and
 * ordinals). Numbers inside quotes or identifiers are part of those claims, not claims of their own.
 */
export function extractClaims(answer: string): Claim[] {
  const claims: Claim[] = [];
  let rest = answer.replace(quotePattern, (_, a?: string, b?: string, c?: string) => {
    claims.push({ kind: 'quote', text: (a ?? b ?? c)! });
    return ' ';
  });
  rest = rest.replace(idPattern, (id) => {
    if (ordinalPattern.test(id)) return ' ';
    claims.push({ kind: 'id', text: id });
    return ' ';
  });
  for (const match of rest.matchAll(numberPattern)) {
    const digits = match[0].replace(/[^\d]/g, '');
    if (digits.length >= 2) claims.push({ kind: 'number', text: normalNumber(match[0].replace(/,$/, '')) });
  }
  return claims;
}

/** The texts an answer may rest on: the user's input and every tool result (and tool error) of the run. */
export function sourcesOf(run: ScoredRun): string[] {
  const results = toolSteps(run).map((s) => JSON.stringify({ result: s.detail.result, error: s.detail.error }));
  return [run.input, ...results];
}

/**
 * Grounding: every claim of the answer appears in a source (quotes and IDs as case-insensitive
 * text, numbers by value), and the judge (if any) passed the grounding rubric. An answer in
 * another unit than its source ($129.00 for 12900 cents) is reported as ungrounded.
 */
export function scoreGrounding(run: ScoredRun, judge?: JudgeVerdict): Check {
  const sources = sourcesOf(run);
  const text = sources.join('\n').toLowerCase();
  const numbers = new Set(sources.flatMap((s) => [...s.matchAll(numberPattern)].map((m) => normalNumber(m[0].replace(/,$/, '')))));
  const failures = extractClaims(run.output ?? '')
    .filter((claim) => (claim.kind === 'number' ? !numbers.has(claim.text) : !text.includes(claim.text.toLowerCase())))
    .map((claim) => `the ${claim.kind} ${claim.kind === 'number' ? claim.text : `"${claim.text}"`} is in no tool result`);
  if (judge && !judge.pass) failures.push(`judge: ${judge.reason}`);
  return check(failures);
}

// ── tool calls and approvals ───────────────────────────────────────────────────────────────────

/** Every key of `expected` equals the same key of `actual` (by value, key order ignored). */
export function isArgumentSubset(expected: Record<string, unknown> | undefined, actual: Record<string, unknown>): boolean {
  return Object.entries(expected ?? {}).every(([key, value]) => key in actual && canonicalJson(actual[key]) === canonicalJson(value));
}

/**
 * Tool-call accuracy: each expected call is matched by a call with its name and argument subset
 * (after the previous match when `ordered`), and no other call was made unless `extra_calls`.
 * Passes when the case states no trajectory.
 */
export function scoreToolCalls(run: ScoredRun, c: GoldenCase): Check {
  const expected = c.expect.tools;
  if (!expected) return check([]);
  const calls = toolSteps(run).map((s) => ({ name: s.name, args: argumentsOf(s, run) }));
  const used = new Set<number>();
  const failures: string[] = [];
  let after = -1;
  for (const want of expected) {
    const found = calls.findIndex((call, i) => !used.has(i) && (!c.expect.ordered || i > after) && call.name === want.name && isArgumentSubset(want.args, call.args));
    if (found < 0) {
      failures.push(missingCall(want, calls, c.expect.ordered));
      continue;
    }
    used.add(found);
    after = found;
  }
  if (!c.expect.extra_calls) calls.forEach((call, i) => used.has(i) || failures.push(`unexpected call ${callText(call.name, call.args)}`));
  return check(failures);
}

function missingCall(want: ExpectedCall, calls: { name: string; args: Record<string, unknown> }[], ordered: boolean): string {
  const sameName = calls.filter((call) => call.name === want.name);
  if (!sameName.length) return `expected a call ${callText(want.name, want.args)}, none was made`;
  const seen = sameName.map((call) => canonicalJson(call.args)).join(', ');
  return `expected a call ${callText(want.name, want.args)}${ordered ? ' (in order)' : ''}, the agent called it with ${seen}`;
}

/** Approval accuracy: the approvals asked are, in order, those of the case's `approvals`. */
export function scoreApprovals(run: ScoredRun, c: GoldenCase): Check {
  const asked = run.approvals.map((a) => a.tool);
  const expected = c.approvals.map((a) => a.tool);
  if (asked.join('\n') === expected.join('\n')) return check([]);
  const list = (tools: string[]) => (tools.length ? tools.join(', ') : 'none');
  return check([`approvals asked: ${list(asked)}; expected: ${list(expected)}`]);
}

// ── latency and cost ───────────────────────────────────────────────────────────────────────────

const ms = (iso: string) => new Date(iso).getTime();

/**
 * What a user waits for the run, in milliseconds: from its start (or creation) to its end, minus
 * the time its approvals waited for a human. 0 for a run that has not finished.
 */
export function latencyMsOf(run: ScoredRun): number {
  if (!run.finishedAt) return 0;
  const human = run.approvals.reduce((sum, a) => sum + (a.decidedAt ? Math.max(0, ms(a.decidedAt) - ms(a.requestedAt)) : 0), 0);
  return Math.max(0, ms(run.finishedAt) - ms(run.startedAt ?? run.createdAt) - human);
}

// ── one run, all metrics ───────────────────────────────────────────────────────────────────────

export interface RunScore {
  runId: string;
  passed: boolean;
  checks: { task_success: Check; grounding: Check; tool_call_accuracy: Check; approval_accuracy: Check };
  latencyMs: number;
  costUsd: number;
}

/** Scores one run of `c`; `judge` holds the judge's verdicts per rubric, when there is a judge. */
export function scoreRun(run: ScoredRun, c: GoldenCase, judge: { task_success?: JudgeVerdict; grounding?: JudgeVerdict } = {}): RunScore {
  const checks = {
    task_success: scoreTaskSuccess(run, c, judge.task_success),
    grounding: scoreGrounding(run, judge.grounding),
    tool_call_accuracy: scoreToolCalls(run, c),
    approval_accuracy: scoreApprovals(run, c),
  };
  return {
    runId: run.runId,
    passed: Object.values(checks).every((ch) => ch.pass),
    checks,
    latencyMs: latencyMsOf(run),
    costUsd: run.usage.costUsd,
  };
}
