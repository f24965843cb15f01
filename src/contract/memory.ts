/**
 * Long-term memory, the operator API (admin): `POST /v1/memories` writes a record, `GET
 * /v1/memories` lists, `GET /v1/memories/search` searches, `GET|PATCH|DELETE /v1/memories/:memoryId`
 * reads, corrects and deletes one, and `DELETE /v1/memories?subject=` serves a data subject's
 * deletion request. Expired records are never shown. See docs/memory.md.
 */
import { z } from 'zod';
import { parseDuration } from '../shared/duration';
import { memorySourceSchema, memoryTrusts } from '../shared/memory';
import { nextCursor, pageCursor, pageLimit, pathParams, timestamp } from './fields';
import { routes } from './route';

const namespace = z
  .string()
  .regex(/^[\w.@:-]{1,200}$/, 'letters, digits and _ . @ : -, at most 200')
  .describe('e.g. `user:42` or `agent:support`.');
const subject = z.string().regex(/^[\w.@-]{1,100}$/, 'letters, digits and _ . @ -, at most 100').describe('The data subject, e.g. an end user\'s ID.');
const memoryText = z.string().trim().min(1).max(4000);
const ttl = z
  .string()
  .refine((t) => parseDuration(t) !== undefined, 'a duration such as 30d, 12h or 90m')
  .describe('Expires this long from now.');

/** A stored record with its provenance. */
export const memoryRecordSchema = z.strictObject({
  memoryId: z.uuid(),
  namespace: z.string(),
  subject: z.string().nullable(),
  text: z.string(),
  trust: z.enum(memoryTrusts).describe('operator (the API), approved (a model\'s save a human approved) or agent (a model\'s save).'),
  source: memorySourceSchema.describe('Who wrote it first: the run, step, tool call and bundle, or the API key.'),
  updatedSource: memorySourceSchema.nullable().describe('Who last repeated or corrected it.'),
  createdAt: timestamp,
  updatedAt: timestamp,
  lastRecalledAt: timestamp.nullable(),
  recallCount: z.number().int(),
  expiresAt: timestamp.nullable().describe('Null: kept until deleted.'),
});
export type MemoryRecordView = z.infer<typeof memoryRecordSchema>;

/** Body of `POST /v1/memories`: an operator's record (trust `operator`). */
export const createMemoryRequestSchema = z.strictObject({
  namespace,
  text: memoryText,
  subject: subject.optional(),
  ttl: ttl.optional(),
});
export type CreateMemoryRequest = z.infer<typeof createMemoryRequestSchema>;

/** Answer of `POST /v1/memories`: 201 with a new record, 200 when it repeated a live one (updated instead). */
export const savedMemorySchema = z.strictObject({
  action: z.enum(['created', 'updated', 'repeated']),
  memory: memoryRecordSchema,
});

/** Query of `GET /v1/memories`. */
export const listMemoriesQuerySchema = z.strictObject({
  namespace: namespace.optional(),
  subject: subject.optional(),
  limit: pageLimit(100, 20),
  cursor: pageCursor,
});

/** Answer of `GET /v1/memories`: the tenant's live records, newest first. */
export const memoryPageSchema = z.strictObject({ memories: z.array(memoryRecordSchema), nextCursor });

/** Query of `GET /v1/memories/search`. */
export const searchMemoriesQuerySchema = z.strictObject({
  q: z.string().trim().min(1).max(500).describe('What to look for.'),
  namespace: namespace.optional().describe('Every namespace of the tenant when absent.'),
  limit: pageLimit(50, 10),
});

/** Answer of `GET /v1/memories/search`: best first, each with its score (full-text rank + trigram + vector similarity). */
export const memorySearchSchema = z.strictObject({
  memories: z.array(memoryRecordSchema.extend({ score: z.number() })),
});

/** Body of `PATCH /v1/memories/:memoryId`: a correction of the text (trust becomes `operator`), of the expiry, or both. */
export const correctMemoryRequestSchema = z
  .strictObject({
    text: memoryText.optional(),
    expiresAt: timestamp.nullable().optional().describe('Null: kept until deleted.'),
    ttl: ttl.optional(),
  })
  .refine((b) => b.text !== undefined || b.expiresAt !== undefined || b.ttl !== undefined, 'give text, expiresAt or ttl')
  .refine((b) => b.expiresAt === undefined || b.ttl === undefined, 'give expiresAt or ttl, not both');
export type CorrectMemoryRequest = z.infer<typeof correctMemoryRequestSchema>;

/** Query of `DELETE /v1/memories`: a data subject's deletion request. */
export const deleteSubjectQuerySchema = z.strictObject({
  subject,
  namespace: namespace.optional().describe('Only this namespace; all of them when absent.'),
});

/** Answer of `DELETE /v1/memories`: the records deleted (with their search index entries). */
export const deletedMemoriesSchema = z.strictObject({ deleted: z.array(z.uuid()) });

const memoryParams = pathParams({ memoryId: 'The memory record ID (a UUID).' });

/** The operator API of long-term memory (admin). */
export const memoryRoutes = routes([
  {
    method: 'post', path: '/v1/memories', tag: 'Memory', role: 'admin', summary: 'Write a memory record (trust operator)',
    body: createMemoryRequestSchema,
    answers: {
      201: { description: 'A new record.', schema: savedMemorySchema },
      200: { description: 'The text repeated a live record of the namespace: that record, updated.', schema: savedMemorySchema },
    },
  },
  {
    method: 'get', path: '/v1/memories', tag: 'Memory', role: 'admin', summary: "List the tenant's live records, newest first",
    query: listMemoriesQuerySchema,
    answers: { 200: { description: 'A page of records.', schema: memoryPageSchema } },
  },
  {
    method: 'get', path: '/v1/memories/search', tag: 'Memory', role: 'admin', summary: 'Search records as memory_search does',
    query: searchMemoriesQuerySchema,
    answers: { 200: { description: 'The best matches, best first.', schema: memorySearchSchema } },
  },
  {
    method: 'delete', path: '/v1/memories', tag: 'Memory', role: 'admin', summary: "Delete every record about a data subject",
    query: deleteSubjectQuerySchema,
    answers: { 200: { description: 'The records deleted.', schema: deletedMemoriesSchema } },
  },
  {
    method: 'get', path: '/v1/memories/:memoryId', tag: 'Memory', role: 'admin', summary: 'Show a record',
    params: memoryParams,
    answers: { 200: { description: 'The record.', schema: memoryRecordSchema } },
    errors: { 404: 'No such live record for this tenant.' },
  },
  {
    method: 'patch', path: '/v1/memories/:memoryId', tag: 'Memory', role: 'admin', summary: "Correct a record's text or expiry",
    params: memoryParams,
    body: correctMemoryRequestSchema,
    answers: { 200: { description: 'The corrected record.', schema: memoryRecordSchema } },
    errors: { 404: 'No such live record for this tenant.' },
  },
  {
    method: 'delete', path: '/v1/memories/:memoryId', tag: 'Memory', role: 'admin', summary: 'Delete a record',
    params: memoryParams,
    answers: { 204: { description: 'Deleted.' } },
    errors: { 404: 'No such live record for this tenant.' },
  },
]);
