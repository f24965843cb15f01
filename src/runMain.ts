import { logger } from './telemetry/logger';

/**
 * Runs a process entry point; a start-up failure is reported and the process exits non-zero: as a
 * JSON log line (`fatal`) for the services, as plain text with `human` (the dev tools people read).
 */
export function runMain(name: string, main: () => Promise<void>, { human = false }: { human?: boolean } = {}): void {
  main().catch((err: unknown) => {
    const message = `${name}: ${err instanceof Error ? err.message : String(err)}`;
    if (human) console.error(message);
    else logger.fatal(message);
    process.exit(1);
  });
}
