import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/shadowFixtures';
import { countRefunds, startTestStack, type TestStack } from '../support/testStack';

/**
 * Worker Versioning: a release of the worker's own code takes new runs, while runs already in
 * flight finish on the version they started with.
 */
describe('worker versioning', () => {
  let stack: TestStack;
  const deploymentName = `bosun-test-${process.pid}`;
  beforeAll(async () => {
    stack = await startTestStack({ workerEnv: { BOSUN_DEPLOYMENT_NAME: deploymentName, BOSUN_BUILD_ID: 'v1' } });
  });
  afterAll(() => stack?.close());

  /**
   * The deployment version Temporal recorded for the run. Temporal records it when the run's first
   * workflow task completes, which can come after the run's row says awaiting_approval (a local
   * activity inside that task writes the row), so this waits until there is one (failed once in CI
   * on a busy machine with `buildId: undefined`).
   */
  const versionOf = (runId: string) => eventually(async () => {
    const { raw } = await stack.temporal.workflow.getHandle(runId).describe();
    const info = raw.workflowExecutionInfo?.versioningInfo;
    const buildId = info?.deploymentVersion?.buildId;
    return buildId ? { behavior: info?.behavior, buildId } : undefined;
  });

  it('pins a run to the build it started on while a new build takes new runs', async () => {
    const oldRun = await stack.startRun('Refund order 1001');
    const parked = await stack.waitForStatus(oldRun, 'awaiting_approval');
    expect(await versionOf(oldRun)).toMatchObject({ buildId: 'v1' });

    await stack.startWorker({ BOSUN_DEPLOYMENT_NAME: deploymentName, BOSUN_BUILD_ID: 'v2' });
    const newRun = await stack.startRun('Refund order 1002');
    await stack.waitForStatus(newRun, 'awaiting_approval');
    expect(await versionOf(newRun)).toMatchObject({ buildId: 'v2' });

    await stack.decide(oldRun, parked.pendingApprovals[0].approvalId, 'approve');
    await stack.waitForStatus(oldRun, 'completed');
    const oldVersion = await versionOf(oldRun);
    expect(oldVersion.buildId).toBe('v1');
    expect(String(oldVersion.behavior)).toMatch(/PINNED|1/);
    expect(await countRefunds(stack.db, oldRun)).toBe(1);
  });
});
