import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { z } from 'zod';
import { parseDuration } from './shared/duration';
import { parseHostPattern } from './shared/hostPatterns';
import { builtInModelPrices, modelPriceSchema, type ModelPrices } from './shared/pricing';
import { roles, type Role } from './shared/roles';

function durationSchema(defaultValue: string) {
  return z
    .string()
    .default(defaultValue)
    .refine((value) => parseDuration(value) !== undefined, 'must be a duration such as 24h, 15m or 30s');
}

/**
 * Every environment variable Bosun reads, in one schema. Processes call `loadConfig` once at start-up
 * and pass the result down; nothing else reads `process.env`.
 */
export const configSchema = z.object({
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/bosun'),
  /**
   * The Temporal connection is read by @temporalio/envconfig from these and the other `TEMPORAL_*`
   * variables (TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE,
   * TEMPORAL_GRPC_META_*), over a TOML profile when one is found; 127.0.0.1:7233 and `default` when none says.
   */
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).optional(),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('bosun-agents'),
  BOSUN_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Largest request body the API reads, in bytes; larger ones answer 413. The default leaves room for a 1 MiB run input. */
  BOSUN_MAX_REQUEST_BYTES: z.coerce.number().int().min(1024).max(1024 ** 3).default(2 * 1024 * 1024),
  /** How long an Idempotency-Key of `POST /v1/runs` stays bound to its run, e.g. `24h`; after that it starts a new run. */
  BOSUN_IDEMPOTENCY_KEY_TTL: durationSchema('24h'),
  /** The longest the API waits for Temporal in one call before answering 503, e.g. `5s`. */
  BOSUN_TEMPORAL_CALL_TIMEOUT: durationSchema('5s'),
  /**
   * Requests per minute each API key may send, counted in PostgreSQL across every API replica; more
   * answer 429 with Retry-After. 0 (the default) turns the limit off. A key's own limit: docs/deploy.md.
   */
  BOSUN_API_RATE_LIMIT: z.coerce.number().int().min(0).default(0),
  /**
   * The longest `POST /v1/chat/completions` waits for its run to answer or to wait for approval, e.g.
   * `5m`; after that it answers with the run's link and the run goes on (docs/openai-compatible.md).
   */
  BOSUN_CHAT_COMPLETION_WAIT: durationSchema('5m'),
  /**
   * How long a new run's workflow waits for the API to record its row before it ends as failed with
   * `run_not_recorded` (the API stopped between starting the workflow and recording the run).
   */
  BOSUN_RUN_RECORD_GRACE: durationSchema('30s'),
  /** `key:tenant[:role+role],...` (roles: runner, approver, admin; all three when absent); seeded hashed. */
  BOSUN_API_KEYS: z.string().default(''),
  BOSUN_AGENTS_DIR: z.string().min(1).default('agents'),
  /** How long an approval waits before it counts as rejected, e.g. `24h`, `15m`, `30s`. */
  BOSUN_APPROVAL_TIMEOUT: durationSchema('24h'),
  /**
   * Worker Versioning: with a build ID the worker joins deployment BOSUN_DEPLOYMENT_NAME as that
   * version, and runs stay pinned to the version they started on. Unversioned when absent.
   */
  BOSUN_BUILD_ID: z.string().regex(/^[\w.-]{1,100}$/).optional(),
  BOSUN_DEPLOYMENT_NAME: z.string().regex(/^[\w.-]{1,100}$/).default('bosun'),
  /** Make this worker's build the deployment's current version once it polls (new runs go to it). */
  BOSUN_PROMOTE_BUILD: z.enum(['true', 'false']).default('true'),
  /**
   * Runs whose workflow state a worker keeps in memory; the rest replay from history when they wake.
   * At least 1: a run's model calls are local activities, which live with the run in the cache (the
   * SDK drops or retries those of runs it evicts).
   */
  BOSUN_MAX_CACHED_WORKFLOWS: z.coerce.number().int()
    .min(1, "must be at least 1: a run's model calls are local activities, which need the run in the workflow cache (docs/deployment.md)")
    .max(100_000).default(100),
  /**
   * Activities (model calls, tool calls) one worker runs at once; more wait on the task queue for any
   * worker with a free slot. The SDK's default, 100. Size with docs/deploy.md.
   */
  BOSUN_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).default(100),
  /**
   * A workflow bundle built ahead of time (`npm run build` makes dist/src/worker/workflow-bundle.js,
   * which the compiled worker finds by itself). Used only if built from this worker's exact workflow
   * code (its `.inputs.json` record); otherwise the worker refuses to start. Unset: the prebuilt one
   * beside the worker if any, else a bundle made at start-up.
   */
  BOSUN_WORKFLOW_BUNDLE: z.string().min(1).optional(),
  /** Runs of one tenant that may be `running` at once (a `tenant_limits` row overrides it); more wait as `queued`. */
  BOSUN_MAX_RUNNING_PER_TENANT: z.coerce.number().int().min(1).default(20),
  /** Runs of all tenants together that may be `running` at once. */
  BOSUN_MAX_RUNNING_GLOBAL: z.coerce.number().int().min(1).default(200),
  /**
   * A queued run is woken when a slot frees; should that wake-up be lost (a worker crashed), the run
   * at the front of its line polls once after this long, e.g. `60s` (runs further back, up to ten times that).
   */
  BOSUN_ADMISSION_SAFETY_POLL: durationSchema('60s'),
  /** Verbosity of the JSON log lines of the API and the worker (the Temporal SDK's lines in the worker included). */
  BOSUN_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  /**
   * The worker serves Prometheus metrics at `/metrics` on this port (0: any free port, logged),
   * Bosun's and the Temporal SDK's together; none when unset. The API serves its own on BOSUN_API_PORT.
   */
  BOSUN_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** When set, `/metrics` (API and worker) answers only `Authorization: Bearer <this token>`; open otherwise. */
  BOSUN_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.string().url().optional(),
  /** USD per million tokens, by model id: `{"gpt-4o-mini":{"input":0.15,"cachedInput":0.075,"output":0.6}}`. */
  BOSUN_MODEL_PRICES: z.string().optional(),
  /**
   * Per-provider ceilings on model calls, held across all workers in PostgreSQL, by provider
   * (`default` for OPENAI_BASE_URL, or a bundle's model.baseUrl):
   * `{"default":{"requestsPerMinute":600,"tokensPerMinute":2000000}}`. No limits when absent.
   */
  BOSUN_PROVIDER_LIMITS: z.string().optional(),
  /**
   * Encryption of Temporal payloads: `id1:<base64 of 32 bytes>,id2:<base64>`. Every configured key
   * decrypts; new payloads use BOSUN_ENCRYPTION_KEY_ID (default: the last listed). Off when empty.
   */
  BOSUN_ENCRYPTION_KEYS: z.string().optional(),
  BOSUN_ENCRYPTION_KEY_ID: z.string().optional(),
  /** The Temporal Web UI as a browser reaches it: the approvals inbox (/ui) links each run there. */
  BOSUN_TEMPORAL_UI_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8233'),
  /** Browser origins (the Temporal Web UI) allowed to call the codec server at /codec, comma-separated. */
  BOSUN_CODEC_CORS_ORIGIN: z.string().default('http://127.0.0.1:8233,http://localhost:8233'),
  /**
   * Where tools' secrets come from: `env` (BOSUN_SECRET_<NAME> variables of the worker), `file`
   * (BOSUN_SECRETS_FILE: a JSON object or NAME=value lines) or `vault` (a KV v2 store).
   */
  BOSUN_SECRETS_BACKEND: z.enum(['env', 'file', 'vault']).default('env'),
  BOSUN_SECRETS_FILE: z.string().min(1).optional(),
  BOSUN_VAULT_ADDR: z.string().url().optional(),
  BOSUN_VAULT_TOKEN: z.string().min(1).optional(),
  /** The KV v2 mount; a secret NAME is read from `<mount>/data/<BOSUN_VAULT_PREFIX><NAME>`. */
  BOSUN_VAULT_MOUNT: z.string().regex(/^[\w.-]+(?:\/[\w.-]+)*$/).default('secret'),
  BOSUN_VAULT_PREFIX: z.string().regex(/^(?:[\w.-]+\/)*$/, 'path segments each ending in /, e.g. bosun/').default('bosun/'),
  /**
   * Tool modules the stock worker loads, comma-separated: paths (relative to the working directory)
   * or package names, each exporting its tools (`export default [tool, ...]` or `export const tools`).
   */
  BOSUN_TOOL_MODULES: z.string().default(''),
  /**
   * Programs a bundle may start as stdio MCP servers, comma-separated, compared exactly with a
   * server's `command` (name wrapper scripts rather than interpreters such as `node`: their `args`
   * would run anything). None when empty: bundles may then use streamable HTTP servers only.
   */
  BOSUN_MCP_STDIO_COMMANDS: z.string().default(''),
  /** Past this many characters a tool's result is cut for the model (the whole result is stored). */
  BOSUN_TOOL_RESULT_MAX_CHARS: z.coerce.number().int().min(1000).max(10_000_000).default(64_000),
  /** A YAML file of alert rules (`rules: [{ id, agent, signal, ... }]`, docs/observability.md); the worker syncs it at start. */
  BOSUN_ALERT_RULES: z.string().min(1).optional(),
  /** How often the alert schedule evaluates every rule, e.g. `1m`; `off`: no schedule (the worker deletes it). */
  BOSUN_ALERT_INTERVAL: z.string().default('1m')
    .refine((value) => value === 'off' || parseDuration(value) !== undefined, 'must be a duration such as 1m or 30s, or off'),
  /** Where alert transitions go when their rule names no webhook (JSON with a Slack-compatible `text`). */
  BOSUN_ALERT_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  /**
   * Hosts alert webhooks may reach (host patterns as in a bundle's network.allowHosts, comma-separated),
   * beside BOSUN_ALERT_WEBHOOK_URL's own host; a rule naming another host is refused.
   */
  BOSUN_ALERT_WEBHOOK_HOSTS: z.string().default(''),
  /** Let alert webhooks reach loopback and private addresses (a receiver inside the cluster). */
  BOSUN_ALERT_WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false'),
  /** Tenants whose admins see every tenant's alerts and rules (operators), comma-separated. */
  BOSUN_ALERT_OPERATOR_TENANTS: z.string().default(''),
  /** Share of completed runs the online judge grades for the grounding signal, 0 to 1 (only agents a grounding rule watches). */
  BOSUN_ALERT_GROUNDING_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(0.1),
  /** How often the Temporal schedule deletes expired memory records (the worker creates it at start). */
  BOSUN_MEMORY_PURGE_INTERVAL: durationSchema('1h'),
  /**
   * The embeddings model memory search uses where pgvector is installed (e.g. text-embedding-3-small);
   * full-text and trigram search only when unset. Served by BOSUN_EMBEDDINGS_BASE_URL (OPENAI_BASE_URL by default).
   */
  BOSUN_EMBEDDINGS_MODEL: z.string().min(1).max(200).optional(),
  BOSUN_EMBEDDINGS_BASE_URL: z.string().url().optional(),
  // Traces (docs/observability.md): the standard OpenTelemetry variables. Off unless an OTLP endpoint
  // or OTEL_TRACES_EXPORTER=otlp is set; `none` (or OTEL_SDK_DISABLED=true) turns them off whatever else says.
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).default('false'),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.string().url().optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json', 'grpc']).optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.enum(['http/protobuf', 'http/json', 'grpc']).optional(),
  /** `key=value,key2=value2` (values URL-encoded), e.g. an Authorization header; never logged. */
  OTEL_EXPORTER_OTLP_HEADERS: z.string().optional(),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: z.string().optional(),
  /** Milliseconds an export may take. */
  OTEL_EXPORTER_OTLP_TIMEOUT: z.coerce.number().int().min(1).optional(),
  OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: z.coerce.number().int().min(1).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** `key=value,...` added to every span's resource. */
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional(),
  /** Comma-separated; `gen_ai_latest_experimental` emits only the latest GenAI names (src/shared/genaiAttributes.ts). */
  OTEL_SEMCONV_STABILITY_OPT_IN: z.string().default(''),
  /** `true` puts prompts, replies, tool arguments and results on spans, after Bosun's redaction. */
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: z.enum(['true', 'false']).default('false'),
});

