import { ApplicationFailure, Context } from '@temporalio/activity';
import type OpenAI from 'openai';
import type { ModelPrices } from '../../config';
import type { BundleCache } from '../../bundles/bundleStore';
import { inTransaction, type Db } from '../../db/pool';
import { budgetRefusalMessage } from '../../shared/budgets';
import { modelPriceOf, pinsOf, renderSystemPrompt, type Bundle } from '../../shared/bundle';
import type { ModelReply } from '../../shared/domain';
import { callCost, priceBuckets, type ModelPrice } from '../../shared/pricing';
import { runErrorCodeOf } from '../../shared/runErrors';
import { storableJson } from '../../shared/storable';
import { assertRunOpen, holdRunEnd, lockOpenRun, RunEndedError } from '../../db/runEnd';
import { finishRunIn, type FinishRunInput } from '../runs';
import { activityContext, discardLateReply, withHeartbeats } from '../runEnded';
import { reserveBudget, settleBudget, type BudgetOwner } from '../../db/budgets';
import type { ModelCallGuard } from './callGuard';
import { readCompletion, type ReadReply, type UnusableReply } from './replies';
import { tracedChat } from './chatSpan';
import type { GenAiSpanSettings } from '../../telemetry/tracing';
import { countRetries, recordRetry, type AskedAgainReason } from '../../db/modelRetries';
import { appendMessage, countStepRows, loadTranscript, storedReplyOf } from '../../db/transcript';
import { ownerOfRun, runStreams } from '../../db/runs';
import { streamCompletion } from './streaming';
import { loadThreadContext } from './threadContext';
import { recordPaidStep, type PaidCall } from './paidCalls';
import { prepareContext, routeStep } from './stepContext';
import { worstCaseTokens } from './tokens';
import { appendRunEvent, eventKeys } from '../../db/runEvents';
import { FailureType, retryableFailure, terminalFailure, unknownBundle } from '../../shared/failures';

export interface ModelDeps {
  db: Db;
  bundles: BundleCache;
  /** The OpenAI-compatible client for a bundle's endpoint (the configured provider when undefined). */
  modelClient: (baseUrl: string | undefined) => OpenAI;
  prices: ModelPrices;
  /** Provider limits before each request; retry counting and jittered backoff after a failed one. */
  modelCalls: ModelCallGuard;
  /** After a final answer ended its run (and on every retry that finds it so): gives the run's slot to the next queued run. */
  afterRunEnded?: () => Promise<void>;
  /** How the `chat {model}` spans look (src/activities/model/chatSpan.ts); default: no content, both name versions. */
  genai?: GenAiSpanSettings;
}

export interface CallModelInput {
  runId: string;
  bundleId: string;
  step: number;
  /**
   * A final answer ends the run (`completed`, the answer as its output) in the transaction that
   * stores it, instead of a finishRun after it. Absent from workflows from before `lean-steps`.
   */
  endsRunOnAnswer?: boolean;
}

/**
 * A step's unusable replies (refused, filtered, empty) are kept and costed below its summary
 * (ordinal -1) and its answer (ordinal 0): the first at -10, the one after the re-ask at -9.
 */
const FIRST_UNUSABLE_ORDINAL = -10;
const LAST_UNUSABLE_ORDINAL = -2;
/** The pause before asking again after an unusable reply or a prompt that was too long: no backoff, nothing is overloaded. */
const ASK_AGAIN_DELAY_MS = 1000;

const defaultGenAi: GenAiSpanSettings = { captureMessageContent: false, latestOnly: false };

