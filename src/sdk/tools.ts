/**
 * Bosun's tool SDK (`bosun/tools`): how a user writes a tool their agents may call.
 *
 *     export const findTicket = defineTool({
 *       name: 'find_ticket', version: 1, kind: 'read',
 *       description: 'Find a support ticket by its number.',
 *       args: z.object({ ticket: z.string() }),
 *       scope: ['tenant:tickets'],
 *       async handler({ ticket }, ctx) { ... return row; },
 *     });
 *
 * A tool is data plus a handler: the data (name, version, kind, the JSON Schema of `args` from zod
 * 4's own conversion, secrets, scope, ...) is registered by the workers that have the tool and
 * pinned into every bundle that grants it; the handler runs inside Bosun's tool activity
 * (src/activities/toolCalls.ts), which validates, audits, redacts and records around it.
 */
import { z } from 'zod';

/** The zod Bosun uses: define a tool's `args` with it, so its JSON Schema comes out as Bosun pins it. */
export { z };
import type { DbClient } from '../db/pool';
import { schemaHashOf } from '../bundles/bundleId';
import type { NetworkPolicy } from '../shared/guardrails';
import type { RedactionRules } from '../shared/redaction';
import type { MemoryScope } from '../shared/memory';
import { namedScopes, type DataScope, type PinnedTool, type ToolKind, type ToolRetry } from '../shared/toolSpec';
import { parseDuration } from '../shared/duration';
import { schemaProblems } from '../shared/toolArguments';

export type { DataScope, ToolKind, ToolRetry } from '../shared/toolSpec';

/** Log lines of a tool, with the values of its secrets masked before they are written. */
export interface ToolLogger {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

/** What a tool's handler gets beside its (already validated) arguments. */
export interface ToolContext {
  tenantId: string;
  runId: string;
  /** The model's ID for this call. */
  toolCallId: string;
  /** `<runId>:<toolCallId>`: the same on every retry of this call, so a write can happen at most once. */
  idempotencyKey: string;
  /** The secrets the tool declared, resolved just before the call. Never log or return them. */
  secrets: Readonly<Record<string, string>>;
  /**
   * The run's tenant's rows of the tables named in `scope` (`tenant:<table>`): a transaction as the
   * `bosun_tool` PostgreSQL role, which row-level security keeps to the tenant. It commits with the
   * call's recorded result, or not at all. Using it without a `tenant:` scope throws.
   */
  db: DbClient;
  /** Fires when the run is cancelled or the worker shuts down: stop, and throw rather than return. */
  signal: AbortSignal;
  /** Tells Temporal the tool is alive (Bosun also heartbeats for it); `details` are recorded. */
  heartbeat(details?: unknown): void;
  log: ToolLogger;
  /** True in a sandbox run (staging, evals): only then does a tool's `sandbox` implementation run. */
  sandbox: boolean;
  /** The bundle's network policy: the hosts the run may reach (`network:allow-list` tools). */
  network: NetworkPolicy | undefined;
  /**
   * The bundle's long-term memory namespaces, resolved for this run, and search and save within them
   * (`memory:namespaces` tools; undefined for others, and when the bundle names no namespace).
   */
  memory: MemoryScope | undefined;
}

export type ToolHandler<A, R> = (args: A, ctx: ToolContext) => Promise<R>;

/** `defineTool`'s options. Durations are milliseconds or strings such as `30s`, `2m`. */
export interface ToolOptions<S extends z.ZodType, R> {
  /** What the model calls it: letters, digits, `_` and `-`, at most 64 (OpenAI's rule for function names). */
  name: string;
  /** Bump it whenever `args` (or what the tool does) changes; bundles pin the version and schema. */
  version: number;
  /** What the model is told the tool does. */
  description: string;
  /** `read` tools never wait for a human; `write` and `destructive` ones do unless `approval` or the bundle says otherwise. */
  kind: ToolKind;
  args: S;
  /** The result's schema: checked on every call, and shown in the registry. */
  result?: z.ZodType<R>;
  /** Secret names (upper case) the handler gets in `ctx.secrets`; a bundle granting the tool must list each. */
  secrets?: readonly string[];
  scope?: readonly DataScope[];
  /** What the audit log, step rows and run events keep of the arguments and result; the model sees the result whole. */
  redact?: { arguments?: RedactionRules; result?: RedactionRules };
  /** Whether calls wait for a human by default (a bundle may override): true for write and destructive tools. */
  approval?: boolean;
  /** Per attempt; 30 s by default. */
  timeout?: number | string;
  /** Temporal's retry options for the call (default: 10 attempts, backoff from 1 s to 30 s). */
  retry?: ToolRetry;
  /**
   * For sandbox runs: `'live'` when the handler is safe to run as is, or an implementation without
   * real consequences. Without one, a sandbox run's call of a write or destructive tool is refused.
   */
  sandbox?: 'live' | ToolHandler<z.infer<S>, R>;
  handler: ToolHandler<z.infer<S>, R>;
}

/** A defined tool: what is registered and pinned (`manifest`), and the code that runs. */
export interface BosunTool<A = any, R = any> {
  readonly manifest: PinnedTool;
  readonly args: z.ZodType<A>;
  readonly result?: z.ZodType<R>;
  readonly handler: ToolHandler<A, R>;
  readonly sandboxHandler?: ToolHandler<A, R>;
}

/**
 * Thrown by a handler to tell the model something went wrong in a way it can act on ("order not
 * found"): the call is recorded as an error with `message`, the run goes on, nothing is retried.
 * Any other error is retried per the tool's retry policy.
 */
export class ToolError extends Error {
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'ToolError';
  }
}

