/**
 * A Bosun worker: the agent-run workflows and Bosun's activities on the main task queue, plus one
 * small activity worker per code tool on that tool's own task queue (src/shared/toolSpec.ts
 * toolTaskQueue), so a tool call only ever reaches a worker that has the tool, in the version and
 * schema the run's bundle pinned. The tools are registered in PostgreSQL at start and every 10 s
 * (src/db/toolRegistry.ts): publishing pins bundles against them, admission waits for them.
 */
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import OpenAI from 'openai';
import { createActivities } from '../activities';
import { signalAdmitted } from '../activities/admission';
import { createModelCallGuard } from '../activities/model/callGuard';
import { createToolActivities } from '../activities/toolCalls';
import { createHttpFetchTool } from '../activities/tools/httpFetch';
import { memoryTools } from '../activities/tools/memory';
import { httpToolExecutor } from '../activities/tools/httpTool';
import { createMcpPool, mcpToolExecutor } from '../activities/tools/mcp';
import { failingAsRunEnded } from '../activities/runEnded';
import { shadowWakeOf } from '../activities/shadows';
import { createBundleCache } from '../bundles/bundleStore';
import { loadConfig, type Config } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { registerTools } from '../db/toolRegistry';
import type { BosunTool } from '../sdk/tools';
import { createEmbedder } from '../memory/embeddings';
import { createMemoryService } from '../memory/service';
import { createSecretStore } from '../secrets/secretStore';
import { toolTaskQueue } from '../shared/toolSpec';
import { createEncryptionCodec, encryptingDataConverter } from '../temporal/encryptionCodec';
import { ensureMemoryPurgeSchedule } from '../temporal/memoryPurgeSchedule';
import { startTracing } from '../telemetry/tracing';
import { ensureSearchAttributes } from '../temporal/searchAttributes';
import { ensureAlertSchedule } from '../temporal/alertSchedule';
import { makeCurrentVersion } from '../temporal/workerVersioning';
import { syncAlertRulesFile } from './alertRules';
import { announce, configureLogger, runLogAttributes } from '../telemetry/logger';
import { serveWorkerMetrics } from '../telemetry/metrics';
import { installTemporalRuntime } from '../telemetry/temporalRuntime';
import { shadowStartsOf } from './shadowStarts';
import { loadToolModules } from './toolModules';
import { workflowBundleFor } from './workflowBundle';

export interface CreateWorkerOptions {
  /** The user's tools (`defineTool`); Bosun's built-in `http_fetch`, `memory_search` and `memory_save` are always there too. */
  tools?: readonly BosunTool[];
  /** Read from the environment (`loadConfig(process.env)`, as Bosun's own worker does) when absent. */
  config?: Config;
}

export interface BosunWorker {
  /** Every tool this worker has, built-in ones included. */
  tools: readonly BosunTool[];
  /** Polls until SIGINT or SIGTERM (the Temporal SDK's handlers) or shutdown(); then drains and closes. */
  run(): Promise<void>;
  shutdown(): void;
}

/** How often a worker refreshes its tool registrations (a registration is live for 45 s). */
const REGISTRATION_REFRESH_MS = 10_000;

/**
 * Connects to PostgreSQL (migrating it) and Temporal, registers the tools, and builds the workers.
 * Rejects when the configuration is invalid, a tool module cannot be loaded, two tools share a
 * name, or PostgreSQL or Temporal cannot be reached.
 */
