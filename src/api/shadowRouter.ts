/**
 * Shadow replay (issue 15, docs/staging.md): `POST /v1/agents/:agent/shadow` selects a sample of
 * the agent's production runs, prepares each replay (its input and its original's recorded read
 * results as tapes, anonymised under a key made for this replay and never stored), records them and
 * starts the shadow's workflow (src/workflows/shadowReplay.ts), which starts the replays in staging
 * and decides their approvals; `GET /v1/agents/:agent/shadow/:shadowId` is the comparison report
 * (`/report.html`: as a page with plots).
 * Continuous shadowing: `PUT|GET /v1/agents/:agent/shadowing` (the mirroring is ./shadowMirror.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { Router, type Request } from 'express';
import { canonicalJson } from '../bundles/bundleId';
import { findBundle } from '../bundles/bundleStore';
import {
  DEFAULT_SHADOW_SAMPLE, MAX_SHADOW_SAMPLE, shadowingRequestSchema, shadowRequestSchema, type ShadowingView, type ShadowReport, type ShadowRequest,
  type ShadowingSetting, type ShadowStarted,
} from '../contract';
import { getStagingDeployment } from '../db/environments';
import { inTransaction } from '../db/pool';
import {
  editedApprovalsOf, findContinuousShadow, findShadow, getShadowingSetting, insertShadow, prepareShadowRun, putShadowingSetting,
  selectProductionRuns, shadowHoldingKey, shadowLinks, shadowPairs, type PreparedShadowRun, type ShadowKey, type ShadowRow,
  type ShadowingSetting as StoredShadowingSetting,
} from '../db/shadows';
import { loadRunView } from '../db/runs';
import { appendAudit } from '../db/audit';
import { keyedAnonymiser } from '../secrets/pseudonyms';
import { pinsOf, type Bundle } from '../shared/bundle';
import { compareShadowPair, shadowReportOf, type ShadowItem } from '../shared/shadowReport';
import { shadowWorkflowId } from '../shared/shadowing';
import { MAX_TAPE_ENTRIES } from '../shared/tapes';
import { shadowReplay } from '../workflows';
import { requirePublishedAgent } from './agentsRouter';
import { principalOf } from './auth';
import { ApiError, badRequest, notFound, unavailable } from './errors';
import { recordedTapesOf } from './evalsRouter';
import { idempotencyKeyOf } from './runStarter';
import type { RunsRouterDeps } from './runsRouter';
import { shadowReportPage } from './shadowReportPage';
import { withinDeadline } from './temporalDeadline';
import { parse, stringParam, uuidParam } from './validation';

/** What a shadow's Idempotency-Key is bound to: the SHA-256 (hex) of the canonical JSON of the agent and the request (defaults filled in). */
function shadowRequestFingerprint(agent: string, request: ShadowRequest): string {
  return createHash('sha256').update(canonicalJson({ agent, request })).digest('hex');
}