export type Env = z.infer<typeof configSchema>;

const modelPricesSchema = z.record(z.string(), modelPriceSchema);
export type { ModelPrices };

export interface ApiKeySeed {
  key: string;
  tenantId: string;
  roles: Role[];
}

/**
 * How many runs may be `running` at once, per tenant and in total; runs over a limit wait as
 * `queued`. Only the worker uses it (the admitRun activity).
 */
export interface RunLimits {
  maxRunningPerTenant: number;
  maxRunningGlobal: number;
}

/** How the API treats requests: body size, idempotency keys, how long it waits for Temporal, and rate limits. */
export interface ApiSettings {
  maxRequestBytes: number;
  idempotencyKeyTtlMs: number;
  temporalCallTimeoutMs: number;
  /** Requests per minute per API key; 0: no limit. */
  rateLimitPerMinute: number;
  /** How long `POST /v1/chat/completions` waits for its run before answering with its link. */
  chatCompletionWaitMs: number;
}

/**
 * Where Temporal is and how to reach it (from @temporalio/envconfig): `connection` is what
 * `NativeConnection.connect` and the client's `Connection.connect` take (address, TLS, API key, gRPC metadata).
 */
export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  connection: NativeConnectionOptions & { address: string };
}

/** Where spans go: an OTLP/HTTP endpoint (the full URL of its traces path) and how to talk to it. */
export interface TraceExport {
  url: string;
  protocol: 'http/protobuf' | 'http/json';
  /** Sent with every export (e.g. an API key of the tracing backend): never logged. */
  headers: Record<string, string>;
  timeoutMs: number | undefined;
  serviceName: string | undefined;
  resourceAttributes: Record<string, string>;
}