const toolName = /^[a-zA-Z0-9_-]{1,64}$/;
const secretName = /^[A-Z][A-Z0-9_]{0,99}$/;

/**
 * Defines a tool. Throws (at import time, so a worker with a bad tool does not start) when the
 * name, version, secrets, scope or timeout are malformed, or `args` is not an object schema.
 */
export function defineTool<S extends z.ZodType, R>(options: ToolOptions<S, R>): BosunTool<z.infer<S>, R> {
  const problems = optionProblems(options);
  if (problems.length) throw new Error(`defineTool(${JSON.stringify(options.name)}): ${problems.join('; ')}`);
  const parameters = z.toJSONSchema(options.args, { io: 'input' }) as Record<string, unknown>;
  const result = options.result ? (z.toJSONSchema(options.result) as Record<string, unknown>) : undefined;
  const { name, version, description, kind } = options;
  const manifest: PinnedTool = {
    name,
    version,
    description,
    kind,
    parameters,
    ...(result && { result }),
    schemaHash: schemaHashOf({ description, kind, parameters, result }),
    source: { type: 'worker' },
    secrets: [...(options.secrets ?? [])],
    scope: [...(options.scope ?? [])],
    ...(options.redact && { redact: options.redact }),
    approvalByDefault: options.approval ?? kind !== 'read',
    ...(options.timeout !== undefined && { timeoutMs: durationMs(options.timeout) }),
    ...(options.retry && { retry: options.retry }),
    sandbox: options.sandbox === 'live' ? 'live' : options.sandbox ? 'implemented' : kind === 'read' ? 'live' : 'none',
  };
  return {
    manifest,
    args: options.args as z.ZodType<z.infer<S>>,
    ...(options.result && { result: options.result }),
    handler: options.handler,
    ...(typeof options.sandbox === 'function' && { sandboxHandler: options.sandbox }),
  };
}

function optionProblems(options: ToolOptions<z.ZodType, unknown>): string[] {
  const problems: string[] = [];
  if (!toolName.test(options.name ?? '')) problems.push('name: letters, digits, _ and -, 1 to 64 of them');
  if (!Number.isInteger(options.version) || options.version < 1) problems.push('version: a positive integer');
  if (!options.description?.trim()) problems.push('description: tell the model what the tool does');
  if (!['read', 'write', 'destructive'].includes(options.kind)) problems.push("kind: 'read', 'write' or 'destructive'");
  for (const s of options.secrets ?? []) if (!secretName.test(s)) problems.push(`secrets: "${s}" is not an upper-case secret name`);
  for (const s of options.scope ?? []) {
    if (!/^tenant:[a-z_][a-z0-9_]{0,62}$/.test(s) && !namedScopes.includes(s)) {
      problems.push(`scope: "${s}" is neither tenant:<table> nor one of ${namedScopes.join(', ')}`);
    }
  }
  if (options.timeout !== undefined && durationMs(options.timeout) === undefined) problems.push('timeout: milliseconds, or a duration such as 30s');
  if (typeof options.handler !== 'function') problems.push('handler: the function that does the work');
  if (!problems.length) {
    const schema = z.toJSONSchema(options.args, { io: 'input' }) as Record<string, unknown>;
    if (schema.type !== 'object') problems.push('args: a z.object(...) schema (models call tools with an object of arguments)');
    problems.push(...schemaProblems(schema).map((p) => `args: ${p}`));
  }
  return problems;
}

function durationMs(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : undefined;
  return parseDuration(value);
}
