/**
 * The `runs` table: every read and write of a run's row (the API's and the activities'), and the
 * run's view with its steps and approvals.
 */
import { inTransaction, pageOf, type Db, type DbClient, type PageKey, type Queryable } from './pool';
import { appendMessage } from './transcript';
import { runRetriesSql } from './modelRetries';
import { approvalsOfRun } from './approvals';
import { storeRunTapes } from './runTapes';
import type { RunStatus } from '../shared/domain';
import type { Environment } from '../shared/environments';
import type { CallCost } from '../shared/pricing';
import type { TapeEntry } from '../shared/tapes';

export interface NewRun {
  runId: string;
  tenantId: string;
  agent: string;
  bundleId: string;
  input: string;
  metadata: Record<string, unknown>;
  idempotencyKey: string | undefined;
  /** SHA-256 hex of the request's canonical JSON: what the idempotency key is bound to. */
  requestFingerprint: string;
  createdBy: string;
  /** Recorded tool results the run is answered from (src/shared/tapes.ts): stored with the row. */
  tapes?: readonly TapeEntry[];
  /** The run's model calls stream their tokens (message.delta events); false when absent. */
  stream?: boolean;
  /** production when absent. */
  environment?: Environment;
  /** A sandbox run (`sandbox: true`, tapes, staging); false when absent. */
  sandbox?: boolean;
  /** The request named its bundle; false when absent. */
  pinned?: boolean;
}

export interface RunSummary {
  runId: string;
  tenantId: string;
  agent: string;
  bundleId: string;
  status: RunStatus;
  input: string;
  environment: Environment;
  createdAt: string;
}

const summaryColumns = `run_id AS "runId", tenant_id AS "tenantId", agent, bundle_id AS "bundleId", status, input,
  environment, created_at AS "createdAt"`;

/** `error`: `{ code, message }` (src/shared/runErrors.ts), or null. */
const errorColumn = `CASE WHEN error IS NULL THEN NULL ELSE jsonb_build_object('code', error_code, 'message', error) END AS error`;

/** `created_at` within the key's time to live: the condition under which a run still holds its key. */
const keyHeld = (ttlParam: string) => `created_at > now() - ${ttlParam} * interval '1 millisecond'`;

/**
 * Records the run, its opening user message and its tapes in one short transaction. A key older than
 * `keyTtlMs` (ms) is first taken from the run that held it, so it can start this one. False, and
 * nothing written, when the key belongs to a run still holding it, or when the run ID is taken:
 * the workflow gave up waiting for this row and recorded the run as `run_not_recorded`.
 */
export async function recordRun(db: Db, run: NewRun, keyTtlMs: number): Promise<boolean> {
  return inTransaction(db, async (client) => {
    if (run.idempotencyKey !== undefined) {
      await client.query(
        `UPDATE runs SET idempotency_key = NULL WHERE tenant_id = $1 AND idempotency_key = $2 AND NOT ${keyHeld('$3')}`,
        [run.tenantId, run.idempotencyKey, keyTtlMs],
      );
    }
    const { rowCount } = await client.query(
      `INSERT INTO runs (run_id, tenant_id, agent, bundle_id, status, input, metadata, idempotency_key, request_fingerprint, created_by, stream, environment, sandbox, pinned)
       VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING`,
      [run.runId, run.tenantId, run.agent, run.bundleId, run.input, JSON.stringify(run.metadata), run.idempotencyKey ?? null,
       run.requestFingerprint, run.createdBy, run.stream ?? false, run.environment ?? 'production',
       run.sandbox ?? false, run.pinned ?? false],
    );
    if (rowCount === 0) return false;
    await appendMessage(client, run.runId, { step: 0, ordinal: 0, role: 'user', content: run.input });
    if (run.tapes) await storeRunTapes(client, run.runId, run.tapes);
    return true;
  });
}

