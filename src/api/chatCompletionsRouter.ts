/**
 * `POST /v1/chat/completions`: a deployed agent as an OpenAI chat model (docs/openai-compatible.md).
 * The run starts through ./runStarter.ts, as `POST /v1/runs` starts one (on the request's thread,
 * `thread_id`, when it names one); the answer is built from the run's events (`run_events`, woken by
 * the run event listener) and its view once it stops: its output when it completes, a message with
 * its link when it waits for approval or outlives the wait, an OpenAI-shaped 422 when it fails. A
 * streamed answer's chunks are the model's token deltas as the worker streams them (the run is
 * started with `stream: true`). Every error of the route is in OpenAI's shape.
 */
import express, { Router, type Response } from 'express';
import {
  agentModelPrefix,
  chatCompletionRequestSchema,
  createRunRequestSchema,
  textOf,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type CreateRunRequest,
  type RunView,
} from '../contract';
import { findBundle } from '../bundles/bundleStore';
import { getDeployment } from '../bundles/deployments';
import type { ApiSettings } from '../config';
import type { Db } from '../db/pool';
import type { RunDelta } from '../db/runDeltas';
import type { RunEventListener } from '../db/runEventListener';
import { readRunEvents, runFinishedEvent } from '../db/runEvents';
import { loadRunView } from '../db/runs';
import { terminalStatuses } from '../shared/domain';
import { authenticate, principalOf } from './auth';
import { rateLimitPerKey } from './rateLimit';
import { ApiError, openAiErrorBody, openAiErrorHandler, toApiError } from './errors';
import { idempotencyKeyOf, type StartRun } from './runStarter';
import { parse, refuseUnstorableText } from './validation';
import { logger } from '../telemetry/logger';

export interface ChatCompletionsRouterDeps {
  db: Db;
  runEventListener: RunEventListener;
  startRun: StartRun;
  settings: Pick<ApiSettings, 'maxRequestBytes' | 'chatCompletionWaitMs' | 'rateLimitPerMinute'>;
}

const path = '/v1/chat/completions';
/** Run events read at once. */
const batchSize = 100;

/**
 * Mounted at the app's root, before the other /v1 routes, so that its own authentication and
 * body parsing answer their errors in OpenAI's shape too.
 */
export function chatCompletionsRouter({ db, runEventListener, startRun, settings }: ChatCompletionsRouterDeps): Router {
  const router = Router();

  router.post(path, express.json({ limit: settings.maxRequestBytes }), authenticate(db), rateLimitPerKey(db, settings.rateLimitPerMinute), refuseUnstorableText, async (req, res) => {
    const principal = principalOf(req, 'runner');
    const body = parse(chatCompletionRequestSchema, req.body);
    const target = await modelTarget(db, principal.tenantId, body.model);
    const run = await startRun(principal, runRequestOf(body, target), idempotencyKeyOf(req));
    const deadline = Date.now() + settings.chatCompletionWaitMs;
    const follow = (onDelta?: (delta: RunDelta) => void) =>
      followRun(db, runEventListener, run.runId, deadline, () => res.destroyed, onDelta);
    const reply = { model: body.model, waitMs: settings.chatCompletionWaitMs };
    if (body.stream) await streamAnswer(res, reply, follow, () => loadView(db, principal.tenantId, run.runId));
    else {
      await follow();
      res.json(completionOf(await loadView(db, principal.tenantId, run.runId), reply));
    }
  });

  router.use(path, openAiErrorHandler);
  return router;
}

/** The agent (and pinned bundle) `model` names; 404 `model_not_found` when the tenant has none. */
async function modelTarget(db: Db, tenantId: string, model: string): Promise<{ agent: string; bundleId?: string }> {
  if (model.startsWith(agentModelPrefix)) {
    const agent = model.slice(agentModelPrefix.length);
    if (agent && (await getDeployment(db, tenantId, agent))) return { agent };
  } else {
    const bundle = await findBundle(db, tenantId, model);
    if (bundle) return { agent: bundle.name, bundleId: bundle.id };
  }
  throw new ApiError(
    404, 'model_not_found',
    `The model "${model}" does not exist: name a deployed agent as "agent:<name>", or a bundle ID of your tenant.`,
  );
}

