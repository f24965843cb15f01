import type { BundleCache } from '../bundles/bundleStore';
import { appendAudit } from '../db/audit';
import { afterCommit, inTransaction, type Db, type DbClient, type Queryable } from '../db/pool';
import { touchRun } from '../db/runs';
import { lockRunTapes, recordTapeUse, runToolMode } from '../db/runTapes';
import { storeWholeToolOutput } from '../db/toolOutputs';
import type { BosunTool, ToolContext, ToolLogger } from '../sdk/tools';
import { resolveSecrets, type SecretStore } from '../secrets/secretStore';
import { pinsOf, type Bundle } from '../shared/bundle';
import { toolSecretNames } from '../shared/guardrails';
import { retryableFailure, FailureType, terminalFailure, unknownBundle } from '../shared/failures';
import { maskValues, redact } from '../shared/redaction';
import { storableJson } from '../shared/storable';
import { matchTape, missedTapeMessage } from '../shared/tapes';
import { DEFAULT_MAX_RESULT_CHARS, type PinnedTool } from '../shared/toolSpec';
import type { DeclaredToolExecutor } from './tools/declared';
import { invokeTool, type ToolOutcome } from './tools/invoke';
import { appendMessage, recordStep, stepStatusOf } from '../db/transcript';
import { appendRunEvent, eventKeys } from '../db/runEvents';
import { assertRunOpen, lockOpenRun, recordDiscardedResult, RunEndedError } from '../db/runEnd';
import { claimWrite } from '../db/threads';
import { activityContext, withHeartbeats } from './runEnded';
import { runOrigin } from '../db/runs';
import { createMemoryService, memoryScope, type MemoryCall, type MemoryService } from '../memory/service';
import { resolveNamespaces, type ResolvedNamespace } from '../shared/memory';
import { memoryTenantOf } from '../shared/environments';
import { logger, maskInLogs } from '../telemetry/logger';
import { recordToolCall } from '../telemetry/metrics';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Bosun, GenAi, GenAiOperation, Otel, runAttributes, spanNames } from '../shared/genaiAttributes';
import { bosunTracer, type GenAiSpanSettings } from '../telemetry/tracing';

/** Where a tool call sits in the run: the result lands at (step, ordinal) of the transcript. */
export interface ToolCallRef {
  runId: string;
  tenantId: string;
  bundleId: string;
  step: number;
  ordinal: number;
  toolCallId: string;
  tool: string;
}

export interface ExecuteToolInput extends ToolCallRef {
  /** Already validated against the tool's pinned schema by the workflow. */
  args: unknown;
  /** A sandbox run: write and destructive tools run their sandbox implementation, or not at all. */
  sandbox?: boolean;
  /**
   * A local activity on the workflow's own worker (src/workflows/agentRun/act.ts): a worker that
   * does not host the pinned tool fails at once with a non-retryable `ToolNotHosted`, and the
   * workflow calls the tool on its own queue instead.
   */
  here?: boolean;
}

export type ToolCallStatus = 'ok' | 'error' | 'invalid_arguments' | 'rejected';

export interface RecordToolErrorInput extends ToolCallRef {
  status: Exclude<ToolCallStatus, 'ok' | 'error'>;
  message: string;
  detail?: Record<string, unknown>;
}


export interface ToolDeps {
  db: Db;
  /** The runs' bundles (the pins, the network policy, the secrets a tool gets); tests may leave it out. */
  bundles?: Pick<BundleCache, 'get'>;
  /** Where declared secrets are resolved, inside the activity, just before the tool runs. */
  secrets?: SecretStore;
  /** The code tools this worker has (`defineTool`), Bosun's own http_fetch included. */
  tools: readonly BosunTool[];
  /** Executors of the tools bundles declare, by source. */
  declared?: Partial<Record<'mcp' | 'http', DeclaredToolExecutor>>;
  /** Past this many characters a result is cut for the model; the whole of it is stored (tool_call_outputs). */
  maxResultChars?: number;
  /** Long-term memory for `memory:namespaces` tools; full-text and trigram search only (no embeddings) when absent. */
  memory?: MemoryService;
  /** Whether `execute_tool` spans carry the (redacted) arguments and result; off by default. */
  genai?: Pick<GenAiSpanSettings, 'captureMessageContent'>;
}

