/** A tenant admin's API keys and audit log: `POST|GET /v1/keys`, `DELETE /v1/keys/:keyId`, `GET /v1/audit`. */
import { z } from 'zod';
import { roles } from '../shared/roles';
import { jsonObject, pathParams, timestamp } from './fields';
import { routes } from './route';

export { roles, type Role } from '../shared/roles';

/** Body of `POST /v1/keys`. */
export const createKeyRequestSchema = z
  .object({
    name: z.string().min(1).max(100).optional(),
    roles: z.array(z.enum(roles)).min(1).max(3).describe('runner: start and read runs; approver: decide approvals; admin: bundles, deployments, keys, audit.'),
  })
  .strict();
export type CreateKeyRequest = z.infer<typeof createKeyRequestSchema>;

/** Query of `GET /v1/audit`. */
export const auditQuerySchema = z
  .object({
    runId: z.uuid().optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
  })
  .strict();
export type AuditQuery = z.infer<typeof auditQuerySchema>;

/** Answer of `POST /v1/keys` (201): the one time the plain key is shown. */
export const createdKeySchema = z.strictObject({
  key: z.string(),
  keyId: z.string(),
  roles: z.array(z.enum(roles)),
  name: z.string().nullable(),
});
export type CreatedKey = z.infer<typeof createdKeySchema>;

/** A key as `GET /v1/keys` lists it: never its secret. */
export const apiKeyInfoSchema = z.strictObject({
  keyId: z.string(),
  name: z.string().nullable(),
  roles: z.array(z.enum(roles)),
  createdBy: z.string().nullable().describe('The key that created it; null for keys from configuration.'),
  createdAt: timestamp,
  revokedAt: timestamp.nullable(),
});
export type ApiKeyInfo = z.infer<typeof apiKeyInfoSchema>;

/** Answer of `GET /v1/keys`. */
export const keyListSchema = z.strictObject({ keys: z.array(apiKeyInfoSchema) });

/** One entry of the append-only audit log. */
export const auditEntrySchema = z.strictObject({
  id: z.number().int(),
  actor: z.string().describe('An API key ID, `worker`, or `system:<what>`.'),
  action: z.string(),
  runId: z.uuid().nullable(),
  bundleId: z.string().nullable(),
  target: z.string().nullable(),
  status: z.string().nullable(),
  latencyMs: z.number().int().nullable(),
  detail: jsonObject,
  createdAt: timestamp,
});
export type AuditEntryView = z.infer<typeof auditEntrySchema>;

/** Answer of `GET /v1/audit`: oldest first. */
export const auditPageSchema = z.strictObject({ entries: z.array(auditEntrySchema) });

/** The routes of keys and the audit log (the document's `Admin` tag; see ./route.ts). */
export const adminRoutes = routes([
  {
    method: 'post', path: '/v1/keys', tag: 'Admin', role: 'admin', summary: 'Create an API key for the tenant',
    body: createKeyRequestSchema,
    answers: { 201: { description: 'The key; the only time its secret is shown.', schema: createdKeySchema } },
  },
  {
    method: 'get', path: '/v1/keys', tag: 'Admin', role: 'admin', summary: "The tenant's API keys (never their secrets)",
    answers: { 200: { description: 'The keys.', schema: keyListSchema } },
  },
  {
    method: 'delete', path: '/v1/keys/:keyId', tag: 'Admin', role: 'admin', summary: 'Revoke an API key',
    params: pathParams({ keyId: 'The key ID.' }),
    answers: { 204: { description: 'Revoked; the key stops working at once.' } },
    errors: { 404: 'No such key for this tenant.' },
  },
  {
    method: 'get', path: '/v1/audit', tag: 'Admin', role: 'admin', summary: "The tenant's audit log, oldest first",
    query: auditQuerySchema,
    answers: { 200: { description: 'Audit entries.', schema: auditPageSchema } },
  },
]);
