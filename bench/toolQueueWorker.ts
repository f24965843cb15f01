/**
 * Child of bench/tools.ts: a Bosun worker with BENCH_TOOLS tools of its own besides http_fetch (each on its own task
 * queue), reporting as JSON lines how long it took to poll, its memory, and its CPU while idle.
 */
import { performance } from 'node:perf_hooks';
import { defineTool, z } from '../src/sdk/tools';
import { createWorker } from '../src/worker/createWorker';
import { envInt } from './env';

/** Tools besides http_fetch; 0 is a worker with http_fetch alone. */
const count = Number(process.env.BENCH_TOOLS ?? 0);
const idleMs = envInt('BENCH_IDLE_MS', 10_000);

const tools = Array.from({ length: count }, (_, i) => defineTool({
  name: `bench_tool_${i}`, version: 1, kind: 'read', description: `Bench tool ${i}.`,
  args: z.object({ id: z.string() }).strict(),
  async handler({ id }) {
    return { id };
  },
}));

async function main() {
  const started = performance.now();
  const worker = await createWorker({ tools });
  const running = worker.run();
  const readyMs = performance.now() - started;
  await new Promise((r) => setTimeout(r, 2_000));
  const before = process.cpuUsage();
  await new Promise((r) => setTimeout(r, idleMs));
  const cpu = process.cpuUsage(before);
  console.log(JSON.stringify({
    tools: count, queues: worker.tools.length, readyMs: Math.round(readyMs), rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
    idleCpuMsPerS: Math.round(((cpu.user + cpu.system) / 1000 / idleMs) * 1000 * 10) / 10,
  }));
  worker.shutdown();
  await running;
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
