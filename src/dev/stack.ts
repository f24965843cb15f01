/**
 * `npm start`: the whole local stack on embedded defaults — Temporal dev server with its Web UI,
 * PostgreSQL, the scripted model, and the worker and API as separate processes.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Runtime } from '@temporalio/worker';
import { z } from 'zod';
import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { runMain } from '../runMain';
import { answers, ensureDatabase, startEmbeddedPostgres } from './database';
import { seedAgents, seedDemoOrders } from './demoData';
import { supportDemoScript } from './demoScript';
import { spawnService, type Service } from './services';
import { startScriptedModel } from './scriptedModel';
import { findOrBuildTemporalCli, requireFreePorts, startTemporalDevServer } from './temporalServer';

/** Settings only the local stack reads; the services' own settings are in src/config.ts. */
const stackEnvSchema = z.object({
  TEMPORAL_CLI: z.string().optional(),
  BOSUN_MODEL_PORT: z.coerce.number().int().min(1).max(65535).default(8300),
  BOSUN_TEMPORAL_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  BOSUN_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  BOSUN_EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(5439),
});

const dataDir = path.resolve('.data');
const log = (line: string) => console.log(`[stack] ${line}`);

runMain('stack', async () => {
  const env = stackEnvSchema.parse(process.env);
  // This process decides the shutdown order (services first, then the servers they use).
  Runtime.install({ shutdownSignals: [] });
  const given = loadConfig(process.env);
  // What the user set explicitly is used as is; everything else is provided here.
  const isSet = (name: string) => Boolean(process.env[name]);
  mkdirSync(dataDir, { recursive: true });
  const cleanups: (() => Promise<void>)[] = [];

  let temporalAddress = given.temporal.address;
  let uiUrl = 'your Temporal UI';
  // A Temporal named by address or by a profile (envconfig, src/config.ts) is used as it is, TLS and API key included.
  const temporalGiven = ['TEMPORAL_ADDRESS', 'TEMPORAL_PROFILE', 'TEMPORAL_CONFIG_FILE'].some(isSet);
  if (!temporalGiven) {
    const cliPath = findOrBuildTemporalCli(env.TEMPORAL_CLI, log);
    if (!cliPath) log('no Temporal CLI and no Go: downloading the dev server through the Temporal SDK');
    await requireFreePorts([
      { what: "Temporal's", port: env.BOSUN_TEMPORAL_PORT, setting: 'BOSUN_TEMPORAL_PORT' },
      { what: "Temporal UI's", port: env.BOSUN_UI_PORT, setting: 'BOSUN_UI_PORT' },
    ]);
    const server = await startTemporalDevServer({
      cliPath, dbFilename: path.join(dataDir, 'temporal.db'), port: env.BOSUN_TEMPORAL_PORT, uiPort: env.BOSUN_UI_PORT,
    });
    cleanups.push(server.stop);
    temporalAddress = server.address;
    uiUrl = `http://127.0.0.1:${env.BOSUN_UI_PORT}`;
  }

  let databaseUrl = given.databaseUrl;
  if (!isSet('DATABASE_URL') && !(await answers(databaseUrl))) {
    log('no PostgreSQL on 127.0.0.1:5432: starting an embedded one with its data in .data/postgres');
    const embedded = await startEmbeddedPostgres(path.join(dataDir, 'postgres'), env.BOSUN_EMBEDDED_PG_PORT);
    cleanups.push(embedded.stop);
    databaseUrl = embedded.url;
  }
  await ensureDatabase(databaseUrl);

  const apiKeys = isSet('BOSUN_API_KEYS') ? process.env.BOSUN_API_KEYS : `${devApiKey()}:demo`;
  const serviceEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...(!temporalGiven && { TEMPORAL_ADDRESS: temporalAddress }),
    DATABASE_URL: databaseUrl,
    BOSUN_API_KEYS: apiKeys,
    // The demo support agent's tools (lookup_order, issue_refund), unless the shell names others.
    BOSUN_TOOL_MODULES: isSet('BOSUN_TOOL_MODULES') ? process.env.BOSUN_TOOL_MODULES : './examples/support-tools',
    // The inbox's run pages link to the dev server's UI, on whatever port it got.
    ...(!isSet('BOSUN_TEMPORAL_UI_URL') && uiUrl.startsWith('http') && { BOSUN_TEMPORAL_UI_URL: uiUrl }),
  };
  if (!isSet('OPENAI_API_KEY')) {
    const model = await startScriptedModel(supportDemoScript, env.BOSUN_MODEL_PORT);
    cleanups.push(model.close);
    serviceEnv.OPENAI_BASE_URL = model.url;
    log(`scripted model on ${model.url} (set OPENAI_API_KEY to use a real provider)`);
  }

  const config = loadConfig(serviceEnv);
  const db = createPool(config.databaseUrl, 2);
  await migrate(db);
  // The worker first: publishing the demo bundles pins the tools it registers.
  const readable = await readableLogLines();
  const services: Service[] = [spawnService('worker', 'src/worker/main.ts', serviceEnv, false, undefined, readable)];
  await services[0]!.ready;
  for (const tenant of new Set(config.api.keys.map((k) => k.tenantId))) {
    await seedDemoOrders(db, tenant);
    await seedAgents(db, tenant, config.agentsDir, config.model.prices);
  }
  await db.end();
  services.push(spawnService('api', 'src/api/main.ts', serviceEnv, false, undefined, readable));
  await Promise.all(services.map((s) => s.ready));
  printWelcome(`http://127.0.0.1:${config.api.port}`, uiUrl, config.api.keys[0]!.key, serviceEnv.OPENAI_BASE_URL);

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      log('shutting down');
      await Promise.all(services.map((s) => s.stop()));
      for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => log(`cleanup failed: ${err}`));
      process.exit(0);
    })());
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  for (const s of services) {
    void s.exited.then((code) => {
      if (stopping) return;
      log(`${s.name} exited with code ${code}; stopping the stack`);
      void shutdown();
    });
  }
}, { human: true });

