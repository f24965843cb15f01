import { setTimeout } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import { configSchema, type RunLimits } from '../config';
import { inTransaction, type Db } from '../db/pool';
import { appendAudit } from '../db/audit';
import { appendRunEvent, eventKeys } from '../db/runEvents';
import { holdRunEnd, lockOpenRun } from '../db/runEnd';
import { statedReason } from '../shared/approvals';
import type { AgentRunInput, ApprovalDecision, PendingApproval, RunStatus } from '../shared/domain';
import { parseDuration } from '../shared/duration';
import { FailureType, retryableFailure, terminalFailure } from '../shared/failures';
import { runErrorCodeOf, UNCLASSIFIED, type RunErrorCode } from '../shared/runErrors';
import { storableJson, storableOptionalText, storableText } from '../shared/storable';
import { defaultRunLimits, pollAdmission, stillQueued } from './admission';

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
  /** With `error`; absent from workflows that ran before error codes (they count as unclassified). */
  errorCode?: RunErrorCode;
}

/** Which run asks for a slot; runs started before tenant, agent and bundle were passed give only the ID. */
export type AdmitRunInput = Pick<AgentRunInput, 'runId'> & Partial<Pick<AgentRunInput, 'tenantId' | 'agent' | 'bundleId'>>;

export interface RunDeps {
  db: Db;
  /** Concurrency limits of runs; the configuration's defaults when absent. */
  limits?: RunLimits;
  /** How long (ms) a new run waits for the API to record its row (BOSUN_RUN_RECORD_GRACE); the default when absent. */
  recordGraceMs?: number;
}

const defaultRecordGraceMs = parseDuration(configSchema.shape.BOSUN_RUN_RECORD_GRACE.parse(undefined))!;
/**
 * A new run's first poll often comes before the API's commit, a few ms after the workflow started
 * (7 to 8 of 20 runs on the 2-core machine). An activity retry costs about a second on the dev server,
 * so the poll first looks again every RECORD_POLL_MS for up to RECORD_WAIT_MS, then retries after RECORD_RETRY_MS.
 */
const RECORD_POLL_MS = 25;
const RECORD_WAIT_MS = 1_000;
const RECORD_RETRY_MS = 500;

