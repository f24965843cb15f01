/**
 * The CLI's only way to the REST API: the openapi-fetch client typed by the types generated from the
 * API's OpenAPI document (./generated/openapi.ts), error answers turned into a typed CliError.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { ApiErrorBody } from '../contract';
import type { components, paths } from './generated/openapi';

/** Something the user should read on stderr; `exitCode` 1 for API and runtime errors. */
export class CliError extends Error {
  readonly exitCode: number = 1;
  constructor(
    message: string,
    readonly problems: string[] = [],
    /** The HTTP status when the API answered with an error. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** A command line the CLI cannot understand: exit code 2, with the usage text. */
export class UsageError extends CliError {
  override readonly exitCode = 2;
  constructor(message: string, readonly group?: string) {
    super(message);
  }
}

/** The API's request and answer types, generated from its OpenAPI document (`npm run openapi`). */
export type Schemas = components['schemas'];

/**
 * The typed client of the API (openapi-fetch over the generated `paths`): `api.GET('/v1/runs/{runId}',
 * { params: { path: { runId } } })`. An error answer or a network failure throws CliError, so a call
 * that returns has the route's success answer (read it with `answer`).
 */
export type ApiClient = Client<paths> & {
  readonly baseUrl: string;
  /**
   * GET whose answer is read as it arrives (Server-Sent Events): the body of a 2xx `text/event-stream`
   * answer, undefined for 204; other answers and network failures throw CliError as the typed calls do.
   */
  stream(path: string, headers?: Record<string, string>): Promise<ReadableStream<Uint8Array> | undefined>;
};

/** The body of a call's success answer (undefined for 204): its errors were thrown as CliError. */
export async function answer<T>(call: Promise<{ data?: T }>): Promise<T> {
  return (await call).data as T;
}

/** A path with every interpolated value URL-encoded: route`/v1/runs/${runId}`. */
export function route(parts: TemplateStringsArray, ...values: string[]): string {
  return parts.reduce((path, part, i) => path + part + (i < values.length ? encodeURIComponent(values[i]!) : ''), '');
}

export function createApiClient(baseUrl: string, apiKey: string): ApiClient {
  const base = baseUrl.replace(/\/+$/, '');
  const unreachable = (err: unknown) =>
    new CliError(`cannot reach Bosun at ${base} (${networkReason(err)}); is it running? Set BOSUN_URL or --url.`);
  const client = createClient<paths>({ baseUrl: base, headers: { authorization: `Bearer ${apiKey}` } });
  client.use({
    async onResponse({ request, response }) {
      const path = new URL(request.url).pathname;
      if (!response.ok) throw errorFrom(response.status, request.method, path, parseJson(await response.text()));
      // JSON, unless the call asked for another type (an HTML report): then that type.
      const wanted = request.headers.get('accept')?.startsWith('text/') ? request.headers.get('accept')! : 'application/json';
      if (response.status !== 204 && !response.headers.get('content-type')?.startsWith(wanted)) {
        throw new CliError(`${request.method} ${path} answered HTTP ${response.status} without ${wanted === 'application/json' ? 'JSON' : wanted}; is BOSUN_URL right?`, [], response.status);
      }
      return undefined;
    },
    onError: ({ error }) => unreachable(error),
  });

  async function stream(path: string, headers: Record<string, string> = {}): Promise<ReadableStream<Uint8Array> | undefined> {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${apiKey}`, accept: 'text/event-stream', ...headers } })
      .catch((err: unknown) => {
        throw unreachable(err);
      });
    if (!res.ok) throw errorFrom(res.status, 'GET', path, parseJson(await res.text()));
    if (res.status !== 204 && !res.headers.get('content-type')?.startsWith('text/event-stream')) {
      await res.body?.cancel();
      throw new CliError(`GET ${path} answered HTTP ${res.status} without an event stream; is BOSUN_URL right?`, [], res.status);
    }
    return res.body ?? undefined;
  }

  return Object.assign(client, { baseUrl: base, stream });
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

function isApiErrorBody(body: unknown): body is ApiErrorBody {
  const error = (body as ApiErrorBody | undefined)?.error;
  return typeof error === 'object' && error !== null && typeof error.message === 'string';
}

function errorFrom(status: number, method: string, path: string, body: unknown): CliError {
  if (!isApiErrorBody(body)) return new CliError(`${method} ${path} answered HTTP ${status} without a Bosun error body; is BOSUN_URL right?`, [], status);
  const problems = body.error.problems ?? [];
  return new CliError(withoutListedProblems(body.error.message, problems), problems, status);
}

/** "The request is invalid: a; b" → "The request is invalid:" when a and b are printed one per line anyway. */
function withoutListedProblems(message: string, problems: string[]): string {
  const listed = problems.join('; ');
  return problems.length && message.endsWith(`: ${listed}`) ? message.slice(0, -listed.length - 1) : message;
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
