/**
 * Per-provider ceilings on model calls and tokens per minute (BOSUN_PROVIDER_LIMITS), held in
 * PostgreSQL so that every worker process shares them.
 *
 * Each provider has one row per second with the calls and estimated tokens granted in it. A call is
 * granted when every window of WINDOW_SECONDS consecutive seconds that contains "now" stays within
 * the limits: a sliding window, so no minute anywhere sees more than the limit (a token bucket would
 * let a full bucket plus a minute of refill through, twice the limit). A call that does not fit books
 * the earliest second that does and is told to come back then: its retry uses the booked second
 * without queueing again, so a backlog waits its turn in order instead of retrying until its attempts
 * run out. Admissions of one provider take an advisory lock, so concurrent workers go one at a time.
 */
import { providerKey, type ProviderLimit, type ProviderLimits } from '../../config';
import { inTransaction, type Db, type DbClient, type Queryable } from '../../db/pool';

/**
 * A minute plus two seconds of slack: a call may reach the provider up to a second after its second
 * ends (LATE_SECONDS, and the network), so a provider counting on its own clock still never sees
 * more than the limit in any 60 s.
 */
export const WINDOW_SECONDS = 62;
/** A booked call that comes back this many seconds after its second still uses it; later, it queues again. */
export const LATE_SECONDS = 1;
/** Where the configured provider is when OPENAI_BASE_URL is unset. */
export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';
/** First key of the advisory locks; the second is the provider's hash. */
const LOCK_NAMESPACE = 4_242_009;

export interface Bucket {
  second: number;
  requests: number;
  tokens: number;
}

/** A granted call: where its estimated tokens were counted, to be corrected once its real usage is known. */
export interface Grant {
  provider: string;
  second: number;
  tokens: number;
}

export type Admission =
  | { granted: true; grant: Grant }
  /** Come back in `second` (epoch seconds); `nowMs` is the database's clock. */
  | { granted: false; provider: string; second: number; nowMs: number; limit: ProviderLimit };

/**
 * The provider a call goes to and its limits, or undefined when it has none. `default` limits the
 * configured provider (OPENAI_BASE_URL), whether a bundle leaves its baseUrl unset or names it.
 */
export function resolveProvider(
  limits: ProviderLimits, baseUrl: string | undefined, defaultBaseUrl: string | undefined,
): { provider: string; limit: ProviderLimit } | undefined {
  const configured = providerKey(defaultBaseUrl ?? OPENAI_DEFAULT_BASE_URL);
  const provider = baseUrl ? providerKey(baseUrl) : configured;
  const limit = limits[provider] ?? (provider === configured ? limits.default : undefined);
  return limit ? { provider, limit } : undefined;
}

/**
 * The earliest second from `now` on where one more call of `tokens` keeps every window of `window`
 * seconds containing it within the limits, given what is already counted (past and booked ahead).
 * A call larger than the token limit is counted as the whole limit, so it runs alone rather than never.
 */
export function findSlot(buckets: readonly Bucket[], now: number, tokens: number, limit: ProviderLimit, window = WINDOW_SECONDS): number {
  const maxRequests = limit.requestsPerMinute ?? Infinity;
  const maxTokens = limit.tokensPerMinute ?? Infinity;
  const cost = Math.min(tokens, maxTokens);
  const lo = now - window + 1;
  const last = buckets.reduce((max, b) => Math.max(max, b.second), now);
  // No window containing `hi` holds anything counted: the search always ends there.
  const hi = last + window;
  const size = hi + window - lo;
  const requests = new Float64Array(size + 1);
  const tokenSums = new Float64Array(size + 1);
  for (const b of buckets) {
    if (b.second < lo || b.second >= lo + size) continue;
    requests[b.second - lo + 1]! += b.requests;
    tokenSums[b.second - lo + 1]! += b.tokens;
  }
  for (let i = 1; i <= size; i++) {
    requests[i]! += requests[i - 1]!;
    tokenSums[i]! += tokenSums[i - 1]!;
  }
  // Sum over the window of seconds [u, u + window - 1].
  const windowSum = (sums: Float64Array, u: number) => sums[u + window - lo]! - sums[u - lo]!;
  for (let t = now; t < hi; t++) {
    let fits = true;
    for (let u = t - window + 1; u <= t && fits; u++) {
      fits = windowSum(requests, u) + 1 <= maxRequests && windowSum(tokenSums, u) + cost <= maxTokens;
    }
    if (fits) return t;
  }
  return hi;
}

