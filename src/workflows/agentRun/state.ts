/**
 * An agent run's working state: what the loop carries from step to step, what the progress query
 * answers, and the approvers' answers the approvalDecided signal brings in.
 */
import { upsertSearchAttributes } from '@temporalio/workflow';
import type { RunCounters } from '../../shared/caps';
import { zeroUsage, type AgentRunInput, type ApprovalDecision, type PendingApproval, type RunStatus } from '../../shared/domain';
import { RunStatusKey } from '../../shared/searchAttributes';
import { startsInCurrentShape } from './patches';
import { leanSteps } from './proxies';

export interface Run {
  readonly input: AgentRunInput;
  /** The run takes every patch of ./patches.ts under one marker (runs started since CURRENT_SHAPE). */
  readonly currentShape: boolean;
  status: RunStatus;
  /** What the caps read; carried across continue-as-new. */
  readonly counters: RunCounters;
  /** Tool-call IDs key approvals and idempotency: one the model repeats must not run (or wait) twice. */
  readonly seenToolCallIds: Set<string>;
  /** The approvals of the step at hand, shown by the progress query until the step's calls are done. */
  pendingApprovals: PendingApproval[];
  /** Answers by approval ID: the signal's, or the database's for an approval that expired. */
  readonly decisions: Map<string, ApprovalDecision>;
  /** Arguments an approver substituted for the model's, by approval. */
  readonly editedArguments: Map<string, Record<string, unknown>>;
  /** How each tool call of the last step ended (`ok`, `error`, `invalid_arguments`, `rejected`): what routes the next model step. */
  lastToolStatuses: string[];
  /** Set by the interrupt signal (./interrupt.ts): why the run is to stop at its next safe point. */
  interruptedBy?: string;
}

/** A new run's state (recording the CURRENT_SHAPE marker first, if it is new), or where the previous execution left off when the run continued as new. */
export function beginRun(input: AgentRunInput): Run {
  const { resume } = input;
  return {
    input,
    currentShape: startsInCurrentShape(),
    status: 'running',
    counters: { step: resume?.step ?? 0, usage: resume?.usage ?? zeroUsage(), toolCalls: resume?.toolCalls ?? 0 },
    seenToolCallIds: new Set(resume?.toolCallIds ?? []),
    pendingApprovals: [],
    decisions: new Map(),
    editedArguments: new Map(),
    lastToolStatuses: resume?.toolStatuses ?? [],
  };
}

/**
 * Keeps the query and the Temporal UI's RunStatus filter current; PostgreSQL is told by activities.
 * The search attribute is upserted only when the status changes (what an operator filters on);
 * runs from before `lean-steps` upsert every time, as their histories did.
 */
export function setStatus(run: Run, next: RunStatus): void {
  const changed = run.status !== next;
  run.status = next;
  if (changed || !leanSteps(run)) upsertSearchAttributes([{ key: RunStatusKey, value: next }]);
}
