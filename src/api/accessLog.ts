/**
 * The API's access log (pino-http): one JSON line per answered request, with its status and time,
 * the run it concerns (`runId`, from the path) and the caller's `tenantId` once authenticated.
 * Authorization and cookie headers are redacted (src/telemetry/logger.ts). Scrapes of `/metrics`
 * and health checks log at debug level only, so they do not drown the rest; 5xx at error, the rest at info.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pinoHttp } from 'pino-http';
import type { Principal } from './auth';
import type { Logger } from '../telemetry/logger';

const runPath = /^\/v1\/runs\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[/?]|$)/i;
const quietPaths = /^\/(?:metrics|healthz|readyz)(?:\?|$)/;

/** A request as Express leaves it: `url` is relative to the router it is in, `originalUrl` whole. */
type ExpressRequest = IncomingMessage & { originalUrl?: string; principal?: Principal };
const pathOf = (req: ExpressRequest) => req.originalUrl ?? req.url ?? '';

/** The access-log middleware, writing to `logger`. */
export function accessLog(logger: Logger) {
  return pinoHttp({
    logger,
    customProps: (req: ExpressRequest) => {
      const runId = runPath.exec(pathOf(req))?.[1];
      return { ...(runId && { runId }), ...(req.principal && { tenantId: req.principal.tenantId }) };
    },
    customLogLevel: (req: ExpressRequest, res: ServerResponse, err?: Error) => {
      if (err || res.statusCode >= 500) return 'error';
      if (quietPaths.test(pathOf(req))) return 'debug';
      // A 4xx is the caller's mistake, answered as designed: not something an operator must act on.
      return 'info';
    },
  });
}
