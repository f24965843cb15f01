import type { Request } from 'express';
import type { z } from 'zod';
import { badRequest, notFound, zodProblems } from './errors';

/** Parses input with its schema, or answers 400 listing every problem. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest(zodProblems(parsed.error));
  return parsed.data;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID route parameter; anything else cannot name a stored row, so it is a 404. */
export function uuidParam(req: Request, name: string, what: string): string {
  const value = req.params[name];
  if (typeof value !== 'string' || !uuidPattern.test(value)) throw notFound(what);
  return value.toLowerCase();
}

export function stringParam(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}
