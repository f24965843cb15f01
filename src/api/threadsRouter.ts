/**
 * Threads (docs/conversations.md): conversations whose messages are runs that see the turns before
 * them. Every route takes the runner role; another tenant's thread answers 404.
 */
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { createThreadRequestSchema, listThreadsQuerySchema, threadRunRequestSchema, type ThreadView } from '../contract';
import { inTransaction, type Db } from '../db/pool';
import { createThread, deleteThread, findThread, listThreads, lockThread, messagesOfThread, openTurns, turnsOfThread } from '../db/threads';
import { terminalStatuses } from '../shared/domain';
import { principalOf } from './auth';
import { notFound, threadBusy } from './errors';
import { deploymentFor, type StartRun } from './runStarter';
import { decodeCursor, encodeCursor, parse, parseQuery, uuidParam } from './validation';

/** `startRun` (./runStarter.ts) starts a thread's runs, as it starts every run. */
export function threadsRouter({ db, startRun }: { db: Db; startRun: StartRun }): Router {
  const router = Router();

  router.post('/threads', async (req, res) => {
    const { tenantId, keyId } = principalOf(req, 'runner');
    const { agent, metadata = {} } = parse(createThreadRequestSchema, req.body);
    if (agent !== undefined) await deploymentFor(db, tenantId, agent);
    res.status(201).json(await createThread(db, { threadId: randomUUID(), tenantId, agent, metadata, createdBy: keyId }));
  });

  router.get('/threads', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const { cursor, limit } = parseQuery(listThreadsQuerySchema, req.query);
    const { threads, next } = await listThreads(db, tenantId, { limit, after: decodeCursor(cursor) });
    res.json({ threads, nextCursor: encodeCursor(next) });
  });

  router.get('/threads/:threadId', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const thread = await findThread(db, tenantId, uuidParam(req, 'threadId', 'Thread'));
    if (!thread) throw notFound('Thread');
    const [messages, runs] = await Promise.all([messagesOfThread(db, thread.threadId), turnsOfThread(db, thread.threadId)]);
    const busy = runs.some((r) => !r.rolledBack && !terminalStatuses.includes(r.status as never));
    const view: ThreadView = { ...thread, state: busy ? 'busy' : 'idle', messages: messages as ThreadView['messages'], runs: runs as ThreadView['runs'] };
    res.json(view);
  });

  /** Deletes an idle thread (its runs stay, as runs); 409 while one of its runs is active. */
  router.delete('/threads/:threadId', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const threadId = uuidParam(req, 'threadId', 'Thread');
    await inTransaction(db, async (client) => {
      if (!(await lockThread(client, tenantId, threadId))) throw notFound('Thread');
      const open = await openTurns(client, threadId);
      if (open.length > 0) throw threadBusy(`Thread ${threadId} has an active run (${open.map((t) => t.runId).join(', ')}); cancel it or wait for it to finish.`);
      await deleteThread(client, threadId);
    });
    res.status(204).end();
  });

  /** The thread's next message: a run that sees the conversation so far; double-texting as the request (or the bundle) says. */
  router.post('/threads/:threadId/runs', async (req, res) => {
    const principal = principalOf(req, 'runner');
    const threadId = uuidParam(req, 'threadId', 'Thread');
    const body = parse(threadRunRequestSchema, req.body);
    res.status(202).json(await startRun(principal, { ...body, threadId }));
  });

  return router;
}
