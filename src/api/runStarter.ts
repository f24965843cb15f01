/**
 * Starting a run: the one code path behind `POST /v1/runs`, `POST /v1/threads/:threadId/runs` and
 * `POST /v1/chat/completions`, so keys, tenants, roles, caps, budgets, idempotency, threads
 * (double-texting) and token streaming apply alike to all three.
 */
import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Request } from 'express';
import { canonicalJson } from '../bundles/bundleId';
import { findBundle } from '../bundles/bundleStore';
import { getDeployment } from '../bundles/deployments';
import type { ApiSettings } from '../config';
import { idempotencyKeySchema, type AcceptedRun, type CreateRunRequest, type TapeEntry } from '../contract';
import type { Db } from '../db/pool';
import { findRun, findRunByIdempotencyKey, recordRun, type RunSummary } from '../db/runs';
import { getStagingDeployment } from '../db/environments';
import { dropTurn, findThread, threadTurnOf, type ThreadRow } from '../db/threads';
import { pinsOf, runPolicyOf, type Bundle } from '../shared/bundle';
import type { AgentRunInput } from '../shared/domain';
import { runStaticMetadata } from '../shared/runSummaries';
import { isLiveProduction, type Environment } from '../shared/environments';
import { EnvironmentKey, ownerSearchAttributes, RunStatusKey } from '../shared/searchAttributes';
import { DEFAULT_MULTITASK_STRATEGY } from '../shared/threads';
import { logger } from '../telemetry/logger';
import { agentRun } from '../workflows';
import type { Principal } from './auth';
import { ApiError, badRequest, notFound, unavailable } from './errors';
import { chooseBundle } from './routing';
import { withinDeadline } from './temporalDeadline';
import type { MirrorProductionRun } from './shadowMirror';
import { reserveTurn, supersede } from './threadTurns';
import { parse } from './validation';

export interface RunStarterDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  approvalTimeoutMs: number;
  settings: Pick<ApiSettings, 'idempotencyKeyTtlMs' | 'temporalCallTimeoutMs'>;
  /** Told of each production run once recorded, without being waited for (continuous shadowing, ./shadowMirror.ts). */
  onProductionRun?: MirrorProductionRun;
}

/** A run's request as the start path takes it: its agent may be left to its thread. */
export type RunRequest = Omit<CreateRunRequest, 'agent'> & { agent?: string };

/**
 * Starts a run for `principal` (who must already hold the runner role) and answers what
 * `POST /v1/runs` answers (with `threadId` and `turn` for a run on a thread); with an
 * Idempotency-Key already bound to the same request, the run it started. A run on a thread takes
 * its turn first (./threadTurns.ts: the double-texting decision). Throws ApiError: 400 (unknown
 * agent or bundle, no agent at all, tapes the bundle cannot use), 404 (unknown thread), 409 (the key
 * belongs to another request; the thread is busy under `reject`), 503 (Temporal or PostgreSQL away).
 */
export type StartRun = (principal: Pick<Principal, 'tenantId' | 'keyId'>, request: RunRequest, idempotencyKey?: string) => Promise<AcceptedRun>;

/** The request's `Idempotency-Key` header, checked; undefined without one. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const rawKey = req.get('idempotency-key');
  return rawKey === undefined ? undefined : parse(idempotencyKeySchema, rawKey);
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

/**
 * The agent's deployment in the tenant: what a new run (or a new thread) needs its agent to have.
 * Throws a 400 ApiError naming the agent when it has none.
 */
export async function deploymentFor(db: Db, tenantId: string, agent: string) {
  const deployment = await getDeployment(db, tenantId, agent);
  if (!deployment) throw badRequest([`agent: unknown agent "${agent}" (publish and deploy a bundle for it first)`]);
  return deployment;
}

export function runStarter({ db, temporal, taskQueue, approvalTimeoutMs, settings, onProductionRun }: RunStarterDeps): StartRun {
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
    const deployment = await deploymentFor(db, tenantId, request.agent);
    const { bundleId } = chooseBundle(deployment, request.routingKey ?? runId);
    return (await findBundle(db, tenantId, bundleId))!;
  }

  /** The run's agent (the thread's when the request names none; 400 without either) and its thread, if any (404 for an unknown one). */
  async function agentAndThread(tenantId: string, request: RunRequest): Promise<{ agent: string; thread?: ThreadRow }> {
    const thread = request.threadId ? await findThread(db, tenantId, request.threadId) : undefined;
    if (request.threadId && !thread) throw notFound('Thread');
    const agent = request.agent ?? thread?.agent ?? undefined;
    if (!agent) throw badRequest(['agent: required (the thread names no agent)']);
    return { agent, thread };
  }

  /**
   * Temporal first, then the row, and no transaction open while Temporal is called. A workflow whose
   * row never comes (this process stopped in between, or PostgreSQL went away) ends by itself as
   * `run_not_recorded` (see admitRun), and its key, never recorded, stays free for the retry.
   */
  async function startRun({ tenantId, keyId }: Pick<Principal, 'tenantId' | 'keyId'>, request: RunRequest, idempotencyKey?: string): Promise<AcceptedRun> {
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
    const traffic = { environment, sandbox: Boolean(body.sandbox || body.tapes || environment === 'staging'), pinned: body.bundleId !== undefined };
    await startWorkflow({
      runId, tenantId, agent, bundleId: bundle.id, policy: runPolicyOf(bundle, approvalTimeoutMs, taskQueue),
      ...(traffic.sandbox && { sandbox: true }),
      ...(thread && { onThread: true }),
    }, body.input, environment).catch(async (err) => {
      if (turn) await dropTurn(db, runId);
      throw err;
    });
    const run = {
      runId, tenantId, agent, bundleId: bundle.id, input: body.input, metadata: body.metadata ?? {}, idempotencyKey,
      requestFingerprint: requestFingerprint(body), createdBy: keyId, tapes: body.tapes, stream: body.stream ?? bundle.model.stream ?? false,
      ...traffic,
    };
    // Should this fail (PostgreSQL away: 503), the workflow is left to find its row or not: a commit
    // that failed on the wire may still have landed, and then the run must go on.
    const recorded = await recordRun(db, run, keyTtlMs);
    if (recorded) {
      // Returns at once: mirroring to staging happens in the background, after the commit. Only real
      // production traffic is mirrored: never a sandbox run (eval cases are) nor one pinned to a bundle.
      if (isLiveProduction(traffic)) onProductionRun?.({ tenantId, agent, runId });
      // The run is recorded: a superseded run Temporal could not be told of is no reason to fail the
      // request. Interrupted, it finishes instead and the new run follows; rolled back, its turn is
      // out of the thread already and any write it attempts is refused (docs/conversations.md).
      if (turn) {
        await supersede(temporal, temporalCall, turn)
          .catch((err) => logger.error({ err, threadId: turn.threadId }, 'api: could not supersede the open runs of a thread'));
      }
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

  return startRun;
}

/** 400 listing each tape entry whose tool the run's bundle does not grant: no call could ever use it. */
function checkTapedTools(bundle: Bundle, tapes: readonly TapeEntry[]): void {
  const pinned = new Set(pinsOf(bundle).map((p) => p.name));
  const problems = tapes.flatMap((entry, i) =>
    pinned.has(entry.tool) ? [] : [`tapes.${i}.tool: bundle ${bundle.id} does not grant a tool "${entry.tool}"`]);
  if (problems.length > 0) throw badRequest(problems);
}
