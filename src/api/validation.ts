import type { Request, RequestHandler } from 'express';
import type { z } from 'zod';
import type { PageKey } from '../db/pool';
import { badRequest, notFound, zodProblems } from './errors';

/** Parses input with its schema, or answers 400 listing every problem. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest(zodProblems(parsed.error));
  return parsed.data;
}

/** A request's query string by its schema; 400 naming each problem (one of the whole query, e.g. a parameter not known, as `query: …`). */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw badRequest(zodProblems(parsed.error, 'query'));
  return parsed.data;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID route parameter; anything else cannot name a stored row, so it is a 404. */
export function uuidParam(req: Request, name: string, what: string): string {
  const value = req.params[name];
  if (typeof value !== 'string' || !uuidPattern.test(value)) throw notFound(what);
  return value.toLowerCase();
}

/** A text route parameter; 400 when it holds text PostgreSQL cannot store (see unstorableText). */
export function stringParam(req: Request, name: string): string {
  const value = req.params[name];
  if (typeof value !== 'string') return '';
  const problems = unstorableText(value, [name]);
  if (problems.length > 0) throw badRequest(problems);
  return value;
}

/**
 * Refuses every /v1 request whose body or query holds text PostgreSQL cannot store, with a 400
 * naming each field, before any route sees it: one rule for every text and jsonb column a request
 * can fill (run inputs and metadata, approval comments and edited arguments, bundles, key names,
 * rollout reasons, …). Such text is refused rather than altered, so what is stored is what was sent.
 */
export const refuseUnstorableText: RequestHandler = (req, _res, next) => {
  const problems = [...unstorableText(req.body, []), ...unstorableText(req.query, [])];
  if (problems.length > 0) throw badRequest(problems);
  next();
};

/**
 * Refuses a /v1 request that carries a body without a JSON content type (400 naming the header to
 * send): the JSON parser leaves such a body unread, and the route would only see "no body".
 */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (hasBody && !req.is('application/json')) {
    const sent = req.headers['content-type'] ? `Content-Type ${req.headers['content-type']}` : 'no Content-Type';
    throw badRequest([`body: sent with ${sent}; send Content-Type: application/json`]);
  }
  next();
};

/** Deeper JSON than any request needs; bounding it keeps recursive code (zod, JSON.stringify) safe. */
export const MAX_NESTING = 32;
/** A body of a million NULs gets a short answer. */
const MAX_PROBLEMS = 10;
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains U+0000 (NUL), which cannot be stored; remove it';
  const surrogate = loneSurrogate.exec(text);
  if (surrogate) {
    const unit = surrogate[0].charCodeAt(0).toString(16).toUpperCase();
    return `contains a lone UTF-16 surrogate (U+${unit}), which is not Unicode text; send well-formed UTF-8`;
  }
  return undefined;
}

/**
 * Problems (`path: what is wrong`, at most MAX_PROBLEMS) for every string and object key in a parsed
 * JSON value that holds U+0000 or a lone UTF-16 surrogate, and for nesting deeper than MAX_NESTING.
 * PostgreSQL's text and jsonb refuse U+0000, and a lone surrogate is not Unicode: the driver would
 * silently turn it into U+FFFD, or jsonb refuse its escape. Walks iteratively, whatever the depth.
 */
export function unstorableText(value: unknown, path: string[]): string[] {
  const problems: string[] = [];
  const pending: { value: unknown; path: string[] }[] = [{ value, path }];
  const at = (p: string[]) => (p.length > 0 ? p.join('.') : 'body');
  while (pending.length > 0 && problems.length < MAX_PROBLEMS) {
    const next = pending.pop()!;
    if (typeof next.value === 'string') {
      const problem = textProblem(next.value);
      if (problem) problems.push(`${at(next.path)}: ${problem}`);
    } else if (next.value !== null && typeof next.value === 'object') {
      if (next.path.length >= path.length + MAX_NESTING) {
        problems.push(`${at(next.path)}: nested deeper than ${MAX_NESTING} levels`);
        continue;
      }
      for (const [key, child] of Object.entries(next.value).reverse()) {
        const keyProblem = textProblem(key);
        if (keyProblem) problems.push(`${at(next.path)}: the key ${JSON.stringify(key.slice(0, 40))} ${keyProblem}`);
        pending.push({ value: child, path: [...next.path, key] });
      }
    }
  }
  return problems.slice(0, MAX_PROBLEMS);
}

/** A page key as the `cursor` a client sends back: opaque base64url of its timestamp and UUID. */
export function encodeCursor(key: PageKey | null): string | null {
  return key && Buffer.from(`${key.at}|${key.id}`).toString('base64url');
}

/** The page key of a cursor this API returned (undefined without one); 400 for anything else. */
export function decodeCursor(cursor: string | undefined): PageKey | undefined {
  if (cursor === undefined) return undefined;
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!at || !id || !/^\d{4}-\d\d-\d\d [\d:.]+[+-]\d\d(:\d\d)?$/.test(at) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw badRequest(['cursor: not a cursor this API returned']);
  }
  return { at, id };
}
