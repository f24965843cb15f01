import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowInterceptorModules } from '../../src/worker/workflowBundle';
import { historyScenarios } from '../support/historyScenarios';

const historiesDir = path.resolve(__dirname, '../fixtures/histories');

/**
 * Replays recorded histories of every workflow path against today's workflow code. A change that
 * would break runs already in flight (non-determinism) fails here; guard such changes with patched().
 */
describe('workflow replay', () => {
  const files = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));

  it('has a recorded history for every scenario', () => {
    expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual(historyScenarios.scenarios.map((s) => s.name).sort());
  });

  it('replays every recorded history without non-determinism', async () => {
    const histories = files.map((file) => ({
      workflowId: file,
      history: JSON.parse(readFileSync(path.join(historiesDir, file), 'utf8')),
    }));
    const failures: string[] = [];
    let replayed = 0;
    // With the workflow interceptors every worker bundles (tracing), which must not change what a run does.
    const options = { workflowsPath: path.resolve(__dirname, '../../src/workflows/index.ts'), interceptors: { workflowModules: workflowInterceptorModules() } };
    for await (const result of Worker.runReplayHistories(options, histories)) {
      replayed += 1;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(files.length);
  });
});
