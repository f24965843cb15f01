/**
 * `npm run bench:startup`: prints (does not assert) how long Bosun's processes take from `spawn` to
 * ready ("polling task queue" for the worker, "listening on" for the API), run from TypeScript
 * sources (tsx, the worker bundling its workflow code with webpack at start) and compiled
 * (`npm run build`: tsc's JavaScript and the prebuilt workflow bundle), BENCH_STARTS times each,
 * with the resident memory each has once ready. It builds first unless BENCH_SKIP_BUILD=1.
 *
 * Runs on a fresh in-memory Temporal dev server and a fresh PostgreSQL database (test/support).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnService } from '../src/dev/services';
import { provisionTestServices } from '../test/support/provision';
import { cleanUpOnInterrupt, envInt } from './env';

const STARTS = envInt('BENCH_STARTS', 3);
const root = path.resolve(__dirname, '..');
const prebuilt = path.join(root, 'dist/src/worker/workflow-bundle.js');

interface Variant {
  label: string;
  entry: string;
  env?: NodeJS.ProcessEnv;
  /** Starts it with the prebuilt workflow bundle moved aside, so the compiled worker bundles at start. */
  withoutPrebuiltBundle?: boolean;
}

/** The demo tool pack as `npm run build` compiles it. */
const compiledTools = { BOSUN_TOOL_MODULES: './dist/examples/support-tools' };

const variants: Variant[] = [
  { label: 'worker, sources (tsx + webpack at start)', entry: 'src/worker/main.ts' },
  { label: 'worker, compiled + prebuilt bundle', entry: 'dist/src/worker/main.js', env: compiledTools },
  { label: 'worker, compiled + bundling at start', entry: 'dist/src/worker/main.js', env: compiledTools, withoutPrebuiltBundle: true },
  { label: 'api, sources (tsx)', entry: 'src/api/main.ts' },
  { label: 'api, compiled', entry: 'dist/src/api/main.js' },
];

/** Starts `variant` once; resolves with the ms from spawn to ready and the RSS then (MB). */
async function startOnce(variant: Variant, env: NodeJS.ProcessEnv): Promise<{ ms: number; rssMb: number }> {
  const output: string[] = [];
  const started = performance.now();
  const service = spawnService('bench', variant.entry, { ...env, ...variant.env }, true, (line) => output.push(line));
  await service.ready;
  const ms = performance.now() - started;
  const rssMb = service.pid === undefined ? NaN : residentMb(service.pid);
  const alive = await Promise.race([service.exited.then(() => false), Promise.resolve(true)]);
  await service.stop();
  if (!alive || !output.some((line) => /listening on|polling task queue/.test(line))) {
    throw new Error(`${variant.label} did not get ready:\n${output.join('\n')}`);
  }
  return { ms, rssMb };
}

function residentMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb ? Number(kb) / 1024 : NaN;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  if (process.env.BENCH_SKIP_BUILD !== '1') {
    console.log('npm run build ...');
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  }
  const services = await provisionTestServices();
  const stopListening = cleanUpOnInterrupt(services.stop);
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: services.databaseUrl,
      TEMPORAL_ADDRESS: services.temporalAddress,
      TEMPORAL_TASK_QUEUE: 'bench-startup',
      BOSUN_TOOL_MODULES: './examples/support-tools',
      BOSUN_API_PORT: '0',
      BOSUN_LOG_LEVEL: 'WARN',
    };
    // One throwaway start: the first migration of the fresh database is not start-up cost.
    await startOnce(variants[variants.length - 1]!, env);
    console.log(`\nstart-up to ready, ${STARTS} starts each (${os.cpus().length} cores, Node ${process.version}):`);
    for (const variant of variants) {
      const results = [];
      if (variant.withoutPrebuiltBundle) renameSync(prebuilt, `${prebuilt}.aside`);
      try {
        for (let i = 0; i < STARTS; i++) results.push(await startOnce(variant, env));
      } finally {
        if (variant.withoutPrebuiltBundle) renameSync(`${prebuilt}.aside`, prebuilt);
      }
      const ms = results.map((r) => r.ms);
      console.log(
        `  ${variant.label.padEnd(62)} median ${median(ms).toFixed(0).padStart(5)} ms`
        + `  min ${Math.min(...ms).toFixed(0).padStart(5)} ms  RSS ${median(results.map((r) => r.rssMb)).toFixed(0)} MB`,
      );
    }
  } finally {
    stopListening();
    await services.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
