/**
 * Child-process entry: bundles the workflow code into the file named by its first argument.
 * `--prebuilt` also records what the bundle was built from beside it, so a worker may use it
 * (src/worker/workflowBundle.ts); `npm run build` makes dist/src/worker/workflow-bundle.js so.
 */
import { runMain } from '../runMain';
import { writeWorkflowBundle } from './workflowBundle';

runMain('bundle-workflows', async () => {
  const [outFile, ...flags] = process.argv.slice(2);
  if (!outFile || flags.some((flag) => flag !== '--prebuilt')) throw new Error('usage: bundleWorkflows <output file> [--prebuilt]');
  await writeWorkflowBundle(outFile, flags.includes('--prebuilt'));
});
