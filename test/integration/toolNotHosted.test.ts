/**
 * A read call run as a local activity (`here`, src/workflows/agentRun/act.ts) on a worker that does
 * not host the pinned tool fails at once, non-retryable, as ToolNotHosted, and the workflow calls
 * the tool on its own queue; the same call as a regular activity stays retryable (ToolUnavailable),
 * for a worker that has the tool to take.
 */
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToolActivities } from '../../src/activities/toolCalls';
import type { Db } from '../../src/db/pool';
import { defineTool, z } from '../../src/sdk/tools';
import type { Bundle } from '../../src/shared/bundle';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';

const lookup = defineTool({
  name: 'lookup_thing', version: 1, kind: 'read', description: 'Answers "found".',
  args: z.object({}).strict(),
  async handler() {
    return { found: true };
  },
});

describe('a read call on a worker without its tool', () => {
  let db: Db;
  const tenantId = newTenantId();
  beforeAll(async () => (db = await openTenantDb(tenantId)));
  afterAll(() => db?.end());

  /** A bundle that pins `version` of lookup_thing; this worker has version 1. */
  const bundlePinning = (version: number) => ({
    id: `things@v${version}`, tools: [], pinnedTools: [{ ...lookup.manifest, version }],
  }) as unknown as Bundle;

  async function call(version: number, here: boolean) {
    const bundle = bundlePinning(version);
    const { executeTool } = createToolActivities({ db, tools: [lookup], bundles: { get: async () => bundle } });
    const runId = await insertTestRun(db, tenantId, 'running');
    const input = { runId, tenantId, bundleId: bundle.id, step: 1, ordinal: 1, toolCallId: 'call_1', tool: 'lookup_thing', args: {} };
    return executeTool({ ...input, ...(here && { here }) }).catch((err: unknown) => err);
  }

  it('fails a local call at once as ToolNotHosted, never retried', async () => {
    const failure = await call(2, true);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'ToolNotHosted', nonRetryable: true });
  });

  it('leaves a regular call retryable, for a worker with the tool', async () => {
    expect(await call(2, false)).toMatchObject({ type: 'ToolUnavailable', nonRetryable: false });
  });

  it('runs a local call of a tool it hosts', async () => {
    expect(await call(1, true)).toBe('ok');
  });
});
