/**
 * Codec server for the Temporal Web UI and CLI (the Temporal codec server protocol):
 * `POST /codec/decode` and `POST /codec/encode` take and answer `{ payloads: [{ metadata: { k: base64 }, data: base64 }] }`.
 * The UI calls it from the browser, so CORS preflights from the configured UI origins are answered
 * before authentication (a preflight carries no credentials); the calls themselves need an API key
 * with the admin role. See docs/encryption.md.
 */
import express, { Router, type RequestHandler } from 'express';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { codecRequestSchema, type CodecRequest } from '../contract';
import type { Db } from '../db/pool';
import { authenticate, principalOf } from './auth';
import { ApiError, badRequest, zodProblems } from './errors';

export interface CodecRouterDeps {
  db: Db;
  /** The payload codec; undefined when encryption is off. */
  codec: PayloadCodec | undefined;
  /** Browser origins allowed to call (the Temporal Web UI). */
  corsOrigins: readonly string[];
}

const BODY_LIMIT = '4mb';

type JsonPayload = CodecRequest['payloads'][number];

const fromJson = ({ metadata, data }: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(data ?? '', 'base64'),
});

const toJson = ({ metadata, data }: Payload) => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(data ?? new Uint8Array()).toString('base64'),
});

/** Answers preflights and marks answers readable for the allowed origins only; others get no CORS headers. */
function cors(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins);
  return (req, res, next) => {
    const origin = req.get('origin');
    if (origin && allowed.has(origin)) {
      res.vary('Origin');
      res.set({
        'Access-Control-Allow-Origin': origin,
        // For the UI's "Include cross-origin credentials" setting.
        'Access-Control-Allow-Credentials': 'true',
      });
      if (req.method === 'OPTIONS') {
        res.set({
          'Access-Control-Allow-Methods': 'POST, OPTIONS',
          'Access-Control-Allow-Headers': 'Authorization, Content-Type, X-Namespace',
          'Access-Control-Max-Age': '600',
        });
        res.status(204).end();
        return;
      }
    } else if (req.method === 'OPTIONS') {
      res.vary('Origin');
      res.status(204).end();
      return;
    }
    next();
  };
}

export function codecRouter({ db, codec, corsOrigins }: CodecRouterDeps): Router {
  const router = Router();
  // A body over the limit answers 413 naming it, from the shared error handler.
  router.use(cors(corsOrigins), authenticate(db), express.json({ limit: BODY_LIMIT }));

  const handle = (direction: 'encode' | 'decode'): RequestHandler => async (req, res) => {
    principalOf(req, 'admin');
    if (!codec) {
      throw new ApiError(404, 'encryption_off', 'Payload encryption is off (BOSUN_ENCRYPTION_KEYS is empty), so there is nothing to encode or decode.');
    }
    const parsed = codecRequestSchema.safeParse(req.body);
    if (!parsed.success) throw badRequest(zodProblems(parsed.error));
    const payloads = parsed.data.payloads.map(fromJson);
    // One at a time, so a failure names the payload it is about.
    const results: Payload[] = [];
    const problems: string[] = [];
    for (const [index, payload] of payloads.entries()) {
      try {
        const [result] = await codec[direction]([payload]);
        results.push(result!);
      } catch (err) {
        problems.push(`payloads.${index}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (problems.length > 0) throw badRequest(problems);
    res.json({ payloads: results.map(toJson) });
  };

  router.post('/encode', handle('encode'));
  router.post('/decode', handle('decode'));
  return router;
}