/**
 * The `POST /v1/runs` request a chat completion makes: the last user message is the input (the
 * bundle holds the agent's prompt; earlier messages are not sent), `user` is the routing key,
 * `thread_id` the thread the run continues (it then sees the thread's earlier turns), and a
 * streamed answer streams the model's reply.
 */
function runRequestOf(body: ChatCompletionRequest, target: { agent: string; bundleId?: string }): CreateRunRequest {
  const lastUser = body.messages.filter((m) => m.role === 'user' && textOf(m.content).trim() !== '').at(-1)!;
  return parse(createRunRequestSchema, {
    agent: target.agent,
    input: textOf(lastUser.content),
    ...(target.bundleId && { bundleId: target.bundleId }),
    ...(body.user && { routingKey: body.user }),
    ...(body.metadata && { metadata: body.metadata }),
    ...(body.thread_id && { threadId: body.thread_id }),
    ...(body.stream && { stream: true }),
  });
}

/**
 * Reads the run's events in order from the first until `run.finished` or `approval.requested`,
 * `deadline` (epoch ms) or `gone()`, handing `onDelta` the token deltas the listener delivers
 * meanwhile. Reads only when the run event listener says there may be news (and once a second,
 * should a notification be lost). The caller reads the run's view afterwards: it tells what happened.
 * A step's deltas are notified before its reply commits, on the listener's one connection: all of
 * them have been handed over when `run.finished` is read.
 */
