/**
 * Evals and the flywheel back into the golden set (src/contract/evals.ts): stored evals, feedback on
 * runs, the review list of candidate cases, and a run's tool calls as tapes. Every route is the
 * caller's tenant's only (another tenant's run is a 404) and needs the runner role, as reading and
 * starting runs does.
 */
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { findBundle } from '../bundles/bundleStore';
import {
  createEvalRequestSchema,
  feedbackRequestSchema,
  listEvalsQuerySchema,
  reviewQuerySchema,
} from '../contract';
import { appendAudit } from '../db/audit';
import { insertEval, listEvals } from '../db/evals';
import { insertFeedback } from '../db/feedback';
import { inTransaction, type Db, type Queryable } from '../db/pool';
import { listReviewCandidates } from '../db/review';
import { findRun } from '../db/runs';
import { givenTapesOf } from '../db/runTapes';
import { ranToolCallsOf } from '../db/transcript';
import { pinsOf } from '../shared/bundle';
import { redact } from '../shared/redaction';
import { tapeOfRecordedCall, type TapeEntry } from '../shared/tapes';
import { principalOf } from './auth';
import { badRequest, notFound } from './errors';
import { decodeCursor, encodeCursor, parse, parseQuery, uuidParam } from './validation';

export function evalsRouter({ db }: { db: Db }): Router {
  const router = Router();

  /** Stores an eval of one of the tenant's bundles; 400 when the bundle is not the agent's. */
  router.post('/evals', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'runner');
    const body = parse(createEvalRequestSchema, req.body);
    const bundle = await findBundle(db, tenantId, body.bundleId);
    if (!bundle || bundle.name !== body.agent) throw badRequest([`bundleId: no bundle ${body.bundleId} for agent "${body.agent}"`]);
    const created = await inTransaction(db, async (client) => {
      const stored = await insertEval(client, tenantId, randomUUID(), body, keyId);
      await appendAudit(client, {
        tenantId, actor: keyId, action: 'eval.recorded', bundleId: body.bundleId, target: stored.evalId,
        status: body.summary.passed ? 'passed' : 'failed',
        detail: { agent: body.agent, suiteHash: body.suiteHash, cases: body.cases.length, regressions: body.summary.regressions },
      });
      return stored;
    });
    res.status(201).json(created);
  });

  /** The tenant's evals, newest first, by agent, bundle and suite: `--baseline` picks from these. */
  router.get('/evals', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    res.json({ evals: await listEvals(db, tenantId, parseQuery(listEvalsQuerySchema, req.query)) });
  });

  router.post('/runs/:runId/feedback', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'runner');
    const runId = uuidParam(req, 'runId', 'Run');
    const body = parse(feedbackRequestSchema, req.body);
    if (!(await findRun(db, tenantId, runId))) throw notFound('Run');
    res.status(201).json(await insertFeedback(db, { feedbackId: randomUUID(), runId, tenantId, createdBy: keyId, ...body }));
  });

  /** Runs worth a golden case, newest first, with why (src/db/review.ts). */
  router.get('/review', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const { limit, cursor } = parseQuery(reviewQuerySchema, req.query);
    const { runs, next } = await listReviewCandidates(db, tenantId, { limit, after: decodeCursor(cursor) });
    res.json({ runs, nextCursor: encodeCursor(next) });
  });

  /**
   * The run's tool calls as tape entries, what `bosun golden add` writes: each result as the model
   * saw it (its keys in their order, which a replay keeps) redacted by the tool's pinned
   * `redact.result`, or the step row's redacted copy for a tool the bundle does not pin; and the
   * tapes it was started with, if any (`bosun golden add --shadow` keeps a replay's).
   */
  router.get('/runs/:runId/tapes', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const run = await findRun(db, tenantId, uuidParam(req, 'runId', 'Run'));
    if (!run) throw notFound('Run');
    const given = await givenTapesOf(db, run.runId);
    res.json({ tapes: await recordedTapesOf(db, tenantId, run), ...(given && { given }) });
  });

  return router;
}

/** The value of a JSON text, or undefined for text that is not JSON (a transcript from before results were JSON). */
function jsonOf(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/**
 * A run's tool calls as tape entries: each result as the model saw it (its keys in their order,
 * which a replay keeps) redacted by the tool's pinned `redact.result`, or the step row's redacted
 * copy for a tool the bundle does not pin. Shadow replays serve them to the replayed run.
 */
export async function recordedTapesOf(db: Queryable, tenantId: string, run: { runId: string; bundleId: string }): Promise<TapeEntry[]> {
  const bundle = await findBundle(db, tenantId, run.bundleId);
  const pins = new Map((bundle ? pinsOf(bundle) : []).map((p) => [p.name, p]));
  return (await ranToolCallsOf(db, run.runId)).map(({ tool, args, status, output, shownResult }) => {
    const pin = pins.get(tool);
    const seen = pin && jsonOf(output);
    const result = seen ? redact(seen.value, pin.redact?.result) : shownResult;
    return tapeOfRecordedCall({ tool, args, status, result });
  });
}
