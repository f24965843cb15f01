/**
 * Shadow replay (issue 15, docs/staging.md): `POST /v1/agents/:agent/shadow` replays a sample of
 * the agent's production runs, anonymised, against a candidate bundle in staging, each with its
 * original's recorded read results as tapes (writes run their sandbox implementation, or are
 * refused); `GET /v1/agents/:agent/shadow/:shadowId` is the comparison report.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { Router } from 'express';
import { findBundle } from '../bundles/bundleStore';
import { DEFAULT_SHADOW_SAMPLE, MAX_SHADOW_SAMPLE, shadowRequestSchema, type ShadowReport, type ShadowRequest, type ShadowStarted } from '../contract';
import { getStagingDeployment } from '../db/environments';
import { findShadow, insertShadow, linkShadowRun, pendingShadowApprovals, selectProductionRuns, shadowPairs } from '../db/shadows';
import { loadRunView } from '../db/runs';
import { appendAudit } from '../db/audit';
import { createAnonymiser, type Anonymiser } from '../shared/anonymise';
import { pinsOf, type Bundle } from '../shared/bundle';
import { terminalStatuses } from '../shared/domain';
import { compareShadowPair, shadowReportOf, type ShadowItem } from '../shared/shadowReport';
import { MAX_TAPE_ENTRIES } from '../shared/tapes';
import { principalOf } from './auth';
import { badRequest, notFound } from './errors';
import { recordedTapesOf } from './evalsRouter';
import { approvalDecider, type RunsRouterDeps } from './runsRouter';
import type { StartRun } from './runStarter';
import { parse, stringParam, uuidParam } from './validation';
import { logger } from '../telemetry/logger';

/** How long the API keeps deciding a replay's approvals after starting it (each GET of the report decides those pending too). */
const DRIVE_APPROVALS_FOR_MS = 30 * 60_000;
const DRIVE_EVERY_MS = 500;

type ApprovalPolicy = ShadowRequest['approvals'];

