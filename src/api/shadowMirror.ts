/**
 * The production side of continuous shadowing (docs/staging.md): after a production run is accepted
 * (its row committed, its answer on its way), the agent's continuous shadowing workflow is
 * signalled-with-start to mirror it, in the background. The start path never waits for this, and
 * nothing here can fail it: an error is logged and that run is simply not mirrored.
 */
import type { Client } from '@temporalio/client';
import type { Db } from '../db/pool';
import { getShadowingSetting } from '../db/shadows';
import { continuousShadowWorkflowId, mirroredAt } from '../shared/shadowing';
import { logger } from '../telemetry/logger';
import { continuousShadow, mirrorRunSignal } from '../workflows';

/** Called by the start path (./runStarter.ts) for each production run it recorded; returns at once. */
export type MirrorProductionRun = (run: { tenantId: string; agent: string; runId: string }) => void;

export function productionRunMirror({ db, temporal, taskQueue }: { db: Db; temporal: Client; taskQueue: string }): MirrorProductionRun {
  const mirror = async ({ tenantId, agent, runId }: { tenantId: string; agent: string; runId: string }) => {
    const setting = await getShadowingSetting(db, tenantId, agent);
    if (!setting?.enabled || !mirroredAt(runId, setting.rate)) return;
    await temporal.workflow.signalWithStart(continuousShadow, {
      workflowId: continuousShadowWorkflowId(tenantId, agent),
      taskQueue,
      args: [{ tenantId, agent }],
      signal: mirrorRunSignal,
      signalArgs: [{ runId }],
    });
  };
  return (run) => {
    setImmediate(() => {
      mirror(run).catch((err) => logger.warn({ err, runId: run.runId, agent: run.agent }, 'shadowing: the run was not mirrored'));
    });
  };
}
