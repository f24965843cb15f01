/**
 * `npm run bench`: prints (does not assert) what Bosun's orchestration costs on this machine.
 *
 *   1. Overhead per agent step and completed runs/s for BENCH_RUNS concurrent 3-step runs
 *      (model → lookup_order → model → lookup_order → model → answer) with a zero-latency model.
 *   2. `POST /v1/runs` latency under an open-loop load of BENCH_RATE requests/s for BENCH_DURATION_S.
 *   3. The worker's resident memory with BENCH_PARKED runs parked on approval.
 *
 * Everything runs on a fresh in-memory Temporal dev server and a fresh PostgreSQL database, through
 * the same test stack the end-to-end tests use (the API in this process, the worker as a child).
 * A missed target is a finding, not a failure: the process exits 0 unless the bench itself broke.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { createPool, type Db } from '../src/db/pool';
import { supportDemoScript } from '../src/dev/demoScript';
import type { ModelScript } from '../src/dev/scriptedModel';
import { terminalStatuses } from '../src/shared/domain';
import { provisionTestServices, type TestServices } from '../test/support/provision';
import { startTestStack, type TestStack } from '../test/support/testStack';
import { cleanUpOnInterrupt, envInt } from './env';


const RUNS = envInt('BENCH_RUNS', 100);
const RATE = envInt('BENCH_RATE', 200);
const DURATION_S = envInt('BENCH_DURATION_S', 10);
const PARKED = envInt('BENCH_PARKED', 1000);
const PARK_CONCURRENCY = envInt('BENCH_PARK_CONCURRENCY', 50);

const TARGET_OVERHEAD_P50_MS = 10;
const TARGET_POST_P99_MS = 25;
const TARGET_RSS_MB = 512;

/**
 * Three model steps per run: the user's "Check order N" asks for lookup_order, the first lookup's
 * result asks for it again, and the second (the conversation then has system, user and two
 * assistant/tool pairs: 6 messages) gets the final answer.
 */
const threeStepScript: ModelScript = {
  latencyMs: 0,
  rules: [
    {
      when: { role: 'user', matches: 'Check order (\\d+)' },
      reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] },
    },
    {
      when: { role: 'tool', tool: 'lookup_order', minMessages: 6, matches: '"order_id":"(\\d+)"' },
      reply: { content: 'Order $1 is on its way.' },
    },
    {
      when: { role: 'tool', tool: 'lookup_order', matches: '"order_id":"(\\d+)"' },
      reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] },
    },
  ],
};
const MODEL_STEPS_PER_RUN = 3;

const orderIds = ['1001', '1002', '1003', '1004'];
const orderFor = (i: number) => orderIds[i % orderIds.length]!;

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile of unsorted values; NaN when there are none. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);
const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : 'n/a');
const verdict = (met: boolean) => (met ? 'MET' : 'MISSED');

/** Machine-wide CPU busy fraction over `sampleMs`, from os.cpus() counters. */
async function cpuBusy(sampleMs: number): Promise<number> {
  const totals = () =>
    os.cpus().reduce(
      (acc, c) => {
        const all = c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
        return { all: acc.all + all, idle: acc.idle + c.times.idle };
      },
      { all: 0, idle: 0 },
    );
  const before = totals();
  await sleep(sampleMs);
  const after = totals();
  const all = after.all - before.all;
  return all > 0 ? 1 - (after.idle - before.idle) / all : 0;
}

