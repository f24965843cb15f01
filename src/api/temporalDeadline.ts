import type { Client } from '@temporalio/client';

/**
 * Makes the Temporal calls inside `call` give up `timeoutMs` (ms) from now, so a Temporal server that
 * is away costs a request that long at most: its DEADLINE_EXCEEDED or UNAVAILABLE answers 503 (see
 * errors.ts) instead of the client's own retries holding the request for many seconds.
 */
export function withinDeadline<T>(temporal: Client, timeoutMs: number, call: () => Promise<T>): Promise<T> {
  return temporal.withDeadline(Date.now() + timeoutMs, call);
}
