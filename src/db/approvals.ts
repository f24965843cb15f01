/** The `approvals` table: what runs ask for, what approvers decide, and what expires. */
import { pageOf, type Db, type DbClient, type PageKey, type Queryable } from './pool';
import type { ApprovalStatus } from '../shared/domain';

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

export interface ApprovalFilter {
  /** `pending` leaves out approvals past their expiry; `expired` takes them in. */
  status?: ApprovalStatus;
  /** Rows per page. */
  limit: number;
  /** Where the previous page ended. */
  after?: PageKey;
}

/**
 * A page of the tenant's approvals across runs, newest first (the approver's inbox), and where the
 * next page starts (null on the last). An approval past its expiry counts as expired even before
 * the run's timer has marked it so.
 */
export async function listApprovals(db: Db, tenantId: string, filter: ApprovalFilter) {
  const conditions = ['a.tenant_id = $1'];
  const params: unknown[] = [tenantId];
  if (filter.status === 'pending') conditions.push(`a.status = 'pending' AND a.expires_at > now()`);
  else if (filter.status === 'expired') conditions.push(`(a.status = 'expired' OR (a.status = 'pending' AND a.expires_at <= now()))`);
  else if (filter.status) conditions.push(`a.status = $${params.push(filter.status)}`);
  if (filter.after) {
    params.push(filter.after.at, filter.after.id);
    conditions.push(`(a.requested_at, a.approval_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(filter.limit + 1);
  const { rows } = await db.query(
    `SELECT a.approval_id AS "approvalId", a.run_id AS "runId", r.agent, a.bundle_id AS "bundleId", a.step, a.tool,
            r.created_by AS "requestedBy", a.arguments, a.edited_arguments AS "editedArguments", a.reason, a.risk,
            CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN 'expired' ELSE a.status END AS status,
            a.requested_at AS "requestedAt", a.expires_at AS "expiresAt", a.decided_by AS "decidedBy",
            a.decided_at AS "decidedAt", a.comment, a.requested_at::text AS "cursorTime"
     FROM approvals a JOIN runs r ON r.run_id = a.run_id AND r.tenant_id = a.tenant_id
     WHERE ${conditions.join(' AND ')} ORDER BY a.requested_at DESC, a.approval_id DESC LIMIT $${params.length}`,
    params,
  );
  const { items, next } = pageOf(rows, filter.limit, (approval) => approval.approvalId);
  return {
    approvals: items.map((approval) => ({
      ...approval,
      links: { run: `/v1/runs/${approval.runId}`, decide: `/v1/runs/${approval.runId}/approvals/${approval.approvalId}` },
    })),
    next,
  };
}

/** Every approval of a run, in the order they were asked for: what the run's view shows. */
export async function approvalsOfRun(db: Queryable, runId: string) {
  const { rows } = await db.query(
    `SELECT approval_id AS "approvalId", tool, arguments, reason, risk, status, requested_at AS "requestedAt",
            expires_at AS "expiresAt", decided_by AS "decidedBy", decided_at AS "decidedAt", comment,
            edited_arguments AS "editedArguments"
     FROM approvals WHERE run_id = $1 ORDER BY requested_at, tool_call_id`,
    [runId],
  );
  return rows;
}

/** An approval a run asks for: the model's arguments (already storable) and the reason stated for it. */
export interface NewApproval {
  approvalId: string;
  runId: string;
  tenantId: string;
  bundleId: string;
  step: number;
  toolCallId: string;
  tool: string;
  arguments: unknown;
  requestedAt: string;
  expiresAt: string;
  reason: string | null;
  risk: unknown;
}

/** Inserts the approval unless it is there already (a retried request). */
export async function insertApproval(client: DbClient, a: NewApproval): Promise<void> {
  await client.query(
    `INSERT INTO approvals (approval_id, run_id, tenant_id, bundle_id, step, tool_call_id, tool, arguments,
                            requested_at, expires_at, reason, risk)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
    [a.approvalId, a.runId, a.tenantId, a.bundleId, a.step, a.toolCallId, a.tool, JSON.stringify(a.arguments),
     a.requestedAt, a.expiresAt, a.reason, a.risk ? JSON.stringify(a.risk) : null],
  );
}

/** Cancels the run's pending approvals (its end); the ones cancelled. */
export async function cancelPendingApprovals(client: DbClient, runId: string) {
  const { rows } = await client.query(
    `UPDATE approvals SET status = 'cancelled', decided_at = now() WHERE run_id = $1 AND status = 'pending'
     RETURNING approval_id, tenant_id, bundle_id, tool`,
    [runId],
  );
  return rows.map((a) => ({ approvalId: a.approval_id as string, tenantId: a.tenant_id as string, bundleId: a.bundle_id as string, tool: a.tool as string }));
}

/** Marks a still-pending approval expired; the approval when this call expired it, else undefined. */
export async function expirePendingApproval(client: DbClient, approvalId: string) {
  const { rows } = await client.query(
    `UPDATE approvals SET status = 'expired', decided_at = now(), decided_by = 'system:expiry'
     WHERE approval_id = $1 AND status = 'pending' RETURNING run_id, tenant_id, bundle_id, tool, expires_at`,
    [approvalId],
  );
  const row = rows[0];
  return row
    ? { runId: row.run_id as string, tenantId: row.tenant_id as string, bundleId: row.bundle_id as string, tool: row.tool as string, expiresAt: row.expires_at as Date }
    : undefined;
}

/** The approval's status, or undefined when there is no such approval. */
export async function approvalStatusOf(db: Queryable, approvalId: string): Promise<ApprovalStatus | undefined> {
  const { rows } = await db.query('SELECT status FROM approvals WHERE approval_id = $1', [approvalId]);
  return rows[0]?.status;
}

/** The approvals of the given runs whose arguments an approver edited, in the order they were asked for. */
export async function editedApprovalsOfRuns(db: Queryable, runIds: readonly string[]) {
  const { rows } = await db.query(
    `SELECT run_id AS "runId", approval_id AS "approvalId", tool, edited_arguments AS arguments, arguments AS "originalArguments", comment
     FROM approvals WHERE run_id = ANY($1::uuid[]) AND edited_arguments IS NOT NULL ORDER BY requested_at, tool_call_id`,
    [runIds],
  );
  return rows as { runId: string; approvalId: string; tool: string; arguments: Record<string, unknown>; originalArguments: unknown; comment: string | null }[];
}

/** Who approved the tool call (an API key ID), when a human approved it; undefined otherwise. */
export async function approverOfToolCall(db: Queryable, runId: string, toolCallId: string): Promise<string | undefined> {
  const { rows } = await db.query(
    `SELECT decided_by FROM approvals WHERE run_id = $1 AND tool_call_id = $2 AND status = 'approved'`,
    [runId, toolCallId],
  );
  return rows[0]?.decided_by ?? undefined;
}

/** Pending approvals by tenant, and how long (seconds) the oldest of each has waited: the API's metrics. */
export async function pendingApprovalsByTenant(db: Queryable): Promise<{ tenantId: string; pending: number; oldestAgeSeconds: number }[]> {
  const { rows } = await db.query(
    `SELECT tenant_id AS "tenantId", count(*)::int AS pending, extract(epoch FROM now() - min(requested_at))::float8 AS "oldestAgeSeconds"
     FROM approvals WHERE status = 'pending' GROUP BY tenant_id`,
  );
  return rows;
}
