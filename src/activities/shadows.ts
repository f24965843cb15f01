/**
 * The I/O of shadow replays and continuous shadowing (src/workflows/shadowReplay.ts,
 * src/workflows/continuousShadow.ts; docs/staging.md): starting each replay through the API's own
 * start path (idempotent per original run), deciding the replays' approvals from their originals'
 * as the shadow's reviewer, counting the replays that ended, and mirroring live production runs.
 * The start path and the decider come from the worker (src/worker/shadowStarts.ts).
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { CreateRunRequest, TapeEntry } from '../contract';
import { getStagingDeployment } from '../db/environments';
import type { Db } from '../db/pool';
import { findRun, findRunByIdempotencyKey } from '../db/runs';
import {
  completeShadow, continuousShadowOf, getShadowingSetting, linkShadowRun, pendingShadowApprovals, preparedShadowRun, refuseShadowRun,
  shadowById, shadowOfRun, shadowOriginals, shadowProgressOf,
} from '../db/shadows';
import { keyedAnonymiser } from '../secrets/pseudonyms';
import {
  continuousShadowWorkflowId, mirroredAt, SHADOW_WAKE_SIGNAL, shadowDecisionOf, shadowReviewer, shadowWorkflowId,
  type ShadowApprovalPolicy, type ShadowProgress,
} from '../shared/shadowing';
import { logger } from '../telemetry/logger';
import { activityContext } from './runEnded';

/** How far back a retried mirror looks for the run its first attempt started (far longer than any retry takes). */
const MIRROR_KEY_LOOKBACK_MS = 24 * 3600_000;

/** A refusal by the start path or the decider (their 4xx): nothing to retry. */
export type Refused = { refused: string };

/** The API's run start path and approval decider, as the worker wires them (src/worker/shadowStarts.ts). */
export interface ShadowStarts {
  /** Starts a run as `principal` (idempotent under `idempotencyKey`); `refused` when the start path refuses the request. */
  startRun(principal: { tenantId: string; keyId: string }, request: CreateRunRequest, idempotencyKey: string): Promise<{ runId: string } | Refused>;
  /** Decides a pending approval as `keyId`; `refused` for one decided already, gone, or edited arguments the tool's schema refuses. */
  decide(input: {
    tenantId: string; keyId: string; runId: string; approvalId: string; decision: 'approve' | 'reject'; comment: string; arguments?: Record<string, unknown>;
  }): Promise<{ decided: true } | Refused>;
}

/** Attempts (about 3 minutes with the workflow's backoff) before a shadow whose record never committed is given up. */
const UNRECORDED_ATTEMPTS = 10;

export interface ShadowDeps {
  db: Db;
  /** Absent in a worker that does not run shadows (then their activities fail, retried until one that does takes them). */
  shadowStarts?: ShadowStarts;
}