/** Traces: where they go (undefined: tracing is off) and what GenAI spans carry. */
export interface TracingConfig {
  export: TraceExport | undefined;
  /** OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: messages and tool arguments on spans, redacted. */
  captureMessageContent: boolean;
  /** OTEL_SEMCONV_STABILITY_OPT_IN has `gen_ai_latest_experimental`: only the latest GenAI attribute names. */
  genaiLatestOnly: boolean;
}

export interface Config {
  databaseUrl: string;
  temporal: TemporalConfig;
  tracing: TracingConfig;
  workerVersion: { deploymentName: string; buildId: string; promote: boolean } | undefined;
  api: ApiSettings & { port: number; keys: ApiKeySeed[] };
  agentsDir: string;
  approvalTimeoutMs: number;
  logLevel: Env['BOSUN_LOG_LEVEL'];
  /** Prometheus metrics: the worker's port (undefined: not served) and the bearer token of both processes' `/metrics`. */
  metrics: { port: number | undefined; token: string | undefined };
  /** Concurrency limits of runs (the worker's admission). */
  limits: RunLimits;
  /** How long (ms) a queued run at the front of its line waits for its wake-up before it polls once anyway (the worker). */
  admissionSafetyPollMs: number;
  /** How long a new run's workflow waits for its row before ending as `run_not_recorded`, in ms (the worker). */
  runRecordGraceMs: number;
  maxCachedWorkflows: number;
  maxConcurrentActivities: number;
  /** BOSUN_WORKFLOW_BUNDLE: a prebuilt workflow bundle's path (the worker). */
  workflowBundle: string | undefined;
  model: { apiKey: string; baseUrl: string | undefined; prices: ModelPrices };
  /** Requests and tokens per minute by provider (`default` or a base URL without trailing slash). */
  providerLimits: ProviderLimits;
  /** Payload encryption keys; undefined means Temporal payloads are stored unencrypted. */
  encryption: EncryptionConfig | undefined;
  /** The codec server the Temporal Web UI calls from the browser. */
  codecServer: { corsOrigins: string[] };
  /** The Temporal Web UI's base URL (no trailing slash), which the inbox at /ui links runs to. */
  temporalUiUrl: string;
  /** Where tools' secrets come from (only the worker uses it). */
  secrets: SecretsConfig;
  /** The worker's tools beyond the built-in ones: modules to load, and how much of a result the model sees. */
  tools: { modules: string[]; maxResultChars: number; mcpStdioCommands: string[] };
  alerts: AlertSettings;
  /** Long-term memory: the purge schedule's interval (ms), and embeddings when a model is configured. */
  memory: { purgeIntervalMs: number; embeddings: { model: string; baseUrl: string | undefined; apiKey: string } | undefined };
}

