import type { PayloadCodec } from '@temporalio/common';
import { Client, Connection } from '@temporalio/client';
import express from 'express';
import { defaultApiSettings, type ApiSettings, type Config } from '../config';
import { openApiDocument } from '../contract/openapi';
import type { Db } from '../db/pool';
import { createRunEventListener, type RunEventListener } from '../db/runEventListener';
import { createSecretStore } from '../secrets/secretStore';
import { createEncryptionCodec, encryptingDataConverter } from '../temporal/encryptionCodec';
import { adminRouter } from './adminRouter';
import { agentsRouter } from './agentsRouter';
import { authenticate } from './auth';
import { bundlesRouter, type BundlesRouterDeps } from './bundlesRouter';
import { chatCompletionsRouter } from './chatCompletionsRouter';
import { codecRouter } from './codecRouter';
import { ApiError, errorHandler } from './errors';
import { evalsRouter } from './evalsRouter';
import { eventsRouter } from './eventsRouter';
import { healthRouter } from './health';
import { runStarter } from './runStarter';
import { runsRouter, type RunsRouterDeps } from './runsRouter';
import { toolsRouter } from './toolsRouter';
import { usageRouter } from './usageRouter';
import { refuseUnstorableText } from './validation';

/** `settings` default to the configuration's defaults; `runEventListener` to one on the pool's database. */
export type AppDeps = Omit<RunsRouterDeps, 'settings'> & BundlesRouterDeps & { settings?: ApiSettings; runEventListener?: RunEventListener };

/** `codec` serves /codec for the Temporal Web UI (404 there without it); `codecCorsOrigins` may call it from a browser. */
export function createApp(deps: AppDeps & { codec?: PayloadCodec; codecCorsOrigins?: readonly string[] }): express.Express {
  const settings = deps.settings ?? defaultApiSettings;
  const runEventListener = deps.runEventListener ?? createRunEventListener(deps.db.options);
  const startRun = runStarter({ ...deps, settings });
  const routerDeps = { ...deps, settings, startRun, runEventListener };
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRouter(deps));
  // Open without a key, like the probes: what a client generator reads first.
  app.get('/v1/openapi.json', (_req, res) => void res.json(openApiDocument()));
  // Before the other /v1 routes: it authenticates and parses itself, to answer OpenAI-shaped errors.
  app.use(chatCompletionsRouter(routerDeps));
  app.use('/v1', express.json({ limit: settings.maxRequestBytes }), authenticate(deps.db), refuseUnstorableText);
  app.use(
    '/v1',
    runsRouter(routerDeps), eventsRouter(routerDeps), bundlesRouter(deps), agentsRouter(routerDeps), adminRouter(deps), usageRouter(deps),
    toolsRouter(deps), evalsRouter(deps),
  );
  app.use('/codec', codecRouter({ db: deps.db, codec: deps.codec, corsOrigins: deps.codecCorsOrigins ?? [] }));
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `No route for ${req.method} ${req.path}.`)));
  app.use(errorHandler);
  return app;
}

/**
 * Connects to Temporal as configuration says (with the payload codec when encryption is on) and
 * builds the app on that client.
 */
export async function connectApp(config: Config, db: Db) {
  const connection = await Connection.connect({ address: config.temporal.address });
  const codec = createEncryptionCodec(config.encryption);
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: encryptingDataConverter(codec) });
  const app = createApp({
    db,
    temporal,
    taskQueue: config.temporal.taskQueue,
    approvalTimeoutMs: config.approvalTimeoutMs,
    modelPrices: config.model.prices,
    // Publishing lists a bundle's MCP servers, with the credentials its headers name.
    mcpListing: { secrets: createSecretStore(config.secrets), stdioCommands: config.tools.mcpStdioCommands },
    settings: config.api,
    codec,
    codecCorsOrigins: config.codecServer.corsOrigins,
  });
  return { app, temporal, connection };
}
