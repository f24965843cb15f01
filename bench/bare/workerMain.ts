/**
 * The bare baseline's worker process: its own workflow bundle (bench/bare/workflows.ts only) and
 * activities, on BENCH_BARE_TASK_QUEUE. Configured by DATABASE_URL, TEMPORAL_ADDRESS and
 * BENCH_MODEL_URL; prints "polling task queue" once it polls, and drains on SIGTERM.
 */
import { bundleWorkflowCode, NativeConnection, Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import { createPool } from '../../src/db/pool';
import { createBareActivities } from './activities';

const required = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const taskQueue = required('BENCH_BARE_TASK_QUEUE');
  const db = createPool(required('DATABASE_URL'), 10);
  const connection = await NativeConnection.connect({ address: required('TEMPORAL_ADDRESS') });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: new DefaultLogger('WARN') });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowBundle,
    activities: createBareActivities(db, required('BENCH_MODEL_URL')),
  });
  console.log(`bare worker polling task queue "${taskQueue}"`);
  await worker.run();
  await connection.close();
  await db.end();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