/** Where alert webhooks may go: the guard's allow-list (host patterns) and whether private addresses are allowed. */
export interface AlertWebhookSettings {
  defaultUrl: string | undefined;
  allowHosts: string[];
  allowPrivate: boolean;
}

/** Alerts on drift and cost (docs/observability.md, "Alerts"). */
export interface AlertSettings {
  /** BOSUN_ALERT_RULES: the rules file's path (the worker reads it). */
  rulesFile: string | undefined;
  /** How often the schedule evaluates the rules, in ms; undefined: no schedule. */
  intervalMs: number | undefined;
  webhook: AlertWebhookSettings;
  /** Tenants whose admins see every tenant's alerts. */
  operatorTenants: string[];
  /** Share of completed runs the online judge grades, 0..1. */
  groundingSampleRate: number;
}

/** Where tools' secrets come from (src/secrets/secretStore.ts reads them). */
export type SecretsConfig =
  | { backend: 'env'; prefix: string; values: Readonly<Record<string, string>> }
  | { backend: 'file'; path: string }
  | { backend: 'vault'; addr: string; token: string; mount: string; pathPrefix: string };

/** The environment variables the `env` backend reads: `BOSUN_SECRET_<NAME>`. */
export const SECRET_ENV_PREFIX = 'BOSUN_SECRET_';

