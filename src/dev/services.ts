import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

export interface Service {
  name: string;
  /** Resolves when the process logs that it is listening or polling (or exits). */
  ready: Promise<void>;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
}

const projectRoot = path.resolve(__dirname, '../..');

/**
 * Runs a TypeScript entry point as its own Node process, its output prefixed with its name.
 * `onLine` sees every line it writes, quiet or not (tests capture a worker's output with it).
 */
export function spawnService(
  name: string, entry: string, env: NodeJS.ProcessEnv, quiet = false, onLine?: (line: string, stream: 'stdout' | 'stderr') => void,
): Service {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => markReady());
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      onLine?.(line, stream === child.stderr ? 'stderr' : 'stdout');
      if (/listening on|polling task queue/.test(line)) markReady();
      if (!quiet || stream === child.stderr) console.log(`[${name}] ${line}`);
    });
  }
  const signalAndWait = async (signal: NodeJS.Signals, graceMs: number) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    name,
    ready,
    exited,
    stop: (graceMs = 15_000) => signalAndWait('SIGTERM', graceMs),
    kill: () => signalAndWait('SIGKILL', 0),
  };
}
