import { setTimeout } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import { defaultAdmissionSafetyPollMs, defaultRunLimits, defaultRunRecordGraceMs, type RunLimits } from '../config';
import { afterCommit, inTransaction, type Db, type DbClient } from '../db/pool';
import { appendAudit } from '../db/audit';
import { appendRunEvent, eventKeys } from '../db/runEvents';
import { holdRunEnd, lockOpenRun } from '../db/runEnd';
import { approvalStatusOf, cancelPendingApprovals, expirePendingApproval, insertApproval } from '../db/approvals';
import { endRun, markRunStarted, recordUnrecordedRun, runHasEnded, setOpenRunStatus } from '../db/runs';
import { assistantTextOf } from '../db/transcript';
import { statedReason } from '../shared/approvals';
import type { AgentRunInput, ApprovalDecision, PendingApproval, RunStatus } from '../shared/domain';
import { FailureType, retryableFailure, terminalFailure } from '../shared/failures';
import { runErrorCodeOf, UNCLASSIFIED, type RunErrorCode } from '../shared/runErrors';
import { storableJson, storableOptionalText, storableText } from '../shared/storable';
import type { SlotCheck } from '../shared/admission';
import { runFinished, runStarted } from './runLifecycle';
import { fillFreeSlots, pollAdmission, type Admission, recheckAfterMs, stillQueued, waitForToolWorkers, type AdmissionOutcome, type WakeRuns } from './admission';

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
export type AdmitRunInput = Pick<AgentRunInput, 'runId'> & Partial<Pick<AgentRunInput, 'tenantId' | 'agent' | 'bundleId'>> & {
  /** The task queues of the run's worker tools: the run waits `queued` until a live worker polls each. */
  toolQueues?: string[];
};

export interface RunDeps {
  db: Db;
  /** Concurrency limits of runs; the configuration's defaults when absent. */
  limits?: RunLimits;
  /** How long (ms) a new run waits for the API to record its row (BOSUN_RUN_RECORD_GRACE); the default when absent. */
  recordGraceMs?: number;
  /**
   * How the runs an allocation admits are woken (src/activities/admission.ts signalAdmitted), and
   * their safety poll in ms (BOSUN_ADMISSION_SAFETY_POLL). Without it nobody is woken: queued runs
   * start on their safety poll (tests that need no worker's client).
   */
  admissionWake?: { wake: WakeRuns; safetyPollMs: number };
  /** Wakes the shadow workflow of a replayed run that asked for approval (src/activities/shadows.ts shadowWakeOf); nobody without it. */
  shadowWake?: (runId: string) => Promise<void>;
}

/**
 * A new run's first poll often comes before the API's commit, a few ms after the workflow started
 * (7 to 8 of 20 runs on the 2-core machine). An activity retry costs about a second on the dev server,
 * so the poll first looks again every RECORD_POLL_MS for up to RECORD_WAIT_MS, then retries after RECORD_RETRY_MS.
 */
const RECORD_POLL_MS = 25;
const RECORD_WAIT_MS = 1_000;
const RECORD_RETRY_MS = 500;

/**
 * Ends the run in `client`'s transaction, unless it has ended already (then nothing): its pending
 * approvals are cancelled, its row takes the final status, and `run.finished` is its last event.
 * Takes the run's end lock (holdRunEnd); a transaction that locks the run's row before calling this
 * must have taken that lock first (as callModel's answer does), the order requestApprovals keeps.
 */
export async function finishRunIn(client: DbClient, { runId, status, output, error, errorCode }: FinishRunInput): Promise<void> {
  const code = error === undefined ? null : (errorCode ?? UNCLASSIFIED);
  await holdRunEnd(client, runId);
  if (await runHasEnded(client, runId)) return;
  // Approval rows before the run's row: the order the API's decision takes its locks in.
  for (const a of await cancelPendingApprovals(client, runId)) {
    await appendAudit(client, {
      tenantId: a.tenantId, actor: 'system:run', action: 'approval.cancelled', runId, bundleId: a.bundleId,
      target: a.approvalId, status: 'cancelled', detail: { tool: a.tool, runStatus: status },
    });
  }
  const run = await endRun(client, runId, {
    // The output is the model's (stored already); an error message may quote a provider or a tool.
    status, output: storableOptionalText(output ?? null).value, error: storableOptionalText(error ?? null).value, errorCode: code,
  });
  if (!run) return;
  afterCommit(client, () => runFinished(runId, run, status));
  // The last event of the run: its event stream ends here.
  await appendRunEvent(client, runId, 'run.finished', eventKeys.runFinished(), {
    status, output: output ?? null, error: error === undefined ? null : { code, message: error }, steps: run.steps, usage: run.usage,
  });
}

