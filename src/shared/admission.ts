/**
 * The wake-up of a queued run (src/activities/admission.ts sends it, src/workflows/agentRun/admission.ts
 * waits for it): the allocation that moved the run's row to `running` tells its workflow so.
 */
export const ADMITTED_SIGNAL = 'admitted';

export interface AdmittedSignal {
  /**
   * The run's latest admission poll before the allocation that admitted it (`admission_polled_at`,
   * µs since the epoch). A wake-up older than the run's first poll of its current wait belongs to
   * an earlier admission (e.g. before an approval) and is ignored.
   */
  ticket: number;
}

/** What a queued run's admission check answers (the queueForSlot activity). */
export type SlotCheck =
  | { admitted: true }
  /** Still queued: wait for the `admitted` signal with a ticket ≥ `ticket`, or poll again after `recheckAfterMs`. */
  | { admitted: false; ticket: number; recheckAfterMs: number };
