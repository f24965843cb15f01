/**
 * The I/O around a model step's context and model: which model the step goes to (the bundle's
 * routing rules, from the previous step's tool rows), and what it sees (the context budget: a
 * summary call when the history no longer fits). Called by callModel (./callModel.ts).
 *
 * A summary is stored once per step where it was made, at ordinal -1 (before the step's model call,
 * ordinal 0): its text in run_messages (role 'summary'), its cost and what it covers in run_steps
 * (kind 'model', detail { summary: true, throughStep }). The transcript rows it replaces stay where
 * they are; later steps reuse the latest summary and only summarise again when the turns after it
 * outgrow the budget (folding the previous summary into the new one).
 */
import type OpenAI from 'openai';
import { inTransaction, type Db, type Queryable } from '../../db/pool';
import { appendSummary, latestSummaryOf, promptTokensOf, toolStatusesOf } from '../../db/transcript';
import { recordPaidStep } from './paidCalls';
import { lockOpenRun, RunEndedError } from '../../db/runEnd';
import { discardLateReply } from '../runEnded';
import { settleBudget } from '../../db/budgets';
import { toActivityFailure } from './errors';
import type { Bundle } from '../../shared/bundle';
import { resolveContextSettings, type ResolvedContextSettings } from '../../shared/contextWindow';
import { routeModel, type RoutedModel } from '../../shared/modelRouting';
import { callCost, type CallCost, type ModelPrice } from '../../shared/pricing';
import { readCompletion, type UnusableReply } from './replies';
import { storableText } from '../../shared/storable';
import type { ContextMessage } from '../../shared/domain';
import { buildWindow, planWindow, summaryPrompt, type StoredSummary } from './window';
import { appendThreadSummary } from '../../db/threads';
import { threadSummaryAt, threadSummaryOf, type ThreadContext } from './threadContext';

type ChatMessage = OpenAI.ChatCompletionMessageParam;

/** The transcript ordinal of a step's summary: before the step's own model call (ordinal 0). */
export const SUMMARY_ORDINAL = -1;

/**
 * The model a step goes to under the bundle's routing, with the rule that chose it; undefined for a
 * bundle without routing (its one model). Decided from rows a retry sees the same, so every attempt
 * of a step asks the same model.
 */
export async function routeStep(db: Queryable, bundle: Bundle, runId: string, step: number): Promise<RoutedModel | undefined> {
  if (!bundle.model.routing) return undefined;
  return routeModel(bundle.model, { step, previousToolStatuses: await toolStatusesOf(db, runId, step - 1) });
}

export interface ContextDeps {
  db: Db;
  /** The price of a call to a model (throws when it has none). */
  priceOf: (model: string) => ModelPrice;
  /** Records a summary reply with nothing usable in it (paid for) and gives the failure to throw: asked once more, then the run fails. */
  refuseUnusable: (call: { model: string; reservationId: string; latencyMs: number; cost: CallCost }, read: UnusableReply) => Promise<Error>;
  /** Reserves the request's worst case against the tenant's budgets (throws when refused). */
  reserve: (reservationId: string, request: OpenAI.ChatCompletionCreateParamsNonStreaming) => Promise<void>;
  /** Sends a request to the bundle's endpoint (heartbeating, cancellable); provider errors as thrown. */
  complete: (request: OpenAI.ChatCompletionCreateParamsNonStreaming) => Promise<OpenAI.ChatCompletion>;
}

export interface ContextInput {
  runId: string;
  tenantId: string;
  step: number;
  bundle: Bundle;
  systemPrompt: string;
  tools: OpenAI.ChatCompletionTool[];
  /** The run's transcript (chat messages only), in (step, ordinal) order. */
  transcript: ContextMessage[];
  /** For a turn of a thread: the thread, whose summaries the step uses and adds to (./threadContext.ts). */
  thread?: ThreadContext;
  /**
   * The provider refused this step's prompt as too long, although the estimate fit: plan it again
   * against half the prompt that was refused.
   */
  shrink?: boolean;
}

export interface PreparedContext {
  /** What the model sees: the system prompt first, always. */
  messages: ChatMessage[];
  /** For the model step's row; absent without a context budget, so such rows look as before. */
  detail?: Record<string, unknown>;
}

/**
 * The messages of a step. Without a context budget: the whole transcript. With one: the latest
 * summary and the turns after it, summarising first (one call, recorded and costed like any model
 * call) when they no longer fit. At most one summary per step.
 */
export async function prepareContext(deps: ContextDeps, input: ContextInput): Promise<PreparedContext> {
  const { bundle } = input;
  const budget = bundle.context ? resolveContextSettings(bundle.context, bundle.model) : undefined;
  if (!budget) return { messages: buildWindow({ ...windowBase(input), settings: unlimited }).messages };

  const [stored, calibration] = await Promise.all([latestSummary(deps.db, input), calibrationOf(deps.db, input.runId, input.step)]);
  const settings = input.shrink ? halved(budget, buildWindow({ ...windowBase(input), settings: budget, calibration, summary: stored?.summary })) : budget;
  const base = { ...windowBase(input), settings, calibration };
  const plan = planWindow({ ...base, summary: stored?.summary });
  let summary = stored;
  if (plan.kind === 'summarise' && stored?.step !== input.step) {
    await summarise(deps, input, settings, plan.evict, plan.throughStep, stored);
    // The stored one: a concurrent attempt may have written it first.
    summary = await latestSummary(deps.db, input);
  }
  // At most one summary per step: what is left over budget (a huge last turn) is sent as is.
  const window = buildWindow({ ...base, summary: summary?.summary });
  return {
    messages: window.messages,
    detail: {
      context: {
        maxInputTokens: settings.maxInputTokens,
        estimatedInputTokens: window.estimatedTokens,
        sentMessages: window.messages.length,
        omittedMessages: window.omittedMessages,
        truncatedToolResults: window.truncatedToolResults,
        ...(summary ? { summaryStep: summary.step, summaryThroughStep: summary.summary.throughStep } : {}),
      },
    },
  };
}

