/** `bosun runs …`: start runs, follow them, and decide their approvals. */
import type { z } from 'zod';
import type { RunSummary } from '../db/runs';
import {
  runStatuses,
  terminalStatuses,
  type ApprovalDecisionRequest,
  type CreateRunRequest,
  type listRunsQuerySchema,
  type RunStatus,
  type Usage,
} from '../shared/domain';
import type { RunError } from '../shared/runErrors';
import { CliError, route } from './apiClient';
import { show, stringOption, type Command, type CommandContext, type OptionValues } from './command';
import { clock, fields, jsonValue, oneLine, table, timestamp, usd } from './format';

/** `GET /v1/runs` query parameters as the user typed them; the API validates them with the shared schema. */
type ListRunsQuery = Record<keyof z.input<typeof listRunsQuerySchema>, string | undefined>;

interface RunListItem extends RunSummary {
  output: string | null;
  error: RunError | null;
  costUsd: number;
}

interface RunPage {
  runs: RunListItem[];
  nextCursor: string | null;
}

interface RunStep {
  step: number;
  ordinal: number;
  kind: string;
  name: string;
  status: string;
  latencyMs: number;
  inputTokens: number;
  outputTokens: number;
}

interface PendingApprovalView {
  approvalId: string;
  tool: string;
  arguments: unknown;
  expiresAt: string;
}

interface ApprovalView extends PendingApprovalView {
  status: string;
  decidedBy: string | null;
  comment: string | null;
}

/** What `GET /v1/runs/:runId` answers. */
interface RunView extends RunSummary {
  output: string | null;
  error: RunError | null;
  finishedAt: string | null;
  steps: RunStep[];
  pendingApprovals: PendingApprovalView[];
  approvals: ApprovalView[];
  usage: Usage;
}

const getRun = (ctx: CommandContext, runId: string) => ctx.api.get<RunView>(route`/v1/runs/${runId}`);

// ── runs list ──────────────────────────────────────────────────────────────────────────────────

function listQuery(options: OptionValues): ListRunsQuery {
  return {
    agent: stringOption(options, 'agent'),
    bundleId: stringOption(options, 'bundle'),
    status: stringOption(options, 'status'),
    limit: stringOption(options, 'limit'),
    cursor: undefined,
  };
}

async function fetchRuns(ctx: CommandContext, query: ListRunsQuery, all: boolean): Promise<RunPage> {
  const runs: RunListItem[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await ctx.api.get<RunPage>('/v1/runs', { ...query, cursor });
    runs.push(...page.runs);
    if (!all || !page.nextCursor) return { runs, nextCursor: page.nextCursor };
    cursor = page.nextCursor;
  }
}

const runsTable = (runs: RunListItem[]) =>
  table(
    ['RUN', 'AGENT', 'BUNDLE', 'STATUS', 'COST', 'CREATED', 'INPUT'],
    runs.map((r) => [r.runId, r.agent, r.bundleId, r.status, usd(r.costUsd), timestamp(r.createdAt), oneLine(r.input, 40)]),
  );

async function listRunsCommand(ctx: CommandContext, _args: string[], options: OptionValues) {
  const page = await fetchRuns(ctx, listQuery(options), options.all === true);
  show(ctx, page, ({ runs }) => (runs.length ? runsTable(runs) : 'no runs match'));
  if (page.nextCursor && !ctx.json) ctx.note('more runs match: pass --all to list them all, or narrow with --agent/--bundle/--status');
}

// ── runs show ──────────────────────────────────────────────────────────────────────────────────

const stepLabel = (s: RunStep) => `${s.step}.${s.ordinal}`;

const stepsTable = (steps: RunStep[]) =>
  table(
    ['STEP', 'KIND', 'NAME', 'STATUS', 'LATENCY', 'TOKENS'],
    steps.map((s) => [stepLabel(s), s.kind, s.name, s.status, `${s.latencyMs} ms`, s.kind === 'model' ? `${s.inputTokens}→${s.outputTokens}` : '']),
  );

const approvalsTable = (approvals: ApprovalView[]) =>
  table(
    ['APPROVAL', 'TOOL', 'STATUS', 'ARGUMENTS', 'DECIDED BY', 'COMMENT'],
    approvals.map((a) => [a.approvalId, a.tool, a.status, jsonValue(a.arguments, 40), a.decidedBy, a.comment]),
  );

function describeRun(run: RunView): string {
  const { usage } = run;
  const sections = [
    fields([
      ['run', run.runId],
      ['agent', run.agent],
      ['bundle', run.bundleId],
      ['status', run.status],
      ['input', oneLine(run.input, 200)],
      ['output', run.output ?? undefined],
      ['error', run.error ? errorText(run.error) : undefined],
      ['usage', `${usage.inputTokens} input + ${usage.outputTokens} output tokens, ${usd(usage.costUsd)}`],
      ['created', timestamp(run.createdAt)],
      ['finished', run.finishedAt ? timestamp(run.finishedAt) : undefined],
    ]),
  ];
  if (run.steps.length) sections.push(`steps:\n${stepsTable(run.steps)}`);
  if (run.approvals.length) sections.push(`approvals:\n${approvalsTable(run.approvals)}`);
  if (run.pendingApprovals.length) sections.push(`decide with: bosun runs approve|reject ${run.runId} [approvalId] [--comment …]`);
  return sections.join('\n\n');
}

