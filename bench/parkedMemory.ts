/**
 * `npm run bench:parked-memory`: where a parked run's memory goes in the Bosun worker. In each of
 * BENCH_ROUNDS rounds (2) it parks BENCH_PARKED runs (300) on approval on a fresh worker, then
 * approves them and waits until they finish, printing the worker's RSS and memory map
 * (smaps_rollup) at each point: memory that stays after the runs finished is not parked state.
 * With BENCH_HEAP_SNAPSHOTS=1, also the V8 heap growth by constructor of the workflow thread (where
 * the SDK runs workflow code; the main thread's heap does not grow with parked runs) between a heap
 * snapshot before and one after (each collects garbage first; bench/threadHeapSnapshots.cjs takes
 * them on SIGWINCH, because the Temporal SDK stops the worker on SIGUSR2; a snapshot costs the
 * worker ~140 MB of RSS itself). BENCH_SETTLE_S (unset: not read) seconds after parking, the RSS again: V8's
 * memory reducer returns pages once the worker has been quiet for a while. BENCH_WORKER_ENV
 * ("NAME=value NAME=value") varies the worker's configuration, e.g. BOSUN_MAX_CACHED_WORKFLOWS=20.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPool, type Db } from '../src/db/pool';
import { supportDemoScript } from '../src/dev/demoScript';
import { terminalStatuses } from '../src/shared/domain';
import { provisionBenchServices, startBenchStack, type BenchServices, type BenchStack } from './benchStack';
import { cleanUpOnInterrupt, envInt } from './env';
import { heapGrowth, summarizeHeap } from './heapDiff';
import { residentMemory } from './procStats';
import { fixed, mapLimit, sleep } from './stats';

const PARKED = envInt('BENCH_PARKED', 300);
const ROUNDS = envInt('BENCH_ROUNDS', 2);
const SNAPSHOTS = process.env.BENCH_HEAP_SNAPSHOTS === '1';
const SETTLE_S = envInt('BENCH_SETTLE_S', 0);
const workerEnv = Object.fromEntries((process.env.BENCH_WORKER_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

/** Anonymous, file-backed and swapped memory of a process, in MB (smaps_rollup). */
function memoryMap(pid: number): string {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1024;
  return `Rss ${fixed(kb('Rss'))} MB = anonymous ${fixed(kb('Anonymous'))} + file ${fixed(kb('Rss') - kb('Anonymous'))}`;
}

/** Sends SIGWINCH (bench/threadHeapSnapshots.cjs) and waits for the workflow thread's snapshot file. */
async function snapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGWINCH');
  for (let i = 0; i < 600; i++) {
    await sleep(500);
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (!file) continue;
    const full = path.join(dir, file);
    const size = statSync(full).size;
    await sleep(1000);
    if (statSync(full).size === size && size > 0) return full;
  }
  throw new Error('no heap snapshot within 5 minutes');
}

async function parkRuns(stack: BenchStack, db: Db, count: number, offset: number): Promise<string[]> {
  const ids = (await mapLimit(count, 50, (i) => stack.startRun(`Refund order ${1001 + ((offset + i) % 4)}`))).filter((r): r is string => typeof r === 'string');
  for (let i = 0; i < 2400; i++) {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM runs WHERE run_id = ANY($1::uuid[]) AND status = 'awaiting_approval'`, [ids]);
    if (rows[0].n >= ids.length) return ids;
    await sleep(250);
  }
  throw new Error('runs did not park within 10 minutes');
}

/** Approves every pending approval of `ids` and waits until the runs have finished. */
async function finishAll(stack: BenchStack, db: Db, ids: string[]): Promise<void> {
  const { rows } = await db.query(`SELECT run_id, approval_id FROM approvals WHERE run_id = ANY($1::uuid[]) AND status = 'pending'`, [ids]);
  await mapLimit(rows.length, 50, (i) => stack.approve(rows[i].run_id, rows[i].approval_id));
  for (let i = 0; i < 2400; i++) {
    const { rows: done } = await db.query(`SELECT count(*)::int AS n FROM runs WHERE run_id = ANY($1::uuid[]) AND status = ANY($2::text[])`, [ids, terminalStatuses]);
    if (done[0].n >= ids.length) return;
    await sleep(250);
  }
  throw new Error('runs did not finish within 10 minutes');
}

async function main() {
  let services: BenchServices | undefined;
  let stack: BenchStack | undefined;
  let db: Db | undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-heap-'));
  const cleanup = async () => {
    await stack?.close().catch(() => undefined);
    await db?.end().catch(() => undefined);
    await services?.stop().catch(() => undefined);
    if (existsSync(dir) && !process.env.BENCH_KEEP_SNAPSHOTS) rmSync(dir, { recursive: true, force: true });
  };
  const stopListening = cleanUpOnInterrupt(cleanup);
  try {
    services = await provisionBenchServices(process.env.BENCH_TEMPORAL_STORE === 'memory' ? 'memory' : 'file');
    db = createPool(services.databaseUrl, 3);
    stack = await startBenchStack(services, { script: supportDemoScript });
    // BENCH_WORKER_ENV's NODE_OPTIONS (one option, e.g. a V8 heap size) comes before the snapshot hook.
    const nodeOptions = [workerEnv.NODE_OPTIONS, `--require ${path.join(__dirname, 'threadHeapSnapshots.cjs')}`].filter(Boolean).join(' ');
    await stack.restartWorker({ ...workerEnv, NODE_OPTIONS: nodeOptions, BENCH_HEAP_DIR: dir });
    const pid = stack.pids.worker();
    console.log(`worker ${pid} with ${JSON.stringify(workerEnv)}; snapshots in ${dir}`);
    const rss = (label: string) => console.log(`${label.padEnd(44)} RSS ${fixed(residentMemory(pid).rssMb)} MB; ${memoryMap(pid)}`);
    const warm = await parkRuns(stack, db, 5, 0); // loads the workflow code and every activity path up to the approval
    await finishAll(stack, db, warm);
    await sleep(2000);
    rss('5 runs parked, approved and finished:');
    const first = SNAPSHOTS ? await snapshot(pid, dir) : undefined;
    if (first) rss('  after a heap snapshot (it collects garbage):');
    for (let round = 1; round <= ROUNDS; round++) {
      const ids = await parkRuns(stack, db, PARKED, round * PARKED);
      await sleep(3000);
      rss(`round ${round}: ${PARKED} parked:`);
      if (SETTLE_S > 0) {
        await sleep(SETTLE_S * 1000);
        rss(`  ${SETTLE_S} s later:`);
      }
      if (first && round === 1) {
        const second = await snapshot(pid, dir);
        rss('  after a heap snapshot (it collects garbage):');
        for (const line of heapGrowth(summarizeHeap(first), summarizeHeap(second))) console.log(`  ${line}`);
      }
      await finishAll(stack, db, ids);
      await sleep(3000);
      rss(`round ${round}: all approved and finished:`);
    }
  } finally {
    await cleanup();
    stopListening();
  }
}

main().catch((err) => {
  console.error('parked-memory bench failed:', err);
  process.exit(1);
});
