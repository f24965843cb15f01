/**
 * Continuous shadowing of one agent (issue 15 §5, docs/staging.md): a long-lived workflow the API
 * signals-with-start (`mirrorRun`) after each production run it accepted, never waiting for it. Each
 * run handed over is mirrored, if the agent's setting samples it, to the staging deployment as an
 * anonymised staging run in the agent's standing shadow; the mirrors' approvals are decided as their
 * originals' were once those are known. Idle (no timer) while no mirror is open; continues as new
 * when its history grows long.
 */
import { allHandlersFinished, condition, continueAsNew, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { MIRROR_RUN_SIGNAL, type ContinuousShadowInput } from '../shared/shadowing';
import { PASS_EVERY_MS, shadowWakeSignal } from './shadowReplay';

/** A production run of the agent was accepted: mirror it if the setting samples it. */
export const mirrorRunSignal = defineSignal<[{ runId: string }]>(MIRROR_RUN_SIGNAL);

const shadows = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

export async function continuousShadow(input: ContinuousShadowInput): Promise<void> {
  const { tenantId, agent } = input;
  const queue = [...(input.queued ?? [])];
  let shadowId = input.shadowId;
  let woken = false;
  setHandler(mirrorRunSignal, ({ runId }) => {
    queue.push(runId);
  });
  setHandler(shadowWakeSignal, () => {
    woken = true;
  });
  for (;;) {
    while (queue.length > 0) {
      const mirrored = await shadows.mirrorProductionRun({ tenantId, agent, runId: queue.shift()! });
      shadowId ??= mirrored.shadowId;
    }
    woken = false;
    const progress = shadowId ? await shadows.driveShadow({ shadowId }) : undefined;
    const open = progress !== undefined && progress.ended < progress.runs;
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof continuousShadow>({ tenantId, agent, shadowId, queued: queue });
    }
    const wake = () => queue.length > 0 || woken;
    if (open) await condition(wake, PASS_EVERY_MS);
    else await condition(wake);
  }
}
