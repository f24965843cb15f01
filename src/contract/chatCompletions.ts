/**
 * The OpenAI-compatible endpoint: `POST /v1/chat/completions` runs a deployed agent and answers in
 * the Chat Completions shape, so any OpenAI client can call it (docs/openai-compatible.md). Bosun's
 * own additions travel in the `bosun` field of the answer and of the last chunk.
 */
import { z } from 'zod';
import { runStatusSchema } from './fields';
import { routes } from './route';

/** `model` naming an agent's deployment: `agent:<name>`. Any other value is a bundle ID. */
export const agentModelPrefix = 'agent:';

const textPart = z.object({ type: z.literal('text'), text: z.string() });

const chatMessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(textPart), z.null()]).optional()
    .describe('Text, or text parts (`{ type: "text", text }`); other parts (images, audio) are refused.'),
  name: z.string().optional(),
});

/** Body of `POST /v1/chat/completions`. Other Chat Completions parameters are accepted and ignored: the bundle decides the model and its settings. */
export const chatCompletionRequestSchema = z
  .looseObject({
    model: z.string().min(1).max(200).describe('`agent:<name>` runs the agent\'s deployed bundle; any other value is taken as a bundle ID of the tenant.'),
    messages: z
      .array(chatMessageSchema)
      .min(1)
      .max(1000)
      .describe("The last `user` message is the run's input. `system`, `developer` and earlier messages are not sent to the agent (its bundle holds its prompt); `tool` and `function` messages are refused: the agent runs its own tools."),
    stream: z.boolean().nullish().describe('Answer with Server-Sent Events: `chat.completion.chunk`s, then `data: [DONE]`.'),
    user: z.string().min(1).max(200).optional().describe("The run's routing key: the same user lands on the same side of a canary."),
    metadata: z.record(z.string().max(64), z.string().max(512)).optional().describe("Kept with the run as its metadata."),
    thread_id: z
      .uuid()
      .optional()
      .describe("Bosun's extension: the thread (`POST /v1/threads`) the run continues. The agent then sees the thread's earlier turns, so only the new message needs sending; the thread's double-texting strategy applies (409 `thread_busy` under reject)."),
  })
  .superRefine((body, ctx) => {
    body.messages.forEach((m, i) => {
      if (m.role === 'tool' || m.role === 'function') {
        ctx.addIssue({ code: 'custom', path: ['messages', i, 'role'], message: `${m.role} messages are not accepted: the agent calls its own tools` });
      }
    });
    if (!body.messages.some((m) => m.role === 'user' && textOf(m.content).trim() !== '')) {
      ctx.addIssue({ code: 'custom', path: ['messages'], message: 'needs a user message with text: the last one is the run\'s input' });
    }
  });
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

/** The text of a message's content: a string, or its text parts joined by newlines. */
export function textOf(content: z.infer<typeof chatMessageSchema>['content']): string {
  if (typeof content === 'string') return content;
  return (content ?? []).map((part) => part.text).join('\n');
}

/** Bosun's extension of an answer: the run behind it, and why it has no final answer yet. */
export const chatCompletionRunSchema = z.strictObject({
  runId: z.uuid(),
  bundleId: z.string(),
  status: runStatusSchema.describe('completed for an answer; awaiting_approval or running when the wait ended before the run did.'),
  links: z.strictObject({ run: z.string(), events: z.string() }),
  approvals: z
    .array(z.strictObject({ approvalId: z.uuid(), tool: z.string(), decide: z.string() }))
    .describe('The approvals the run waits for: decide each with `POST <decide>` (an approver key).'),
});

const finishReason = z.enum(['stop', 'length']).describe('length: the answer stopped at the model\'s output token limit.');

const usageSchema = z.strictObject({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
  prompt_tokens_details: z.strictObject({ cached_tokens: z.number().int() }),
});

const completionFields = {
  id: z.string().describe('`chatcmpl-<runId>`.'),
  created: z.number().int().describe('Unix seconds when the run was created.'),
  model: z.string().describe('The `model` of the request.'),
};

/** Answer of `POST /v1/chat/completions` (200) without `stream`. */
export const chatCompletionSchema = z.strictObject({
  ...completionFields,
  object: z.literal('chat.completion'),
  choices: z.array(z.strictObject({
    index: z.literal(0),
    message: z.strictObject({ role: z.literal('assistant'), content: z.string(), refusal: z.null() }),
    finish_reason: finishReason,
    logprobs: z.null(),
  })).length(1),
  usage: usageSchema.describe("The run's tokens over all its model calls."),
  bosun: chatCompletionRunSchema,
});
export type ChatCompletion = z.infer<typeof chatCompletionSchema>;

/** One `data:` of the answer with `stream: true`; the last one carries `finish_reason`, `usage` and `bosun`. */
export const chatCompletionChunkSchema = z.strictObject({
  ...completionFields,
  object: z.literal('chat.completion.chunk'),
  choices: z.array(z.strictObject({
    index: z.literal(0),
    delta: z.strictObject({ role: z.literal('assistant').optional(), content: z.string().optional() }),
    finish_reason: finishReason.nullable(),
    logprobs: z.null(),
  })),
  usage: usageSchema.nullable().optional(),
  bosun: chatCompletionRunSchema.optional(),
});
export type ChatCompletionChunk = z.infer<typeof chatCompletionChunkSchema>;

/** OpenAI's error body, which every error of this route answers (also as a `data:` when a streamed run fails). */
export const chatCompletionErrorSchema = z.strictObject({
  error: z.strictObject({
    message: z.string(),
    type: z.string().describe('invalid_request_error, authentication_error, permission_error, not_found_error, run_failed, server_error.'),
    param: z.string().nullable(),
    code: z.string().nullable().describe("Bosun's error code, or the run's error code for a failed run."),
    problems: z.array(z.string()).describe('Each problem of an invalid request as `path: what is wrong`.'),
  }),
});
export type ChatCompletionError = z.infer<typeof chatCompletionErrorSchema>;

/** The OpenAI-compatible route (the document's `OpenAI-compatible` tag; see ./route.ts). */
export const chatCompletionRoutes = routes([
  {
    method: 'post', path: '/v1/chat/completions', tag: 'OpenAI-compatible', role: 'runner', summary: 'Run an agent as an OpenAI chat model',
    description:
      'Starts a run exactly as `POST /v1/runs` does (keys, tenants, roles, caps, budgets, Idempotency-Key) and waits for it, at most BOSUN_CHAT_COMPLETION_WAIT. A run that waits for approval, or outlives the wait, answers with a message naming its link and `bosun.status`. A failed run answers 422 with its error code. See docs/openai-compatible.md.',
    headers: z.object({ 'idempotency-key': z.string().optional().describe('As for `POST /v1/runs`.') }),
    body: chatCompletionRequestSchema,
    answers: {
      200: { description: 'The answer (`chat.completion`), or with `stream: true` Server-Sent Events whose `data` are `chat.completion.chunk`s, ending with `data: [DONE]`.', schema: chatCompletionSchema, stream: chatCompletionChunkSchema },
    },
    errors: {
      404: 'No agent deployment or bundle for `model` (code `model_not_found`), or no thread `thread_id` for this tenant.',
      409: 'The Idempotency-Key belongs to a different request, or the thread is busy (`thread_busy`, `rollback_refused`).',
      422: 'The run failed; `code` is its error code (e.g. budget_exceeded, step_limit, model_error).',
    },
    errorSchema: chatCompletionErrorSchema,
  },
]);
