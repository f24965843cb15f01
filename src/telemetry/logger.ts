/**
 * The process's structured log: one JSON object a line on stdout (pino), with `runId`, `tenantId`
 * and `bundleId` where the line is about a run, header and key fields redacted by path, and every
 * configured secret value masked out of the finished line, whatever field it hid in. The Temporal
 * SDK's own logger (its Runtime, workflow and activity loggers) writes through it too
 * (`temporalLogger`). `npm start` shows these lines readably (src/dev/stack.ts, pino-pretty).
 */
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import pino from 'pino';
import type { Config } from '../config';
import { alwaysRedactedKeys } from '../shared/redaction';

export type Logger = pino.Logger;

/** Values shorter than this are not masked: they would mask ordinary words and numbers. */
const MIN_MASKED_LENGTH = 6;

/** Secret values masked in every line, longest first (so a secret that contains another is masked whole). */
let masked: string[] = [];

/**
 * Masks `values` (secrets) in every log line from now on: `[secret]` instead. For values known
 * only at run time (a tool's secrets resolved from Vault), on top of the configured ones.
 */
export function maskInLogs(values: Iterable<string>): void {
  const added = [...values].filter((v) => v.length >= MIN_MASKED_LENGTH && !masked.includes(v));
  if (added.length === 0) return;
  masked = [...masked, ...added].sort((a, b) => b.length - a.length);
}

/** The line with every masked value replaced, in its raw and its JSON-escaped spelling. */
export function maskLine(line: string): string {
  let out = line;
  for (const value of masked) {
    for (const form of new Set([value, JSON.stringify(value).slice(1, -1)])) {
      if (out.includes(form)) out = out.split(form).join('[secret]');
    }
  }
  return out;
}

/**
 * Field paths pino removes the value of (fast-redact): request headers of the access log and the
 * keys src/shared/redaction.ts never lets through, at the top level and one level down.
 */
const redactPaths = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  ...alwaysRedactedKeys.flatMap((key) => [`["${key}"]`, `*["${key}"]`]),
];

/**
 * Writes through `process.stdout.write` (not straight to the file descriptor), so a test that
 * captures this process's output sees every line.
 */
const maskingStdout = { write: (line: string) => process.stdout.write(maskLine(line)) };

/**
 * The process's root logger: `info` until configureLogger sets BOSUN_LOG_LEVEL. Errors logged as
 * `err` keep their message and stack. Children (`logger.child({ runId })`) carry their fields.
 */
export const logger: Logger = pino(
  {
    level: 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactPaths, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  },
  maskingStdout,
);

/**
 * Sets the root logger's level from BOSUN_LOG_LEVEL, names the process (`name` on every line), and
 * masks every secret value the configuration holds from here on.
 */
export function configureLogger(config: Config, name: string): Logger {
  logger.level = pinoLevelOf(config.logLevel);
  logger.setBindings({ name });
  maskInLogs(configuredSecrets(config));
  return logger;
}

/**
 * Logs a process's start-up milestone (listening, polling) at `info` whatever BOSUN_LOG_LEVEL
 * says: people and tools (src/dev/services.ts) wait for these lines.
 */
export function announce(message: string, fields: Record<string, unknown> = {}): void {
  logger.child({}, { level: 'info' }).info(fields, message);
}

/** BOSUN_LOG_LEVEL (TRACE…ERROR) as pino's level. */
export function pinoLevelOf(level: Config['logLevel']): pino.Level {
  return level.toLowerCase() as pino.Level;
}

/**
 * Every secret the configuration holds: API keys, the model provider's key, BOSUN_SECRET_* values,
 * the Vault token, encryption keys (their base64), the metrics token and the database password.
 */
export function configuredSecrets(config: Config): string[] {
  const secrets = [...config.api.keys.map((k) => k.key), config.model.apiKey];
  if (config.metrics.token) secrets.push(config.metrics.token);
  if (config.secrets.backend === 'env') secrets.push(...Object.values(config.secrets.values));
  if (config.secrets.backend === 'vault') secrets.push(config.secrets.token);
  for (const key of config.encryption?.keys.values() ?? []) secrets.push(key.toString('base64'));
  const password = safeUrl(config.databaseUrl)?.password;
  if (password) secrets.push(decodeURIComponent(password));
  return secrets.filter((s) => s !== 'not-needed');
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** The workflow type of Bosun's agent runs: their workflow ID is the run's ID. */
const AGENT_RUN_WORKFLOW = 'agentRun';

/**
 * The Temporal SDK's logger (Runtime.install's `logger`: SDK, forwarded core, workflow and activity
 * lines) writing into `target`. Temporal's own `runId` (a workflow execution's) is renamed
 * `temporalRunId`; an agent run's workflow ID becomes `runId`, Bosun's run ID. `skip` drops lines
 * nobody needs (the notice that a tool queue's worker has no workflows).
 */
export function temporalLogger(target: Logger, skip: (message: string, meta: LogMetadata | undefined) => boolean = () => false): TemporalLogger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    if (skip(message, meta)) return;
    target[pinoLevelOf(level)](fieldsOf(meta), message);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/**
 * Workflow lines name their execution `runId`, activity lines `workflowRunId` (their `runId`, if
 * any, is Bosun's, from runLogAttributes).
 */
function fieldsOf(meta: LogMetadata | undefined): Record<string, unknown> {
  if (!meta) return {};
  const { workflowRunId, ...rest } = meta as Record<string, unknown>;
  const fields: Record<string, unknown> = { ...rest };
  if (workflowRunId !== undefined) fields.temporalRunId = workflowRunId;
  else if (rest.runId !== undefined) {
    fields.temporalRunId = rest.runId;
    delete fields.runId;
  }
  if (rest.workflowType === AGENT_RUN_WORKFLOW && typeof rest.workflowId === 'string' && fields.runId === undefined) fields.runId = rest.workflowId;
  // Errors keep their message and stack under pino's `err` serializer.
  if (rest.error instanceof Error) {
    fields.err = rest.error;
    delete fields.error;
  }
  return fields;
}

/**
 * Activity interceptors adding the run's `runId`, `tenantId` and `bundleId` (from the activity's
 * input, where it has them) to every line the activity logs.
 */
export function runLogAttributes(): ActivityInterceptorsFactory {
  return () => {
    let attributes: Record<string, string> = {};
    return {
      inbound: {
        execute: (input, next) => {
          attributes = runFieldsOf(input.args[0]);
          return next(input);
        },
      },
      outbound: { getLogAttributes: (input, next) => next({ ...input, ...attributes }) },
    };
  };
}

/** `runId`, `tenantId` and `bundleId` of an activity's input, those that are strings. */
export function runFieldsOf(input: unknown): Record<string, string> {
  if (!input || typeof input !== 'object') return {};
  const fields: Record<string, string> = {};
  for (const key of ['runId', 'tenantId', 'bundleId'] as const) {
    const value = (input as Record<string, unknown>)[key];
    if (typeof value === 'string' && value) fields[key] = value;
  }
  return fields;
}
