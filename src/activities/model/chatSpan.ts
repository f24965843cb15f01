/**
 * The `chat {model}` span of one request to the model provider, after the OpenTelemetry GenAI
 * conventions (names in src/shared/genaiAttributes.ts): what was asked, what came back, the tokens
 * and what they cost. A child of the callModel activity's span, so of the run's trace. Messages go
 * on it only when OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true, after Bosun's redaction.
 */
import { SpanKind, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';
import type OpenAI from 'openai';
import { Bosun, GenAi, GenAiOperation, OPENAI_PROVIDER, Otel, providerAttributes, runAttributes, spanNames } from '../../shared/genaiAttributes';
import { redact } from '../../shared/redaction';
import { bosunTracer, type GenAiSpanSettings } from '../../telemetry/tracing';

/** Which request of which run, sent to the provider at `baseUrl` (the client's). */
export interface ChatCall {
  runId: string;
  tenantId: string;
  bundleId: string;
  step: number;
  baseUrl: string;
  request: OpenAI.ChatCompletionCreateParamsNonStreaming;
}

/**
 * Runs `send` inside a `chat {model}` span and returns its completion; `costUsd` prices a reply's
 * usage. A failure is recorded on the span (error.type: the HTTP status, else the error's name) and rethrown.
 */
export function tracedChat(
  settings: GenAiSpanSettings,
  call: ChatCall,
  costUsd: (usage: OpenAI.CompletionUsage | undefined) => number,
  send: () => Promise<OpenAI.ChatCompletion>,
): Promise<OpenAI.ChatCompletion> {
  const { request } = call;
  const attributes: Attributes = {
    [GenAi.operationName]: GenAiOperation.chat,
    ...providerAttributes(OPENAI_PROVIDER, settings.latestOnly),
    [GenAi.requestModel]: request.model,
    [GenAi.conversationId]: call.runId,
    [Bosun.step]: call.step,
    ...serverOf(call.baseUrl),
    ...runAttributes(call),
    ...(request.max_completion_tokens != null && { [GenAi.requestMaxTokens]: request.max_completion_tokens }),
    ...(request.temperature != null && { [GenAi.requestTemperature]: request.temperature }),
    ...(settings.captureMessageContent && { [GenAi.inputMessages]: JSON.stringify(redact(request.messages.map(asConventionMessage))) }),
  };
  return bosunTracer().startActiveSpan(spanNames.chat(request.model), { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      const completion = await send();
      recordCompletion(span, completion, costUsd(completion.usage), settings.captureMessageContent);
      return completion;
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR }).setAttribute(Otel.errorType, errorTypeOf(err));
      throw err;
    } finally {
      span.end();
    }
  });
}

function recordCompletion(span: Span, completion: OpenAI.ChatCompletion, costUsd: number, withContent: boolean): void {
  const usage = completion.usage;
  span.setAttributes({
    [GenAi.responseModel]: completion.model,
    [GenAi.responseId]: completion.id,
    [GenAi.responseFinishReasons]: completion.choices.map((c) => c.finish_reason ?? 'unknown'),
    [GenAi.usageInputTokens]: usage?.prompt_tokens ?? 0,
    [GenAi.usageOutputTokens]: usage?.completion_tokens ?? 0,
    [GenAi.usageCacheReadInputTokens]: usage?.prompt_tokens_details?.cached_tokens ?? 0,
    [Bosun.costUsd]: costUsd,
  });
  if (withContent) {
    const output = completion.choices.map((c) => ({ ...asConventionMessage(c.message), finish_reason: c.finish_reason }));
    span.setAttribute(GenAi.outputMessages, JSON.stringify(redact(output)));
  }
}

/** server.address and server.port of the provider's endpoint. */
function serverOf(baseUrl: string): Attributes {
  const url = new URL(baseUrl);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { [Otel.serverAddress]: url.hostname, [Otel.serverPort]: port };
}

type AnyMessage = OpenAI.ChatCompletionMessageParam | OpenAI.ChatCompletionMessage;

/** A chat message in the conventions' shape: `{ role, parts: [{ type: text | tool_call | tool_call_response, ... }] }`. */
function asConventionMessage(message: AnyMessage): { role: string; parts: Record<string, unknown>[] } {
  const parts: Record<string, unknown>[] = [];
  const content = 'content' in message ? message.content : undefined;
  if (typeof content === 'string' && content) parts.push(message.role === 'tool' ? { type: 'tool_call_response', id: message.tool_call_id, response: content } : { type: 'text', content });
  if (Array.isArray(content)) {
    for (const part of content) if (part.type === 'text') parts.push({ type: 'text', content: part.text });
  }
  for (const call of ('tool_calls' in message && message.tool_calls) || []) {
    if (call.type === 'function') parts.push({ type: 'tool_call', id: call.id, name: call.function.name, arguments: parseArguments(call.function.arguments) });
  }
  return { role: message.role, parts };
}

/** Arguments as an object where they parse, so redaction can mask their keys (`password`, `api_key`, ...). */
function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function errorTypeOf(err: unknown): string {
  const status = (err as { status?: unknown } | undefined)?.status;
  if (typeof status === 'number') return String(status);
  return err instanceof Error ? err.name : 'unknown';
}
