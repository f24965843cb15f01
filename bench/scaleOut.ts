/**
 * `npm run bench:scale-out` (or `BENCH_SCENARIO=scale-out npm run bench`): does adding worker
 * processes add throughput? The same model-bound load (BENCH_SCALE_CONCURRENCY closed-loop clients,
 * each starting a run and following its event stream to the end; the scripted model answers each
 * call after BENCH_SCALE_MODEL_MS) with 1, 2 and 3 Bosun worker processes (BENCH_SCALE_WORKERS),
 * behind 2 API processes on one address (a round-robin TCP proxy in this file). Prints runs/s
 * finished in a BENCH_SCALE_WINDOW_S window after BENCH_SCALE_WARMUP_S of ramp-up, the p50 run, and
 * the CPU each group of processes spent per run. Prints, never asserts; exits 0 unless the bench broke.
 *
 * A worker runs at most BOSUN_MAX_CONCURRENT_ACTIVITIES activities at once (BENCH_SCALE_SLOTS here,
 * standing for one machine's share), so with slow model calls one worker caps throughput at
 * slots ÷ (model calls a run × model latency); each worker added raises that cap, until the
 * machine's CPU (shared here by Temporal, PostgreSQL, the APIs and the workers) is the limit instead.
 * The Temporal dev server keeps its data in memory unless BENCH_TEMPORAL_STORE=file.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createPool, type Db } from '../src/db/pool';
import type { ModelScript } from '../src/dev/scriptedModel';
import { provisionBenchServices, startBenchStack, type BenchServices, type BenchStack } from './benchStack';
import { cleanUpOnInterrupt, envInt } from './env';
import { cpuMeter, describeMachine, loadAverage, postgresBackends, fixedPid, type CpuSource } from './procStats';
import { fixed, ms, percentile, sleep } from './stats';

const WORKER_COUNTS = (process.env.BENCH_SCALE_WORKERS || '1,2,3').split(',').map((s) => Number(s.trim()));
const CONCURRENCY = envInt('BENCH_SCALE_CONCURRENCY', 60);
const MODEL_MS = envInt('BENCH_SCALE_MODEL_MS', 2_000);
const WARMUP_S = envInt('BENCH_SCALE_WARMUP_S', 20);
const WINDOW_S = envInt('BENCH_SCALE_WINDOW_S', 60);
const API_PROCESSES = 2;
/** Each worker's BOSUN_MAX_CONCURRENT_ACTIVITIES. */
const ACTIVITY_SLOTS_PER_WORKER = envInt('BENCH_SCALE_SLOTS', 4);
if (WORKER_COUNTS.some((n, i) => !Number.isInteger(n) || n < 1 || (i > 0 && n <= WORKER_COUNTS[i - 1]!))) {
  throw new Error('BENCH_SCALE_WORKERS must be increasing whole numbers, e.g. "1,2,3"');
}

