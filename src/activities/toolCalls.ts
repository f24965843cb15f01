import type { BundleCache } from '../bundles/bundleStore';
import { appendAudit } from '../db/audit';
import { inTransaction, type Db, type DbClient, type Queryable } from '../db/pool';
import { touchRun } from '../db/runs';
import { resolveSecrets, type SecretStore } from '../secrets/secretStore';
import { toolSecretNames } from '../shared/guardrails';
import { unknownBundle } from '../shared/failures';
import { maskValues, redact } from '../shared/redaction';
import { storableJson } from '../shared/storable';
import { toolDefinition, type ToolName } from '../shared/tools';
import { createToolImplementations } from './tools';
import type { HttpFetchOptions } from './tools/httpFetch';
import type { ToolImplementations, ToolResult } from './tools/types';
import { appendMessage, recordStep, stepStatusOf } from '../db/transcript';
import { appendRunEvent, eventKeys } from '../db/runEvents';
import { assertRunOpen, lockOpenRun, recordDiscardedResult, RunEndedError } from '../db/runEnd';
import { withHeartbeats } from './runEnded';

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
  tool: ToolName;
  /** Already validated against the tool's schema by the workflow. */
  args: unknown;
}

export type ToolCallStatus = 'ok' | 'error' | 'invalid_arguments' | 'rejected';

export interface RecordToolErrorInput extends ToolCallRef {
  status: Exclude<ToolCallStatus, 'ok' | 'error'>;
  message: string;
  detail?: Record<string, unknown>;
}

export interface ToolDeps {
  db: Db;
  /** The runs' bundles (http_fetch's network policy, the secrets a tool gets); without it tools see no bundle. */
  bundles?: Pick<BundleCache, 'get'>;
  /** Where declared secrets are resolved, inside the activity, just before the tool runs. */
  secrets?: SecretStore;
  /** DNS and connection injection for http_fetch (tests). */
  httpFetch?: HttpFetchOptions;
  /** Replaces tool implementations (tests). */
  implementations?: Partial<ToolImplementations>;
}

/** The PostgreSQL role tool code runs as: row-level security keeps it to the run's tenant (migration 006). */
export const TOOL_ROLE = 'bosun_tool';

