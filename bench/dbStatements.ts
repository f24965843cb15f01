/**
 * `npm run bench:db`: what a 3-step run (model → lookup_order → model → lookup_order → model →
 * answer, through the API and its event stream) asks of PostgreSQL, statement by statement and
 * per process, beside what the same stack asks while idle for as long (the workers' upkeep).
 *
 * Needs a PostgreSQL whose log this process can read (bench/statementLog.ts; BENCH_PG_LOG): the
 * bench database alone logs every statement. Also prints the database's xact_commit + xact_rollback
 * over each window as a cross-check. Knobs: BENCH_DB_RUNS (10), BENCH_TEMPORAL_STORE (memory).
 */
import { performance } from 'node:perf_hooks';
import { createPool } from '../src/db/pool';
import type { ModelScript } from '../src/dev/scriptedModel';
import { provisionBenchServices, startBenchStack, type BenchServices, type BenchStack } from './benchStack';
import { cleanUpOnInterrupt, envInt } from './env';
import { loadAverage } from './procStats';
import { describeTally, logOffset, logStatementsOf, readStatements, tally, watchSources } from './statementLog';
import { fixed, sleep } from './stats';

const RUNS = envInt('BENCH_DB_RUNS', 10);

const threeStepScript: ModelScript = {
  latencyMs: 0,
  rules: [
    { when: { role: 'user', matches: 'Check order (\\d+)' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
    { when: { role: 'tool', tool: 'lookup_order', minMessages: 6, matches: '"order_id":"(\\d+)"' }, reply: { content: 'Order $1 is on its way.' } },
    { when: { role: 'tool', tool: 'lookup_order', matches: '"order_id":"(\\d+)"' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] } },
  ],
};

async function xacts(db: ReturnType<typeof createPool>, database: string): Promise<number> {
  const { rows } = await db.query('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1', [database]);
  return Number(rows[0].n);
}

async function main() {
  let services: BenchServices | undefined;
  let stack: BenchStack | undefined;
  const admin = createPool('postgres://postgres@127.0.0.1:5432/postgres', 2);
  const cleanup = async () => {
    await stack?.close().catch(() => undefined);
    await services?.stop().catch(() => undefined);
    await admin.end().catch(() => undefined);
  };
  const stopListening = cleanUpOnInterrupt(cleanup);
  try {
    services = await provisionBenchServices(process.env.BENCH_TEMPORAL_STORE === 'file' ? 'file' : 'memory');
    const database = services.databaseName;
    await logStatementsOf(admin, database);
    stack = await startBenchStack(services, { script: threeStepScript });
    const sources = watchSources(admin, database);
    console.log(`Statements per 3-step run (${RUNS} runs one at a time through the API and SSE); ${new Date().toISOString()}, load ${loadAverage()}`);
    for (let i = 0; i < 3; i++) await stack.followUntilFinished(await stack.startRun(`Check order 100${(i % 4) + 1}`));
    await sleep(1500);

    const measure = async (work: () => Promise<unknown>) => {
      const x0 = await xacts(admin, database);
      const offset = logOffset();
      const t0 = performance.now();
      await work();
      const seconds = (performance.now() - t0) / 1000;
      await sleep(1500); // the statistics and the log catch up
      await sources.refresh();
      const statements = readStatements(database, offset);
      return { seconds, xacts: (await xacts(admin, database)) - x0 - 2, statements };
    };
    const runs = await measure(async () => {
      for (let i = 0; i < RUNS; i++) await stack!.followUntilFinished(await stack!.startRun(`Check order 100${(i % 4) + 1}`));
    });
    const idle = await measure(() => sleep(runs.seconds * 1000));
    await sources.stop();
    if (runs.statements.length === 0) console.log(`  (no statements read from the log: is ${process.env.BENCH_PG_LOG || 'the server log'} readable?)`);
    const mine = (s: { text: string; pid: number }[]) => s.filter((x) => sources.sourceOf(x.pid) !== 'bench');
    console.log(`\nDuring the runs (${fixed(runs.seconds)} s): pg_stat_database ${fixed(runs.xacts / RUNS)} transactions per run`);
    for (const line of describeTally(tally(mine(runs.statements), sources.sourceOf), RUNS, 'run', 40)) console.log(`  ${line}`);
    console.log(`\nIdle for as long (${fixed(idle.seconds)} s): pg_stat_database ${fixed(idle.xacts / RUNS)} transactions per run's worth`);
    for (const line of describeTally(tally(mine(idle.statements), sources.sourceOf), RUNS, "run's worth", 10)) console.log(`  ${line}`);
    console.log(`\nload now ${loadAverage()}`);
  } finally {
    await cleanup();
    stopListening();
  }
}

main().catch((err) => {
  console.error('bench failed:', err);
  process.exit(1);
});
