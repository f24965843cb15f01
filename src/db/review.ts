/**
 * The review list (`GET /v1/review`): runs worth a golden case, read across `runs`, `approvals`
 * and `feedback` (each table's writes stay in its own store). Only reads.
 */
import { capErrorCodes } from '../shared/runErrors';
import type { RunStatus } from '../shared/domain';
import { editedApprovalsOfRuns } from './approvals';
import { feedbackOfRuns } from './feedback';
import { pageOf, type PageKey, type Queryable } from './pool';

/** Why a run is on the review list (src/contract/evals.ts reviewReasons). */
export type ReviewReason = 'failed' | 'cap_reached' | 'budget_exceeded' | 'approval_rejected' | 'negative_feedback' | 'approval_edited';

interface CandidateFacts {
  status: RunStatus;
  errorCode: string | null;
  rejected: boolean;
  edited: boolean;
  negativeFeedback: boolean;
}

/** The reasons that put a run with these facts on the list, in a fixed order. */
export function reviewReasonsOf(f: CandidateFacts): ReviewReason[] {
  const reasons: [ReviewReason, boolean][] = [
    ['failed', f.status === 'failed'],
    ['cap_reached', (capErrorCodes as readonly (string | null)[]).includes(f.errorCode)],
    ['budget_exceeded', f.errorCode === 'budget_exceeded'],
    ['approval_rejected', f.rejected],
    ['approval_edited', f.edited],
    ['negative_feedback', f.negativeFeedback],
  ];
  return reasons.filter(([, holds]) => holds).map(([reason]) => reason);
}

/**
 * A page of the tenant's candidate runs, newest first, and where the next page starts (null on the
 * last): runs that failed, hit a cap or a budget, had an approval rejected or edited, or got a
 * negative score. Each with its reasons, its edited calls (the approver's arguments: the expected
 * call) and all its feedback. Runs without an input (never recorded by the API) are left out.
 */
export async function listReviewCandidates(db: Queryable, tenantId: string, page: { limit: number; after?: PageKey }) {
  const params: unknown[] = [tenantId];
  const after = page.after
    ? `AND (r.created_at, r.run_id) < ($${params.push(page.after.at)}::timestamptz, $${params.push(page.after.id)}::uuid)`
    : '';
  const { rows } = await db.query(
    `WITH candidates AS (
       SELECT run_id FROM runs WHERE tenant_id = $1 AND status IN ('failed', 'step_limit', 'budget_exceeded')
       UNION SELECT run_id FROM approvals WHERE tenant_id = $1 AND (status = 'rejected' OR edited_arguments IS NOT NULL)
       UNION SELECT run_id FROM feedback WHERE tenant_id = $1 AND score < 0
     )
     SELECT r.run_id AS "runId", r.agent, r.bundle_id AS "bundleId", r.status, r.input,
            CASE WHEN r.error IS NULL THEN NULL ELSE jsonb_build_object('code', r.error_code, 'message', r.error) END AS error,
            r.created_at AS "createdAt", r.error_code AS "errorCode",
            EXISTS (SELECT 1 FROM approvals a WHERE a.run_id = r.run_id AND a.status = 'rejected') AS rejected,
            EXISTS (SELECT 1 FROM approvals a WHERE a.run_id = r.run_id AND a.edited_arguments IS NOT NULL) AS edited,
            EXISTS (SELECT 1 FROM feedback f WHERE f.run_id = r.run_id AND f.score < 0) AS "negativeFeedback",
            r.created_at::text AS "cursorTime"
     FROM runs r JOIN candidates c ON c.run_id = r.run_id
     WHERE r.tenant_id = $1 AND r.input <> '' ${after}
     ORDER BY r.created_at DESC, r.run_id DESC LIMIT $${params.push(page.limit + 1)}`,
    params,
  );
  const { items, next } = pageOf(rows, page.limit, (run) => run.runId);
  const runIds = items.map((r) => r.runId as string);
  const [edited, feedback] = await Promise.all([editedApprovalsOfRuns(db, runIds), feedbackOfRuns(db, runIds)]);
  const runs = items.map(({ errorCode, rejected, edited: wasEdited, negativeFeedback, ...run }) => ({
    ...run,
    reasons: reviewReasonsOf({ status: run.status, errorCode, rejected, edited: wasEdited, negativeFeedback }),
    editedCalls: edited.filter((e) => e.runId === run.runId).map(({ runId: _, ...call }) => call),
    feedback: feedback.filter((f) => f.runId === run.runId),
  }));
  return { runs, next };
}
