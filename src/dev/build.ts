/**
 * The second half of `npm run build`, run from dist after tsc: copies what tsc does not emit (the
 * SQL migrations and the inbox page's static files, src/api/ui) and builds the workflow bundle ahead of time beside the compiled worker, with the
 * record of its inputs that lets a worker use it (src/worker/workflowBundle.ts).
 */
import { cpSync } from 'node:fs';
import path from 'node:path';
import { runMain } from '../runMain';
import { prebuiltBundlePath, writeWorkflowBundle } from '../worker/workflowBundle';

/** The repository, from dist/src/dev. */
const root = path.resolve(__dirname, '../../..');

runMain('build', async () => {
  if (!__filename.endsWith('.js')) throw new Error('run it compiled, after tsc: node dist/src/dev/build.js (npm run build does both)');
  cpSync(path.join(root, 'src/db/migrations'), path.join(__dirname, '../db/migrations'), { recursive: true });
  // The approvals inbox's static page (src/api/uiRouter.ts serves it from beside itself).
  cpSync(path.join(root, 'src/api/ui'), path.join(__dirname, '../api/ui'), { recursive: true });
  await writeWorkflowBundle(prebuiltBundlePath, true);
  console.log(`built ${path.relative(root, prebuiltBundlePath)}`);
}, { human: true });
