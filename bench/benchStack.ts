/**
 * What the bench runs on: one Temporal dev server and one fresh PostgreSQL database, with Bosun
 * (API and worker as child processes, as `npm start` runs them) and the bare-Temporal baseline
 * (bench/bare, its own worker process) side by side, sharing one scripted model.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createPool, type Db } from '../src/db/pool';
import { seedAgents, seedDemoOrders } from '../src/dev/demoData';
import { startScriptedModel, type ModelScript } from '../src/dev/scriptedModel';
import { spawnService, type Service } from '../src/dev/services';
import { findOrBuildTemporalCli, startTemporalDevServer } from '../src/dev/temporalServer';
import { dropDatabase, freshDatabase } from '../test/support/provision';
import { findPid, findPids } from './procStats';

const unique = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export interface BenchServices {
  temporalAddress: string;
  temporalPid: number;
  temporalCli: string | undefined;
  /** 'memory', or the SQLite file the dev server keeps its data in. */
  temporalStore: string;
  databaseUrl: string;
  databaseName: string;
  stop(): Promise<void>;
}

/**
 * A fresh database (bosun_bench_<pid>, migrated) and a Temporal dev server with the settings `npm
 * start` uses: a SQLite file by default, as the table measured; in memory when `store` is 'memory'.
 */