export interface EncryptionConfig {
  currentKeyId: string;
  /** Key id → 32 bytes of AES-256 key material. */
  keys: Map<string, Buffer>;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  // `FOO=` (as docker-compose writes `${FOO:-}`) means unset, not an empty value.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = configSchema.safeParse(given);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    temporal: temporalConfigOf(given, e.TEMPORAL_TASK_QUEUE),
    tracing: tracingConfigOf(e),
    workerVersion: e.BOSUN_BUILD_ID
      ? { deploymentName: e.BOSUN_DEPLOYMENT_NAME, buildId: e.BOSUN_BUILD_ID, promote: e.BOSUN_PROMOTE_BUILD === 'true' }
      : undefined,
    api: { port: e.BOSUN_API_PORT, keys: parseApiKeys(e.BOSUN_API_KEYS), ...apiSettingsOf(e) },
    agentsDir: e.BOSUN_AGENTS_DIR,
    approvalTimeoutMs: parseDuration(e.BOSUN_APPROVAL_TIMEOUT)!,
    logLevel: e.BOSUN_LOG_LEVEL,
    metrics: { port: e.BOSUN_METRICS_PORT, token: e.BOSUN_METRICS_TOKEN },
    limits: runLimitsOf(e),
    admissionSafetyPollMs: parseDuration(e.BOSUN_ADMISSION_SAFETY_POLL)!,
    runRecordGraceMs: parseDuration(e.BOSUN_RUN_RECORD_GRACE)!,
    maxCachedWorkflows: e.BOSUN_MAX_CACHED_WORKFLOWS,
    maxConcurrentActivities: e.BOSUN_MAX_CONCURRENT_ACTIVITIES,
    workflowBundle: e.BOSUN_WORKFLOW_BUNDLE,
    // The OpenAI SDK insists on a key; the scripted model server ignores it.
    model: { apiKey: e.OPENAI_API_KEY ?? 'not-needed', baseUrl: e.OPENAI_BASE_URL, prices: parsePrices(e.BOSUN_MODEL_PRICES) },
    providerLimits: parseProviderLimits(e.BOSUN_PROVIDER_LIMITS),
    encryption: parseEncryptionKeys(e.BOSUN_ENCRYPTION_KEYS, e.BOSUN_ENCRYPTION_KEY_ID),
    codecServer: { corsOrigins: parseOrigins(e.BOSUN_CODEC_CORS_ORIGIN) },
    temporalUiUrl: e.BOSUN_TEMPORAL_UI_URL.replace(/\/+$/, ''),
    secrets: parseSecrets(e, given),
    tools: {
      modules: splitList(e.BOSUN_TOOL_MODULES), maxResultChars: e.BOSUN_TOOL_RESULT_MAX_CHARS, mcpStdioCommands: splitList(e.BOSUN_MCP_STDIO_COMMANDS),
    },
    alerts: alertSettingsOf(e),
    memory: {
      purgeIntervalMs: parseDuration(e.BOSUN_MEMORY_PURGE_INTERVAL)!,
      embeddings: e.BOSUN_EMBEDDINGS_MODEL
        ? { model: e.BOSUN_EMBEDDINGS_MODEL, baseUrl: e.BOSUN_EMBEDDINGS_BASE_URL ?? e.OPENAI_BASE_URL, apiKey: e.OPENAI_API_KEY ?? 'not-needed' }
        : undefined,
    },
  };
}

