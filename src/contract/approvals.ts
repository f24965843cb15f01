/**
 * Approvals: a run's tool call waiting for a human. `POST /v1/runs/:runId/approvals/:approvalId`
 * decides one; `GET /v1/approvals` is an approver's inbox across runs.
 */
import { z } from 'zod';
import { approvalStatuses } from '../shared/domain';
import { jsonObject, nextCursor, pageCursor, pageLimit, pathParams, timestamp } from './fields';
import { routes } from './route';

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

/** Query of `GET /v1/approvals`. */
export const listApprovalsQuerySchema = z
  .object({
    status: z.enum(approvalStatuses).optional().describe('Only approvals in this state; every state when absent.'),
    limit: pageLimit(200, 50),
    cursor: pageCursor,
  })
  .strict();
export type ListApprovalsQuery = z.infer<typeof listApprovalsQuerySchema>;

/** Why a call waits (src/shared/approvals.ts, ApprovalRisk); null on approvals from before risks were recorded. */
export const approvalRiskSchema = z.strictObject({
  kind: z.enum(['read', 'write', 'destructive']),
  rule: z.enum(['always', 'default', 'above']),
  field: z.string().optional(),
  threshold: z.number().optional(),
  value: z.number().nullable().optional(),
  summary: z.string(),
});

/** The approver is shown `reason`: the model's text beside its calls, else the call's own `reason` argument. */
const approvalFields = {
  approvalId: z.uuid(),
  tool: z.string(),
  arguments: z.unknown().describe("The model's arguments."),
  reason: z.string().nullable(),
  risk: approvalRiskSchema.nullable(),
  requestedAt: timestamp,
  expiresAt: timestamp,
};

const decisionFields = {
  status: z.enum(approvalStatuses),
  decidedBy: z.string().nullable().describe('The API key that decided; null while pending or when it expired.'),
  decidedAt: timestamp.nullable(),
  comment: z.string().nullable(),
  editedArguments: jsonObject.nullable().describe('The arguments the approver ran instead, when they edited the call.'),
};

/** `pendingApprovals[]` of `GET /v1/runs/:runId`: what waits for a decision now. */
export const pendingApprovalSchema = z.strictObject(approvalFields);
export type PendingApprovalView = z.infer<typeof pendingApprovalSchema>;

/** `approvals[]` of `GET /v1/runs/:runId`: every approval of the run, decided or not. */
export const runApprovalSchema = z.strictObject({ ...approvalFields, ...decisionFields });
export type RunApproval = z.infer<typeof runApprovalSchema>;

/** Answer of `POST /v1/runs/:runId/approvals/:approvalId` (202). */
export const approvalDecisionSchema = z.strictObject({
  runId: z.uuid(),
  approvalId: z.uuid(),
  decision: z.enum(['approved', 'rejected']),
  decidedBy: z.string(),
  arguments: z.unknown().describe('What the tool runs with: the edited arguments, else the model\'s.'),
  edited: z.boolean(),
});
export type ApprovalDecisionView = z.infer<typeof approvalDecisionSchema>;

/** One entry of `GET /v1/approvals`; a pending approval past its expiry reads `expired`. */
export const inboxApprovalSchema = z.strictObject({
  ...approvalFields,
  ...decisionFields,
  runId: z.uuid(),
  agent: z.string(),
  bundleId: z.string(),
  step: z.number().int(),
  requestedBy: z.string().describe('The API key that started the run, whose model asked for the call.'),
  links: z.strictObject({ run: z.string(), decide: z.string() }),
});
export type InboxApproval = z.infer<typeof inboxApprovalSchema>;

/** Answer of `GET /v1/approvals`: newest first. */
export const approvalPageSchema = z.strictObject({ approvals: z.array(inboxApprovalSchema), nextCursor });
export type ApprovalPage = z.infer<typeof approvalPageSchema>;

/** The routes of approvals (the document's `Approvals` tag; see ./route.ts). */
export const approvalRoutes = routes([
  {
    method: 'post', path: '/v1/runs/:runId/approvals/:approvalId', tag: 'Approvals', role: 'approver', summary: 'Approve, reject or edit a waiting tool call',
    description: 'With `arguments`, approves the call with those arguments instead, checked against the tool schema the bundle pinned.',
    params: pathParams({ runId: 'The run ID (a UUID).', approvalId: 'The approval ID (a UUID).' }),
    body: approvalDecisionRequestSchema,
    answers: { 202: { description: 'The decision reached the run.', schema: approvalDecisionSchema } },
    errors: {
      404: 'No such run or approval for this tenant.',
      409: 'The approval is already decided or has expired.',
    },
  },
  {
    method: 'get', path: '/v1/approvals', tag: 'Approvals', role: 'approver', summary: "The tenant's approvals across runs, newest first",
    query: listApprovalsQuerySchema,
    answers: { 200: { description: 'A page of approvals.', schema: approvalPageSchema } },
  },
]);
