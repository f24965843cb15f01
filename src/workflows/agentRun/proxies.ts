/** The run's activities, grouped by the timeouts and retry policy (src/shared/failures.ts) each group needs. */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { runRetryPolicies } from '../../shared/failures';

/** Run rows, events, approvals and admission in PostgreSQL. */
export const bookkeeping = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds', retry: runRetryPolicies.bookkeeping });

export const model = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', heartbeatTimeout: '10 seconds', retry: runRetryPolicies.model });

export const tools = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // Tools heartbeat while they work: a dead worker's call moves on, and a cancelled run's call stops.
  heartbeatTimeout: '10 seconds',
  retry: runRetryPolicies.tools,
});
