import { purgeExpiredMemories } from '../db/memory';
import type { Db } from '../db/pool';

/** Records deleted per statement, so one purge never holds a huge transaction. */
const PURGE_BATCH = 1000;

export function createMemoryActivities({ db }: { db: Db }) {
  return {
    /** Deletes every expired memory record, a batch at a time; returns how many. */
    async purgeExpiredMemories(): Promise<number> {
      let total = 0;
      for (;;) {
        const deleted = await purgeExpiredMemories(db, PURGE_BATCH);
        total += deleted;
        if (deleted < PURGE_BATCH) return total;
      }
    },
  };
}
