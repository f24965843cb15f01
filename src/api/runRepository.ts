/** The API's reads and writes of runs and approvals in PostgreSQL. */
import { inTransaction, type Db, type DbClient } from '../db/pool';
import { appendMessage } from '../db/transcript';
import { runRetriesSql } from '../db/modelRetries';
import type { ApprovalStatus, RunStatus } from '../shared/domain';
import { badRequest } from './errors';

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
}

export interface RunSummary {
  runId: string;
  tenantId: string;
  agent: string;
  bundleId: string;
  status: RunStatus;
  input: string;
  createdAt: string;
}

/** Which runs `listRuns` reads: the API's validated `GET /v1/runs` query (src/contract/runs.ts). */
export interface RunListQuery {
  agent?: string;
  bundleId?: string;
  status?: RunStatus;
  limit: number;
  cursor?: string;
}

/** Which approvals `listApprovals` reads: the API's validated `GET /v1/approvals` query (src/contract/approvals.ts). */
export interface ApprovalListQuery {
  status?: ApprovalStatus;
  limit: number;
  cursor?: string;
}

const summaryColumns = `run_id AS "runId", tenant_id AS "tenantId", agent, bundle_id AS "bundleId", status, input,
  created_at AS "createdAt"`;

/** `error`: `{ code, message }` (src/shared/runErrors.ts), or null. */
const errorColumn = `CASE WHEN error IS NULL THEN NULL ELSE jsonb_build_object('code', error_code, 'message', error) END AS error`;

/** `created_at` within the key's time to live: the condition under which a run still holds its key. */
const keyHeld = (ttlParam: string) => `created_at > now() - ${ttlParam} * interval '1 millisecond'`;

/**
 * Records the run and its opening user message in one short transaction. A key older than
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
      `INSERT INTO runs (run_id, tenant_id, agent, bundle_id, status, input, metadata, idempotency_key, request_fingerprint, created_by)
       VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
      [run.runId, run.tenantId, run.agent, run.bundleId, run.input, JSON.stringify(run.metadata), run.idempotencyKey ?? null,
       run.requestFingerprint, run.createdBy],
    );
    if (rowCount === 0) return false;
    await appendMessage(client, run.runId, { step: 0, ordinal: 0, role: 'user', content: run.input });
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

/**
 * A page of the tenant's runs, newest first. The cursor is the last row's (created_at, run_id), so
 * pages stay stable while new runs arrive.
 */
export async function listRuns(db: Db, tenantId: string, query: RunListQuery) {
  const conditions = ['tenant_id = $1'];
  const params: unknown[] = [tenantId];
  const where = (sql: string, value: unknown) => {
    params.push(value);
    conditions.push(sql.replace('?', `$${params.length}`));
  };
  if (query.agent) where('agent = ?', query.agent);
  if (query.bundleId) where('bundle_id = ?', query.bundleId);
  if (query.status) where('status = ?', query.status);
  if (query.cursor) {
    const [createdAt, runId] = decodeCursor(query.cursor);
    params.push(createdAt, runId);
    conditions.push(`(created_at, run_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(query.limit + 1);
  const { rows } = await db.query(
    `SELECT ${summaryColumns}, output, ${errorColumn}, cost_usd AS "costUsd", created_at::text AS "cursorTime"
     FROM runs WHERE ${conditions.join(' AND ')} ORDER BY created_at DESC, run_id DESC LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    runs: page.map(({ cursorTime: _, ...run }) => run),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.cursorTime, last.runId) : null,
  };
}

// The timestamp travels as PostgreSQL's own text, keeping its microseconds.
function encodeCursor(createdAt: string, runId: string): string {
  return Buffer.from(`${createdAt}|${runId}`).toString('base64url');
}

/** A cursor's (timestamp, UUID); the UUID is a run's or an approval's. */
function decodeCursor(cursor: string): [string, string] {
  const [createdAt, runId] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!createdAt || !runId || !/^\d{4}-\d\d-\d\d [\d:.]+[+-]\d\d(:\d\d)?$/.test(createdAt) || !/^[0-9a-f-]{36}$/.test(runId)) {
    throw badRequest(['cursor: not a cursor this API returned']);
  }
  return [createdAt, runId];
}

