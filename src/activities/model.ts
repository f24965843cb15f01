import { ApplicationFailure } from '@temporalio/activity';
import type OpenAI from 'openai';
import { z } from 'zod';
import type { ModelPrices } from '../config';
import type { BundleCache } from '../bundles/bundleStore';
import { inTransaction, type Db } from '../db/pool';
import { renderSystemPrompt, type Bundle } from '../shared/bundle';
import { addUsage, type ModelReply, type ToolCall, type Usage } from '../shared/domain';
import { bucketsOf, priceBuckets, type ModelPrice, type TokenBuckets } from '../shared/pricing';
import { storableJson } from '../shared/storable';
import { reserveBudget, settleBudget } from '../budgets/budgetLedger';
import { toolCatalog, type ToolName } from '../shared/tools';
import { toActivityFailure } from './modelErrors';
import type { ModelCallGuard } from './modelCallGuard';
import { appendMessage, loadTranscript, recordStep } from '../db/transcript';
import { prepareContext, routeStep } from '../context/stepContext';
import { appendRunEvent, eventKeys } from '../db/runEvents';
import { assertRunOpen, lockOpenRun, RunEndedError } from '../db/runEnd';
import { discardLateReply, withHeartbeats } from './runEnded';

export interface ModelDeps {
  db: Db;
  bundles: BundleCache;
  /** The OpenAI-compatible client for a bundle's endpoint (the configured provider when undefined). */
  modelClient: (baseUrl: string | undefined) => OpenAI;
  prices: ModelPrices;
  /** Provider limits before each request; retry counting and jittered backoff after a failed one. */
  modelCalls: ModelCallGuard;
}

export interface CallModelInput {
  runId: string;
  bundleId: string;
  step: number;
}