export function createModelActivities({
  db, bundles, modelClient, prices, modelCalls, afterRunEnded = async () => undefined, genai = defaultGenAi,
}: ModelDeps) {
  const toolSchemas = new Map<string, OpenAI.ChatCompletionTool[]>();
  const toolsOf = (bundle: Bundle) => {
    let tools = toolSchemas.get(bundle.id);
    if (!tools) {
      // What the bundle pinned: the model sees exactly the schema the workflow checks its arguments against.
      tools = pinsOf(bundle).map(({ name, description, parameters }) => ({
        type: 'function' as const,
        function: { name, description, parameters },
      }));
      toolSchemas.set(bundle.id, tools);
    }
    return tools;
  };

  /**
   * What a call of the bundle to `model` costs per million tokens (the bundle's own price, else the
   * worker's table); a non-retryable `ModelUnpriced` before anything is spent when neither has one,
   * since budgets and cost caps cannot hold a call whose cost is unknown.
   */
  const priceFor = (bundle: Bundle, model: string): ModelPrice => {
    const price = modelPriceOf(bundle, model, prices);
    if (price) return price;
    throw terminalFailure(
      FailureType.ModelUnpriced,
      `model "${model}" has no price: neither this worker's price table (BOSUN_MODEL_PRICES) nor bundle ${bundle.id} gives one, ` +
        'so budgets and cost caps could not hold the call',
    );
  };

  return {
    /**
     * One model step: reads the transcript, reserves the call's worst case against the tenant's
     * budgets, asks the model, and stores its reply with the real cost. A retry after the reply was
     * stored returns the stored reply instead of paying for a second call. A reply with nothing to
     * go on (refused, filtered, empty) is stored and costed, asked again once, then fails the run.
     * Once the run has ended it asks nothing and stores nothing (a reply that arrives after the end
     * is only noted as discarded) and throws RunEndedError. With `endsRunOnAnswer`, a final answer
     * also ends the run, once (a retry that finds the answer stored makes sure the run has ended).
     */
    async callModel({ runId, bundleId, step, endsRunOnAnswer = false }: CallModelInput): Promise<ModelReply> {
      const stored = await storedReply(db, runId, step);
      if (stored) {
        if (endsRunOnAnswer && stored.kind === 'final') {
          await inTransaction(db, (client) => finishRunIn(client, answerEnd(runId, stored.text)));
          await afterRunEnded();
        }
        return stored;
      }

      const bundle = await bundles.get(bundleId);
      if (!bundle) throw unknownBundle(bundleId);
      // The bundle's routing rules pick the step's model (its one model without routing).
      const route = await routeStep(db, bundle, runId, step);
      const model = route?.model ?? bundle.model.id;
      const price = priceFor(bundle, model);
      // At most once per step, however often the call is retried.
      await appendRunEvent(db, runId, 'step.started', eventKeys.modelStepStarted(step), { step, kind: 'model', model });
      const { tenantId, environment, transcript, thread, stream } = await loadRunContext(db, runId);
      // The whole transcript, or under a context budget a summary (made and costed here if due) and the recent turns.
      const context = await prepareContext(
        {
          db,
          priceOf: (summaryModel) => priceFor(bundle, summaryModel),
          refuseUnusable: (summaryCall, read) => refuseUnusable({ runId, tenantId, bundleId: bundle.id, step, ...summaryCall }, read),
          reserve: (id, req) => reserveOrRefuse({ tenantId, environment }, id, worstCaseUsd(req, priceFor(bundle, req.model))),
          complete: (req) => withHeartbeats((signal) => modelClient(bundle.model.baseUrl).chat.completions.create(req, { signal })),
        },
        {
          runId, tenantId, step, bundle, systemPrompt: renderSystemPrompt(bundle), tools: toolsOf(bundle), transcript, thread,
          shrink: bundle.context !== undefined && (await countRetries(db, runId, step, 'context_length_exceeded')) > 0,
        },
      );
      const request: OpenAI.ChatCompletionCreateParamsNonStreaming = {
        model,
        temperature: bundle.model.temperature,
        max_completion_tokens: bundle.model.maxOutputTokens,
        // System prompt and tools first, never reordered: a stable prefix the provider can cache.
        messages: context.messages,
        tools: toolsOf(bundle),
        prompt_cache_key: bundle.id,
      };
      const reservationId = `${runId}:${step}`;
      // The last look before paying: a run cancelled meanwhile makes no more calls.
      await assertRunOpen(db, runId);
      await reserveOrRefuse({ tenantId, environment }, reservationId, worstCaseUsd(request, price));
      // Over the provider's per-minute limits (all workers together) the call waits in Temporal's retry loop.
      const grant = await modelCalls.admit({ runId, step, baseUrl: bundle.model.baseUrl, request });

      const started = Date.now();
      const client = modelClient(bundle.model.baseUrl);
      // The attempt numbers a streamed reply's deltas (a retry starts with message.reset); 1 outside an activity (tests calling it directly).
      const attempt = activityContext()?.info.attempt ?? 1;
      const chatCall = {
        runId, tenantId, environment, bundleId: bundle.id, step, baseUrl: client.baseURL, request,
        toolRedaction: (tool: string) => pinsOf(bundle).find((pin) => pin.name === tool)?.redact,
      };
      const completion = await tracedChat(genai, chatCall, (usage) => callCost(usage, price).usage.costUsd, () => withHeartbeats((signal) =>
        stream
          ? streamCompletion(db, client, request, signal, { runId, bundleId: bundle.id, step, attempt })
          : client.chat.completions.create(request, { signal }),
      )).catch(async (err) => {
        await inTransaction(db, (client) => settleBudget(client, tenantId, reservationId, 0));
        // Counted per run by reason; retried after Retry-After or a jittered backoff.
        const failure = await modelCalls.attemptFailed({ runId, step, grant, err, target: { baseUrl: bundle.model.baseUrl, model } });
        throw bundle.context ? await summariseOnOverflow(runId, step, failure) : failure;
      });
      await modelCalls.completed(grant, completion.usage);
      const call: PaidCall = {
        runId, tenantId, bundleId: bundle.id, step, model, reservationId, latencyMs: Date.now() - started, cost: callCost(completion.usage, price),
      };
      // PostgreSQL cannot store U+0000 or lone surrogates: replaced before anyone sees the reply, so the
      // workflow, a retry and the next request all go on with what is stored (src/shared/storable.ts).
      const { value: read, replaced } = storableJson(readCompletion(completion));
      try {
        if (read.kind === 'unusable') throw await refuseUnusable(call, read, replaced);
        await storeReply(call, read, replaced, { ...(route ? { routing: { tier: route.tier, rule: route.rule } } : {}), ...context.detail }, endsRunOnAnswer);
        if (endsRunOnAnswer && read.kind === 'final') await afterRunEnded();
      } catch (err) {
        // The run ended while the provider answered: the reply is paid for, noted as discarded, never stored.
        if (err instanceof RunEndedError) await discardLateReply(db, err, { runId, tenantId, step, ordinal: 0, model, reservationId, usage: call.cost.usage });
        throw err;
      }
      // What is stored is the run's truth (a concurrent attempt may have stored its reply first), and
      // counts what the step's summary and unusable replies cost with it.
      return (await storedReply(db, runId, step))!;
    },
  };

  /** Reserves against the run's environment's budget (a staging run's never touches production's). */
  async function reserveOrRefuse(owner: BudgetOwner, reservationId: string, worstUsd: number): Promise<void> {
    const reservation = await reserveBudget(db, owner, reservationId, worstUsd);
    if (reservation.ok) return;
    const message = budgetRefusalMessage({ ...reservation, environment: owner.environment, worstUsd });
    if (!reservation.wait) throw terminalFailure(FailureType.BudgetExceeded, message);
    // The tenant chose to wait: retry when the window turns over (or sooner, in case the ceiling is raised).
    const untilNextWindow = Date.parse(reservation.windowEndsAt) - Date.now();
    throw retryableFailure(FailureType.BudgetWait, message, { nextRetryDelay: Math.max(1000, Math.min(untilNextWindow, 15 * 60_000)) });
  }

  /**
   * A prompt the provider found too long, though it fit the bundle's context budget by Bosun's
   * estimate: asked again once, with the step's context planned against half of it (older turns
   * summarised, tool results cut). Any other failure, or a second overflow, as it is.
   */
  async function summariseOnOverflow(runId: string, step: number, failure: unknown): Promise<unknown> {
    if (!(failure instanceof ApplicationFailure) || failure.type !== FailureType.ContextLengthExceeded) return failure;
    if ((await countRetries(db, runId, step, 'context_length_exceeded')) > 0) return failure;
    await recordRetry(db, { runId, step, attempt: Context.current().info.attempt, reason: 'context_length_exceeded' });
    return ApplicationFailure.create({
      type: failure.type, message: `${failure.message}; asking again with older turns summarised`, nextRetryDelay: ASK_AGAIN_DELAY_MS,
    });
  }

  /**
   * Stores an unusable reply as a step of its own (it was paid for) and turns it into the failure
   * to throw: retryable the first time in the step, so the model is asked once more, and
   * non-retryable the second, since a model that answered so twice will not change its mind.
   * Counted in the step rather than by attempt number, which 429s and timeouts also advance.
   */
  async function refuseUnusable(call: PaidCall, read: UnusableReply, replacedCharacters = 0): Promise<ApplicationFailure> {
    const code = runErrorCodeOf(read.type) as AskedAgainReason;
    const earlier = await inTransaction(db, async (client) => {
      await lockOpenRun(client, call.runId);
      const n = await countStepRows(client, call.runId, call.step, FIRST_UNUSABLE_ORDINAL, LAST_UNUSABLE_ORDINAL);
      await recordPaidStep(client, call, {
        ordinal: Math.min(FIRST_UNUSABLE_ORDINAL + n, LAST_UNUSABLE_ORDINAL), status: code, replacedCharacters, countsStep: true,
        detail: {
          unusable: true, finishReason: read.finishReason, error: read.message,
          ...(read.refusal !== undefined ? { refusal: read.refusal } : {}), ...(read.content ? { content: read.content } : {}),
        },
      });
      return n;
    });
    if (earlier > 0) return terminalFailure(read.type, `${read.message} (asked twice)`);
    await recordRetry(db, { runId: call.runId, step: call.step, attempt: Context.current().info.attempt, reason: code });
    return retryableFailure(read.type, `${read.message}; asking once more`, { nextRetryDelay: ASK_AGAIN_DELAY_MS });
  }

  /**
   * The reply, its step row, the run's totals, the budget settlement and the event: one transaction;
   * with `endsRunOnAnswer`, a final answer's run end too (finishRun's work, see finishRunIn).
   */
  async function storeReply(
    call: PaidCall, read: Exclude<ReadReply, { kind: 'unusable' }>, replacedCharacters: number, detail: Record<string, unknown>,
    endsRunOnAnswer: boolean,
  ): Promise<void> {
    const { runId, step, model, latencyMs, cost } = call;
    const toolCalls = read.kind === 'tool_calls' ? read.toolCalls : undefined;
    const content = read.kind === 'tool_calls' ? read.content : read.text;
    const ends = endsRunOnAnswer && read.kind === 'final';
    await inTransaction(db, async (client) => {
      // The run's end lock before its row's, the order of every transaction that takes both.
      if (ends) await holdRunEnd(client, runId);
      await lockOpenRun(client, runId);
      if (!(await appendMessage(client, runId, { step, ordinal: 0, role: 'assistant', content, toolCalls }))) return;
      const totalUsage = await recordPaidStep(client, call, {
        ordinal: 0, status: 'ok', replacedCharacters, countsStep: true,
        detail: {
          ...(toolCalls ? { toolCalls: toolCalls.map((c) => c.name) } : { final: true }),
          // The reply stopped at its output token limit: a final answer is cut, a tool call may be.
          ...(read.truncated ? { truncated: true } : {}),
          ...detail,
        },
      });
      await appendRunEvent(client, runId, 'step.finished', eventKeys.modelStepFinished(step), {
        step, kind: 'model', model, reply: read.kind,
        ...(toolCalls ? { toolCalls: toolCalls.map((c) => c.name) } : {}),
        latencyMs, usage: cost.usage, cachedInputTokens: cost.buckets.cachedInput,
        totalUsage,
      });
      // After the step's rows, so the run's end counts them and `run.finished` is its last event.
      if (ends) await finishRunIn(client, answerEnd(runId, read.text));
    });
  }
}