export async function createWorker(options: CreateWorkerOptions = {}): Promise<BosunWorker> {
  const config = options.config ?? loadConfig(process.env);
  const log = configureLogger(config, 'worker');
  const { temporalMetricsUrl } = await installTemporalRuntime(config, log);
  const tools = withoutDuplicates([
    createHttpFetchTool(), ...memoryTools, ...(options.tools ?? []), ...(await loadToolModules(config.tools.modules)),
  ]);
  const db = createPool(config.databaseUrl);
  await migrate(db);
  const connection = await NativeConnection.connect(config.temporal.connection);
  await ensureSearchAttributes(connection, config.temporal.namespace);
  // OTEL_* (docs/observability.md): the run's trace through this worker's workflows and activities.
  const tracing = startTracing(config.tracing, 'bosun-worker');

  const shared = { ...sharedWorkerOptions(config), ...tracing.workerOptions };
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter: shared.dataConverter, plugins: tracing.plugins });
  // The rules file into PostgreSQL, then the schedule that evaluates every rule there.
  await syncAlertRulesFile(db, config.alerts.rulesFile);
  await ensureAlertSchedule(client, config.temporal.taskQueue, config.alerts.intervalMs);
  // One pool of MCP sessions per worker, shared by every run's calls (sessions are keyed by credentials).
  const mcpPool = createMcpPool();
  const toolDeps = {
    db, bundles: createBundleCache(db), tools, secrets: createSecretStore(config.secrets), maxResultChars: config.tools.maxResultChars,
    memory: createMemoryService(db, config.memory.embeddings && createEmbedder(config.memory.embeddings)),
    // Tools the bundles declare: any Bosun worker runs them.
    declared: { http: httpToolExecutor(), mcp: mcpToolExecutor(mcpPool, config.tools.mcpStdioCommands) },
    genai: tracing.genai,
  };
  await ensureMemoryPurgeSchedule(client, config.temporal.taskQueue, config.memory.purgeIntervalMs);
  const main = await Worker.create({
    ...shared,
    connection,
    taskQueue: config.temporal.taskQueue,
    // Prebuilt by `npm run build` when it matches this worker's workflow code; else bundled now.
    workflowBundle: await workflowBundleFor(config.workflowBundle),
    // Each cached run keeps its workflow state in memory; runs past the cache replay on their next
    // task. What bounds a worker's memory with runs parked on approval is this cache, not the number
    // parked. The SDK re-evaluates every module the workflow code imports for each cached run
    // (reuseV8Context keeps one module cache per run), so the workflow code imports little:
    // OpenTelemetry only into traced runs (src/workflows/tracing.ts). npm run bench:parked-memory,
    // 300 parked with 100 cached: RSS over baseline +139 MB (+327 MB while every run loaded OTel).
    maxCachedWorkflows: config.maxCachedWorkflows,
    // A worker's share of the load: with slow model calls its slots, not its CPU, bound what it runs.
    // Model calls and the reads it hosts are local activities (src/workflows/agentRun/proxies.ts):
    // the same cap holds for them, and each keeps its run's workflow task (and a workflow task slot)
    // open while it runs, so there are at least as many of those as calls. Runs in local calls are
    // also bounded by the workflow cache (a run in one cannot be evicted).
    ...localStepSlots(config.maxConcurrentActivities),
    activities: createActivities({
      ...toolDeps,
      modelClient: modelClients(config.model.apiKey, config.model.baseUrl),
      prices: config.model.prices,
      // BOSUN_PROVIDER_LIMITS, shared with every other worker through PostgreSQL.
      modelCalls: createModelCallGuard({ db, limits: config.providerLimits, defaultBaseUrl: config.model.baseUrl }),
      limits: config.limits,
      recordGraceMs: config.runRecordGraceMs,
      // A freed slot's allocation signals the runs it admitted, on this worker's own connection.
      admissionWake: {
        wake: signalAdmitted(client),
        safetyPollMs: config.admissionSafetyPollMs,
      },
      alerts: { webhook: config.alerts.webhook, groundingSampleRate: config.alerts.groundingSampleRate },
      // Shadow replays start their runs and decide their approvals as the API does (docs/staging.md).
      shadowStarts: shadowStartsOf({ db, client, config }),
      shadowWake: shadowWakeOf(db, client),
    }),
  });
  // One queue per tool: only workers with this tool (this version, this schema) poll it.
  const toolActivities = failingAsRunEnded(createToolActivities(toolDeps));
  const toolWorkers = await Promise.all(tools.map((tool) => Worker.create({
    ...shared,
    connection,
    taskQueue: toolTaskQueue(config.temporal.taskQueue, tool.manifest),
    activities: { executeTool: toolActivities.executeTool },
  })));

  const register = () => registerTools(db, config.workerVersion?.buildId ?? 'unversioned', tools.map((tool) => ({
    manifest: tool.manifest, taskQueue: toolTaskQueue(config.temporal.taskQueue, tool.manifest),
  })));
  await register();
  const workers = [main, ...toolWorkers];
  const metrics = config.metrics.port === undefined
    ? undefined
    : await serveWorkerMetrics({ port: config.metrics.port, token: config.metrics.token, temporalMetricsUrl });
  if (metrics) announce(`metrics served at ${metrics.url}`, { url: metrics.url });
  return {
    tools,
    shutdown: () => workers.forEach((w) => w.shutdown()),
    async run() {
      const refresh = setInterval(() => void register().catch((err) => log.error({ err }, 'tool registration failed')), REGISTRATION_REFRESH_MS);
      try {
        await runAll(workers, connection, config);
      } finally {
        clearInterval(refresh);
        await metrics?.close();
        await mcpPool.close();
        await tracing.shutdown();
        await connection.close();
        await db.end();
      }
    },
  };
}

