/**
 * The OpenAPI 3.1 document of the API, generated from the contract's zod schemas and each area's
 * route list (./route.ts) with @asteasolutions/zod-to-openapi. `GET /v1/openapi.json` serves it,
 * `npm run openapi` writes it to docs/openapi.json and the CLI's client types from it, and the tests
 * check every answer of the e2e suite against it.
 *
 * A new area adds its route list to `areas`; a new route goes in its area's list. Not exported by
 * ./index.ts, so the CLI (which imports the contract) does not load the generator.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, zodToOpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import * as contract from './index';
import { adminRoutes } from './admin';
import { agentRoutes } from './agents';
import { alertRoutes } from './alerts';
import { approvalRoutes } from './approvals';
import { bundleRoutes } from './bundles';
import { chatCompletionRoutes } from './chatCompletions';
import { codecRoutes } from './codec';
import { apiErrorBodySchema } from './errors';
import { evalRoutes } from './evals';
import { eventRoutes } from './events';
import { healthRoutes } from './health';
import { memoryRoutes } from './memory';
import { metricsRoutes } from './metrics';
import { routes, type RouteAnswer, type RouteSpec } from './route';
import { runRoutes } from './runs';
import { shadowRoutes } from './shadows';
import { threadRoutes } from './threads';
import { toolRoutes } from './tools';
import { uiRoutes } from './ui';
import { usageRoutes } from './usage';

/** `GET /v1/openapi.json` itself. */
const documentRoutes = routes([
  {
    method: 'get', path: '/v1/openapi.json', tag: 'Meta', role: null, summary: 'This document (OpenAPI 3.1)',
    answers: { 200: { description: 'The OpenAPI document.', schema: z.looseObject({ openapi: z.string() }) } },
  },
]);

/** Every route of the API, area by area. */
export const apiRoutes: readonly RouteSpec[] = [
  ...healthRoutes, ...metricsRoutes, ...documentRoutes, ...runRoutes, ...threadRoutes, ...eventRoutes, ...approvalRoutes, ...chatCompletionRoutes,
  ...bundleRoutes, ...agentRoutes, ...shadowRoutes, ...adminRoutes, ...usageRoutes, ...toolRoutes, ...evalRoutes, ...alertRoutes, ...memoryRoutes,
  ...codecRoutes, ...uiRoutes,
];

/**
 * The errors every route of a kind may answer, besides its own (`RouteSpec.errors`): the API
 * refuses any request holding text PostgreSQL cannot store, authenticates every keyed route, and
 * answers 503 when PostgreSQL or Temporal is away and 429 past the key's rate limit.
 */
function commonErrors(route: RouteSpec): Record<number, string> {
  if (route.role === null) return { 500: 'Something went wrong on our side; the error has been logged.' };
  return {
    400: 'The request is invalid; `problems` lists each problem as `path: what is wrong`.',
    401: 'No API key, or an unknown or revoked one: send `Authorization: Bearer <key>`.',
    403: `The API key lacks the ${route.role} role.`,
    // Every keyed route reads a JSON body when one is sent, whether it uses it or not.
    413: 'The body is larger than BOSUN_MAX_REQUEST_BYTES.',
    // BOSUN_API_RATE_LIMIT, counted per key across every API replica.
    429: 'The key sent more requests this minute than its limit (`rate_limited`); retry after `Retry-After` seconds.',
    500: 'Something went wrong on our side; the error has been logged.',
    503: 'PostgreSQL or Temporal is away for the moment; retry after `Retry-After` seconds.',
  };
}

/** `/v1/runs/:runId` → `/v1/runs/{runId}`. */
export const openApiPath = (expressPath: string) => expressPath.replace(/:(\w+)/g, '{$1}');

/** `acceptedRunSchema` → `AcceptedRun`: the component name of each schema the contract exports. */
function componentNames(): Map<z.ZodType, string> {
  const names = new Map<z.ZodType, string>();
  for (const [name, value] of Object.entries(contract)) {
    if (value instanceof z.ZodType && name.endsWith('Schema') && !names.has(value)) {
      names.set(value, name[0]!.toUpperCase() + name.slice(1, -'Schema'.length));
    }
  }
  return names;
}

