import type { ErrorRequestHandler } from 'express';
import type { ZodError } from 'zod';

/** An error the client caused or can act on; everything else is a 500 with no internals leaked. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: string[] = [],
  ) {
    super(message);
  }
}

export const badRequest = (problems: string[]) =>
  new ApiError(400, 'bad_request', `The request is invalid: ${problems.join('; ')}`, problems);
export const unauthorized = () =>
  new ApiError(401, 'unauthorized', 'Send a valid API key as "Authorization: Bearer <key>".');
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found.`);
export const conflict = (message: string) => new ApiError(409, 'conflict', message);
export const unavailable = (message: string) => new ApiError(503, 'unavailable', message);

export function zodProblems(error: ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : 'body'}: ${issue.message}`);
}

/** The one place errors become HTTP statuses. */
export const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  const apiError = toApiError(err);
  if (apiError.status >= 500) console.error('api: unexpected error', err);
  res.status(apiError.status).json({ error: { code: apiError.code, message: apiError.message, problems: apiError.problems } });
};

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const bodyParserType = (err as { type?: string }).type;
  if (bodyParserType === 'entity.parse.failed') return badRequest(['body: malformed JSON']);
  if (bodyParserType === 'entity.too.large') return badRequest(['body: larger than the 64 KB limit']);
  if (bodyParserType === 'encoding.unsupported' || bodyParserType === 'charset.unsupported') {
    return badRequest(['body: unsupported encoding; send UTF-8 JSON']);
  }
  return new ApiError(500, 'internal', 'Something went wrong on our side; the error has been logged.');
}
