/**
 * Probes: `/healthz` is liveness (the process answers; nothing else is checked), `/readyz` is
 * readiness: 200 when PostgreSQL and Temporal both answer within READY_CHECK_TIMEOUT_MS, else 503
 * with `Retry-After`, naming the dependency that is away. Temporal counts as up only when the client's
 * namespace answers (DescribeNamespace), so a wrong TEMPORAL_NAMESPACE, or an API key without access
 * to it, keeps the pod out of service instead of failing every request.
 */
import { Router } from 'express';
import type { Client } from '@temporalio/client';
import { ping, type Db } from '../db/pool';
import { RETRY_AFTER_SECONDS } from './errors';
import { withinDeadline } from './temporalDeadline';

const READY_CHECK_TIMEOUT_MS = 2_000;

type DependencyState = 'up' | 'down';

export function healthRouter({ db, temporal }: { db: Db; temporal: Client }): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  router.get('/readyz', async (_req, res) => {
    const [postgres, temporalState] = await Promise.all([
      stateOf(() => ping(db)),
      stateOf(() => withinDeadline(temporal, READY_CHECK_TIMEOUT_MS, () => temporal.workflowService.describeNamespace({ namespace: temporal.options.namespace }))),
    ]);
    const ready = postgres === 'up' && temporalState === 'up';
    if (!ready) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
    res.status(ready ? 200 : 503).json({ ready, dependencies: { postgres, temporal: temporalState } });
  });

  return router;
}

/** 'up' when the check answers within READY_CHECK_TIMEOUT_MS. */
async function stateOf(check: () => Promise<unknown>): Promise<DependencyState> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), READY_CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'up';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}
