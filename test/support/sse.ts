/**
 * A small Server-Sent Events client over Node's fetch, for tests: parses the stream as the
 * EventSource spec does (fields, multi-line data, comments, blank-line dispatch) without reconnecting.
 */

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export interface SseConnection {
  status: number;
  headers: Headers;
  /** The next event, or undefined once the server ended the stream (or it was closed). */
  next(timeoutMs?: number): Promise<SseEvent | undefined>;
  /** Every event up to the end of the stream. */
  rest(timeoutMs?: number): Promise<SseEvent[]>;
  /** Comment lines received so far (heartbeats), without the leading colon. */
  comments: string[];
  /** Whether the server ended the stream. */
  readonly ended: boolean;
  /** Disconnects, as a client going away does. */
  close(): Promise<void>;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const comments: string[] = [];
  const queue: SseEvent[] = [];
  let ended = false;

  if (!res.ok || !res.body) {
    await res.body?.cancel();
    return {
      status: res.status, headers: res.headers, comments, ended: true,
      next: async () => undefined, rest: async () => [], close: async () => undefined,
    };
  }

  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let id: string | undefined;
  let event = '';
  let data: string[] = [];

  const parseLine = (line: string) => {
    if (line === '') {
      if (data.length > 0 || event) queue.push({ id, event: event || 'message', data: data.join('\n') });
      event = '';
      data = [];
      return;
    }
    if (line.startsWith(':')) {
      comments.push(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    // `retry` and unknown fields are ignored here.
  };

  /** Reads until an event is queued or the stream ends; one read loop at a time, shared by callers. */
  let filling: Promise<void> | undefined;
  const fill = () =>
    (filling ??= readSome().finally(() => {
      filling = undefined;
    }));
  const readSome = async () => {
    while (queue.length === 0 && !ended) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch {
        ended = true;
        break;
      }
      if (chunk.done) {
        ended = true;
        break;
      }
      buffer += chunk.value;
      for (let match = /\r\n|\r|\n/.exec(buffer); match; match = /\r\n|\r|\n/.exec(buffer)) {
        // A lone \r at the very end may be the first half of \r\n: wait for more.
        if (match[0] === '\r' && match.index === buffer.length - 1) break;
        parseLine(buffer.slice(0, match.index));
        buffer = buffer.slice(match.index + match[0].length);
      }
    }
  };

  const withTimeout = <T>(work: Promise<T>, timeoutMs: number, what: string) => {
    let timer: NodeJS.Timeout;
    return Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`SSE: ${what} did not arrive within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  };

  const connection: SseConnection = {
    status: res.status,
    headers: res.headers,
    comments,
    get ended() {
      return ended && queue.length === 0;
    },
    async next(timeoutMs = 30_000) {
      if (queue.length === 0 && !ended) await withTimeout(fill(), timeoutMs, 'the next event');
      return queue.shift();
    },
    async rest(timeoutMs = 60_000) {
      const events: SseEvent[] = [];
      await withTimeout(
        (async () => {
          for (let e = await connection.next(timeoutMs); e; e = await connection.next(timeoutMs)) events.push(e);
        })(),
        timeoutMs,
        'the end of the stream',
      );
      return events;
    },
    async close() {
      ended = true;
      abort.abort();
      await reader.cancel().catch(() => undefined);
    },
  };
  return connection;
}