async function followRun(
  db: Db, listener: RunEventListener, runId: string, deadline: number, gone: () => boolean, onDelta?: (delta: RunDelta) => void,
): Promise<void> {
  let woken = false;
  let wake: (() => void) | undefined;
  const unsubscribe = listener.subscribe(runId, () => {
    woken = true;
    wake?.();
  }, onDelta);
  try {
    let after = 0;
    while (!gone()) {
      woken = false;
      const events = await readRunEvents(db, runId, after, batchSize);
      for (const event of events) {
        after = event.seq;
        if (event.type === runFinishedEvent || event.type === 'approval.requested') return;
      }
      // A full batch: more are there already.
      if (events.length === batchSize) continue;
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (!woken) await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
  }
}

async function loadView(db: Db, tenantId: string, runId: string): Promise<RunView> {
  return (await loadRunView(db, tenantId, runId))!;
}

interface Reply {
  model: string;
  waitMs: number;
}

/** What the answer says: the output, or why there is none yet; throws the OpenAI-shaped 422 for a run that ended without one. */
function contentOf(view: RunView, waitMs: number): string {
  if (view.status === 'completed') return view.output ?? '';
  if (terminalStatuses.includes(view.status)) {
    throw new ApiError(422, view.error?.code ?? view.status, `The run ${view.runId} ended as ${view.status}: ${view.error?.message ?? 'no answer'}.`);
  }
  const link = `/v1/runs/${view.runId}`;
  if (view.pendingApprovals.length > 0) {
    const calls = view.pendingApprovals.map((a) => `${a.tool} (decide with POST ${link}/approvals/${a.approvalId})`).join('; ');
    return `This run is waiting for approval before it can answer: ${calls}. An approver decides; the answer will then be at ${link} (run ${view.runId}).`;
  }
  return `This run is still ${view.status} after ${Math.round(waitMs / 1000)} s; its answer will be at ${link} (run ${view.runId}).`;
}

function runExtension(view: RunView): ChatCompletion['bosun'] {
  const link = `/v1/runs/${view.runId}`;
  return {
    runId: view.runId,
    bundleId: view.bundleId,
    status: view.status,
    links: { run: link, events: `${link}/events` },
    approvals: view.pendingApprovals.map((a) => ({ approvalId: a.approvalId, tool: a.tool, decide: `${link}/approvals/${a.approvalId}` })),
  };
}

const usageOf = ({ usage }: RunView): ChatCompletion['usage'] => ({
  prompt_tokens: usage.inputTokens,
  completion_tokens: usage.outputTokens,
  total_tokens: usage.inputTokens + usage.outputTokens,
  prompt_tokens_details: { cached_tokens: usage.cachedInputTokens },
});

const headerOf = (view: RunView, model: string) => ({
  id: `chatcmpl-${view.runId}`,
  created: Math.floor(Date.parse(view.createdAt) / 1000),
  model,
});

const finishReasonOf = (view: RunView) => (view.outputTruncated ? 'length' : 'stop');

function completionOf(view: RunView, { model, waitMs }: Reply): ChatCompletion {
  return {
    ...headerOf(view, model),
    object: 'chat.completion',
    choices: [{
      index: 0,
      message: { role: 'assistant', content: contentOf(view, waitMs), refusal: null },
      finish_reason: finishReasonOf(view),
      logprobs: null,
    }],
    usage: usageOf(view),
    bosun: runExtension(view),
  };
}

/**
 * What of a streamed run's token deltas goes out as chunks: each step's text as it grows. A retried
 * model call (a new attempt, announced by `message.reset`) starts its text over: its deltas go out
 * only past the text already sent for the step, and none once it differs from that text (a chunk
 * cannot be taken back). An attempt whose delta went missing (an `index` skipped, e.g. sent before
 * the answer subscribed) sends nothing more: the end of the answer brings the rest.
 */
function deltaChunks(send: (text: string) => void) {
  const steps = new Map<number, { sent: string; attempt: number; reply: string; next: number }>();
  let lastStep: number | undefined;
  return {
    onDelta(delta: RunDelta): void {
      const { step, attempt } = delta.data;
      let text = steps.get(step);
      if (!text || text.attempt !== attempt) steps.set(step, (text = { sent: text?.sent ?? '', attempt, reply: '', next: 0 }));
      if (delta.type === 'message.reset') return;
      if (delta.data.index !== text.next) return void (text.next = -1);
      text.next += 1;
      text.reply += delta.data.delta;
      if (!text.reply.startsWith(text.sent) || text.reply.length === text.sent.length) return;
      send(text.reply.slice(text.sent.length));
      text.sent = text.reply;
      lastStep = step;
    },
    /** The text the chunks of the last step that streamed carry; '' when no delta went out. */
    lastStepText: (): string => (lastStep === undefined ? '' : steps.get(lastStep)!.sent),
  };
}

/**
 * The answer as Server-Sent Events: a chunk with the role, a chunk per token delta of the model's
 * reply (as the worker streams them: docs/conversations.md), then what of the content the deltas did
 * not carry (all of it when none came; all of it again, should a retried call's text have differed
 * from what was sent); a last chunk with `finish_reason`, `usage` and `bosun`; then `data: [DONE]`.
 * A run that fails sends OpenAI's error body as a `data:` instead, and the stream ends.
 */
async function streamAnswer(
  res: Response, { model, waitMs }: Reply, follow: (onDelta: (delta: RunDelta) => void) => Promise<void>, view: () => Promise<RunView>,
): Promise<void> {
  res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
  res.flushHeaders();
  let header: ReturnType<typeof headerOf> | undefined;
  const send = (data: unknown) => void (res.destroyed || res.write(`data: ${JSON.stringify(data)}\n\n`));
  const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], extra: Partial<ChatCompletionChunk> = {}): ChatCompletionChunk =>
    ({ ...header!, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: null, logprobs: null }], ...extra });

  try {
    header = headerOf(await view(), model);
    send(chunk({ role: 'assistant', content: '' }));
    const deltas = deltaChunks((text) => send(chunk({ content: text })));
    await follow(deltas.onDelta);
    const finalView = await view();
    const content = contentOf(finalView, waitMs);
    const streamed = finalView.status === 'completed' ? deltas.lastStepText() : '';
    const rest = content.startsWith(streamed) ? content.slice(streamed.length) : content;
    if (rest || !streamed) send(chunk({ content: rest }));
    send({
      ...chunk({}),
      choices: [{ index: 0, delta: {}, finish_reason: finishReasonOf(finalView), logprobs: null }],
      usage: usageOf(finalView),
      bosun: runExtension(finalView),
    });
    res.write('data: [DONE]\n\n');
  } catch (err) {
    // The headers are gone: the error travels as a `data:`, which OpenAI clients raise.
    if (!(err instanceof ApiError)) logger.error({ err }, 'api: chat completion stream failed');
    send(openAiErrorBody(toApiError(err)));
  } finally {
    res.end();
  }
}
