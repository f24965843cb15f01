/**
 * A real Bosun for one test file: its own tenant and API key, its own task queue and worker
 * process, the API served over HTTP, and a scripted model the test controls.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { connectApp } from '../../src/api/app';
import { seedApiKeys } from '../../src/db/apiKeys';
import { loadConfig } from '../../src/config';
import { createPool, type Db } from '../../src/db/pool';
import { dropDatabase, freshDatabase } from './provision';
import { seedAgents, seedDemoOrders } from '../../src/dev/demoData';
import { supportDemoScript } from '../../src/dev/demoScript';
import { startScriptedModel, type ModelScript, type ScriptedModelServer } from '../../src/dev/scriptedModel';
import { spawnService, type Service } from '../../src/dev/services';
import { checkAnswer } from './contract';

export interface TestStackOptions {
  /** Where the services run; vitest's global setup provides them by default. */
  services?: { databaseUrl: string; temporalAddress: string };
  script?: ModelScript;
  approvalTimeout?: string;
  agentsDir?: string;
  /** Extra environment of the first worker. */
  workerEnv?: NodeJS.ProcessEnv;
  /** Extra environment of the API and every worker (e.g. BOSUN_SECRET_<NAME>, which publishing MCP servers needs too). */
  env?: NodeJS.ProcessEnv;
  /**
   * BOSUN_ENCRYPTION_KEYS of the worker and the in-process API (`id:<base64 of 32 bytes>,...`), and
   * optionally BOSUN_ENCRYPTION_KEY_ID. Without it payloads are not encrypted, whatever the shell says.
   */
  encryptionKeys?: string;
  encryptionKeyId?: string;
}

export interface ApiResponse {
  status: number;
  body: any;
}

export const testAgentsDir = path.resolve(__dirname, '../fixtures/agents');

/**
 * Vitest's global setup provides the Temporal server; each stack gets a database of its own beside
 * the session's, dropped when the stack closes. Admission is global across a database (any worker
 * that frees a slot admits and wakes whichever runs are next), so stacks sharing one would admit
 * and signal each other's runs with their own settings and keys. Imported lazily so scripts
 * outside vitest can use this file.
 */
async function injectedServices(): Promise<{ databaseUrl: string; temporalAddress: string; dropDatabase: () => Promise<void> }> {
  const { inject } = await import('vitest');
  const url = new URL(inject('databaseUrl'));
  url.pathname = unique(url.pathname);
  const databaseUrl = url.toString();
  await freshDatabase(databaseUrl);
  return { databaseUrl, temporalAddress: inject('temporalAddress'), dropDatabase: () => dropDatabase(databaseUrl) };
}

const unique = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`;

export async function startTestStack(options: TestStackOptions = {}) {
  const services: { databaseUrl: string; temporalAddress: string; dropDatabase?: () => Promise<void> } = options.services ?? (await injectedServices());
  const { databaseUrl, temporalAddress } = services;
  const tenantId = unique('tenant');
  const apiKey = unique('key');
  const model = await startScriptedModel(options.script ?? supportDemoScript);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_TASK_QUEUE: unique('queue'),
    OPENAI_BASE_URL: model.url,
    BOSUN_APPROVAL_TIMEOUT: options.approvalTimeout ?? '24h',
    BOSUN_AGENTS_DIR: options.agentsDir ?? 'agents',
    BOSUN_API_KEYS: `${apiKey}:${tenantId}`,
    BOSUN_LOG_LEVEL: 'WARN',
    // The demo support agent's tools (examples/support-tools), as `npm start` runs them.
    BOSUN_TOOL_MODULES: './examples/support-tools',
    BOSUN_ENCRYPTION_KEYS: options.encryptionKeys ?? '',
    BOSUN_ENCRYPTION_KEY_ID: options.encryptionKeys ? (options.encryptionKeyId ?? '') : '',
    // No alert schedule unless a test asks for one: a stack's schedule would outlive its worker.
    BOSUN_ALERT_INTERVAL: 'off',
    ...options.env,
  };
  const config = loadConfig(env);
  const db = createPool(databaseUrl, 5);
  await seedApiKeys(db, config.api.keys);
  await seedDemoOrders(db, tenantId);

  // The same keys as the worker's, so the client encodes and decodes what the worker does.
  const { app, temporal, connection, tracing } = await connectApp(config, db);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let worker: Service | undefined;
  const workers: Service[] = [];
  /** Every line the workers wrote to stdout or stderr, `[worker] `-prefixed, quiet or not. */
  const workerOutput: string[] = [];
  /** Starts another worker process; `extraEnv` varies its configuration (e.g. a build ID). */
  const startWorker = async (extraEnv: NodeJS.ProcessEnv = {}) => {
    worker = spawnService('worker', 'src/worker/main.ts', { ...env, ...extraEnv }, true, (line) => workerOutput.push(`[worker] ${line}`));
    workers.push(worker);
    await worker.ready;
    return worker;
  };
  await startWorker(options.workerEnv);
  // After the worker: publishing pins the tools it registered.
  const bundles = await seedAgents(db, tenantId, config.agentsDir, config.model.prices);

  /**
   * Calls the API over HTTP as this stack's tenant unless other headers are given. Throws when the
   * answer does not match its schema in src/contract (test/support/contract.ts).
   */
  async function api(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
    const res = await fetch(`${baseUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : undefined;
    return { status: res.status, body: checkAnswer(method, route, res.status, parsed) };
  }

  async function startRun(input = 'Refund order 1001', headers: Record<string, string> = {}, agent = 'support'): Promise<string> {
    const res = await api('POST', '/v1/runs', { agent, input }, headers);
    if (res.status !== 202) throw new Error(`start failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.runId;
  }

  /** Polls `GET /v1/runs/:runId` until `done` holds for the run view. */
  async function waitForRun(runId: string, done: (run: any) => boolean, timeoutMs = 60_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await api('GET', `/v1/runs/${runId}`);
      if (done(body)) return body;
      if (Date.now() > deadline) throw new Error(`run ${runId} did not get there in time; last seen: ${JSON.stringify(body)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const waitForStatus = (runId: string, status: string, timeoutMs?: number) =>
    waitForRun(runId, (run) => run.status === status, timeoutMs);

  async function decide(runId: string, approvalId: string, decision: 'approve' | 'reject', comment?: string) {
    return api('POST', `/v1/runs/${runId}/approvals/${approvalId}`, { decision, comment });
  }

  async function close() {
    await Promise.all(workers.map((w) => w.stop()));
    await new Promise((resolve) => server.close(resolve));
    await model.close();
    // Exports the API's spans still batched (only when OTEL_* turned tracing on).
    await tracing.shutdown();
    await connection.close();
    await db.end();
    await services.dropDatabase?.();
  }

  return {
    tenantId, apiKey, baseUrl, db, temporal, model, env, bundles, workerOutput,
    api, startRun, waitForRun, waitForStatus, decide, startWorker, close,
    get worker() {
      return worker!;
    },
  };
}

export type TestStack = Awaited<ReturnType<typeof startTestStack>>;

export async function countRefunds(db: Db, runId: string): Promise<number> {
  const { rows } = await db.query('SELECT count(*)::int AS n FROM refunds WHERE run_id = $1', [runId]);
  return rows[0].n;
}

export type { ScriptedModelServer };