function alertSettingsOf(e: Env): AlertSettings {
  const defaultUrl = e.BOSUN_ALERT_WEBHOOK_URL;
  const hosts = splitList(e.BOSUN_ALERT_WEBHOOK_HOSTS);
  const problems = hosts.flatMap((host) => {
    try {
      parseHostPattern(host);
      return [];
    } catch {
      return [`BOSUN_ALERT_WEBHOOK_HOSTS: "${host}" is not a host pattern such as hooks.slack.com or *.example.com:8443`];
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    rulesFile: e.BOSUN_ALERT_RULES,
    intervalMs: e.BOSUN_ALERT_INTERVAL === 'off' ? undefined : parseDuration(e.BOSUN_ALERT_INTERVAL)!,
    webhook: {
      defaultUrl,
      // The default webhook's own host (and port) is always allowed.
      allowHosts: [...hosts, ...(defaultUrl ? [new URL(defaultUrl).host] : [])],
      allowPrivate: e.BOSUN_ALERT_WEBHOOK_ALLOW_PRIVATE === 'true',
    },
    operatorTenants: splitList(e.BOSUN_ALERT_OPERATOR_TENANTS),
    groundingSampleRate: e.BOSUN_ALERT_GROUNDING_SAMPLE_RATE,
  };
}

/** The alert settings when none are configured (apps and workers built without a configuration, tests). */
export const defaultAlertSettings = (): AlertSettings => alertSettingsOf(defaults);
/**
 * The Temporal connection as @temporalio/envconfig reads it from `env`: the TOML profile
 * (TEMPORAL_PROFILE, default `default`) of TEMPORAL_CONFIG_FILE or the `temporal` CLI's default file,
 * overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_GRPC_META_*.
 * An API key turns TLS on. Throws ConfigError for a missing profile, an unreadable file or bad TLS settings.
 */
export function temporalConfigOf(env: Record<string, string | undefined>, taskQueue: string): TemporalConfig {
  const defined = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: defined });
  } catch (err) {
    throw new ConfigError([`Temporal connection (TEMPORAL_* variables, TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE): ${(err as Error).message}`]);
  }
  const address = loaded.connectionOptions.address ?? '127.0.0.1:7233';
  const { apiKey, tls, metadata } = loaded.connectionOptions;
  // Only what is set: the SDK treats a present-but-undefined option differently from an absent one.
  const connection = { address, ...(apiKey !== undefined && { apiKey }), ...(tls !== undefined && { tls }), ...(metadata !== undefined && { metadata }) };
  return { address, namespace: loaded.namespace ?? 'default', taskQueue, connection };
}

function tracingConfigOf(e: Env): TracingConfig {
  const optIn = splitList(e.OTEL_SEMCONV_STABILITY_OPT_IN);
  return {
    export: traceExportOf(e),
    captureMessageContent: e.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT === 'true',
    genaiLatestOnly: optIn.includes('gen_ai_latest_experimental'),
  };
}

/** The OTLP exporter's settings, by the OpenTelemetry specification's rules for these variables; undefined when tracing is off. */
function traceExportOf(e: Env): TraceExport | undefined {
  const endpointGiven = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? e.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (e.OTEL_SDK_DISABLED === 'true' || e.OTEL_TRACES_EXPORTER === 'none') return undefined;
  if (!endpointGiven && e.OTEL_TRACES_EXPORTER !== 'otlp') return undefined;
  const protocol = e.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? e.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  if (protocol === 'grpc') {
    throw new ConfigError(['OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported; use http/protobuf or http/json (collectors take both on port 4318)']);
  }
  // A signal-specific endpoint is the whole URL; the generic one gets the signal's path appended.
  const url = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    ?? `${(e.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318').replace(/\/+$/, '')}/v1/traces`;
  return {
    url,
    protocol,
    headers: { ...parseKeyValues('OTEL_EXPORTER_OTLP_HEADERS', e.OTEL_EXPORTER_OTLP_HEADERS), ...parseKeyValues('OTEL_EXPORTER_OTLP_TRACES_HEADERS', e.OTEL_EXPORTER_OTLP_TRACES_HEADERS) },
    timeoutMs: e.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? e.OTEL_EXPORTER_OTLP_TIMEOUT,
    serviceName: e.OTEL_SERVICE_NAME,
    resourceAttributes: parseKeyValues('OTEL_RESOURCE_ATTRIBUTES', e.OTEL_RESOURCE_ATTRIBUTES),
  };
}

/** `key=value,key2=value2` with URL-encoded values (the W3C Baggage form the OTel variables use). Problems name the entry's position, never a value. */
function parseKeyValues(variable: string, raw: string | undefined): Record<string, string> {
  const entries = splitList(raw ?? '');
  const pairs = entries.map((entry, index) => {
    const eq = entry.indexOf('=');
    const key = eq > 0 ? entry.slice(0, eq).trim() : '';
    if (!key) throw new ConfigError([`${variable}: entry ${index + 1} must look like key=value`]);
    try {
      return [key, decodeURIComponent(entry.slice(eq + 1).trim())] as const;
    } catch {
      throw new ConfigError([`${variable}: entry ${index + 1} ("${key}") has a value that is not URL-encoded correctly`]);
    }
  });
  return Object.fromEntries(pairs);
}

