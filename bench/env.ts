/** A positive whole number from the environment, for the benchmarks' knobs. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return Math.floor(value);
}

/**
 * Runs `cleanup` and exits 130 on Ctrl-C or SIGTERM, so an interrupted bench leaves no servers
 * behind. Returns the function that stops listening.
 */
export function cleanUpOnInterrupt(cleanup: () => Promise<void>): () => void {
  const onSignal = () => {
    console.error('\ninterrupted; cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
