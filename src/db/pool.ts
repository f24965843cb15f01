import pg from 'pg';

// NUMERIC and BIGINT come back as strings by default; Bosun's figures fit comfortably in a double.
pg.types.setTypeParser(pg.types.builtins.NUMERIC, Number);
pg.types.setTypeParser(pg.types.builtins.INT8, Number);

export type Db = pg.Pool;
export type DbClient = pg.PoolClient;
/** The pool or a client inside a transaction: what a store function that runs one statement takes. */
export type Queryable = Db | DbClient;

/**
 * A pool of at most `max` connections. With `connectionTimeoutMs`, waiting for a connection (a new
 * one, or a free one when all are busy) fails after that many ms instead of waiting for ever.
 */
export function createPool(databaseUrl: string, max = 10, { connectionTimeoutMs }: { connectionTimeoutMs?: number } = {}): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: connectionTimeoutMs });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  // Nor may a checked-out one (a transaction when PostgreSQL restarts): its query fails with the
  // error, and the pool drops the broken client on release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Resolves when PostgreSQL answers a trivial query through the pool. */
export async function ping(db: Db): Promise<void> {
  await db.query('SELECT 1');
}

/** What runs once the transaction of a client commits (see afterCommit). */
const commitHooks = new WeakMap<DbClient, (() => void)[]>();

/**
 * Runs `hook` once the transaction `client` is in (inTransaction's) has committed, and never if it
 * rolls back: for what must follow a write exactly once (counting it in a metric, logging it).
 * Outside inTransaction it runs at once. A hook that throws is ignored: the write stands.
 */
export function afterCommit(client: Queryable, hook: () => void): void {
  const hooks = commitHooks.get(client as DbClient);
  if (hooks) hooks.push(hook);
  else runHooks([hook]);
}

function runHooks(hooks: (() => void)[]): void {
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      // Bookkeeping after the fact: it must not turn a committed write into a failure.
    }
  }
}

/** Runs `work` in one transaction, rolling back on any error. */
export async function inTransaction<T>(db: Db, work: (client: DbClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  const hooks: (() => void)[] = [];
  commitHooks.set(client, hooks);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    commitHooks.delete(client);
    runHooks(hooks);
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    commitHooks.delete(client);
    client.release();
  }
}

/** Where a keyset page ends: its last row's timestamp (PostgreSQL's own text, keeping the microseconds) and UUID. */
export interface PageKey {
  at: string;
  id: string;
}

/**
 * A page of at most `limit` rows from `rows` (read with LIMIT limit + 1, each with its timestamp as
 * `cursorTime`), and the key of its last row when more rows follow (else null).
 */
export function pageOf<Row extends { cursorTime: string }>(
  rows: Row[], limit: number, idOf: (row: Row) => string,
): { items: Omit<Row, 'cursorTime'>[]; next: PageKey | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(({ cursorTime: _, ...row }) => row),
    next: rows.length > limit && last ? { at: last.cursorTime, id: idOf(last) } : null,
  };
}