/** Two model calls a run: look the order up, then answer. */
const MODEL_CALLS_PER_RUN = 2;
/** Runs/s the closed-loop clients could reach if nothing but the model took time. */
const CLIENT_CEILING = CONCURRENCY / (MODEL_CALLS_PER_RUN * (MODEL_MS / 1000));
/** Runs/s one worker's activity slots allow when every slot holds a model call. */
const SLOT_CEILING_PER_WORKER = ACTIVITY_SLOTS_PER_WORKER / (MODEL_CALLS_PER_RUN * (MODEL_MS / 1000));
const lookupThenAnswer = (latencyMs: number): ModelScript => ({
  latencyMs,
  rules: [
    { when: { role: 'user', matches: 'Where is order (\\d+)' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
    { when: { role: 'tool', tool: 'lookup_order', matches: '"order_id":"(\\d+)"' }, reply: { content: 'Order $1 is on its way.' } },
  ],
});

/** A round-robin TCP balancer on 127.0.0.1: each new connection goes to the next API in turn. */
async function roundRobin(targets: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let next = 0;
  const server = net.createServer((client) => {
    const target = new URL(targets[next++ % targets.length]!);
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    }),
  };
}

interface StepResult {
  workers: number;
  runsPerSecond: number;
  finishedInWindow: number;
  failed: number;
  p50: number;
  /** CPU ms per run finished in the window, per process group. */
  cpuPerRun: Record<string, number>;
}

/**
 * CONCURRENCY clients loop (start a run, follow it to the end) for WARMUP_S + WINDOW_S; the runs
 * that finish inside the window count. Then every client finishes its last run before the next step.
 */
async function measure(stack: BenchStack, services: BenchServices, db: Db, workers: number): Promise<StepResult> {
  const sources: CpuSource[] = [
    { name: 'workers', pids: async () => stack.pids.workers() },
    { name: 'APIs', pids: async () => stack.pids.apis() },
    fixedPid('Temporal', services.temporalPid),
    postgresBackends(db, services.databaseName),
  ];
  const meter = cpuMeter(sources);
  const started = performance.now();
  const windowStart = started + WARMUP_S * 1000;
  const windowEnd = windowStart + WINDOW_S * 1000;
  const finished: { at: number; latency: number }[] = [];
  let failed = 0;
  const client = async (lane: number) => {
    // Clients join over the first half of the warm-up, so the starts do not all land at once.
    await sleep((lane * WARMUP_S * 500) / CONCURRENCY);
    for (let i = lane; performance.now() < windowEnd; i += CONCURRENCY) {
      const t0 = performance.now();
      try {
        await stack.followUntilFinished(await stack.startRun(`Where is order ${1001 + (i % 4)}?`));
        finished.push({ at: performance.now(), latency: performance.now() - t0 });
      } catch (err) {
        failed += 1;
        if (failed === 1) console.log(`    a run failed: ${(err as Error).message}`);
        await sleep(1_000); // as a client would back off, rather than spin on a 503
      }
    }
  };
  const meterWindow = (async () => {
    await sleep(windowStart - performance.now());
    await meter.start();
    await sleep(windowEnd - performance.now());
    return meter.stop();
  })();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, lane) => client(lane)));
  const cpu = await meterWindow;
  const inWindow = finished.filter((f) => f.at >= windowStart && f.at < windowEnd);
  const cpuPerRun = Object.fromEntries(Object.entries(cpu).map(([name, total]) => [name, total / Math.max(1, inWindow.length)]));
  return {
    workers, runsPerSecond: inWindow.length / WINDOW_S, finishedInWindow: inWindow.length, failed,
    p50: percentile(inWindow.map((f) => f.latency), 50), cpuPerRun,
  };
}

function printStep(r: StepResult) {
  const ceiling = Math.min(CLIENT_CEILING, r.workers * SLOT_CEILING_PER_WORKER);
  const cpu = Object.entries(r.cpuPerRun).map(([name, v]) => `${name} ${fixed(v)}`).join(', ');
  console.log(`  ${r.workers} worker${r.workers > 1 ? 's' : ' '}: ${fixed(r.runsPerSecond, 2).padStart(6)} runs/s (${r.finishedInWindow} in ${WINDOW_S} s; ` +
    `ceiling ${fixed(ceiling, 2)} from slots and clients), run p50 ${ms(r.p50)}${r.failed ? `, ${r.failed} failed` : ''}; CPU ms/run: ${cpu}; load ${loadAverage()}`);
}

/**
 * Where adding a worker stopped adding throughput (the first step that gained under 15 %), and what
 * limited it there: the clients when the rate is near their ceiling, else the machine.
 */
