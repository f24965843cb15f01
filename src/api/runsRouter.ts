import { Router } from 'express';
import { approvalDecisionRequestSchema, createRunRequestSchema, listApprovalsQuerySchema, listRunsQuerySchema } from '../contract';
import { terminalStatuses } from '../shared/domain';
import { approvalDecider } from './approvalDecider';
import { principalOf } from './auth';
import { conflict, notFound, unavailable } from './errors';
import { findRun, listRuns, loadRunView } from '../db/runs';
import { listApprovals } from '../db/approvals';
import { idempotencyKeyOf, type RunStarterDeps, type StartRun } from './runStarter';
import { withinDeadline } from './temporalDeadline';
import { decodeCursor, encodeCursor, parse, parseQuery, uuidParam } from './validation';

export type RunsRouterDeps = RunStarterDeps;

/** Runs and their approvals; `startRun` (./runStarter.ts) starts them, as it does for chat completions. */
export function runsRouter({ db, temporal, settings, startRun }: RunsRouterDeps & { startRun: StartRun }): Router {
  const router = Router();
  const temporalCall = <T>(call: () => Promise<T>) => withinDeadline(temporal, settings.temporalCallTimeoutMs, call);
  const decide = approvalDecider({ db, temporal, settings });

  router.post('/runs', async (req, res) => {
    const principal = principalOf(req, 'runner');
    const body = parse(createRunRequestSchema, req.body);
    res.status(202).json(await startRun(principal, body, idempotencyKeyOf(req)));
  });

  router.get('/runs', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const { cursor, ...filter } = parseQuery(listRunsQuerySchema, req.query);
    const { runs, next } = await listRuns(db, tenantId, { ...filter, after: decodeCursor(cursor) });
    res.json({ runs, nextCursor: encodeCursor(next) });
  });

  router.get('/runs/:runId', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const view = await loadRunView(db, tenantId, uuidParam(req, 'runId', 'Run'));
    if (!view) throw notFound('Run');
    res.json(view);
  });

  router.post('/runs/:runId/approvals/:approvalId', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'approver');
    const runId = uuidParam(req, 'runId', 'Run');
    const approvalId = uuidParam(req, 'approvalId', 'Approval');
    const request = parse(approvalDecisionRequestSchema, req.body);
    res.status(202).json(await decide({ tenantId, keyId, runId, approvalId, ...request }));
  });

  /** The tenant's approvals across runs, newest first: what an approver works through. */
  router.get('/approvals', async (req, res) => {
    const { tenantId } = principalOf(req, 'approver');
    const { cursor, ...filter } = parseQuery(listApprovalsQuerySchema, req.query);
    const { approvals, next } = await listApprovals(db, tenantId, { ...filter, after: decodeCursor(cursor) });
    res.json({ approvals, nextCursor: encodeCursor(next) });
  });

  router.post('/runs/:runId/cancel', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const run = await findRun(db, tenantId, uuidParam(req, 'runId', 'Run'));
    if (!run) throw notFound('Run');
    if (terminalStatuses.includes(run.status)) throw conflict(`The run is already ${run.status}.`);
    await temporalCall(() => temporal.workflow.getHandle(run.runId).cancel()).catch(() => {
        throw unavailable('The cancellation could not be delivered because Temporal is unavailable; send it again.');
      });
    res.status(202).json({ runId: run.runId, status: run.status, cancelRequested: true });
  });

  return router;
}
