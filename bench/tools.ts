/**
 * `npm run bench:tools`: prints (does not assert) what bringing your own tools costs, on this machine.
 *
 *   1. Checking a model's tool-call arguments in the workflow with the pinned JSON Schema
 *      (@cfworker/json-schema: interpreted, no code generation) against the zod schema the tool was
 *      written with (the baseline: what the workflow ran before pinning), per call, in microseconds.
 *      A local activity doing the same check would add at least a marker event and a round trip
 *      through the worker per step, milliseconds: that is why the check runs in the workflow.
 *   2. One task queue per tool (how a call reaches only a worker that has the tool): a worker's
 *      start-up time, memory and idle CPU, and the Temporal server's idle CPU, with 1 (http_fetch),
 *      11 and 31 tools. Each worker runs as its own process on a fresh dev server and database.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { checkToolArguments } from '../src/shared/toolArguments';
import { provisionTestServices } from '../test/support/provision';
import { cleanUpOnInterrupt, envInt } from './env';

const CHECKS = envInt('BENCH_CHECKS', 20_000);
const IDLE_MS = envInt('BENCH_IDLE_MS', 10_000);

const small = z.object({ order_id: z.string().regex(/^\d{1,12}$/), amount_cents: z.number().int().positive().max(10_000_000), reason: z.string().max(500).optional() }).strict();
const large = z.object({
  customer: z.object({ id: z.string().uuid(), email: z.string().email(), tags: z.array(z.string().max(40)).max(20) }).strict(),
  lines: z.array(z.object({ sku: z.string().regex(/^[A-Z0-9-]{3,20}$/), quantity: z.number().int().min(1).max(999), price_cents: z.number().int().min(0) }).strict()).max(50),
  notes: z.string().max(2000).optional(),
}).strict();
const smallArgs = { order_id: '1001', amount_cents: 2500, reason: 'damaged' };
const largeArgs = {
  customer: { id: '7a1c4f6e-2b1d-4e8a-9f3b-5c6d7e8f9a0b', email: 'ada@example.com', tags: ['vip', 'eu'] },
  lines: Array.from({ length: 20 }, (_, i) => ({ sku: `SKU-${i}`, quantity: i + 1, price_cents: 100 * i })),
};

function microsPerCall(check: () => boolean): number {
  for (let i = 0; i < 1000; i += 1) check();
  const started = performance.now();
  for (let i = 0; i < CHECKS; i += 1) if (!check()) throw new Error('the bench arguments must be valid');
  return ((performance.now() - started) * 1000) / CHECKS;
}

function validationCosts(): void {
  console.log(`\n1. Argument checks, ${CHECKS} calls each (µs per call; the zod schema is the baseline)`);
  for (const [label, schema, args] of [['3 fields', small, smallArgs], ['nested, 20 lines', large, largeArgs]] as const) {
    const parameters = z.toJSONSchema(schema) as Record<string, unknown>;
    const jsonSchema = microsPerCall(() => checkToolArguments(parameters, args).ok);
    const zod = microsPerCall(() => schema.safeParse(args).success);
    console.log(`   ${label.padEnd(18)} JSON Schema ${jsonSchema.toFixed(1).padStart(7)} µs   zod ${zod.toFixed(1).padStart(7)} µs   ratio ${(jsonSchema / zod).toFixed(1)}×`);
  }
}

/** utime + stime of a process, in milliseconds. */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function temporalServerPid(address: string): number | undefined {
  const port = address.split(':').pop();
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd.includes('start-dev') && cmd.includes(port!)) return Number(entry);
    } catch {
      // The process went away meanwhile.
    }
  }
  return undefined;
}

async function queueCosts(): Promise<void> {
  console.log(`\n2. One task queue per tool: a worker with N tools, idle for ${IDLE_MS / 1000} s after start-up (fresh server each)`);
  for (const extra of [0, 10, 30]) {
    const services = await provisionTestServices();
    const stop = cleanUpOnInterrupt(services.stop);
    try {
      const serverPid = temporalServerPid(services.temporalAddress);
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'toolQueueWorker.ts')], {
        env: {
          ...process.env, DATABASE_URL: services.databaseUrl, TEMPORAL_ADDRESS: services.temporalAddress, TEMPORAL_TASK_QUEUE: 'bench-tools',
          BENCH_TOOLS: String(extra), BENCH_IDLE_MS: String(IDLE_MS), BOSUN_LOG_LEVEL: 'WARN', BOSUN_TOOL_MODULES: '',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      const serverBefore = serverPid ? cpuMsOf(serverPid) : 0;
      const exited = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      const serverCpu = serverPid ? cpuMsOf(serverPid) - serverBefore : NaN;
      const report = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))[0];
      if (exited !== 0 || !report) throw new Error(`the bench worker failed (exit ${exited})`);
      console.log(
        `   ${String(report.queues).padStart(2)} tool queues: ready in ${report.readyMs} ms, RSS ${report.rssMb} MB, ` +
          `worker idle CPU ${report.idleCpuMsPerS} ms/s, Temporal server CPU over the worker's life ${Math.round(serverCpu)} ms`,
      );
    } finally {
      stop();
      await services.stop();
    }
  }
}

async function main() {
  console.log(`bench:tools on ${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  validationCosts();
  await queueCosts();
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
