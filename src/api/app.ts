import type { PayloadCodec } from '@temporalio/common';
import { Client, Connection } from '@temporalio/client';
import express from 'express';
import { defaultAlertSettings, defaultApiSettings, type AlertSettings, type ApiSettings, type Config } from '../config';
import type { UiConfig } from '../contract';
import { openApiDocument } from '../contract/openapi';
import type { Db } from '../db/pool';
import { createRunEventListener, type RunEventListener } from '../db/runEventListener';
import { createEmbedder } from '../memory/embeddings';
import { createMemoryService, type MemoryService } from '../memory/service';
import { createSecretStore } from '../secrets/secretStore';
import { createEncryptionCodec, encryptingDataConverter } from '../temporal/encryptionCodec';
import { adminRouter } from './adminRouter';
import { agentsRouter } from './agentsRouter';
import { shadowRouter } from './shadowRouter';
import { alertsRouter, type AlertsRouterSettings } from './alertsRouter';
import { authenticate } from './auth';
import { bundlesRouter, type BundlesRouterDeps } from './bundlesRouter';
import { chatCompletionsRouter } from './chatCompletionsRouter';
import { codecRouter } from './codecRouter';
import { ApiError, errorHandler } from './errors';
import { evalsRouter } from './evalsRouter';
import { eventsRouter } from './eventsRouter';
import { healthRouter } from './health';
import { memoryRouter } from './memoryRouter';
import { rateLimitPerKey } from './rateLimit';
import { runStarter } from './runStarter';
import { productionRunMirror } from './shadowMirror';
import { runsRouter, type RunsRouterDeps } from './runsRouter';
import { threadsRouter } from './threadsRouter';
import { toolsRouter } from './toolsRouter';
import { uiRouter } from './uiRouter';
import { usageRouter } from './usageRouter';
import { refuseUnstorableText, requireJsonBody } from './validation';
import { accessLog } from './accessLog';
import { pendingApprovalsByTenant } from '../db/approvals';
import { budgetsRemaining } from '../db/budgets';
import { queuedRunsByTenant } from '../db/runs';
import { configureLogger, logger, type Logger } from '../telemetry/logger';
import { createApiRegistry, metricsHandler, type GaugeSources } from '../telemetry/metrics';

import { requestSpans } from './requestSpans';
import { startTracing } from '../telemetry/tracing';

/**
 * `settings` and `alerts` default to the configuration's defaults; `memory` to full-text and trigram memory search (no embeddings);
 * `ui` to the Temporal dev server's UI and the default namespace; `metricsToken` guards `GET /metrics` (open
 * without one); `logger` writes the access log (the process's root logger by default); `traced` adds a server span per request;
 * `runEventListener` wakes event streams and chat completions (by default one on the pool's database).
 */
export type AppDeps = Omit<RunsRouterDeps, 'settings'> & BundlesRouterDeps & {
  settings?: ApiSettings; alerts?: AlertsRouterSettings; memory?: MemoryService; ui?: UiConfig; metricsToken?: string; logger?: Logger; traced?: boolean;
  runEventListener?: RunEventListener;
};

const defaultUi: UiConfig = { temporalUiUrl: 'http://127.0.0.1:8233', namespace: 'default' };

/** `codec` serves /codec for the Temporal Web UI (404 there without it); `codecCorsOrigins` may call it from a browser. */
export function createApp(deps: AppDeps & { codec?: PayloadCodec; codecCorsOrigins?: readonly string[] }): express.Express {
  const settings = deps.settings ?? defaultApiSettings;
  const runEventListener = deps.runEventListener ?? createRunEventListener(deps.db.options);
  const startRun = runStarter({ ...deps, settings, onProductionRun: productionRunMirror(deps) });
  const routerDeps = { ...deps, settings, startRun, runEventListener };
  const app = express();
  app.disable('x-powered-by');
  app.use(accessLog(deps.logger ?? logger));
  if (deps.traced) app.use(requestSpans());
  app.use(healthRouter(deps));
  // Before authentication: Prometheus scrapes with BOSUN_METRICS_TOKEN, not an API key.
  app.get('/metrics', metricsHandler(createApiRegistry(gaugeSourcesOf(deps.db)), { token: deps.metricsToken }));
  // Open without a key, like the probes: what a client generator reads first.
  app.get('/v1/openapi.json', (_req, res) => void res.json(openApiDocument()));
  // Before the other /v1 routes: it authenticates and parses itself, to answer OpenAI-shaped errors.
  app.use(chatCompletionsRouter(routerDeps));
  app.use(
    '/v1', requireJsonBody, express.json({ limit: settings.maxRequestBytes }), authenticate(deps.db), rateLimitPerKey(deps.db, settings.rateLimitPerMinute), refuseUnstorableText,
  );
  app.use(
    '/v1',
    runsRouter(routerDeps), eventsRouter(routerDeps), bundlesRouter(deps), agentsRouter(routerDeps), adminRouter(deps), usageRouter(deps),
    toolsRouter(deps), evalsRouter(deps), alertsRouter({ db: deps.db, alerts: deps.alerts ?? alertsRouterSettings(defaultAlertSettings()) }),
    memoryRouter(deps), threadsRouter(routerDeps), shadowRouter(routerDeps),
  );
  app.use('/ui', uiRouter(deps.ui ?? defaultUi));
  app.use('/codec', codecRouter({ db: deps.db, codec: deps.codec, corsOrigins: deps.codecCorsOrigins ?? [] }));
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `No route for ${req.method} ${req.path}.`)));
  app.use(errorHandler);
  return app;
}

/** The API's gauges, read from PostgreSQL at each scrape. */
function gaugeSourcesOf(db: Db): GaugeSources {
  return { pendingApprovals: () => pendingApprovalsByTenant(db), queuedRuns: () => queuedRunsByTenant(db), budgetsRemaining: () => budgetsRemaining(db) };
}

/**
 * Connects to Temporal as configuration says (with the payload codec when encryption is on) and
 * builds the app on that client.
 */
export async function connectApp(config: Config, db: Db) {
  const log = configureLogger(config, 'api');
  const connection = await Connection.connect(config.temporal.connection);
  const codec = createEncryptionCodec(config.encryption);
  // OTEL_* (docs/observability.md): each request's span, carried into the workflows it starts or signals.
  const tracing = startTracing(config.tracing, 'bosun-api');
  const temporal = new Client({
    connection, namespace: config.temporal.namespace, dataConverter: encryptingDataConverter(codec), plugins: tracing.plugins,
  });
  const app = createApp({
    db,
    temporal,
    taskQueue: config.temporal.taskQueue,
    approvalTimeoutMs: config.approvalTimeoutMs,
    modelPrices: config.model.prices,
    // Publishing lists a bundle's MCP servers, with the credentials its headers name.
    mcpListing: { secrets: createSecretStore(config.secrets), stdioCommands: config.tools.mcpStdioCommands },
    settings: config.api,
    memory: createMemoryService(db, config.memory.embeddings && createEmbedder(config.memory.embeddings)),
    codec,
    codecCorsOrigins: config.codecServer.corsOrigins,
    alerts: alertsRouterSettings(config.alerts),
    ui: { temporalUiUrl: config.temporalUiUrl, namespace: config.temporal.namespace },
    metricsToken: config.metrics.token,
    logger: log,
    traced: tracing.enabled,
  });
  return { app, temporal, connection, tracing };
}

function alertsRouterSettings(alerts: AlertSettings): AlertsRouterSettings {
  return { webhookAllowHosts: alerts.webhook.allowHosts, operatorTenants: alerts.operatorTenants };
}
