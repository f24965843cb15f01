/**
 * The worker's Temporal Runtime (one per process): its log lines (the SDK's, the core's forwarded
 * ones, and the workflow and activity loggers') written by Bosun's JSON logger, and, when the
 * worker serves metrics, the SDK's own Prometheus exporter on a private local port, which the
 * worker's `/metrics` reads and appends to Bosun's (one scrape target per worker).
 */
import type { LogMetadata } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import type { Config } from '../config';
import { temporalLogger, type Logger } from './logger';
import { freeLocalPort } from './metrics';

/**
 * Installs the Runtime; must run before anything connects to Temporal. Resolves with where the
 * SDK's exporter serves its metrics (Prometheus text), or undefined when metrics are off.
 * Throws when a Runtime is installed already (Runtime.install's own rule).
 */
export async function installTemporalRuntime(config: Config, logger: Logger): Promise<{ temporalMetricsUrl: string | undefined }> {
  const port = config.metrics.port === undefined ? undefined : await freeLocalPort();
  Runtime.install({
    logger: temporalLogger(logger, isToolQueueNotice),
    telemetryOptions: {
      // The core's own lines (connection trouble, slot warnings) through the same logger, not raw on stderr.
      logging: { forward: {}, filter: { core: config.logLevel, other: 'WARN' } },
      ...(port !== undefined && {
        metrics: {
          // Prometheus' conventions: counters end in _total, durations in seconds with their unit in the name.
          prometheus: { bindAddress: `127.0.0.1:${port}`, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true },
        },
      }),
    },
  });
  return { temporalMetricsUrl: port === undefined ? undefined : `http://127.0.0.1:${port}/metrics` };
}

/** The SDK's warning that a tool queue's worker registered no workflows: tool queues never have any, by design. */
function isToolQueueNotice(message: string, meta: LogMetadata | undefined): boolean {
  const taskQueue = meta?.taskQueue;
  return message.startsWith('No workflows registered') && typeof taskQueue === 'string' && taskQueue.includes('/tool/');
}
