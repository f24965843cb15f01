/** The alert schedule on the real dev server: created once, updated in place when the interval changes, deleted when alerts are off. */
import { randomBytes } from 'node:crypto';
import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { alertScheduleId, ensureAlertSchedule } from '../../src/temporal/alertSchedule';

describe('the alert schedule', () => {
  let connection: Connection;
  let client: Client;
  const taskQueue = `alert-schedule-${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection });
  });
  afterAll(() => connection?.close());

  const describeSchedule = () => client.schedule.getHandle(alertScheduleId(taskQueue)).describe();

  it('is ensured idempotently at every start, and removed with BOSUN_ALERT_INTERVAL=off', async () => {
    await ensureAlertSchedule(client, taskQueue, 60_000);
    await ensureAlertSchedule(client, taskQueue, 60_000);
    const created = await describeSchedule();
    expect(created.spec.intervals).toMatchObject([{ every: 60_000 }]);
    expect(created.action).toMatchObject({ type: 'startWorkflow', workflowType: 'alertEvaluation', taskQueue });
    expect(created.policies.overlap).toBe('SKIP');

    await ensureAlertSchedule(client, taskQueue, 30_000);
    expect((await describeSchedule()).spec.intervals).toMatchObject([{ every: 30_000 }]);

    await ensureAlertSchedule(client, taskQueue, undefined);
    await expect(describeSchedule()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    // Off again: nothing to delete, no error.
    await ensureAlertSchedule(client, taskQueue, undefined);
  });
});
