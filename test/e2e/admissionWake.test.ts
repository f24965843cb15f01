/**
 * Admission without polling, on a real stack: a queued run waits for the `admitted` signal that the
 * allocation admitting it sends (after a run finishes or parks), not by retrying an activity; a
 * long line drains first in first out; and a wake-up that never comes (the freeing worker died
 * after its commit, or its signal was lost) is made up for by the run's safety poll.
 *
 * What is counted is the run's Temporal history (admission checks, attempts, signals), never time.
 */
import { randomUUID } from 'node:crypto';
import type { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { inTransaction, type Queryable } from '../../src/db/pool';
import { supportDemoScript } from '../../src/dev/demoScript';
import { dropDatabase, freshDatabase } from '../support/provision';
import { localActivityCall } from '../support/historyShape';
import { type TestStack } from '../support/testStack';
import { useTestStack } from '../support/useTestStack';

const script = {
  rules: [{ when: { role: 'user' as const, matches: 'hold the slot' }, reply: { content: 'Held it.' }, latencyMs: 5_000 }, ...supportDemoScript.rules],
  latencyMs: 20,
};

/**
 * What a run's history says about its admission, read once its workflow has closed: the local
 * activities of its last workflow task (a safety poll's check, the finishing step) reach the history
 * only when that task completes, after the run's row already says it ended (failed once in CI
 * counting 1 check in a test that took its 2 s safety poll: the second check's marker not there yet).
 */
async function admissionOf(stack: TestStack, runId: string) {
  const handle = stack.temporal.workflow.getHandle(runId);
  await handle.result();
  const events = (await handle.fetchHistory()).events ?? [];
  const types = new Map<string, string>();
  let checks = 0;
  let retriedAttempts = 0;
  let failedActivities = 0;
  let wakeUps = 0;
  for (const e of events as temporal.api.history.v1.IHistoryEvent[]) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      types.set(String(e.eventId), scheduled.activityType?.name ?? '');
      if (scheduled.activityType?.name === 'queueForSlot') checks += 1;
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started && ['queueForSlot', 'admitRun'].includes(types.get(String(started.scheduledEventId)) ?? '')) {
      retriedAttempts += (started.attempt ?? 1) - 1;
    }
    if (e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes) failedActivities += 1;
    // Since local-steps the check is a local activity: its marker holds the attempt it ended with.
    const local = localActivityCall(e);
    if (local?.activityType === 'queueForSlot') {
      checks += 1;
      retriedAttempts += local.attempt - 1;
      if (local.backoff) failedActivities += 1;
    }
    if (e.workflowExecutionSignaledEventAttributes?.signalName === 'admitted') wakeUps += 1;
  }
  return { checks, retriedAttempts, failedActivities, wakeUps, admitRuns: [...types.values()].filter((t) => t === 'admitRun').length };
}

const setTenantLimit = (stack: TestStack, maxRunning: number) =>
  stack.db.query(
    `INSERT INTO tenant_limits (tenant_id, max_running) VALUES ($1, $2) ON CONFLICT (tenant_id) DO UPDATE SET max_running = $2`,
    [stack.tenantId, maxRunning],
  );

describe('admission by wake-up', () => {
  const stack = useTestStack({ script });

  it('starts a queued run when the running run finishes: one check, one wake-up, no retried poll', async () => {
    await setTenantLimit(stack, 1);
    const holder = await stack.startRun('Please hold the slot');
    await stack.waitForStatus(holder, 'running');
    const queued = await stack.startRun('hello after the holder');
    await stack.waitForRun(queued, (run) => run.status === 'queued' && run.queuePosition === 1);

    const done = await stack.waitForStatus(queued, 'completed');
    expect(done.output).toBe('I can help with orders and refunds.');
    const admission = await admissionOf(stack, queued);
    // It asked once, was told to wait, and the holder's finishRun admitted it and said so.
    expect(admission).toEqual({ checks: 1, retriedAttempts: 0, failedActivities: 0, wakeUps: 1, admitRuns: 0 });

    const { rows } = await stack.db.query(
      `SELECT extract(epoch FROM (q.admitted_at - h.finished_at)) * 1000 AS gap_ms FROM runs q, runs h WHERE q.run_id = $1 AND h.run_id = $2`,
      [queued, holder],
    );
    // Measured, not asserted: from the holder's end to the queued run's admission.
    console.log(`admission wake-up: slot taken ${Math.round(rows[0].gap_ms)} ms after the holder finished`);
  });

  it('drains 200 queued runs through 2 slots, first in first out, with no run over the limit', async () => {
    await setTenantLimit(stack, 2);
    const ids: string[] = [];
    // One caller: the creation order is the order the runs must be admitted in.
    for (let i = 0; i < 200; i++) ids.push(await stack.startRun(`hello ${i}`));
    for (const id of ids) await stack.waitForStatus(id, 'completed', 300_000);

    const { rows } = await stack.db.query(
      `SELECT run_id, admitted_at, finished_at FROM runs WHERE run_id = ANY($1) ORDER BY created_at, run_id`,
      [ids],
    );
    expect(rows.map((r) => r.run_id)).toEqual(ids);
    const byAdmission = [...rows].sort((x, y) => x.admitted_at.getTime() - y.admitted_at.getTime()).map((r) => r.run_id);
    expect(byAdmission).toEqual(ids);
    // Never more than 2 running: at each admission, fewer than 2 of the runs admitted before it were still running.
    const overlaps = rows.map((r, i) => rows.slice(0, i).filter((o) => o.finished_at.getTime() > r.admitted_at.getTime()).length);
    expect(Math.max(...overlaps)).toBeLessThanOrEqual(1);

    const admissions = await Promise.all(ids.map((id) => admissionOf(stack, id)));
    expect(admissions.filter((a) => a.admitRuns > 0 || a.failedActivities > 0)).toEqual([]);
    const woken = admissions.filter((a) => a.wakeUps > 0).length;
    const safetyPolls = admissions.reduce((sum, a) => sum + a.checks - 1, 0);
    console.log(`admission wake-up: 200 runs through 2 slots, ${woken} woken by a signal, ${safetyPolls} safety polls`);
    expect(woken).toBeGreaterThan(0);
  });
});

