/**
 * The `chat {model}` span of one request to the model provider, after the OpenTelemetry GenAI
 * conventions (names in src/shared/genaiAttributes.ts): what was asked, what came back, the tokens
 * and what they cost. A child of the callModel activity's span, so of the run's trace. Messages go
 * on it only when OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true, after Bosun's redaction.
 */
import { SpanKind, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';
import type OpenAI from 'openai';
import { Bosun, GenAi, GenAiOperation, OPENAI_PROVIDER, Otel, providerAttributes, runAttributes, spanNames } from '../../shared/genaiAttributes';
import { redact, REDACTED, type RedactionRules } from '../../shared/redaction';
import { bosunTracer, type GenAiSpanSettings } from '../../telemetry/tracing';

/** Which request of which run, sent to the provider at `baseUrl` (the client's). */
export interface ChatCall {
  runId: string;
  tenantId: string;
  bundleId: string;
  /** The run's environment: the span's deployment.environment.name. */
  environment?: string;
  step: number;
  baseUrl: string;
  request: OpenAI.ChatCompletionCreateParamsNonStreaming;
  /** A tool's redaction rules as its pin gives them (src/shared/toolSpec.ts), for the calls and results in the messages. */
  toolRedaction?: (tool: string) => { arguments?: RedactionRules; result?: RedactionRules } | undefined;
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
    ...(settings.captureMessageContent && { [GenAi.inputMessages]: JSON.stringify(conventionMessages(request.messages, call.toolRedaction)) }),
  };
  return bosunTracer().startActiveSpan(spanNames.chat(request.model), { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      const completion = await send();
      recordCompletion(span, completion, costUsd(completion.usage), settings.captureMessageContent && call);
      return completion;
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR }).setAttribute(Otel.errorType, errorTypeOf(err));
      throw err;
    } finally {
      span.end();
    }
  });
}

/** `content`: the call when its messages are captured, else false. */
function recordCompletion(span: Span, completion: OpenAI.ChatCompletion, costUsd: number, content: ChatCall | false): void {
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
  if (content) {
    const messages = conventionMessages(completion.choices.map((c) => c.message), content.toolRedaction);
    const output = messages.map((m, i) => ({ ...m, finish_reason: completion.choices[i]!.finish_reason }));
    span.setAttribute(GenAi.outputMessages, JSON.stringify(output));
  }
}

/** server.address and server.port of the provider's endpoint. */
function serverOf(baseUrl: string): Attributes {
  const url = new URL(baseUrl);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { [Otel.serverAddress]: url.hostname, [Otel.serverPort]: port };
}

type AnyMessage = OpenAI.ChatCompletionMessageParam | OpenAI.ChatCompletionMessage;
type ToolRedaction = ChatCall['toolRedaction'];
type ConventionMessage = { role: string; parts: Record<string, unknown>[] };

/**
 * Messages in the conventions' shape, `{ role, parts: [{ type: text | tool_call | tool_call_response, ... }] }`,
 * redacted as people see them elsewhere: every tool call's arguments and result by that tool's own
 * rules (a result that is not JSON, e.g. one cut for the model, is hidden whole when the tool has
 * result rules), and Bosun's always-redacted keys (`password`, `api_key`, ...) everywhere.
 */
function conventionMessages(messages: readonly AnyMessage[], toolRedaction: ToolRedaction): ConventionMessage[] {
  const toolOfCall = new Map<string, string>();
  for (const message of messages) {
    for (const call of ('tool_calls' in message && message.tool_calls) || []) if (call.type === 'function') toolOfCall.set(call.id, call.function.name);
  }
  const rulesOf = (tool: string | undefined) => (tool === undefined ? undefined : toolRedaction?.(tool));
  return messages.map((message) => redact(asConventionMessage(message, toolOfCall, rulesOf)) as ConventionMessage);
}

function asConventionMessage(
  message: AnyMessage, toolOfCall: ReadonlyMap<string, string>, rulesOf: (tool: string | undefined) => ReturnType<NonNullable<ToolRedaction>>,
): ConventionMessage {
  const parts: Record<string, unknown>[] = [];
  const content = 'content' in message ? message.content : undefined;
  if (message.role === 'tool' && typeof content === 'string') {
    const rules = rulesOf(toolOfCall.get(message.tool_call_id))?.result;
    parts.push({ type: 'tool_call_response', id: message.tool_call_id, response: redactedResult(content, rules) });
  } else if (typeof content === 'string' && content) {
    parts.push({ type: 'text', content });
  } else if (Array.isArray(content)) {
    for (const part of content) if (part.type === 'text') parts.push({ type: 'text', content: part.text });
  }
  for (const call of ('tool_calls' in message && message.tool_calls) || []) {
    if (call.type !== 'function') continue;
    const args = redact(parseJson(call.function.arguments), rulesOf(call.function.name)?.arguments);
    parts.push({ type: 'tool_call', id: call.id, name: call.function.name, arguments: args });
  }
  return { role: message.role, parts };
}

function redactedResult(content: string, rules: RedactionRules | undefined): unknown {
  const parsed = parseJson(content);
  if (typeof parsed === 'string' && rules) return REDACTED;
  return redact(parsed, rules);
}

/** JSON where it parses (so redaction can mask its keys), else the text. */
function parseJson(text: string): unknown {
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