export async function provisionBenchServices(store: 'file' | 'memory'): Promise<BenchServices> {
  const server = new URL(process.env.BOSUN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/bosun_test');
  const databaseName = `bosun_bench_${process.pid}`;
  server.pathname = `/${databaseName}`;
  const databaseUrl = server.toString();
  await freshDatabase(databaseUrl);

  const dataDir = store === 'file' ? mkdtempSync(path.join(os.tmpdir(), 'bosun-bench-')) : undefined;
  const dbFilename = dataDir && path.join(dataDir, 'temporal.db');
  const port = await freePort();
  const temporalCli = findOrBuildTemporalCli(process.env.TEMPORAL_CLI, (line) => console.log(line));
  const temporal = await startTemporalDevServer({ cliPath: temporalCli, port, dbFilename });
  return {
    temporalAddress: temporal.address,
    temporalPid: findPid('Temporal dev server', ['start-dev', `${port}`]),
    temporalCli,
    temporalStore: dbFilename ?? 'memory',
    databaseUrl,
    databaseName,
    stop: async () => {
      await temporal.stop();
      await dropDatabase(databaseUrl);
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface BenchStackOptions {
  script: ModelScript;
  /** Extra environment of the API and the Bosun worker (e.g. raised tenant limits). */
  env?: NodeJS.ProcessEnv;
  /** API processes (1 by default), all on the same database and queue. */
  apis?: number;
  /** The address clients call, given the APIs' (a balancer in front of them); the first API's by default. */
  front?: (apiUrls: string[]) => Promise<string>;
}

/** Bosun (API and worker processes) and the bare baseline's worker, on `services`. */
export async function startBenchStack(services: BenchServices, options: BenchStackOptions) {
  const tenantId = unique('tenant');
  const apiKey = unique('key');
  const model = await startScriptedModel(options.script);
  const apiPorts = await Promise.all(Array.from({ length: options.apis ?? 1 }, () => freePort()));
  const taskQueue = unique('queue');
  const bareTaskQueue = unique('bare');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: services.databaseUrl,
    TEMPORAL_ADDRESS: services.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    OPENAI_BASE_URL: model.url,
    BOSUN_APPROVAL_TIMEOUT: '24h',
    BOSUN_AGENTS_DIR: 'agents',
    BOSUN_API_KEYS: `${apiKey}:${tenantId}`,
    BOSUN_LOG_LEVEL: 'WARN',
    BOSUN_TOOL_MODULES: './examples/support-tools',
    BOSUN_ENCRYPTION_KEYS: '',
    BENCH_BARE_TASK_QUEUE: bareTaskQueue,
    BENCH_MODEL_URL: model.url,
    ...options.env,
  };
  const db = createPool(services.databaseUrl, 5);
  await seedDemoOrders(db, tenantId);

  const services_: Service[] = [];
  const start = async (name: string, entry: string, extraEnv: NodeJS.ProcessEnv = {}) => {
    // PGAPPNAME names the service's database connections (bench/statementLog.ts attributes statements by it).
    const service = spawnService(name, entry, { ...env, PGAPPNAME: name, ...extraEnv }, true);
    services_.push(service);
    await service.ready;
    return service;
  };
  await Promise.all([
    ...apiPorts.map((port, i) => start(i === 0 ? 'api' : `api-${i + 1}`, 'src/api/main.ts', { BOSUN_API_PORT: String(port) })),
    start('worker', 'src/worker/main.ts'),
    start('bare-worker', 'bench/bare/workerMain.ts'),
  ]);
  // After the worker: publishing pins the tools it registered.
  await seedAgents(db, tenantId, 'agents');
  const connection = await Connection.connect({ address: services.temporalAddress });
  const client = new Client({ connection });

  const queueEnv = `TEMPORAL_TASK_QUEUE=${taskQueue}`;
  const pids = {
    api: findPids(['src/api/main.ts'], queueEnv)[0]!,
    apis: () => findPids(['src/api/main.ts'], queueEnv),
    worker: () => findPid('Bosun worker', ['src/worker/main.ts'], queueEnv),
    workers: () => findPids(['src/worker/main.ts'], queueEnv),
    bareWorker: findPid('bare worker', ['bench/bare/workerMain.ts'], `TEMPORAL_TASK_QUEUE=${taskQueue}`),
  };
  const apiUrls = apiPorts.map((port) => `http://127.0.0.1:${port}`);
  const baseUrl = options.front ? await options.front(apiUrls) : apiUrls[0]!;
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };

  /** POST /v1/runs; returns the run ID, throws on anything but 202. */
  async function startRun(input: string, agent = 'support'): Promise<string> {
    const res = await fetch(`${baseUrl}/v1/runs`, { method: 'POST', headers, body: JSON.stringify({ agent, input }) });
    const body = (await res.json()) as { runId?: string };
    if (res.status !== 202 || !body.runId) throw new Error(`start failed: ${res.status} ${JSON.stringify(body)}`);
    return body.runId;
  }

  /** Opens the run's event stream and resolves once `run.finished` arrives (or the stream ends). */
  async function followUntilFinished(runId: string): Promise<void> {
    const res = await fetch(`${baseUrl}/v1/runs/${runId}/events`, { headers });
    if (res.status === 204) return;
    if (res.status !== 200 || !res.body) throw new Error(`events of ${runId}: ${res.status}`);
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      if (text.includes('event: run.finished')) {
        await res.body.cancel().catch(() => undefined);
        return;
      }
    }
  }

  /** Opens the run's event stream and keeps it open until the returned function is called. */
  async function holdStream(runId: string): Promise<() => void> {
    const abort = new AbortController();
    const res = await fetch(`${baseUrl}/v1/runs/${runId}/events`, { headers, signal: abort.signal });
    if (res.status !== 200 || !res.body) throw new Error(`events of ${runId}: ${res.status}`);
    const reader = res.body.getReader();
    void (async () => {
      for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return;
    })();
    return () => abort.abort();
  }

  /** Approves a pending approval. */
  async function approve(runId: string, approvalId: string): Promise<void> {
    const res = await fetch(`${baseUrl}/v1/runs/${runId}/approvals/${approvalId}`, { method: 'POST', headers, body: JSON.stringify({ decision: 'approve' }) });
    await res.arrayBuffer();
    if (res.status !== 202) throw new Error(`approve ${runId}/${approvalId}: ${res.status}`);
  }

  /** Runs the bare agent to completion; `kind` picks regular or local activities. */
  async function runBare(kind: 'regular' | 'local', tenant: string, input: string): Promise<string> {
    return client.workflow.execute(kind === 'regular' ? 'bareAgentRegular' : 'bareAgentLocal', {
      taskQueue: bareTaskQueue, workflowId: unique('bare'), args: [tenant, input],
    });
  }

  /** Replaces the Bosun worker with a fresh process (so its memory reflects only what follows). */
  async function restartWorker(extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    const current = services_.find((s) => s.name === 'worker');
    await current?.stop();
    services_.splice(services_.indexOf(current!), 1);
    await start('worker', 'src/worker/main.ts', extraEnv);
  }

  /** One more Bosun worker process on the same queue (workers scale out by simply polling it too). */
  async function addWorker(): Promise<Service> {
    return start(`worker-${services_.filter((s) => s.name.startsWith('worker')).length + 1}`, 'src/worker/main.ts');
  }

  async function close() {
    await Promise.all(services_.map((s) => s.stop()));
    await model.close();
    await connection.close();
    await db.end();
  }

  return { tenantId, db, model, pids, baseUrl, headers, startRun, followUntilFinished, holdStream, approve, runBare, restartWorker, addWorker, close };
}

export type BenchStack = Awaited<ReturnType<typeof startBenchStack>>;
export type { Db };
