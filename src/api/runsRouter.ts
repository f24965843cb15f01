import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { z } from 'zod';
import type { BundleRegistry } from '../bundles/loadBundles';
import { inTransaction, type Db } from '../db/pool';
import { runPolicyOf } from '../shared/bundle';
import {
  approvalDecisionRequestSchema,
  createRunRequestSchema,
  idempotencyKeySchema,
  terminalStatuses,
  type AgentRunInput,
} from '../shared/domain';
import { AgentNameKey, BundleIdKey, RunStatusKey, TenantIdKey } from '../shared/searchAttributes';
import { agentRun, approvalDecidedSignal } from '../workflows';
import { principalOf } from './auth';
import { badRequest, conflict, notFound, unavailable, zodProblems } from './errors';
import {
  findRun,
  findRunByIdempotencyKey,
  insertRun,
  loadRunView,
  lockApproval,
  recordDecision,
  type RunSummary,
} from './runRepository';

export interface RunsRouterDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  bundles: BundleRegistry;
  approvalTimeoutMs: number;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest(zodProblems(parsed.error));
  return parsed.data;
}

function idParam(req: Request, name: string, what: string): string {
  const value = req.params[name];
  // Not a UUID cannot name anything we store.
  if (typeof value !== 'string' || !uuidPattern.test(value)) throw notFound(what);
  return value.toLowerCase();
}

const accepted = (run: RunSummary) => ({ ...run, links: { self: `/v1/runs/${run.runId}` } });

export function runsRouter({ db, temporal, taskQueue, bundles, approvalTimeoutMs }: RunsRouterDeps): Router {
  const router = Router();

  router.post('/runs', async (req, res) => {
    const { tenantId, keyId } = principalOf(req);
    const body = parse(createRunRequestSchema, req.body);
    const rawKey = req.get('idempotency-key');
    const idempotencyKey = rawKey === undefined ? undefined : parse(idempotencyKeySchema.describe('Idempotency-Key'), rawKey);
    const bundle = bundles.currentFor(body.agent);
    if (!bundle) throw badRequest([`agent: unknown agent "${body.agent}"`]);

    const runId = randomUUID();
    const created = await inTransaction(db, async (client) => {
      const inserted = await insertRun(client, {
        runId, tenantId, agent: body.agent, bundleId: bundle.id, input: body.input, metadata: body.metadata ?? {}, idempotencyKey, createdBy: keyId,
      });
      if (!inserted) return false;
      // Started inside the transaction: a run is only committed, and only acknowledged, once Temporal has it.
      await startWorkflow({ runId, tenantId, agent: body.agent, bundleId: bundle.id, policy: runPolicyOf(bundle, approvalTimeoutMs) });
      return true;
    });
    const run = created ? await findRun(db, tenantId, runId) : await findRunByIdempotencyKey(db, tenantId, idempotencyKey!);
    if (!created && (run!.agent !== body.agent || run!.input !== body.input)) {
      throw conflict('This Idempotency-Key was already used for a different request.');
    }
    res.status(202).json(accepted(run!));
  });

  async function startWorkflow(input: AgentRunInput): Promise<void> {
    try {
      await temporal.workflow.start(agentRun, {
        workflowId: input.runId,
        taskQueue,
        args: [input],
        typedSearchAttributes: [
          { key: TenantIdKey, value: input.tenantId },
          { key: AgentNameKey, value: input.agent },
          { key: BundleIdKey, value: input.bundleId },
          { key: RunStatusKey, value: 'queued' },
        ],
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw unavailable('The run could not be started because Temporal is unavailable; retry with the same Idempotency-Key.');
    }
  }

  router.get('/runs/:runId', async (req, res) => {
    const { tenantId } = principalOf(req);
    const view = await loadRunView(db, tenantId, idParam(req, 'runId', 'Run'));
    if (!view) throw notFound('Run');
    res.json(view);
  });

  router.post('/runs/:runId/approvals/:approvalId', async (req, res) => {
    const { tenantId, keyId } = principalOf(req);
    const runId = idParam(req, 'runId', 'Run');
    const approvalId = idParam(req, 'approvalId', 'Approval');
    const { decision, comment } = parse(approvalDecisionRequestSchema, req.body);
    const status = decision === 'approve' ? 'approved' : 'rejected';

    await inTransaction(db, async (client) => {
      const approval = await lockApproval(client, tenantId, runId, approvalId);
      if (!approval.found) throw notFound('Approval');
      if (approval.status !== 'pending') throw conflict(`This approval is already ${approval.status}.`);
      if (approval.expired) throw conflict('This approval has expired.');
      await recordDecision(client, approvalId, status, keyId, comment);
      // Signalled before commit: if Temporal refuses, the decision is rolled back and can be sent again.
      // Temporal keeps the signal even while no worker runs; the run acts on it when one returns.
      await temporal.workflow
        .getHandle(runId)
        .signal(approvalDecidedSignal, { approvalId, decision: status, decidedBy: keyId })
        .catch(() => {
          throw unavailable('The decision could not be delivered because Temporal is unavailable; send it again.');
        });
    });
    res.status(202).json({ runId, approvalId, decision: status, decidedBy: keyId });
  });

  router.post('/runs/:runId/cancel', async (req, res) => {
    const { tenantId } = principalOf(req);
    const run = await findRun(db, tenantId, idParam(req, 'runId', 'Run'));
    if (!run) throw notFound('Run');
    if (terminalStatuses.includes(run.status)) throw conflict(`The run is already ${run.status}.`);
    await temporal.workflow
      .getHandle(run.runId)
      .cancel()
      .catch(() => {
        throw unavailable('The cancellation could not be delivered because Temporal is unavailable; send it again.');
      });
    res.status(202).json({ runId: run.runId, status: run.status, cancelRequested: true });
  });

  return router;
}
