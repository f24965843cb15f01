/**
 * Deciding a pending approval: what `POST /v1/runs/:runId/approvals/:approvalId` does, and what a
 * shadow replay's workflow does for its replays (src/worker/shadowStarts.ts), as `shadow:<id>`.
 */
import type { Client } from '@temporalio/client';
import { findBundle } from '../bundles/bundleStore';
import type { ApiSettings } from '../config';
import type { ApprovalDecisionRequest, ApprovalDecisionView } from '../contract';
import { appendAudit } from '../db/audit';
import { lockApproval, recordDecision } from '../db/approvals';
import { inTransaction, type Db } from '../db/pool';
import { appendRunEvent, eventKeys } from '../db/runEvents';
import { pinsOf, type Bundle } from '../shared/bundle';
import { diffJson } from '../shared/diff';
import { checkToolArguments } from '../shared/toolArguments';
import { approvalDecidedSignal } from '../workflows';
import { ApiError, badRequest, conflict, notFound, unavailable } from './errors';
import { withinDeadline } from './temporalDeadline';

/** A decision on a pending approval, by `keyId` (an API key, or `shadow:<id>` for a shadow replay's runs). */
export type ApprovalDecisionInput = ApprovalDecisionRequest & { tenantId: string; keyId: string; runId: string; approvalId: string };

/** Decides approvals: `POST /v1/runs/:runId/approvals/:approvalId`, and a shadow replay's runs (src/activities/shadows.ts). */
export function approvalDecider({ db, temporal, settings }: { db: Db; temporal: Client; settings: Pick<ApiSettings, 'temporalCallTimeoutMs'> }) {
  const temporalCall = <T>(call: () => Promise<T>) => withinDeadline(temporal, settings.temporalCallTimeoutMs, call);

  /**
   * Decides a pending approval as `keyId`: recorded, audited and signalled to the run in one
   * transaction (a decision Temporal did not take is rolled back: 503, send it again). 404 for an
   * unknown approval, 409 for one already decided or expired, 403 when the bundle wants a separate
   * approver, 400 for edited arguments the tool's pinned schema refuses.
   */
  return async function decide({ tenantId, keyId, runId, approvalId, decision, comment, arguments: requestedEdit }: ApprovalDecisionInput): Promise<ApprovalDecisionView> {
    const status = decision === 'approve' ? 'approved' : 'rejected';
    const decided = await inTransaction(db, async (client) => {
      const approval = await lockApproval(client, tenantId, runId, approvalId);
      if (!approval.found) throw notFound('Approval');
      if (approval.status !== 'pending') throw conflict(`This approval is already ${approval.status}.`);
      if (approval.expired) throw conflict('This approval has expired.');
      const bundle = await findBundle(client, tenantId, approval.bundleId);
      if (status === 'approved' && approval.runCreatedBy === keyId) {
        if (bundle?.approvals?.separateApprover) {
          throw new ApiError(
            403, 'forbidden',
            `Bundle ${approval.bundleId} requires a separate approver: this run was started with your API key (${keyId}), so another key with the approver role must approve it.`,
          );
        }
      }
      const edited = requestedEdit === undefined ? undefined : checkedEdit(bundle, approval.tool, requestedEdit);
      const changes = edited === undefined ? [] : diffJson(approval.arguments, edited);
      // An "edit" that changes nothing is a plain approval.
      const editedArguments = changes.length ? edited : undefined;
      await recordDecision(client, approvalId, status, keyId, comment, editedArguments);
      await appendRunEvent(client, runId, 'approval.decided', eventKeys.approvalDecided(approvalId), {
        approvalId, decision: status, decidedBy: keyId, comment: comment ?? null,
        ...(editedArguments && { editedArguments }),
      });
      await appendAudit(client, {
        tenantId, actor: keyId, action: 'approval.decided', runId, bundleId: approval.bundleId, target: approvalId, status,
        detail: {
          tool: approval.tool, decision: status, comment: comment ?? null,
          edited: editedArguments !== undefined, argumentChanges: changes,
        },
      });
      // Signalled before commit: if Temporal refuses, the decision is rolled back and can be sent again.
      // Temporal keeps the signal even while no worker runs; the run acts on it when one returns. The
      // deadline bounds how long the approval's row lock is held when Temporal is away.
      await temporalCall(() =>
        temporal.workflow
          .getHandle(runId)
          .signal(approvalDecidedSignal, { approvalId, decision: status, decidedBy: keyId, ...(editedArguments && { arguments: editedArguments }) }),
      ).catch(() => {
          throw unavailable('The decision could not be delivered because Temporal is unavailable; send it again.');
        });
      return { arguments: editedArguments ?? approval.arguments, edited: editedArguments !== undefined };
    });
    return { runId, approvalId, decision: status, decidedBy: keyId, ...decided };
  };
}

/**
 * An approver's replacement arguments, checked against the schema the run's bundle pinned for the
 * tool, as the workflow checks them; 400 listing the problems (`arguments.order_id: ...`).
 */
function checkedEdit(bundle: Bundle | undefined, tool: string, edit: Record<string, unknown>): Record<string, unknown> {
  const pin = bundle && pinsOf(bundle).find((p) => p.name === tool);
  if (!pin) throw badRequest([`arguments: tool "${tool}" is not pinned in the run's bundle, so its arguments cannot be edited`]);
  const checked = checkToolArguments(pin.parameters, edit);
  if (!checked.ok) {
    throw badRequest(checked.problems.map((p) => (p.startsWith('(root)') ? p.replace('(root)', 'arguments') : `arguments.${p}`)));
  }
  return checked.args as Record<string, unknown>;
}
