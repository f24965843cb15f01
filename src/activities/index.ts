import { createAlertActivities, type AlertDeps } from './alerts';
import { createModelActivities, type ModelDeps } from './model/callModel';
import { createMemoryActivities } from './memory';
import { createRolloutActivities } from './rollouts';
import { failingAsRunEnded } from './runEnded';
import { fillFreeSlots } from './admission';
import { admissionOf, createRunActivities, type RunDeps } from './runs';
import { createShadowActivities, type ShadowDeps } from './shadows';
import { createToolActivities, type ToolDeps } from './toolCalls';

/**
 * All of Bosun's activities, bound to the worker's connections. Each does one piece of I/O, and
 * fails as `RunEnded` (never retried) once its run has ended (src/db/runEnd.ts).
 */
export function createActivities(
  deps: ModelDeps & Pick<ToolDeps, 'secrets' | 'tools' | 'declared' | 'maxResultChars' | 'memory'> & Pick<RunDeps, 'limits' | 'recordGraceMs' | 'admissionWake' | 'shadowWake'> & AlertDeps & ShadowDeps,
) {
  const admission = admissionOf(deps);
  return failingAsRunEnded({
    ...createRunActivities(deps),
    // An answer that ends its run frees a slot, as finishRun does.
    ...createModelActivities({ ...deps, afterRunEnded: () => fillFreeSlots(admission) }),
    ...createToolActivities(deps),
    ...createRolloutActivities(deps),
    ...createAlertActivities(deps),
    ...createMemoryActivities(deps),
    ...createShadowActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
