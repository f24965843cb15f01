/**
 * A run whose workflow started but whose row was never recorded (the API stopped in between) ends
 * by itself, visibly, instead of waiting for a row forever; the API's late insert cannot bring it
 * back, and the request's Idempotency-Key starts a new run.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { recordRun } from '../../src/db/runs';
import { requestFingerprint } from '../../src/api/runStarter';
import { runPolicyOf } from '../../src/shared/bundle';
import { AgentNameKey, BundleIdKey, RunStatusKey, TenantIdKey } from '../../src/shared/searchAttributes';
import { agentRun } from '../../src/workflows';
import { useTestStack } from '../support/useTestStack';

describe('a run the API never recorded', () => {
  const stack = useTestStack({ workerEnv: { BOSUN_RUN_RECORD_GRACE: '2s' } });

  it('ends as failed with run_not_recorded, and its key can be used again', async () => {
    const bundle = stack.bundles.find((b) => b.name === 'support')!;
    const runId = randomUUID();
    // What POST /v1/runs does first; the API "stops" before it records the row.
    const handle = await stack.temporal.workflow.start(agentRun, {
      workflowId: runId,
      taskQueue: stack.env.TEMPORAL_TASK_QUEUE!,
      args: [{ runId, tenantId: stack.tenantId, agent: 'support', bundleId: bundle.id, policy: runPolicyOf(bundle, 60_000, stack.env.TEMPORAL_TASK_QUEUE!) }],
      typedSearchAttributes: [
        { key: TenantIdKey, value: stack.tenantId },
        { key: AgentNameKey, value: 'support' },
        { key: BundleIdKey, value: bundle.id },
        { key: RunStatusKey, value: 'queued' },
      ],
    });

    const outcome = await handle.result().then(
      () => 'completed',
      (err) => err,
    );
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect(String((outcome as WorkflowFailedError).cause?.message)).toMatch(/^run_not_recorded: /);
    // What an operator sees in the Temporal UI and the tenant through the API.
    const described = await handle.describe();
    expect(described.status.name).toBe('FAILED');
    expect(described.typedSearchAttributes.get(RunStatusKey)).toBe('failed');
    const run = await stack.api('GET', `/v1/runs/${runId}`);
    expect(run.body).toMatchObject({ status: 'failed', error: { code: 'run_not_recorded', message: expect.stringMatching(/^run_not_recorded: /) }, steps: [] });

    // The API's insert, had it come late, records nothing: no run without a workflow behind it.
    const key = `late-${runId}`;
    const request = { agent: 'support', input: 'Refund order 1001' };
    const late = await recordRun(stack.db, {
      runId, tenantId: stack.tenantId, agent: 'support', bundleId: bundle.id, input: request.input, metadata: {},
      idempotencyKey: key, requestFingerprint: requestFingerprint(request), createdBy: 'test',
    }, 60_000);
    expect(late).toBe(false);

    // The client retries with its key: a new run, which runs.
    const retried = await stack.api('POST', '/v1/runs', request, { 'idempotency-key': key });
    expect(retried.status).toBe(202);
    expect(retried.body.runId).not.toBe(runId);
    await stack.waitForStatus(retried.body.runId, 'awaiting_approval');
  });
});
