import { Router } from 'express';
import type { Db } from '../db/pool';
import { listRegisteredTools } from '../db/toolRegistry';
import type { ToolList } from '../contract';
import { principalOf } from './auth';

/** `GET /v1/tools`: what the workers have registered, for anyone who may run agents. */
export function toolsRouter({ db }: { db: Db }): Router {
  const router = Router();
  router.get('/tools', async (req, res) => {
    principalOf(req, 'runner');
    const tools = await listRegisteredTools(db);
    const body: ToolList = {
      // One row per build: the task queues behind it are the worker's business.
      tools: tools.map(({ builds, ...tool }) => ({ ...tool, builds: uniqueBuilds(builds) })),
    };
    res.json(body);
  });
  return router;
}

function uniqueBuilds(builds: { buildId: string; live: boolean; lastSeenAt: string }[]) {
  const byBuild = new Map<string, { buildId: string; live: boolean; lastSeenAt: string }>();
  for (const { buildId, live, lastSeenAt } of builds) {
    const seen = byBuild.get(buildId);
    if (!seen || lastSeenAt > seen.lastSeenAt) byBuild.set(buildId, { buildId, live: live || (seen?.live ?? false), lastSeenAt });
    else if (live) seen.live = true;
  }
  return [...byBuild.values()];
}
