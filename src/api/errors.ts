import { isGrpcServiceError } from '@temporalio/client';
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { ApiErrorBody, ChatCompletionError } from '../contract';
import type { ZodError } from 'zod';
import { logger } from '../telemetry/logger';

/** An error the client caused or can act on; everything else is a 500 with no internals leaked. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: string[] = [],
    /** Sent as `Retry-After`; every 503 has one anyway. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** What a 503 tells clients to wait before retrying, in seconds: about one PostgreSQL restart. */
export const RETRY_AFTER_SECONDS = 2;

export const badRequest = (problems: string[]) =>
  new ApiError(400, 'bad_request', `The request is invalid: ${problems.join('; ')}`, problems);
export const unauthorized = () =>
  new ApiError(401, 'unauthorized', 'Send a valid API key as "Authorization: Bearer <key>".');
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found.`);
export const conflict = (message: string) => new ApiError(409, 'conflict', message);
/** A message on a thread whose run is still active, under the `reject` strategy (docs/conversations.md). */
export const threadBusy = (message: string) => new ApiError(409, 'thread_busy', message);
/** A `rollback` of a run that already started a write or destructive tool: what it did cannot be undone. */
/** A deployment to production whose bundle does not meet the agent's promotion gate; `problems` names each requirement missing. */
export const promotionRefused = (agent: string, missing: string[]) =>
  new ApiError(409, 'promotion_refused', `The promotion to production of agent "${agent}" is refused: ${missing.join('; ')}.`, missing);
export const rollbackRefused = (message: string) => new ApiError(409, 'rollback_refused', message);
/** A 429: the key sent more requests this minute than its limit; `Retry-After` says when the minute ends. */
export const rateLimited = (limitPerMinute: number, retryAfterSeconds: number) =>
  new ApiError(
    429, 'rate_limited',
    `This API key sent more than ${limitPerMinute} requests this minute; retry in ${retryAfterSeconds} s.`, [], retryAfterSeconds,
  );
/** A 503: sent with `Retry-After`, so clients retry (with the same Idempotency-Key when starting a run). */
export const unavailable = (message: string) => new ApiError(503, 'unavailable', message);

export function zodProblems(error: ZodError, whole: 'body' | 'query' = 'body'): string[] {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : whole}: ${issue.message}`);
}

/** The one place errors become HTTP statuses, with the body `bodyOf` gives. Every 503 carries `Retry-After`. */
function answerError(err: unknown, req: Request, res: Response, bodyOf: (error: ApiError) => unknown): void {
  const apiError = toApiError(err);
  if (apiError.status >= 500 && apiError.status !== 503) (req.log ?? logger).error({ err }, 'api: unexpected error');
  const retryAfter = apiError.retryAfterSeconds ?? (apiError.status === 503 ? RETRY_AFTER_SECONDS : undefined);
  if (retryAfter !== undefined) res.set('Retry-After', String(retryAfter));
  res.status(apiError.status).json(bodyOf(apiError));
}

/** Errors as the API's error body (`{ error: { code, message, problems } }`). */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  answerError(err, req, res, (e): ApiErrorBody => ({ error: { code: e.code, message: e.message, problems: e.problems } }));
};

/** OpenAI's error `type` for each status an OpenAI client may meet. */
const openAiErrorTypes: Record<number, string> = {
  400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error',
  409: 'invalid_request_error', 413: 'invalid_request_error', 422: 'run_failed', 429: 'rate_limit_error', 503: 'server_error',
};

/** An error in OpenAI's shape (the OpenAI-compatible route); `param` is the first problem's field. */
export function openAiErrorBody(e: ApiError): ChatCompletionError {
  const param = e.code === 'model_not_found' ? 'model' : (e.problems[0]?.split(':')[0] ?? null);
  return {
    error: { message: e.message, type: openAiErrorTypes[e.status] ?? 'server_error', param, code: e.code, problems: e.problems },
  };
}

/** Errors as OpenAI's error body, for the OpenAI-compatible route. */
export const openAiErrorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  answerError(err, req, res, openAiErrorBody);
};

/** The ApiError an error answers as: itself, a 503 for a dependency away, a 4xx for a bad body, else a 500. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const away = unavailableDependency(err);
  if (away) return unavailable(`${away} is unavailable for the moment; retry in a few seconds (a run with the same Idempotency-Key).`);
  const { type: bodyParserType, limit } = err as { type?: string; limit?: number };
  if (bodyParserType === 'entity.parse.failed') return badRequest(['body: malformed JSON']);
  if (bodyParserType === 'entity.too.large') {
    return new ApiError(413, 'payload_too_large', `The request body is larger than the limit of ${limit} bytes.`, [`body: larger than ${limit} bytes`]);
  }
  if (bodyParserType === 'encoding.unsupported' || bodyParserType === 'charset.unsupported') {
    return badRequest(['body: unsupported encoding; send UTF-8 JSON']);
  }
  // The router could not percent-decode a path segment (e.g. `%FF`, or an encoded lone surrogate).
  if (err instanceof URIError) return badRequest(['path: malformed percent-encoding']);
  return new ApiError(500, 'internal', 'Something went wrong on our side; the error has been logged.');
}

/** Node's codes for a connection that could not be made or was lost. */
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/**
 * SQLSTATEs of a server that is going away or not accepting yet: class 08 (connection exception),
 * 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections.
 */
const pgUnavailable = /^(08...|57P0[123]|53300)$/;
/** node-postgres reports a lost or timed-out connection with these messages and no code. */
const pgConnectionLost = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed)/;
/** Temporal's gRPC statuses for "not now": DEADLINE_EXCEEDED (4, slower than our deadline), RESOURCE_EXHAUSTED (8, shedding load), UNAVAILABLE (14). */
const temporalUnavailable = new Set<number>([4, 8, 14]);

/**
 * Which dependency an error says is away, looking through its causes: 'Temporal' for a gRPC
 * status in temporalUnavailable (the API speaks gRPC only to Temporal), 'PostgreSQL' for a network
 * code, an unavailable SQLSTATE or a lost node-postgres connection; undefined for anything else.
 */
export function unavailableDependency(err: unknown): 'PostgreSQL' | 'Temporal' | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e)) return temporalUnavailable.has(e.code) ? 'Temporal' : undefined;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (networkCodes.has(code) || pgUnavailable.test(code))) return 'PostgreSQL';
    if (pgConnectionLost.test(e.message)) return 'PostgreSQL';
  }
  return undefined;
}
