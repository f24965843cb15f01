/** The probes: `GET /healthz` (liveness) and `GET /readyz` (readiness; 503 naming what is away). */
import { z } from 'zod';

/** Answer of `GET /healthz`. */
export const healthSchema = z.strictObject({ ok: z.literal(true) });

const dependencyState = z.enum(['up', 'down']);

/** Answer of `GET /readyz`: 200 when both dependencies answer, else 503 with `Retry-After`. */
export const readinessSchema = z.strictObject({
  ready: z.boolean(),
  dependencies: z.strictObject({ postgres: dependencyState, temporal: dependencyState }),
});
export type Readiness = z.infer<typeof readinessSchema>;
