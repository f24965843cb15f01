/**
 * Bosun as the image runs it: `npm run build` (tsc's JavaScript, the demo tool pack compiled, the
 * workflow bundle built ahead of time), the worker started from dist with the prebuilt bundle runs
 * the demo run end to end, the compiled API serves (the inbox page at /ui included); and a prebuilt bundle that no longer matches the
 * worker's workflow code is refused, never run silently.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnService, type Service } from '../../src/dev/services';
import { countRefunds } from '../support/testStack';
import { useTestStack } from '../support/useTestStack';

const root = path.resolve(__dirname, '../..');
const prebuiltBundle = path.join(root, 'dist/src/worker/workflow-bundle.js');
/** A module of the workflow code, as compiled into dist (one the bundle was built from). */
const compiledWorkflowModule = path.join(root, 'dist/src/shared/caps.js');
const compiledTools = { BOSUN_TOOL_MODULES: './dist/examples/support-tools' };

/** Starts `entry` and resolves once it is ready or has exited, with everything it wrote. */
async function start(entry: string, env: NodeJS.ProcessEnv): Promise<{ service: Service; output: string[]; exitCode: number | null | undefined }> {
  const output: string[] = [];
  const service = spawnService('compiled', entry, env, true, (line) => output.push(line));
  await service.ready;
  const exitCode = await Promise.race([service.exited, new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined)))]);
  return { service, output, exitCode };
}

describe('compiled Bosun (npm run build)', () => {
  beforeAll(() => {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'pipe', timeout: 180_000 });
  }, 240_000);
  const stack = useTestStack();

  it('runs the demo run on a worker started from dist with the prebuilt workflow bundle', async () => {
    // Only the compiled worker polls this stack's queue.
    await stack.worker.stop();
    const { service, output, exitCode } = await start('dist/src/worker/main.js', { ...stack.env, ...compiledTools });
    try {
      expect(exitCode, output.join('\n')).toBeUndefined();
      expect(output.join('\n')).toContain(`"msg":"workflow code: prebuilt bundle ${prebuiltBundle}"`);

      const runId = await stack.startRun('Refund order 1001');
      const parked = await stack.waitForStatus(runId, 'awaiting_approval');
      expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
      const done = await stack.waitForStatus(runId, 'completed');
      expect(done.output).toBe('Done: I refunded 12900 cents for order 1001.');
      expect(await countRefunds(stack.db, runId)).toBe(1);
    } finally {
      await service.stop();
    }
  });

  it('serves the API from dist', async () => {
    const port = 20_000 + (process.pid % 20_000);
    const { service, output, exitCode } = await start('dist/src/api/main.js', { ...stack.env, BOSUN_API_PORT: String(port) });
    try {
      expect(exitCode, output.join('\n')).toBeUndefined();
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      // The inbox's static page and the library it imports, copied into dist by the build.
      for (const [file, type] of [['/ui/', 'text/html'], ['/ui/app.js', 'text/javascript'], ['/ui/style.css', 'text/css'], ['/ui/vendor/eventsource-parser.js', 'text/javascript']]) {
        const res = await fetch(`http://127.0.0.1:${port}${file}`);
        expect(res.status, file).toBe(200);
        expect(res.headers.get('content-type'), file).toContain(type);
      }
    } finally {
      await service.stop();
    }
  });

  it('refuses a prebuilt bundle whose workflow code changed since the build', async () => {
    const original = readFileSync(compiledWorkflowModule, 'utf8');
    writeFileSync(compiledWorkflowModule, `${original}\n// changed after the build\n`);
    try {
      const { output, exitCode } = await start('dist/src/worker/main.js', { ...stack.env, ...compiledTools });
      expect(exitCode).toBe(1);
      expect(output.join('\n')).toContain(`workflow bundle ${prebuiltBundle} cannot be used: ${compiledWorkflowModule} changed since it was built`);
    } finally {
      writeFileSync(compiledWorkflowModule, original);
    }
  });

  it('refuses, in a worker run from sources, a bundle built from the compiled code', async () => {
    const { output, exitCode } = await start('src/worker/main.ts', { ...stack.env, BOSUN_WORKFLOW_BUNDLE: prebuiltBundle });
    expect(exitCode).toBe(1);
    expect(output.join('\n')).toContain(`it was built from ${path.join(root, 'dist/src/workflows/index.js')}, and this worker runs ${path.join(root, 'src/workflows/index.ts')}`);
  });
});
