/** The `feedback` table: what users and operators said of a run (score -1..1, label, comment). */
import type { Queryable } from './pool';

export interface NewFeedback {
  feedbackId: string;
  runId: string;
  tenantId: string;
  score: number;
  label?: string;
  comment?: string;
  /** The API key that sent it. */
  createdBy: string;
}

const feedbackColumns = `feedback_id AS "feedbackId", run_id AS "runId", score, label, comment, created_by AS "createdBy",
  created_at AS "createdAt"`;

/** A feedback entry as the API shows it. */
export interface FeedbackRow {
  feedbackId: string;
  runId: string;
  score: number;
  label: string | null;
  comment: string | null;
  createdBy: string;
  createdAt: string;
}

/** Stores the entry; the run must be the tenant's (the caller checks). */
export async function insertFeedback(db: Queryable, f: NewFeedback): Promise<FeedbackRow> {
  const { rows } = await db.query(
    `INSERT INTO feedback (feedback_id, run_id, tenant_id, score, label, comment, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${feedbackColumns}`,
    [f.feedbackId, f.runId, f.tenantId, f.score, f.label ?? null, f.comment ?? null, f.createdBy],
  );
  return rows[0];
}

/** Every feedback entry of the given runs, oldest first. */
export async function feedbackOfRuns(db: Queryable, runIds: readonly string[]): Promise<FeedbackRow[]> {
  const { rows } = await db.query(
    `SELECT ${feedbackColumns} FROM feedback WHERE run_id = ANY($1::uuid[]) ORDER BY created_at, feedback_id`,
    [runIds],
  );
  return rows;
}