/**
 * The admission a worker's activities share: its limits, who is woken when a slot is filled, and
 * how long a queued run waits before it polls anyway. Without `admissionWake` nobody is woken.
 */
export function admissionOf({
  db, limits = defaultRunLimits, admissionWake = { wake: async () => undefined, safetyPollMs: defaultAdmissionSafetyPollMs },
}: Pick<RunDeps, 'db' | 'limits' | 'admissionWake'>): Admission {
  return { db, limits, ...admissionWake };
}

/** The run's row in PostgreSQL: the read model behind `GET /v1/runs/:runId`. */
export function createRunActivities(deps: RunDeps) {
  const { db, recordGraceMs = defaultRunRecordGraceMs } = deps;
  const admission = admissionOf(deps);

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
    const recorded = await recordUnrecordedRun(db, { runId, tenantId, agent, bundleId, error: message, errorCode: runErrorCodeOf(FailureType.RunNotRecorded) });
    // The API's row came in after all: the next attempt admits the run as usual.
    if (!recorded) return notYet;
    runFinished(runId, { agent, tenantId, bundleId, durationSeconds: waitedMs / 1000 }, 'failed');
    return terminalFailure(FailureType.RunNotRecorded, message);
  }

  /** One poll for a slot, after the run's tool workers are there; waits a moment for a row the API has not committed yet. */
  async function pollForSlot(run: AdmitRunInput): Promise<AdmissionOutcome> {
    await waitForToolWorkers(db, run);
    let outcome = await pollAdmission(admission, run.runId);
    for (let waited = 0; !outcome && waited < RECORD_WAIT_MS; waited += RECORD_POLL_MS) {
      await setTimeout(RECORD_POLL_MS);
      outcome = await pollAdmission(admission, run.runId);
    }
    if (!outcome) throw await unrecordedRun(run);
    return outcome;
  }

  return {
    /**
     * Runs from before the wake-ups: takes a run slot for the run (see ./admission.ts), or throws a
     * retryable `RunQueued` failure with a short next-retry delay, so Temporal polls again until the
     * run is admitted. A run whose row never comes fails with `RunNotRecorded` (see unrecordedRun).
     */
    async admitRun(run: AdmitRunInput): Promise<void> {
      const outcome = await pollForSlot(run);
      if (!outcome.admitted) throw stillQueued(run.runId, outcome.position);
    },

    /**
     * Takes a run slot for the run if one is free (see ./admission.ts); otherwise the run stays
     * `queued` and its workflow waits for the `admitted` signal, or `recheckAfterMs` before it asks
     * again. Called before the first model step and again after approvals. While no live worker has
     * one of the run's tools, throws a retryable `RunQueued` failure (every 2 s); a run whose row
     * never comes fails with `RunNotRecorded` (see unrecordedRun).
     */
    async queueForSlot(run: AdmitRunInput): Promise<SlotCheck> {
      const outcome = await pollForSlot(run);
      if (outcome.admitted) return { admitted: true };
      return { admitted: false, ticket: outcome.ticket, recheckAfterMs: recheckAfterMs(outcome.position, admission.safetyPollMs) };
    },

    /** Marks the run started without admission: what runs from before fair admission call. */
    async startRun({ runId }: { runId: string }): Promise<void> {
      await inTransaction(db, async (client) => {
        const started = await markRunStarted(client, runId);
        // The API commits the row right after starting the workflow; until then, retry.
        if (!started) throw retryableFailure(FailureType.RunRecordMissing, `run ${runId} has no record yet`);
        const first = await appendRunEvent(client, runId, 'run.started', eventKeys.runStarted(), { agent: started.agent, status: 'running' });
        if (first !== undefined) afterCommit(client, () => runStarted(runId, started));
      });
    },

    /** Sets the status of a run that has not ended; an ended run keeps the status it ended with. */
    async setRunStatus({ runId, status }: { runId: string; status: RunStatus }): Promise<void> {
      await setOpenRunStatus(db, runId, status);
    },

    /**
     * Ends the run, once: its pending approvals are cancelled, its row takes the final status, and
     * `run.finished` is its last event. Nothing is written for it afterwards (src/db/runEnd.ts); a
     * second call (a retry, or a run someone else ended) changes nothing.
     */
    async finishRun(end: FinishRunInput): Promise<void> {
      await inTransaction(db, (client) => finishRunIn(client, end));
      // After the commit, and on every retry (the run ended already or not): its slot goes to the next queued run.
      await fillFreeSlots(admission);
    },

    /** Records the approvals a step waits for, unless the run has ended (RunEndedError), and gives the run's slot to the next queued run. */
    async requestApprovals({ runId, tenantId, bundleId, step, approvals }: RequestApprovalsInput): Promise<void> {
      await inTransaction(db, async (client) => {
        // Before finishRun or after it, never between its cancelling pending approvals and its ending the run.
        await holdRunEnd(client, runId);
        await lockOpenRun(client, runId);
        // The model's own words for the step that asked for these calls, if it wrote any.
        const assistantText = await assistantTextOf(client, runId, step);
        const reasons = approvals.map((a) => statedReason(assistantText, a.arguments));
        for (const [i, a] of approvals.entries()) {
          // The model's arguments as PostgreSQL can store them: what the approver sees (and the tool gets, see executeTool).
          await insertApproval(client, {
            approvalId: a.approvalId, runId, tenantId, bundleId, step, toolCallId: storableText(a.toolCallId).value, tool: storableText(a.tool).value,
            arguments: storableJson(a.arguments).value, requestedAt: a.requestedAt, expiresAt: a.expiresAt,
            reason: storableOptionalText(reasons[i]!).value, risk: a.risk,
          });
        }
        await setOpenRunStatus(client, runId, 'awaiting_approval');
        for (const [i, a] of approvals.entries()) {
          await appendRunEvent(client, runId, 'approval.requested', eventKeys.approvalRequested(a.approvalId), {
            approvalId: a.approvalId, step, toolCallId: a.toolCallId, tool: a.tool, arguments: a.arguments,
            reason: reasons[i], risk: a.risk ?? null,
            requestedAt: a.requestedAt, expiresAt: a.expiresAt,
          });
        }
      });
      // The parked run holds no slot: it goes to the next queued run.
      await fillFreeSlots(admission);
      // A shadow's replay: its workflow decides the approval (after the commit, so it finds it).
      await deps.shadowWake?.(runId);
    },

    /**
     * Marks a still-pending approval expired. A decision that reached the database first wins, so the
     * run always follows what the API told the approver.
     */
    async expireApproval({ approvalId }: { approvalId: string }): Promise<ApprovalDecision> {
      return inTransaction(db, async (client) => {
        const expired = await expirePendingApproval(client, approvalId);
        if (expired) {
          await appendRunEvent(client, expired.runId, 'approval.decided', eventKeys.approvalDecided(approvalId), {
            approvalId, tool: expired.tool, decision: 'expired', decidedBy: 'system:expiry',
          });
          // Only the retry that actually expired it gets here, so the entry is written once.
          await appendAudit(client, {
            tenantId: expired.tenantId, actor: 'system:expiry', action: 'approval.expired', runId: expired.runId, bundleId: expired.bundleId,
            target: approvalId, status: 'expired', detail: { tool: expired.tool, expiresAt: expired.expiresAt },
          });
        }
        return (await approvalStatusOf(client, approvalId)) === 'approved' ? 'approved' : 'rejected';
      });
    },
  };
}
