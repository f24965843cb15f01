/**
 * What the OpenAPI document (./openapi.ts) knows of one route: its path as Express mounts it, who
 * may call it, the schemas of its request and of each answer. Each resource's file lists its routes
 * next to their schemas (`runRoutes` in ./runs.ts, …); ./openapi.ts gathers the lists. Pure data.
 */
import type { z } from 'zod';
import type { Role } from '../shared/roles';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** One answer of a route. */
export interface RouteAnswer {
  description: string;
  /** The body's schema; absent for an answer without one (204, an event stream only). */
  schema?: z.ZodType;
  /** The body's media type when it is not JSON, e.g. `text/plain` (Prometheus metrics) or `text/html`. */
  mediaType?: string;
  /** For an answer of Server-Sent Events (`text/event-stream`): the schema of each event's `data`. */
  stream?: z.ZodType;
  /** Headers the answer carries, by name, with what they mean. */
  headers?: Record<string, string>;
}

export interface RouteSpec {
  method: HttpMethod;
  /** The path as Express mounts it, parameters as `:name`: `/v1/runs/:runId`. */
  path: string;
  /** The area the route belongs to (the document's tag), e.g. `Runs`. */
  tag: string;
  summary: string;
  description?: string;
  /** The role the bearer API key must hold; null for a route open without a key (probes, the document). */
  role: Role | null;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request headers the route reads (e.g. `Idempotency-Key`). */
  headers?: z.ZodObject;
  body?: z.ZodType;
  /** The answers other than errors, by status. */
  answers: Record<number, RouteAnswer>;
  /**
   * Error statuses of this route beyond those ./openapi.ts gives every keyed route (400, 401, 403,
   * 413, 500, 503), by status, with when they happen: e.g. `{ 404: 'No such run.' }`.
   */
  errors?: Record<number, string>;
  /** The body of this route's errors when it is not the API's error body (the OpenAI-compatible route). */
  errorSchema?: z.ZodType;
}

/** A route list, typed; `routes([...])` keeps each area's list short. */
export const routes = (list: RouteSpec[]): RouteSpec[] => list;
