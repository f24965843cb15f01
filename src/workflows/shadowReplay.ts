/**
 * Shadow replay as a durable Temporal workflow (issue 15 §3, docs/staging.md): starts each prepared
 * replay of a shadow (an activity per original, idempotent), then, until every replay has ended,
 * decides their approvals from their originals' recorded decisions and marks the shadow complete.
 * It wakes when a replay asks for approval (the `shadowWake` signal from the run's
 * requestApprovals activity), and looks again every PASS_EVERY_MS anyway, which is also how it
 * sees replays end. Carries IDs only: inputs, tapes and decisions stay in PostgreSQL.
 */
import { allHandlersFinished, condition, continueAsNew, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { SHADOW_WAKE_SIGNAL, type ShadowProgress, type ShadowReplayInput } from '../shared/shadowing';

/** A replay of the shadow asked for approval: look now. */
export const shadowWakeSignal = defineSignal(SHADOW_WAKE_SIGNAL);

const shadows = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // PostgreSQL or Temporal being away delays the replay, never ends it.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** Between passes when nothing woke the workflow: how late an ended replay is noticed, at most. */
export const PASS_EVERY_MS = 5_000;

/** Replays started at once: enough to fill a replay quickly, few enough to leave the start path to production. */
const STARTS_AT_ONCE = 4;

export async function shadowReplay(input: ShadowReplayInput): Promise<ShadowProgress> {
  const { shadowId } = input;
  let woken = false;
  setHandler(shadowWakeSignal, () => {
    woken = true;
  });
  if (!input.started) await startReplays(shadowId);
  for (;;) {
    woken = false;
    const progress = await shadows.driveShadow({ shadowId });
    if (progress.ended >= progress.runs) {
      await shadows.completeShadow({ shadowId });
      return progress;
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof shadowReplay>({ ...input, started: true });
    }
    await condition(() => woken, input.passEveryMs ?? PASS_EVERY_MS);
  }
}

/** Starts every replay, STARTS_AT_ONCE at a time. */
async function startReplays(shadowId: string): Promise<void> {
  const originals = await shadows.shadowOriginals({ shadowId });
  let next = 0;
  const lane = async () => {
    while (next < originals.length) {
      const originalRunId = originals[next++]!;
      await shadows.startShadowReplay({ shadowId, originalRunId });
    }
  };
  await Promise.all(Array.from({ length: STARTS_AT_ONCE }, lane));
}