function verdict(results: StepResult[]): string {
  for (let i = 1; i < results.length; i += 1) {
    const gain = results[i]!.runsPerSecond / results[i - 1]!.runsPerSecond - 1;
    if (!(gain >= 0.15)) {
      const limit = results[i]!.runsPerSecond >= 0.8 * CLIENT_CEILING
        ? `the ${CONCURRENCY} clients (ceiling ${fixed(CLIENT_CEILING, 2)} runs/s) are the limit: raise BENCH_SCALE_CONCURRENCY`
        : `the machine (CPU shared by Temporal, PostgreSQL, the APIs and the workers), not the workers' activity slots, is the limit from there`;
      return `adding workers stops paying at ${results[i - 1]!.workers} (${results[i]!.workers} gave ${fixed(gain * 100, 0)} %): ${limit}`;
    }
  }
  return `every worker added raised throughput (${results.map((r) => fixed(r.runsPerSecond, 2)).join(' → ')} runs/s); try more`;
}

export async function runScaleOut(): Promise<void> {
  let services: BenchServices | undefined;
  let stack: BenchStack | undefined;
  let balancer: Awaited<ReturnType<typeof roundRobin>> | undefined;
  let db: Db | undefined;
  const cleanup = async () => {
    await stack?.close().catch((err) => console.error('stack close failed:', err));
    stack = undefined;
    await balancer?.close();
    balancer = undefined;
    await db?.end().catch(() => undefined);
    db = undefined;
    await services?.stop().catch((err) => console.error('services stop failed:', err));
    services = undefined;
  };
  const stopListening = cleanUpOnInterrupt(cleanup);
  try {
    services = await provisionBenchServices(process.env.BENCH_TEMPORAL_STORE === 'file' ? 'file' : 'memory');
    db = createPool(services.databaseUrl, 3);
    console.log(`Bosun scale-out bench: the same model-bound load on ${WORKER_COUNTS.join(', ')} worker processes, ${API_PROCESSES} API processes behind one address`);
    for (const line of await describeMachine(services.temporalCli, db)) console.log(`  ${line}`);
    console.log(`  ${new Date().toISOString()}, load average ${loadAverage()} (other work on the machine skews every figure)`);
    console.log(`  settings: BENCH_SCALE_WORKERS=${WORKER_COUNTS.join(',')} BENCH_SCALE_CONCURRENCY=${CONCURRENCY} BENCH_SCALE_MODEL_MS=${MODEL_MS} ` +
      `BENCH_SCALE_SLOTS=${ACTIVITY_SLOTS_PER_WORKER} BENCH_TEMPORAL_STORE=${process.env.BENCH_TEMPORAL_STORE === 'file' ? 'file' : 'memory'} ` +
      `BENCH_SCALE_WARMUP_S=${WARMUP_S} BENCH_SCALE_WINDOW_S=${WINDOW_S}; ${MODEL_CALLS_PER_RUN} model calls and one lookup_order a run`);
    stack = await startBenchStack(services, {
      script: lookupThenAnswer(MODEL_MS),
      apis: API_PROCESSES,
      front: async (urls) => (balancer = await roundRobin(urls)).url,
      env: {
        BOSUN_MAX_RUNNING_PER_TENANT: String(CONCURRENCY * 2),
        BOSUN_MAX_RUNNING_GLOBAL: String(CONCURRENCY * 2),
        // Every run in flight stays cached on its worker, whatever the number of workers.
        BOSUN_MAX_CACHED_WORKFLOWS: String(CONCURRENCY * 2),
        BOSUN_MAX_CONCURRENT_ACTIVITIES: String(ACTIVITY_SLOTS_PER_WORKER),
      },
    });
    const results: StepResult[] = [];
    let running = 1;
    for (const workers of WORKER_COUNTS) {
      while (running < workers) {
        await stack.addWorker();
        running += 1;
      }
      results.push(await measure(stack, services, db, workers));
      printStep(results[results.length - 1]!);
    }
    console.log(`\n  ${verdict(results)}`);
  } finally {
    await cleanup();
    stopListening();
  }
}

if (require.main === module) {
  runScaleOut().catch((err) => {
    console.error('bench failed:', err);
    process.exit(1);
  });
}
