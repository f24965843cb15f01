/**
 * A run's events: `GET /v1/runs/:runId/events` streams them as Server-Sent Events, each
 * `id: <seq>`, `event: <type>`, `data: <one line of JSON>`; the stream ends after `run.finished`.
 * These schemas describe each type's `data` (loose: events may gain fields).
 */
import { z } from 'zod';
import { runStatusSchema, timestamp } from './fields';
import { routes } from './route';
import { runErrorSchema, runUsageSchema } from './runs';

const eventFields = {
  runId: z.uuid(),
  bundleId: z.string(),
  at: timestamp.describe('When the event was recorded.'),
};
const stepFields = { ...eventFields, step: z.number().int() };
const deltaFields = {
  runId: z.uuid(), bundleId: z.string(), step: z.number().int(),
  attempt: z.number().int().describe('The model call\'s attempt (2 and later: a retry).'),
};

/** The `data` of each event type, by type. */
export const runEventSchemas = {
  'run.started': z.looseObject({ ...eventFields, agent: z.string(), status: runStatusSchema }),
  'step.started': z.looseObject({ ...stepFields, kind: z.literal('model'), model: z.string() }),
  'step.finished': z.looseObject({
    ...stepFields,
    kind: z.literal('model'),
    model: z.string(),
    reply: z.string().describe('What the reply was: an answer, tool calls, …'),
    toolCalls: z.array(z.string()).optional().describe('The tools the model called, by name.'),
  }),
  'tool.called': z.looseObject({ ...stepFields, ordinal: z.number().int(), toolCallId: z.string(), tool: z.string(), status: z.string() }),
  'approval.requested': z.looseObject({
    ...stepFields, approvalId: z.uuid(), toolCallId: z.string(), tool: z.string(), arguments: z.unknown(), expiresAt: timestamp,
  }),
  'approval.decided': z.looseObject({ ...eventFields, approvalId: z.uuid(), decision: z.enum(['approved', 'rejected', 'expired']) }),
  'run.finished': z.looseObject({
    ...eventFields,
    status: runStatusSchema,
    output: z.string().nullable(),
    error: runErrorSchema.nullable(),
    steps: z.number().int(),
    usage: runUsageSchema,
  }),
  // Token streaming (docs/conversations.md): a model reply's text as it arrives, and the sign that
  // the deltas of an attempt so far are void (a retried call starts over). Live only: not stored,
  // so no `id:` and no `at`, and never replayed to a stream that resumes.
  'message.delta': z.looseObject({
    ...deltaFields,
    index: z.number().int().describe('Counts the deltas of the attempt from 0: a gap means one was lost.'),
    delta: z.string().describe('The next piece of the reply\'s text.'),
  }),
  'message.reset': z.looseObject(deltaFields),
} as const;

/** Any event's `data`, for the document: the SSE `event:` line names which. */
export const runEventSchema = z
  .union(Object.values(runEventSchemas))
  .describe(`The \`data\` of one event; its \`event:\` line is one of ${Object.keys(runEventSchemas).join(', ')}.`);

/** The routes of run events (the document's `Runs` tag; see ./route.ts). */
export const eventRoutes = routes([
  {
    method: 'get', path: '/v1/runs/:runId/events', tag: 'Runs', role: 'runner', summary: "A run's events as Server-Sent Events",
    description:
      "Each event is `id: <seq>`, `event: <type>`, `data: <JSON>` (the `RunEvent` schema describes `data`); the stream ends after `run.finished`. Resume with `Last-Event-ID` (or `?after=<seq>`): exactly the events after it follow. A streamed run (`stream: true`) also sends `message.delta` and `message.reset` as its model answers: live only, without `id:`, never replayed on resume (docs/conversations.md). Comments (`: heartbeat`) keep an idle stream open.",
    params: z.object({ runId: z.string().describe('The run ID (a UUID).') }),
    query: z.object({ after: z.string().regex(/^\d{1,9}$/).optional().describe('Send the events after this seq (when no Last-Event-ID is sent).') }),
    headers: z.object({ 'last-event-id': z.string().regex(/^\d{1,9}$/).optional().describe('The last event seq the client has.') }),
    answers: {
      200: { description: 'The event stream; the schema is that of each event\'s `data`.', stream: runEventSchema },
      204: { description: 'The client already has every event, `run.finished` included: nothing more will come.' },
    },
    errors: { 404: 'No such run for this tenant.' },
  },
]);
