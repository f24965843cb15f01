/**
 * Where an API process learns that a run has new events: one PostgreSQL connection that LISTENs on
 * the channel the `run_events` insert trigger notifies (migration 015, payload the run's ID), fanned
 * out in memory to the event streams of that process by run ID. Streams read `run_events` only when
 * woken, so an idle stream costs the database nothing. The same connection LISTENs for token deltas
 * (./runDeltas.ts), which are handed to the run's subscribers as they come: they have no rows.
 */
import pg from 'pg';
import { runDeltaChannel, type RunDelta } from './runDeltas';

/** The channel `notify_run_event()` (migration 015_run_event_notify.sql) notifies. */
export const runEventChannel = 'bosun_run_events';

export interface RunEventListener {
  /**
   * Calls `onChange` (synchronously, with no argument) whenever events of `runId` may have been
   * committed: on each notification for the run, and each time the connection starts listening
   * (notifications sent while it was away are lost). An event committed after `subscribe` returns is
   * always followed by a call, so a subscriber that reads after subscribing never misses one.
   * `onDelta`, if given, gets the run's token deltas notified while subscribed (none from before).
   * Returns the function that ends the subscription.
   */
  subscribe(runId: string, onChange: () => void, onDelta?: (delta: RunDelta) => void): () => void;
  /** Closes the connection now; a later subscription connects again. */
  close(): Promise<void>;
}

export interface RunEventListenerOptions {
  /** The first wait before reconnecting after the connection dropped or failed to open, in ms (doubling up to 5 s); 100 by default. */
  reconnectDelayMs?: number;
  /** How long the connection stays open without subscribers, so streams that come and go reuse it, in ms; 10 s by default. */
  idleDisconnectMs?: number;
}

const maxReconnectDelayMs = 5_000;

/**
 * A listener over connections made with `config` (e.g. the pool's `options`). It connects when the
 * first subscriber arrives, reconnects while there are subscribers, and disconnects `idleDisconnectMs`
 * after the last one left. Connection errors never throw: subscribers just wait for the reconnect.
 */
export function createRunEventListener(
  config: pg.ClientConfig, { reconnectDelayMs = 100, idleDisconnectMs = 10_000 }: RunEventListenerOptions = {},
): RunEventListener {
  const subscribers = new Map<string, Set<Subscription>>();
  let subscriptions = 0;
  /** The current connection, connecting or listening; undefined while there is none. */
  let current: pg.Client | undefined;
  let retryDelayMs = reconnectDelayMs;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;

  const wake = (runId: string) => subscribers.get(runId)?.forEach(({ onChange }) => onChange());
  const wakeAll = () => subscribers.forEach((set) => set.forEach(({ onChange }) => onChange()));
  const deliver = (payload: string) => {
    const delta = parseDelta(payload);
    if (delta) subscribers.get(delta.data.runId)?.forEach(({ onDelta }) => onDelta?.(delta));
  };

  async function connect(): Promise<void> {
    const client = new pg.Client(config);
    current = client;
    client.on('notification', ({ channel, payload }) => {
      if (channel === runEventChannel && payload) wake(payload);
      if (channel === runDeltaChannel && payload) deliver(payload);
    });
    client.on('error', () => lost(client));
    client.on('end', () => lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${runEventChannel}`);
      await client.query(`LISTEN ${runDeltaChannel}`);
    } catch {
      lost(client);
      return;
    }
    if (current !== client) return;
    retryDelayMs = reconnectDelayMs;
    // Whatever was committed before LISTEN took effect sent no notification here: every stream reads once.
    wakeAll();
  }

  /** `client` failed or closed: drop it, and reconnect if it still had subscribers. */
  function lost(client: pg.Client): void {
    if (current !== client) return;
    current = undefined;
    client.end().catch(() => undefined);
    if (subscriptions > 0) scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (subscriptions > 0 && !current) void connect();
    }, retryDelayMs).unref();
    retryDelayMs = Math.min(retryDelayMs * 2, maxReconnectDelayMs);
  }

  function disconnect(): Promise<void> {
    clearTimeout(idleTimer);
    clearTimeout(reconnectTimer);
    idleTimer = reconnectTimer = undefined;
    const client = current;
    current = undefined;
    return client ? client.end().catch(() => undefined) : Promise.resolve();
  }

  return {
    subscribe(runId, onChange, onDelta) {
      // An object of its own, so one callback subscribed twice is two subscriptions.
      const subscription: Subscription = { onChange, onDelta };
      const set = subscribers.get(runId) ?? new Set();
      subscribers.set(runId, set.add(subscription));
      subscriptions += 1;
      clearTimeout(idleTimer);
      idleTimer = undefined;
      if (!current && !reconnectTimer) void connect();
      return () => {
        if (!set.delete(subscription)) return;
        if (set.size === 0) subscribers.delete(runId);
        subscriptions -= 1;
        if (subscriptions === 0) idleTimer = setTimeout(() => void disconnect(), idleDisconnectMs).unref();
      };
    },
    close: disconnect,
  };
}

interface Subscription {
  onChange: () => void;
  onDelta?: (delta: RunDelta) => void;
}

/** A notified delta, or undefined for a payload that is not one (never thrown: one bad payload must not stop the listener). */
function parseDelta(payload: string): RunDelta | undefined {
  try {
    const delta = JSON.parse(payload) as RunDelta;
    return typeof delta?.data?.runId === 'string' ? delta : undefined;
  } catch {
    return undefined;
  }
}
