/**
 * The pure rules of shadow replays and continuous shadowing (issue 15, docs/staging.md): how a
 * replayed run's approval is decided from its original's, which production runs are mirrored, and
 * the shapes the shadow workflows and their activities exchange.
 */

/** How a replay's approvals are decided: as the original's were, or all rejected. */
export type ShadowApprovalPolicy = 'as_original' | 'reject';

/** A pending approval of a replayed run, with what became of the same call in its original. */
export interface PendingShadowApproval {
  runId: string;
  approvalId: string;
  tool: string;
  /** The status of the original's k-th approval of the same tool (`approved`, `rejected`, `pending`, ...); null when it asked none. */
  original: string | null;
  /** The original run has ended: whatever it has not asked by now, it never will. */
  originalEnded: boolean;
  /** The arguments the original's approver edited the call to, anonymised as the replay's input was; absent when not edited. */
  editedArguments?: Record<string, unknown>;
}

export interface ShadowDecision {
  decision: 'approve' | 'reject';
  arguments?: Record<string, unknown>;
  comment: string;
}

/**
 * The decision on a replay's pending approval, or undefined while the original's is still to come
 * (a continuous shadow's original may still be waiting for its human): approved, with the
 * original's edit if it had one, when a human approved the original's; otherwise rejected.
 */
export function shadowDecisionOf(pending: PendingShadowApproval, policy: ShadowApprovalPolicy, shadowId: string): ShadowDecision | undefined {
  const prefix = `shadow replay ${shadowId}`;
  if (policy === 'reject') return { decision: 'reject', comment: `${prefix}: every approval rejected` };
  if (pending.original === 'pending' || (pending.original === null && !pending.originalEnded)) return undefined;
  if (pending.original === 'approved') {
    return { decision: 'approve', ...(pending.editedArguments && { arguments: pending.editedArguments }), comment: `${prefix}: the original was approved${pending.editedArguments ? ' with edited arguments' : ''}` };
  }
  const why = pending.original ? `the original was ${pending.original}` : 'the original asked no approval here';
  return { decision: 'reject', comment: `${prefix}: ${why}` };
}

/** Who decides a shadow's approvals (the reviewer identity of every decision it makes). */
export const shadowReviewer = (shadowId: string) => `shadow:${shadowId}`;

/** The Temporal workflow ID of a shadow replay. */
export const shadowWorkflowId = (shadowId: string) => `shadow:${shadowId}`;

/** The Temporal workflow ID of an agent's continuous shadowing. */
export const continuousShadowWorkflowId = (tenantId: string, agent: string) => `shadowing:${tenantId}:${agent}`;

/**
 * Whether continuous shadowing at `rate` (0..1) mirrors the production run `runId`: the same answer
 * every time for a run (FNV-1a of its ID, as a share of 2^32), so a retry never mirrors twice and a
 * rate of 1 mirrors every run, 0 none.
 */
export function mirroredAt(runId: string, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  let hash = 0x811c9dc5;
  for (let i = 0; i < runId.length; i += 1) {
    hash ^= runId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 2 ** 32 < rate;
}

/** Input of the `shadowReplay` workflow: its ID only; the selection and the prepared inputs stay in PostgreSQL. */
export interface ShadowReplayInput {
  shadowId: string;
  /** Set by continue-as-new: every replay was started already. */
  started?: boolean;
  /** Between passes when no replay woke the workflow, in ms; the workflow's default (5 s) when absent. */
  passEveryMs?: number;
}

/** What one pass over a shadow's replays found: how many there are and how many ended; approvals decided on the way. */
export interface ShadowProgress {
  runs: number;
  ended: number;
  decided: number;
}

/** Input of the `continuousShadow` workflow (one per agent); `queued` carries mirrors not yet started across continue-as-new. */
export interface ContinuousShadowInput {
  tenantId: string;
  agent: string;
  /** The agent's standing shadow, once a run was mirrored. */
  shadowId?: string;
  queued?: string[];
}

/** The signal that wakes a shadow's workflow: one of its replays asked for approval. No payload. */
export const SHADOW_WAKE_SIGNAL = 'shadowWake';

/** The signal (signal-with-start) that hands a production run to its agent's continuous shadowing: `{ runId }`. */
export const MIRROR_RUN_SIGNAL = 'mirrorRun';
