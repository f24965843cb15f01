/**
 * Domain types and request schemas shared by the API, the workflow and the activities.
 * Pure: no I/O, safe to import from workflow code.
 */
import { z } from 'zod';
import type { ApprovalRisk, ToolPolicy } from './approvals';
import type { RunErrorCode } from './runErrors';

export const runStatuses = [
  'queued', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled', 'step_limit', 'budget_exceeded',
] as const;
export const runStatusSchema = z.enum(runStatuses);
export type RunStatus = z.infer<typeof runStatusSchema>;
export const terminalStatuses: readonly RunStatus[] = ['completed', 'failed', 'cancelled', 'step_limit', 'budget_exceeded'];

const metadataValue = z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]);

/** Body of `POST /v1/runs`. */
export const createRunRequestSchema = z
  .object({
    agent: z.string().min(1).max(100).describe('Name of the agent to run, e.g. "support".'),
    input: z
      .string()
      .min(1)
      .describe("The user's request; as long as the request size limit allows (BOSUN_MAX_REQUEST_BYTES, 2 MiB by default). Kept in PostgreSQL, never in workflow history."),
    metadata: z
      .record(z.string().max(100), metadataValue)
      .refine((m) => Object.keys(m).length <= 50, 'at most 50 keys')
      .optional()
      .describe('Free-form labels kept with the run.'),
    bundleId: z.string().max(120).optional().describe("Pin the run to this bundle instead of the agent's deployment (evals, staging)."),
    routingKey: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('Runs with the same key land on the same side of a canary (e.g. a conversation or tenant ID); the run ID by default.'),
  })
  .strict();
export type CreateRunRequest = z.infer<typeof createRunRequestSchema>;

/** Body of `POST /v1/runs/:runId/approvals/:approvalId`. */
export const approvalDecisionRequestSchema = z
  .object({
    decision: z.enum(['approve', 'reject']),
    comment: z.string().max(2000).optional(),
    arguments: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("Approve with these arguments instead of the model's; checked against the tool's schema."),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.arguments !== undefined && body.decision !== 'approve') {
      ctx.addIssue({ code: 'custom', path: ['arguments'], message: 'only an approval can edit the arguments' });
    }
  });
export type ApprovalDecisionRequest = z.infer<typeof approvalDecisionRequestSchema>;

/** Query of `GET /v1/runs`. */
export const listRunsQuerySchema = z
  .object({
    agent: z.string().max(100).optional(),
    bundleId: z.string().max(120).optional(),
    status: runStatusSchema.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional().describe('`nextCursor` of the previous page.'),
  })
  .strict();

export const approvalStatuses = ['pending', 'approved', 'rejected', 'expired', 'cancelled'] as const;
export type ApprovalStatus = (typeof approvalStatuses)[number];

/** Query of `GET /v1/approvals`. */
export const listApprovalsQuerySchema = z
  .object({
    status: z.enum(approvalStatuses).optional().describe('Only approvals in this state; every state when absent.'),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional().describe('`nextCursor` of the previous page.'),
  })
  .strict();

export const idempotencyKeySchema = z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

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
  /** Set when the run continues as new: where the previous execution left off. */
  resume?: { step: number; usage: Usage; toolCalls?: number; toolCallIds?: string[] };
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
