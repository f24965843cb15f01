import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inTransaction, type Db } from './pool';

const migrationsDir = path.join(__dirname, 'migrations');
// Any constant will do; it only has to be the same in every process that migrates.
const MIGRATION_LOCK = 4_242_001;

/**
 * Applies the versioned SQL files in src/db/migrations that have not run yet, in name order, in one
 * transaction. Safe to call from every process at start-up: an advisory lock serialises them.
 */
export async function migrate(db: Db): Promise<string[]> {
  return inTransaction(db, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set((await client.query('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const pending = readdirSync(migrationsDir).filter((f) => f.endsWith('.sql') && !done.has(f)).sort();
    for (const file of pending) {
      await client.query(readFileSync(path.join(migrationsDir, file), 'utf8'));
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [file]);
    }
    return pending;
  });
}