/**
 * Grants a call now, or books it a later second and says when. `ticketId` names the call (one per
 * run step): a call that was booked a second finds it here when it comes back.
 */
export async function admitCall(db: Db, call: CallTicket): Promise<Admission> {
  return inTransaction(db, (client) => admitCallIn(client, call));
}

/** A call to admit: its provider and limits, its ticket (one per run step) and its estimated tokens. */
export interface CallTicket {
  provider: string;
  limit: ProviderLimit;
  ticketId: string;
  tokens: number;
}

/**
 * admitCall in the caller's transaction, which must commit (a refusal too: it books the second) and
 * should do so soon: the provider's lock is held until then, so callers take it last.
 */
export async function admitCallIn(client: DbClient, { provider, limit, ticketId, tokens }: CallTicket): Promise<Admission> {
  const cost = Math.min(tokens, limit.tokensPerMinute ?? Infinity);
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE, provider]);
  // The database's clock, read after the lock: every worker counts seconds the same way.
  const { rows: clock } = await client.query('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms');
  const nowMs = Number(clock[0].now_ms);
  const now = Math.floor(nowMs / 1000);
  const granted = (second: number, grantTokens: number): Admission => ({ granted: true, grant: { provider, second, tokens: grantTokens } });

  const { rows: tickets } = await client.query(
    'DELETE FROM provider_rate_tickets WHERE ticket_id = $1 RETURNING provider, epoch_second, tokens',
    [ticketId],
  );
  const ticket = tickets[0] as { provider: string; epoch_second: number; tokens: number } | undefined;
  if (ticket && ticket.provider === provider && now < ticket.epoch_second) {
    // Back early (a retry for another reason): the booked second still waits.
    await client.query('INSERT INTO provider_rate_tickets (ticket_id, provider, epoch_second, tokens) VALUES ($1, $2, $3, $4)', [
      ticketId, provider, ticket.epoch_second, ticket.tokens,
    ]);
    return { granted: false, provider, second: ticket.epoch_second, nowMs, limit };
  }
  if (ticket && ticket.provider === provider && now <= ticket.epoch_second + LATE_SECONDS) return granted(ticket.epoch_second, ticket.tokens);
  if (ticket) {
    // Too late for its second (or the call moved to another provider): give the second back, queue again.
    await client.query(
      `UPDATE provider_rate_buckets SET requests = GREATEST(0, requests - 1), tokens = GREATEST(0, tokens - $3)
       WHERE provider = $1 AND epoch_second = $2`,
      [ticket.provider, ticket.epoch_second, ticket.tokens],
    );
  }

  // What windows containing now see; and in the same statement, seconds no window can see any more
  // and bookings nobody came back for are dropped (rows the SELECT never reads: older than it looks).
  const { rows } = await client.query(
    `WITH old_buckets AS (DELETE FROM provider_rate_buckets WHERE provider = $1 AND epoch_second < $3),
          old_tickets AS (DELETE FROM provider_rate_tickets WHERE provider = $1 AND epoch_second < $3)
     SELECT epoch_second AS second, requests, tokens FROM provider_rate_buckets WHERE provider = $1 AND epoch_second > $2`,
    [provider, now - WINDOW_SECONDS, now - 2 * WINDOW_SECONDS],
  );
  const second = findSlot(rows as Bucket[], now, cost, limit);
  await client.query(
    `INSERT INTO provider_rate_buckets (provider, epoch_second, requests, tokens) VALUES ($1, $2, 1, $3)
     ON CONFLICT (provider, epoch_second) DO UPDATE
     SET requests = provider_rate_buckets.requests + 1, tokens = provider_rate_buckets.tokens + EXCLUDED.tokens`,
    [provider, second, cost],
  );
  if (second <= now) return granted(second, cost);
  await client.query('INSERT INTO provider_rate_tickets (ticket_id, provider, epoch_second, tokens) VALUES ($1, $2, $3, $4)', [
    ticketId, provider, second, cost,
  ]);
  return { granted: false, provider, second, nowMs, limit };
}

/** Replaces a granted call's estimated tokens with what it really used (0 when it failed). */
export async function settleGrant(db: Queryable, grant: Grant, actualTokens: number): Promise<void> {
  await db.query(
    'UPDATE provider_rate_buckets SET tokens = GREATEST(0, tokens - $3 + $4) WHERE provider = $1 AND epoch_second = $2',
    [grant.provider, grant.second, grant.tokens, actualTokens],
  );
}
