/** Child-process entry: bundles the workflow code into the file named by its only argument. */
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { runMain } from '../runMain';

runMain('bundle-workflows', async () => {
  const [outFile] = process.argv.slice(2);
  if (!outFile) throw new Error('usage: bundleWorkflows <output file>');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: new DefaultLogger('WARN') });
  writeFileSync(outFile, code);
});
