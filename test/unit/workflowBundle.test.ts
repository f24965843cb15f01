/**
 * A prebuilt workflow bundle is used only if it was built with the workflow interceptors this
 * worker needs (Temporal's OpenTelemetry ones and Bosun's run spans): a bundle from before tracing
 * would run without them, silently dropping the runs' workflow spans.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inputsPathOf, staleness, workflowInterceptorModules } from '../../src/worker/workflowBundle';

const workflowsIndex = path.resolve(__dirname, '../../src/workflows/index.ts');

function fakeBundle(interceptorModules: string[] | undefined): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-bundle-'));
  const bundle = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundle, '// bundle');
  const relative = (file: string) => path.relative(dir, file);
  writeFileSync(inputsPathOf(bundle), JSON.stringify({
    workflowsModule: relative(workflowsIndex), files: {},
    ...(interceptorModules && { interceptorModules: interceptorModules.map(relative) }),
  }));
  return bundle;
}

describe('the prebuilt bundle and its workflow interceptors', () => {
  it('bundles the tracing interceptors (Temporal’s OpenTelemetry ones and Bosun’s run spans)', () => {
    expect(workflowInterceptorModules()).toEqual([path.resolve(__dirname, '../../src/workflows/tracing.ts')]);
  });

  it('accepts a bundle built with the same interceptors', () => {
    expect(staleness(fakeBundle(workflowInterceptorModules()))).toBeUndefined();
  });

  it('refuses a bundle built without them (from before tracing) or with others', () => {
    expect(staleness(fakeBundle(undefined))).toMatch(/built with the workflow interceptors \[\], and this worker needs/);
    expect(staleness(fakeBundle([path.resolve(__dirname, '../../src/workflows/agentRun.ts')]))).toMatch(/workflow interceptors/);
  });
});
