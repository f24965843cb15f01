/**
 * The alertEvaluation workflow on the real dev server with fake activities: every pending
 * transition is delivered by its own activity, a retryable failure is retried until it goes
 * through, and a refused one is recorded as failed without stopping the others.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { alertEvaluation } from '../../src/workflows';
import { useWorkflowWorker } from '../support/workflowWorker';

const attempts = new Map<string, number>();
const failedDeliveries: { eventId: string; error: string }[] = [];

const worker = useWorkflowWorker({
  evaluateAlertRules: async () => ({ rules: 2, judged: 1, transitions: 2, pendingEventIds: ['ok', 'flaky', 'refused'] }),
  deliverAlertEvent: async (eventId: string) => {
    const attempt = (attempts.get(eventId) ?? 0) + 1;
    attempts.set(eventId, attempt);
    if (eventId === 'flaky' && attempt < 3) throw ApplicationFailure.create({ type: 'AlertWebhookFailed', message: 'answered HTTP 503' });
    if (eventId === 'refused') throw ApplicationFailure.nonRetryable('hooks.example.com is not on the allow-list', 'AlertWebhookRefused');
    return 'delivered';
  },
  markAlertDeliveryFailed: async (input: { eventId: string; error: string }) => void failedDeliveries.push(input),
});

describe('alertEvaluation', () => {
  it('delivers each pending transition, retrying what may go through and recording what cannot', async () => {
    const result = await worker.client.workflow.execute(alertEvaluation, { taskQueue: worker.taskQueue, workflowId: `alerts-${randomUUID()}` });
    expect(result).toEqual({ rules: 2, judged: 1, transitions: 2, delivered: 2, failed: 1 });
    expect(Object.fromEntries(attempts)).toEqual({ ok: 1, flaky: 3, refused: 1 });
    expect(failedDeliveries).toEqual([{ eventId: 'refused', error: 'hooks.example.com is not on the allow-list' }]);
  });
});
