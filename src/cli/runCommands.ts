/** `bosun runs …`: start runs, follow them, and decide their approvals. */
import { createParser } from 'eventsource-parser';
import { runStatuses, terminalStatuses } from '../shared/domain';
import { environments, type Environment } from '../shared/environments';
import { CliError, UsageError, answer, route, type Schemas } from './apiClient';
import type { paths } from './generated/openapi';
import { show, stringOption, type Command, type CommandContext, type OptionValues } from './command';
import { clock, fields, jsonValue, oneLine, table, timestamp, usd } from './format';

type RunView = Schemas['RunView'];
type RunPage = Schemas['RunPage'];
type RunErrorView = NonNullable<RunView['error']>;
type ApprovalDecisionRequest = Schemas['ApprovalDecisionRequest'];
type RunsQuery = NonNullable<paths['/v1/runs']['get']['parameters']['query']>;
/** `GET /v1/runs` query parameters as the user typed them: sent as they are, the API validates them (400 listing the problems). */
type ListRunsQuery = Record<keyof RunsQuery, string | undefined>;

const getRun = (ctx: CommandContext, runId: string) => answer(ctx.api.GET('/v1/runs/{runId}', { params: { path: { runId } } }));

// ── runs list ──────────────────────────────────────────────────────────────────────────────────

function listQuery(options: OptionValues): ListRunsQuery {
  return {
    agent: stringOption(options, 'agent'),
    bundleId: stringOption(options, 'bundle'),
    status: stringOption(options, 'status'),
    environment: stringOption(options, 'environment'),
    limit: stringOption(options, 'limit'),
    cursor: undefined,
  };
}

async function fetchRuns(ctx: CommandContext, query: ListRunsQuery, all: boolean): Promise<RunPage> {
  const runs: RunPage['runs'] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await answer(ctx.api.GET('/v1/runs', { params: { query: { ...query, cursor } as RunsQuery } }));
    runs.push(...page.runs);
    if (!all || !page.nextCursor) return { runs, nextCursor: page.nextCursor };
    cursor = page.nextCursor;
  }
}

const runsTable = (runs: RunPage['runs']) =>
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

const stepLabel = (s: RunView['steps'][number]) => `${s.step}.${s.ordinal}`;

const stepsTable = (steps: RunView['steps']) =>
  table(
    ['STEP', 'KIND', 'NAME', 'STATUS', 'LATENCY', 'TOKENS'],
    steps.map((s) => [stepLabel(s), s.kind, s.name, s.status, `${s.latencyMs} ms`, s.kind === 'model' ? `${s.inputTokens}→${s.outputTokens}` : '']),
  );

const approvalsTable = (approvals: RunView['approvals']) =>
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

/** The wait before reconnecting until the server names its own (`retry:`), in ms. */
const defaultReconnectDelayMs = 1000;
/** Reconnections in a row that may fail (network errors, 5xx) before watch gives up. */
const maxReconnectFailures = 30;
/** More than this many characters of an unfinished line or event is not an event stream Bosun sends. */
const maxEventChars = 16 * 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One event of `GET /v1/runs/:runId/events`: its seq as `id`, its type as `event`, its JSON `data`. */
interface StreamedEvent {
  id: string | undefined;
  event: string;
  data: Record<string, unknown>;
}

const errorText = (error: RunErrorView) => `${error.code}: ${error.message}`;

const finalLine = (run: RunView) => (run.output ? `output: ${run.output}` : run.error ? `error ${errorText(run.error)}` : undefined);

const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value ?? null));

/**
 * Turns a run's events into the lines `runs watch` prints (with --json, each event as a line of
 * JSON): a status line when the status changes, a line per finished step, one per pending approval,
 * and the output or error at the end. `finished` once `run.finished` has been printed.
 */
function watchPrinter(ctx: CommandContext) {
  let status: string | undefined;
  let finished = false;
  const pending = new Set<string>();
  const say = (line: string) => ctx.print(`${clock()}  ${line}`);
  const showStatus = (next: string) => {
    if (next === status) return;
    status = next;
    if (!ctx.json) say(`status ${next}`);
  };

  function event({ id, event: type, data }: StreamedEvent): void {
    if (ctx.json) ctx.print(JSON.stringify({ id, event: type, data }));
    const human = !ctx.json;
    switch (type) {
      case 'run.started':
        return showStatus('running');
      case 'step.finished':
        if (human) say(`step ${text(data.step)}.0  model ${text(data.model)}  ok (${text(data.latencyMs)} ms)`);
        return;
      case 'tool.called':
        if (human) say(`step ${text(data.step)}.${text(data.ordinal)}  tool ${text(data.tool)}  ${text(data.status)} (${text(data.latencyMs)} ms)`);
        return;
      case 'approval.requested':
        showStatus('awaiting_approval');
        pending.add(text(data.approvalId));
        if (human) say(`approval ${text(data.approvalId)} pending: ${text(data.tool)} ${jsonValue(data.arguments, 80)}`);
        return;
      case 'approval.decided':
        pending.delete(text(data.approvalId));
        if (pending.size === 0 && status === 'awaiting_approval') showStatus('running');
        return;
      case 'run.finished': {
        showStatus(text(data.status));
        finished = true;
        const error = data.error as RunErrorView | null | undefined;
        if (human && typeof data.output === 'string' && data.output) ctx.print(`output: ${data.output}`);
        else if (human && error) ctx.print(`error ${text(error.code)}: ${text(error.message)}`);
        return;
      }
    }
  }

  /** The end of a run that has no `run.finished` (it ended before runs recorded events), from its view. */
  function endedWithoutEvent(run: RunView): void {
    finished = true;
    if (ctx.json) return ctx.print(JSON.stringify(run));
    showStatus(run.status);
    const last = finalLine(run);
    if (last) ctx.print(last);
  }

  return {
    event,
    endedWithoutEvent,
    status: showStatus,
    get finished() {
      return finished;
    },
  };
}