export async function findRun(db: Db, tenantId: string, runId: string): Promise<RunSummary | undefined> {
  const { rows } = await db.query(`SELECT ${summaryColumns} FROM runs WHERE tenant_id = $1 AND run_id = $2`, [tenantId, runId]);
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
            ) END AS "queuePosition"
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
    db.query(
      `SELECT approval_id AS "approvalId", tool, arguments, reason, risk, status, requested_at AS "requestedAt",
              expires_at AS "expiresAt", decided_by AS "decidedBy", decided_at AS "decidedAt", comment,
              edited_arguments AS "editedArguments"
       FROM approvals WHERE run_id = $1 ORDER BY requested_at, tool_call_id`,
      [runId],
    ),
  ]);
  const { input_tokens, output_tokens, cost_usd, cached_input_tokens, cache_savings_usd, ...rest } = run;
  return {
    ...rest,
    outputTruncated: rest.status === 'completed' && steps.rows.some((s) => s.kind === 'model' && s.detail.final && s.detail.truncated),
    steps: steps.rows,
    pendingApprovals: approvals.rows
      .filter((a) => a.status === 'pending')
      .map(({ approvalId, tool, arguments: args, reason, risk, requestedAt, expiresAt }) => ({
        approvalId, tool, arguments: args, reason, risk, requestedAt, expiresAt,
      })),
    approvals: approvals.rows,
    usage: {
      inputTokens: input_tokens,
      cachedInputTokens: cached_input_tokens,
      outputTokens: output_tokens,
      costUsd: cost_usd,
      cacheSavingsUsd: cache_savings_usd,
    },
  };
}

export type ApprovalLock =
  | { found: false }
  | {
      found: true;
      status: string;
      expired: boolean;
      tool: string;
      arguments: unknown;
      bundleId: string;
      /** The key that started the run. */
      runCreatedBy: string;
    };

/**
 * Locks the approval row for the rest of the transaction, so concurrent deciders queue behind it.
 * The approval must belong to this run of this tenant: an approval ID under another run's URL is unknown.
 */
export async function lockApproval(db: DbClient, tenantId: string, runId: string, approvalId: string): Promise<ApprovalLock> {
  const { rows } = await db.query(
    `SELECT a.status, a.expires_at <= now() AS expired, a.tool, a.arguments, a.bundle_id, r.created_by
     FROM approvals a JOIN runs r ON r.run_id = a.run_id
     WHERE a.approval_id = $1 AND a.run_id = $2 AND a.tenant_id = $3 AND r.tenant_id = $3 FOR UPDATE OF a`,
    [approvalId, runId, tenantId],
  );
  const row = rows[0];
  return row
    ? { found: true, status: row.status, expired: row.expired, tool: row.tool, arguments: row.arguments, bundleId: row.bundle_id, runCreatedBy: row.created_by }
    : { found: false };
}

export async function recordDecision(
  db: DbClient, approvalId: string, status: 'approved' | 'rejected', decidedBy: string, comment: string | undefined,
  editedArguments?: Record<string, unknown>,
): Promise<void> {
  await db.query(
    `UPDATE approvals SET status = $2, decided_by = $3, decided_at = now(), comment = $4, edited_arguments = $5 WHERE approval_id = $1`,
    [approvalId, status, decidedBy, comment ?? null, editedArguments === undefined ? null : JSON.stringify(editedArguments)],
  );
}

/**
 * A page of the tenant's approvals across runs, newest first: the approver's inbox. An approval
 * past its expiry counts as expired even before the run's timer has marked it so.
 */
export async function listApprovals(db: Db, tenantId: string, query: ApprovalListQuery) {
  const conditions = ['a.tenant_id = $1'];
  const params: unknown[] = [tenantId];
  if (query.status === 'pending') conditions.push(`a.status = 'pending' AND a.expires_at > now()`);
  else if (query.status === 'expired') conditions.push(`(a.status = 'expired' OR (a.status = 'pending' AND a.expires_at <= now()))`);
  else if (query.status) conditions.push(`a.status = $${params.push(query.status)}`);
  if (query.cursor) {
    const [requestedAt, approvalId] = decodeCursor(query.cursor);
    params.push(requestedAt, approvalId);
    conditions.push(`(a.requested_at, a.approval_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(query.limit + 1);
  const { rows } = await db.query(
    `SELECT a.approval_id AS "approvalId", a.run_id AS "runId", r.agent, a.bundle_id AS "bundleId", a.step, a.tool,
            a.arguments, a.edited_arguments AS "editedArguments", a.reason, a.risk,
            CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN 'expired' ELSE a.status END AS status,
            a.requested_at AS "requestedAt", a.expires_at AS "expiresAt", a.decided_by AS "decidedBy",
            a.decided_at AS "decidedAt", a.comment, a.requested_at::text AS "cursorTime"
     FROM approvals a JOIN runs r ON r.run_id = a.run_id AND r.tenant_id = a.tenant_id
     WHERE ${conditions.join(' AND ')} ORDER BY a.requested_at DESC, a.approval_id DESC LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    approvals: page.map(({ cursorTime: _, ...approval }) => ({
      ...approval,
      links: { run: `/v1/runs/${approval.runId}`, decide: `/v1/runs/${approval.runId}/approvals/${approval.approvalId}` },
    })),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.cursorTime, last.approvalId) : null,
  };
}
