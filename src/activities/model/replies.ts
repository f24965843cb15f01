/**
 * What a provider's 200 holds for the run. A chat completion can be a well-formed answer and still
 * carry nothing to go on: a refusal, a reply its content filter stopped, no choice at all, or empty
 * text. Those never end a run as `completed` with an empty answer; callModel asks once more, then
 * fails the run with their own code (docs/provider-errors.md). Pure: no I/O.
 */
import type OpenAI from 'openai';
import type { ToolCall } from '../../shared/domain';
import { isJsonText } from '../../shared/toolArguments';
import { FailureType } from '../../shared/failures';

/** The failure types of an unusable reply (src/shared/failures.ts gives their run error codes). */
export type UnusableReplyType = typeof FailureType.ModelRefused | typeof FailureType.ContentFiltered | typeof FailureType.EmptyReply;

export type ReadReply = { finishReason: string | null } & (
  | {
      kind: 'tool_calls';
      /** What the model said alongside its calls. */
      content: string | null;
      /** A call cut inside its arguments by the output token limit is marked `truncated` and never runs. */
      toolCalls: ToolCall[];
      /** The reply stopped at the output token limit. */
      truncated: boolean;
    }
  | { kind: 'final'; text: string; truncated: boolean }
  | {
      kind: 'unusable';
      type: UnusableReplyType;
      /** Why, for the run's error message: the refusal's own words where there are some. */
      message: string;
      refusal?: string;
      /** Whatever text came with it (a filtered reply may hold its beginning). */
      content: string | null;
    }
);

export type UnusableReply = Extract<ReadReply, { kind: 'unusable' }>;

/** The completion's first choice, read for the run. */
export function readCompletion(completion: OpenAI.ChatCompletion): ReadReply {
  const choice = completion.choices?.[0];
  if (!choice) {
    return promptFiltered(completion)
      ? unusable(null, FailureType.ContentFiltered, "the provider's content filter blocked the prompt (a reply with no choices)")
      : unusable(null, FailureType.EmptyReply, 'the provider answered with no choices');
  }
  const finishReason = choice.finish_reason ?? null;
  const message = choice.message as OpenAI.ChatCompletionMessage | undefined;
  if (!message) return unusable(finishReason, FailureType.EmptyReply, `the reply held no message (finish_reason ${finishReason})`);
  const content = message.content ?? null;
  if (message.refusal?.trim()) {
    return unusable(finishReason, FailureType.ModelRefused, `the model refused: ${message.refusal}`, content, message.refusal);
  }
  if (finishReason === 'content_filter') {
    return unusable(finishReason, FailureType.ContentFiltered, "the provider's content filter stopped the reply (finish_reason content_filter)", content);
  }
  const truncated = finishReason === 'length';
  const calls = (message.tool_calls ?? []).filter((c) => c.type === 'function');
  if (calls.length) {
    const toolCalls = calls.map((c): ToolCall => ({
      id: c.id,
      name: c.function.name,
      arguments: c.function.arguments,
      // Cut mid-arguments: JSON that does not parse. A call whose JSON closed was written whole.
      ...(truncated && !isJsonText(c.function.arguments) ? { truncated: true as const } : {}),
    }));
    return { kind: 'tool_calls', finishReason, content, toolCalls, truncated };
  }
  if (content?.trim()) return { kind: 'final', finishReason, text: content, truncated };
  return unusable(finishReason, FailureType.EmptyReply, emptyReason(message, finishReason), content);
}

function unusable(
  finishReason: string | null, type: UnusableReplyType, message: string, content: string | null = null, refusal?: string,
): ReadReply {
  return { kind: 'unusable', finishReason, type, message, content, ...(refusal !== undefined ? { refusal } : {}) };
}

function emptyReason(message: OpenAI.ChatCompletionMessage, finishReason: string | null): string {
  const otherTypes = [...new Set((message.tool_calls ?? []).map((c) => c.type))];
  if (otherTypes.length) return `the reply asked only for tool calls of a type Bosun does not run (${otherTypes.join(', ')})`;
  if (finishReason === 'length') return 'the reply reached its output token limit before it said anything (finish_reason length)';
  return `the reply held neither text nor a tool call (finish_reason ${finishReason})`;
}

/** Azure OpenAI's verdict on the prompt, sent beside (or instead of) the choices. */
interface PromptFilterResult {
  content_filter_results?: Record<string, { filtered?: boolean } | undefined>;
}

function promptFiltered(completion: OpenAI.ChatCompletion): boolean {
  const results = (completion as { prompt_filter_results?: PromptFilterResult[] }).prompt_filter_results ?? [];
  return results.some((r) => Object.values(r.content_filter_results ?? {}).some((c) => c?.filtered === true));
}