/**
 * Reads the run's event stream from after `lastEventId` (all of it when undefined) until it ends,
 * breaks off, or `until()` holds after an event. Throws CliError: without a status when the
 * connection broke (worth reconnecting), with one when the answer is not an event stream.
 */
async function readEvents(
  ctx: CommandContext, runId: string, lastEventId: string | undefined,
  on: { event(event: StreamedEvent): void; retry(ms: number): void; until(): boolean },
): Promise<void> {
  const body = await ctx.api.stream(route`/v1/runs/${runId}/events`, lastEventId === undefined ? {} : { 'last-event-id': lastEventId });
  if (!body) return;
  let malformed: string | undefined;
  const parser = createParser({
    maxBufferSize: maxEventChars,
    onEvent: (message) => {
      const data = parseEventData(message.data);
      if (data) on.event({ id: message.id, event: message.event ?? 'message', data });
      else malformed = `event ${message.id ?? '(no id)'} carries no JSON object`;
    },
    onRetry: on.retry,
    // Unknown fields and bad retry values are ignored, as an EventSource does; an endless line is not.
    onError: (err) => {
      if (err.type === 'max-buffer-size-exceeded') malformed = err.message;
    },
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) return;
      parser.feed(decoder.decode(chunk.value, { stream: true }));
      if (malformed) throw new CliError(`the event stream of run ${runId} is not what Bosun sends: ${malformed}`, [], 200);
      if (on.until()) return;
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`the event stream of run ${runId} broke off (${err instanceof Error ? err.message : String(err)})`);
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

function parseEventData(data: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(data);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Network failures and answers of a server in trouble (5xx) pass; the run is followed again after a wait. */
const worthReconnecting = (err: unknown) => err instanceof CliError && (err.status === undefined || err.status >= 500);

/**
 * Follows the run's event stream to its end, printing as events arrive. A dropped connection (or a
 * server shutting down) is resumed with Last-Event-ID, so nothing is missed or printed twice.
 */
async function watch(ctx: CommandContext, [runId]: string[]) {
  const printer = watchPrinter(ctx);
  // A queued run has no events yet; its status says why nothing happens.
  const { status } = await getRun(ctx, runId!);
  if (status === 'queued') printer.status(status);
  let lastEventId: string | undefined;
  let reconnectDelayMs = defaultReconnectDelayMs;
  let failures = 0;
  const on = {
    event(event: StreamedEvent) {
      failures = 0;
      lastEventId = event.id ?? lastEventId;
      printer.event(event);
    },
    retry: (ms: number) => (reconnectDelayMs = ms),
    until: () => printer.finished,
  };
  for (;;) {
    try {
      await readEvents(ctx, runId!, lastEventId, on);
      if (printer.finished) return;
      // The stream ended without run.finished: the server is going away, or the run predates events.
      const run = await getRun(ctx, runId!);
      if (terminalStatuses.includes(run.status)) return printer.endedWithoutEvent(run);
    } catch (err) {
      if (!worthReconnecting(err) || ++failures > maxReconnectFailures) throw err;
    }
    await sleep(reconnectDelayMs);
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
      const result = await answer(ctx.api.POST('/v1/runs/{runId}/approvals/{approvalId}', { params: { path: { runId: runId!, approvalId } }, body }));
      show(ctx, result, (r) => `${past} ${r.approvalId} on run ${runId} (as ${r.decidedBy})`);
    },
  };
}

// ── runs start ─────────────────────────────────────────────────────────────────────────────────

/** The body of `bosun runs start`: staging (the agent's staging bundle, sandboxed) when `--environment staging`; usage error for another name. */
export function startRunRequest(agent: string, input: string, options: OptionValues): Schemas['CreateRunRequest'] {
  const environment = stringOption(options, 'environment');
  if (environment !== undefined && !(environments as readonly string[]).includes(environment)) {
    throw new UsageError(`--environment must be ${environments.join(' or ')}, not "${environment}"`);
  }
  return { agent, input, ...(environment !== undefined && { environment: environment as Environment }) };
}

async function start(ctx: CommandContext, [agent, input]: string[], options: OptionValues) {
  const body = startRunRequest(agent!, input!, options);
  const key = stringOption(options, 'idempotency-key');
  const run = await answer(ctx.api.POST('/v1/runs', { body, params: { header: { 'idempotency-key': key } } }));
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
      environment: { type: 'string', value: '<environment>', description: 'only production or only staging runs' },
      limit: { type: 'string', value: '<n>', description: 'runs per page, 1–200 (default 50)' },
      all: { type: 'boolean', description: 'follow every page instead of stopping after the first' },
    },
    run: listRunsCommand,
  },
  { words: ['runs', 'show'], args: ['<runId>'], summary: "show a run's status, output, usage, steps and approvals", run: showRun },
  { words: ['runs', 'watch'], args: ['<runId>'], summary: "follow a run's event stream: status changes, finished steps and pending approvals until it ends", run: watch },
  decisionCommand('approve'),
  decisionCommand('reject'),
  {
    words: ['runs', 'start'],
    args: ['<agent>', '<input>'],
    summary: "start a run of the agent's deployed bundle on <input>",
    options: {
      'idempotency-key': { type: 'string', value: '<key>', description: 'the same key returns the same run instead of a new one' },
      environment: { type: 'string', value: '<environment>', description: "production (default) or staging: the agent's staging bundle, its tools sandboxed" },
    },
    run: start,
  },
];
