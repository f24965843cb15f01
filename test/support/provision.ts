/**
 * Provisions what the tests need on a fresh machine: the Temporal CLI (built once into the cache),
 * a dev server in memory, and a fresh PostgreSQL database with Bosun's migrations applied.
 */
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import { ensureDatabase } from '../../src/dev/database';
import { findOrBuildTemporalCli, startTemporalDevServer } from '../../src/dev/temporalServer';

/** Small enough that a few dozen steps continue-as-new, large enough that the demo run never does. */
export const SUGGEST_CONTINUE_AS_NEW_AFTER_EVENTS = 150;

export interface TestServices {
  temporalAddress: string;
  databaseUrl: string;
  stop(): Promise<void>;
}

export async function provisionTestServices(): Promise<TestServices> {
  // A database of its own per test session, so concurrent sessions on one machine never collide.
  const server = new URL(process.env.BOSUN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/bosun_test');
  server.pathname = `/${server.pathname.slice(1)}_${process.pid}`;
  const databaseUrl = server.toString();
  await freshDatabase(databaseUrl);

  const temporal = await startTemporalDevServer({
    cliPath: findOrBuildTemporalCli(process.env.TEMPORAL_CLI, (line) => console.log(line)),
    extraArgs: ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${SUGGEST_CONTINUE_AS_NEW_AFTER_EVENTS}`],
  });
  return {
    temporalAddress: temporal.address,
    databaseUrl,
    stop: async () => {
      await temporal.stop();
      await dropDatabase(databaseUrl);
    },
  };
}

/** Drops the database if it exists, creates it anew and applies Bosun's migrations: an empty, current database. */
export async function freshDatabase(databaseUrl: string): Promise<void> {
  await dropDatabase(databaseUrl);
  await ensureDatabase(databaseUrl);
  const db = createPool(databaseUrl, 1);
  await migrate(db);
  await db.end();
}

export async function dropDatabase(databaseUrl: string) {
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = '/postgres';
  const admin = createPool(url.toString(), 1);
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
}