/** The run's row in PostgreSQL: the read model behind `GET /v1/runs/:runId`. */
export function createRunActivities({ db, limits = defaultRunLimits, recordGraceMs = defaultRecordGraceMs }: RunDeps) {
  /**
   * What admitRun throws for a run without a row. The API records the row right after starting the
   * workflow, so within `recordGraceMs` of the first attempt this is a retry soon. Past it, the API
   * stopped (or failed) in between: the run is recorded here as failed (`run_not_recorded`), which also keeps the
   * API's late insert, should one come, from creating a run no workflow serves, and the failure ends
   * the workflow. Its Idempotency-Key was never recorded, so a retry of the request starts a new run.
   */
  async function unrecordedRun({ runId, tenantId = '', agent = '', bundleId = '' }: AdmitRunInput): Promise<ApplicationFailure> {
    const waitedMs = Date.now() - Context.current().info.scheduledTimestampMs;
    // Benign: logged at debug level only, since every new run may poll before the API's commit.
    const notYet = ApplicationFailure.create({
      type: FailureType.RunRecordMissing, message: `run ${runId} has no record yet`, nextRetryDelay: RECORD_RETRY_MS, category: ApplicationFailureCategory.BENIGN,
    });
    if (waitedMs < recordGraceMs) return notYet;
    const message =
      `run_not_recorded: run ${runId} was started but the API did not record it within ${recordGraceMs / 1000} s ` +
      '(it stopped, timed out or lost PostgreSQL in between); nothing ran. Send the request again: its Idempotency-Key starts a new run.';
    const { rowCount } = await db.query(
      `INSERT INTO runs (run_id, tenant_id, agent, bundle_id, status, input, error, error_code, created_by, finished_at)
       VALUES ($1, $2, $3, $4, 'failed', '', $5, $6, 'system:run', now()) ON CONFLICT (run_id) DO NOTHING`,
      [runId, tenantId, agent, bundleId, message, runErrorCodeOf(FailureType.RunNotRecorded)],
    );
    // The API's row came in after all: the next attempt admits the run as usual.
    if (rowCount === 0) return notYet;
    return terminalFailure(FailureType.RunNotRecorded, message);
  }

  return {
    /**
     * Takes a run slot for the run (see ./admission.ts), or throws a retryable `RunQueued` failure
     * with a short next-retry delay, so Temporal polls again until the run is admitted. Called
     * before the first model step and again after approvals; the run stays `queued` until then.
     * A run whose row never comes fails with `RunNotRecorded` (see unrecordedRun).
     */
    async admitRun(run: AdmitRunInput): Promise<void> {
      let outcome = await pollAdmission(db, run.runId, limits);
      for (let waited = 0; !outcome && waited < RECORD_WAIT_MS; waited += RECORD_POLL_MS) {
        await setTimeout(RECORD_POLL_MS);
        outcome = await pollAdmission(db, run.runId, limits);
      }
      if (!outcome) throw await unrecordedRun(run);
      if (!outcome.admitted) throw stillQueued(run.runId, outcome.position);
    },

    /** Marks the run started without admission: what runs from before fair admission call. */
    async startRun({ runId }: { runId: string }): Promise<void> {
      await inTransaction(db, async (client) => {
        const { rows } = await client.query(
          `UPDATE runs SET status = 'running', started_at = coalesce(started_at, now()), admitted_at = now(), updated_at = now()
           WHERE run_id = $1 AND status IN ('queued', 'running')
           RETURNING agent`,
          [runId],
        );
        // The API commits the row right after starting the workflow; until then, retry.
        if (!rows[0]) throw retryableFailure(FailureType.RunRecordMissing, `run ${runId} has no record yet`);
        await appendRunEvent(client, runId, 'run.started', eventKeys.runStarted(), { agent: rows[0].agent, status: 'running' });
      });
    },

    /** Sets the status of a run that has not ended; an ended run keeps the status it ended with. */
    async setRunStatus({ runId, status }: { runId: string; status: RunStatus }): Promise<void> {
      await db.query('UPDATE runs SET status = $2, updated_at = now() WHERE run_id = $1 AND finished_at IS NULL', [runId, status]);
    },

    /**
     * Ends the run, once: its pending approvals are cancelled, its row takes the final status, and
     * `run.finished` is its last event. Nothing is written for it afterwards (src/db/runEnd.ts); a
     * second call (a retry, or a run someone else ended) changes nothing.
     */
    async finishRun({ runId, status, output, error, errorCode }: FinishRunInput): Promise<void> {
      const code = error === undefined ? null : (errorCode ?? UNCLASSIFIED);
      await inTransaction(db, async (client) => {
        await holdRunEnd(client, runId);
        const ended = await client.query('SELECT 1 FROM runs WHERE run_id = $1 AND finished_at IS NOT NULL', [runId]);
        if (ended.rowCount) return;
        // Approval rows before the run's row: the order the API's decision takes its locks in.
        const cancelled = await client.query(
          `UPDATE approvals SET status = 'cancelled', decided_at = now() WHERE run_id = $1 AND status = 'pending'
           RETURNING approval_id, tenant_id, bundle_id, tool`,
          [runId],
        );
        for (const a of cancelled.rows) {
          await appendAudit(client, {
            tenantId: a.tenant_id, actor: 'system:run', action: 'approval.cancelled', runId, bundleId: a.bundle_id,
            target: a.approval_id, status: 'cancelled', detail: { tool: a.tool, runStatus: status },
          });
        }
        const { rows } = await client.query(
          `UPDATE runs SET status = $2, output = $3, error = $4, error_code = $5, finished_at = now(), updated_at = now() WHERE run_id = $1
           RETURNING step_count, input_tokens, cached_input_tokens, output_tokens, cost_usd, cache_savings_usd`,
          // The output is the model's (stored already); an error message may quote a provider or a tool.
          [runId, status, storableOptionalText(output ?? null).value, storableOptionalText(error ?? null).value, code],
        );
        const run = rows[0];
        if (!run) return;
        // The last event of the run: its event stream ends here.
        await appendRunEvent(client, runId, 'run.finished', eventKeys.runFinished(), {
          status, output: output ?? null, error: error === undefined ? null : { code, message: error }, steps: run.step_count,
          usage: {
            inputTokens: run.input_tokens,
            cachedInputTokens: run.cached_input_tokens,
            outputTokens: run.output_tokens,
            costUsd: run.cost_usd,
            cacheSavingsUsd: run.cache_savings_usd,
          },
        });
      });
    },

    /** Records the approvals a step waits for, unless the run has ended (RunEndedError). */
    async requestApprovals({ runId, tenantId, bundleId, step, approvals }: RequestApprovalsInput): Promise<void> {
      await inTransaction(db, async (client) => {
        // Before finishRun or after it, never between its cancelling pending approvals and its ending the run.
        await holdRunEnd(client, runId);
        await lockOpenRun(client, runId);
        // The model's own words for the step that asked for these calls, if it wrote any.
        const assistant = await client.query(
          `SELECT content FROM run_messages WHERE run_id = $1 AND step = $2 AND ordinal = 0 AND role = 'assistant'`,
          [runId, step],
        );
        const assistantText: string | null = assistant.rows[0]?.content ?? null;
        for (const a of approvals) {
          // The model's arguments as PostgreSQL can store them: what the approver sees (and the tool gets, see executeTool).
          await client.query(
            `INSERT INTO approvals (approval_id, run_id, tenant_id, bundle_id, step, tool_call_id, tool, arguments,
                                    requested_at, expires_at, reason, risk)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
            [a.approvalId, runId, tenantId, bundleId, step, storableText(a.toolCallId).value, storableText(a.tool).value,
             JSON.stringify(storableJson(a.arguments).value), a.requestedAt, a.expiresAt,
             storableOptionalText(statedReason(assistantText, a.arguments)).value, a.risk ? JSON.stringify(a.risk) : null],
          );
        }
        await client.query(`UPDATE runs SET status = 'awaiting_approval', updated_at = now() WHERE run_id = $1`, [runId]);
        for (const a of approvals) {
          await appendRunEvent(client, runId, 'approval.requested', eventKeys.approvalRequested(a.approvalId), {
            approvalId: a.approvalId, step, toolCallId: a.toolCallId, tool: a.tool, arguments: a.arguments,
            reason: statedReason(assistantText, a.arguments), risk: a.risk ?? null,
            requestedAt: a.requestedAt, expiresAt: a.expiresAt,
          });
        }
      });
    },

    /**
     * Marks a still-pending approval expired. A decision that reached the database first wins, so the
     * run always follows what the API told the approver.
     */
    async expireApproval({ approvalId }: { approvalId: string }): Promise<ApprovalDecision> {
      return inTransaction(db, async (client) => {
        const expired = await client.query(
          `UPDATE approvals SET status = 'expired', decided_at = now(), decided_by = 'system:expiry'
           WHERE approval_id = $1 AND status = 'pending' RETURNING run_id, tenant_id, bundle_id, tool, expires_at`,
          [approvalId],
        );
        const row = expired.rows[0];
        if (row) {
          await appendRunEvent(client, row.run_id, 'approval.decided', eventKeys.approvalDecided(approvalId), {
            approvalId, tool: row.tool, decision: 'expired', decidedBy: 'system:expiry',
          });
          // Only the retry that actually expired it gets here, so the entry is written once.
          await appendAudit(client, {
            tenantId: row.tenant_id, actor: 'system:expiry', action: 'approval.expired', runId: row.run_id, bundleId: row.bundle_id,
            target: approvalId, status: 'expired', detail: { tool: row.tool, expiresAt: row.expires_at },
          });
        }
        const { rows } = await client.query('SELECT status FROM approvals WHERE approval_id = $1', [approvalId]);
        return rows[0]?.status === 'approved' ? 'approved' : 'rejected';
      });
    },
  };
}