function splitList(text: string): string[] {
  return text.split(',').map((item) => item.trim()).filter(Boolean);
}

function apiSettingsOf(e: Env): ApiSettings {
  return {
    maxRequestBytes: e.BOSUN_MAX_REQUEST_BYTES,
    idempotencyKeyTtlMs: parseDuration(e.BOSUN_IDEMPOTENCY_KEY_TTL)!,
    temporalCallTimeoutMs: parseDuration(e.BOSUN_TEMPORAL_CALL_TIMEOUT)!,
    rateLimitPerMinute: e.BOSUN_API_RATE_LIMIT,
    chatCompletionWaitMs: parseDuration(e.BOSUN_CHAT_COMPLETION_WAIT)!,
  };
}

/** The configuration without any variable set: its defaults. */
const defaults = configSchema.parse({});

/** The API's settings when none are configured, for apps built without a configuration (tests). */
export const defaultApiSettings: ApiSettings = apiSettingsOf(defaults);

/** The run limits when none are configured, for workers that do not pass limits (tests). */
export const defaultRunLimits: RunLimits = runLimitsOf(defaults);

/** How long (ms) a queued run waits for its wake-up before it polls once, when BOSUN_ADMISSION_SAFETY_POLL is unset. */
export const defaultAdmissionSafetyPollMs: number = parseDuration(defaults.BOSUN_ADMISSION_SAFETY_POLL)!;

/** How long (ms) a new run waits for the API to record its row when BOSUN_RUN_RECORD_GRACE is unset. */
export const defaultRunRecordGraceMs: number = parseDuration(defaults.BOSUN_RUN_RECORD_GRACE)!;

function runLimitsOf(e: Env): RunLimits {
  return { maxRunningPerTenant: e.BOSUN_MAX_RUNNING_PER_TENANT, maxRunningGlobal: e.BOSUN_MAX_RUNNING_GLOBAL };
}

/** Problems name variables, never a token or a secret's value. */
function parseSecrets(e: Env, given: Record<string, string | undefined>): SecretsConfig {
  switch (e.BOSUN_SECRETS_BACKEND) {
    case 'env': {
      const values = Object.fromEntries(
        Object.entries(given).filter((entry): entry is [string, string] => entry[0].startsWith(SECRET_ENV_PREFIX) && entry[1] !== undefined),
      );
      return { backend: 'env', prefix: SECRET_ENV_PREFIX, values };
    }
    case 'file':
      if (!e.BOSUN_SECRETS_FILE) throw new ConfigError(['BOSUN_SECRETS_FILE: required when BOSUN_SECRETS_BACKEND=file']);
      return { backend: 'file', path: e.BOSUN_SECRETS_FILE };
    case 'vault': {
      const problems = [
        ...(e.BOSUN_VAULT_ADDR ? [] : ['BOSUN_VAULT_ADDR: required when BOSUN_SECRETS_BACKEND=vault']),
        ...(e.BOSUN_VAULT_TOKEN ? [] : ['BOSUN_VAULT_TOKEN: required when BOSUN_SECRETS_BACKEND=vault']),
      ];
      if (problems.length > 0) throw new ConfigError(problems);
      return { backend: 'vault', addr: e.BOSUN_VAULT_ADDR!, token: e.BOSUN_VAULT_TOKEN!, mount: e.BOSUN_VAULT_MOUNT, pathPrefix: e.BOSUN_VAULT_PREFIX };
    }
  }
}

const keyIdPattern = /^[A-Za-z0-9_.-]{1,64}$/;
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Every problem is listed, and no message quotes key material: only entry positions, and ids once
 * they are known to be well-formed ids.
 */
