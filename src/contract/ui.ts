/** The approvals inbox served at `/ui` (src/api/ui): what the page reads before anyone signs in. */
import { z } from 'zod';
import { routes } from './route';

/** Answer of `GET /ui/config.json`: where the page links a run in the Temporal Web UI. Public: it holds no secret. */
export const uiConfigSchema = z.strictObject({
  temporalUiUrl: z.string().describe('The Temporal Web UI as a browser reaches it, without a trailing slash.'),
  namespace: z.string().describe("The Temporal namespace Bosun's runs live in."),
});
export type UiConfig = z.infer<typeof uiConfigSchema>;

/**
 * What the inbox's router answers itself; its static files (`/ui/`, `/ui/app.js`, …) are pages,
 * not API routes, and are left out of the document.
 */
export const uiRoutes = routes([
  {
    method: 'get', path: '/ui/config.json', tag: 'Inbox', role: null, summary: "The approvals inbox's settings",
    answers: { 200: { description: 'Where the page links a run in the Temporal Web UI.', schema: uiConfigSchema } },
  },
  {
    method: 'get', path: '/ui/vendor/eventsource-parser.js', tag: 'Inbox', role: null, summary: 'The one library the inbox page loads (an ES module)',
    answers: { 200: { description: 'eventsource-parser, as served from node_modules.', schema: z.string(), mediaType: 'text/javascript' } },
  },
]);
