import type { DbClient } from '../../db/pool';
import type { Bundle } from '../../shared/bundle';
import type { ToolArgs, ToolName } from '../../shared/tools';

/**
 * What a tool may touch: the run's tenant, and the transaction its result is recorded in. `db` runs
 * as the `bosun_tool` role with the tenant set, so PostgreSQL itself keeps it to the tenant's rows.
 */
export interface ToolContext {
  tenantId: string;
  runId: string;
  /** Unique per tool call; a write tool uses it so its side effect happens at most once. */
  idempotencyKey: string;
  db: DbClient;
  /** The run's bundle (its network policy); undefined only where no bundle store is wired (unit tests). */
  bundle: Bundle | undefined;
  /** The secrets this tool declares (see toolSecretNames), resolved just before the call. Never log or return them. */
  secrets: Readonly<Record<string, string>>;
  /**
   * Fires when the run is cancelled (or the worker shuts down): stop, and throw rather than return a
   * result. Whatever the tool wrote through `db` is rolled back anyway once the run has ended.
   */
  signal: AbortSignal;
}

/** `ok: false` is a business error the model should hear about, not a failure to retry. */
export interface ToolResult {
  ok: boolean;
  output: unknown;
}

export type ToolImplementation<N extends ToolName> = (ctx: ToolContext, args: ToolArgs<N>) => Promise<ToolResult>;
export type ToolImplementations = { [N in ToolName]: ToolImplementation<N> };
