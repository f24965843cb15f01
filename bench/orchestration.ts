/**
 * `npm run bench`: prints (does not assert) what Bosun's orchestration costs on this machine, beside
 * the same agent as a bare Temporal workflow on the same Temporal server and PostgreSQL.
 *
 *   [1] one run at a time: p50 run latency (Bosun: REST start, then SSE until run.finished)
 *   [2] BENCH_CONCURRENCY (20) concurrent, model at 0 ms: runs/s
 *   [3] BENCH_WIDE_CONCURRENCY (200) concurrent, model at BENCH_WIDE_MODEL_MS (200) ms, the
 *       per-tenant limit raised to BENCH_TENANT_LIMIT: runs/s and p50 run
 *   [4] runs parked on approval (BENCH_PARKED_SIZES, "1000" by default; "1000,10000" for both;
 *       through the API, BENCH_PARK_CONCURRENCY on their way to parking at a time): worker RSS, then after a burst of
 *       approvals (BENCH_APPROVE_CONCURRENCY at a time) the time until none is left awaiting approval
 *       (resumed: its workflow took the decision up), each run's own resume lag, and the time until
 *       all have finished ("none" skips [4] and [5]; BENCH_SCENARIO=parked runs [4] and [5] alone).
 *       The RSS is read twice: as the last run parks, and BENCH_PARK_SETTLE_S (60) seconds later,
 *       the worker quiet (V8's memory reducer has then returned the collector's headroom: the
 *       steady state of a worker holding that many parked runs)
 *   [5] BENCH_IDLE_STREAMS (1000) idle SSE streams on parked runs: database transactions per second
 *       and, from PostgreSQL's statement log, statements per process and shape, without and with them
 *   [6] BENCH_STREAMED_RUNS (10) streamed runs one at a time: time to first token (POST to the first
 *       message.delta on the event stream) and to run.finished, the model sending a word every 20 ms
 *   [T] tracing off and on, side by side: Bosun alone, one at a time and BENCH_CONCURRENCY concurrent
 *       (BENCH_TRACING_RUNS runs each, 100 by default, 0 skips it), the second time on a stack whose
 *       API and worker export every span over OTLP/HTTP to a receiver the bench runs
 *
 * Each of [1]–[3] runs Bosun, the bare workflow with regular activities and with local activities
 * (bench/bare), in turn, and prints the CPU time each process spent per run, read from /proc.
 * The agent: model → lookup_order → model → lookup_order → model → answer, lookups reading PostgreSQL.
 * A missed target is a finding, not a failure: the process exits 0 unless the bench itself broke.
 */
import { performance } from 'node:perf_hooks';
import { createPool, type Db } from '../src/db/pool';
import { supportDemoScript } from '../src/dev/demoScript';
import type { ModelScript } from '../src/dev/scriptedModel';
import { terminalStatuses } from '../src/shared/domain';
import { provisionBenchServices, startBenchStack, type BenchServices, type BenchStack } from './benchStack';
import { cleanUpOnInterrupt, envInt } from './env';
import { cpuMeter, describeMachine, fixedPid, loadAverage, postgresBackends, residentMemory } from './procStats';
import { runScaleOut } from './scaleOut';
import { fixed, mapLimit, ms, percentile, ratio, sleep } from './stats';
import { describeTally, logOffset, logStatementsOf, readStatements, tally, watchSources } from './statementLog';
import { startOtlpReceiver } from '../test/support/otlpReceiver';