function parseEncryptionKeys(raw: string | undefined, currentId: string | undefined): EncryptionConfig | undefined {
  const problems: string[] = [];
  const keys = new Map<string, Buffer>();
  const entries = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  entries.forEach((entry, index) => {
    const where = `BOSUN_ENCRYPTION_KEYS: entry ${index + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) {
      problems.push(`${where} must look like id:<base64 of 32 bytes>`);
      return;
    }
    const id = entry.slice(0, colon).trim();
    const material = entry.slice(colon + 1).trim();
    if (!keyIdPattern.test(id)) {
      problems.push(`${where}: the key id must be 1-64 letters, digits, "_", "." or "-"`);
      return;
    }
    if (keys.has(id)) {
      problems.push(`${where}: key id "${id}" is listed more than once`);
      return;
    }
    if (!base64Pattern.test(material)) {
      problems.push(`${where}: key "${id}" is not valid base64 (make one with: openssl rand -base64 32)`);
      return;
    }
    const bytes = Buffer.from(material, 'base64');
    if (bytes.length !== 32) {
      problems.push(`${where}: key "${id}" must be 32 bytes, not ${bytes.length} (make one with: openssl rand -base64 32)`);
      return;
    }
    keys.set(id, bytes);
  });
  // An id that is not a configured one is never echoed: it might be key material pasted in the wrong place.
  if (currentId !== undefined && entries.length === 0) {
    problems.push('BOSUN_ENCRYPTION_KEY_ID: set, but BOSUN_ENCRYPTION_KEYS lists no keys');
  } else if (currentId !== undefined && problems.length === 0 && !keys.has(currentId)) {
    problems.push(`BOSUN_ENCRYPTION_KEY_ID: names none of the keys in BOSUN_ENCRYPTION_KEYS (their ids: ${[...keys.keys()].join(', ')})`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (keys.size === 0) return undefined;
  return { currentKeyId: currentId ?? [...keys.keys()].at(-1)!, keys };
}

function parseOrigins(raw: string): string[] {
  const problems: string[] = [];
  const origins = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin.replace(/\/$/, '')) {
      problems.push(`BOSUN_CODEC_CORS_ORIGIN: "${origin}" is not an origin such as http://127.0.0.1:8233 (scheme, host and port only)`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return origins.map((o) => o.replace(/\/$/, ''));
}

function parseApiKeys(raw: string): ApiKeySeed[] {
  const entries = raw.split(',').map((s) => s.trim()).filter(Boolean);
  return entries.map((entry) => {
    const [key, tenantId, roleList, ...rest] = entry.split(':');
    const given = roleList === undefined ? [...roles] : roleList.split('+');
    const valid = given.every((r): r is Role => (roles as readonly string[]).includes(r));
    if (!key || !tenantId || rest.length > 0 || !valid || given.length === 0) {
      // Only a prefix of the key: the rest of it is a secret.
      throw new ConfigError([`BOSUN_API_KEYS: entry "${entry.slice(0, 4)}…" must look like key:tenant or key:tenant:runner+approver+admin`]);
    }
    return { key, tenantId, roles: given as Role[] };
  });
}

function parsePrices(raw: string | undefined): ModelPrices {
  if (!raw) return builtInModelPrices;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError(['BOSUN_MODEL_PRICES: not valid JSON']);
  }
  const parsed = modelPricesSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `BOSUN_MODEL_PRICES.${i.path.join('.')}: ${i.message}`));
  return { ...builtInModelPrices, ...parsed.data };
}

export interface ProviderLimit {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}
export type ProviderLimits = Record<string, ProviderLimit>;

const providerLimitSchema = z
  .object({
    requestsPerMinute: z.number().int().positive().optional(),
    tokensPerMinute: z.number().int().positive().optional(),
  })
  .strict()
  .refine((l) => l.requestsPerMinute !== undefined || l.tokensPerMinute !== undefined, 'set requestsPerMinute, tokensPerMinute or both');

/** A provider's key: `default`, or its base URL without a trailing slash. */
export const providerKey = (baseUrl: string) => baseUrl.replace(/\/+$/, '');

function parseProviderLimits(raw: string | undefined): ProviderLimits {
  if (!raw) return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError(['BOSUN_PROVIDER_LIMITS: not valid JSON']);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(['BOSUN_PROVIDER_LIMITS: must be an object of providers, e.g. {"default":{"requestsPerMinute":600}}']);
  }
  const problems: string[] = [];
  const limits: ProviderLimits = {};
  for (const [name, value] of Object.entries(json)) {
    const where = `BOSUN_PROVIDER_LIMITS.${name}`;
    let key = name;
    if (name !== 'default') {
      let url: URL | undefined;
      try {
        url = new URL(name);
      } catch {
        url = undefined;
      }
      if (!url || !/^https?:$/.test(url.protocol)) {
        problems.push(`${where}: a provider is "default" or a model base URL such as https://api.openai.com/v1`);
        continue;
      }
      key = providerKey(name);
    }
    if (key in limits) {
      problems.push(`${where}: the same provider is listed more than once`);
      continue;
    }
    const parsed = providerLimitSchema.safeParse(value);
    if (!parsed.success) {
      problems.push(...parsed.error.issues.map((i) => [where, ...i.path].join('.') + `: ${i.message}`));
      continue;
    }
    limits[key] = parsed.data;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return limits;
}
