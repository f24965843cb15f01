/**
 * Provisions what the tests need on a fresh machine: the Temporal CLI (built once into the cache),
 * a dev server in memory, and a fresh PostgreSQL database with Bosun's migrations applied.
 */
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import { ensureDatabase } from '../../src/dev/database';
import { findOrBuildTemporalCli, startTemporalDevServer } from '../../src/dev/temporalServer';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    databaseUrl: string;
  }
}

/** Small enough that a few dozen steps continue-as-new, large enough that the demo run never does. */
export const SUGGEST_CONTINUE_AS_NEW_AFTER_EVENTS = 150;

export default async function setup(project: TestProject) {
  const databaseUrl = process.env.BOSUN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/bosun_test';
  await recreateDatabase(databaseUrl);

  const server = await startTemporalDevServer({
    cliPath: findOrBuildTemporalCli(process.env.TEMPORAL_CLI, (line) => console.log(line)),
    extraArgs: ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${SUGGEST_CONTINUE_AS_NEW_AFTER_EVENTS}`],
  });
  project.provide('temporalAddress', server.address);
  project.provide('databaseUrl', databaseUrl);
  return () => server.stop();
}

async function recreateDatabase(databaseUrl: string) {
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = '/postgres';
  const admin = createPool(url.toString(), 1);
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
  await ensureDatabase(databaseUrl);
  const db = createPool(databaseUrl, 1);
  await migrate(db);
  await db.end();
}
