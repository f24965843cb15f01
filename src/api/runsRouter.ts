import { createHash, randomUUID } from 'node:crypto';
import { Router } from 'express';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { canonicalJson } from '../bundles/bundleId';
import { findBundle } from '../bundles/bundleStore';
import { getDeployment } from '../bundles/deployments';
import { appendAudit } from '../db/audit';
import type { ApiSettings } from '../config';
import {
  approvalDecisionRequestSchema,
  createRunRequestSchema,
  idempotencyKeySchema,
  listApprovalsQuerySchema,
  listRunsQuerySchema,
  type AcceptedRun,
  type ApprovalDecisionView,
  type ApprovalDecisionRequest,
  type CreateRunRequest,
  type TapeEntry,
} from '../contract';
import { inTransaction, type Db } from '../db/pool';
import { appendRunEvent, eventKeys } from '../db/runEvents';
import { pinsOf, runPolicyOf, type Bundle } from '../shared/bundle';
import { diffJson } from '../shared/diff';
import { runStaticMetadata } from '../shared/runSummaries';
import { terminalStatuses, type AgentRunInput } from '../shared/domain';
import { EnvironmentKey, ownerSearchAttributes, RunStatusKey } from '../shared/searchAttributes';
import type { Environment } from '../shared/environments';
import { getStagingDeployment } from '../db/environments';
import { checkToolArguments } from '../shared/toolArguments';
import { agentRun, approvalDecidedSignal } from '../workflows';
import { principalOf } from './auth';
import { ApiError, badRequest, conflict, notFound, unavailable } from './errors';
import { dropTurn, findThread, threadTurnOf, type ThreadRow } from '../db/threads';
import { DEFAULT_MULTITASK_STRATEGY } from '../shared/threads';
import { reserveTurn, supersede } from './threadTurns';
import { chooseBundle } from './routing';
import { findRun, findRunByIdempotencyKey, listRuns, loadRunView, recordRun, type RunSummary } from '../db/runs';
import { listApprovals, lockApproval, recordDecision } from '../db/approvals';
import { withinDeadline } from './temporalDeadline';
import { decodeCursor, encodeCursor, parse, uuidParam } from './validation';

export interface RunsRouterDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  approvalTimeoutMs: number;
  settings: Pick<ApiSettings, 'idempotencyKeyTtlMs' | 'temporalCallTimeoutMs'>;
}

const accepted = (run: RunSummary): AcceptedRun => ({ ...run, links: { self: `/v1/runs/${run.runId}`, events: `/v1/runs/${run.runId}/events` } });

/**
 * What an Idempotency-Key is bound to: the SHA-256 (hex) of the canonical JSON of the whole request,
 * absent optional fields counted as their defaults (no metadata is `{}`). Tapes, the thread, its
 * strategy, `stream` and `environment` count only when given, so the fingerprints of runs without them stay what they were.
 */
export function requestFingerprint(request: CreateRunRequest): string {
  const { agent, input, metadata = {}, bundleId = null, routingKey = null, tapes, threadId, multitaskStrategy, stream, environment } = request;
  return createHash('sha256')
    .update(canonicalJson({ agent, input, metadata, bundleId, routingKey, tapes, threadId, multitaskStrategy, stream, environment }))
    .digest('hex');
}

/** A decision on a pending approval, by `keyId` (an API key, or `shadow:<id>` for a shadow replay's runs). */
export type ApprovalDecisionInput = ApprovalDecisionRequest & { tenantId: string; keyId: string; runId: string; approvalId: string };

/** Who starts a run, and with which request: a run's body, its agent possibly left to its thread. */
export interface RunLaunch {
  tenantId: string;
  keyId: string;
  request: Omit<CreateRunRequest, 'agent'> & { agent?: string };
  idempotencyKey?: string;
}

/**
 * Starts runs: `POST /v1/runs`, and `POST /v1/threads/:threadId/runs` (./threadsRouter.ts). Temporal
 * first, then the row, and no transaction open while Temporal is called. A workflow whose row never
 * comes (this process stopped in between, or PostgreSQL went away) ends by itself as
 * `run_not_recorded` (see admitRun), and its key, never recorded, stays free for the retry. A run
 * on a thread takes its turn first (./threadTurns.ts: the double-texting decision, 409s included).
 */
