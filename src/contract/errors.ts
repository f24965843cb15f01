/** The body of every error answer of the API (src/api/errors.ts maps errors to it, in one place). */
import { z } from 'zod';

export const apiErrorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.string().describe('Stable and machine-readable, e.g. bad_request, not_found, conflict, unavailable.'),
    message: z.string().describe('One line for a human.'),
    problems: z.array(z.string()).describe('Each problem as `path: what is wrong`; empty unless the request was invalid.'),
  }),
});
export type ApiErrorBody = z.infer<typeof apiErrorBodySchema>;
