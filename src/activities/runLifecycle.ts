/**
 * What follows a run's start and end once their rows commit: the metrics that count them and the
 * log line that says so. Called through afterCommit (src/db/pool.ts) by the one transaction that
 * started or ended the run, so a Temporal retry never counts a run twice.
 */
import type { EndedRun } from '../db/runs';
import { logger } from '../telemetry/logger';
import { recordRunFinished, recordRunStarted } from '../telemetry/metrics';

/** A run admitted for the first time; `queueWaitSeconds` from its creation, when it went through admission. */
export function runStarted(runId: string, run: { agent: string; tenantId: string; environment?: string }, queueWaitSeconds?: number): void {
  recordRunStarted({ agent: run.agent, tenantId: run.tenantId, environment: run.environment, queueWaitSeconds });
  logger.info({ runId, tenantId: run.tenantId, agent: run.agent, queueWaitSeconds }, 'run started');
}

/** A run ended with `status`. */
export function runFinished(
  runId: string, run: Pick<EndedRun, 'agent' | 'tenantId' | 'bundleId' | 'durationSeconds'> & Partial<Pick<EndedRun, 'environment'>>, status: string,
): void {
  recordRunFinished({ agent: run.agent, tenantId: run.tenantId, environment: run.environment, status, durationSeconds: run.durationSeconds });
  logger.info({ runId, tenantId: run.tenantId, bundleId: run.bundleId, status, durationSeconds: run.durationSeconds }, 'run finished');
}