/** A budget half the size of the window the provider refused, tool results cut to fit it. */
function halved(settings: ResolvedContextSettings, refused: { estimatedTokens: number }): ResolvedContextSettings {
  const maxInputTokens = Math.floor(Math.min(settings.maxInputTokens, refused.estimatedTokens) / 2);
  return { ...settings, maxInputTokens, maxToolResultChars: Math.min(settings.maxToolResultChars, maxInputTokens) };
}

const unlimited = {
  maxInputTokens: Number.POSITIVE_INFINITY,
  keepRecentMessages: Number.POSITIVE_INFINITY,
  maxToolResultChars: Number.POSITIVE_INFINITY,
  summaryModel: '',
  summaryMaxTokens: 0,
};

function windowBase({ systemPrompt, tools, transcript }: ContextInput) {
  return { systemPrompt, toolsJson: JSON.stringify(tools), transcript };
}

interface SummaryRow {
  step: number;
  summary: StoredSummary;
}

/** The latest summary made at or before the step: the run's own, or for a turn of a thread the thread's. */
async function latestSummary(db: Db, { runId, step, thread }: ContextInput): Promise<SummaryRow | undefined> {
  if (thread) return threadSummaryAt(db, thread, runId, step);
  const row = await latestSummaryOf(db, runId, step, SUMMARY_ORDINAL);
  return row && { step: row.step, summary: { content: row.content, throughStep: row.throughStep } };
}

/**
 * Real prompt tokens per estimated token of the previous step's call (its provider's tokenizer
 * against chars/4), so the estimate follows the model actually used; 1 when unknown.
 */
async function calibrationOf(db: Db, runId: string, step: number): Promise<number> {
  const { real, estimated } = await promptTokensOf(db, runId, step - 1);
  if (!real || !estimated) return 1;
  return Math.min(4, Math.max(0.5, real / estimated));
}

/** One summary call, reserved against the tenant's budgets and recorded like any model call. */
async function summarise(
  deps: ContextDeps, input: ContextInput, settings: ReturnType<typeof resolveContextSettings>,
  evict: ContextMessage[], throughStep: number, previous: SummaryRow | undefined,
): Promise<void> {
  const { db } = deps;
  const { runId, tenantId, step, bundle } = input;
  const price = deps.priceOf(settings.summaryModel);
  const request: OpenAI.ChatCompletionCreateParamsNonStreaming = {
    model: settings.summaryModel,
    messages: summaryPrompt(evict, previous?.summary.content, settings),
    max_completion_tokens: settings.summaryMaxTokens,
    prompt_cache_key: `${bundle.id}:summary`,
  };
  const reservationId = `${runId}:${step}:summary`;
  await deps.reserve(reservationId, request);
  const started = Date.now();
  const completion = await deps.complete(request).catch(async (err) => {
    await inTransaction(db, (client) => settleBudget(client, tenantId, reservationId, 0));
    throw toActivityFailure(err);
  });
  const latencyMs = Date.now() - started;
  const cost = callCost(completion.usage, price);
  // A refused, filtered or empty summary is no summary: the turns it was to replace would be lost.
  const read = readCompletion(completion);
  if (read.kind === 'unusable') throw await deps.refuseUnusable({ model: settings.summaryModel, reservationId, latencyMs, cost }, read);
  const content = storableText(read.kind === 'final' ? read.text : (read.content ?? ''));
  const { usage } = cost;

  // Nothing is stored once the run has ended (src/db/runEnd.ts); the paid summary is noted as discarded.
  await inTransaction(db, async (client) => {
    await lockOpenRun(client, runId);
    if (!(await appendSummary(client, runId, step, SUMMARY_ORDINAL, content.value))) return;
    if (input.thread) await appendThreadSummary(client, input.thread.threadId, threadSummaryOf(input.thread, runId, step, throughStep, content.value));
    const call = { runId, tenantId, bundleId: bundle.id, step, model: settings.summaryModel, reservationId, latencyMs, cost };
    await recordPaidStep(client, call, {
      ordinal: SUMMARY_ORDINAL, status: 'ok', replacedCharacters: content.replaced, countsStep: false,
      detail: {
        summary: true,
        throughStep,
        summarisedMessages: evict.length,
        ...(previous ? { previousSummaryStep: previous.step } : {}),
      },
    });
  }).catch(async (err) => {
    if (err instanceof RunEndedError) {
      await discardLateReply(db, err, { runId, tenantId, step, ordinal: SUMMARY_ORDINAL, model: settings.summaryModel, reservationId, usage });
    }
    throw err;
  });
}
