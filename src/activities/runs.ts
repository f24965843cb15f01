import { ApplicationFailure } from '@temporalio/activity';
import { inTransaction, type Db } from '../db/pool';
import type { ApprovalDecision, PendingApproval, RunStatus } from '../shared/domain';

export interface RequestApprovalsInput {
  runId: string;
  tenantId: string;
  bundleId: string;
  step: number;
  approvals: PendingApproval[];
}

export interface FinishRunInput {
  runId: string;
  status: RunStatus;
  output?: string;
  error?: string;
}

/** The run's row in PostgreSQL: the read model behind `GET /v1/runs/:runId`. */
export function createRunActivities({ db }: { db: Db }) {
  return {
    async startRun({ runId }: { runId: string }): Promise<void> {
      const { rowCount } = await db.query(
        `UPDATE runs SET status = 'running', updated_at = now() WHERE run_id = $1 AND status IN ('queued', 'running')`,
        [runId],
      );
      // The API commits the row right after starting the workflow; until then, retry.
      if (rowCount === 0) throw ApplicationFailure.retryable(`run ${runId} has no record yet`, 'RunRecordMissing');
    },

    async setRunStatus({ runId, status }: { runId: string; status: RunStatus }): Promise<void> {
      await db.query('UPDATE runs SET status = $2, updated_at = now() WHERE run_id = $1', [runId, status]);
    },

    async finishRun({ runId, status, output, error }: FinishRunInput): Promise<void> {
      await inTransaction(db, async (client) => {
        await client.query(
          `UPDATE runs SET status = $2, output = $3, error = $4, finished_at = now(), updated_at = now() WHERE run_id = $1`,
          [runId, status, output ?? null, error ?? null],
        );
        await client.query(
          `UPDATE approvals SET status = 'cancelled', decided_at = now() WHERE run_id = $1 AND status = 'pending'`,
          [runId],
        );
      });
    },

    async requestApprovals({ runId, tenantId, bundleId, step, approvals }: RequestApprovalsInput): Promise<void> {
      await inTransaction(db, async (client) => {
        for (const a of approvals) {
          await client.query(
            `INSERT INTO approvals (approval_id, run_id, tenant_id, bundle_id, step, tool_call_id, tool, arguments,
                                    requested_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
            [a.approvalId, runId, tenantId, bundleId, step, a.toolCallId, a.tool, JSON.stringify(a.arguments),
             a.requestedAt, a.expiresAt],
          );
        }
        await client.query(`UPDATE runs SET status = 'awaiting_approval', updated_at = now() WHERE run_id = $1`, [runId]);
      });
    },

    /**
     * Marks a still-pending approval expired. A decision that reached the database first wins, so the
     * run always follows what the API told the approver.
     */
    async expireApproval({ approvalId }: { approvalId: string }): Promise<ApprovalDecision> {
      await db.query(
        `UPDATE approvals SET status = 'expired', decided_at = now(), decided_by = 'system:expiry'
         WHERE approval_id = $1 AND status = 'pending'`,
        [approvalId],
      );
      const { rows } = await db.query('SELECT status FROM approvals WHERE approval_id = $1', [approvalId]);
      return rows[0]?.status === 'approved' ? 'approved' : 'rejected';
    },
  };
}
