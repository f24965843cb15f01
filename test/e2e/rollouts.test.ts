/**
 * Canary rollouts end to end: the API starts an agentRollout workflow on the real dev server, runs
 * flow through the real worker, and the rollout judges them on live figures in PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRolloutActivities } from '../../src/activities/rollouts';
import { supportDemoScript } from '../../src/dev/demoScript';
import { startScriptedModel, type ModelScript, type ScriptedModelServer } from '../../src/dev/scriptedModel';
import type { RolloutOutcome } from '../../src/shared/rollout';
import { startTestStack, type TestStack } from '../support/testStack';

/** "ping" gets a final answer at once, so a run finishes in a few activities; anything else is the support demo. */
const quickScript: ModelScript = {
  rules: [{ when: { role: 'user', matches: '^ping' }, reply: { content: 'pong' } }, ...supportDemoScript.rules],
};
/** A model that refuses every request: 400 is not retried, so each run on it fails at its first step. */
const refusingScript: ModelScript = { rules: quickScript.rules, faults: [{ status: 400 }] };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('canary rollouts', () => {
  let stack: TestStack;
  let refusingModel: ScriptedModelServer;

  beforeAll(async () => {
    [stack, refusingModel] = await Promise.all([startTestStack({ script: quickScript }), startScriptedModel(refusingScript)]);
  });
  afterAll(async () => {
    await refusingModel?.close();
    await stack?.close();
  });

  /** Publishes a variant of the support bundle as `agent`; `variant` only changes its ID. */
  async function publish(agent: string, variant: string, modelBaseUrl?: string): Promise<string> {
    const { id: _, ...support } = stack.bundles.find((b) => b.name === 'support')!;
    const content = { ...support, name: agent, description: `${agent} ${variant}`, model: { ...support.model, baseUrl: modelBaseUrl } };
    const res = await stack.api('POST', '/v1/bundles', content);
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    return res.body.bundleId;
  }

  /** A fresh agent with a stable bundle and a canary candidate. */
  async function agentWithCandidate(agent: string, canaryBaseUrl?: string) {
    const stable = await publish(agent, 'stable');
    const canary = await publish(agent, 'canary', canaryBaseUrl);
    const deployed = await stack.api('POST', `/v1/agents/${agent}/deployments`, { bundleId: stable, strategy: 'immediate' });
    expect(deployed.status).toBe(201);
    return { stable, canary };
  }

  async function startCanary(agent: string, body: Record<string, unknown>) {
    const res = await stack.api('POST', `/v1/agents/${agent}/deployments`, { strategy: 'canary', checkIntervalSeconds: 1, ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body;
  }

  const deploymentOf = async (agent: string) => (await stack.api('GET', `/v1/agents/${agent}`)).body;
  const rolloutOf = async (agent: string, rolloutId: string) => (await stack.api('GET', `/v1/agents/${agent}/rollouts/${rolloutId}`)).body;
  const outcomeOf = (rolloutId: string, timeoutMs = 30_000): Promise<RolloutOutcome> =>
    Promise.race([
      stack.temporal.workflow.getHandle(`rollout-${rolloutId}`).result(),
      sleep(timeoutMs).then(() => Promise.reject(new Error(`rollout ${rolloutId} did not end within ${timeoutMs} ms`))),
    ]);

  async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (done(value)) return value;
      if (Date.now() > deadline) throw new Error(`${what} not reached in time; last seen: ${JSON.stringify(value)}`);
      await sleep(100);
    }
  }

  /**
   * Keeps `inFlight` quick runs of `agent` going until stopped: each caller starts a run and waits
   * for it to finish before the next, so traffic follows what the worker can take and never queues
   * up ahead of the rollout's own workflow tasks.
   */
  function driveTraffic(agent: string, inFlight = 6) {
    let running = true;
    const bundleIds: string[] = [];
    const loops = Array.from({ length: inFlight }, async () => {
      while (running) {
        const res = await stack.api('POST', '/v1/runs', { agent, input: 'ping' });
        if (res.status !== 202) throw new Error(`start failed: ${res.status} ${JSON.stringify(res.body)}`);
        bundleIds.push(res.body.bundleId);
        while (running && !(await isFinished(res.body.runId))) await sleep(50);
      }
    });
    return {
      bundleIds,
      stop: async () => {
        running = false;
        await Promise.all(loops);
      },
    };
  }

  async function isFinished(runId: string): Promise<boolean> {
    const { rows } = await stack.db.query('SELECT finished_at IS NOT NULL AS done FROM runs WHERE run_id = $1', [runId]);
    return rows[0]?.done === true;
  }

  it('rolls a canary that fails more often back by itself, with the figures behind the decision', async () => {
    const t0 = Date.now();
    const { stable, canary } = await agentWithCandidate('risky', refusingModel.url);
    const rollout = await startCanary('risky', {
      bundleId: canary,
      stages: [{ weight: 50, holdSeconds: 2, minRuns: 5 }, { weight: 100, holdSeconds: 2, minRuns: 5 }],
    });
    expect(rollout).toMatchObject({ status: 'running', stableBundleId: stable, canaryBundleId: canary, decisions: [] });

    const traffic = driveTraffic('risky');
    const outcome = await outcomeOf(rollout.rolloutId).finally(traffic.stop);

    expect(outcome.status).toBe('rolled_back');
    const deployment = await deploymentOf('risky');
    expect(deployment).toMatchObject({ stableBundleId: stable, canaryBundleId: null, canaryWeight: 0, rolloutId: null, rollout: null });

    const stored = await rolloutOf('risky', rollout.rolloutId);
    expect(stored.status).toBe('rolled_back');
    expect(stored.finishedAt).not.toBeNull();
    expect(stored.decisions.map((d: any) => `${d.decision}:${d.stage}`)).toEqual(['stage_started:0', 'rolled_back:0']);
    const rolledBack = stored.decisions.at(-1);
    expect(rolledBack.decidedBy).toBe('system:rollout');
    expect(rolledBack.figures.canary.finishedRuns).toBeGreaterThanOrEqual(5);
    expect(rolledBack.figures.stable.finishedRuns).toBeGreaterThanOrEqual(5);
    expect(rolledBack.figures.canary.failureRate).toBeGreaterThan(rolledBack.figures.stable.failureRate);
    expect(rolledBack.figures.breaches.map((b: any) => b.metric)).toContain('failureRate');
    expect(rolledBack.reason).toMatch(/failureRate/);
    expect(outcome.decisions.at(-1)).toMatchObject({ id: rolledBack.id, decision: 'rolled_back' });
    // The canary really ran on the refusing model, and every one of its calls was refused.
    expect(refusingModel.requests.length).toBeGreaterThanOrEqual(5);
    expect(refusingModel.requests.every((r) => r.answeredWith === 400)).toBe(true);
    console.log(`rollouts: failing canary rolled back after ${Date.now() - t0} ms; canary failure rate ${rolledBack.figures.canary.failureRate} vs stable ${rolledBack.figures.stable.failureRate}`);
  });

  it('promotes a healthy canary through every stage', async () => {
    const t0 = Date.now();
    const { canary } = await agentWithCandidate('healthy');
    const weights = [10, 50, 100];
    const rollout = await startCanary('healthy', {
      bundleId: canary,
      stages: weights.map((weight) => ({ weight, holdSeconds: 1, minRuns: 3 })),
      // Scripted runs take tens of milliseconds, where scheduling noise alone can double a p95; and a
      // new bundle's first calls miss the prompt cache the stable bundle's runs already hit.
      thresholds: { maxP95LatencyRatio: 20, maxCostPerRunRatio: 3 },
    });

    const traffic = driveTraffic('healthy', 8);
    const outcome = await outcomeOf(rollout.rolloutId, 40_000).finally(traffic.stop);

    expect(outcome.status).toBe('promoted');
    expect(await deploymentOf('healthy')).toMatchObject({ stableBundleId: canary, canaryBundleId: null, canaryWeight: 0, rolloutId: null });
    const stored = await rolloutOf('healthy', rollout.rolloutId);
    expect(stored.status).toBe('promoted');
    const decisions = stored.decisions.map((d: any) => `${d.decision}:${d.stage}`);
    expect(decisions).toEqual([
      'stage_started:0', 'stage_passed:0', 'stage_started:1', 'stage_passed:1', 'stage_started:2', 'stage_passed:2', 'promoted:2',
    ]);
    expect(stored.decisions.filter((d: any) => d.decision === 'stage_started').map((d: any) => d.figures.weight)).toEqual(weights);
    for (const passed of stored.decisions.filter((d: any) => d.decision === 'stage_passed')) {
      expect(passed.figures.canary.finishedRuns).toBeGreaterThanOrEqual(3);
      expect(passed.figures.stable.finishedRuns).toBeGreaterThanOrEqual(3);
      expect(passed.figures.canary.failureRate).toBe(0);
    }
    // Each weight was really in force: the deployment history shows the canary at every stage.
    const { rows } = await stack.db.query(
      `SELECT canary_weight AS w FROM deployment_history WHERE tenant_id = $1 AND agent = 'healthy' AND reason LIKE 'rollout %stage%' ORDER BY id`,
      [stack.tenantId],
    );
    expect(rows.map((r) => r.w)).toEqual(weights);
    console.log(`rollouts: healthy canary promoted through ${weights.length} stages in ${Date.now() - t0} ms (${traffic.bundleIds.length} runs)`);
  });

  it('rolls back for new runs at once while runs in flight finish on the bundle they started with', async () => {
    const { stable, canary } = await agentWithCandidate('flip');
    const rollout = await startCanary('flip', { bundleId: canary, stages: [{ weight: 100, holdSeconds: 600, minRuns: 1 }] });
    await waitFor('canary at 100%', () => deploymentOf('flip'), (d) => d.canaryWeight === 100);

    const inFlight = await Promise.all(['1001', '1002', '1003'].map((order) => stack.startRun(`Refund order ${order}`, {}, 'flip')));
    const parked = await Promise.all(inFlight.map((runId) => stack.waitForStatus(runId, 'awaiting_approval')));
    expect(parked.map((run) => run.bundleId)).toEqual([canary, canary, canary]);

    const t0 = Date.now();
    const rolledBack = await stack.api('POST', '/v1/agents/flip/rollback');
    const next = await stack.api('POST', '/v1/runs', { agent: 'flip', input: 'ping' });
    const elapsed = Date.now() - t0;
    expect(rolledBack.status).toBe(200);
    expect(rolledBack.body).toMatchObject({ stableBundleId: stable, canaryBundleId: null, canaryWeight: 0, rolloutId: null });
    expect(next.body.bundleId).toBe(stable);
    expect(elapsed).toBeLessThan(1000);
    console.log(`rollouts: rollback answered and the next start got the stable bundle ${elapsed} ms after the rollback was sent`);
    const more = await Promise.all(Array.from({ length: 10 }, () => stack.api('POST', '/v1/runs', { agent: 'flip', input: 'ping' })));
    expect(new Set(more.map((r) => r.body.bundleId))).toEqual(new Set([stable]));

    // The workflow learns it was overruled and stops without writing anything.
    const outcome = await outcomeOf(rollout.rolloutId);
    expect(outcome.status).toBe('rolled_back');
    const stored = await rolloutOf('flip', rollout.rolloutId);
    expect(stored.status).toBe('rolled_back');
    expect(stored.decisions.at(-1)).toMatchObject({ decision: 'rolled_back', decidedBy: expect.stringMatching(/^key_/) });

    // A write that lost the race is refused: the rollout no longer owns the deployment.
    const late = await createRolloutActivities({ db: stack.db }).setCanaryWeight({
      rolloutId: rollout.rolloutId, tenantId: stack.tenantId, agent: 'flip', stableBundleId: stable, canaryBundleId: canary, weight: 50,
      decision: { id: randomUUID(), stage: 0, decision: 'stage_started', reason: 'late', figures: {}, decidedBy: 'test', decidedAt: new Date().toISOString() },
    });
    expect(late).toMatchObject({ applied: false, status: 'rolled_back' });
    expect(await deploymentOf('flip')).toMatchObject({ stableBundleId: stable, canaryBundleId: null, canaryWeight: 0, rolloutId: null });
    const history = await stack.db.query(
      `SELECT reason FROM deployment_history WHERE tenant_id = $1 AND agent = 'flip' ORDER BY id DESC LIMIT 1`, [stack.tenantId],
    );
    expect(history.rows[0].reason).toBe('rollback');

    // The parked runs finish on the canary they were pinned to.
    for (const run of parked) expect((await stack.decide(run.runId, run.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
    const done = await Promise.all(inFlight.map((runId) => stack.waitForStatus(runId, 'completed')));
    for (const run of done) {
      expect(run.bundleId).toBe(canary);
      expect(run.steps.length).toBe(5);
      expect(run.steps.every((s: any) => s.bundleId === canary)).toBe(true);
    }
  });

  it('pauses, resumes and aborts a rollout through the API', async () => {
    const { stable, canary } = await agentWithCandidate('ctl');
    const rollout = await startCanary('ctl', {
      bundleId: canary,
      stages: [{ weight: 30, holdSeconds: 2, minRuns: 0 }, { weight: 100, holdSeconds: 600, minRuns: 0 }],
    });
    const { rolloutId } = rollout;
    await waitFor('stage 1', () => deploymentOf('ctl'), (d) => d.canaryWeight === 30);

    const paused = await stack.api('POST', '/v1/agents/ctl/rollout/pause', { reason: 'looking at a ticket' });
    expect(paused).toMatchObject({ status: 202, body: { rolloutId, action: 'pause' } });
    await waitFor('paused', () => rolloutOf('ctl', rolloutId), (r) => r.status === 'paused');
    const handle = stack.temporal.workflow.getHandle(`rollout-${rolloutId}`);
    expect(await handle.query('rolloutStatus')).toMatchObject({ status: 'paused', stageIndex: 0, weight: 30 });
    expect((await deploymentOf('ctl')).rollout).toMatchObject({ rolloutId, status: 'paused', canaryWeight: 30, stage: 0, stages: 2 });

    // Only one rollout at a time, and no immediate deploy behind its back.
    expect((await stack.api('POST', '/v1/agents/ctl/deployments', { bundleId: canary, strategy: 'canary' })).status).toBe(409);
    expect((await stack.api('POST', '/v1/agents/ctl/deployments', { bundleId: canary, strategy: 'immediate' })).status).toBe(409);

    // The hold (2 s) and a check interval (1 s) pass, but a paused rollout does not move on.
    await sleep(3000);
    expect((await deploymentOf('ctl')).canaryWeight).toBe(30);
    expect((await rolloutOf('ctl', rolloutId)).decisions.map((d: any) => d.decision)).toEqual(['stage_started', 'paused']);

    expect((await stack.api('POST', '/v1/agents/ctl/rollout/resume')).status).toBe(202);
    await waitFor('stage 2', () => deploymentOf('ctl'), (d) => d.canaryWeight === 100);

    expect((await stack.api('POST', '/v1/agents/ctl/rollout/abort', { reason: 'changed my mind' })).status).toBe(202);
    const outcome = await outcomeOf(rolloutId);
    expect(outcome.status).toBe('aborted');
    expect(await deploymentOf('ctl')).toMatchObject({ stableBundleId: stable, canaryBundleId: null, canaryWeight: 0, rolloutId: null, rollout: null });
    const stored = await rolloutOf('ctl', rolloutId);
    expect(stored.status).toBe('aborted');
    expect(stored.decisions.map((d: any) => `${d.decision}:${d.stage}`)).toEqual([
      'stage_started:0', 'paused:0', 'resumed:0', 'stage_passed:0', 'stage_started:1', 'aborted:1',
    ]);
    expect(stored.decisions[1]).toMatchObject({ reason: 'looking at a ticket', decidedBy: expect.stringMatching(/^key_/) });
    expect(stored.decisions.at(-1)).toMatchObject({ reason: 'changed my mind', decidedBy: expect.stringMatching(/^key_/) });

    expect((await stack.api('POST', '/v1/agents/ctl/rollout/pause')).status).toBe(404);
    // A canary needs a stable deployment to be compared with, and stages that end at 100%.
    const orphan = await publish('orphan', 'canary');
    expect((await stack.api('POST', '/v1/agents/orphan/deployments', { bundleId: orphan, strategy: 'canary' })).status).toBe(409);
    const badStages = await stack.api('POST', '/v1/agents/ctl/deployments', { bundleId: canary, strategy: 'canary', stages: [{ weight: 50 }] });
    expect(badStages.status).toBe(400);
    expect(badStages.body.error.problems).toEqual(['stages: the last stage must have weight 100 (it is what promotes the canary)']);
    expect((await stack.api('POST', '/v1/agents/ctl/rollout/restart')).status).toBe(404);
    expect((await stack.api('GET', `/v1/agents/ctl/rollouts/${randomUUID()}`)).status).toBe(404);
  });

  // Keep this test last: it stops the worker.
  it('splits new runs by the canary weight, and keeps a routing key on one side', async () => {
    const { stable, canary } = await agentWithCandidate('split');
    const rollout = await startCanary('split', {
      bundleId: canary,
      stages: [{ weight: 20, holdSeconds: 3600, minRuns: 1 }, { weight: 100, holdSeconds: 3600, minRuns: 1 }],
    });
    await waitFor('canary at 20%', () => deploymentOf('split'), (d) => d.canaryWeight === 20);
    expect((await deploymentOf('split')).rollout).toMatchObject({ rolloutId: rollout.rolloutId, status: 'running', canaryWeight: 20 });

    // Routing is the API's decision when a run starts; the worker is not needed to see it. Stopped,
    // so that a thousand runs do not crowd a small machine: they stay queued on this file's own task queue.
    await stack.worker.stop();
    const t0 = Date.now();
    // A fixed set of routing keys (as callers with conversation IDs send them) keeps the count reproducible;
    // random run IDs, the default key, would miss 20% ± 4% about once in 700 runs of this test.
    const bundleIds = await startMany(1000, 10, (i) => ({ agent: 'split', input: 'ping', routingKey: `conversation-${i}` }));
    const startMs = Date.now() - t0;
    const canaryShare = bundleIds.filter((id) => id === canary).length / bundleIds.length;
    expect(bundleIds.filter((id) => id !== canary && id !== stable)).toEqual([]);
    expect(canaryShare).toBeGreaterThanOrEqual(0.16);
    expect(canaryShare).toBeLessThanOrEqual(0.24);
    console.log(`rollouts: 1000 starts at 20% → ${(canaryShare * 100).toFixed(1)}% canary, in ${startMs} ms`);

    const oneKey = await startMany(20, 10, () => ({ agent: 'split', input: 'ping', routingKey: 'conversation-42' }));
    expect(oneKey[0]).toBe(bundleIds[42]);
    expect(new Set(oneKey).size).toBe(1);
    // Forty keys, each sent twice: every key keeps its side, and both sides are in use.
    const keys = Array.from({ length: 40 }, (_, i) => `customer-${i}`);
    const firstPass = await startMany(keys.length, 20, (i) => ({ agent: 'split', input: 'ping', routingKey: keys[i]! }));
    const secondPass = await startMany(keys.length, 20, (i) => ({ agent: 'split', input: 'ping', routingKey: keys[i]! }));
    expect(secondPass).toEqual(firstPass);
    expect(new Set(firstPass)).toEqual(new Set([stable, canary]));

    // A rollback needs no worker either: the deployment flips and the rollout ends in PostgreSQL.
    expect((await stack.api('POST', '/v1/agents/split/rollback')).status).toBe(200);
    expect(await deploymentOf('split')).toMatchObject({ stableBundleId: stable, canaryBundleId: null, rolloutId: null, rollout: null });
    expect((await rolloutOf('split', rollout.rolloutId)).status).toBe('rolled_back');
  });

  /** `count` starts from `callers` concurrent callers; the bundle IDs in request order. */
  async function startMany(count: number, callers: number, body: (i: number) => Record<string, unknown>): Promise<string[]> {
    const bundleIds: string[] = new Array(count);
    let next = 0;
    await Promise.all(
      Array.from({ length: callers }, async () => {
        for (let i = next++; i < count; i = next++) {
          const res = await stack.api('POST', '/v1/runs', body(i));
          if (res.status !== 202) throw new Error(`start failed: ${res.status} ${JSON.stringify(res.body)}`);
          bundleIds[i] = res.body.bundleId;
        }
      }),
    );
    return bundleIds;
  }
});
