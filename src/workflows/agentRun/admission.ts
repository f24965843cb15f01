/**
 * The run's slot (src/activities/admission.ts): taken before the first model step and again after
 * a step's approvals, while the run waits as `queued`. Runs from before fair admission (no
 * `fair-admission` marker in their history) start and resume without it; both branches live here.
 */
import { patched } from '@temporalio/workflow';
import { bookkeeping } from './proxies';
import { setStatus, type Run } from './state';

/** Admits a new run; one that continued as new was admitted by its previous execution. */
export async function startOrResume(run: Run): Promise<void> {
  if (run.input.resume) return;
  if (patched('fair-admission')) await admit(run, { requeued: false });
  else await bookkeeping.startRun({ runId: run.input.runId });
}

/** After a step's approvals: a run waiting for a human held no run slot; it takes one again, ahead of its tenant's newer runs. */
export async function readmitAfterApprovals(run: Run): Promise<void> {
  if (patched('fair-admission')) {
    await admit(run, { requeued: true });
  } else {
    setStatus(run, 'running');
    await bookkeeping.setRunStatus({ runId: run.input.runId, status: run.status });
  }
}

/**
 * Waits as `queued` until the run gets a run slot: admitRun fails with a short next-retry delay
 * until it admits the run, and retries without end.
 */
async function admit(run: Run, { requeued }: { requeued: boolean }): Promise<void> {
  // A new run is `queued` in the search attributes already: the API started it so.
  if (requeued) setStatus(run, 'queued');
  else run.status = 'queued';
  const { runId, tenantId, agent, bundleId, policy } = run.input;
  const toolQueues = policy.tools.flatMap((t) => (t.taskQueue ? [t.taskQueue] : []));
  await bookkeeping.admitRun({ runId, tenantId, agent, bundleId, ...(toolQueues.length && { toolQueues }) });
  setStatus(run, 'running');
}
