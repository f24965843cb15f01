import type { PayloadCodec } from '@temporalio/common';
import express from 'express';
import { adminRouter } from './adminRouter';
import { agentsRouter } from './agentsRouter';
import { authenticate } from './auth';
import { bundlesRouter } from './bundlesRouter';
import { codecRouter } from './codecRouter';
import { ApiError, errorHandler } from './errors';
import { eventsRouter } from './eventsRouter';
import { runsRouter, type RunsRouterDeps } from './runsRouter';
import { usageRouter } from './usageRouter';

export type AppDeps = RunsRouterDeps;

/** `codec` serves /codec for the Temporal Web UI (404 there without it); `codecCorsOrigins` may call it from a browser. */
export function createApp(deps: AppDeps & { codec?: PayloadCodec; codecCorsOrigins?: readonly string[] }): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use('/v1', express.json({ limit: '64kb' }), authenticate(deps.db));
  app.use('/v1', runsRouter(deps), eventsRouter(deps), bundlesRouter(deps), agentsRouter(deps), adminRouter(deps), usageRouter(deps));
  app.use('/codec', codecRouter({ db: deps.db, codec: deps.codec, corsOrigins: deps.codecCorsOrigins ?? [] }));
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `No route for ${req.method} ${req.path}.`)));
  app.use(errorHandler);
  return app;
}
