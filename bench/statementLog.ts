/**
 * What the bench database was asked, statement by statement: PostgreSQL's own log with
 * `log_statement = 'all'` set on the bench database only (ALTER DATABASE, so no server restart and
 * no other database logs more), read back from the server's log file (BENCH_PG_LOG, by default
 * /var/log/postgresql/postgresql-15-main.log). Each statement is attributed to the process that
 * sent it by its backend's application_name (the bench starts each service with PGAPPNAME set).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Db } from '../src/db/pool';

export const defaultPgLog = process.env.BENCH_PG_LOG || '/var/log/postgresql/postgresql-15-main.log';

export interface LoggedStatement {
  pid: number;
  /** The statement with whitespace collapsed and literals/parameters as they were. */
  text: string;
}

export interface StatementTally {
  statements: number;
  /** Transactions, counted as PostgreSQL counts xact_commit: each BEGIN…COMMIT/ROLLBACK once, each statement outside one once. */
  transactions: number;
  /** Statements by source (application name) and by the statement's first words. */
  bySource: Map<string, { statements: number; transactions: number }>;
  byStatement: Map<string, number>;
}

/** Sets log_statement = 'all' for new connections to `database` (superuser; run before the stack connects). */
export async function logStatementsOf(admin: Db, database: string): Promise<void> {
  await admin.query(`ALTER DATABASE "${database}" SET log_statement = 'all'`);
}

/** The log file's size now: the offset to read from later. */
export function logOffset(file = defaultPgLog): number {
  try {
    return statSync(file).size;
  } catch {
    return -1;
  }
}

/** Statements logged for `database` since `offset` (empty when the log is unreadable). */
export function readStatements(database: string, offset: number, file = defaultPgLog): LoggedStatement[] {
  if (offset < 0) return [];
  let text: string;
  try {
    const size = statSync(file).size;
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    const fd = openSync(file, 'r');
    readSync(fd, buffer, 0, buffer.length, offset);
    closeSync(fd);
    text = buffer.toString('utf8');
  } catch {
    return [];
  }
  const header = new RegExp(`^\\S+ \\S+ \\S+ \\[(\\d+)\\] \\S*@${database} LOG:  (?:statement|execute [^:]*): (.*)$`);
  const statements: LoggedStatement[] = [];
  let current: LoggedStatement | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('\t') && current) {
      current.text += ` ${line.trim()}`;
      continue;
    }
    const m = header.exec(line);
    current = m ? { pid: Number(m[1]), text: m[2]! } : undefined;
    if (current) statements.push(current);
  }
  for (const s of statements) s.text = s.text.replace(/\s+/g, ' ').trim();
  return statements;
}

/** Counts statements and transactions, per source (`sourceOf(pid)`) and per statement shape (its first `width` characters). */
export function tally(statements: LoggedStatement[], sourceOf: (pid: number) => string, width = 90): StatementTally {
  const inTransaction = new Set<number>();
  const result: StatementTally = { statements: 0, transactions: 0, bySource: new Map(), byStatement: new Map() };
  for (const { pid, text } of statements) {
    const source = sourceOf(pid);
    const entry = result.bySource.get(source) ?? { statements: 0, transactions: 0 };
    result.bySource.set(source, entry);
    const keyword = text.split(' ')[0]!.toUpperCase().replace(/;$/, '');
    let ends = false;
    if (keyword === 'BEGIN') inTransaction.add(pid);
    else if (keyword === 'COMMIT' || keyword === 'ROLLBACK') ends = inTransaction.delete(pid);
    else ends = !inTransaction.has(pid);
    if (ends) {
      entry.transactions++;
      result.transactions++;
    }
    if (keyword === 'BEGIN' || keyword === 'COMMIT' || keyword === 'ROLLBACK') continue;
    entry.statements++;
    result.statements++;
    const shape = `${source}: ${text.slice(0, width)}`;
    result.byStatement.set(shape, (result.byStatement.get(shape) ?? 0) + 1);
  }
  return result;
}

/**
 * Watches which application name each backend of `database` has (polled every 500 ms, since pools
 * close idle connections): `sourceOf(pid)` afterwards, "other" for a backend never seen.
 */
export function watchSources(db: Db, database: string) {
  const names = new Map<number, string>();
  const poll = async () => {
    const { rows } = await db.query('SELECT pid, application_name FROM pg_stat_activity WHERE datname = $1', [database]);
    for (const row of rows) if (!names.has(row.pid)) names.set(row.pid, row.application_name || 'other');
  };
  void poll().catch(() => undefined);
  const timer = setInterval(() => void poll().catch(() => undefined), 500);
  return {
    sourceOf: (pid: number) => names.get(pid) ?? 'other',
    /** Looks once more now (before reading statements of connections that may have just opened). */
    refresh: () => poll().catch(() => undefined),
    stop: async () => {
      clearInterval(timer);
      await poll().catch(() => undefined);
    },
  };
}

/** The tally's lines for a printout: per source, then the `top` most frequent statement shapes. */
export function describeTally(t: StatementTally, per: number, unit: string, top = 25): string[] {
  const f = (n: number) => (n / per).toFixed(1);
  const lines = [`${f(t.transactions)} transactions, ${f(t.statements)} statements per ${unit}`];
  for (const [source, s] of [...t.bySource].sort((a, b) => b[1].transactions - a[1].transactions)) {
    lines.push(`  ${source}: ${f(s.transactions)} transactions, ${f(s.statements)} statements per ${unit}`);
  }
  for (const [shape, n] of [...t.byStatement].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${f(n).padStart(7)}  ${shape}`);
  return lines;
}