export function createModelActivities({ db, bundles, modelClient, prices, modelCalls }: ModelDeps) {
  const toolSchemas = new Map<string, OpenAI.ChatCompletionTool[]>();
  const toolsOf = (bundle: Bundle) => {
    let tools = toolSchemas.get(bundle.id);
    if (!tools) {
      tools = bundle.tools.map(({ name }) => ({
        type: 'function' as const,
        function: {
          name,
          description: toolCatalog[name as ToolName].description,
          parameters: z.toJSONSchema(toolCatalog[name as ToolName].args) as Record<string, unknown>,
        },
      }));
      toolSchemas.set(bundle.id, tools);
    }
    return tools;
  };

  return {
    /**
     * One model step: reads the transcript, reserves the call's worst case against the tenant's
     * budgets, asks the model, and stores its reply with the real cost. A retry after the reply was
     * stored returns the stored reply instead of paying for a second call. Once the run has ended it
     * asks nothing and stores nothing (a reply that arrives after the end is only noted as
     * discarded) and throws RunEndedError.
     */
    async callModel({ runId, bundleId, step }: CallModelInput): Promise<ModelReply> {
      const stored = await storedReply(db, runId, step);
      if (stored) return stored;

      const bundle = await bundles.get(bundleId);
      if (!bundle) throw ApplicationFailure.nonRetryable(`this worker does not have bundle ${bundleId}`, 'UnknownBundle');
      // The bundle's routing rules pick the step's model (its one model without routing).
      const route = await routeStep(db, bundle, runId, step);
      const model = route?.model ?? bundle.model.id;
      // At most once per step, however often the call is retried; and not at all once the run has ended.
      await appendRunEvent(db, runId, 'step.started', eventKeys.modelStepStarted(step), { step, kind: 'model', model });
      const { tenantId, transcript } = await loadRunContext(db, runId);
      // The whole transcript, or under a context budget a summary (made and costed here if due) and the recent turns.
      const context = await prepareContext(
        {
          db, prices,
          reserve: (id, req) => reserveOrRefuse(tenantId, id, worstCaseUsd(req, prices[req.model])),
          complete: (req) => withHeartbeats((signal) => modelClient(bundle.model.baseUrl).chat.completions.create(req, { signal })),
        },
        { runId, tenantId, step, bundle, systemPrompt: renderSystemPrompt(bundle), tools: toolsOf(bundle), transcript },
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
      await reserveOrRefuse(tenantId, reservationId, worstCaseUsd(request, prices[model]));
      // Over the provider's per-minute limits (all workers together) the call waits in Temporal's retry loop.
      const grant = await modelCalls.admit({ runId, step, baseUrl: bundle.model.baseUrl, request });

      const started = Date.now();
      const completion = await withHeartbeats((signal) =>
        modelClient(bundle.model.baseUrl).chat.completions.create(request, { signal }),
      ).catch(async (err) => {
        await inTransaction(db, (client) => settleBudget(client, tenantId, reservationId, 0));
        // Counted per run by reason; retried after Retry-After or a jittered backoff.
        throw toActivityFailure(await modelCalls.attemptFailed({ runId, step, grant, err }));
      });
      await modelCalls.completed(grant, completion.usage);
      const priced = toReply(completion, prices[model]);
      const wrote = await storeReply({
        runId, tenantId, bundle, step, priced, reservationId, latencyMs: Date.now() - started, model,
        detail: { ...(route ? { routing: { tier: route.tier, rule: route.rule } } : {}), ...context.detail },
      }).catch(async (err) => {
        if (err instanceof RunEndedError) {
          await discardLateReply(db, err, { runId, tenantId, step, ordinal: 0, model, reservationId, usage: priced.reply.usage });
        }
        throw err;
      });
      // A concurrent attempt stored its reply first; that one is the run's truth. A summary made for
      // the step counts with it, as storedReply counts it on a retry.
      const reply = priced.reply;
      return wrote
        ? (context.usage ? { ...reply, usage: addUsage(reply.usage, context.usage) } : reply)
        : (await storedReply(db, runId, step))!;
    },
  };

  async function reserveOrRefuse(tenantId: string, reservationId: string, worstUsd: number): Promise<void> {
    const reservation = await reserveBudget(db, tenantId, reservationId, worstUsd);
    if (reservation.ok) return;
    const message = `the tenant's ${reservation.period} budget of $${reservation.limitUsd} is spent ($${reservation.spentUsd} used or reserved)`;
    if (!reservation.wait) throw ApplicationFailure.nonRetryable(message, 'BudgetExceeded');
    // The tenant chose to wait: retry when the window turns over (or sooner, in case the ceiling is raised).
    const untilNextWindow = Date.parse(reservation.windowEndsAt) - Date.now();
    throw ApplicationFailure.create({ type: 'BudgetWait', message, nextRetryDelay: Math.max(1000, Math.min(untilNextWindow, 15 * 60_000)) });
  }

  interface StoredReply {
    runId: string;
    tenantId: string;
    bundle: Bundle;
    step: number;
    priced: PricedReply;
    reservationId: string;
    latencyMs: number;
    /** The model that answered (the routed one). */
    model: string;
    /** Added to the step row's detail (routing and context figures). */
    detail: Record<string, unknown>;
  }

  /**
   * The reply, its step row, the run's totals, the budget settlement and the event: one transaction,
   * with the run's row locked first; RunEndedError once the run has ended.
   */
  async function storeReply({ runId, tenantId, bundle, step, priced, reservationId, latencyMs, model, detail }: StoredReply): Promise<boolean> {
    const { reply, content, replacedCharacters, buckets, cacheSavingsUsd } = priced;
    const usage = reply.usage;
    const toolCalls = reply.kind === 'tool_calls' ? reply.toolCalls : undefined;
    return inTransaction(db, async (client) => {
      await lockOpenRun(client, runId);
      if (!(await appendMessage(client, runId, { step, ordinal: 0, role: 'assistant', content, toolCalls }))) return false;
      await recordStep(client, runId, {
        step, ordinal: 0, kind: 'model', name: model, status: 'ok', bundleId: bundle.id,
        detail: { ...(toolCalls ? { toolCalls: toolCalls.map((c) => c.name) } : { final: true }), ...detail },
        replacedCharacters, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, costUsd: usage.costUsd, latencyMs,
      });
      await client.query(
        `UPDATE run_steps SET cached_input_tokens = $3, cache_write_tokens = $4, reasoning_tokens = $5, cache_savings_usd = $6
         WHERE run_id = $1 AND step = $2 AND ordinal = 0`,
        [runId, step, buckets.cachedInput, buckets.cacheWrite, buckets.reasoning, cacheSavingsUsd],
      );
      const { rows } = await client.query(
        `UPDATE runs SET step_count = GREATEST(step_count, $2), input_tokens = input_tokens + $3,
           output_tokens = output_tokens + $4, cost_usd = cost_usd + $5, cached_input_tokens = cached_input_tokens + $6,
           cache_savings_usd = cache_savings_usd + $7, updated_at = now() WHERE run_id = $1
         RETURNING input_tokens, cached_input_tokens, output_tokens, cost_usd, cache_savings_usd`,
        [runId, step, usage.inputTokens, usage.outputTokens, usage.costUsd, buckets.cachedInput, cacheSavingsUsd],
      );
      await settleBudget(client, tenantId, reservationId, usage.costUsd);
      const total = rows[0];
      await appendRunEvent(client, runId, 'step.finished', eventKeys.modelStepFinished(step), {
        step, kind: 'model', model, reply: reply.kind,
        ...(toolCalls ? { toolCalls: toolCalls.map((c) => c.name) } : {}),
        latencyMs, usage, cachedInputTokens: buckets.cachedInput,
        totalUsage: {
          inputTokens: total.input_tokens,
          cachedInputTokens: total.cached_input_tokens,
          outputTokens: total.output_tokens,
          costUsd: total.cost_usd,
          cacheSavingsUsd: total.cache_savings_usd,
        },
      });
      return true;
    });
  }
}

interface PricedReply {
  /** As stored: the run goes on with what PostgreSQL holds, so a retry and the next request see the same. */
  reply: ModelReply;
  /** The assistant message's text (with tool calls too, when the model wrote any), as stored. */
  content: string | null;
  /** U+0000 and lone surrogates replaced in the reply (src/shared/storable.ts). */
  replacedCharacters: number;
  buckets: TokenBuckets;
  cacheSavingsUsd: number;
}

function toReply(completion: OpenAI.ChatCompletion, price: ModelPrice | undefined): PricedReply {
  const raw = completion.choices[0]?.message;
  // PostgreSQL cannot store U+0000 or lone surrogates: replaced before anyone sees the reply, so the
  // workflow, a retry and the next request all go on with what is stored.
  const { value: message, replaced: replacedCharacters } = storableJson({
    content: raw?.content ?? null,
    toolCalls: (raw?.tool_calls ?? [])
      .filter((c) => c.type === 'function')
      .map((c): ToolCall => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
  });
  const { toolCalls } = message;
  const buckets = bucketsOf(completion.usage);
  const { costUsd, cacheSavingsUsd } = priceBuckets(buckets, price);
  const usage: Usage = { inputTokens: completion.usage?.prompt_tokens ?? 0, outputTokens: completion.usage?.completion_tokens ?? 0, costUsd };
  const reply: ModelReply = toolCalls.length ? { kind: 'tool_calls', toolCalls, usage } : { kind: 'final', text: message.content ?? '', usage };
  return { reply, content: message.content, replacedCharacters, buckets, cacheSavingsUsd };
}

/** Bosun's ceiling on a reply's length when a bundle sets none, for worst-case reservations. */
const DEFAULT_MAX_OUTPUT_TOKENS = 4096;

/**
 * The most a call can cost: every prompt token uncached (estimated generously at three characters
 * a token) and a reply as long as the bundle allows.
 */
export function worstCaseUsd(request: OpenAI.ChatCompletionCreateParamsNonStreaming, price: ModelPrice | undefined): number {
  if (!price) return 0;
  const promptTokens = Math.ceil((JSON.stringify(request.messages).length + JSON.stringify(request.tools ?? []).length) / 3);
  const output = request.max_completion_tokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  return priceBuckets({ uncachedInput: promptTokens, cachedInput: 0, cacheWrite: 0, output, reasoning: 0 }, price).costUsd;
}

async function loadRunContext(db: Db, runId: string) {
  const [{ rows }, transcript] = await Promise.all([
    db.query('SELECT tenant_id FROM runs WHERE run_id = $1', [runId]),
    loadTranscript(db, runId),
  ]);
  return { tenantId: rows[0].tenant_id as string, transcript };
}

async function storedReply(db: Db, runId: string, step: number): Promise<ModelReply | undefined> {
  const { rows } = await db.query(
    // With the step's context summary (ordinal -1, src/context/stepContext.ts), if one was made: it counts with the step.
    `SELECT m.content, m.tool_calls, s.input_tokens + COALESCE(x.input_tokens, 0) AS input_tokens,
            s.output_tokens + COALESCE(x.output_tokens, 0) AS output_tokens, s.cost_usd + COALESCE(x.cost_usd, 0) AS cost_usd
     FROM run_messages m JOIN run_steps s USING (run_id, step, ordinal)
     LEFT JOIN run_steps x ON x.run_id = m.run_id AND x.step = m.step AND x.ordinal = -1
     WHERE m.run_id = $1 AND m.step = $2 AND m.ordinal = 0`,
    [runId, step],
  );
  const row = rows[0];
  if (!row) return undefined;
  const usage = { inputTokens: row.input_tokens, outputTokens: row.output_tokens, costUsd: row.cost_usd };
  return row.tool_calls?.length
    ? { kind: 'tool_calls', toolCalls: row.tool_calls, usage }
    : { kind: 'final', text: row.content ?? '', usage };
}
