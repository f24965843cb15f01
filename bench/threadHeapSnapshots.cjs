/**
 * Preloaded into the Bosun worker by `npm run bench:parked-memory` (NODE_OPTIONS=--require): on
 * SIGWINCH, writes a heap snapshot of every worker thread the process started (the Temporal SDK
 * runs workflow code in one) to BENCH_HEAP_DIR. --heapsnapshot-signal only covers the main thread.
 */
const { createWriteStream } = require('node:fs');
const path = require('node:path');
const { pipeline } = require('node:stream/promises');
const workerThreads = require('node:worker_threads');

const threads = [];
const Original = workerThreads.Worker;
workerThreads.Worker = class TrackedWorker extends Original {
  constructor(...args) {
    super(...args);
    threads.push(this);
  }
};

process.on('SIGWINCH', async () => {
  for (const [index, thread] of threads.entries()) {
    const file = path.join(process.env.BENCH_HEAP_DIR, `thread-${index}-${Date.now()}.heapsnapshot`);
    await pipeline(await thread.getHeapSnapshot(), createWriteStream(`${file}.partial`));
    require('node:fs').renameSync(`${file}.partial`, file);
  }
});
