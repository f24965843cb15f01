import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

export interface Service {
  name: string;
  pid: number | undefined;
  /** Resolves when the process logs that it is listening or polling (or exits). */
  ready: Promise<void>;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
}

const projectRoot = path.resolve(__dirname, '../..');

/**
 * Node's arguments for an entry point (relative to the project root): TypeScript through tsx;
 * compiled JavaScript (dist/..., `npm run build`) with the `bosun-compiled` export condition, so
 * tool modules importing `bosun/tools` get the compiled copy (package.json "exports").
 */
export function nodeArgsFor(entry: string): string[] {
  const file = path.join(projectRoot, entry);
  return entry.endsWith('.js') ? ['--conditions=bosun-compiled', file] : ['--import', 'tsx', file];
}

/**
 * Runs an entry point (TypeScript, or compiled: see nodeArgsFor) as its own Node process, its
 * output prefixed with its name. `onLine` sees every line it writes, quiet or not (tests capture a
 * worker's output with it); `format` turns a line into what is printed (`npm start` makes the JSON
 * log lines readable with it).
 */
export function spawnService(
  name: string, entry: string, env: NodeJS.ProcessEnv, quiet = false, onLine?: (line: string, stream: 'stdout' | 'stderr') => void,
  format: (line: string) => string = (line) => line,
): Service {
  const child = spawn(process.execPath, nodeArgsFor(entry), {
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
      // Dev tooling: the prefixed lines are for the person watching (the services' own logs are JSON).
      if (!quiet || stream === child.stderr) console.log(`[${name}] ${format(line)}`);
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
    pid: child.pid,
    ready,
    exited,
    stop: (graceMs = 15_000) => signalAndWait('SIGTERM', graceMs),
    kill: () => signalAndWait('SIGKILL', 0),
  };
}
