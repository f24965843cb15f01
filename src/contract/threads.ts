/**
 * Threads (docs/conversations.md): `POST /v1/threads` opens one, `GET /v1/threads` lists them,
 * `GET /v1/threads/:threadId` shows one with its messages and runs, `DELETE /v1/threads/:threadId`
 * deletes one, `POST /v1/threads/:threadId/runs` sends the next message (a run).
 */
import { z } from 'zod';
import { acceptedRunSchema, createRunRequestSchema } from './runs';
import { jsonObject, metadataSchema, nextCursor, pageCursor, pageLimit, pathParams, runStatusSchema, timestamp } from './fields';
import { routes } from './route';
import { multitaskStrategySchema } from '../shared/threads';

/** Body of `POST /v1/threads`. */
export const createThreadRequestSchema = z
  .object({
    agent: z.string().min(1).max(100).optional().describe("The agent the thread's runs go to when a run names none."),
    metadata: metadataSchema
      .optional()
      .describe('Free-form labels kept with the thread.'),
  })
  .strict();
export type CreateThreadRequest = z.infer<typeof createThreadRequestSchema>;

/** Body of `POST /v1/threads/:threadId/runs`: a run's body without `threadId`, `agent` defaulting to the thread's. */
export const threadRunRequestSchema = createRunRequestSchema
  .omit({ threadId: true, agent: true })
  .extend({ agent: z.string().min(1).max(100).optional().describe("The agent to run; the thread's by default.") })
  .strict();
export type ThreadRunRequest = z.infer<typeof threadRunRequestSchema>;

/** Query of `GET /v1/threads`. */
export const listThreadsQuerySchema = z.object({ limit: pageLimit(200, 50), cursor: pageCursor }).strict();

/** A thread in a few fields: the answer of `POST /v1/threads` (201) and an entry of `GET /v1/threads`. */
export const threadSchema = z.strictObject({
  threadId: z.uuid(),
  tenantId: z.string(),
  agent: z.string().nullable(),
  metadata: jsonObject,
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type Thread = z.infer<typeof threadSchema>;

/** Answer of `GET /v1/threads`: newest first. */
export const threadPageSchema = z.strictObject({ threads: z.array(threadSchema), nextCursor });

/** A turn of a thread: `runs[]` of `GET /v1/threads/:threadId`, in turn order. */
export const threadRunSchema = z.strictObject({
  turn: z.number().int().min(1),
  runId: z.uuid(),
  status: runStatusSchema,
  strategy: multitaskStrategySchema.describe('The double-texting strategy the run was started with.'),
  input: z.string().nullable(),
  createdAt: timestamp,
  rolledBack: z.boolean().describe('Removed from the thread by a later message (rollback): its messages are not part of the conversation.'),
});

/** A message of the conversation: `messages[]` of `GET /v1/threads/:threadId`, in order; rolled-back turns left out. */
export const threadMessageSchema = z.strictObject({
  turn: z.number().int().min(1),
  runId: z.uuid(),
  step: z.number().int(),
  role: z.enum(['user', 'assistant', 'tool']),
  content: z.string().nullable(),
  toolCalls: z.array(z.string()).nullable().describe('The tools an assistant message asked for, by name.'),
});

/** Answer of `GET /v1/threads/:threadId`. */
export const threadViewSchema = z.strictObject({
  ...threadSchema.shape,
  state: z.enum(['idle', 'busy']).describe('busy while a run of the thread is queued or running.'),
  messages: z.array(threadMessageSchema),
  runs: z.array(threadRunSchema),
});
export type ThreadView = z.infer<typeof threadViewSchema>;

const threadParams = pathParams({ threadId: 'The thread ID (a UUID).' });

/** The threads routes (runner). */
export const threadRoutes = routes([
  {
    method: 'post', path: '/v1/threads', tag: 'Threads', role: 'runner', summary: 'Open a thread (a conversation)',
    body: createThreadRequestSchema,
    answers: { 201: { description: 'The new thread.', schema: threadSchema } },
  },
  {
    method: 'get', path: '/v1/threads', tag: 'Threads', role: 'runner', summary: "List the tenant's threads, newest first",
    query: listThreadsQuerySchema,
    answers: { 200: { description: 'A page of threads.', schema: threadPageSchema } },
  },
  {
    method: 'get', path: '/v1/threads/:threadId', tag: 'Threads', role: 'runner', summary: 'Show a thread: its messages and runs',
    params: threadParams,
    answers: { 200: { description: 'The thread.', schema: threadViewSchema } },
    errors: { 404: 'No such thread for this tenant.' },
  },
  {
    method: 'delete', path: '/v1/threads/:threadId', tag: 'Threads', role: 'runner', summary: 'Delete an idle thread (its runs stay)',
    params: threadParams,
    answers: { 204: { description: 'Deleted.' } },
    errors: { 404: 'No such thread for this tenant.', 409: '`thread_busy`: a run of the thread is still active.' },
  },
  {
    method: 'post', path: '/v1/threads/:threadId/runs', tag: 'Threads', role: 'runner', summary: "Send the thread's next message (a run)",
    description: 'The run sees the conversation so far. While a run of the thread is active, `multitaskStrategy` (or the bundle\'s) decides: reject, enqueue, interrupt or rollback (docs/conversations.md).',
    params: threadParams,
    body: threadRunRequestSchema,
    answers: { 202: { description: 'The run is accepted, with its thread and turn.', schema: acceptedRunSchema } },
    errors: {
      404: 'No such thread for this tenant.',
      409: '`thread_busy`: a run of the thread is active and the strategy is reject; `rollback_refused`: the active run started a write.',
    },
  },
]);
