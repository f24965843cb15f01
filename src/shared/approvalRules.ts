/**
 * The schema of a bundle's approval rule for a tool. Apart from ./approvals.ts, which the workflow
 * imports: zod stays out of the workflow bundle, where every cached run would evaluate it again
 * (bench/RESULTS.md, parked-run memory).
 */
import { z } from 'zod';

/** A bundle's approval rule for one tool: always, never, or only calls whose numeric argument `field` is above `value`. */
export const toolApprovalSchema = z.union([
  z.enum(['always', 'never']),
  z
    .object({
      above: z
        .object({ field: z.string().min(1).max(100), value: z.number().finite() })
        .strict()
        .describe('Gate only calls whose numeric argument `field` is above `value`.'),
    })
    .strict(),
]);
export type ToolApprovalRule = z.infer<typeof toolApprovalSchema>;