export function runLauncher({ db, temporal, taskQueue, approvalTimeoutMs, settings }: RunsRouterDeps) {
  const { idempotencyKeyTtlMs: keyTtlMs, temporalCallTimeoutMs } = settings;
  const temporalCall = <T>(call: () => Promise<T>) => withinDeadline(temporal, temporalCallTimeoutMs, call);

  /** The bundle a new run is pinned to for its whole life: the caller's pin, or the deployment's pick (its environment's). */
  async function bundleForNewRun(tenantId: string, request: CreateRunRequest, runId: string): Promise<Bundle> {
    if (request.bundleId) {
      const pinned = await findBundle(db, tenantId, request.bundleId);
      if (!pinned || pinned.name !== request.agent) throw badRequest([`bundleId: no bundle ${request.bundleId} for agent "${request.agent}"`]);
      return pinned;
    }
    if (request.environment === 'staging') {
      const staging = await getStagingDeployment(db, tenantId, request.agent);
      if (!staging) throw badRequest([`environment: agent "${request.agent}" has no staging deployment (PUT /v1/agents/${request.agent}/staging first, or pin bundleId)`]);
      return (await findBundle(db, tenantId, staging.bundleId))!;
    }
    const deployment = await getDeployment(db, tenantId, request.agent);
    if (!deployment) throw badRequest([`agent: unknown agent "${request.agent}" (publish and deploy a bundle for it first)`]);
    const { bundleId } = chooseBundle(deployment, request.routingKey ?? runId);
    return (await findBundle(db, tenantId, bundleId))!;
  }

  /** The run's agent (the thread's when the request names none; 400 without either) and its thread, if any (404 for an unknown one). */
  async function agentAndThread(tenantId: string, request: RunLaunch['request']): Promise<{ agent: string; thread?: ThreadRow }> {
    const thread = request.threadId ? await findThread(db, tenantId, request.threadId) : undefined;
    if (request.threadId && !thread) throw notFound('Thread');
    const agent = request.agent ?? thread?.agent ?? undefined;
    if (!agent) throw badRequest(['agent: required (the thread names no agent)']);
    return { agent, thread };
  }

  async function launch({ tenantId, keyId, request, idempotencyKey }: RunLaunch): Promise<AcceptedRun> {
    const { agent, thread } = await agentAndThread(tenantId, request);
    const body: CreateRunRequest = { ...request, agent };
    const earlier = idempotencyKey && (await runHoldingKey(tenantId, idempotencyKey, body));
    if (earlier) return acceptedWithTurn(earlier);
    const runId = randomUUID();
    // A conversation stays on one side of a canary: its thread is the routing key unless one is given.
    const bundle = await bundleForNewRun(tenantId, { ...body, routingKey: body.routingKey ?? thread?.threadId }, runId);
    if (body.tapes) checkTapedTools(bundle, body.tapes);
    const strategy = body.multitaskStrategy ?? bundle.threads?.multitaskStrategy ?? DEFAULT_MULTITASK_STRATEGY;
    const turn = thread && (await reserveTurn(db, { tenantId, threadId: thread.threadId, runId, strategy }));
    // A run with tapes is a sandbox run: should an entry be missing, no write reaches a live system.
    // So is every staging run: its write and destructive tools never run their live handler.
    const environment = body.environment ?? 'production';
    await startWorkflow({
      runId, tenantId, agent, bundleId: bundle.id, policy: runPolicyOf(bundle, approvalTimeoutMs, taskQueue),
      ...((body.sandbox || body.tapes || environment === 'staging') && { sandbox: true }),
    }, body.input, environment).catch(async (err) => {
      if (turn) await dropTurn(db, runId);
      throw err;
    });
    const run = {
      runId, tenantId, agent, bundleId: bundle.id, input: body.input, metadata: body.metadata ?? {}, idempotencyKey,
      requestFingerprint: requestFingerprint(body), createdBy: keyId, tapes: body.tapes, stream: body.stream ?? bundle.model.stream ?? false,
      environment,
    };
    // Should this fail (PostgreSQL away: 503), the workflow is left to find its row or not: a commit
    // that failed on the wire may still have landed, and then the run must go on.
    const recorded = await recordRun(db, run, keyTtlMs);
    if (recorded) {
      // The run is recorded: a superseded run Temporal could not be told of is no reason to fail the
      // request. Interrupted, it finishes instead and the new run follows; rolled back, its turn is
      // out of the thread already and any write it attempts is refused (docs/conversations.md).
      if (turn) await supersede(temporal, temporalCall, turn).catch((err) => console.error(`api: could not supersede the open runs of thread ${turn.threadId}`, err));
      return { ...accepted((await findRun(db, tenantId, runId))!), ...(turn && { threadId: turn.threadId, turn: turn.turn }) };
    }
    // Nothing was written: a concurrent request with the same key recorded its run first, or the
    // workflow already gave up on this one.
    await abandonWorkflow(runId);
    if (turn) await dropTurn(db, runId);
    const winner = idempotencyKey && (await runHoldingKey(tenantId, idempotencyKey, body));
    if (winner) return acceptedWithTurn(winner);
    throw unavailable('The run was not recorded in time and has been abandoned; retry (with the same Idempotency-Key).');
  }

  /** The answer for a run started earlier (the same Idempotency-Key): with its thread and turn, if it is a turn of one. */
  async function acceptedWithTurn(run: RunSummary): Promise<AcceptedRun> {
    const at = await threadTurnOf(db, run.runId);
    return { ...accepted(run), ...(at && { threadId: at.threadId, turn: at.turn }) };
  }

  /** The run that holds the key, when this request is the one that created it; 409 when it is another request. */
  async function runHoldingKey(tenantId: string, key: string, request: CreateRunRequest): Promise<RunSummary | undefined> {
    const holder = await findRunByIdempotencyKey(db, tenantId, key, keyTtlMs);
    if (!holder) return undefined;
    const { run, requestFingerprint: boundTo } = holder;
    // Runs recorded before fingerprints are compared as they were then: by agent and input.
    const same = boundTo === null ? run.agent === request.agent && run.input === request.input : boundTo === requestFingerprint(request);
    if (!same) {
      throw new ApiError(
        409, 'idempotency_key_reused',
        `This Idempotency-Key belongs to run ${run.runId}, started by a different request (its agent, input, metadata, bundleId or routingKey differ); send a new key for a new request.`,
      );
    }
    return run;
  }

  /** For a run whose row was not written. Best effort: a workflow left running ends by itself as run_not_recorded. */
  async function abandonWorkflow(runId: string): Promise<void> {
    const reason = 'abandoned: its run was not recorded (another request with the same Idempotency-Key was first)';
    await temporalCall(() => temporal.workflow.getHandle(runId).terminate(reason)).catch(() => undefined);
  }

  /**
   * Starts the run's workflow within the deadline; errors.ts maps Temporal being away to 503. The
   * Temporal UI lists it by its static summary (agent and the first line of `userInput`, redacted)
   * and shows its details (agent, bundle, tenant): of the input, only that line enters history.
   */
  async function startWorkflow(input: AgentRunInput, userInput: string, environment: Environment): Promise<void> {
    try {
      await temporalCall(() =>
        temporal.workflow.start(agentRun, {
          workflowId: input.runId,
          taskQueue,
          args: [input],
          ...runStaticMetadata({ ...input, input: userInput }),
          typedSearchAttributes: [...ownerSearchAttributes(input), { key: RunStatusKey, value: 'queued' }, { key: EnvironmentKey, value: environment }],
        }),
      );
    } catch (err) {
      // A retried start whose first attempt got through: the workflow is there.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  /**
   * Decides a pending approval as `keyId`: recorded, audited and signalled to the run in one
   * transaction (a decision Temporal did not take is rolled back: 503, send it again). 404 for an
   * unknown approval, 409 for one already decided or expired, 403 when the bundle wants a separate
   * approver, 400 for edited arguments the tool's pinned schema refuses.
   */
  async function decide({ tenantId, keyId, runId, approvalId, decision, comment, arguments: requestedEdit }: ApprovalDecisionInput): Promise<ApprovalDecisionView> {
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
  }

  return { launch, decide, temporalCall };
}

export function runsRouter(deps: RunsRouterDeps): Router {
  const router = Router();
  const { db, temporal } = deps;
  const { launch, decide, temporalCall } = runLauncher(deps);

  router.post('/runs', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'runner');
    const request = parse(createRunRequestSchema, req.body);
    const rawKey = req.get('idempotency-key');
    const idempotencyKey = rawKey === undefined ? undefined : parse(idempotencyKeySchema, rawKey);
    res.status(202).json(await launch({ tenantId, keyId, request, idempotencyKey }));
  });

  router.get('/runs', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const { cursor, ...filter } = parse(listRunsQuerySchema, req.query);
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
    const { cursor, ...filter } = parse(listApprovalsQuerySchema, req.query);
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

/** 400 listing each tape entry whose tool the run's bundle does not grant: no call could ever use it. */
function checkTapedTools(bundle: Bundle, tapes: readonly TapeEntry[]): void {
  const pinned = new Set(pinsOf(bundle).map((p) => p.name));
  const problems = tapes.flatMap((entry, i) =>
    pinned.has(entry.tool) ? [] : [`tapes.${i}.tool: bundle ${bundle.id} does not grant a tool "${entry.tool}"`]);
  if (problems.length > 0) throw badRequest(problems);
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
