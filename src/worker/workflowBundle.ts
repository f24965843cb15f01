/**
 * Where a worker's workflow code comes from: a bundle built ahead of time (`npm run build` writes
 * one beside the compiled worker) when it was built from exactly the files this worker would bundle,
 * else a bundle made at start-up in a short-lived child process.
 *
 * A prebuilt bundle is never trusted blindly: `<bundle>.inputs.json` beside it names the workflow
 * module it was built from and the SHA-256 of every file webpack read (Bosun's workflow and shared
 * code, @temporalio/workflow, zod, ...). A worker accepts the bundle only when that module is its
 * own (so a worker run from TypeScript sources never takes a bundle built from dist) and every file
 * still hashes the same; otherwise it refuses to start, naming the first difference.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { z } from 'zod';
import { announce } from '../telemetry/logger';

/** Where `npm run build` puts the bundle: beside the compiled worker, so dist/src/worker/workflow-bundle.js. */
export const prebuiltBundlePath = path.join(__dirname, 'workflow-bundle.js');

/** The workflow module this worker runs: src/workflows/index.ts from sources, dist/src/workflows/index.js compiled. */
const workflowsModule = (): string => path.join(__dirname, '../workflows', `index${path.extname(__filename)}`);

/**
 * The workflow interceptor modules every bundle has: src/workflows/tracing.ts, Temporal's
 * OpenTelemetry interceptors and Bosun's run and approval spans, active only in workflows started
 * with a trace context. Always bundled, tracing on or off (with tracing off the worker's sink drops
 * their spans, src/telemetry/tracing.ts); they add no commands, so runs replay the same with or without them.
 */
export const workflowInterceptorModules = (): string[] => [
  // Beside the workflow module, in its form (.ts from sources, .js compiled).
  path.join(path.dirname(workflowsModule()), `tracing${path.extname(workflowsModule())}`),
];

const inputsSchema = z.object({
  /** The bundled workflow module, relative to the bundle's folder. */
  workflowsModule: z.string(),
  /** Every file webpack read, relative to the bundle's folder → its SHA-256 (hex). */
  files: z.record(z.string(), z.string()),
  /** The workflow interceptor modules bundled, relative to the bundle's folder (absent: none, a bundle from before tracing). */
  interceptorModules: z.array(z.string()).default([]),
});
type BundleInputs = z.infer<typeof inputsSchema>;

/** The record of what a bundle was built from, beside it. */
export const inputsPathOf = (bundlePath: string): string => `${bundlePath}.inputs.json`;

/**
 * The bundle a worker should run, as `WorkerOptions.workflowBundle`: the `configured` path
 * (BOSUN_WORKFLOW_BUNDLE) if any, else the prebuilt one beside this module if present, else a
 * fresh bundle made in a child process (a few seconds). Rejects when the configured or prebuilt
 * bundle is missing its inputs record or was built from other workflow code than this worker's.
 * Announces which it took.
 */
export async function workflowBundleFor(configured: string | undefined): Promise<{ codePath: string }> {
  const prebuilt = configured ? path.resolve(configured) : prebuiltBundlePath;
  if (!configured && !existsSync(prebuilt)) {
    announce(`workflow code: bundling ${workflowsModule()} at start-up`);
    return { codePath: await bundleWorkflowsInChild() };
  }
  const problem = staleness(prebuilt);
  if (problem) throw new Error(`workflow bundle ${prebuilt} cannot be used: ${problem}; rebuild it with \`npm run build\``);
  announce(`workflow code: prebuilt bundle ${prebuilt}`);
  return { codePath: prebuilt };
}

/** Why the bundle at `bundlePath` is not this worker's workflow code, or undefined when it is. */
export function staleness(bundlePath: string): string | undefined {
  const inputsPath = inputsPathOf(bundlePath);
  if (!existsSync(bundlePath)) return 'it does not exist';
  if (!existsSync(inputsPath)) return `${path.basename(inputsPath)}, the record of what it was built from, is missing`;
  const parsed = inputsSchema.safeParse(JSON.parse(readFileSync(inputsPath, 'utf8')));
  if (!parsed.success) return `${path.basename(inputsPath)} is malformed`;
  const dir = path.dirname(bundlePath);
  const built = path.resolve(dir, parsed.data.workflowsModule);
  if (built !== workflowsModule()) return `it was built from ${built}, and this worker runs ${workflowsModule()}`;
  const interceptors = parsed.data.interceptorModules.map((file) => path.resolve(dir, file));
  if (interceptors.join('\n') !== workflowInterceptorModules().join('\n')) {
    return `it was built with the workflow interceptors [${interceptors.join(', ')}], and this worker needs [${workflowInterceptorModules().join(', ')}]`;
  }
  for (const [file, hash] of Object.entries(parsed.data.files)) {
    const absolute = path.resolve(dir, file);
    if (!existsSync(absolute)) return `${absolute}, which it was built from, is gone`;
    if (sha256(absolute) !== hash) return `${absolute} changed since it was built`;
  }
  return undefined;
}

/**
 * Bundles this worker's workflow code into `outFile`; with `recordInputs`, also writes what it was
 * built from beside it (`inputsPathOf`), which a prebuilt bundle needs to be used.
 */
export async function writeWorkflowBundle(outFile: string, recordInputs: boolean): Promise<void> {
  let read: string[] = [];
  const { code } = await bundleWorkflowCode({
    workflowsPath: workflowsModule(),
    workflowInterceptorModules: workflowInterceptorModules(),
    logger: new DefaultLogger('WARN'),
    webpackConfigHook: (config) => ({ ...config, plugins: [...(config.plugins ?? []), { apply: (compiler) => {
      compiler.hooks.done.tap('bosun-bundle-inputs', (stats) => { read = [...stats.compilation.fileDependencies]; });
    } }] }),
  });
  writeFileSync(outFile, code);
  if (recordInputs) writeFileSync(inputsPathOf(outFile), `${JSON.stringify(inputsOf(outFile, read), null, 2)}\n`);
}

/** The inputs record of a bundle at `outFile`: the real files among those webpack read (it also lists folders and a generated entry point). */
function inputsOf(outFile: string, read: readonly string[]): BundleInputs {
  const dir = path.dirname(outFile);
  const files: Record<string, string> = {};
  for (const file of [...read].sort()) {
    if (existsSync(file) && statSync(file).isFile()) files[path.relative(dir, file)] = sha256(file);
  }
  return {
    workflowsModule: path.relative(dir, workflowsModule()),
    files,
    interceptorModules: workflowInterceptorModules().map((file) => path.relative(dir, file)),
  };
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * Bundles the workflow code in a short-lived child process and returns the bundle's path. Webpack's
 * memory leaves with the child: the worker stays ~165 MB smaller than when it bundles in-process.
 */
export async function bundleWorkflowsInChild(): Promise<string> {
  const outFile = path.join(os.tmpdir(), `bosun-workflows-${process.pid}.js`);
  await promisify(execFile)(process.execPath, [...process.execArgv, require.resolve('./bundleWorkflows'), outFile]);
  return outFile;
}
