import express from 'express';
import { adminRouter } from './adminRouter';
import { agentsRouter } from './agentsRouter';
import { authenticate } from './auth';
import { bundlesRouter } from './bundlesRouter';
import { ApiError, errorHandler } from './errors';
import { runsRouter, type RunsRouterDeps } from './runsRouter';

export type AppDeps = RunsRouterDeps;

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use('/v1', express.json({ limit: '64kb' }), authenticate(deps.db));
  app.use('/v1', runsRouter(deps), bundlesRouter(deps), agentsRouter(deps), adminRouter(deps));
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `No route for ${req.method} ${req.path}.`)));
  app.use(errorHandler);
  return app;
}
