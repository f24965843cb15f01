/** The CLI's only way to the REST API: JSON over fetch, error bodies turned into a typed CliError. */
import type { ApiErrorBody } from '../contract';

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

export interface ApiClient {
  readonly baseUrl: string;
  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  delete<T>(path: string): Promise<T>;
  /**
   * GET whose answer is read as it arrives (Server-Sent Events): the body of a 2xx `text/event-stream`
   * answer, undefined for 204; other answers and network failures throw CliError as `get` does.
   */
  stream(path: string, headers?: Record<string, string>): Promise<ReadableStream<Uint8Array> | undefined>;
}

/** A path with every interpolated value URL-encoded: route`/v1/runs/${runId}`. */
export function route(parts: TemplateStringsArray, ...values: string[]): string {
  return parts.reduce((path, part, i) => path + part + (i < values.length ? encodeURIComponent(values[i]!) : ''), '');
}

export function createApiClient(baseUrl: string, apiKey: string): ApiClient {
  const base = baseUrl.replace(/\/+$/, '');

  async function send(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Response> {
    try {
      return await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(`cannot reach Bosun at ${base} (${networkReason(err)}); is it running? Set BOSUN_URL or --url.`);
    }
  }

  async function request<T>(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<T> {
    const res = await send(method, path, body, headers);
    const parsed = parseJson(await res.text());
    if (res.ok) return parsed as T;
    throw errorFrom(res.status, method, path, parsed);
  }

  async function stream(path: string, headers: Record<string, string> = {}): Promise<ReadableStream<Uint8Array> | undefined> {
    const res = await send('GET', path, undefined, { accept: 'text/event-stream', ...headers });
    if (!res.ok) throw errorFrom(res.status, 'GET', path, parseJson(await res.text()));
    if (res.status !== 204 && !res.headers.get('content-type')?.startsWith('text/event-stream')) {
      await res.body?.cancel();
      throw new CliError(`GET ${path} answered HTTP ${res.status} without an event stream; is BOSUN_URL right?`, [], res.status);
    }
    return res.body ?? undefined;
  }

  return {
    baseUrl: base,
    get: (path, query = {}) => request('GET', path + queryString(query), undefined, {}),
    post: (path, body = {}, headers = {}) => request('POST', path, body, headers),
    put: (path, body) => request('PUT', path, body, {}),
    delete: (path) => request('DELETE', path, undefined, {}),
    stream,
  };
}

function queryString(query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
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
