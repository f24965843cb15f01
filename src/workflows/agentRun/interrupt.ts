/**
 * Interrupt (double-texting on threads, src/shared/threads.ts): a newer message on the run's thread
 * asks the run to stop at its next safe point. The signal is honoured between steps, never inside
 * one: before the next model call (a tool already running finishes and is recorded), or while the
 * run waits for approvals (the calls waiting are not run). The run then ends `cancelled` with error
 * code `interrupted`, and the thread's next run sees everything it did.
 */
import { defineSignal, setHandler } from '@temporalio/workflow';
import type { RunOutcome } from '../../shared/domain';
import { INTERRUPTED } from '../../shared/runErrors';
import { since, THREAD_INTERRUPT } from './patches';
import type { Run } from './state';

export interface InterruptSignal {
  /** Why, for the run's error message: e.g. the newer message's thread and turn. */
  reason: string;
}

export const interruptSignal = defineSignal<[InterruptSignal]>('interrupt');


export function listenForInterrupt(run: Run): void {
  setHandler(interruptSignal, ({ reason }) => {
    run.interruptedBy ??= reason;
  });
}

/** The end to record at a safe point when an interrupt came in, else undefined. */
export function interruptedEnd(run: Run): Omit<RunOutcome, 'steps' | 'usage'> | undefined {
  if (run.interruptedBy === undefined || !since(run, THREAD_INTERRUPT)) return undefined;
  return { status: 'cancelled', error: `interrupted by ${run.interruptedBy}`, errorCode: INTERRUPTED };
}

/** Thrown from a wait (the approval gate) that an interrupt cut short; the loop ends the run with interruptedEnd. */
export class RunInterrupted extends Error {
  override name = 'RunInterrupted';
}
