import { describe, expect, it } from 'vitest';
import { supportDemoScript } from '../../src/dev/demoScript';
import { useTestStack } from '../support/useTestStack';

/** Each scenario scripts faults on its own order number, so the scenarios never touch each other. */
describe('model provider failures are retried, or not, as Temporal is told', () => {
  const stack = useTestStack({
      approvalTimeout: '2s',
      script: {
        ...supportDemoScript,
        faults: [
          { when: { role: 'user', matches: 'order 1001' }, status: 429, retryAfterSeconds: 2, times: 2 },
          { when: { role: 'user', matches: 'order 1002' }, status: 500, times: 1 },
          { when: { role: 'user', matches: 'order 1003' }, status: 400 },
        ],
      },
    });

  const requestsFor = (text: string) => stack.model.requests.filter((r) => r.messages.some((m) => m.content === text));

  it('waits out 429s for as long as Retry-After says, then carries on', async () => {
    const runId = await stack.startRun('Refund order 1001');
    await stack.waitForStatus(runId, 'awaiting_approval');
    const attempts = requestsFor('Refund order 1001').slice(0, 3);
    expect(attempts.map((r) => r.answeredWith)).toEqual([429, 429, 200]);
    const gaps = [attempts[1]!.at - attempts[0]!.at, attempts[2]!.at - attempts[1]!.at];
    // Retry-After: 2 s, where the retry policy alone would wait 1 s and then 2 s.
    expect(gaps[0]).toBeGreaterThanOrEqual(1900);
    expect(gaps[1]).toBeGreaterThanOrEqual(1900);
  });

  it('retries a 500 with backoff', async () => {
    const runId = await stack.startRun('Refund order 1002');
    await stack.waitForStatus(runId, 'awaiting_approval');
    expect(requestsFor('Refund order 1002').slice(0, 2).map((r) => r.answeredWith)).toEqual([500, 200]);
  });

  it('fails the run at once on a 400, without retrying', async () => {
    const runId = await stack.startRun('Refund order 1003');
    const done = await stack.waitForStatus(runId, 'failed');
    expect(done.error).toEqual({ code: 'model_request_rejected', message: expect.stringMatching(/model provider answered 400/) });
    expect(requestsFor('Refund order 1003')).toHaveLength(1);
    await expect(stack.temporal.workflow.getHandle(runId).result()).rejects.toThrow();
  });

  it('treats an approval nobody decides in time as a rejection', async () => {
    const runId = await stack.startRun('Refund order 1004');
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.output).toMatch(/not approved/);
    expect(done.approvals[0]).toMatchObject({ status: 'expired', decidedBy: 'system:expiry' });
    expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(409);
    const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM refunds WHERE run_id = $1', [runId]);
    expect(rows[0].n).toBe(0);
  });
});
