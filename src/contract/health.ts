/** The probes: `GET /healthz` (liveness) and `GET /readyz` (readiness; 503 naming what is away). */
import { z } from 'zod';
import { routes } from './route';

/** Answer of `GET /healthz`. */
export const healthSchema = z.strictObject({ ok: z.literal(true) });

const dependencyState = z.enum(['up', 'down']);

/** Answer of `GET /readyz`: 200 when both dependencies answer, else 503 with `Retry-After`. */
export const readinessSchema = z.strictObject({
  ready: z.boolean(),
  dependencies: z.strictObject({ postgres: dependencyState, temporal: dependencyState }),
});
export type Readiness = z.infer<typeof readinessSchema>;

/** The probes (the document's `Health` tag; see ./route.ts): open without a key. */
export const healthRoutes = routes([
  {
    method: 'get', path: '/healthz', tag: 'Health', role: null, summary: 'Liveness: the process answers',
    answers: { 200: { description: 'Alive.', schema: healthSchema } },
  },
  {
    method: 'get', path: '/readyz', tag: 'Health', role: null, summary: 'Readiness: PostgreSQL and Temporal both answer',
    answers: {
      200: { description: 'Ready.', schema: readinessSchema },
      503: { description: 'A dependency is away; `dependencies` names it.', schema: readinessSchema, headers: { 'Retry-After': 'Seconds to wait before asking again.' } },
    },
  },
]);
