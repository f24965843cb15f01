/**
 * Deletes expired long-term memory records: what the memory-purge schedule starts
 * (src/temporal/memoryPurgeSchedule.ts). Expired records are never returned anyway; this frees them.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { purgeExpiredMemories } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

/** Returns how many records were deleted. */
export async function purgeMemories(): Promise<number> {
  return purgeExpiredMemories();
}
