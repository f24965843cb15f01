/**
 * For workflow tests (test/workflows): Bosun's workflows on a worker of their own, against the
 * real Temporal dev server of vitest's global setup, with activities the test fakes.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, inject } from 'vitest';

export interface WorkflowWorker {
  client: Client;
  /** The task queue the worker polls: start workflows on it. */
  taskQueue: string;
}

/**
 * Starts, in `beforeAll`, a worker for src/workflows on a fresh task queue with `activities` (each
 * takes the activity's input and returns its result), and shuts it down in `afterAll`. Returns the
 * client and task queue, readable from the tests on.
 */
export function useWorkflowWorker(activities: Record<string, (input: any) => unknown>): WorkflowWorker {
  const taskQueue = `workflow-test-${randomBytes(4).toString('hex')}`;
  let nativeConnection: NativeConnection | undefined;
  let connection: Connection | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  const handle = { taskQueue } as WorkflowWorker;
  beforeAll(async () => {
    const address = inject('temporalAddress');
    [nativeConnection, connection] = await Promise.all([NativeConnection.connect({ address }), Connection.connect({ address })]);
    handle.client = new Client({ connection });
    worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowsPath: path.resolve(__dirname, '../../src/workflows/index.ts'),
      activities,
    });
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running;
    await connection?.close();
    await nativeConnection?.close();
  });
  return handle;
}