/** The run holding the tenant's key (created within `keyTtlMs`), with the fingerprint it is bound to (null before fingerprints). */
export async function findRunByIdempotencyKey(
  db: Db, tenantId: string, key: string, keyTtlMs: number,
): Promise<{ run: RunSummary; requestFingerprint: string | null } | undefined> {
  const { rows } = await db.query(
    `SELECT ${summaryColumns}, request_fingerprint AS "requestFingerprint" FROM runs
     WHERE tenant_id = $1 AND idempotency_key = $2 AND ${keyHeld('$3')}`,
    [tenantId, key, keyTtlMs],
  );
  if (!rows[0]) return undefined;
  const { requestFingerprint, ...run } = rows[0];
  return { run, requestFingerprint };
}

export interface RunFilter {
  agent?: string;
  bundleId?: string;
  status?: RunStatus;
  environment?: Environment;
  /** Rows per page. */
  limit: number;
  /** Where the previous page ended. */
  after?: PageKey;
}

/**
 * A page of the tenant's runs, newest first, and where the next page starts (null on the last).
 * The key is the last row's (created_at, run_id), so pages stay stable while new runs arrive.
 */
export async function listRuns(db: Db, tenantId: string, filter: RunFilter) {
  const conditions = ['tenant_id = $1'];
  const params: unknown[] = [tenantId];
  const where = (sql: string, value: unknown) => {
    params.push(value);
    conditions.push(sql.replace('?', `$${params.length}`));
  };
  if (filter.agent) where('agent = ?', filter.agent);
  if (filter.bundleId) where('bundle_id = ?', filter.bundleId);
  if (filter.status) where('status = ?', filter.status);
  if (filter.environment) where('environment = ?', filter.environment);
  if (filter.after) {
    params.push(filter.after.at, filter.after.id);
    conditions.push(`(created_at, run_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(filter.limit + 1);
  const { rows } = await db.query(
    `SELECT ${summaryColumns}, output, ${errorColumn}, cost_usd AS "costUsd", created_at::text AS "cursorTime"
     FROM runs WHERE ${conditions.join(' AND ')} ORDER BY created_at DESC, run_id DESC LIMIT $${params.length}`,
    params,
  );
  const { items, next } = pageOf(rows, filter.limit, (run) => run.runId);
  return { runs: items, next };
}

export async function findRun(db: Db, tenantId: string, runId: string): Promise<RunSummary | undefined> {
  const { rows } = await db.query(`SELECT ${summaryColumns} FROM runs WHERE tenant_id = $1 AND run_id = $2`, [tenantId, runId]);
  return rows[0];
}

/** Where a run came from: its agent, its metadata and the API key that started it (undefined for an unknown run). */
export async function runOrigin(db: Queryable, runId: string): Promise<{ agent: string; metadata: Record<string, unknown>; createdBy: string } | undefined> {
  const { rows } = await db.query('SELECT agent, metadata, created_by AS "createdBy" FROM runs WHERE run_id = $1', [runId]);
  return rows[0];
}

/**
 * Everything `GET /v1/runs/:runId` shows, or undefined for an unknown run or another tenant's.
 * `queuePosition` (queued runs only, else null): 1 + the tenant's queued runs created before it.
 * `outputTruncated`: the answer stopped at the model's output token limit (its step says so too).
 */
export async function loadRunView(db: Db, tenantId: string, runId: string) {
  const { rows } = await db.query(
    `SELECT ${summaryColumns}, metadata, output, ${errorColumn}, input_tokens, output_tokens, cost_usd, cached_input_tokens, cache_savings_usd,
            updated_at AS "updatedAt", started_at AS "startedAt", finished_at AS "finishedAt",
            ${runRetriesSql('r.run_id')} AS retries,
            CASE WHEN status = 'queued' THEN (
              SELECT count(*)::int + 1 FROM runs q
              WHERE q.tenant_id = r.tenant_id AND q.status = 'queued' AND (q.created_at, q.run_id) < (r.created_at, r.run_id)
            ) END AS "queuePosition",
            CASE WHEN status = 'queued' THEN waiting_for END AS "waitingFor"
     FROM runs r WHERE tenant_id = $1 AND run_id = $2`,
    [tenantId, runId],
  );
  const run = rows[0];
  if (!run) return undefined;
  const [steps, approvals] = await Promise.all([
    db.query(
      `SELECT step, ordinal, kind, name, status, bundle_id AS "bundleId", detail, input_tokens AS "inputTokens",
              output_tokens AS "outputTokens", cached_input_tokens AS "cachedInputTokens", cost_usd AS "costUsd",
              latency_ms AS "latencyMs", created_at AS "createdAt"
       FROM run_steps WHERE run_id = $1 ORDER BY step, ordinal`,
      [runId],
    ),
    approvalsOfRun(db, runId),
  ]);
  const { input_tokens: _i, output_tokens: _o, cost_usd: _c, cached_input_tokens: _ci, cache_savings_usd: _cs, ...rest } = run;
  return {
    ...rest,
    outputTruncated: rest.status === 'completed' && steps.rows.some((s) => s.kind === 'model' && s.detail.final && s.detail.truncated),
    steps: steps.rows,
    pendingApprovals: approvals
      .filter((a) => a.status === 'pending')
      .map(({ approvalId, tool, arguments: args, reason, risk, requestedAt, expiresAt }) => ({
        approvalId, tool, arguments: args, reason, risk, requestedAt, expiresAt,
      })),
    approvals,
    usage: usageOf(run),
  };
}


/** A run's totals as `GET /v1/runs/:runId` and the run's events show them. */
export interface RunUsage {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  costUsd: number;
  cacheSavingsUsd: number;
}

/** The totals of a `runs` row (its snake_case token and cost columns). */
export function usageOf(row: {
  input_tokens: number; cached_input_tokens: number; output_tokens: number; cost_usd: number; cache_savings_usd: number;
}): RunUsage {
  return {
    inputTokens: row.input_tokens,
    cachedInputTokens: row.cached_input_tokens,
    outputTokens: row.output_tokens,
    costUsd: row.cost_usd,
    cacheSavingsUsd: row.cache_savings_usd,
  };
}

const totalsColumns = 'input_tokens, cached_input_tokens, output_tokens, cost_usd, cache_savings_usd';

/** The tenant a run belongs to; throws for a run without a row. */
/** Whether the run's model calls stream their tokens (runs.stream, migration 019). */
export async function runStreams(db: Queryable, runId: string): Promise<boolean> {
  const { rows } = await db.query('SELECT stream FROM runs WHERE run_id = $1', [runId]);
  return rows[0]?.stream === true;
}

/** The run's tenant and environment (the run must have a row). */
export async function ownerOfRun(db: Queryable, runId: string): Promise<{ tenantId: string; environment: Environment }> {
  const { rows } = await db.query('SELECT tenant_id AS "tenantId", environment FROM runs WHERE run_id = $1', [runId]);
  return rows[0];
}

/**
 * What one paid model call adds, in the caller's transaction: the cache, reasoning and savings
 * columns of its step row at (step, ordinal) (recorded with recordStep first), and the run's token
 * and cost totals. Returns the run's new totals and its environment. Used for the step's reply, its unusable replies and
 * its context summary alike.
 */
export async function addModelCallUsage(
  client: DbClient, runId: string, at: { step: number; ordinal: number }, { usage, buckets, cacheSavingsUsd }: CallCost,
): Promise<{ total: RunUsage; environment: Environment }> {
  await client.query(
    `UPDATE run_steps SET cached_input_tokens = $4, cache_write_tokens = $5, reasoning_tokens = $6, cache_savings_usd = $7
     WHERE run_id = $1 AND step = $2 AND ordinal = $3`,
    [runId, at.step, at.ordinal, buckets.cachedInput, buckets.cacheWrite, buckets.reasoning, cacheSavingsUsd],
  );
  const { rows } = await client.query(
    `UPDATE runs SET input_tokens = input_tokens + $2, output_tokens = output_tokens + $3, cost_usd = cost_usd + $4,
       cached_input_tokens = cached_input_tokens + $5, cache_savings_usd = cache_savings_usd + $6, updated_at = now()
     WHERE run_id = $1 RETURNING ${totalsColumns}, environment`,
    [runId, usage.inputTokens, usage.outputTokens, usage.costUsd, buckets.cachedInput, cacheSavingsUsd],
  );
  return { total: usageOf(rows[0]), environment: rows[0].environment };
}

/** Counts `step` among the run's steps (a model step that got an answer, usable or not). */
export async function countStep(client: DbClient, runId: string, step: number): Promise<void> {
  await client.query('UPDATE runs SET step_count = GREATEST(step_count, $2) WHERE run_id = $1', [runId, step]);
}

/** Notes that the run changed (a tool result recorded); its environment, undefined without a row. */
export async function touchRun(client: DbClient, runId: string): Promise<{ environment: Environment } | undefined> {
  const { rows } = await client.query('UPDATE runs SET updated_at = now() WHERE run_id = $1 RETURNING environment', [runId]);
  return rows[0];
}

/**
 * The row of a run whose API never recorded it, failed with `error` (`errorCode`) and ended, so a
 * late insert by the API cannot create a run no workflow serves. False when the API's row is there.
 */
export async function recordUnrecordedRun(
  db: Queryable, run: { runId: string; tenantId: string; agent: string; bundleId: string; error: string; errorCode: string },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO runs (run_id, tenant_id, agent, bundle_id, status, input, error, error_code, created_by, finished_at)
     VALUES ($1, $2, $3, $4, 'failed', '', $5, $6, 'system:run', now()) ON CONFLICT (run_id) DO NOTHING`,
    [run.runId, run.tenantId, run.agent, run.bundleId, run.error, run.errorCode],
  );
  return rowCount === 1;
}

/** Marks a queued or running run `running` (started and admitted now); its agent and tenant, or undefined when it has no such row. */
export async function markRunStarted(client: DbClient, runId: string): Promise<{ agent: string; tenantId: string; environment: Environment } | undefined> {
  const { rows } = await client.query(
    `UPDATE runs SET status = 'running', started_at = coalesce(started_at, now()), admitted_at = now(), updated_at = now()
     WHERE run_id = $1 AND status IN ('queued', 'running')
     RETURNING agent, tenant_id AS "tenantId", environment`,
    [runId],
  );
  return rows[0];
}

/** Sets the status of a run that has not ended; an ended run keeps the status it ended with. */
export async function setOpenRunStatus(db: Queryable, runId: string, status: RunStatus): Promise<void> {
  await db.query('UPDATE runs SET status = $2, updated_at = now() WHERE run_id = $1 AND finished_at IS NULL', [runId, status]);
}

/** True once the run has ended. */
export async function runHasEnded(db: Queryable, runId: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM runs WHERE run_id = $1 AND finished_at IS NOT NULL', [runId]);
  return (rowCount ?? 0) > 0;
}

/** An ended run: its steps and totals, who it belongs to, and how long it lived (creation to end, in seconds). */
export interface EndedRun {
  steps: number;
  usage: RunUsage;
  tenantId: string;
  agent: string;
  bundleId: string;
  environment: Environment;
  durationSeconds: number;
}

/**
 * Ends the run's row with its final status, output and error (already storable; `errorCode` null
 * without an error). The ended run, or undefined for a run without a row.
 */
export async function endRun(
  client: DbClient, runId: string, end: { status: RunStatus; output: string | null; error: string | null; errorCode: string | null },
): Promise<EndedRun | undefined> {
  const { rows } = await client.query(
    `UPDATE runs SET status = $2, output = $3, error = $4, error_code = $5, finished_at = now(), updated_at = now() WHERE run_id = $1
     RETURNING step_count, ${totalsColumns}, tenant_id, agent, bundle_id, environment, extract(epoch FROM now() - created_at)::float8 AS duration`,
    [runId, end.status, end.output, end.error, end.errorCode],
  );
  const row = rows[0];
  return row && {
    steps: row.step_count, usage: usageOf(row), tenantId: row.tenant_id, agent: row.agent, bundleId: row.bundle_id, environment: row.environment, durationSeconds: row.duration,
  };
}

/** Queued runs by tenant: the API's metrics. */
export async function queuedRunsByTenant(db: Queryable): Promise<{ tenantId: string; queued: number }[]> {
  const { rows } = await db.query(`SELECT tenant_id AS "tenantId", count(*)::int AS queued FROM runs WHERE status = 'queued' GROUP BY tenant_id`);
  return rows;
}