export function createToolActivities({ db, bundles, secrets, httpFetch, implementations: overrides }: ToolDeps) {
  const implementations: ToolImplementations = { ...createToolImplementations({ httpFetch }), ...overrides };
  return {
    /**
     * Runs a tool and records its result in one transaction, so a retried or duplicated attempt
     * finds the recorded result instead of acting twice. The tool itself runs as TOOL_ROLE with the
     * run's tenant set, so PostgreSQL hides and protects every other tenant's rows.
     *
     * The tool heartbeats and gets an AbortSignal that fires when the run is cancelled. A tool of an
     * ended run does not start; one whose run ended while it worked has its result discarded: its
     * transaction, the tool's own writes included, rolls back, the discard is noted
     * (src/db/runEnd.ts), and RunEndedError is thrown.
     */
    async executeTool(input: ExecuteToolInput): Promise<ToolCallStatus> {
      // A retry of a recorded call neither loads the bundle nor touches a secret.
      const already = await recordedStatus(db, input);
      if (already) return already;
      await assertRunOpen(db, input.runId);
      // Before the transaction: these may need a connection of their own, or the network.
      const bundle = bundles ? await bundles.get(input.bundleId) : undefined;
      if (bundles && !bundle) throw unknownBundle(input.bundleId);
      const definition = toolDefinition(input.tool);
      const secretNames = bundle ? toolSecretNames(bundle, input.tool) : [...definition.secrets];
      const secretValues = await resolveSecrets(secrets, secretNames);
      // The arguments as the approver saw them (src/activities/runs.ts) and as they are recorded:
      // without U+0000 or lone surrogates, which the tool could not store either.
      const args = storableJson(input.args);

      let outcome: ToolCallStatus | undefined;
      return inTransaction(db, async (client) => {
        const recorded = await recordedStatus(client, input);
        if (recorded) return recorded;
        const started = Date.now();
        const implementation = implementations[input.tool] as (ctx: unknown, args: unknown) => Promise<ToolResult>;
        await enterToolScope(client, input.tenantId);
        let result: ToolResult;
        try {
          result = await withHeartbeats((signal) => implementation(
            {
              tenantId: input.tenantId, runId: input.runId, idempotencyKey: `${input.runId}:${input.toolCallId}`, db: client,
              bundle, secrets: secretValues, signal,
            },
            args.value,
          ));
        } catch (err) {
          // A failure message reaches Temporal history unencrypted: no secret may ride along.
          throw withoutSecrets(err, secretValues);
        }
        await leaveToolScope(client, input.tenantId);
        const status = result.ok ? 'ok' : 'error';
        outcome = status;
        // Holds the run open until this commits; a run that ended meanwhile rolls the tool's work back.
        await lockOpenRun(client, input.runId);
        const latencyMs = Date.now() - started;
        // A server that echoes a credential back must not hand it to the model or the rows.
        const output = maskValues(result.output, secretValues);
        const rules = definition.redact;
        const shown = { arguments: redact(args.value, rules.arguments), result: redact(output, rules.result) };
        await record(client, input, status, output, shown, latencyMs, {
          scope: definition.scope, secrets: secretNames,
        }, args.replaced);
        return status;
      }).catch(async (err) => {
        if (err instanceof RunEndedError && outcome) await discardToolResult(db, input, err, outcome);
        throw err;
      });
    },

    /** Tells the model a tool call did not run (bad arguments, or a human said no); discarded once the run has ended. */
    async recordToolError(input: RecordToolErrorInput): Promise<void> {
      await inTransaction(db, async (client) => {
        if (await recordedStatus(client, input)) return;
        await lockOpenRun(client, input.runId);
        const detail = redact({ ...input.detail, error: input.message }) as Record<string, unknown>;
        await record(client, input, input.status, { error: input.message }, detail, 0, {}, 0);
      }).catch(async (err) => {
        if (err instanceof RunEndedError) await discardToolResult(db, input, err, input.status);
        throw err;
      });
    },
  };
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
  await client.query(`SET LOCAL ROLE ${TOOL_ROLE}`);
  await client.query("SELECT set_config('bosun.tenant_id', $1, true)", [tenantId]);
}

/**
 * Back to the application's role, for recording the result (the recording tables are not granted
 * to TOOL_ROLE). A tool that changed the role or the tenant fails the call, and the transaction
 * takes everything it did with it.
 */
async function leaveToolScope(client: DbClient, tenantId: string): Promise<void> {
  const { rows } = await client.query("SELECT current_user AS role, current_setting('bosun.tenant_id', true) AS tenant");
  if (rows[0]?.role !== TOOL_ROLE || rows[0]?.tenant !== tenantId) {
    throw new Error(`the tool left its tenant scope (database role ${rows[0]?.role}); its work was rolled back`);
  }
  await client.query('RESET ROLE');
  await client.query("SELECT set_config('bosun.tenant_id', '', true)");
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
  audit: Record<string, unknown>, replacedInArguments: number,
): Promise<void> {
  const fresh = await appendMessage(client, ref.runId, {
    step: ref.step, ordinal: ref.ordinal, role: 'tool', content: JSON.stringify(output), toolCallId: ref.toolCallId,
  });
  await recordStep(client, ref.runId, {
    step: ref.step, ordinal: ref.ordinal, kind: 'tool', name: ref.tool, status, bundleId: ref.bundleId, detail, latencyMs,
    replacedCharacters: replacedInArguments,
  });
  await touchRun(client, ref.runId);
  // The tool's output stays in the transcript; the event shows what was called and how it went.
  const { result: _output, ...shown } = detail;
  await appendRunEvent(client, ref.runId, 'tool.called', eventKeys.toolCalled(ref.step, ref.ordinal), {
    step: ref.step, ordinal: ref.ordinal, toolCallId: ref.toolCallId, tool: ref.tool, status, latencyMs, ...shown,
  });
  if (fresh) {
    await appendAudit(client, {
      tenantId: ref.tenantId, actor: 'worker', action: 'tool.called', runId: ref.runId, bundleId: ref.bundleId, target: ref.tool,
      status, latencyMs, detail: { step: ref.step, ordinal: ref.ordinal, toolCallId: ref.toolCallId, ...audit, ...detail },
    });
  }
}
