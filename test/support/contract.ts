/**
 * The API's answers checked against src/contract and the OpenAPI document made from it: which
 * route and answer each request has, and a check that throws naming every field that does not
 * match. The test stack's `api()` runs it on every answer, so each e2e file that calls a route also
 * checks its shape twice: with the route's zod schema, and with the document's JSON Schema for the
 * route and status (so a status or a field the document does not describe fails too).
 */
import { Validator, type OutputUnit } from '@cfworker/json-schema';
import type { z } from 'zod';
import { apiErrorBodySchema, type RouteSpec } from '../../src/contract';
import { apiRoutes, openApiDocument, openApiPath } from '../../src/contract/openapi';

const document = openApiDocument();

/** A route's path as a pattern: `{param}` matches one segment. */
const pathPattern = (path: string) => new RegExp(`^${openApiPath(path).replace(/\{\w+\}/g, '[^/]+').replace(/\./g, '\\.')}$`);
const routePatterns = apiRoutes.map((route) => ({ route, pattern: pathPattern(route.path) }));

/** The route a request goes to, undefined for one the API has no route for. */
export function routeOf(method: string, url: string): RouteSpec | undefined {
  const path = url.split('?')[0]!;
  return routePatterns.find(({ route, pattern }) => route.method === method.toLowerCase() && pattern.test(path))?.route;
}

/**
 * The zod schema an answer must match: the route's answer for the status, its error body for an
 * error; undefined for answers without a JSON body (204, the event stream). Unknown routes answer
 * the API's error body (404, or 401 before the router looks).
 */
export function answerSchemaOf(method: string, url: string, status: number): z.ZodType | undefined {
  const route = routeOf(method, url);
  const answer = route?.answers[status];
  if (answer) return answer.schema;
  return status >= 400 ? (route?.errorSchema ?? apiErrorBodySchema) : undefined;
}

/** The component schemas under `$defs`, so that a schema of the document validates on its own. */
const definitions = JSON.parse(JSON.stringify(document.components?.schemas ?? {}).replaceAll('#/components/schemas/', '#/$defs/'));
const validators = new Map<string, Validator>();

function validatorOf(schema: object): Validator {
  const key = JSON.stringify(schema);
  let validator = validators.get(key);
  if (!validator) {
    const root = { ...JSON.parse(key.replaceAll('#/components/schemas/', '#/$defs/')), $defs: definitions };
    validator = new Validator(root, '2020-12', false);
    validators.set(key, validator);
  }
  return validator;
}

/**
 * The problems of a JSON answer against the document: its route's operation must list the status
 * and describe the body. Requests to no route must answer an error with the API's error body (404,
 * or 401, 400 or 413 from the checks every /v1 request passes before routing).
 */
export function documentProblems(method: string, url: string, status: number, body: unknown): string[] {
  const route = routeOf(method, url);
  if (!route) {
    if (status < 400 || status >= 500) return [`no route of the document matches ${method} ${url}, which answered ${status}`];
    return schemaProblems(document.components!.schemas!.ApiErrorBody!, body);
  }
  const operation = (document.paths?.[openApiPath(route.path)] as Record<string, any> | undefined)?.[route.method];
  const answer = operation?.responses?.[String(status)];
  if (!answer) return [`the document lists no ${status} answer for ${route.method.toUpperCase()} ${route.path}`];
  const schema = answer.content?.['application/json']?.schema;
  if (!schema) return body === undefined ? [] : [`the document gives the ${status} answer of ${route.method.toUpperCase()} ${route.path} no JSON body`];
  return schemaProblems(schema, body);
}

function schemaProblems(schema: object, body: unknown): string[] {
  const { valid, errors } = validatorOf(schema).validate(body);
  if (valid) return [];
  // The innermost errors say what is wrong; the outer ones only repeat that something below is.
  const leaves = errors.filter((e: OutputUnit) => !errors.some((other) => other !== e && other.instanceLocation.startsWith(`${e.instanceLocation}/`)));
  return leaves.slice(0, 10).map((e) => `document: ${e.instanceLocation || '#'}: ${e.error}`);
}

/**
 * Parses an answer with its contract schema and checks it against the OpenAPI document, and returns
 * it; throws listing every field that does not match (a renamed, missing, extra or mistyped field),
 * or the status the document does not list for the route.
 */
export function checkAnswer(method: string, url: string, status: number, body: unknown): unknown {
  const schema = answerSchemaOf(method, url, status);
  const parsed = schema?.safeParse(body);
  const problems = [
    ...(parsed && !parsed.success ? parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) : []),
    ...documentProblems(method, url, status, body),
  ];
  if (problems.length === 0) return body;
  throw new Error(`${method} ${url} answered ${status} with a body the contract does not describe:\n  - ${problems.join('\n  - ')}\n${JSON.stringify(body).slice(0, 2000)}`);
}
