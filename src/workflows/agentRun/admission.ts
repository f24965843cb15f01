/**
 * The run's slot (src/activities/admission.ts): taken before the first model step and again after
 * a step's approvals, while the run waits as `queued`. Three generations of runs live here: from
 * before fair admission (no `fair-admission` marker) they start and resume without it; from before
 * the wake-ups (no `admission-wake` marker) they poll by retrying admitRun; since, they check once
 * and wait for the `admitted` signal, with a safety poll.
 */
import { condition, defineSignal, setHandler } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { ADMITTED_SIGNAL, type AdmittedSignal } from '../../shared/admission';
import { failureTypeOf, FailureType } from '../../shared/failures';
import { ADMISSION_WAKE, FAIR_ADMISSION, since } from './patches';
import { bookkeeping, localAdmission, localSteps } from './proxies';
import { setStatus, type Run } from './state';

export const admittedSignal = defineSignal<[AdmittedSignal]>(ADMITTED_SIGNAL);

/** Admits a new run; one that continued as new was admitted by its previous execution. */
export async function startOrResume(run: Run): Promise<void> {
  if (run.input.resume) return;
  if (since(run, FAIR_ADMISSION)) await admit(run, { requeued: false });
  else await bookkeeping.startRun({ runId: run.input.runId });
}

/** After a step's approvals: a run waiting for a human held no run slot; it takes one again, ahead of its tenant's newer runs. */
export async function readmitAfterApprovals(run: Run): Promise<void> {
  if (since(run, FAIR_ADMISSION)) {
    await admit(run, { requeued: true });
  } else {
    setStatus(run, 'running');
    await bookkeeping.setRunStatus({ runId: run.input.runId, status: run.status });
  }
}

/** Waits as `queued` until the run gets a run slot. */
async function admit(run: Run, { requeued }: { requeued: boolean }): Promise<void> {
  // A new run is `queued` in the search attributes already: the API started it so.
  if (requeued) setStatus(run, 'queued');
  else run.status = 'queued';
  const { runId, tenantId, agent, bundleId, policy } = run.input;
  const toolQueues = policy.tools.flatMap((t) => (t.taskQueue ? [t.taskQueue] : []));
  const input = { runId, tenantId, agent, bundleId, ...(toolQueues.length && { toolQueues }) };
  // Before the wake-ups: admitRun fails with a short next-retry delay until it admits the run, and retries without end.
  if (since(run, ADMISSION_WAKE)) await waitForSlot(input, localSteps(run));
  else await bookkeeping.admitRun(input);
  setStatus(run, 'running');
}

/**
 * Checks for a slot once, then waits for the allocation that admits the run to signal it; should
 * that wake-up be lost, checks again after the check's `recheckAfterMs`. The handler is in place
 * before the check, so a wake-up that comes before the wait is kept; one carrying a ticket older
 * than this wait's first check was meant for an earlier admission, and is ignored. `local`: the
 * check as a local activity (./proxies.ts localSteps).
 */
async function waitForSlot(input: Parameters<Activities['queueForSlot']>[0], local: boolean): Promise<void> {
  let woken = 0;
  setHandler(admittedSignal, ({ ticket }) => {
    woken = Math.max(woken, ticket);
  });
  let since: number | undefined;
  for (;;) {
    // One short transaction: a local activity since LOCAL_STEPS (./proxies.ts).
    const check = local ? await checkHere(input) : await bookkeeping.queueForSlot(input);
    if (check.admitted) return;
    since ??= check.ticket;
    if (await condition(() => woken >= since!, check.recheckAfterMs)) return;
  }
}

/**
 * The check as a local activity; a run that must wait for a worker with its tools or for its row
 * waits through the regular activity's retries instead, on the server, as it did before (the
 * failure is in the local activity's marker, so a replay takes the same branch).
 */
async function checkHere(input: Parameters<Activities['queueForSlot']>[0]): Promise<Awaited<ReturnType<Activities['queueForSlot']>>> {
  try {
    return await localAdmission.queueForSlot(input);
  } catch (err) {
    const type = failureTypeOf(err);
    if (type === FailureType.RunQueued || type === FailureType.RunRecordMissing) return await bookkeeping.queueForSlot(input);
    throw err;
  }
}
