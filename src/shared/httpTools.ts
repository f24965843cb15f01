/**
 * Declarative HTTP tools: a bundle says "call this endpoint" and Bosun turns the model's arguments
 * into the request. This module is pure: the declaration's schema, the checks against the rest of
 * the bundle (its secrets and network allow-list), and the expansion of a call into a request. The
 * request itself is made by src/activities/tools/httpTool.ts, through the network guard.
 */
import { z } from 'zod';
import { toolApprovalSchema } from './approvalRules';
import { hostMatches } from './hostPatterns';

export const HTTP_TOOL_MAX_TIMEOUT_MS = 120_000;
/** Characters of the args JSON Schema, as JSON. */
export const HTTP_TOOL_MAX_ARGS_SCHEMA_CHARS = 20_000;
const MAX_ARGS_PROPERTIES = 100;
const MAX_ARGS_SCHEMA_DEPTH = 10;

export const httpMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof httpMethods)[number];
/** Methods whose leftover arguments go into a JSON body; the others put them in the query string. */
const methodsWithBody: ReadonlySet<HttpMethod> = new Set(['POST', 'PUT', 'PATCH']);

/** `{name}` in a URL template: an argument's value, percent-encoded. */
const placeholderPattern = /\{([A-Za-z_][A-Za-z0-9_]{0,63})\}/g;

/**
 * Headers a declaration may not set: the ones that route or frame the request (Bosun writes those),
 * hop-by-hop ones, and Idempotency-Key (Bosun sends its own on writes).
 */
const reservedHeader =
  /^(host|connection|keep-alive|proxy-connection|proxy-authenticate|proxy-authorization|te|trailer|transfer-encoding|upgrade|content-length|idempotency-key)$/i;

const secretNameSchema = z.string().regex(/^[A-Z][A-Z0-9_]{0,99}$/, 'an upper-case secret name');

const headerValueSchema = z.union([
  z
    .string()
    .max(2000)
    .regex(/^[\x20-\x7e\t]*$/, 'printable ASCII on one line')
    .describe('Sent as written: never put a credential here, name a secret instead.'),
  z
    .object({
      secret: secretNameSchema.describe("Listed in the bundle's secrets."),
      scheme: z.string().regex(/^[A-Za-z0-9-]{1,50}$/).optional().describe('e.g. Bearer: the header is "<scheme> <secret>"; the bare secret when absent.'),
    })
    .strict(),
]);

/**
 * The arguments a model passes: a JSON Schema of type object, as function calling expects. Only the
 * top level's shape, the size and the nesting are checked; each property's schema is the author's.
 */
const argsSchemaSchema = z
  .looseObject({
    type: z.literal('object'),
    properties: z.record(z.string().min(1).max(100), z.looseObject({})),
    required: z.array(z.string()).max(MAX_ARGS_PROPERTIES).optional(),
    additionalProperties: z.union([z.boolean(), z.looseObject({})]).optional(),
  })
  .superRefine((schema, ctx) => {
    if (Object.keys(schema.properties).length > MAX_ARGS_PROPERTIES) {
      ctx.addIssue({ code: 'custom', path: ['properties'], message: `at most ${MAX_ARGS_PROPERTIES} properties` });
    }
    if (JSON.stringify(schema).length > HTTP_TOOL_MAX_ARGS_SCHEMA_CHARS) {
      ctx.addIssue({ code: 'custom', message: `at most ${HTTP_TOOL_MAX_ARGS_SCHEMA_CHARS} characters as JSON` });
    }
    if (depthOf(schema) > MAX_ARGS_SCHEMA_DEPTH) {
      ctx.addIssue({ code: 'custom', message: `nested at most ${MAX_ARGS_SCHEMA_DEPTH} levels deep` });
    }
  });

export const httpToolSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'lower-case letters, digits and underscores, starting with a letter'),
    description: z.string().min(1).max(2000).describe('What the model reads to decide when to call the tool.'),
    method: z.enum(httpMethods),
    url: z
      .string()
      .max(2000)
      .superRefine((template, ctx) => {
        for (const message of urlTemplateProblems(template)) ctx.addIssue({ code: 'custom', message });
      })
      .describe('http(s) URL; `{arg}` placeholders in the path and query only.'),
    args: argsSchemaSchema,
    headers: z
      .record(z.string(), headerValueSchema)
      .superRefine((headers, ctx) => {
        // Checked here rather than as the record's key schema, whose issue would not say why.
        for (const name of Object.keys(headers)) {
          const message = !/^[A-Za-z0-9-]{1,100}$/.test(name)
            ? 'a header name: letters, digits and dashes'
            : reservedHeader.test(name) ? 'a header Bosun sets itself or a hop-by-hop header' : undefined;
          if (message) ctx.addIssue({ code: 'custom', path: [name], message });
        }
      })
      .optional(),
    kind: z.enum(['read', 'write', 'destructive']).describe('What a call changes; writes carry an Idempotency-Key.'),
    approval: toolApprovalSchema.optional(),
    timeoutMs: z.number().int().positive().max(HTTP_TOOL_MAX_TIMEOUT_MS).optional(),
  })
  .strict();