/**
 * The most a call can cost (USD): the most tokens it may use (./tokens.ts), every prompt token
 * uncached, at `price`.
 */
export function worstCaseUsd(request: OpenAI.ChatCompletionCreateParamsNonStreaming, price: ModelPrice): number {
  const { prompt, output } = worstCaseTokens(request);
  return priceBuckets({ uncachedInput: prompt, cachedInput: 0, cacheWrite: 0, output, reasoning: 0 }, price).costUsd;
}

/**
 * What a step needs of the run: its tenant and environment (whose budget it spends), whether it
 * streams, and its transcript; for a turn of a thread, the earlier turns first
 * (src/activities/model/threadContext.ts), read here, in the activity, so a conversation never
 * passes through the workflow's inputs or history.
 */
async function loadRunContext(db: Db, runId: string) {
  const [{ tenantId, environment }, own, stream, thread] = await Promise.all([
    ownerOfRun(db, runId), loadTranscript(db, runId), runStreams(db, runId), loadThreadContext(db, runId),
  ]);
  return { tenantId, environment, stream, thread, transcript: thread ? [...thread.transcript, ...own] : own };
}

/** How an answered run ends: what the workflow's finish recorded for it before `lean-steps`. */
function answerEnd(runId: string, text: string): FinishRunInput {
  return { runId, status: 'completed', output: text };
}

/** The step's reply once stored, costed with the step's other paid calls (its context summary and unusable replies). */
async function storedReply(db: Db, runId: string, step: number): Promise<ModelReply | undefined> {
  const stored = await storedReplyOf(db, runId, step);
  if (!stored) return undefined;
  return stored.toolCalls?.length
    ? { kind: 'tool_calls', toolCalls: stored.toolCalls, usage: stored.usage }
    : { kind: 'final', text: stored.content ?? '', usage: stored.usage };
}
