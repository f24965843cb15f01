/**
 * `GET /v1/runs/:runId/events`: a run's events as Server-Sent Events, read from `run_events`.
 * Each event is `id: <seq>`, `event: <type>`, `data: <json>`; the stream ends after `run.finished`.
 * Resumable: a client that reconnects with `Last-Event-ID` (or `?after=<seq>`) gets exactly the
 * events after that seq, because seqs are gapless and commit in order. A stream reads when it opens
 * and then only when the run event listener (src/db/runEventListener.ts) wakes it: an idle stream
 * makes no query, and sends a heartbeat comment now and then. A streamed run's token deltas
 * (`message.delta`, `message.reset`; src/db/runDeltas.ts) come through the same listener and are
 * sent as they arrive, without ids: they are not stored.
 */
import type { Server } from 'node:net';
import { Router, type Request, type Response } from 'express';
import type { Db } from '../db/pool';
import { createRunEventListener, type RunEventListener } from '../db/runEventListener';
import { readRunEvents, runFinishedEvent, runFinishedSeq, type RunEvent } from '../db/runEvents';
import type { RunDelta } from '../db/runDeltas';
import { terminalStatuses } from '../shared/domain';
import { principalOf } from './auth';
import { badRequest, notFound } from './errors';
import { findRun } from '../db/runs';
import { uuidParam } from './validation';
import { logger } from '../telemetry/logger';

export interface EventsRouterDeps {
  db: Db;
  /** What wakes the streams; by default one listening connection made with the pool's settings. */
  runEventListener?: RunEventListener;
  /** How long a stream may stay silent before it sends a comment, so proxies keep it open; 15 s by default. */
  eventsHeartbeatMs?: number;
}

const batchSize = 100;
/** What an EventSource waits before it reconnects, in ms. */
const reconnectDelayMs = 1000;

export function eventsRouter({ db, runEventListener = createRunEventListener(db.options), eventsHeartbeatMs = 15_000 }: EventsRouterDeps): Router {
  const router = Router();
  const streams = openStreams();

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
    const stream = streams.open(req, res);
    // Token deltas (no rows, no ids) are written as they come, between the events read from rows.
    const deltas: string[] = [];
    const onDelta = (delta: RunDelta) => {
      deltas.push(formatDelta(delta));
      stream.wake();
    };
    // Before the first read, so an event committed after that read still wakes the stream.
    const unsubscribe = runEventListener.subscribe(run.runId, stream.wake, onDelta);
    try {
      await stream.write(`retry: ${reconnectDelayMs}\n\n`);
      while (stream.open()) {
        // A step's deltas were notified before its reply's transaction committed: they go out before its step.finished.
        while (deltas.length > 0) await stream.write(deltas.shift()!);
        const events = await readRunEvents(db, run.runId, after, batchSize);
        for (const event of events) {
          await stream.write(format(event));
          after = event.seq;
          if (event.type === runFinishedEvent) return;
        }
        if (events.length === batchSize) continue;
        if (finishedWithoutEvent) return;
        // Idle until the run has news: no query while nothing happens, only a comment now and then.
        while (stream.open() && !(await stream.waitForWake(eventsHeartbeatMs - stream.silentFor()))) {
          if (stream.silentFor() >= eventsHeartbeatMs) await stream.write(': heartbeat\n\n');
        }
      }
    } catch (err) {
      // The headers are gone, so no error status: end the stream and let the client resume from its last id.
      (req.log ?? logger).error({ err, runId: run.runId, tenantId: run.tenantId, bundleId: run.bundleId }, 'api: event stream failed');
    } finally {
      unsubscribe();
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

/** A token delta: no `id:`, so a client resuming with Last-Event-ID resumes after the last stored event. */
function formatDelta(delta: RunDelta): string {
  return `event: ${delta.type}\ndata: ${JSON.stringify(delta.data)}\n\n`;
}

/** How often streams check whether their server stopped listening (it has no event for that), in ms. */
const shutdownCheckMs = 250;

/**
 * The router's open streams, and one timer, running while any is open, that wakes those whose server
 * started shutting down: a closing server waits for open requests, so streams must end for it to
 * finish (clients resume elsewhere with Last-Event-ID).
 */
function openStreams() {
  const streams = new Set<EventStream>();
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    for (const stream of streams) if (!stream.open()) stream.wake();
  };

  return {
    open(req: Request, res: Response): EventStream {
      const stream = openStream(req, res);
      streams.add(stream);
      timer ??= setInterval(check, shutdownCheckMs).unref();
      res.on('close', () => {
        streams.delete(stream);
        if (streams.size > 0) return;
        clearInterval(timer);
        timer = undefined;
      });
      return stream;
    },
  };
}

type EventStream = ReturnType<typeof openStream>;

/**
 * The response as a stream: writes that respect backpressure, a wait that `wake` (or a disconnect)
 * cuts short, and closed once the client goes away or the server stops listening.
 */
function openStream(req: Request, res: Response) {
  let closed = false;
  /** Set by `wake`, cleared by the wait that sees it: a wake during a read is not lost. */
  let woken = false;
  let resolveWait: (() => void) | undefined;
  let lastWrite = Date.now();
  const wake = () => {
    woken = true;
    resolveWait?.();
  };
  res.on('close', () => {
    closed = true;
    wake();
  });
  const server = (req.socket as { server?: Server }).server;
  const open = () => !closed && !res.destroyed && !res.writableEnded && server?.listening !== false;

  return {
    open,
    wake,
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
    /** Resolves true once woken (at once if woken since the last wait), false after `ms` without. */
    async waitForWake(ms: number): Promise<boolean> {
      if (!woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.max(ms, 0));
          function done() {
            clearTimeout(timer);
            resolveWait = undefined;
            resolve();
          }
          resolveWait = done;
        });
      }
      const wasWoken = woken;
      woken = false;
      return wasWoken;
    },
    end(): void {
      if (!res.writableEnded) res.end();
    },
  };
}
