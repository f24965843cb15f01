import { inTransaction, type Db, type DbClient } from '../db/pool';
import type { ToolName } from '../shared/tools';
import { toolImplementations } from './tools';
import type { ToolResult } from './tools/types';
import { appendMessage, recordStep } from '../db/transcript';
import { appendRunEvent, eventKeys } from '../db/runEvents';

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

export function createToolActivities({ db }: { db: Db }) {
  return {
    /**
     * Runs a tool and records its result in one transaction, so a retried or duplicated attempt
     * finds the recorded result instead of acting twice.
     */
    async executeTool(input: ExecuteToolInput): Promise<ToolCallStatus> {
      return inTransaction(db, async (client) => {
        const recorded = await recordedStatus(client, input);
        if (recorded) return recorded;
        const started = Date.now();
        const implementation = toolImplementations[input.tool] as (ctx: unknown, args: unknown) => Promise<ToolResult>;
        const result = await implementation(
          { tenantId: input.tenantId, runId: input.runId, idempotencyKey: `${input.runId}:${input.toolCallId}`, db: client },
          input.args,
        );
        const status = result.ok ? 'ok' : 'error';
        await record(client, input, status, result.output, { arguments: input.args, result: result.output }, Date.now() - started);
        return status;
      });
    },

    /** Tells the model a tool call did not run (bad arguments, or a human said no). */
    async recordToolError(input: RecordToolErrorInput): Promise<void> {
      await inTransaction(db, async (client) => {
        if (await recordedStatus(client, input)) return;
        await record(client, input, input.status, { error: input.message }, { ...input.detail, error: input.message }, 0);
      });
    },
  };
}

async function recordedStatus(client: DbClient, ref: ToolCallRef): Promise<ToolCallStatus | undefined> {
  const { rows } = await client.query('SELECT status FROM run_steps WHERE run_id = $1 AND step = $2 AND ordinal = $3', [
    ref.runId, ref.step, ref.ordinal,
  ]);
  return rows[0]?.status;
}

async function record(
  client: DbClient, ref: ToolCallRef, status: ToolCallStatus, output: unknown, detail: Record<string, unknown>, latencyMs: number,
): Promise<void> {
  await appendMessage(client, ref.runId, {
    step: ref.step, ordinal: ref.ordinal, role: 'tool', content: JSON.stringify(output), toolCallId: ref.toolCallId,
  });
  await recordStep(client, ref.runId, {
    step: ref.step, ordinal: ref.ordinal, kind: 'tool', name: ref.tool, status, bundleId: ref.bundleId, detail, latencyMs,
  });
  await client.query('UPDATE runs SET updated_at = now() WHERE run_id = $1', [ref.runId]);
  // The tool's output stays in the transcript; the event shows what was called and how it went.
  const { result: _output, ...shown } = detail;
  await appendRunEvent(client, ref.runId, 'tool.called', eventKeys.toolCalled(ref.step, ref.ordinal), {
    step: ref.step, ordinal: ref.ordinal, toolCallId: ref.toolCallId, tool: ref.tool, status, latencyMs, ...shown,
  });
}