/** The PostgreSQL role tool code runs as: row-level security keeps it to the run's tenant (migration 006). */
export const TOOL_ROLE = 'bosun_tool';

export function createToolActivities({
  db, bundles, secrets, tools, declared = {}, maxResultChars = DEFAULT_MAX_RESULT_CHARS, memory, genai = { captureMessageContent: false },
}: ToolDeps) {
  const local = new Map(tools.map((t) => [t.manifest.name, t]));
  const memoryService = memory ?? createMemoryService(db);
  const showContent = (shown: { arguments: unknown; result: unknown }) => {
    if (genai.captureMessageContent) recordToolContent(shown);
  };
  return {
    /**
     * Runs a tool and records its result in one transaction, so a retried or duplicated attempt
     * finds the recorded result instead of acting twice. A tool with a `tenant:` scope gets that
     * transaction as TOOL_ROLE with the run's tenant set, so PostgreSQL hides and protects every
     * other tenant's rows.
     *
     * The tool heartbeats and gets an AbortSignal that fires when the run is cancelled. A tool of an
     * ended run does not start; one whose run ended while it worked has its result discarded: its
     * transaction, the tool's own writes included, rolls back, the discard is noted
     * (src/db/runEnd.ts), and RunEndedError is thrown. A worker without the pinned tool (only
     * possible for runs from before pinning, which share the run's task queue) fails the attempt,
     * retryable, so a worker that has it takes the call.
     */
    executeTool: (input: ExecuteToolInput): Promise<ToolCallStatus> => tracedTool(input, () => executeTool(input)),

    /** Tells the model a tool call did not run (bad arguments, or a human said no); discarded once the run has ended. */
    async recordToolError(input: RecordToolErrorInput): Promise<void> {
      await inTransaction(db, async (client) => {
        if (await recordedStatus(client, input)) return;
        await lockOpenRun(client, input.runId);
        const detail = redact({ ...input.detail, error: input.message }) as Record<string, unknown>;
        await record(client, input, input.status, { error: input.message }, detail, 0, {}, 0, maxResultChars);
      }).catch(async (err) => {
        if (err instanceof RunEndedError) await discardToolResult(db, input, err, input.status);
        throw err;
      });
    },
  };

  async function executeTool(input: ExecuteToolInput): Promise<ToolCallStatus> {
    // A retry of a recorded call neither loads the bundle nor touches a secret.
    const already = await recordedStatus(db, input);
    if (already) return already;
    await assertRunOpen(db, input.runId);
    // Before the transaction: these may need a connection of their own, or the network.
    const bundle = bundles ? await bundles.get(input.bundleId) : undefined;
    if (bundles && !bundle) throw unknownBundle(input.bundleId);
    // A run with tapes never runs a tool live: what was recorded answers its calls. In staging
    // (a shadow replay), only its reads: a write or destructive call runs its sandbox implementation.
    const mode = await runToolMode(db, input.runId);
    trace.getActiveSpan()?.setAttribute(Otel.deploymentEnvironmentName, mode.environment);
    if (mode.tapes) {
      const taped = pinOf(input.tool, bundle, local);
      if (mode.environment !== 'staging' || taped.kind === 'read') return answerFromTape(db, input, taped, maxResultChars, showContent);
    }
    const { pin, run } = resolveTool(input.tool, bundle, local, declared, input.here === true);
    // A turn of a thread that started a write can no longer be rolled back; one rolled back starts none (src/db/threads.ts).
    if (pin.kind !== 'read' && !(await claimWrite(db, input.runId))) throw new RunEndedError(input.runId, 'rolled back');
    const secretNames = bundle ? toolSecretNames(bundle, pin) : [...pin.secrets];
    const secretValues = await resolveSecrets(secrets, secretNames, mode.environment);
    // Defence in depth: whatever logs them by mistake from here on prints [secret].
    maskInLogs(Object.values(secretValues));
    // The arguments as the approver saw them (src/activities/runs.ts) and as they are recorded:
    // without U+0000 or lone surrogates, which the tool could not store either.
    const args = storableJson(input.args);
    const tenantScoped = pin.scope.some((s) => s.startsWith('tenant:'));
    // A staging run's tools see the agent's sandbox tenant, if it names one: its rows, never the tenant's own.
    const toolTenant = (mode.environment === 'staging' && mode.sandboxTenant) || input.tenantId;
    // Its memory tools never see production memory either (src/shared/environments.ts memoryTenantOf).
    const memoryTenant = memoryTenantOf(mode.environment, input.tenantId, mode.sandboxTenant);
    const memoryGrant = pin.scope.includes('memory:namespaces') ? await memoryGrantOf(db, input, bundle, memoryTenant) : undefined;

    let outcome: ToolCallStatus | undefined;
    return inTransaction(db, async (client) => {
      const recorded = await recordedStatus(client, input);
      if (recorded) return recorded;
      const started = Date.now();
      if (tenantScoped) await enterToolScope(client, toolTenant);
      let result: ToolOutcome;
      try {
        const memoryOfCall = memoryGrant && memoryScope(client, memoryService, memoryGrant.call, memoryGrant.resolved);
        // Whatever the workflow passed, a staging run is a sandbox run.
        const call = mode.environment === 'staging' ? { ...input, tenantId: toolTenant, sandbox: true } : input;
        result = await withHeartbeats((signal) => run(args.value, toolContext(call, client, tenantScoped, secretValues, signal, bundle, memoryOfCall)));
      } catch (err) {
        // A failure message reaches Temporal history unencrypted: no secret may ride along.
        throw withoutSecrets(err, secretValues);
      }
      if (tenantScoped) await leaveToolScope(client, toolTenant);
      const status = result.ok ? 'ok' : 'error';
      outcome = status;
      // Holds the run open until this commits; a run that ended meanwhile rolls the tool's work back.
      await lockOpenRun(client, input.runId);
      const latencyMs = Date.now() - started;
      // A server that echoes a credential back must not hand it to the model or the rows.
      const output = maskValues(result.output, secretValues);
      const rules = pin.redact ?? {};
      const shown = { arguments: redact(args.value, rules.arguments), result: redact(output, rules.result) };
      showContent(shown);
      await record(client, input, status, output, shown, latencyMs, {
        scope: pin.scope, secrets: secretNames, toolVersion: pin.version, schemaHash: pin.schemaHash, ...(input.sandbox && { sandbox: true }),
        ...(mode.environment === 'staging' && { environment: 'staging' }), ...(toolTenant !== input.tenantId && { sandboxTenant: toolTenant }),
        ...(memoryGrant && memoryTenant !== input.tenantId && { memoryTenant }),
      }, args.replaced, maxResultChars);
      return status;
    }).catch(async (err) => {
      if (err instanceof RunEndedError && outcome) await discardToolResult(db, input, err, outcome);
      throw err;
    });
  }
}

