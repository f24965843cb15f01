/** The approvals inbox served at `/ui` (src/api/ui): what the page reads before anyone signs in. */
import { z } from 'zod';

/** Answer of `GET /ui/config.json`: where the page links a run in the Temporal Web UI. Public: it holds no secret. */
export const uiConfigSchema = z.strictObject({
  temporalUiUrl: z.string().describe('The Temporal Web UI as a browser reaches it, without a trailing slash.'),
  namespace: z.string().describe("The Temporal namespace Bosun's runs live in."),
});
export type UiConfig = z.infer<typeof uiConfigSchema>;
