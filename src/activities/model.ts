import { ApplicationFailure, Context } from '@temporalio/activity';
import type OpenAI from 'openai';
import { z } from 'zod';
import type { ModelPrices } from '../config';
import type { BundleCache } from '../bundles/bundleStore';
import { inTransaction, type Db } from '../db/pool';
import { renderSystemPrompt, type Bundle } from '../shared/bundle';
import type { ModelReply, ToolCall, Usage } from '../shared/domain';
import { toolCatalog, type ToolName } from '../shared/tools';
import { toActivityFailure } from './modelErrors';
import { appendMessage, loadTranscript, recordStep, toChatMessage } from '../db/transcript';
import { appendRunEvent, eventKeys } from '../db/runEvents';

export interface ModelDeps {
  db: Db;
  bundles: BundleCache;
  /** The OpenAI-compatible client for a bundle's endpoint (the configured provider when undefined). */
  modelClient: (baseUrl: string | undefined) => OpenAI;
  prices: ModelPrices;
}

export interface CallModelInput {
  runId: string;
  bundleId: string;
  step: number;
}

export function createModelActivities({ db, bundles, modelClient, prices }: ModelDeps) {
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
     * One model step: reads the transcript, asks the model, appends its reply. A retry after the
     * reply was stored returns the stored reply instead of paying for a second call.
     */
    async callModel({ runId, bundleId, step }: CallModelInput): Promise<ModelReply> {
      const stored = await storedReply(db, runId, step);
      if (stored) return stored;

      const bundle = await bundles.get(bundleId);
      if (!bundle) throw ApplicationFailure.nonRetryable(`this worker does not have bundle ${bundleId}`, 'UnknownBundle');
      // At most once per step, however often the call is retried.
      await appendRunEvent(db, runId, 'step.started', eventKeys.modelStepStarted(step), { step, kind: 'model', model: bundle.model.id });
      const transcript = await loadTranscript(db, runId);
      const started = Date.now();
      const completion = await withHeartbeats(() =>
        modelClient(bundle.model.baseUrl).chat.completions.create(
          {
            model: bundle.model.id,
            temperature: bundle.model.temperature,
            max_completion_tokens: bundle.model.maxOutputTokens,
            messages: [{ role: 'system', content: renderSystemPrompt(bundle) }, ...transcript.map(toChatMessage)],
            tools: toolsOf(bundle),
          },
          { signal: Context.current().cancellationSignal },
        ),
      ).catch((err) => {
        throw toActivityFailure(err);
      });

      const message = completion.choices[0]?.message;
      const toolCalls: ToolCall[] = (message?.tool_calls ?? [])
        .filter((c) => c.type === 'function')
        .map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
      const usage = priced(prices, bundle.model.id, completion.usage);
      const reply: ModelReply = toolCalls.length
        ? { kind: 'tool_calls', toolCalls, usage }
        : { kind: 'final', text: message?.content ?? '', usage };

      const wrote = await inTransaction(db, async (client) => {
        const fresh = await appendMessage(client, runId, {
          step, ordinal: 0, role: 'assistant', content: message?.content ?? null, toolCalls: toolCalls.length ? toolCalls : undefined,
        });
        if (!fresh) return false;
        const latencyMs = Date.now() - started;
        await recordStep(client, runId, {
          step, ordinal: 0, kind: 'model', name: bundle.model.id, status: 'ok', bundleId,
          detail: reply.kind === 'final' ? { final: true } : { toolCalls: toolCalls.map((c) => c.name) },
          inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, costUsd: usage.costUsd,
          latencyMs,
        });
        const { rows } = await client.query(
          `UPDATE runs SET step_count = GREATEST(step_count, $2), input_tokens = input_tokens + $3,
             output_tokens = output_tokens + $4, cost_usd = cost_usd + $5, updated_at = now() WHERE run_id = $1
           RETURNING input_tokens, output_tokens, cost_usd`,
          [runId, step, usage.inputTokens, usage.outputTokens, usage.costUsd],
        );
        const total = rows[0];
        await appendRunEvent(client, runId, 'step.finished', eventKeys.modelStepFinished(step), {
          step, kind: 'model', model: bundle.model.id, reply: reply.kind,
          ...(reply.kind === 'tool_calls' ? { toolCalls: toolCalls.map((c) => c.name) } : {}),
          latencyMs, usage,
          totalUsage: { inputTokens: total.input_tokens, outputTokens: total.output_tokens, costUsd: total.cost_usd },
        });
        return true;
      });
      // A concurrent attempt stored its reply first; that one is the run's truth.
      return wrote ? reply : (await storedReply(db, runId, step))!;
    },
  };
}

function priced(prices: ModelPrices, model: string, usage: OpenAI.CompletionUsage | undefined): Usage {
  const inputTokens = usage?.prompt_tokens ?? 0;
  const outputTokens = usage?.completion_tokens ?? 0;
  const price = prices[model];
  const costUsd = price ? (inputTokens * price.input + outputTokens * price.output) / 1e6 : 0;
  return { inputTokens, outputTokens, costUsd: Math.round(costUsd * 1e6) / 1e6 };
}

async function storedReply(db: Db, runId: string, step: number): Promise<ModelReply | undefined> {
  const { rows } = await db.query(
    `SELECT m.content, m.tool_calls, s.input_tokens, s.output_tokens, s.cost_usd
     FROM run_messages m JOIN run_steps s USING (run_id, step, ordinal)
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

/** Long model calls heartbeat so a dead worker's call is retried elsewhere within the heartbeat timeout. */
async function withHeartbeats<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(), 1000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
