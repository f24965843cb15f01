/**
 * The helpdesk's worker: applies the project's schema, then runs a Bosun worker with its tools,
 * configured from the environment as Bosun's own worker is (DATABASE_URL, TEMPORAL_ADDRESS, ...).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { runWorker } from 'bosun/worker';
import { tools } from './tools';

/** Creates the helpdesk tables and their row-level security; several workers may start at once. */
async function applySchema(databaseUrl: string): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('bosun-example-helpdesk schema'))");
    await client.query(readFileSync(path.join(__dirname, 'schema.sql'), 'utf8'));
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  // Bosun's own default when DATABASE_URL is unset.
  await applySchema(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/bosun');
  await runWorker({ tools });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
