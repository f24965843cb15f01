/**
 * The page's only way to Bosun: the REST API with the API key from sessionStorage, and a run's event
 * stream read with fetch (an EventSource cannot send the Authorization header, and a key in the
 * URL would land in logs and history), parsed by eventsource-parser.
 */
import { createParser } from './vendor/eventsource-parser.js';

const STORAGE_KEY = 'bosun.apiKey';

/** The API key lives in this tab's sessionStorage only: gone when the tab closes, never in a URL or cookie. */
export const session = {
  get key() {
    return sessionStorage.getItem(STORAGE_KEY);
  },
  signIn(key) {
    sessionStorage.setItem(STORAGE_KEY, key);
  },
  signOut() {
    sessionStorage.removeItem(STORAGE_KEY);
  },
};

/** An answer other than 2xx: `problems` lists what a 400 found wrong, one line each. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `The API answered ${status}.`);
    this.status = status;
    this.code = body?.error?.code;
    this.problems = body?.error?.problems ?? [];
  }
}

const authorization = () => ({ authorization: `Bearer ${session.key}` });

/** Calls the API; resolves with the JSON answer, rejects with an ApiError. */
export async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    cache: 'no-store',
    headers: { ...authorization(), ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows a run's events (`GET /v1/runs/:runId/events`), calling `onEvent(type, data)` for each, and
 * resumes with Last-Event-ID after a dropped connection. Ends by itself after `run.finished` (or a
 * 204/4xx); returns the function that stops it earlier.
 */
export function followRun(runId, onEvent) {
  const controller = new AbortController();
  let lastEventId;
  let finished = false;
  const parser = createParser({
    onEvent(event) {
      if (event.id) lastEventId = event.id;
      if (event.event === 'run.finished') finished = true;
      onEvent(event.event, JSON.parse(event.data));
    },
  });
  (async () => {
    while (!finished && !controller.signal.aborted) {
      try {
        const res = await fetch(`/v1/runs/${encodeURIComponent(runId)}/events`, {
          cache: 'no-store',
          signal: controller.signal,
          headers: { ...authorization(), accept: 'text/event-stream', ...(lastEventId && { 'last-event-id': lastEventId }) },
        });
        if (!res.ok || res.status === 204) return;
        parser.reset();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch {
        if (controller.signal.aborted) return;
      }
      await sleep(1000);
    }
  })();
  return () => controller.abort();
}
