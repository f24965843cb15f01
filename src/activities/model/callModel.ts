import { ApplicationFailure, Context } from '@temporalio/activity';
import type OpenAI from 'openai';
import type { ModelPrices } from '../../config';
import type { BundleCache } from '../../bundles/bundleStore';
import { inTransaction, type Db, type DbClient, type Queryable } from '../../db/pool';
import { budgetRefusalMessage } from '../../shared/budgets';
import { modelPriceOf, pinsOf, renderSystemPrompt, type Bundle } from '../../shared/bundle';
import type { ContextMessage, ModelReply } from '../../shared/domain';
import { callCost, priceBuckets, type ModelPrice } from '../../shared/pricing';
import { runErrorCodeOf } from '../../shared/runErrors';
import { storableJson } from '../../shared/storable';
import { holdRunEnd, lockOpenRun, RunEndedError } from '../../db/runEnd';
import { finishRunIn, type FinishRunInput } from '../runs';
import { activityContext, discardLateReply, withHeartbeats } from '../runEnded';
import { reserveBudget, reserveBudgetIn, settleBudget, type BudgetOwner, type Reservation } from '../../db/budgets';
import type { ModelCallGuard } from './callGuard';
import { readCompletion, type ReadReply, type UnusableReply } from './replies';
import { tracedChat } from './chatSpan';
import type { GenAiSpanSettings } from '../../telemetry/tracing';
import { countRetries, recordRetry, type AskedAgainReason } from '../../db/modelRetries';
import { appendMessage, countStepRows, loadTranscript, storedReplyOf } from '../../db/transcript';
import { streamCompletion } from './streaming';
import { loadThreadContext, type ThreadContext } from './threadContext';
import { recordPaidStep, type PaidCall } from './paidCalls';
import { prepareContext, routeStep, type ContextDeps } from './stepContext';
import type { Grant } from './providerLimiter';
import type { RoutedModel } from '../../shared/modelRouting';
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
      const found = await bundles.get(bundleId);
      if (!found) throw unknownBundle(bundleId);
      const bundle: Bundle = found;
      const reservationId = `${runId}:${step}`;
      const contextDeps = (owner: BudgetOwner): ContextDeps => ({
        db,
        priceOf: (summaryModel) => priceFor(bundle, summaryModel),
        refuseUnusable: (summaryCall, read) => refuseUnusable({ runId, tenantId: owner.tenantId, bundleId: bundle.id, step, ...summaryCall }, read),
        reserve: (id, req) => reserveOrRefuse(owner, id, worstCaseUsd(req, priceFor(bundle, req.model))),
        complete: (req) => withHeartbeats((signal) => modelClient(bundle.model.baseUrl).chat.completions.create(req, { signal })),
      });

      const contextInput = ({ tenantId, transcript, thread }: PlannedStep, shrink: boolean) => ({
        runId, tenantId, step, bundle, systemPrompt: renderSystemPrompt(bundle), tools: toolsOf(bundle), transcript, thread, shrink,
      });

      /** The call's worst case reserved against the tenant's budgets, then its provider's slot; a refusal to throw once committed. */
      const holdCall = async (client: DbClient, planned: PlannedStep, req: OpenAI.ChatCompletionCreateParamsNonStreaming): Promise<Hold> => {
        const worstUsd = worstCaseUsd(req, planned.price);
        const reservation = await reserveBudgetIn(client, ownerOf(planned), reservationId, worstUsd);
        if (!reservation.ok) return { ok: false, failure: async () => budgetRefusal(planned.environment, reservation, worstUsd) };
        // Over the provider's per-minute limits (all workers together) the call waits in Temporal's retry loop.
        const admission = await modelCalls.admit(client, { runId, step, baseUrl: bundle.model.baseUrl, request: req });
        if (!admission.granted) return { ok: false, failure: () => modelCalls.refused(admission.refusal) };
        return { ok: true, grant: admission.grant };
      };

      /**
       * Under a context budget: the context planned (a summary made and costed here if due, its
       * turns the recent ones), then the call held in a transaction of its own.
       */
      const planWithinBudget = async (planned: PlannedStep) => {
        const shrink = (await countRetries(db, runId, step, 'context_length_exceeded')) > 0;
        const context = await prepareContext(contextDeps(ownerOf(planned)), contextInput(planned, shrink));
        const request = requestOf(bundle, planned.model, context.messages, toolsOf(bundle));
        const hold = await inTransaction(db, async (client) => {
          // The last look before paying: a run cancelled meanwhile makes no more calls.
          await lockOpenRun(client, runId);
          return holdCall(client, planned, request);
        });
        return { request, detail: context.detail, hold };
      };

      // Everything before the call in one transaction: the stored reply of an earlier attempt, the
      // run's row (locked: a run cancelled meanwhile makes no more calls), step.started (once per
      // step, however often the call is retried), the transcript and, without a context budget, the
      // budget reservation and the provider's slot, taken last (their locks are held to the commit).
      // A refusal commits what it booked and is thrown after the commit.
      const begun = await inTransaction(db, async (client): Promise<Begun> => {
        const stored = await storedReply(client, runId, step);
        if (stored) {
          if (endsRunOnAnswer && stored.kind === 'final') await finishRunIn(client, answerEnd(runId, stored.text));
          return { kind: 'stored', reply: stored };
        }
        const run = await lockOpenRun(client, runId);
        // The bundle's routing rules pick the step's model (its one model without routing).
        const route = await routeStep(client, bundle, runId, step);
        const model = route?.model ?? bundle.model.id;
        await appendRunEvent(client, runId, 'step.started', eventKeys.modelStepStarted(step), { step, kind: 'model', model }, run);
        let price: ModelPrice;
        try {
          price = priceFor(bundle, model);
        } catch (err) {
          return { kind: 'refused', failure: async () => err };
        }
        const [own, thread] = [await loadTranscript(client, runId), await loadThreadContext(client, run.threadTurn)];
        const planned: PlannedStep = {
          tenantId: run.tenantId, environment: run.environment, stream: run.stream, route, model, price, thread,
          transcript: thread ? [...thread.transcript, ...own] : own,
        };
        // Under a context budget a summary may be due (a model call): planned after this commits.
        if (bundle.context) return { kind: 'planned', step: planned };
        const context = await prepareContext(contextDeps(ownerOf(planned)), contextInput(planned, false));
        const request = requestOf(bundle, model, context.messages, toolsOf(bundle));
        return { kind: 'ready', step: planned, request, detail: context.detail, hold: await holdCall(client, planned, request) };
      });
      if (begun.kind === 'stored') {
        if (endsRunOnAnswer && begun.reply.kind === 'final') await afterRunEnded();
        return begun.reply;
      }
      if (begun.kind === 'refused') throw await begun.failure();
      const { tenantId, environment, stream, route, model, price } = begun.step;
      const { request, detail, hold } = begun.kind === 'ready' ? begun : await planWithinBudget(begun.step);
      if (!hold.ok) throw await hold.failure();
      const { grant } = hold;

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
      const call: PaidCall = {
        runId, tenantId, bundleId: bundle.id, step, model, reservationId, latencyMs: Date.now() - started, cost: callCost(completion.usage, price),
      };
      // PostgreSQL cannot store U+0000 or lone surrogates: replaced before anyone sees the reply, so the
      // workflow, a retry and the next request all go on with what is stored (src/shared/storable.ts).
      const { value: read, replaced } = storableJson(readCompletion(completion));
      try {
        if (read.kind === 'unusable') {
          await modelCalls.completed(grant, completion.usage);
          throw await refuseUnusable(call, read, replaced);
        }
        const stepDetail = { ...(route ? { routing: { tier: route.tier, rule: route.rule } } : {}), ...detail };
        const reply = await storeReply(call, read, replaced, stepDetail, endsRunOnAnswer, { grant, usage: completion.usage }).catch(async (err) => {
          // Rolled back with the reply: the provider's tokens are settled on their own.
          await modelCalls.completed(grant, completion.usage);
          throw err;
        });
        if (endsRunOnAnswer && read.kind === 'final') await afterRunEnded();
        return reply;
      } catch (err) {
        // The run ended while the provider answered: the reply is paid for, noted as discarded, never stored.
        if (err instanceof RunEndedError) await discardLateReply(db, err, { runId, tenantId, step, ordinal: 0, model, reservationId, usage: call.cost.usage });
        throw err;
      }
    },
  };

  /** What a refused reservation throws: the run fails, or (the tenant chose to wait) retries when the window turns over. */
  function budgetRefusal(
    environment: BudgetOwner['environment'], reservation: Extract<Reservation, { ok: false }>, worstUsd: number,
  ): ApplicationFailure {
    const message = budgetRefusalMessage({ ...reservation, environment, worstUsd });
    if (!reservation.wait) return terminalFailure(FailureType.BudgetExceeded, message);
    // Retry when the window turns over (or sooner, in case the ceiling is raised).
    const untilNextWindow = Date.parse(reservation.windowEndsAt) - Date.now();
    return retryableFailure(FailureType.BudgetWait, message, { nextRetryDelay: Math.max(1000, Math.min(untilNextWindow, 15 * 60_000)) });
  }

  /** Reserves a summary call's worst case against the run's environment's budget, in a transaction of its own; throws the refusal. */
  async function reserveOrRefuse(owner: BudgetOwner, reservationId: string, worstUsd: number): Promise<void> {
    const reservation = await reserveBudget(db, owner, reservationId, worstUsd);
    if (!reservation.ok) throw budgetRefusal(owner.environment, reservation, worstUsd);
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
   * The reply, its step row, the run's totals, the budget settlement, the event and the provider's
   * real tokens: one transaction; with `endsRunOnAnswer`, a final answer's run end too (finishRun's
   * work, see finishRunIn). Returns what is stored, read in the same transaction: the run's truth (a
   * concurrent attempt may have stored its reply first), counting what the step's summary and
   * unusable replies cost with it.
   */
  async function storeReply(
    call: PaidCall, read: Exclude<ReadReply, { kind: 'unusable' }>, replacedCharacters: number, detail: Record<string, unknown>,
    endsRunOnAnswer: boolean, provider: { grant: Grant | undefined; usage: OpenAI.CompletionUsage | undefined },
  ): Promise<ModelReply> {
    const { runId, step, model, latencyMs, cost } = call;
    const toolCalls = read.kind === 'tool_calls' ? read.toolCalls : undefined;
    const content = read.kind === 'tool_calls' ? read.content : read.text;
    const ends = endsRunOnAnswer && read.kind === 'final';
    return inTransaction(db, async (client) => {
      // The run's end lock before its row's, the order of every transaction that takes both.
      if (ends) await holdRunEnd(client, runId);
      const run = await lockOpenRun(client, runId);
      if (await appendMessage(client, runId, { step, ordinal: 0, role: 'assistant', content, toolCalls })) {
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
        }, run);
        // After the step's rows, so the run's end counts them and `run.finished` is its last event.
        if (ends) await finishRunIn(client, answerEnd(runId, read.text));
      }
      // Last: the provider's bucket row is locked only until the commit (no lock is waited for after it).
      await modelCalls.completedIn(client, provider.grant, provider.usage);
      return (await storedReply(client, runId, step))!;
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

/** What the step's transaction found before the call: the step's model, price and transcript, and the run's tenant. */
interface PlannedStep {
  tenantId: string;
  /** Whose budget the call spends: a staging run's never touches production's. */
  environment: BudgetOwner['environment'];
  /** Whether the run's model calls stream their tokens. */
  stream: boolean;
  route: RoutedModel | undefined;
  model: string;
  price: ModelPrice;
  /** For a turn of a thread, the earlier turns first (./threadContext.ts), read here so a conversation never passes through the workflow. */
  thread: ThreadContext | undefined;
  transcript: ContextMessage[];
}

/** The budget reservation and the provider's slot held for the call, or the refusal to throw once committed. */
type Hold = { ok: true; grant: Grant | undefined } | { ok: false; failure: () => Promise<unknown> };

const ownerOf = ({ tenantId, environment }: PlannedStep): BudgetOwner => ({ tenantId, environment });

type Begun =
  | { kind: 'stored'; reply: ModelReply }
  | { kind: 'refused'; failure: () => Promise<unknown> }
  /** Under a context budget: the context is planned (a summary perhaps made) after the transaction. */
  | { kind: 'planned'; step: PlannedStep }
  | { kind: 'ready'; step: PlannedStep; request: OpenAI.ChatCompletionCreateParamsNonStreaming; detail?: Record<string, unknown>; hold: Hold };

/** The request of a step: system prompt and tools first, never reordered (a stable prefix the provider can cache). */
function requestOf(bundle: Bundle, model: string, messages: OpenAI.ChatCompletionMessageParam[], tools: OpenAI.ChatCompletionTool[]) {
  return {
    model,
    temperature: bundle.model.temperature,
    max_completion_tokens: bundle.model.maxOutputTokens,
    messages,
    tools,
    prompt_cache_key: bundle.id,
  } satisfies OpenAI.ChatCompletionCreateParamsNonStreaming;
}

/** How an answered run ends: what the workflow's finish recorded for it before `lean-steps`. */
function answerEnd(runId: string, text: string): FinishRunInput {
  return { runId, status: 'completed', output: text };
}

/** The step's reply once stored, costed with the step's other paid calls (its context summary and unusable replies). */
async function storedReply(db: Queryable, runId: string, step: number): Promise<ModelReply | undefined> {
  const stored = await storedReplyOf(db, runId, step);
  if (!stored) return undefined;
  return stored.toolCalls?.length
    ? { kind: 'tool_calls', toolCalls: stored.toolCalls, usage: stored.usage }
    : { kind: 'final', text: stored.content ?? '', usage: stored.usage };
}
