/**
 * What a worker's shadow activities (src/activities/shadows.ts) start runs and decide approvals
 * with: the API's own start path (src/api/runStarter.ts) and approval decider
 * (src/api/approvalDecider.ts), on the worker's connections, so a replay is started and decided
 * exactly as a request to the API would be. Their 4xx answers become refusals; anything else
 * (Temporal or PostgreSQL away: 503) is thrown, for the activity to be retried.
 */
import type { Client } from '@temporalio/client';
import type { ShadowStarts } from '../activities/shadows';
import { approvalDecider } from '../api/approvalDecider';
import { ApiError } from '../api/errors';
import { runStarter } from '../api/runStarter';
import type { Config } from '../config';
import type { Db } from '../db/pool';

export function shadowStartsOf({ db, client, config }: { db: Db; client: Client; config: Config }): ShadowStarts {
  const settings = config.api;
  const startRun = runStarter({ db, temporal: client, taskQueue: config.temporal.taskQueue, approvalTimeoutMs: config.approvalTimeoutMs, settings });
  const decide = approvalDecider({ db, temporal: client, settings });
  return {
    startRun: (principal, request, key) => refusalsOf(() => startRun(principal, request, key)),
    decide: (input) => refusalsOf(async () => {
      await decide(input);
      return { decided: true as const };
    }),
  };
}

async function refusalsOf<T>(call: () => Promise<T>): Promise<T | { refused: string }> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ApiError && err.status < 500) return { refused: err.message };
    throw err;
  }
}
