/**
 * The agent run's patches (Temporal's `patched()`): each changed the commands a run issues, so a
 * history recorded before it replays on the older branch. A patch costs a new run two history
 * events, its marker and the `TemporalChangeVersion` upsert Temporal's SDK adds beside it (one
 * visibility write on the server), and every new run took all five of them.
 *
 * Since CURRENT_SHAPE a new run records one marker instead, first thing: its history stands for
 * every patch below, which it then takes without a marker of its own. A history without that
 * marker (every run started before it) answers each patch as it did, with `patched(patch)` where
 * the patch is asked. Add a new patch the same way (`since(run, NEW_PATCH)`) and fold it into the
 * next CURRENT_SHAPE once runs from before it may be replayed no more.
 */
import { patched } from '@temporalio/workflow';

/** Runs queue for a slot (./admission.ts) rather than start at once. */
export const FAIR_ADMISSION = 'fair-admission';
/** A queued run waits for a signal rather than polling by retrying admitRun. */
export const ADMISSION_WAKE = 'admission-wake';
/** Local bookkeeping, the run's end in callModel, upserts only on a change of status (./proxies.ts). */
export const LEAN_STEPS = 'lean-steps';
/** Admission's check, the model call and read tools hosted here as local activities (./proxies.ts). */
export const LOCAL_STEPS = 'local-steps';
/** A step's read calls run together (./act.ts). */
export const PARALLEL_READ_TOOLS = 'parallel-read-tools';
/** Interrupts of a turn on a thread are honoured (./interrupt.ts). */
export const THREAD_INTERRUPT = 'thread-interrupt';

export type RunPatch =
  | typeof FAIR_ADMISSION | typeof ADMISSION_WAKE | typeof LEAN_STEPS | typeof LOCAL_STEPS | typeof PARALLEL_READ_TOOLS | typeof THREAD_INTERRUPT;

/** The one marker of runs that take every RunPatch. */
export const CURRENT_SHAPE = 'run-shape-2026-11';

/**
 * Asked once, as the run's first command: true for a run started now (its history gets the
 * CURRENT_SHAPE marker), false replaying a history from before it.
 */
export const startsInCurrentShape = (): boolean => patched(CURRENT_SHAPE);

/** What a patch is decided from: whether the run was started in the current shape (./state.ts Run). */
export interface ShapedRun {
  readonly currentShape: boolean;
}

/** True where the run takes `patch`: always in the current shape, else as `patched(patch)` answers. */
export const since = (run: ShapedRun, patch: RunPatch): boolean => run.currentShape || patched(patch);
