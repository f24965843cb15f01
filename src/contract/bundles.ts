/**
 * Bundles: an agent's prompt, tools, model and limits under one content-addressed ID.
 * `POST /v1/bundles`, `GET /v1/bundles/:bundleId`, `GET /v1/bundles/:a/diff/:b`, `GET /v1/agents/:agent/bundles`.
 * The content's schema is domain (the worker reads bundles too): it lives in src/shared/bundle.ts.
 */
import { z } from 'zod';
import { bundleContentSchema } from '../shared/bundle';
import { pinnedToolSchema } from '../shared/toolSpec';
import { pathParams, timestamp } from './fields';
import { routes } from './route';

/**
 * Body of `POST /v1/bundles`; src/shared/bundle.ts (bundleProblems, pricingProblems) checks what a
 * schema cannot, src/bundles/toolPins.ts pins the tools.
 */
export const publishBundleRequestSchema = bundleContentSchema.extend({
  pinnedTools: z
    .array(z.unknown())
    .optional()
    .describe('Ignored: Bosun pins the tools from its registry. Accepted so a fetched bundle can be posted again as it is.'),
});
export type PublishBundleRequest = z.input<typeof publishBundleRequestSchema>;

/** Answer of `GET /v1/bundles/:bundleId`: the content with its defaults, and the ID it hashes to. */
export const bundleSchema = bundleContentSchema.extend({
  id: z.string(),
  pinnedTools: z.array(pinnedToolSchema).optional().describe('Each granted tool as pinned at publish; absent in bundles from before pinning.'),
});
export type BundleView = z.infer<typeof bundleSchema>;

/** Answer of `POST /v1/bundles`: 201 when `created`, 200 when the tenant already had this content. */
export const publishedBundleSchema = z.strictObject({ bundleId: z.string(), created: z.boolean(), bundle: bundleSchema });
export type PublishedBundle = z.infer<typeof publishedBundleSchema>;

export const bundleSummarySchema = z.strictObject({
  bundleId: z.string(),
  agent: z.string(),
  description: z.string().nullable(),
  publishedBy: z.string(),
  publishedAt: timestamp,
});
export type BundleSummary = z.infer<typeof bundleSummarySchema>;

/** Answer of `GET /v1/agents/:agent/bundles`: newest first. */
export const bundleListSchema = z.strictObject({ bundles: z.array(bundleSummarySchema) });
export type BundleList = z.infer<typeof bundleListSchema>;

/** Answer of `GET /v1/bundles/:bundleId/diff/:otherBundleId`: the leaf values that differ, by dotted path. */
export const bundleDiffSchema = z.strictObject({
  from: z.string(),
  to: z.string(),
  changes: z.array(z.strictObject({ path: z.string(), from: z.unknown(), to: z.unknown() })),
});
export type BundleDiff = z.infer<typeof bundleDiffSchema>;

/** The routes of bundles (the document's `Bundles` tag; see ./route.ts). */
export const bundleRoutes = routes([
  {
    method: 'post', path: '/v1/bundles', tag: 'Bundles', role: 'admin', summary: 'Publish a bundle',
    description: "Validates the bundle, pins its tools from the registry and stores it under the ID its content hashes to. Publishing changes no agent's deployment.",
    body: publishBundleRequestSchema,
    answers: {
      201: { description: 'The bundle is new.', schema: publishedBundleSchema },
      200: { description: 'The tenant already had this content.', schema: publishedBundleSchema },
    },
  },
  {
    method: 'get', path: '/v1/bundles/:bundleId', tag: 'Bundles', role: 'runner', summary: 'Show a bundle',
    params: pathParams({ bundleId: 'The bundle ID.' }),
    answers: { 200: { description: 'The bundle.', schema: bundleSchema } },
    errors: { 404: 'No such bundle for this tenant.' },
  },
  {
    method: 'get', path: '/v1/bundles/:bundleId/diff/:otherBundleId', tag: 'Bundles', role: 'runner', summary: 'What differs between two bundles',
    params: pathParams({ bundleId: 'The bundle to compare from.', otherBundleId: 'The bundle to compare to.' }),
    answers: { 200: { description: 'The leaf values that differ.', schema: bundleDiffSchema } },
    errors: { 404: 'Either bundle is unknown to this tenant.' },
  },
  {
    method: 'get', path: '/v1/agents/:agent/bundles', tag: 'Bundles', role: 'runner', summary: "An agent's bundles, newest first",
    params: pathParams({ agent: 'The agent name.' }),
    answers: { 200: { description: 'The bundles.', schema: bundleListSchema } },
  },
]);