export function shadowRouter(deps: RunsRouterDeps): Router {
  const router = Router();
  const { db, temporal, taskQueue, settings } = deps;

  router.post('/agents/:agent/shadow', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const agent = stringParam(req, 'agent');
    const request = parse(shadowRequestSchema, req.body);
    const key = idempotencyKeyOf(req);
    const idempotency = key === undefined ? undefined : { key, requestFingerprint: shadowRequestFingerprint(agent, request), keyTtlMs: settings.idempotencyKeyTtlMs };
    const earlier = idempotency && (await answerHoldingKey(tenantId, idempotency));
    if (earlier) return void res.status(202).json(earlier);
    const bundle = await candidateOf(tenantId, agent, request.bundleId);
    const { sampleRate } = request;
    const sample = request.sample ?? (sampleRate === undefined ? DEFAULT_SHADOW_SAMPLE : MAX_SHADOW_SAMPLE);
    const originals = await selectProductionRuns(db, tenantId, { agent, ...request, sample, rate: sampleRate });
    if (originals.length === 0) throw badRequest([`selection: no production run of agent "${agent}" matches`]);
    const shadowId = randomUUID();
    const prepared = await prepareReplays(tenantId, bundle, originals, request.anonymise);
    const { since, until, statuses, approvals } = request;
    const selection = { since, until, statuses, sample, sampleRate, approvals, names: request.anonymise.names.length, patterns: request.anonymise.patterns };
    const recorded = await inTransaction(db, async (client) => {
      // With a key another shadow holds (a concurrent request with it committed first): nothing recorded.
      if (!(await insertShadow(client, { shadowId, tenantId, agent, bundleId: bundle.id, selection, createdBy: keyId }, idempotency))) return false;
      for (const replay of prepared) await prepareShadowRun(client, shadowId, replay);
      await appendAudit(client, {
        tenantId, actor: keyId, action: 'shadow.started', bundleId: bundle.id, target: shadowId, detail: { agent, ...selection, runs: originals.length },
      });
      // Inside the transaction: a start Temporal refuses (503) records nothing, so no shadow is left without its workflow.
      await startShadowWorkflow(shadowId);
      return true;
    });
    if (!recorded) {
      const winner = idempotency && (await answerHoldingKey(tenantId, idempotency));
      if (!winner) throw unavailable('Another request with this Idempotency-Key recorded its shadow meanwhile; retry (with the same key).');
      return void res.status(202).json(winner);
    }
    const answer: ShadowStarted = {
      shadowId, agent, bundleId: bundle.id, runs: originals.map((o) => ({ originalRunId: o.runId, runId: null })),
      links: { self: `/v1/agents/${agent}/shadow/${shadowId}` },
    };
    res.status(202).json(answer);
  });

  router.get('/agents/:agent/shadow/:shadowId', async (req, res) => {
    res.json(await requestedReport(req));
  });

  router.get('/agents/:agent/shadow/:shadowId/report.html', async (req, res) => {
    const { html, contentSecurityPolicy } = shadowReportPage(await requestedReport(req));
    res.set({ 'Content-Security-Policy': contentSecurityPolicy, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' });
    res.type('html').send(html);
  });

  router.put('/agents/:agent/shadowing', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const agent = stringParam(req, 'agent');
    const request = parse(shadowingRequestSchema, req.body);
    await requirePublishedAgent(db, tenantId, agent);
    if (request.enabled && !(await getStagingDeployment(db, tenantId, agent))) {
      throw badRequest([`agent: "${agent}" has no staging deployment to mirror its production runs to (PUT /v1/agents/${agent}/staging first)`]);
    }
    const setting = await inTransaction(db, async (client) => {
      if (request.rate === undefined && request.enabled && !(await getShadowingSetting(client, tenantId, agent))) {
        throw badRequest(['rate: required the first time continuous shadowing is enabled (the share of production runs to mirror, 0..1)']);
      }
      const stored = await putShadowingSetting(client, tenantId, { agent, ...request, updatedBy: keyId });
      await appendAudit(client, { tenantId, actor: keyId, action: 'shadowing.set', target: agent, detail: { agent, enabled: stored.enabled, rate: stored.rate } });
      return stored;
    });
    res.json(settingView(setting, true));
  });

  router.get('/agents/:agent/shadowing', async (req, res) => {
    const { tenantId, roles } = principalOf(req, 'runner');
    const agent = stringParam(req, 'agent');
    await requirePublishedAgent(db, tenantId, agent);
    const [setting, shadow] = await Promise.all([getShadowingSetting(db, tenantId, agent), findContinuousShadow(db, tenantId, agent)]);
    const answer: ShadowingView = {
      setting: setting ? settingView(setting, roles.includes('admin')) : null,
      report: shadow ? await reportOf(tenantId, shadow, MAX_SHADOW_SAMPLE) : null,
    };
    res.json(answer);
  });

  /**
   * The answer of the shadow that holds the key (its replays so far), when this request is the one
   * that started it; 409 when another request did; undefined when no shadow holds it.
   */
  async function answerHoldingKey(tenantId: string, idempotency: ShadowKey & { keyTtlMs: number }): Promise<ShadowStarted | undefined> {
    const holder = await shadowHoldingKey(db, tenantId, idempotency.key, idempotency.keyTtlMs);
    if (!holder) return undefined;
    const { shadow } = holder;
    if (holder.requestFingerprint !== idempotency.requestFingerprint) {
      throw new ApiError(
        409, 'idempotency_key_reused',
        `This Idempotency-Key belongs to shadow ${shadow.shadowId}, started by a different request (its agent or body differ); send a new key for a new request.`,
      );
    }
    const runs = await shadowLinks(db, shadow.shadowId);
    return { shadowId: shadow.shadowId, agent: shadow.agent, bundleId: shadow.bundleId, runs, links: { self: `/v1/agents/${shadow.agent}/shadow/${shadow.shadowId}` } };
  }

  /** The candidate: the named bundle of the agent, or the agent's staging bundle; 400 when there is neither. */
  async function candidateOf(tenantId: string, agent: string, bundleId: string | undefined): Promise<Bundle> {
    const id = bundleId ?? (await getStagingDeployment(db, tenantId, agent))?.bundleId;
    if (!id) throw badRequest([`bundleId: agent "${agent}" has no staging deployment; name the candidate bundle`]);
    const bundle = await findBundle(db, tenantId, id);
    if (!bundle || bundle.name !== agent) throw badRequest([`bundleId: no bundle ${id} for agent "${agent}"`]);
    return bundle;
  }

  /**
   * Each original's replay, anonymised under one key for the whole replay (never stored: its
   * pseudonyms cannot be linked to another replay's, nor reversed): the input, the recorded read
   * results the candidate pins as tapes, and the arguments the original's approvers edited.
   */
  async function prepareReplays(
    tenantId: string, bundle: Bundle, originals: { runId: string; input: string; bundleId: string }[], settings: ShadowRequest['anonymise'],
  ): Promise<PreparedShadowRun[]> {
    const anonymiser = keyedAnonymiser(settings);
    const reads = new Set(pinsOf(bundle).filter((p) => p.kind === 'read').map((p) => p.name));
    return Promise.all(originals.map(async (original) => {
      const tapes = (await recordedTapesOf(db, tenantId, original)).filter((t) => reads.has(t.tool)).slice(0, MAX_TAPE_ENTRIES);
      const edits = await editedApprovalsOf(db, original.runId);
      return { originalRunId: original.runId, input: anonymiser.text(original.input), tapes: anonymiser.json(tapes), edits: anonymiser.json(edits) };
    }));
  }

  /** Starts the shadow's workflow (its ID from the shadow's); one started already is left as it is. Temporal away: 503. */
  async function startShadowWorkflow(shadowId: string): Promise<void> {
    try {
      await withinDeadline(temporal, settings.temporalCallTimeoutMs, () =>
        temporal.workflow.start(shadowReplay, { workflowId: shadowWorkflowId(shadowId), taskQueue, args: [{ shadowId }] }));
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  /** The comparison report of the request's shadow replay; 404 when the tenant has no such replay of the agent. */
  async function requestedReport(req: Request): Promise<ShadowReport> {
    const { tenantId } = principalOf(req, 'runner');
    const shadow = await findShadow(db, tenantId, stringParam(req, 'agent'), uuidParam(req, 'shadowId', 'Shadow replay'));
    if (!shadow) throw notFound('Shadow replay');
    return reportOf(tenantId, shadow);
  }

  /** The comparison report of a shadow: its latest `latest` pairs (all by default), most different first. */
  async function reportOf(tenantId: string, shadow: ShadowRow, latest?: number): Promise<ShadowReport> {
    const items: ShadowItem[] = [];
    for (const pair of await shadowPairs(db, shadow.shadowId, latest)) {
      const [original, replay] = await Promise.all([loadRunView(db, tenantId, pair.originalRunId), loadRunView(db, tenantId, pair.runId)]);
      if (original && replay) items.push(compareShadowPair(original, replay));
    }
    return {
      shadowId: shadow.shadowId, kind: shadow.kind, agent: shadow.agent, bundleId: shadow.bundleId, createdAt: shadow.createdAt,
      done: shadow.completedAt !== null, ...shadowReportOf(items),
    };
  }

  return router;
}

/** A setting as answered: its stored names (real customer names) to an admin only, their count to everyone. */
function settingView(setting: StoredShadowingSetting, admin: boolean): ShadowingSetting {
  const { names, ...rest } = setting;
  return { ...rest, nameCount: names.length, ...(admin && { names }) };
}