/** Waits (up to `maxMs`) until the machine's CPUs are mostly idle, so one phase's backlog does not skew the next. */
async function waitForQuiet(maxMs: number, busyBelow = 0.25): Promise<string> {
  const started = performance.now();
  let busy = 1;
  while (performance.now() - started < maxMs) {
    busy = await cpuBusy(500);
    if (busy < busyBelow) break;
  }
  return `waited ${((performance.now() - started) / 1000).toFixed(1)} s for the CPUs to settle (${(busy * 100).toFixed(0)}% busy)`;
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function mapLimit<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** Polls until every run is terminal. */
async function waitForTerminal(db: Db, runIds: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query(
      'SELECT count(*)::int AS n FROM runs WHERE run_id = ANY($1::uuid[]) AND status = ANY($2::text[])',
      [runIds, terminalStatuses],
    );
    if (rows[0].n >= runIds.length) return;
    if (Date.now() > deadline) throw new Error(`only ${rows[0].n} of ${runIds.length} runs finished within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

/** The worker child's PID: the process whose environment names this stack's task queue. */
function findWorkerPid(taskQueue: string): number {
  const needle = `TEMPORAL_TASK_QUEUE=${taskQueue}`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (!environ.includes(needle)) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('worker/main.ts')) found.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  if (found.length !== 1) throw new Error(`expected one worker process for task queue ${taskQueue}, found ${found.length}`);
  return found[0]!;
}

/** VmRSS and VmHWM (peak) of a process, in MB. */
function residentMemory(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

// ---------------------------------------------------------------------------------------------
// 1. Orchestration overhead per step and completed runs per second

interface RunTiming {
  runId: string;
  status: string;
  wallMs: number;
  stepLatencyMs: number;
  modelLatencyMs: number;
  toolLatencyMs: number;
  modelSteps: number;
  /** Gaps between consecutive timestamps: POST → each recorded step → finished. */
  gaps: { label: string; ms: number }[];
}

async function loadTimings(db: Db, runIds: string[]): Promise<RunTiming[]> {
  const { rows: runs } = await db.query(
    `SELECT run_id, status, created_at, finished_at,
            extract(epoch FROM finished_at - created_at) * 1000 AS wall_ms
     FROM runs WHERE run_id = ANY($1::uuid[])`,
    [runIds],
  );
  const { rows: steps } = await db.query(
    `SELECT run_id, step, ordinal, kind, latency_ms, created_at FROM run_steps
     WHERE run_id = ANY($1::uuid[]) ORDER BY run_id, step, ordinal`,
    [runIds],
  );
  const stepsByRun = new Map<string, any[]>();
  for (const s of steps) {
    const list = stepsByRun.get(s.run_id) ?? [];
    list.push(s);
    stepsByRun.set(s.run_id, list);
  }
  return runs.map((r) => {
    const own = stepsByRun.get(r.run_id) ?? [];
    const sum = (kind?: string) => own.filter((s) => !kind || s.kind === kind).reduce((a, s) => a + s.latency_ms, 0);
    const gaps: { label: string; ms: number }[] = [];
    let previous: Date = r.created_at;
    for (const s of own) {
      const label = s.kind === 'model' ? `→ model reply ${s.step} stored` : `→ tool result ${s.step} stored`;
      gaps.push({ label, ms: s.created_at.getTime() - previous.getTime() });
      previous = s.created_at;
    }
    if (r.finished_at) gaps.push({ label: '→ run finished', ms: r.finished_at.getTime() - previous.getTime() });
    return {
      runId: r.run_id,
      status: r.status,
      wallMs: Number(r.wall_ms),
      stepLatencyMs: sum(),
      modelLatencyMs: sum('model'),
      toolLatencyMs: sum('tool'),
      modelSteps: own.filter((s) => s.kind === 'model').length,
      gaps,
    };
  });
}

/** Starts `count` runs all at once and waits for all of them to finish. */
async function burst(stack: TestStack, db: Db, count: number, offset: number): Promise<{ runIds: string[]; spanMs: number }> {
  const runIds = await Promise.all(Array.from({ length: count }, (_, i) => stack.startRun(`Check order ${orderFor(offset + i)}`)));
  await waitForTerminal(db, runIds, 180_000);
  const { rows } = await db.query(
    `SELECT extract(epoch FROM max(finished_at) - min(created_at)) * 1000 AS span_ms FROM runs WHERE run_id = ANY($1::uuid[])`,
    [runIds],
  );
  return { runIds, spanMs: Number(rows[0].span_ms) };
}

function overheadPerStep(t: RunTiming): number {
  return (t.wallMs - t.stepLatencyMs) / Math.max(1, t.modelSteps);
}

function printGapBreakdown(timings: RunTiming[]) {
  const byLabel = new Map<string, number[]>();
  for (const t of timings) {
    for (const g of t.gaps) {
      const list = byLabel.get(g.label) ?? [];
      list.push(g.ms);
      byLabel.set(g.label, list);
    }
  }
  console.log('  where the wall time goes (p50 / p95 of the gap from the previous timestamp, starting at runs.created_at):');
  for (const [label, values] of byLabel) {
    console.log(`    ${label.padEnd(30)} ${ms(percentile(values, 50)).padStart(10)} / ${ms(percentile(values, 95)).padStart(10)}`);
  }
}

interface OverheadResult {
  isolatedP50: number;
  p50: number;
  p95: number;
  runsPerSecond: number;
  failed: number;
}

async function benchOverhead(stack: TestStack, db: Db): Promise<OverheadResult> {
  console.log(`\n[1] Orchestration overhead: ${RUNS} concurrent 3-step runs, scripted model at 0 ms latency`);

  // Warm-up: JIT, the worker's workflow bundle and sticky cache, connection pools.
  const warmCount = Math.min(50, Math.max(10, Math.round(RUNS / 5)));
  const warmStarted = performance.now();
  await burst(stack, db, warmCount, 0);
  console.log(`  warm-up: ${warmCount} concurrent runs in ${((performance.now() - warmStarted) / 1000).toFixed(1)} s`);

  // One run at a time: the floor, without queueing behind other runs.
  const isolated: RunTiming[] = [];
  for (let i = 0; i < 10; i++) {
    const { runIds } = await burst(stack, db, 1, i);
    isolated.push(...(await loadTimings(db, runIds)));
  }
  const isolatedOverhead = isolated.map(overheadPerStep);
  console.log(
    `  isolated (10 runs one at a time): wall p50 ${ms(percentile(isolated.map((t) => t.wallMs), 50))}, ` +
      `model+tool latency_ms p50 ${ms(percentile(isolated.map((t) => t.stepLatencyMs), 50))}, ` +
      `overhead/step p50 ${ms(percentile(isolatedOverhead, 50))}, p95 ${ms(percentile(isolatedOverhead, 95))}`,
  );
  printGapBreakdown(isolated);

  const { runIds, spanMs } = await burst(stack, db, RUNS, 0);
  const timings = await loadTimings(db, runIds);
  const completed = timings.filter((t) => t.status === 'completed');
  const failed = timings.length - completed.length;
  const wrongSteps = completed.filter((t) => t.modelSteps !== MODEL_STEPS_PER_RUN).length;
  if (wrongSteps) console.log(`  WARNING: ${wrongSteps} runs did not take exactly ${MODEL_STEPS_PER_RUN} model steps`);
  const overhead = completed.map(overheadPerStep);
  const result: OverheadResult = {
    isolatedP50: percentile(isolatedOverhead, 50),
    p50: percentile(overhead, 50),
    p95: percentile(overhead, 95),
    runsPerSecond: completed.length / (spanMs / 1000),
    failed,
  };
  console.log(`  concurrent (${RUNS} runs started at once): ${completed.length} completed, ${failed} not completed`);
  console.log(`    run wall time (POST → finished)    p50 ${ms(percentile(completed.map((t) => t.wallMs), 50))}, p95 ${ms(percentile(completed.map((t) => t.wallMs), 95))}`);
  console.log(`    model latency_ms per run (3 calls) mean ${ms(mean(completed.map((t) => t.modelLatencyMs)))}`);
  console.log(`    tool latency_ms per run (2 calls)  mean ${ms(mean(completed.map((t) => t.toolLatencyMs)))}`);
  console.log(`    overhead per model step            p50 ${ms(result.p50)}, p95 ${ms(result.p95)}`);
  console.log(`    throughput                         ${result.runsPerSecond.toFixed(1)} completed runs/s (${RUNS} runs in ${(spanMs / 1000).toFixed(2)} s, first POST → last finish)`);
  printGapBreakdown(completed);
  return result;
}

// ---------------------------------------------------------------------------------------------
// 2. POST /v1/runs latency under open-loop load

interface PostResult {
  sent: number;
  ok: number;
  errors: number;
  achievedRate: number;
  p50: number;
  p99: number;
  max: number;
  p99FromSchedule: number;
  maxSendLagMs: number;
}

async function benchPostLatency(stack: TestStack, rate: number, durationS: number): Promise<PostResult> {
  const total = rate * durationS;

  // Warm the HTTP path (connections, Express, the Temporal client) before measuring.
  await Promise.all(Array.from({ length: 20 }, (_, i) => stack.startRun(`Refund order ${orderFor(i)}`)));

  const latencies: number[] = [];
  const fromSchedule: number[] = [];
  const errorKinds = new Map<string, number>();
  let maxSendLagMs = 0;
  let lastDone = 0;
  const inFlight: Promise<void>[] = [];
  const intervalMs = 1000 / rate;
  const t0 = performance.now();

  const fire = async (i: number, scheduledAt: number) => {
    const sentAt = performance.now();
    maxSendLagMs = Math.max(maxSendLagMs, sentAt - scheduledAt);
    try {
      const res = await fetch(`${stack.baseUrl}/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agent: 'support', input: `Refund order ${orderFor(i)}` }),
      });
      await res.arrayBuffer();
      const done = performance.now();
      lastDone = Math.max(lastDone, done);
      if (res.status !== 202) {
        errorKinds.set(`HTTP ${res.status}`, (errorKinds.get(`HTTP ${res.status}`) ?? 0) + 1);
        return;
      }
      latencies.push(done - sentAt);
      fromSchedule.push(done - scheduledAt);
    } catch (err) {
      const kind = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
    }
  };

  // Fires each request at its scheduled time whether or not earlier ones have answered.
  let next = 0;
  while (next < total) {
    const now = performance.now();
    while (next < total && t0 + next * intervalMs <= now) {
      inFlight.push(fire(next, t0 + next * intervalMs));
      next++;
    }
    const wait = t0 + next * intervalMs - performance.now();
    await sleep(Math.max(0, Math.min(wait, intervalMs)));
  }
  await Promise.all(inFlight);

  const errors = [...errorKinds.values()].reduce((a, b) => a + b, 0);
  const result: PostResult = {
    sent: total,
    ok: latencies.length,
    errors,
    achievedRate: latencies.length / ((lastDone - t0) / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
    p99FromSchedule: percentile(fromSchedule, 99),
    maxSendLagMs,
  };
  console.log(`  sent ${result.sent}, 202 ${result.ok}, errors ${result.errors}${errors ? ` (${[...errorKinds].map(([k, n]) => `${k}: ${n}`).join(', ')})` : ''}`);
  console.log(`  achieved rate     ${result.achievedRate.toFixed(1)} req/s answered (first send → last answer)`);
  console.log(`  latency           p50 ${ms(result.p50)}, p99 ${ms(result.p99)}, max ${ms(result.max)}`);
  console.log(`  from schedule     p99 ${ms(result.p99FromSchedule)} (includes the load generator's own lag; max send lag ${ms(maxSendLagMs)})`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// 3. Worker memory with runs parked on approval

interface MemoryResult {
  parked: number;
  baselineMb: number;
  rssMb: number;
  peakMb: number;
}

async function benchParkedMemory(stack: TestStack, db: Db): Promise<MemoryResult> {
  console.log(`\n[3] Worker memory: ${PARKED} runs parked on approval (started ${PARK_CONCURRENCY} at a time)`);
  const pid = findWorkerPid(stack.env.TEMPORAL_TASK_QUEUE!);
  console.log(`  ${await waitForQuiet(15_000)}`);
  // A few runs first, so the baseline is a worker that has loaded its workflow code, not an idle one.
  const warm = await Promise.all(Array.from({ length: 5 }, (_, i) => stack.startRun(`Refund order ${orderFor(i)}`)));
  await Promise.all(warm.map((id) => stack.waitForStatus(id, 'awaiting_approval', 60_000)));
  await Promise.all(warm.map((id) => stack.api('POST', `/v1/runs/${id}/cancel`)));
  await waitForTerminal(db, warm, 60_000);
  await sleep(1000);
  const baseline = residentMemory(pid);
  console.log(`  worker pid ${pid}, baseline RSS ${baseline.rssMb.toFixed(1)} MB (after 5 warm-up runs, cancelled)`);

  const started = performance.now();
  await mapLimit(Array.from({ length: PARKED }, (_, i) => i), PARK_CONCURRENCY, (i) => stack.startRun(`Refund order ${orderFor(i)}`));
  const startedAllMs = performance.now() - started;

  const deadline = Date.now() + 150_000;
  let parked = 0;
  for (;;) {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM runs WHERE tenant_id = $1 AND status = 'awaiting_approval'`, [stack.tenantId]);
    parked = rows[0].n;
    if (parked >= PARKED || Date.now() > deadline) break;
    await sleep(250);
  }
  const parkedMs = performance.now() - started;
  if (parked < PARKED) console.log(`  WARNING: only ${parked} of ${PARKED} runs reached awaiting_approval within 150 s`);
  // Let the last workflow tasks settle before reading memory.
  await sleep(2000);
  const after = residentMemory(pid);
  console.log(`  ${PARKED} POSTs in ${(startedAllMs / 1000).toFixed(1)} s; ${parked} parked after ${(parkedMs / 1000).toFixed(1)} s`);
  console.log(`  worker RSS ${after.rssMb.toFixed(1)} MB with ${parked} parked runs (peak ${after.peakMb.toFixed(1)} MB; ` +
    `+${(after.rssMb - baseline.rssMb).toFixed(1)} MB over baseline, ≈${(((after.rssMb - baseline.rssMb) * 1024) / Math.max(1, parked)).toFixed(0)} kB per parked run)`);
  return { parked, baselineMb: baseline.rssMb, rssMb: after.rssMb, peakMb: after.peakMb };
}

// ---------------------------------------------------------------------------------------------

const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

function header() {
  const cpus = os.cpus();
  console.log('Bosun orchestration bench');
  console.log(`  machine: ${cpus.length} cores × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()} ${os.arch()}`);
  console.log(`  node ${process.version}, ${new Date().toISOString()}, load average ${loadAverage()} (other work on the machine skews every figure)`);
  console.log(`  settings: BENCH_RUNS=${RUNS} BENCH_RATE=${RATE} BENCH_DURATION_S=${DURATION_S} BENCH_PARKED=${PARKED} BENCH_PARK_CONCURRENCY=${PARK_CONCURRENCY}`);
  console.log('  (API in the bench process, worker as a child process, Temporal dev server in memory, local PostgreSQL)');
}

async function main() {
  header();
  const started = performance.now();
  let services: TestServices | undefined;
  let stack: TestStack | undefined;
  let db: Db | undefined;
  const cleanup = async () => {
    await stack?.close().catch((err) => console.error('stack close failed:', err));
    stack = undefined;
    await db?.end().catch(() => undefined);
    db = undefined;
    await services?.stop().catch((err) => console.error('services stop failed:', err));
    services = undefined;
  };
  const stopListening = cleanUpOnInterrupt(cleanup);

  try {
    services = await provisionTestServices();
    db = createPool(services.databaseUrl, 3);

    stack = await startTestStack({ services, script: threeStepScript });
    const overhead = await benchOverhead(stack, db);

    stack.model.setScript(supportDemoScript);
    console.log(`\n[2] POST /v1/runs latency: open loop at ${RATE} req/s for ${DURATION_S} s (${RATE * DURATION_S} requests; 'Refund order …' runs park on approval)`);
    console.log('  (the test stack serves the API from this process, PostgreSQL pool of 5; the worker works through the started runs meanwhile)');
    const sequential: number[] = [];
    for (let i = 0; i < 50; i++) {
      const sentAt = performance.now();
      await stack.startRun(`Refund order ${orderFor(i)}`);
      sequential.push(performance.now() - sentAt);
    }
    console.log(`  baseline: 50 POSTs one at a time: p50 ${ms(percentile(sequential, 50))}, p99 ${ms(percentile(sequential, 99))}`);
    const post = await benchPostLatency(stack, RATE, DURATION_S);
    // Diagnostic: the same load with the worker stopped, to tell the API's own cost from contention with the worker.
    await stack.worker.stop();
    const settled = await waitForQuiet(10_000);
    const diagS = Math.min(5, DURATION_S);
    console.log(`  diagnostic: same rate for ${diagS} s with the worker stopped (API + Temporal + PostgreSQL only; ${settled})`);
    const postNoWorker = await benchPostLatency(stack, RATE, diagS);
    await stack.close();
    stack = undefined;

    // A fresh worker, so its memory reflects only the runs parked on it.
    stack = await startTestStack({ services, script: supportDemoScript });
    const memory = await benchParkedMemory(stack, db);

    console.log('\nSummary (targets are goals; a miss is a finding)');
    console.log(`  orchestration overhead per step   p50 ${ms(overhead.p50)}, p95 ${ms(overhead.p95)} at ${RUNS} concurrent runs ` +
      `(isolated p50 ${ms(overhead.isolatedP50)})   target p50 ≤ ${TARGET_OVERHEAD_P50_MS} ms: ${verdict(overhead.p50 <= TARGET_OVERHEAD_P50_MS)}`);
    console.log(`  completed runs per second         ${overhead.runsPerSecond.toFixed(1)} runs/s (${overhead.failed} runs not completed)`);
    console.log(`  POST /v1/runs at ${RATE} req/s      p50 ${ms(post.p50)}, p99 ${ms(post.p99)}, max ${ms(post.max)}, ` +
      `${post.achievedRate.toFixed(1)} req/s achieved, ${post.errors} errors   target p99 ≤ ${TARGET_POST_P99_MS} ms: ${verdict(post.errors === 0 && post.p99 <= TARGET_POST_P99_MS)}`);
    console.log(`    one at a time (closed loop)      p50 ${ms(percentile(sequential, 50))}, p99 ${ms(percentile(sequential, 99))} (diagnostic only)`);
    console.log(`    same load, worker stopped        p50 ${ms(postNoWorker.p50)}, p99 ${ms(postNoWorker.p99)}, max ${ms(postNoWorker.max)}, ` +
      `${postNoWorker.achievedRate.toFixed(1)} req/s achieved, ${postNoWorker.errors} errors (diagnostic only)`);
    console.log(`  worker RSS, ${memory.parked} parked runs     ${memory.rssMb.toFixed(1)} MB (baseline ${memory.baselineMb.toFixed(1)} MB, peak ${memory.peakMb.toFixed(1)} MB)   ` +
      `target ≤ ${TARGET_RSS_MB} MB with 1,000 parked: ${verdict(memory.rssMb <= TARGET_RSS_MB)}${memory.parked < 1000 ? ' (fewer than 1,000 parked: not comparable)' : ''}`);
    console.log(`  bench took ${((performance.now() - started) / 1000).toFixed(0)} s; load average now ${loadAverage()}`);
  } finally {
    await cleanup();
    stopListening();
  }
}

main().catch((err) => {
  console.error('bench failed:', err);
  process.exit(1);
});
