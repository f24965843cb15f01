/**
 * What the bench reads from /proc: a process's CPU time and resident memory, the processes of one
 * bench stack (found by their environment or command line), and the machine it runs on.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import type { Db } from '../src/db/pool';

/** Clock ticks per second for /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = Number(safeExec('getconf', ['CLK_TCK']) || 100);

function safeExec(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/** utime + stime of a process, in ms; undefined once it is gone. */
export function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM (peak) of a process, in MB. */
export function residentMemory(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** PIDs (not this process) whose command line contains every one of `parts` and, if given, whose environment holds `envEntry`. */
export function findPids(parts: string[], envEntry?: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (!parts.every((p) => cmdline.includes(p))) continue;
      if (envEntry && !readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(envEntry)) continue;
      found.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

/** The one PID matching `findPids(parts, envEntry)`; throws when there is not exactly one. */
export function findPid(what: string, parts: string[], envEntry?: string): number {
  const pids = findPids(parts, envEntry);
  if (pids.length !== 1) throw new Error(`expected one ${what} process, found ${pids.length} (${parts.join(' ')})`);
  return pids[0]!;
}

/** A group of processes whose CPU time is summed: a fixed PID, or a set that changes (PostgreSQL backends). */
export interface CpuSource {
  name: string;
  pids(): Promise<number[]>;
}

export const fixedPid = (name: string, pid: number): CpuSource => ({ name, pids: async () => [pid] });

/** The backends connected to `database` (pg_stat_activity), which come and go with the pools. */
export function postgresBackends(db: Db, database: string): CpuSource {
  return {
    name: 'PostgreSQL',
    pids: async () => {
      const { rows } = await db.query('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database]);
      return rows.map((r) => Number(r.pid));
    },
  };
}

/**
 * CPU time each source spends between start() and stop(), in ms. Samples every `sampleMs` so a
 * backend that connects and exits in between is counted up to its last sample (a process that
 * lived less than one sample is missed: the pools keep their connections, so few do).
 */
export function cpuMeter(sources: CpuSource[], sampleMs = 500) {
  /** Per source, per PID: [first reading, last reading]; a PID first seen mid-window counts from 0. */
  const seen = sources.map(() => new Map<number, [number, number]>());
  let timer: NodeJS.Timeout | undefined;
  let sampling: Promise<void> = Promise.resolve();
  const sample = async (initial: boolean) => {
    await Promise.all(sources.map(async (source, i) => {
      for (const pid of await source.pids().catch(() => [])) {
        const now = cpuMsOf(pid);
        if (now === undefined) continue;
        const known = seen[i]!.get(pid);
        if (known) known[1] = now;
        else seen[i]!.set(pid, [initial ? now : 0, now]);
      }
    }));
  };
  return {
    async start() {
      await sample(true);
      timer = setInterval(() => (sampling = sampling.then(() => sample(false))), sampleMs);
    },
    /** CPU ms per source name since start(). */
    async stop(): Promise<Record<string, number>> {
      clearInterval(timer);
      await sampling;
      await sample(false);
      const result: Record<string, number> = {};
      sources.forEach((s, i) => (result[s.name] = [...seen[i]!.values()].reduce((sum, [first, last]) => sum + (last - first), 0)));
      return result;
    },
  };
}

/** The machine, for the results: CPU model and cores, RAM, kernel, Node, Temporal CLI, PostgreSQL. */
export async function describeMachine(temporalCli: string | undefined, db: Db): Promise<string[]> {
  const cpus = os.cpus();
  const { rows } = await db.query('SHOW server_version');
  const temporal = temporalCli ? safeExec(temporalCli, ['--version']).replace('0.0.0-DEV', '0.0.0-DEV (built from the v1.5.1 module)') : 'downloaded by the SDK';
  return [
    `${cpus.length} cores × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()} ${os.arch()}`,
    `Node ${process.version}, ${temporal || 'temporal CLI (version unknown)'}, PostgreSQL ${rows[0].server_version}`,
  ];
}

export const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
