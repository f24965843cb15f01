/** Finds (or builds) the Temporal CLI and runs its dev server, for `npm start` and the tests. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bosunSearchAttributes } from '../shared/searchAttributes';

/** The newest CLI tag without a `replace` directive, which `go install` would refuse. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
export const cliCacheDir = path.join(os.homedir(), '.cache', 'bosun', 'bin');

/**
 * `TEMPORAL_CLI`, then `temporal` on PATH, then the cache; failing those, builds it into the cache
 * with Go. Undefined when there is no Go either: the caller falls back to the SDK's download.
 */
export function findOrBuildTemporalCli(explicitPath: string | undefined, log: (line: string) => void): string | undefined {
  if (explicitPath) {
    if (!existsSync(explicitPath)) throw new Error(`TEMPORAL_CLI points at ${explicitPath}, which does not exist`);
    return explicitPath;
  }
  const onPath = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const cached = path.join(cliCacheDir, 'temporal');
  if (existsSync(cached)) return cached;
  if (spawnSync('go', ['version']).status !== 0) return undefined;

  log(`building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${cliCacheDir}; this takes a few minutes once`);
  mkdirSync(cliCacheDir, { recursive: true });
  execFileSync('go', ['install', TEMPORAL_CLI_MODULE], {
    env: { ...process.env, GOBIN: cliCacheDir },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return cached;
}

/**
 * Server settings for low step latency. The history service polls its transfer queue at most
 * 20 times a second by default, which puts ~50 ms between an activity finishing and the next
 * workflow task (and again before the next activity): ~100 ms a step. Measured on the 2-core
 * machine with 30 chained no-op activities: 100 ms a step by default, 14 ms with the poll rate
 * raised, 12 ms with eager activity dispatch on as well. Use the same values on a production server.
 */
export const lowLatencyDynamicConfig = [
  'history.transferProcessorMaxPollRPS=1000',
  'system.enableActivityEagerExecution=true',
];

export interface DevServerOptions {
  cliPath: string | undefined;
  /** SQLite file for a server that keeps its data across restarts; in memory when absent. */
  dbFilename?: string;
  port?: number;
  /** Web UI port; no UI when absent. */
  uiPort?: number;
  /** Extra `temporal server start-dev` arguments, e.g. dynamic config values. */
  extraArgs?: string[];
}

export interface DevServer {
  address: string;
  stop(): Promise<void>;
}

/** A port the dev server is to listen on, and the setting that moves it. */
export interface WantedPort {
  what: string;
  port: number;
  setting: string;
}

/**
 * Resolves when every port can be bound on 127.0.0.1; rejects naming each one that cannot (and
 * its setting). Checked before the dev server starts: on a taken port it only logs an error, and
 * the stack would go on to use whatever server already listens there (another stack's).
 */
export async function requireFreePorts(ports: WantedPort[]): Promise<void> {
  const taken = [];
  for (const wanted of ports) if (!(await canBind(wanted.port))) taken.push(wanted);
  if (taken.length === 0) return;
  const lines = taken.map((t) => `${t.what} port ${t.port} on 127.0.0.1 is in use (another Temporal or Bosun stack?); stop it or set ${t.setting}`);
  throw new Error(lines.join('\n'));
}

/** True when a server can listen on 127.0.0.1:port (it is closed again at once). */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Starts `temporal server start-dev` with Bosun's search attributes registered, and waits until it answers. */
export async function startTemporalDevServer(options: DevServerOptions): Promise<DevServer> {
  if (options.dbFilename) mkdirSync(path.dirname(options.dbFilename), { recursive: true });
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: options.cliPath ? { type: 'existing-path', path: options.cliPath } : { type: 'cached-download' },
      ip: '127.0.0.1',
      port: options.port,
      ui: options.uiPort !== undefined,
      uiPort: options.uiPort,
      dbFilename: options.dbFilename,
      searchAttributes: bosunSearchAttributes,
      log: { format: 'pretty', level: 'warn' },
      extraArgs: [...lowLatencyDynamicConfig.flatMap((value) => ['--dynamic-config-value', value]), ...(options.extraArgs ?? [])],
    },
  });
  return { address: env.address, stop: () => env.teardown() };
}
