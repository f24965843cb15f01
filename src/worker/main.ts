/** Worker process: wires configuration, PostgreSQL, the model client and Temporal together. */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import OpenAI from 'openai';
import { createActivities } from '../activities';
import { createModelCallGuard } from '../activities/model/callGuard';
import { createBundleCache } from '../bundles/bundleStore';
import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { createEncryptionCodec, encryptingDataConverter } from '../temporal/encryptionCodec';
import { ensureSearchAttributes } from '../temporal/searchAttributes';
import { makeCurrentVersion } from '../temporal/workerVersioning';
import { bundleWorkflowsInChild } from './workflowBundle';
import { runMain } from '../runMain';
import { createSecretStore } from '../secrets/secretStore';

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

runMain('worker', async () => {
  const config = loadConfig(process.env);
  Runtime.install({ logger: new DefaultLogger(config.logLevel) });
  const db = createPool(config.databaseUrl);
  await migrate(db);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  await ensureSearchAttributes(connection, config.temporal.namespace);

  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    // Encrypts every payload this worker writes to history when keys are configured.
    dataConverter: encryptingDataConverter(createEncryptionCodec(config.encryption)),
    workflowBundle: { codePath: await bundleWorkflowsInChild() },
    // Each cached run keeps its workflow state in memory (~1.5 MB); runs past the cache replay on their next task.
    maxCachedWorkflows: config.maxCachedWorkflows,
    activities: createActivities({
      db,
      bundles: createBundleCache(db),
      modelClient: modelClients(config.model.apiKey, config.model.baseUrl),
      prices: config.model.prices,
      // BOSUN_PROVIDER_LIMITS, shared with every other worker through PostgreSQL.
      modelCalls: createModelCallGuard({ db, limits: config.providerLimits, defaultBaseUrl: config.model.baseUrl }),
      // Tools get their declared secrets inside their activity; nothing else in the worker sees them.
      secrets: createSecretStore(config.secrets),
      limits: config.limits,
      recordGraceMs: config.runRecordGraceMs,
    }),
    shutdownGraceTime: '10 seconds',
    // Heartbeats reach Temporal at most a second apart, so a cancelled run's model or tool call
    // hears of it (and aborts) within about a second, not after most of its heartbeat timeout.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    ...(config.workerVersion && {
      workerDeploymentOptions: {
        version: config.workerVersion,
        useWorkerVersioning: true,
        // A run finishes on the workflow code it started with; new code only takes new runs.
        defaultVersioningBehavior: 'PINNED',
      },
    }),
  });
  // Resolves once SIGTERM or SIGINT has drained in-flight tasks (the SDK installs those handlers).
  const running = worker.run();
  if (config.workerVersion?.promote) await makeCurrentVersion(connection, config.temporal.namespace, config.workerVersion);
  const version = config.workerVersion ? ` as ${config.workerVersion.deploymentName}@${config.workerVersion.buildId}` : '';
  console.log(`worker polling task queue "${config.temporal.taskQueue}" on ${config.temporal.address}${version}`);
  await running;
  await connection.close();
  await db.end();
});