/**
 * The services' JSON log lines as a person reads them (pino-pretty, a devDependency, loaded only
 * here): time, level, message, then the fields; other lines as they are.
 */
async function readableLogLines(): Promise<(line: string) => string> {
  const { prettyFactory } = await import('pino-pretty');
  const pretty = prettyFactory({
    colorize: process.stdout.isTTY, singleLine: true, translateTime: 'SYS:HH:MM:ss.l',
    // The access log's headers are in the JSON for whoever needs them; here they would drown the rest.
    ignore: 'pid,hostname,name,req.headers,req.query,req.params,req.remotePort,res.headers',
  });
  return (line) => (line.startsWith('{') ? pretty(line).trimEnd() : line);
}

/** One dev key per checkout, kept in .data so restarts keep working with the same curl lines. */
function devApiKey(): string {
  const file = path.join(dataDir, 'dev-api-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = `bsn_dev_${randomBytes(18).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

function printWelcome(apiUrl: string, uiUrl: string, apiKey: string, modelUrl: string | undefined): void {
  const yourWorker = modelUrl
    ? `\nYour own workers (docs/tools.md) run model steps too: give them this stack's model.\n  export OPENAI_BASE_URL=${modelUrl}\n`
    : '';
  console.log(`
Bosun is up.
  API          ${apiUrl}
  Approvals    ${apiUrl}/ui   (sign in with the API key below)
  Temporal UI  ${uiUrl}   (filter: RunStatus="awaiting_approval")
  API key      ${apiKey}

Try the demo support agent:

  export BOSUN_URL=${apiUrl} BOSUN_API_KEY=${apiKey}
  RUN=$(curl -s -X POST $BOSUN_URL/v1/runs -H "Authorization: Bearer $BOSUN_API_KEY" -H 'Content-Type: application/json' \\
        -d '{"agent":"support","input":"Refund order 1001"}' | sed -E 's/.*"runId":"([^"]+)".*/\\1/')
  sleep 2; curl -s $BOSUN_URL/v1/runs/$RUN -H "Authorization: Bearer $BOSUN_API_KEY"
  APPROVAL=$(curl -s $BOSUN_URL/v1/runs/$RUN -H "Authorization: Bearer $BOSUN_API_KEY" | sed -E 's/.*"pendingApprovals":\\[\\{"approvalId":"([^"]+)".*/\\1/')
  curl -s -X POST $BOSUN_URL/v1/runs/$RUN/approvals/$APPROVAL -H "Authorization: Bearer $BOSUN_API_KEY" \\
       -H 'Content-Type: application/json' -d '{"decision":"approve","comment":"looks right"}'
  sleep 2; curl -s $BOSUN_URL/v1/runs/$RUN -H "Authorization: Bearer $BOSUN_API_KEY"
${yourWorker}`);
}
