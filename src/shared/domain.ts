/**
 * Domain types shared by the API, the workflow and the activities (the HTTP request and answer
 * schemas are in src/contract). Pure: no I/O, safe to import from workflow code.
 */
import type { ApprovalRisk, ToolPolicy } from './approvals';
import type { RoutingSettings } from './modelRoutes';
import type { RunErrorCode } from './runErrors';

export const runStatuses = [
  'queued', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled', 'step_limit', 'budget_exceeded',
] as const;
export type RunStatus = (typeof runStatuses)[number];
export const terminalStatuses: readonly RunStatus[] = ['completed', 'failed', 'cancelled', 'step_limit', 'budget_exceeded'];

export const approvalStatuses = ['pending', 'approved', 'rejected', 'expired', 'cancelled'] as const;
export type ApprovalStatus = (typeof approvalStatuses)[number];


export interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export const zeroUsage = (): Usage => ({ inputTokens: 0, outputTokens: 0, costUsd: 0 });

export function addUsage(total: Usage, more: Usage): Usage {
  return {
    inputTokens: total.inputTokens + more.inputTokens,
    outputTokens: total.outputTokens + more.outputTokens,
    // Rounded to micro-dollars so repeated float sums stay stable.
    costUsd: Math.round((total.costUsd + more.costUsd) * 1e6) / 1e6,
  };
}

/** A tool call exactly as the model asked for it; `arguments` is the model's raw JSON text. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
  /** The reply hit its output token limit inside this call's arguments: it is never run. */
  truncated?: true;
}

/**
 * A chat message of a run's transcript (src/db/transcript.ts stores them; summaries, at negative
 * ordinals, are not among them): what the model's context window is built from.
 */
export interface ContextMessage {
  step: number;
  ordinal: number;
  role: 'user' | 'assistant' | 'tool';
  content: string | null;
  toolCalls?: ToolCall[];
  toolCallId?: string;
}

export type ModelReply =
  | { kind: 'final'; text: string; usage: Usage }
  | { kind: 'tool_calls'; toolCalls: ToolCall[]; usage: Usage };

/** The run's hard ceilings, from its bundle; no model call is made once one is reached. */
export interface RunPolicy {
  maxSteps: number;
  maxToolCalls?: number;
  maxTotalTokens?: number;
  maxCostUsd?: number;
  approvalTimeoutMs: number;
  tools: ToolPolicy[];
  /** The bundle's model and routing, for the model steps' activity summaries (absent in runs from before them). */
  model?: { id: string; routing?: RoutingSettings };
}

/**
 * Workflow input. Deliberately small: the user's input and the transcript live in PostgreSQL
 * (claim check), so history stays far from Temporal's payload limits however long the run.
 */
export interface AgentRunInput {
  runId: string;
  tenantId: string;
  agent: string;
  bundleId: string;
  policy: RunPolicy;
  /** A sandbox run (staging, evals): write and destructive tools run their sandbox implementation, or not at all. */
  sandbox?: boolean;
  /**
   * A turn of a thread: a newer message may interrupt it or roll it back (cancel it), which it must
   * hear of between steps and in a model call, so its steps stay regular activities (src/workflows/agentRun/proxies.ts).
   */
  onThread?: boolean;
  /** Set when the run continues as new: where the previous execution left off. */
  resume?: { step: number; usage: Usage; toolCalls?: number; toolCallIds?: string[]; toolStatuses?: string[] };
}

export type ApprovalDecision = 'approved' | 'rejected';

export interface ApprovalDecidedSignal {
  approvalId: string;
  decision: ApprovalDecision;
  decidedBy: string;
  /** Set when the approver edited the call: the arguments to run instead, already checked by the API. */
  arguments?: Record<string, unknown>;
}

export interface PendingApproval {
  approvalId: string;
  toolCallId: string;
  tool: string;
  arguments: unknown;
  requestedAt: string;
  expiresAt: string;
  /** Why it waits (absent in approvals requested before risks were recorded). */
  risk?: ApprovalRisk;
}

export interface RunProgress {
  status: RunStatus;
  step: number;
  usage: Usage;
  pendingApprovals: PendingApproval[];
}

export interface RunOutcome {
  status: RunStatus;
  output?: string;
  error?: string;
  /** Set with `error`: what kind of failure it was (src/shared/runErrors.ts). */
  errorCode?: RunErrorCode;
  steps: number;
  usage: Usage;
}
