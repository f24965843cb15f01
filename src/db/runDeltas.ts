/**
 * Token deltas of streamed model calls (docs/conversations.md, "Token streaming"): NOTIFY only, on
 * their own channel, never rows. The API's run event listener (./runEventListener.ts) hands them to
 * the run's open event streams as `message.delta` / `message.reset` events. A client that was not
 * connected when a delta was sent does not get it; it gets the whole message from the step's stored
 * reply, as every client did before streaming. PostgreSQL caps a payload at 8000 bytes: callers send
 * at most MAX_DELTA_CHARS characters of text at once.
 */
import type { Queryable } from './pool';

/** The channel deltas are notified on (the listener LISTENs to it next to runEventChannel). */
export const runDeltaChannel = 'bosun_run_deltas';

/** Characters of delta text per notification: 4 bytes each at most in UTF-8, well under the 8000-byte payload cap. */
export const MAX_DELTA_CHARS = 1500;

export type RunDelta =
  | { type: 'message.delta'; data: { runId: string; bundleId: string; step: number; attempt: number; index: number; delta: string } }
  | { type: 'message.reset'; data: { runId: string; bundleId: string; step: number; attempt: number } };

/** Sends one delta (or reset) to every listening API process, at once (outside any transaction). */
export async function notifyRunDelta(db: Queryable, delta: RunDelta): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [runDeltaChannel, JSON.stringify(delta)]);
}
