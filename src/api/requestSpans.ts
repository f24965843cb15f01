/**
 * A server span per API request (`POST /v1/runs`, named by its route once routed), so a run's
 * trace starts where the run does: the Temporal client's `StartWorkflow:agentRun` span is its
 * child, and the workflow's spans follow through the headers Temporal's interceptors add.
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import { Otel } from '../shared/genaiAttributes';
import { bosunTracer } from '../telemetry/tracing';

export function requestSpans(): RequestHandler {
  return (req, res, next) => {
    const span = bosunTracer().startSpan(req.method, { kind: SpanKind.SERVER, attributes: { [Otel.httpRequestMethod]: req.method } });
    res.once('finish', () => {
      // The route template (`/v1/runs/:runId`), never the path: IDs would make every span name unique.
      const route = req.route?.path === undefined ? undefined : `${req.baseUrl}${req.route.path}`;
      if (route) span.updateName(`${req.method} ${route}`).setAttribute(Otel.httpRoute, route);
      span.setAttribute(Otel.httpResponseStatusCode, res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR }).setAttribute(Otel.errorType, String(res.statusCode));
      span.end();
    });
    context.with(trace.setSpan(context.active(), span), next);
  };
}
