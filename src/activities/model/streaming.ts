/**
 * A model call in streaming mode (bundle `model.stream` or a run's `stream`): the OpenAI SDK's
 * chat completion stream, its text deltas published as they arrive (src/db/runDeltas.ts), and the
 * same ChatCompletion in the end as a call without streaming gives, so what is stored, costed and
 * retried does not change. A retried attempt starts with `message.reset`: a client drops what the
 * earlier attempt sent. Deltas are best effort (a failed notification is not the call's failure).
 */
import { log } from '@temporalio/activity';
import type OpenAI from 'openai';
import type { Db } from '../../db/pool';
import { MAX_DELTA_CHARS, notifyRunDelta } from '../../db/runDeltas';

export interface StreamedStep {
  runId: string;
  bundleId: string;
  step: number;
  /** The activity's attempt (1 for the first). */
  attempt: number;
}

/** Streams `request`, publishing its text as it arrives; resolves to the whole completion (usage included). */
export async function streamCompletion(
  db: Db, client: OpenAI, request: OpenAI.ChatCompletionCreateParamsNonStreaming, signal: AbortSignal, at: StreamedStep,
): Promise<OpenAI.ChatCompletion> {
  const publisher = deltaPublisher(db, at);
  if (at.attempt > 1) publisher.reset();
  const stream = client.chat.completions.stream({ ...request, stream: true, stream_options: { include_usage: true } }, { signal });
  stream.on('content', (delta) => publisher.push(delta));
  try {
    return (await stream.finalChatCompletion()) as OpenAI.ChatCompletion;
  } finally {
    // Every delta is out before the reply is stored, so a stream shows them before the step's end.
    await publisher.flushed();
  }
}

/**
 * Publishes in order, one notification at a time: text that arrives while one is being sent is
 * sent together in the next, so a fast model costs fewer notifications and a slow one gets each
 * token out at once.
 */
function deltaPublisher(db: Db, { runId, bundleId, step, attempt }: StreamedStep) {
  let pending = '';
  let index = 0;
  let chain: Promise<void> = Promise.resolve();
  let sending = false;
  const send = (delta: Parameters<typeof notifyRunDelta>[1]) =>
    notifyRunDelta(db, delta).catch((err) => log.warn('a token delta was not published', { runId, step, error: String(err) }));

  function drain(): void {
    if (sending || !pending) return;
    sending = true;
    const text = pending.slice(0, MAX_DELTA_CHARS);
    pending = pending.slice(text.length);
    chain = chain
      .then(() => send({ type: 'message.delta', data: { runId, bundleId, step, attempt, index: index++, delta: text } }))
      .then(() => {
        sending = false;
        drain();
      });
  }

  return {
    reset(): void {
      chain = chain.then(() => send({ type: 'message.reset', data: { runId, bundleId, step, attempt } }));
    },
    push(text: string): void {
      pending += text;
      drain();
    },
    /** Resolves once everything pushed so far is sent. */
    async flushed(): Promise<void> {
      while (sending || pending) {
        drain();
        await chain;
      }
    },
  };
}