const SEQUENTIAL_RUNS = envInt('BENCH_SEQUENTIAL_RUNS', 30);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 20);
const CONCURRENT_RUNS = envInt('BENCH_CONCURRENT_RUNS', 200);
const WIDE_CONCURRENCY = envInt('BENCH_WIDE_CONCURRENCY', 200);
const WIDE_RUNS = envInt('BENCH_WIDE_RUNS', 600);
const WIDE_MODEL_MS = envInt('BENCH_WIDE_MODEL_MS', 200);
const TENANT_LIMIT = envInt('BENCH_TENANT_LIMIT', 1000);
const PARKED_SIZES = process.env.BENCH_PARKED_SIZES === 'none' ? [] : (process.env.BENCH_PARKED_SIZES || '1000').split(',').map((s) => Number(s.trim()));
const PARK_CONCURRENCY = envInt('BENCH_PARK_CONCURRENCY', 50);
const APPROVE_CONCURRENCY = envInt('BENCH_APPROVE_CONCURRENCY', 50);
/** How long [4] waits for the runs to park (s); by default 300 s plus a second a run, since parking runs at a few runs/s on a loaded machine. */
const PARK_TIMEOUT_S = process.env.BENCH_PARK_TIMEOUT_S ? envInt('BENCH_PARK_TIMEOUT_S', 0) : undefined;
const PARK_SETTLE_S = envInt('BENCH_PARK_SETTLE_S', 60);
/** 0 skips [5]. */
const IDLE_STREAMS = process.env.BENCH_IDLE_STREAMS === '0' ? 0 : envInt('BENCH_IDLE_STREAMS', 1000);
const IDLE_WINDOW_S = envInt('BENCH_IDLE_WINDOW_S', 10);
const STREAMED_RUNS = envInt('BENCH_STREAMED_RUNS', 10);
const TRACING_RUNS = envInt('BENCH_TRACING_RUNS', 100);
const TEMPORAL_STORE = process.env.BENCH_TEMPORAL_STORE === 'memory' ? 'memory' : 'file';
if (PARKED_SIZES.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error('BENCH_PARKED_SIZES must be positive whole numbers, e.g. "1000,10000"');

/** Three model steps: lookup_order, lookup_order again, then the answer (6 messages by then). */
const threeStepScript = (latencyMs: number): ModelScript => ({
  latencyMs,
  rules: [
    { when: { role: 'user', matches: 'Check order (\\d+)' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
    { when: { role: 'tool', tool: 'lookup_order', minMessages: 6, matches: '"order_id":"(\\d+)"' }, reply: { content: 'Order $1 is on its way.' } },
    { when: { role: 'tool', tool: 'lookup_order', matches: '"order_id":"(\\d+)"' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
  ],
});

const orderIds = ['1001', '1002', '1003', '1004'];
const orderFor = (i: number) => orderIds[i % orderIds.length]!;

type System = 'Bosun' | 'bare regular' | 'bare local';
const systems: System[] = ['Bosun', 'bare regular', 'bare local'];

/** One run of the 3-step agent on `system`, start to finish. */
function runOnce(stack: BenchStack, system: System, i: number): Promise<unknown> {
  const input = `Check order ${orderFor(i)}`;
  if (system === 'Bosun') return stack.startRun(input).then((runId) => stack.followUntilFinished(runId));
  return stack.runBare(system === 'bare regular' ? 'regular' : 'local', stack.tenantId, input);
}

interface ScenarioResult {
  completed: number;
  failed: number;
  runsPerSecond: number;
  p50: number;
  p95: number;
  /** CPU ms per completed run, per process group. */
  cpuPerRun: Record<string, number>;
}

function meterFor(stack: BenchStack, services: BenchServices, db: Db) {
  return cpuMeter([
    fixedPid('Bosun worker', stack.pids.worker()),
    fixedPid('bare worker', stack.pids.bareWorker),
    fixedPid('API', stack.pids.api),
    fixedPid('Temporal', services.temporalPid),
    postgresBackends(db, services.databaseName),
  ]);
}

/** `total` runs on `system` through `lanes` closed-loop lanes; latency per run, runs/s, CPU per run. */
async function scenario(stack: BenchStack, services: BenchServices, db: Db, system: System, lanes: number, total: number): Promise<ScenarioResult> {
  // Warm-up: JIT, bundles, caches, connection pools.
  await mapLimit(Math.min(20, lanes * 2), Math.min(lanes, 10), (i) => runOnce(stack, system, i));
  const meter = meterFor(stack, services, db);
  await meter.start();
  const latencies: number[] = [];
  const started = performance.now();
  const results = await mapLimit(total, lanes, async (i) => {
    const t0 = performance.now();
    await runOnce(stack, system, i);
    latencies.push(performance.now() - t0);
  });
  const spanMs = performance.now() - started;
  const cpu = await meter.stop();
  const failures = results.filter((r) => r instanceof Error) as Error[];
  if (failures.length) console.log(`    ${failures.length} ${system} runs failed, e.g. ${failures[0]!.message}`);
  const completed = latencies.length;
  const cpuPerRun = Object.fromEntries(Object.entries(cpu).map(([name, total]) => [name, total / Math.max(1, completed)]));
  return { completed, failed: failures.length, runsPerSecond: completed / (spanMs / 1000), p50: percentile(latencies, 50), p95: percentile(latencies, 95), cpuPerRun };
}

function printScenario(title: string, results: Record<System, ScenarioResult>, headline: 'latency' | 'throughput') {
  console.log(`\n${title}`);
  const bosun = results.Bosun;
  for (const system of systems) {
    const r = results[system];
    const cpu = Object.entries(r.cpuPerRun).filter(([, v]) => v >= 0.05).map(([k, v]) => `${k} ${fixed(v)}`).join(', ');
    console.log(`  ${system.padEnd(13)} ${fixed(r.runsPerSecond).padStart(6)} runs/s, run p50 ${ms(r.p50).padStart(10)}, p95 ${ms(r.p95).padStart(10)}` +
      `${r.failed ? `, ${r.failed} failed` : ''}; CPU ms/run: ${cpu || 'none measured'}`);
  }
  for (const bare of ['bare regular', 'bare local'] as const) {
    const b = results[bare];
    console.log(headline === 'throughput'
      ? `  Bosun ÷ ${bare}: ${ratio(bosun.runsPerSecond, b.runsPerSecond)} the runs/s, ${ratio(bosun.p50, b.p50)} the p50 run`
      : `  Bosun ÷ ${bare}: ${ratio(bosun.p50, b.p50)} the p50 run`);
  }
}

async function runScenarios(stack: BenchStack, services: BenchServices, db: Db, title: string, lanes: number, total: number, headline: 'latency' | 'throughput') {
  const results = {} as Record<System, ScenarioResult>;
  for (const system of systems) results[system] = await scenario(stack, services, db, system, lanes, total);
  printScenario(title, results, headline);
  return results;
}

// ---------------------------------------------------------------------------------------------
// Tracing off and on

/**
 * [T]: the same Bosun runs on `untraced` and on a second stack that traces (OTEL_* set, every span
 * exported as OTLP/JSON to a receiver of the bench's), one at a time and `CONCURRENCY` at once.
 */
async function tracingOverhead(untraced: BenchStack, services: BenchServices, db: Db, env: NodeJS.ProcessEnv): Promise<void> {
  console.log(`\n[T] Tracing off and on (Bosun, ${TRACING_RUNS} runs per figure, model at 0 ms; on: OTLP/HTTP JSON to a local receiver)`);
  untraced.model.setScript(threeStepScript(0));
  const receiver = await startOtlpReceiver();
  const traced = await startBenchStack(services, {
    script: threeStepScript(0),
    env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
  });
  try {
    for (const [label, lanes] of [['one at a time', 1], [`${CONCURRENCY} concurrent`, CONCURRENCY]] as const) {
      const off = await scenario(untraced, services, db, 'Bosun', lanes, TRACING_RUNS);
      const on = await scenario(traced, services, db, 'Bosun', lanes, TRACING_RUNS);
      const cpu = (r: ScenarioResult) => `${fixed(r.cpuPerRun['Bosun worker']!)}/${fixed(r.cpuPerRun.API!)}`;
      console.log(`  ${label.padEnd(14)} off: ${fixed(off.runsPerSecond).padStart(6)} runs/s, p50 ${ms(off.p50).padStart(9)}, CPU ms/run worker/API ${cpu(off)}` +
        `   on: ${fixed(on.runsPerSecond).padStart(6)} runs/s, p50 ${ms(on.p50).padStart(9)}, CPU ms/run worker/API ${cpu(on)}` +
        `   on ÷ off: ${ratio(on.p50, off.p50)} the p50 run`);
    }
  } finally {
    await traced.close();
    await receiver.close();
  }
  // Warm-up runs included (scenario()): 2 one at a time, up to 20 concurrent.
  const tracedRuns = 2 * TRACING_RUNS + 2 + Math.min(20, CONCURRENCY * 2);
  console.log(`  ${receiver.spans.length} spans received (≈${fixed(receiver.spans.length / tracedRuns, 0)} per run)`);
}

// ---------------------------------------------------------------------------------------------
// Parked runs and idle streams

/** Polls `sql` (a count `n`) until it reaches `target` or `timeoutMs` passes; with `progress`, a line every 30 s on the way. */
async function waitForCount(
  db: Db, sql: string, params: unknown[], target: number, timeoutMs: number, progress?: (n: number, seconds: number) => string,
): Promise<number> {
  const started = Date.now();
  let reported = started;
  for (;;) {
    const { rows } = await db.query(sql, params);
    if (rows[0].n >= target || Date.now() > started + timeoutMs) return rows[0].n;
    if (progress && Date.now() - reported >= 30_000) {
      reported = Date.now();
      console.log(`    ${progress(rows[0].n, (reported - started) / 1000)}; load average ${loadAverage()}`);
    }
    await sleep(250);
  }
}

function withApplicationName(databaseUrl: string, name: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', name);
  return url.toString();
}

/** Transactions committed or rolled back in the bench database so far (PostgreSQL flushes these stats about once a second). */
async function transactions(db: Db, database: string): Promise<number> {
  const { rows } = await db.query('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1', [database]);
  return Number(rows[0].n);
}

interface ParkedResult {
  size: number;
  parked: number;
  parkSeconds: number;
  baselineMb: number;
  rssMb: number;
  /** BENCH_PARK_SETTLE_S after the last run parked, nothing else happening. */
  settledMb: number;
  peakMb: number;
  approveSeconds: number;
  resumedSeconds: number;
  finished: number;
  /** From the first approval until no run was left awaiting approval. */
  resumedAllSeconds: number;
  /** A run's own resume: from its approval's 202 to its row leaving awaiting_approval (ms, p95). */
  resumeLagP95: number;
  idle?: { streams: number; withoutPerSecond: number; withPerSecond: number; fromLogPerSecond?: number; apiPerSecond?: number };
}

/** RSS growth over the baseline per parked run, in kB. */
const kbPerParkedRun = (rssMb: number, baselineMb: number, parked: number) => fixed(((rssMb - baselineMb) * 1024) / Math.max(1, parked), 0);

async function parkedRuns(stack: BenchStack, services: BenchServices, db: Db, size: number, idleStreams: number): Promise<ParkedResult> {
  console.log(`\n[4] ${size} runs parked on approval (a fresh worker; ${PARK_CONCURRENCY} on their way to parking at a time)`);
  await stack.restartWorker();
  const pid = stack.pids.worker();
  // A few runs first, so the baseline is a worker that has loaded its workflow code.
  const warm = await mapLimit(5, 5, (i) => stack.startRun(`Refund order ${orderFor(i)}`));
  await waitForCount(db, `SELECT count(*)::int AS n FROM approvals WHERE run_id = ANY($1::uuid[]) AND status = 'pending'`, [warm], 5, 60_000);
  await approveAll(stack, db, warm as string[]);
  await waitForCount(db, 'SELECT count(*)::int AS n FROM runs WHERE run_id = ANY($1::uuid[]) AND status = ANY($2::text[])', [warm, terminalStatuses], 5, 60_000);
  await sleep(2000);
  const baseline = residentMemory(pid);

  const started = performance.now();
  // Closed loop: PARK_CONCURRENCY runs on their way to parking at once, each lane starting its next
  // run once its last has parked. Started all at once, thousands of runs in flight would thrash the
  // worker's workflow cache (BOSUN_MAX_CACHED_WORKFLOWS, 100) and replay at every step; this bench
  // measures parked runs, not a start storm.
  const parking = watchParking(db);
  let parkedSoFar = 0;
  const progress = setInterval(() => console.log(`    ${parkedSoFar} parked after ${fixed((performance.now() - started) / 1000, 0)} s, ` +
    `worker RSS ${fixed(residentMemory(pid).rssMb)} MB; load average ${loadAverage()}`), 30_000);
  const startResults = await mapLimit(size, PARK_CONCURRENCY, async (i) => {
    const runId = await stack.startRun(`Refund order ${orderFor(i)}`);
    await parking.parked(runId, 300_000);
    parkedSoFar++;
    return runId;
  });
  clearInterval(progress);
  parking.stop();
  const runIds = startResults.filter((r): r is string => typeof r === 'string');
  const startSeconds = (performance.now() - started) / 1000;
  console.log(`  ${runIds.length} started and parked in ${fixed(startSeconds)} s (${fixed(runIds.length / startSeconds)}/s); load average ${loadAverage()}`);
  if (runIds.length < size) console.log(`  ${size - runIds.length} starts failed, e.g. ${(startResults.find((r) => r instanceof Error) as Error).message}`);
  const parked = await waitForCount(db, `SELECT count(*)::int AS n FROM runs WHERE run_id = ANY($1::uuid[]) AND status = 'awaiting_approval'`,
    [runIds], runIds.length, (PARK_TIMEOUT_S ?? 300 + size) * 1000,
    (n, seconds) => `${n} parked after ${fixed(seconds + startSeconds, 0)} s, worker RSS ${fixed(residentMemory(pid).rssMb)} MB`);
  const parkSeconds = (performance.now() - started) / 1000;
  await sleep(3000); // the last workflow tasks settle
  const after = residentMemory(pid);
  console.log(`  ${parked} of ${size} parked in ${fixed(parkSeconds)} s; worker RSS ${fixed(after.rssMb)} MB (baseline ${fixed(baseline.rssMb)} MB, ` +
    `peak ${fixed(after.peakMb)} MB; ≈${kbPerParkedRun(after.rssMb, baseline.rssMb, parked)} kB per parked run)`);
  await sleep(PARK_SETTLE_S * 1000);
  const settled = residentMemory(pid);
  console.log(`  ${PARK_SETTLE_S} s later, the worker quiet: RSS ${fixed(settled.rssMb)} MB ` +
    `(≈${kbPerParkedRun(settled.rssMb, baseline.rssMb, parked)} kB per parked run)`);

  let idle: ParkedResult['idle'];
  // Streams on a machine where runs are still parking would count their work as the streams'.
  if (parked < runIds.length) console.log(`  not all parked within BENCH_PARK_TIMEOUT_S: ${runIds.length - parked} still on their way; [5] skipped`);
  else if (idleStreams > 0) idle = await idleStreamQueries(stack, services, db, runIds.slice(0, idleStreams));

  console.log(`  approving all ${runIds.length} (${APPROVE_CONCURRENCY} requests at a time)`);
  const resumes = watchResumes(db, runIds);
  const approveStarted = performance.now();
  const approvedAt = await approveAll(stack, db, runIds);
  const approveSeconds = (performance.now() - approveStarted) / 1000;
  const resumed = await resumes.all(120_000 + size * 100);
  const resumedAllSeconds = (resumed.lastAt - approveStarted) / 1000;
  const finished = await waitForCount(db, 'SELECT count(*)::int AS n FROM runs WHERE run_id = ANY($1::uuid[]) AND status = ANY($2::text[])',
    [runIds, terminalStatuses], runIds.length, 120_000 + size * 100, (n) => `${n} finished`);
  const resumedSeconds = (performance.now() - approveStarted) / 1000;
  const lags = [...approvedAt].flatMap(([runId, at]) => (resumed.at.has(runId) ? [resumed.at.get(runId)! - at] : []));
  console.log(`  approvals sent in ${fixed(approveSeconds)} s (${fixed(approvedAt.size / approveSeconds)}/s); ` +
    `${resumed.at.size} of ${runIds.length} left awaiting_approval ${fixed(resumedAllSeconds)} s after the first approval ` +
    `(${fixed(resumedAllSeconds - approveSeconds)} s after the last); a run's own resume, from its approval's 202 to its row leaving ` +
    `awaiting_approval (polled every 500 ms): p50 ${ms(percentile(lags, 50))}, p95 ${ms(percentile(lags, 95))}, max ${ms(Math.max(...lags))}`);
  console.log(`  ${finished} of ${runIds.length} finished ${fixed(resumedSeconds)} s after the first approval; load average ${loadAverage()}`);
  return {
    size, parked, parkSeconds, baselineMb: baseline.rssMb, rssMb: after.rssMb, settledMb: settled.rssMb, peakMb: after.peakMb, approveSeconds, resumedSeconds, finished, idle,
    resumedAllSeconds, resumeLagP95: percentile(lags, 95),
  };
}

/**
 * Resolves `parked(runId)` once the run has left queued and running (parked on its approval, or
 * ended), or after `timeoutMs`: one query every 250 ms for every run waited on.
 */
function watchParking(db: Db) {
  const waiting = new Map<string, () => void>();
  const timer = setInterval(() => {
    if (waiting.size === 0) return;
    void db.query(`SELECT run_id FROM runs WHERE run_id = ANY($1::uuid[]) AND status NOT IN ('queued', 'running')`, [[...waiting.keys()]])
      .then(({ rows }) => rows.forEach((row) => waiting.get(row.run_id)?.()))
      .catch(() => undefined);
  }, 250);
  return {
    parked: (runId: string, timeoutMs: number) => new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(giveUp);
        waiting.delete(runId);
        resolve();
      };
      const giveUp = setTimeout(done, timeoutMs);
      waiting.set(runId, done);
    }),
    stop: () => clearInterval(timer),
  };
}

/**
 * Watches `runIds` leave awaiting_approval (resumed: the workflow took its decision up and asked
 * for its slot again), polling every 500 ms. `all` resolves once none is left or after `timeoutMs`,
 * with when each was first seen resumed (performance.now()) and the last of those.
 */
function watchResumes(db: Db, runIds: string[]) {
  const at = new Map<string, number>();
  const poll = async () => {
    const { rows } = await db.query(`SELECT run_id FROM runs WHERE run_id = ANY($1::uuid[]) AND status <> 'awaiting_approval'`, [runIds]);
    const now = performance.now();
    for (const row of rows) if (!at.has(row.run_id)) at.set(row.run_id, now);
  };
  return {
    async all(timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      let reported = Date.now();
      for (;;) {
        await poll();
        if (at.size >= runIds.length || Date.now() > deadline) return { at, lastAt: Math.max(...at.values()) };
        if (Date.now() - reported >= 30_000) {
          reported = Date.now();
          console.log(`    ${at.size} resumed; load average ${loadAverage()}`);
        }
        await sleep(500);
      }
    },
  };
}

/**
 * [5] Database work while nothing happens, without and then with `streamRuns.length` idle SSE
 * streams open: transactions per second from pg_stat_database, and (when the server log is
 * readable, bench/statementLog.ts) every statement by process and by shape. PostgreSQL flushes a
 * backend's transaction counts up to 10 s after it goes idle, so each window starts 11 s after the
 * work before it; the statement log has no such lag.
 */
async function idleStreamQueries(stack: BenchStack, services: BenchServices, db: Db, streamRuns: string[]): Promise<ParkedResult['idle']> {
  console.log(`\n[5] ${streamRuns.length} idle SSE streams on parked runs: database work per second over ${IDLE_WINDOW_S} s, without and with them`);
  const database = services.databaseName;
  // Logged from here on only: existing idle connections are closed so that the pools reconnect with the setting.
  await logStatementsOf(db, database);
  await dropIdleConnections(db, database);
  // Watched from another database, so that watching adds nothing to the bench database's counts.
  const adminUrl = new URL(services.databaseUrl);
  adminUrl.pathname = '/postgres';
  const admin = createPool(adminUrl.toString(), 1);
  const sources = watchSources(admin, database);
  const window = async (label: string) => {
    await sleep(11_000);
    const x0 = await transactions(db, database);
    const offset = logOffset();
    await sleep(IDLE_WINDOW_S * 1000);
    const x1 = await transactions(db, database);
    await sources.refresh();
    const logged = readStatements(database, offset).filter((st) => sources.sourceOf(st.pid) !== 'bench');
    const t = tally(logged, sources.sourceOf);
    console.log(`  ${label}: pg_stat_database ${fixed((x1 - x0 - 1) / IDLE_WINDOW_S)} transactions/s; ` +
      (offset < 0 ? 'statement log unreadable (BENCH_PG_LOG)' : describeTally(t, IDLE_WINDOW_S, 's', 12).join('\n    ')));
    return { perSecond: (x1 - x0 - 1) / IDLE_WINDOW_S, logged: offset < 0 ? undefined : t };
  };
  try {
    const without = await window('no streams');
    const closers = (await mapLimit(streamRuns.length, 50, (i) => stack.holdStream(streamRuns[i]!))).filter((c): c is () => void => typeof c === 'function');
    const withStreams = await window(`${closers.length} streams open`);
    closers.forEach((close) => close());
    const fromLog = without.logged && withStreams.logged
      ? (withStreams.logged.transactions - without.logged.transactions) / IDLE_WINDOW_S : undefined;
    // The streams live in the API: its statements while they are open are what they cost; the worker's periodic work
    // (tool registration, the alert schedule, admission's safety poll) lands in either window by chance.
    const apiPerSecond = withStreams.logged ? (withStreams.logged.bySource.get('api')?.statements ?? 0) / IDLE_WINDOW_S : undefined;
    console.log(`  from the streams: ${fixed(withStreams.perSecond - without.perSecond)} transactions/s by pg_stat_database` +
      (fromLog === undefined ? '' : `, ${fixed(fromLog)}/s by the statement log`) +
      (apiPerSecond === undefined ? '' : `; the API, which serves them: ${fixed(apiPerSecond)} statements/s`));
    return { streams: closers.length, withoutPerSecond: without.perSecond, withPerSecond: withStreams.perSecond, fromLogPerSecond: fromLog, apiPerSecond };
  } finally {
    await sources.stop();
    await admin.end();
    await db.query(`ALTER DATABASE "${database}" RESET log_statement`);
    await dropIdleConnections(db, database);
  }
}

/** Closes the idle connections of `database` but the bench's own: pools reconnect on their next query (with the database's settings now). */
async function dropIdleConnections(db: Db, database: string): Promise<void> {
  await db.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'idle' AND application_name <> 'bench' AND query NOT LIKE 'LISTEN%'`,
    [database],
  );
}

/** Approves every pending approval of `runIds`; when each run's approval was answered 202 (performance.now()). */
async function approveAll(stack: BenchStack, db: Db, runIds: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query(`SELECT run_id, approval_id FROM approvals WHERE run_id = ANY($1::uuid[]) AND status = 'pending'`, [runIds]);
  const approvedAt = new Map<string, number>();
  const failures = (await mapLimit(rows.length, APPROVE_CONCURRENCY, async (i) => {
    await stack.approve(rows[i].run_id, rows[i].approval_id);
    approvedAt.set(rows[i].run_id, performance.now());
  })).filter((r) => r instanceof Error);
  if (failures.length) console.log(`  ${failures.length} approvals failed, e.g. ${(failures[0] as Error).message}`);
  return approvedAt;
}

/** A 30-word answer, a word every 20 ms once the model starts (after 0 ms). */
const streamedScript: ModelScript = {
  rules: [{ when: { role: 'user', matches: 'Stream' }, reply: { content: Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ') }, chunkDelayMs: 20 }],
};

/** [6] One streamed run at a time: ms from POST /v1/runs to the first message.delta, and to run.finished. */
async function timeToFirstToken(stack: BenchStack, runs: number): Promise<{ firstToken: number[]; finished: number[] }> {
  console.log(`\n[6] ${runs} streamed runs, one at a time: time to first token`);
  const firstToken: number[] = [];
  const finished: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const res = await fetch(`${stack.baseUrl}/v1/runs`, { method: 'POST', headers: stack.headers, body: JSON.stringify({ agent: 'support', input: 'Stream', stream: true }) });
    const { runId } = (await res.json()) as { runId: string };
    const events = await fetch(`${stack.baseUrl}/v1/runs/${runId}/events`, { headers: stack.headers });
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of events.body!) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      if (firstToken.length === i && text.includes('event: message.delta')) firstToken.push(performance.now() - started);
      if (text.includes('event: run.finished')) break;
    }
    await events.body?.cancel().catch(() => undefined);
    finished.push(performance.now() - started);
  }
  console.log(`  time to first token p50 ${ms(percentile(firstToken, 50))}, p95 ${ms(percentile(firstToken, 95))} (${firstToken.length} of ${runs} runs streamed); ` +
    `to run.finished p50 ${ms(percentile(finished, 50))}`);
  return { firstToken, finished };
}

// ---------------------------------------------------------------------------------------------

type SideBySide = Record<'one' | 'twenty' | 'wide', Record<System, ScenarioResult>>;

/** [1]–[3], then [T]: Bosun beside the bare workflow. */
async function runSideBySide(stack: BenchStack, services: BenchServices, db: Db, limits: NodeJS.ProcessEnv): Promise<SideBySide> {
  const one = await runScenarios(stack, services, db, `[1] One run at a time (${SEQUENTIAL_RUNS} runs), model at 0 ms`, 1, SEQUENTIAL_RUNS, 'latency');
  const twenty = await runScenarios(stack, services, db, `[2] ${CONCURRENCY} concurrent (${CONCURRENT_RUNS} runs), model at 0 ms`, CONCURRENCY, CONCURRENT_RUNS, 'throughput');
  stack.model.setScript(threeStepScript(WIDE_MODEL_MS));
  const ideal = WIDE_CONCURRENCY / ((3 * WIDE_MODEL_MS) / 1000);
  const wide = await runScenarios(stack, services, db,
    `[3] ${WIDE_CONCURRENCY} concurrent (${WIDE_RUNS} runs), model at ${WIDE_MODEL_MS} ms, per-tenant limit ${TENANT_LIMIT} (ideal ${fixed(ideal, 0)} runs/s)`,
    WIDE_CONCURRENCY, WIDE_RUNS, 'throughput');
  if (TRACING_RUNS > 0) await tracingOverhead(stack, services, db, limits);
  return { one, twenty, wide };
}

function printSummary({ one, twenty, wide }: SideBySide): void {
  const row = (label: string, bosun: string, regular: string, local: string, target: string) =>
    console.log(`  ${label.padEnd(38)} ${bosun.padStart(16)} ${regular.padStart(16)} ${local.padStart(16)}   ${target}`);
  row('', 'Bosun', 'bare regular', 'bare local', 'target');
  row(`runs/s, ${CONCURRENCY} concurrent, 0 ms`, fixed(twenty.Bosun.runsPerSecond), fixed(twenty['bare regular'].runsPerSecond), fixed(twenty['bare local'].runsPerSecond),
    `≥ 16 and ≥ 1.0× bare regular (now ${ratio(twenty.Bosun.runsPerSecond, twenty['bare regular'].runsPerSecond)})`);
  row('p50 run, one at a time', ms(one.Bosun.p50), ms(one['bare regular'].p50), ms(one['bare local'].p50), '≤ 80 ms');
  row(`runs/s, ${WIDE_CONCURRENCY} concurrent, ${WIDE_MODEL_MS} ms`, fixed(wide.Bosun.runsPerSecond), fixed(wide['bare regular'].runsPerSecond), fixed(wide['bare local'].runsPerSecond), '≥ 40');
  row(`p50 run, ${WIDE_CONCURRENCY} concurrent, ${WIDE_MODEL_MS} ms`, ms(wide.Bosun.p50), ms(wide['bare regular'].p50), ms(wide['bare local'].p50), '');
  for (const [name, results] of [['one at a time', one], [`${CONCURRENCY} concurrent`, twenty]] as const) {
    const cpu = (s: System) => {
      const c = results[s].cpuPerRun;
      return `${fixed(c[s === 'Bosun' ? 'Bosun worker' : 'bare worker']!)}/${fixed(c.API!)}/${fixed(c.Temporal!)}/${fixed(c.PostgreSQL!)}`;
    };
    row(`CPU ms/run worker/API/Temporal/PG, ${name}`, cpu('Bosun'), cpu('bare regular'), cpu('bare local'), '');
  }
}

async function main() {
  const benchStarted = performance.now();
  let services: BenchServices | undefined;
  let stack: BenchStack | undefined;
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
    services = await provisionBenchServices(TEMPORAL_STORE);
    // Named, so that its own statements are told apart from the stack's (bench/statementLog.ts).
    db = createPool(withApplicationName(services.databaseUrl, 'bench'), 3);
    console.log('Bosun orchestration bench, side by side with the same agent as a bare Temporal workflow');
    for (const line of await describeMachine(services.temporalCli, db)) console.log(`  ${line}`);
    console.log(`  ${new Date().toISOString()}, load average ${loadAverage()} (other work on the machine skews every figure)`);
    console.log(`  Temporal dev server: ${TEMPORAL_STORE === 'file' ? `SQLite file (as npm start runs it)` : 'in memory'}; PostgreSQL database ${services.databaseName}`);
    console.log(`  settings: BENCH_SEQUENTIAL_RUNS=${SEQUENTIAL_RUNS} BENCH_CONCURRENCY=${CONCURRENCY} BENCH_CONCURRENT_RUNS=${CONCURRENT_RUNS} ` +
      `BENCH_WIDE_CONCURRENCY=${WIDE_CONCURRENCY} BENCH_WIDE_RUNS=${WIDE_RUNS} BENCH_WIDE_MODEL_MS=${WIDE_MODEL_MS} BENCH_TENANT_LIMIT=${TENANT_LIMIT} ` +
      `BENCH_PARKED_SIZES=${PARKED_SIZES.join(',') || 'none'} BENCH_TRACING_RUNS=${TRACING_RUNS} BENCH_IDLE_STREAMS=${IDLE_STREAMS} BENCH_TEMPORAL_STORE=${TEMPORAL_STORE}`);

    const limits = { BOSUN_MAX_RUNNING_PER_TENANT: String(TENANT_LIMIT), BOSUN_MAX_RUNNING_GLOBAL: String(TENANT_LIMIT) };
    stack = await startBenchStack(services, { script: threeStepScript(0), env: limits });
    // BENCH_SCENARIO=parked: [4] and [5] alone.
    const sideBySide = process.env.BENCH_SCENARIO === 'parked' ? undefined : await runSideBySide(stack, services, db, limits);
    stack.model.setScript(supportDemoScript);
    const parked: ParkedResult[] = [];
    for (const [i, size] of PARKED_SIZES.entries()) parked.push(await parkedRuns(stack, services, db, size, i === 0 ? IDLE_STREAMS : 0));

    let streamed: Awaited<ReturnType<typeof timeToFirstToken>> | undefined;
    if (sideBySide) {
      stack.model.setScript(streamedScript);
      streamed = await timeToFirstToken(stack, STREAMED_RUNS);
    }

    console.log('\nSummary (targets are goals; a miss is a finding)');
    if (sideBySide) printSummary(sideBySide);
    for (const p of parked) {
      console.log(`  ${p.size} parked: worker RSS ${fixed(p.settledMb)} MB ${PARK_SETTLE_S} s after the last parked (${fixed(p.rssMb)} MB as it parked, ` +
        `baseline ${fixed(p.baselineMb)} MB, ≈${kbPerParkedRun(p.settledMb, p.baselineMb, p.parked)} kB/run); ` +
        `all resumed ${fixed(p.resumedAllSeconds)} s after the first approval (approvals took ${fixed(p.approveSeconds)} s; a run's own resume p95 ${ms(p.resumeLagP95)}), ` +
        `all ${p.finished === p.parked ? '' : `but ${p.parked - p.finished} `}finished after ${fixed(p.resumedSeconds)} s   target (10,000): ≤ 512 MB, all resumed ≤ 60 s`);
      if (p.idle) {
        console.log(`  ${p.idle.streams} idle SSE streams: ${fixed(p.idle.withPerSecond - p.idle.withoutPerSecond)} database transactions/s from the streams` +
          `${p.idle.fromLogPerSecond === undefined ? '' : ` (statement log: ${fixed(p.idle.fromLogPerSecond)}/s)`}` +
          `${p.idle.apiPerSecond === undefined ? '' : `, the API's statements while they are open ${fixed(p.idle.apiPerSecond)}/s`}; without them ${fixed(p.idle.withoutPerSecond)}/s   target 0`);
      }
    }
    if (streamed) console.log(`  time to first token, streamed run: p50 ${ms(percentile(streamed.firstToken, 50))} (POST to the first message.delta; the answer takes 600 ms to stream)`);
    console.log(`  bench took ${fixed((performance.now() - benchStarted) / 1000, 0)} s; load average now ${loadAverage()}`);
  } finally {
    await cleanup();
    stopListening();
  }
}

// BENCH_SCENARIO=scale-out: bench/scaleOut.ts (npm run bench:scale-out) instead.
(process.env.BENCH_SCENARIO === 'scale-out' ? runScaleOut() : main()).catch((err) => {
  console.error('bench failed:', err);
  process.exit(1);
});