/**
 * Names the bodies and answers routes use directly as components. Only those: zod-to-openapi loses
 * the `null` of a named schema used `.nullable()` inside another, so nested schemas stay inline.
 */
function nameTopLevelSchemas(): void {
  const names = componentNames();
  const named = new Set<z.ZodType>();
  const topLevel = apiRoutes.flatMap((r) => [r.body, r.errorSchema, ...Object.values(r.answers).flatMap((a) => [a.schema, a.stream])]);
  for (const schema of [apiErrorBodySchema, ...topLevel]) {
    const name = schema && names.get(schema);
    if (!schema || !name || named.has(schema)) continue;
    named.add(schema);
    zodToOpenAPIRegistry.add(schema, { _internal: { refId: name } });
  }
}

const json = (schema: z.ZodType, mediaType = 'application/json') => ({ [mediaType]: { schema } });

function answerOf({ description, schema, mediaType, stream, headers }: RouteAnswer) {
  return {
    description,
    ...((schema || stream) && {
      content: {
        ...(schema && json(schema, mediaType)),
        // OpenAPI 3.1 has no schema for each event of a stream (3.2's itemSchema): here the schema
        // is that of one event's `data`, as the answer's description says.
        ...(stream && { 'text/event-stream': { schema: stream } }),
      },
    }),
    ...(headers && { headers: Object.fromEntries(Object.entries(headers).map(([name, what]) => [name, { description: what, schema: { type: 'string' as const } }])) }),
  };
}

function operationOf(route: RouteSpec): RouteConfig {
  const errorBody = route.errorSchema ?? apiErrorBodySchema;
  const errors = { ...commonErrors(route), ...route.errors };
  const roleNote = route.role ? `Needs an API key with the \`${route.role}\` role.` : 'Open without an API key.';
  return {
    method: route.method,
    path: openApiPath(route.path),
    tags: [route.tag],
    summary: route.summary,
    description: [route.description, roleNote].filter(Boolean).join('\n\n'),
    operationId: `${route.method}${openApiPath(route.path).replace(/[{}]/g, '').replace(/[^a-zA-Z0-9]+(.)?/g, (_, c: string = '') => c.toUpperCase())}`,
    security: route.role ? [{ bearerAuth: [] }] : [],
    request: {
      ...(route.params && { params: route.params }),
      ...(route.query && { query: route.query }),
      ...(route.headers && { headers: route.headers }),
      ...(route.body && { body: { required: !route.body.safeParse(undefined).success, content: json(route.body) } }),
    },
    responses: {
      ...Object.fromEntries(Object.entries(route.answers).map(([status, answer]) => [status, answerOf(answer)])),
      ...Object.fromEntries(Object.entries(errors).map(([status, when]) => [status, {
        description: when,
        content: json(errorBody),
        ...((status === '503' || status === '429') && { headers: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' as const } } } }),
      }])),
    },
  };
}

let cached: ReturnType<OpenApiGeneratorV31['generateDocument']> | undefined;

/** The OpenAPI 3.1 document of every route in `apiRoutes` (built once). */
export function openApiDocument() {
  if (cached) return cached;
  nameTopLevelSchemas();
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http', scheme: 'bearer', description: 'An API key of the tenant: `Authorization: Bearer <key>`. Its roles decide what it may do.',
  });
  for (const route of apiRoutes) registry.registerPath(operationOf(route));
  cached = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Bosun API',
      version: '1',
      description: 'Durable, guarded, cost-controlled AI agent runs on Temporal. Errors answer `{ error: { code, message, problems } }` (the OpenAI-compatible route answers OpenAI\'s error shape).',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [...new Set(apiRoutes.map((r) => r.tag))].map((name) => ({ name })),
  });
  return cached;
}