/** Temporal's default number of workflow task slots, enough for tasks that wait on no local activity. */
const DEFAULT_WORKFLOW_TASK_SLOTS = 40;

/**
 * The main worker's slots for BOSUN_MAX_CONCURRENT_ACTIVITIES (`calls`): as many regular and as
 * many local activities at once, and a workflow task slot for each local one (Temporal holds the
 * run's workflow task open while its local activities run).
 */
function localStepSlots(calls: number): Pick<WorkerOptions, 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentLocalActivityExecutions' | 'maxConcurrentWorkflowTaskExecutions'> {
  return {
    maxConcurrentActivityTaskExecutions: calls,
    maxConcurrentLocalActivityExecutions: calls,
    maxConcurrentWorkflowTaskExecutions: Math.max(DEFAULT_WORKFLOW_TASK_SLOTS, calls),
  };
}

/** Creates a worker from the environment and runs it until it is told to stop. */
export async function runWorker(options: CreateWorkerOptions = {}): Promise<void> {
  const worker = await createWorker(options);
  await worker.run();
}

async function runAll(workers: Worker[], connection: NativeConnection, config: Config): Promise<void> {
  // Resolves once SIGTERM or SIGINT has drained in-flight tasks (the SDK installs those handlers).
  const running = Promise.all(workers.map((w) => w.run()));
  if (config.workerVersion?.promote) await makeCurrentVersion(connection, config.temporal.namespace, config.workerVersion);
  const version = config.workerVersion ? ` as ${config.workerVersion.deploymentName}@${config.workerVersion.buildId}` : '';
  announce(`worker polling task queue "${config.temporal.taskQueue}" (and ${workers.length - 1} tool queues) on ${config.temporal.address}${version}`);
  await running;
}

/** What the main worker and the tool workers share: encryption, heartbeats, shutdown, versioning. */
function sharedWorkerOptions(config: Config): Partial<WorkerOptions> & Pick<WorkerOptions, 'namespace'> {
  return {
    namespace: config.temporal.namespace,
    // Encrypts every payload this worker writes to history when keys are configured.
    dataConverter: encryptingDataConverter(createEncryptionCodec(config.encryption)),
    shutdownGraceTime: '10 seconds',
    // Heartbeats reach Temporal at most a second apart, so a cancelled run's model or tool call
    // hears of it (and aborts) within about a second, not after most of its heartbeat timeout.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    // Activity log lines carry the run's runId, tenantId and bundleId.
    interceptors: { activity: [runLogAttributes()] },
    ...(config.workerVersion && {
      workerDeploymentOptions: {
        version: config.workerVersion,
        useWorkerVersioning: true,
        // A run finishes on the workflow code it started with; new code only takes new runs.
        defaultVersioningBehavior: 'PINNED' as const,
      },
    }),
  };
}

function withoutDuplicates(tools: BosunTool[]): BosunTool[] {
  const seen = new Set<string>();
  for (const tool of tools) {
    if (seen.has(tool.manifest.name)) throw new Error(`two tools are named "${tool.manifest.name}": tool names must be unique in a worker`);
    seen.add(tool.manifest.name);
  }
  return tools;
}

/** One client per model endpoint, made on first use. */
function modelClients(apiKey: string, defaultBaseUrl: string | undefined) {
  const clients = new Map<string, OpenAI>();
  return (baseUrl: string | undefined): OpenAI => {
    const url = baseUrl ?? defaultBaseUrl ?? '';
    let client = clients.get(url);
    if (!client) {
      // Temporal owns retries and timeouts; the client must not retry behind its back.
      client = new OpenAI({ apiKey, baseURL: url || undefined, maxRetries: 0, timeout: 110_000 });
      clients.set(url, client);
    }
    return client;
  };
}
