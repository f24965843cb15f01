/**
 * `GET /v1/runs/:runId/events`: a run's events as Server-Sent Events, read from `run_events`.
 * Each event is `id: <seq>`, `event: <type>`, `data: <json>`; the stream ends after `run.finished`.
 * Resumable: a client that reconnects with `Last-Event-ID` (or `?after=<seq>`) gets exactly the
 * events after that seq, because seqs are gapless and commit in order.
 */
import type { Server } from 'node:net';
import { Router, type Request, type Response } from 'express';
import type { Db } from '../db/pool';
import { readRunEvents, runFinishedEvent, runFinishedSeq, type RunEvent } from '../db/runEvents';
import { terminalStatuses } from '../shared/domain';
import { principalOf } from './auth';
import { badRequest, notFound } from './errors';
import { findRun } from '../db/runs';
import { uuidParam } from './validation';

export interface EventsRouterDeps {
  db: Db;
  /** How often an open stream looks for new events; 200 ms by default. */
  eventsPollIntervalMs?: number;
  /** How long a stream may stay silent before it sends a comment, so proxies keep it open; 15 s by default. */
  eventsHeartbeatMs?: number;
}

const batchSize = 100;
/** What an EventSource waits before it reconnects, in ms. */
const reconnectDelayMs = 1000;

export function eventsRouter({ db, eventsPollIntervalMs = 200, eventsHeartbeatMs = 15_000 }: EventsRouterDeps): Router {
  const router = Router();

  router.get('/runs/:runId/events', async (req, res) => {
    const { tenantId } = principalOf(req, 'runner');
    const run = await findRun(db, tenantId, uuidParam(req, 'runId', 'Run'));
    if (!run) throw notFound('Run');
    let after = resumePoint(req);

    const finishedSeq = await runFinishedSeq(db, run.runId);
    // The client has everything, the end included: 204 tells an EventSource to stop reconnecting.
    if (finishedSeq !== undefined && after >= finishedSeq) return void res.status(204).end();
    // A run that finished before events were recorded has no run.finished: send what there is, then end.
    const finishedWithoutEvent = finishedSeq === undefined && terminalStatuses.includes(run.status);

    res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    const stream = openStream(req, res);
    try {
      await stream.write(`retry: ${reconnectDelayMs}\n\n`);
      while (stream.open()) {
        const events = await readRunEvents(db, run.runId, after, batchSize);
        for (const event of events) {
          await stream.write(format(event));
          after = event.seq;
          if (event.type === runFinishedEvent) return;
        }
        if (events.length === batchSize) continue;
        if (finishedWithoutEvent) return;
        if (stream.silentFor() >= eventsHeartbeatMs) await stream.write(': heartbeat\n\n');
        await stream.sleep(eventsPollIntervalMs);
      }
    } catch (err) {
      // The headers are gone, so no error status: end the stream and let the client resume from its last id.
      console.error(`api: event stream of run ${run.runId} failed`, err);
    } finally {
      stream.end();
    }
  });

  return router;
}

/** The seq to continue after: the `Last-Event-ID` header, else `?after=`, else 0 (from the start). */
function resumePoint(req: Request): number {
  const header = req.get('last-event-id');
  const raw = header ?? req.query.after;
  if (raw === undefined || raw === '') return 0;
  if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw.trim())) {
    throw badRequest([`${header === undefined ? 'after' : 'Last-Event-ID'}: an event id (a non-negative integer) is expected`]);
  }
  return Number(raw.trim());
}

function format(event: RunEvent): string {
  // JSON.stringify escapes newlines, so the data is always one line.
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify({ ...event.data, at: event.createdAt })}\n\n`;
}

/**
 * The response as a stream: writes that respect backpressure, a sleep that a disconnect cuts short,
 * and closed once the client goes away or the server starts shutting down (a closing server waits for
 * open requests, so streams must end for it to finish; clients resume elsewhere with Last-Event-ID).
 */
function openStream(req: Request, res: Response) {
  let closed = false;
  let wake: () => void = () => undefined;
  let lastWrite = Date.now();
  res.on('close', () => {
    closed = true;
    wake();
  });
  const server = (req.socket as { server?: Server }).server;
  const open = () => !closed && !res.destroyed && !res.writableEnded && server?.listening !== false;

  return {
    open,
    silentFor: () => Date.now() - lastWrite,
    async write(chunk: string): Promise<void> {
      if (!open()) return;
      lastWrite = Date.now();
      if (res.write(chunk)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    },
    sleep(ms: number): Promise<void> {
      return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = () => undefined;
          resolve();
        }
        wake = done;
      });
    },
    end(): void {
      if (!res.writableEnded) res.end();
    },
  };
}
