/** `GET /metrics`: the API's Prometheus gauges (docs/observability.md, "Metrics"). */
import { z } from 'zod';
import { routes } from './route';

/** A Prometheus text exposition (format 0.0.4). */
const prometheusText = z.string().describe('Prometheus text exposition format 0.0.4.');

export const metricsRoutes = routes([
  {
    method: 'get', path: '/metrics', tag: 'Metrics', role: null, summary: "The API's Prometheus metrics",
    description:
      'Gauges read from PostgreSQL at each scrape (pending approvals, queued runs, budgets remaining). Not an API key: when ' +
      'BOSUN_METRICS_TOKEN is set, send `Authorization: Bearer <BOSUN_METRICS_TOKEN>`.',
    answers: {
      200: { description: 'The metrics.', schema: prometheusText, mediaType: 'text/plain' },
      401: { description: 'BOSUN_METRICS_TOKEN is set and the request did not send it.', schema: z.string(), mediaType: 'text/plain' },
      503: { description: 'A gauge could not be read (PostgreSQL away).', schema: z.string(), mediaType: 'text/plain' },
    },
  },
]);
