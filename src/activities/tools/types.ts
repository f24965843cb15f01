import type { DbClient } from '../../db/pool';
import type { ToolArgs, ToolName } from '../../shared/tools';

/** What a tool may touch: the run's tenant, and the transaction its result is recorded in. */
export interface ToolContext {
  tenantId: string;
  runId: string;
  /** Unique per tool call; a write tool uses it so its side effect happens at most once. */
  idempotencyKey: string;
  db: DbClient;
}

/** `ok: false` is a business error the model should hear about, not a failure to retry. */
export interface ToolResult {
  ok: boolean;
  output: unknown;
}

export type ToolImplementation<N extends ToolName> = (ctx: ToolContext, args: ToolArgs<N>) => Promise<ToolResult>;
export type ToolImplementations = { [N in ToolName]: ToolImplementation<N> };