async function showRun(ctx: CommandContext, [runId]: string[]) {
  show(ctx, await getRun(ctx, runId!), describeRun);
}

// ── runs watch ─────────────────────────────────────────────────────────────────────────────────

const pollIntervalMs = 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a watcher has already printed, so each poll prints only what is new. */
interface Seen {
  status?: RunStatus;
  steps: Map<string, string>;
  approvals: Set<string>;
}

function newEvents(run: RunView, seen: Seen): string[] {
  const lines: string[] = [];
  for (const step of run.steps) {
    if (seen.steps.get(stepLabel(step)) === step.status) continue;
    seen.steps.set(stepLabel(step), step.status);
    lines.push(`step ${stepLabel(step)}  ${step.kind} ${step.name}  ${step.status} (${step.latencyMs} ms)`);
  }
  if (run.status !== seen.status) {
    seen.status = run.status;
    lines.push(`status ${run.status}`);
  }
  for (const a of run.pendingApprovals.filter((p) => !seen.approvals.has(p.approvalId))) {
    seen.approvals.add(a.approvalId);
    lines.push(`approval ${a.approvalId} pending: ${a.tool} ${jsonValue(a.arguments, 80)}`);
  }
  return lines;
}

const errorText = (error: RunError) => `${error.code}: ${error.message}`;

const finalLine = (run: RunView) => (run.output ? `output: ${run.output}` : run.error ? `error ${errorText(run.error)}` : undefined);

async function watch(ctx: CommandContext, [runId]: string[]) {
  const seen: Seen = { steps: new Map(), approvals: new Set() };
  for (;;) {
    const run = await getRun(ctx, runId!);
    const events = newEvents(run, seen);
    if (ctx.json && events.length) ctx.print(JSON.stringify(run));
    if (!ctx.json) for (const line of events) ctx.print(`${clock()}  ${line}`);
    if (terminalStatuses.includes(run.status)) {
      const last = finalLine(run);
      if (!ctx.json && last) ctx.print(last);
      return;
    }
    await sleep(pollIntervalMs);
  }
}

// ── runs approve / reject ──────────────────────────────────────────────────────────────────────

async function onlyPendingApproval(ctx: CommandContext, runId: string): Promise<string> {
  const { pendingApprovals: pending, status } = await getRun(ctx, runId);
  if (pending.length === 1) return pending[0]!.approvalId;
  if (pending.length === 0) throw new CliError(`run ${runId} has no pending approval (it is ${status})`);
  throw new CliError(`run ${runId} has ${pending.length} pending approvals; name one:`, pending.map((a) => `${a.approvalId}  ${a.tool} ${jsonValue(a.arguments)}`));
}

function decisionCommand(decision: ApprovalDecisionRequest['decision']): Command {
  const past = decision === 'approve' ? 'approved' : 'rejected';
  return {
    words: ['runs', decision],
    args: ['<runId>', '[approvalId]'],
    summary: `${decision} a pending tool call (approvalId defaults to the run's only pending one)`,
    options: { comment: { type: 'string', value: '<text>', description: 'kept with the decision' } },
    async run(ctx, [runId, given], options) {
      const approvalId = given ?? (await onlyPendingApproval(ctx, runId!));
      const body: ApprovalDecisionRequest = { decision, comment: stringOption(options, 'comment') };
      const result = await ctx.api.post<{ approvalId: string; decidedBy: string }>(route`/v1/runs/${runId!}/approvals/${approvalId}`, body);
      show(ctx, result, (r) => `${past} ${r.approvalId} on run ${runId} (as ${r.decidedBy})`);
    },
  };
}

// ── runs start ─────────────────────────────────────────────────────────────────────────────────

async function start(ctx: CommandContext, [agent, input]: string[], options: OptionValues) {
  const body: CreateRunRequest = { agent: agent!, input: input! };
  const key = stringOption(options, 'idempotency-key');
  const run = await ctx.api.post<RunSummary>('/v1/runs', body, key === undefined ? {} : { 'idempotency-key': key });
  show(ctx, run, (r) => `started run ${r.runId} on ${r.bundleId} (${r.status})\nfollow it with: bosun runs watch ${r.runId}`);
}

export const runCommands: Command[] = [
  {
    words: ['runs', 'list'],
    args: [],
    summary: 'list runs, newest first',
    options: {
      agent: { type: 'string', value: '<agent>', description: 'only runs of this agent' },
      bundle: { type: 'string', value: '<bundleId>', description: 'only runs pinned to this bundle' },
      status: { type: 'string', value: '<status>', description: runStatuses.join(', ') },
      limit: { type: 'string', value: '<n>', description: 'runs per page, 1–200 (default 50)' },
      all: { type: 'boolean', description: 'follow every page instead of stopping after the first' },
    },
    run: listRunsCommand,
  },
  { words: ['runs', 'show'], args: ['<runId>'], summary: "show a run's status, output, usage, steps and approvals", run: showRun },
  { words: ['runs', 'watch'], args: ['<runId>'], summary: 'print status changes and new steps every second until the run ends', run: watch },
  decisionCommand('approve'),
  decisionCommand('reject'),
  {
    words: ['runs', 'start'],
    args: ['<agent>', '<input>'],
    summary: "start a run of the agent's deployed bundle on <input>",
    options: { 'idempotency-key': { type: 'string', value: '<key>', description: 'the same key returns the same run instead of a new one' } },
    run: start,
  },
];