/**
 * Runs a tool call inside its `execute_tool {tool}` span (GenAI conventions, src/shared/genaiAttributes.ts),
 * a child of the executeTool activity's span. A tool that answered with an error sets error.type
 * `tool_error`; a failure sets its name (RunEnded, a retryable failure, ...) and is rethrown.
 */
function tracedTool(input: ExecuteToolInput, execute: () => Promise<ToolCallStatus>): Promise<ToolCallStatus> {
  const attributes = {
    [GenAi.operationName]: GenAiOperation.executeTool,
    [GenAi.toolName]: input.tool,
    [GenAi.toolCallId]: input.toolCallId,
    [GenAi.toolType]: 'function',
    [Bosun.step]: input.step,
    ...runAttributes(input),
  };
  return bosunTracer().startActiveSpan(spanNames.executeTool(input.tool), { kind: SpanKind.INTERNAL, attributes }, async (span) => {
    try {
      const status = await execute();
      span.setAttribute(Bosun.toolStatus, status);
      if (status === 'error') span.setStatus({ code: SpanStatusCode.ERROR }).setAttribute(Otel.errorType, 'tool_error');
      return status;
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR }).setAttribute(Otel.errorType, err instanceof Error ? (('type' in err && typeof err.type === 'string' && err.type) || err.name) : 'unknown');
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The call's arguments and result as the audit log shows them (the pin's redaction applied) on the active execute_tool span. */
function recordToolContent(shown: { arguments: unknown; result: unknown }): void {
  trace.getActiveSpan()?.setAttributes({
    [GenAi.toolCallArguments]: JSON.stringify(shown.arguments) ?? 'null',
    [GenAi.toolCallResult]: JSON.stringify(shown.result) ?? 'null',
  });
}

type ToolRunner = (args: unknown, ctx: ToolContext) => Promise<ToolOutcome>;

/**
 * Answers a call of a run with tapes (src/shared/tapes.ts): the first entry no other call of the run
 * has used that covers this call (tool, and the entry's `args` as a subset of the call's) is its
 * result, `tape: 'hit'`; without one the call is a tool error the model is told of, `tape:
 * 'missed'`, and the run goes on. The run's tapes are locked while the entry is taken, and the
 * entry's use is recorded in the transaction that records the result, so an entry answers one
 * call only and a retried call keeps the entry it had. Calls the workflow runs in parallel (reads
 * of one step) take entries in the order they get here: entries with distinguishing `args` match
 * the same calls whatever that order.
 */
async function answerFromTape(
  db: Db, input: ExecuteToolInput, pin: PinnedTool, maxResultChars: number, showContent: (shown: { arguments: unknown; result: unknown }) => void,
): Promise<ToolCallStatus> {
  const args = storableJson(input.args);
  const rules = pin.redact ?? {};
  const shownArgs = redact(args.value, rules.arguments);
  let status: ToolCallStatus | undefined;
  return inTransaction(db, async (client) => {
    const tapes = await lockRunTapes(client, input.runId);
    if (!tapes) throw new Error(`run ${input.runId} has no tapes`);
    // Checked under the lock: a concurrent attempt of this call that got there first has recorded it.
    const recorded = await recordedStatus(client, input);
    if (recorded) return recorded;
    const index = matchTape(tapes.entries, tapes.used, { tool: input.tool, args: args.value });
    const entry = index === undefined ? undefined : tapes.entries[index]!;
    status = entry ? (entry.status ?? 'ok') : 'error';
    const output = entry ? entry.result : { error: missedTapeMessage({ tool: input.tool, args: shownArgs }) };
    const tape = entry ? 'hit' : 'missed';
    await lockOpenRun(client, input.runId);
    if (index !== undefined) await recordTapeUse(client, input.runId, input, index);
    const detail = { arguments: shownArgs, result: redact(output, rules.result), tape };
    showContent(detail);
    await record(client, input, status, output, detail, 0, {
      scope: pin.scope, toolVersion: pin.version, schemaHash: pin.schemaHash, sandbox: true,
    }, args.replaced, maxResultChars);
    return status;
  }).catch(async (err) => {
    if (err instanceof RunEndedError && status) await discardToolResult(db, input, err, status);
    throw err;
  });
}

/** The pin of the called tool: the bundle's, or a worker tool's own manifest where no bundle is wired. */
function pinOf(name: string, bundle: Bundle | undefined, local: ReadonlyMap<string, BosunTool>): PinnedTool {
  const pin = bundle ? pinsOf(bundle).find((p) => p.name === name) : local.get(name)?.manifest;
  if (!pin) throw retryableFailure(FailureType.ToolUnavailable, `tool ${name} is not pinned in bundle ${bundle?.id}`);
  return pin;
}

/**
 * The pin of the called tool (the bundle's; a worker tool's own manifest where no bundle is wired)
 * and how to run it: this worker's code for a worker tool with the same version and schema, the
 * executor of its source for an MCP or HTTP tool.
 */
function resolveTool(
  name: string, bundle: Bundle | undefined, local: ReadonlyMap<string, BosunTool>, declared: ToolDeps['declared'] & object, here: boolean,
): { pin: PinnedTool; run: ToolRunner } {
  const pin = pinOf(name, bundle, local);
  // A local call (`here`) goes to the tool's own queue instead; any other, retried, to a worker that has it.
  const missing = (message: string) => (here ? terminalFailure(FailureType.ToolNotHosted, message) : retryableFailure(FailureType.ToolUnavailable, message));
  if (pin.source.type !== 'worker') {
    const executor = declared[pin.source.type];
    if (!executor || !bundle) throw missing(`this worker cannot run ${pin.source.type} tools`);
    return { pin, run: (args, ctx) => executor(pin, args, ctx, bundle) };
  }
  const tool = local.get(name);
  // Pins from before pinning carry no real hash: the name and version are all they ever fixed.
  const same = tool && tool.manifest.version === pin.version && (pin.schemaHash === 'legacy' || tool.manifest.schemaHash === pin.schemaHash);
  if (!same) throw missing(`this worker does not have ${name} v${pin.version} (schema ${pin.schemaHash}); another worker will take the call`);
  return { pin, run: (args, ctx) => invokeTool(tool, args, ctx) };
}

/**
 * What a `memory:namespaces` tool's call may use: the bundle's namespaces resolved with the run's
 * metadata, in the memory of `memoryTenant` (memoryTenantOf), and the call's provenance; undefined
 * when the bundle names no memory (the tool says so).
 */
async function memoryGrantOf(
  db: Db, input: ExecuteToolInput, bundle: Bundle | undefined, memoryTenant: string,
): Promise<{ call: MemoryCall; resolved: { namespaces: ResolvedNamespace[]; unresolved: string[] } } | undefined> {
  if (!bundle?.memory) return undefined;
  const origin = await runOrigin(db, input.runId);
  if (!origin) throw new Error(`run ${input.runId} has no row`);
  const { runId, step, toolCallId, bundleId } = input;
  return {
    call: { tenantId: memoryTenant, runId, step, toolCallId, bundleId, agent: origin.agent, startedBy: origin.createdBy },
    resolved: resolveNamespaces(bundle.memory, origin.metadata),
  };
}

function toolContext(
  input: ExecuteToolInput, client: DbClient, tenantScoped: boolean, secrets: Record<string, string>, signal: AbortSignal, bundle: Bundle | undefined,
  memory: ToolContext['memory'],
): ToolContext {
  return {
    tenantId: input.tenantId,
    runId: input.runId,
    toolCallId: input.toolCallId,
    idempotencyKey: `${input.runId}:${input.toolCallId}`,
    secrets,
    get db(): DbClient {
      if (!tenantScoped) throw new Error(`${input.tool} has no tenant: scope, so it has no database handle; declare scope: ['tenant:<table>']`);
      return client;
    },
    signal,
    // Bosun heartbeats for the tool already (withHeartbeats); a tool's own beats add progress details.
    heartbeat: (details?: unknown) => activityContext()?.heartbeat(details),
    log: maskedLogger(secrets, { runId: input.runId, tool: input.tool, toolCallId: input.toolCallId }),
    sandbox: input.sandbox === true,
    network: bundle?.network,
    memory,
  };
}

/** The activity's logger (the process's outside an activity), with the call's secret values masked out of messages and attributes. */
function maskedLogger(secrets: Record<string, string>, base: Record<string, unknown>): ToolLogger {
  const line = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, attributes: Record<string, unknown> = {}) => {
    const text = maskValues(message, secrets) as string;
    const meta = { ...base, ...(maskValues(attributes, secrets) as Record<string, unknown>) };
    const activityLog = activityContext()?.log;
    if (activityLog) activityLog[level](text, meta);
    else logger[level](meta, text);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

/** What the model sees of a result longer than `max` characters: its beginning, and a note saying it was cut. */
function cutForModel(whole: string, max: number): string {
  return JSON.stringify({
    note: `this result is ${whole.length} characters long; only the first ${max} are shown. The whole result is stored with the run.`,
    partial_result: whole.slice(0, max),
  });
}

/** Notes a tool call's outcome that came after its run had ended, and was not recorded. */
function discardToolResult(db: Db, ref: ToolCallRef, ended: RunEndedError, status: ToolCallStatus): Promise<void> {
  return recordDiscardedResult(db, {
    runId: ref.runId, step: ref.step, ordinal: ref.ordinal, kind: 'tool', name: ref.tool, runStatus: ended.status,
    detail: { toolCallId: ref.toolCallId, status },
  });
}

/** From here until leaveToolScope, the transaction runs as TOOL_ROLE, seeing only `tenantId`'s rows. */
async function enterToolScope(client: DbClient, tenantId: string): Promise<void> {
  // set_config('role', …, true) is SET LOCAL ROLE (the same membership check), in one round trip with the tenant.
  await client.query("SELECT set_config('role', $1, true), set_config('bosun.tenant_id', $2, true)", [TOOL_ROLE, tenantId]);
}

/**
 * Back to the application's role, for recording the result (the recording tables are not granted
 * to TOOL_ROLE). A tool that changed the role or the tenant fails the call, and the transaction
 * takes everything it did with it.
 */
async function leaveToolScope(client: DbClient, tenantId: string): Promise<void> {
  // One round trip: the scope as the tool left it is read first (the materialised CTE), then reset
  // (RESET ROLE and the tenant cleared); a scope that changed throws below, rolling all of it back.
  const { rows } = await client.query(
    `WITH left_as AS MATERIALIZED (SELECT current_user AS role, current_setting('bosun.tenant_id', true) AS tenant)
     SELECT role, tenant, set_config('role', 'none', true), set_config('bosun.tenant_id', '', true) FROM left_as`,
  );
  if (rows[0]?.role !== TOOL_ROLE || rows[0]?.tenant !== tenantId) {
    throw new Error(`the tool left its tenant scope (database role ${rows[0]?.role}); its work was rolled back`);
  }
}

function withoutSecrets(err: unknown, secrets: Record<string, string>): unknown {
  if (!(err instanceof Error) || Object.keys(secrets).length === 0) return err;
  const message = maskValues(err.message, secrets) as string;
  const stack = maskValues(err.stack ?? '', secrets) as string;
  if (message === err.message && stack === err.stack) return err;
  const clean = new Error(message);
  clean.name = err.name;
  clean.stack = stack;
  return clean;
}

async function recordedStatus(db: Queryable, ref: ToolCallRef): Promise<ToolCallStatus | undefined> {
  return (await stepStatusOf(db, ref.runId, ref.step, ref.ordinal)) as ToolCallStatus | undefined;
}

/**
 * The result in the transcript (what the model sees), the step row and run event (redacted), and
 * one audit entry: only the attempt that wrote the transcript row audits, so a retried or raced
 * call is audited exactly once. The transcript keeps the result as JSON text, so U+0000 and lone
 * surrogates in it survive as escapes; the copies in jsonb columns have them replaced, and the step
 * row counts those and `replacedInArguments` (src/shared/storable.ts).
 */
async function record(
  client: DbClient, ref: ToolCallRef, status: ToolCallStatus, output: unknown, detail: Record<string, unknown>, latencyMs: number,
  audit: Record<string, unknown>, replacedInArguments: number, maxResultChars: number,
): Promise<void> {
  const whole = JSON.stringify(output);
  const content = whole.length > maxResultChars ? cutForModel(whole, maxResultChars) : whole;
  const fresh = await appendMessage(client, ref.runId, {
    step: ref.step, ordinal: ref.ordinal, role: 'tool', content, toolCallId: ref.toolCallId,
  });
  if (fresh && content !== whole) await storeWholeToolOutput(client, ref.runId, ref.step, ref.ordinal, whole);
  await recordStep(client, ref.runId, {
    step: ref.step, ordinal: ref.ordinal, kind: 'tool', name: ref.tool, status, bundleId: ref.bundleId, detail, latencyMs,
    replacedCharacters: replacedInArguments,
  });
  const run = await touchRun(client, ref.runId);
  // The tool's output stays in the transcript; the event shows what was called and how it went.
  const { result: _output, ...shown } = detail;
  await appendRunEvent(client, ref.runId, 'tool.called', eventKeys.toolCalled(ref.step, ref.ordinal), {
    step: ref.step, ordinal: ref.ordinal, toolCallId: ref.toolCallId, tool: ref.tool, status, latencyMs, ...shown,
  });
  if (fresh) {
    afterCommit(client, () => recordToolCall({ bundleId: ref.bundleId, environment: run?.environment, tool: ref.tool, status, latencyMs }));
    await appendAudit(client, {
      tenantId: ref.tenantId, actor: 'worker', action: 'tool.called', runId: ref.runId, bundleId: ref.bundleId, target: ref.tool,
      status, latencyMs, detail: { step: ref.step, ordinal: ref.ordinal, toolCallId: ref.toolCallId, ...audit, ...detail },
    });
  }
}
