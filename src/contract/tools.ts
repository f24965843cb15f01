/**
 * The tool registry: `GET /v1/tools`, every tool a worker registered (src/db/toolRegistry.ts),
 * each with the worker builds that have it. What a bundle may grant by name and version.
 */
import { z } from 'zod';
import { pinnedToolSchema } from '../shared/toolSpec';
import { timestamp } from './fields';
import { routes } from './route';

export const registeredToolSchema = z.strictObject({
  name: z.string(),
  version: z.number().int(),
  schemaHash: z.string().describe('What a bundle pins (`tools[].schemaHash`); it changes with the description, kind or schemas.'),
  manifest: pinnedToolSchema.describe('What a bundle granting this tool pins.'),
  builds: z
    .array(z.strictObject({
      buildId: z.string().describe("The worker's BOSUN_BUILD_ID, or `unversioned`."),
      live: z.boolean().describe('A worker of this build has refreshed its registration within the last 45 s.'),
      lastSeenAt: timestamp,
    }))
    .describe('The worker builds that have registered this tool, version and schema.'),
});
export type RegisteredToolView = z.infer<typeof registeredToolSchema>;

/** Answer of `GET /v1/tools`: by name, newest version first. */
export const toolListSchema = z.strictObject({ tools: z.array(registeredToolSchema) });
export type ToolList = z.infer<typeof toolListSchema>;

/** The routes of the tool registry (the document's `Tools` tag; see ./route.ts). */
export const toolRoutes = routes([
  {
    method: 'get', path: '/v1/tools', tag: 'Tools', role: 'runner', summary: 'Every tool the workers have registered',
    answers: { 200: { description: 'The tools.', schema: toolListSchema } },
  },
]);