export type HttpToolDeclaration = z.infer<typeof httpToolSchema>;

/** What the URL template's text must be: checked by the schema, one message per problem. */
function urlTemplateProblems(template: string): string[] {
  const m = /^(https?):\/\/([^/?#]*)(.*)$/s.exec(template);
  if (!m) return ['an http:// or https:// URL'];
  const [, , authority, rest] = m as unknown as [string, string, string, string];
  const problems: string[] = [];
  if (/[{}]/.test(authority)) problems.push('placeholders are allowed in the path and query only, not in the scheme, host or port');
  if (authority.includes('@')) problems.push('credentials in the URL are not allowed; name a secret in headers');
  if (rest.includes('#')) problems.push('a fragment (#) is never sent; leave it out');
  if (/[{}]/.test(rest.replace(placeholderPattern, ''))) problems.push('a brace that is not a {placeholder} (letters, digits, underscores)');
  if (hasDotSegment(rest.split('?')[0]!)) problems.push('a path segment "." or ".." is not allowed');
  if (problems.length > 0) return problems;
  let url: URL;
  try {
    url = new URL(template.replace(placeholderPattern, 'x'));
  } catch {
    return ['not a valid URL'];
  }
  // One spelling per host: the allow-list check and the author read the same text (no 0x7f.1, no :443 on https).
  if (url.host !== authority) return [`write the host as "${url.host}"`];
  return [];
}

/** Nesting depth of a JSON value (a scalar is 0). */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  return 1 + Math.max(0, ...Object.values(value).map(depthOf));
}

/** True when a URL path has a `.` or `..` segment, written plainly or percent-encoded (URL parsers resolve both). */
function hasDotSegment(path: string): boolean {
  return path.split('/').some((segment) => /^(\.|%2e){1,2}$/i.test(segment));
}

/** The names of the URL template's placeholders, each once, in order. */
export function placeholdersOf(template: string): string[] {
  return [...new Set([...template.matchAll(placeholderPattern)].map((m) => m[1]!))];
}

/** The names of the secrets the declaration's headers carry, each once. */
export function httpToolSecretNames(decl: Pick<HttpToolDeclaration, 'headers'>): string[] {
  const names = Object.values(decl.headers ?? {}).flatMap((value) => (typeof value === 'string' ? [] : [value.secret]));
  return [...new Set(names)];
}

/** What a declaration is checked against: the rest of its bundle. */
export interface HttpToolBundleReach {
  /** The bundle's `secrets`. */
  secrets: readonly string[];
  /** The bundle's `network.allowHosts` (empty when it has no network policy). */
  allowHosts: readonly string[];
}

/**
 * Every problem of a schema-valid declaration that its schema cannot see, as `field: message`
 * (empty when there are none): placeholders that are not required string, number or integer
 * arguments, required arguments that are not properties, secrets the bundle does not list, a host
 * off the bundle's allow-list, an approval threshold on an argument that is not numeric, and header
 * names given twice.
 */
export function httpToolProblems(decl: HttpToolDeclaration, reach: HttpToolBundleReach): string[] {
  const problems: string[] = [];
  const properties = decl.args.properties;
  const required = new Set(decl.args.required ?? []);
  const typeOf = (name: string) => (Object.hasOwn(properties, name) ? properties[name]!.type : undefined);

  for (const name of placeholdersOf(decl.url)) {
    if (!Object.hasOwn(properties, name)) {
      problems.push(`url: the placeholder {${name}} is not a property of args`);
      continue;
    }
    const type = typeOf(name);
    if (type !== 'string' && type !== 'number' && type !== 'integer') {
      problems.push(`url: the placeholder {${name}} needs a string, number or integer argument, not ${JSON.stringify(type ?? null)}`);
    }
    if (!required.has(name)) problems.push(`url: the placeholder {${name}} needs args.required to list "${name}"`);
  }
  for (const name of required) {
    if (!Object.hasOwn(properties, name)) problems.push(`args.required: "${name}" is not a property of args`);
  }

  const listed = new Set(reach.secrets);
  const seenHeaders = new Set<string>();
  for (const [header, value] of Object.entries(decl.headers ?? {})) {
    if (seenHeaders.has(header.toLowerCase())) problems.push(`headers.${header}: given twice (header names ignore case)`);
    seenHeaders.add(header.toLowerCase());
    if (typeof value !== 'string' && !listed.has(value.secret)) {
      problems.push(`headers.${header}.secret: ${value.secret} is not listed in the bundle's secrets`);
    }
  }

  const url = new URL(decl.url.replace(placeholderPattern, 'x'));
  if (!hostMatches(reach.allowHosts, url)) {
    problems.push(`url: ${url.host} is not in the bundle's network.allowHosts`);
  }

  if (typeof decl.approval === 'object') {
    const field = decl.approval.above.field;
    const type = typeOf(field);
    if (type !== 'number' && type !== 'integer') problems.push(`approval.above.field: "${field}" is not a number or integer argument`);
  }
  return problems;
}

/** A call's arguments cannot make a request: a placeholder has no usable value, or would change the path's shape. */
export class HttpToolArgumentError extends Error {
  override name = 'HttpToolArgumentError';
}

export interface HttpRequestPlan {
  method: HttpMethod;
  /** The URL to request: placeholders filled, leftover arguments in the query (GET, DELETE). */
  url: string;
  /** The query parameters added from leftover arguments, in order, unencoded (empty for POST, PUT, PATCH). */
  query: [string, string][];
  /** JSON of the leftover arguments (POST, PUT, PATCH; `{}` when there are none); absent for GET, DELETE. */
  body?: string;
}

/**
 * The request a call makes. Each `{name}` becomes encodeURIComponent(String(args[name])), so a value
 * cannot add path segments or query parameters; a value that would make a whole path segment empty,
 * `.` or `..` is refused. The other arguments go to the query string (GET, DELETE: scalars as
 * `name=value`, arrays as one `name=value` per scalar item, objects as JSON; null skipped) or into a
 * JSON body (POST, PUT, PATCH). Throws HttpToolArgumentError when a placeholder's argument is
 * missing or not a string or finite number, or lands as a forbidden path segment.
 */
export function expandHttpRequest(decl: Pick<HttpToolDeclaration, 'method' | 'url'>, args: Readonly<Record<string, unknown>>): HttpRequestPlan {
  const fill = (_match: string, name: string) => encodeURIComponent(placeholderValue(args, name));
  const queryStart = decl.url.indexOf('?');
  const pathPart = queryStart < 0 ? decl.url : decl.url.slice(0, queryStart);
  const queryPart = queryStart < 0 ? '' : decl.url.slice(queryStart + 1);
  const path = pathPart.replace(placeholderPattern, (match, name: string) => {
    if (placeholderValue(args, name) === '') throw new HttpToolArgumentError(`the argument "${name}" is empty; in the URL path it would change which endpoint is called`);
    return fill(match, name);
  });
  // The template has no dot segments (the schema sees to it): any here come from the arguments.
  if (hasDotSegment(path.replace(/^https?:\/\/[^/]*/, ''))) {
    throw new HttpToolArgumentError('an argument makes a URL path segment "." or ".."; it would change which endpoint is called');
  }
  const used = new Set(placeholdersOf(decl.url));
  const leftover = Object.entries(args).filter(([name, value]) => !used.has(name) && value !== undefined);
  const filledQuery = queryPart.replace(placeholderPattern, fill);

  if (methodsWithBody.has(decl.method)) {
    return { method: decl.method, url: joinQuery(path, filledQuery), query: [], body: JSON.stringify(Object.fromEntries(leftover)) };
  }
  const query = leftover.flatMap(([name, value]) => queryPairs(name, value));
  const added = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return { method: decl.method, url: joinQuery(path, [filledQuery, added].filter(Boolean).join('&')), query };
}

function placeholderValue(args: Readonly<Record<string, unknown>>, name: string): string {
  const value = Object.hasOwn(args, name) ? args[name] : undefined;
  if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) return String(value);
  throw new HttpToolArgumentError(`the URL needs the argument "${name}" as a string or number`);
}

function queryPairs(name: string, value: unknown): [string, string][] {
  if (value === null) return [];
  if (Array.isArray(value)) return value.flatMap((item) => (item !== null && typeof item === 'object' ? [[name, JSON.stringify(item)]] : queryPairs(name, item)));
  if (typeof value === 'object') return [[name, JSON.stringify(value)]];
  return [[name, String(value)]];
}

const joinQuery = (path: string, query: string) => (query ? `${path}?${query}` : path);