export function createShadowActivities({ db, shadowStarts }: ShadowDeps) {
  const starts = (): ShadowStarts => {
    if (!shadowStarts) throw new Error('this worker cannot start shadow replays (no start path wired)');
    return shadowStarts;
  };
  const shadowOf = async (shadowId: string) => {
    const shadow = await shadowById(db, shadowId);
    if (!shadow) throw new Error(`shadow ${shadowId} has no record`);
    return shadow;
  };

  return {
    /**
     * The production runs the shadow replays, in the order they were prepared. The API starts the
     * workflow inside the transaction that records the shadow, so the record may not be visible yet:
     * retried until it is; after UNRECORDED_ATTEMPTS the transaction never committed, and the
     * workflow ends (non-retryable failure).
     */
    async shadowOriginals({ shadowId }: { shadowId: string }): Promise<string[]> {
      if (!(await shadowById(db, shadowId))) {
        const message = `shadow ${shadowId} has no record`;
        if ((activityContext()?.info.attempt ?? 1) >= UNRECORDED_ATTEMPTS) throw ApplicationFailure.nonRetryable(message, 'ShadowNotRecorded');
        throw new Error(message);
      }
      return shadowOriginals(db, shadowId);
    },

    /**
     * Starts the replay of one original as a staging run of the shadow's candidate, with its prepared
     * (anonymised) input and tapes, through the API's start path, once: a retry finds the link, or the
     * run its idempotency key started. A start the path refuses is recorded and counts as ended.
     */
    async startShadowReplay({ shadowId, originalRunId }: { shadowId: string; originalRunId: string }): Promise<{ runId: string | null }> {
      const prepared = await preparedShadowRun(db, shadowId, originalRunId);
      if (!prepared) throw new Error(`shadow ${shadowId} has no replay of ${originalRunId}`);
      if (prepared.runId || prepared.refused) return { runId: prepared.runId };
      const shadow = await shadowOf(shadowId);
      const started = await starts().startRun(
        { tenantId: shadow.tenantId, keyId: shadow.createdBy },
        {
          agent: shadow.agent, input: prepared.input ?? '', bundleId: shadow.bundleId, environment: 'staging',
          ...(prepared.tapes?.length && { tapes: prepared.tapes as TapeEntry[] }), metadata: { shadowId },
        },
        `shadow:${shadowId}:${originalRunId}`,
      );
      if ('refused' in started) {
        await refuseShadowRun(db, shadowId, originalRunId, started.refused);
        return { runId: null };
      }
      await linkShadowRun(db, shadowId, originalRunId, started.runId);
      return { runId: started.runId };
    },

    /**
     * One pass over the shadow: decides each pending approval of its replays whose original's
     * decision is known (src/shared/shadowing.ts shadowDecisionOf), as `shadow:<shadowId>`, and
     * counts the replays that ended. A decision the decider refuses (decided meanwhile, or an edit
     * the candidate's schema refuses: then approved as asked) is not retried.
     */
    async driveShadow({ shadowId }: { shadowId: string }): Promise<ShadowProgress> {
      const shadow = await shadowOf(shadowId);
      const policy = (shadow.selection.approvals as ShadowApprovalPolicy | undefined) ?? 'as_original';
      let decided = 0;
      for (const pending of await pendingShadowApprovals(db, shadowId)) {
        const made = shadowDecisionOf(pending, policy, shadowId);
        if (!made) continue;
        const input = { tenantId: shadow.tenantId, keyId: shadowReviewer(shadowId), runId: pending.runId, approvalId: pending.approvalId, ...made };
        let outcome = await starts().decide(input);
        if ('refused' in outcome && made.arguments) {
          const { arguments: _edit, ...asAsked } = input;
          outcome = await starts().decide({ ...asAsked, comment: `${made.comment} (the edit does not fit the candidate: ${outcome.refused})` });
        }
        if ('decided' in outcome) decided += 1;
        else logger.debug({ shadowId, approvalId: pending.approvalId, refused: outcome.refused }, 'shadow: approval not decided');
      }
      return { ...(await shadowProgressOf(db, shadowId)), decided };
    },

    /** Marks the shadow complete: every replay ended. */
    async completeShadow({ shadowId }: { shadowId: string }): Promise<void> {
      await completeShadow(db, shadowId);
    },

    /**
     * Mirrors one production run to the agent's staging deployment, if continuous shadowing is on and
     * samples it (src/shared/shadowing.ts mirroredAt): its input, anonymised under a key of its own,
     * replayed as a staging run linked to it in the agent's standing shadow. Idempotent per original.
     * Returns the standing shadow's ID (undefined when nothing was mirrored) and the replay's run ID.
     */
    async mirrorProductionRun({ tenantId, agent, runId }: { tenantId: string; agent: string; runId: string }): Promise<{ shadowId?: string; runId: string | null }> {
      const setting = await getShadowingSetting(db, tenantId, agent);
      const original = await findRun(db, tenantId, runId);
      const staging = await getStagingDeployment(db, tenantId, agent);
      if (!setting?.enabled || !original || original.environment !== 'production' || !staging || !mirroredAt(runId, setting.rate)) {
        return { runId: null };
      }
      const shadow = await continuousShadowOf(db, { shadowId: randomUUID(), tenantId, agent, bundleId: staging.bundleId, createdBy: setting.updatedBy });
      const key = `mirror:${runId}`;
      // A retry after the start: its anonymiser's key is gone, so the run the key started is linked as it is.
      const earlier = await findRunByIdempotencyKey(db, tenantId, key, MIRROR_KEY_LOOKBACK_MS);
      if (earlier) {
        await linkShadowRun(db, shadow.shadowId, runId, earlier.run.runId);
        return { shadowId: shadow.shadowId, runId: earlier.run.runId };
      }
      const anonymiser = keyedAnonymiser({ names: setting.names, patterns: setting.patterns });
      const started = await starts().startRun(
        { tenantId, keyId: setting.updatedBy },
        // Pinned: the bundle the standing shadow now reports on, whatever is staged by the time the run starts.
        {
          agent, input: anonymiser.text(original.input), bundleId: shadow.bundleId, environment: 'staging',
          metadata: { shadowId: shadow.shadowId, mirrorOf: runId },
        },
        key,
      );
      if ('refused' in started) {
        logger.warn({ tenantId, agent, runId, refused: started.refused }, 'shadowing: the mirror was refused');
        return { shadowId: shadow.shadowId, runId: null };
      }
      await linkShadowRun(db, shadow.shadowId, runId, started.runId);
      return { shadowId: shadow.shadowId, runId: started.runId };
    },
  };
}

/**
 * Wakes the shadow workflow a replayed run belongs to (after its approval request committed), with
 * the worker's Temporal client. Best effort: the workflow looks again on its own within seconds.
 */
export function shadowWakeOf(db: Db, client: Pick<Client, 'workflow'>): (runId: string) => Promise<void> {
  return async (runId) => {
    try {
      const shadow = await shadowOfRun(db, runId);
      if (!shadow) return;
      const workflowId = shadow.kind === 'continuous' ? continuousShadowWorkflowId(shadow.tenantId, shadow.agent) : shadowWorkflowId(shadow.shadowId);
      await client.workflow.getHandle(workflowId).signal(SHADOW_WAKE_SIGNAL);
    } catch (err) {
      logger.debug({ err, runId }, 'shadow: its workflow was not woken (it looks again on its own)');
    }
  };
}
