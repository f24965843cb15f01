/**
 * alertEvaluation: what the alert schedule (src/temporal/alertSchedule.ts) starts every
 * BOSUN_ALERT_INTERVAL. One activity evaluates every rule from PostgreSQL and records each
 * transition; then each transition still waiting for its webhook is delivered by an activity of
 * its own, with the delivery retry policy (src/shared/failures.ts). A transition whose retries are
 * spent is recorded as failed; one left pending by an earlier evaluation that stopped is delivered
 * by the next. The workflow carries event IDs only: rules, webhook URLs and figures stay in PostgreSQL.
 */
import { ActivityFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { alertRetryPolicies } from '../shared/failures';

const evaluation = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', retry: alertRetryPolicies.evaluation });
const delivery = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: alertRetryPolicies.delivery });

/** What one evaluation did, for the Temporal UI: rules evaluated, runs judged, transitions made, webhooks delivered and failed. */
export interface AlertEvaluationResult {
  rules: number;
  judged: number;
  transitions: number;
  delivered: number;
  failed: number;
}

export async function alertEvaluation(): Promise<AlertEvaluationResult> {
  const { rules, judged, transitions, pendingEventIds } = await evaluation.evaluateAlertRules();
  const outcomes = await Promise.all(pendingEventIds.map(deliver));
  return {
    rules, judged, transitions,
    delivered: outcomes.filter((o) => o === 'delivered').length,
    failed: outcomes.filter((o) => o === 'failed').length,
  };
}

async function deliver(eventId: string): Promise<'delivered' | 'settled' | 'failed'> {
  try {
    return await delivery.deliverAlertEvent(eventId);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    await evaluation.markAlertDeliveryFailed({ eventId, error: err.cause?.message ?? err.message });
    return 'failed';
  }
}