export function shadowRouter(deps: RunsRouterDeps & { startRun: StartRun }): Router {
  const router = Router();
  const { db, startRun } = deps;
  const decide = approvalDecider(deps);

  router.post('/agents/:agent/shadow', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'admin');
    const agent = stringParam(req, 'agent');
    const request = parse(shadowRequestSchema, req.body);
    const bundle = await candidateOf(tenantId, agent, request.bundleId);
    const { sampleRate } = request;
    const sample = request.sample ?? (sampleRate === undefined ? DEFAULT_SHADOW_SAMPLE : MAX_SHADOW_SAMPLE);
    const originals = await selectProductionRuns(db, tenantId, { agent, ...request, sample, rate: sampleRate });
    if (originals.length === 0) throw badRequest([`selection: no production run of agent "${agent}" matches`]);
    const shadowId = randomUUID();
    // Never stored: the pseudonyms of one replay cannot be linked to another's, nor reversed.
    const anonymiser = keyedAnonymiser(request.anonymise);
    const { since, until, statuses, approvals } = request;
    const selection = { since, until, statuses, sample, sampleRate, approvals, names: request.anonymise.names.length, patterns: request.anonymise.patterns };
    await insertShadow(db, { shadowId, tenantId, agent, bundleId: bundle.id, selection, createdBy: keyId });
    await appendAudit(db, {
      tenantId, actor: keyId, action: 'shadow.started', bundleId: bundle.id, target: shadowId, detail: { agent, ...selection, runs: originals.length },
    });
    const reads = new Set(pinsOf(bundle).filter((p) => p.kind === 'read').map((p) => p.name));
    const runs: ShadowStarted['runs'] = [];
    for (const original of originals) {
      const tapes = (await recordedTapesOf(db, tenantId, original)).filter((t) => reads.has(t.tool)).slice(0, MAX_TAPE_ENTRIES);
      const replay = await startRun(
        { tenantId, keyId },
        { agent, input: anonymiser.text(original.input), bundleId: bundle.id, environment: 'staging', tapes: anonymiser.json(tapes), metadata: { shadowId } },
        `shadow:${shadowId}:${original.runId}`,
      );
      await linkShadowRun(db, shadowId, original.runId, replay.runId);
      runs.push({ originalRunId: original.runId, runId: replay.runId });
    }
    driveApprovals(tenantId, shadowId, approvals);
    const answer: ShadowStarted = { shadowId, agent, bundleId: bundle.id, runs, links: { self: `/v1/agents/${agent}/shadow/${shadowId}` } };
    res.status(202).json(answer);
  });

  router.get('/agents/:agent/shadow/:shadowId', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const shadow = await findShadow(db, tenantId, stringParam(req, 'agent'), uuidParam(req, 'shadowId', 'Shadow replay'));
    if (!shadow) throw notFound('Shadow replay');
    await decidePending(tenantId, shadow.shadowId, shadow.selection.approvals as ApprovalPolicy);
    const items: ShadowItem[] = [];
    for (const pair of await shadowPairs(db, shadow.shadowId)) {
      const [original, replay] = await Promise.all([loadRunView(db, tenantId, pair.originalRunId), loadRunView(db, tenantId, pair.runId)]);
      if (original && replay) items.push(compareShadowPair(original, replay));
    }
    const report = shadowReportOf(items);
    const answer: ShadowReport = {
      shadowId: shadow.shadowId, agent: shadow.agent, bundleId: shadow.bundleId, createdAt: shadow.createdAt,
      done: report.items.every((i) => !i.pending), ...report,
    };
    res.json(answer);
  });

  /** The candidate: the named bundle of the agent, or the agent's staging bundle; 400 when there is neither. */
  async function candidateOf(tenantId: string, agent: string, bundleId: string | undefined): Promise<Bundle> {
    const id = bundleId ?? (await getStagingDeployment(db, tenantId, agent))?.bundleId;
    if (!id) throw badRequest([`bundleId: agent "${agent}" has no staging deployment; name the candidate bundle`]);
    const bundle = await findBundle(db, tenantId, id);
    if (!bundle || bundle.name !== agent) throw badRequest([`bundleId: no bundle ${id} for agent "${agent}"`]);
    return bundle;
  }

  /**
   * Decides each pending approval of the replay's runs: as a human decided the original's (the k-th
   * request of a tool ↔ the k-th in the original), else rejected. A decision that lost a race (409)
   * is left to the winner.
   */
  async function decidePending(tenantId: string, shadowId: string, policy: ApprovalPolicy): Promise<void> {
    for (const pending of await pendingShadowApprovals(db, shadowId)) {
      const approve = policy === 'as_original' && pending.original === 'approved';
      const why = pending.original ? `the original was ${pending.original}` : 'the original asked no approval here';
      await decide({
        tenantId, keyId: `shadow:${shadowId}`, runId: pending.runId, approvalId: pending.approvalId,
        decision: approve ? 'approve' : 'reject', comment: `shadow replay ${shadowId}: ${policy === 'as_original' ? why : 'every approval rejected'}`,
      }).catch((err) => logger.debug({ err, shadowId, approvalId: pending.approvalId }, 'shadow: approval not decided'));
    }
  }

  /**
   * In the background, until every replay has ended (or DRIVE_APPROVALS_FOR_MS): decides their
   * approvals as they come. Not durable: should the API stop, the next GET of the report picks up.
   */
  function driveApprovals(tenantId: string, shadowId: string, policy: ApprovalPolicy): void {
    const until = Date.now() + DRIVE_APPROVALS_FOR_MS;
    const tick = async () => {
      await decidePending(tenantId, shadowId, policy);
      const pairs = await shadowPairs(db, shadowId);
      const views = await Promise.all(pairs.map((p) => loadRunView(db, tenantId, p.runId)));
      return views.every((v) => v && terminalStatuses.includes(v.status));
    };
    const loop = () => {
      tick()
        .then((ended) => {
          if (!ended && Date.now() < until) setTimeout(loop, DRIVE_EVERY_MS).unref();
        })
        .catch((err) => logger.warn({ err, shadowId }, 'shadow: stopped deciding approvals; GET the report to resume'));
    };
    loop();
  }

  return router;
}

/** An anonymiser keyed for one replay with a random HMAC-SHA-256 key. */
function keyedAnonymiser(settings: ShadowRequest['anonymise']): Anonymiser {
  const key = randomBytes(32);
  return createAnonymiser(settings, (kind, value) => createHmac('sha256', key).update(`${kind}\0${value}`).digest('hex'));
}