describe('a lost wake-up', () => {
  // A database of its own: admission is global, so another test file's worker freeing a slot in a
  // shared database would admit (and wake) these runs, and the safety poll would go untested.
  const databaseUrl = isolatedDatabaseUrl('lost_wakeup');
  beforeAll(async () => {
    await freshDatabase(databaseUrl);
  });
  afterAll(() => dropDatabase(databaseUrl));
  const stack = useTestStack(() => ({
    script, workerEnv: { BOSUN_ADMISSION_SAFETY_POLL: '2s' }, services: { databaseUrl, temporalAddress: inject('temporalAddress') },
  }));

  /** A row that holds the tenant's one slot with no workflow behind it: what the test frees by hand. */
  async function slotHolder(): Promise<string> {
    const runId = randomUUID();
    await stack.db.query(
      `INSERT INTO runs (run_id, tenant_id, agent, bundle_id, status, input, created_by, admitted_at, started_at)
       VALUES ($1, $2, 'support', 'none', 'running', 'held by the test', 'test', now(), now())`,
      [runId, stack.tenantId],
    );
    return runId;
  }

  /** A real run that queued behind the holder, and whose check for a slot came back: it now waits for its wake-up. */
  async function queuedBehind(): Promise<string> {
    const runId = await stack.startRun('hello, stuck in line');
    await stack.waitForRun(runId, (run) => run.status === 'queued' && run.queuePosition === 1);
    for (let tries = 0; ; tries++) {
      const events = (await stack.temporal.workflow.getHandle(runId).fetchHistory()).events ?? [];
      const checks = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'queueForSlot').map((e) => String(e.eventId));
      if (events.some((e) => checks.includes(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)))) return runId;
      // Since local-steps: the check's marker.
      if (events.some((e) => localActivityCall(e)?.activityType === 'queueForSlot')) return runId;
      if (tries > 300) throw new Error(`run ${runId} never waited for its wake-up`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const release = (db: Queryable, holder: string) =>
    db.query(`UPDATE runs SET status = 'completed', finished_at = now(), updated_at = now() WHERE run_id = $1`, [holder]);

  it('admits a run whose slot was freed without an allocation (the freeing worker died after its commit)', async () => {
    await setTenantLimit(stack, 1);
    const holder = await slotHolder();
    const runId = await queuedBehind();
    await release(stack.db, holder);

    await stack.waitForStatus(runId, 'completed');
    const admission = await admissionOf(stack, runId);
    expect(admission.wakeUps).toBe(0);
    expect(admission.checks).toBeGreaterThanOrEqual(2);
    expect(admission.retriedAttempts).toBe(0);
  });

  it('starts a run that was admitted but never told (its wake-up signal was lost)', async () => {
    await setTenantLimit(stack, 1);
    const holder = await slotHolder();
    const runId = await queuedBehind();
    // What an allocation commits, without the signal that should follow it.
    await inTransaction(stack.db, async (client) => {
      await release(client, holder);
      await client.query(`UPDATE runs SET status = 'running', admitted_at = now(), started_at = now() WHERE run_id = $1 AND status = 'queued'`, [runId]);
    });

    await stack.waitForStatus(runId, 'completed');
    const admission = await admissionOf(stack, runId);
    expect(admission.wakeUps).toBe(0);
    // A second look started it: a new check (the safety poll), or a retried attempt of the first
    // when the run's first local check fell back to the regular one (its row or tools not there yet).
    expect(admission.checks + admission.retriedAttempts).toBeGreaterThanOrEqual(2);
  });
});

/** The test session's database URL with `suffix` added to its name: a database for one describe alone. */
function isolatedDatabaseUrl(suffix: string): string {
  const url = new URL(inject('databaseUrl'));
  url.pathname = `${url.pathname}_${suffix}`;
  return url.toString();
}
