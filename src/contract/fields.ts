/** Field shapes several resources of the contract share. */
import { z } from 'zod';
import { runStatuses } from '../shared/domain';
import { environments } from '../shared/environments';

/** A time as the API sends it: ISO 8601 with its offset, e.g. `2026-11-29T10:00:00.000Z`. */
export const timestamp = z.iso.datetime({ offset: true });

/** A JSON object whose keys the contract leaves open (metadata, tool arguments, details, figures). */
export const jsonObject = z.record(z.string(), z.unknown());

/** `limit` of a paged list: 1 to `max` items, `fallback` when absent. */
export const pageLimit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);

/** `cursor` of a paged list. */
export const pageCursor = z.string().max(200).optional().describe('`nextCursor` of the previous page.');

/** A page's `nextCursor`: pass it as `cursor` for the next page; null on the last one. */
export const nextCursor = z.string().nullable();

/** A run's status, as every answer names it. */
export const runStatusSchema = z.enum(runStatuses);

/** Where a run runs: production (live tools) or staging (sandboxed tools, staging secrets). */
export const environmentSchema = z.enum(environments);

const metadataValue = z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]);

/** Free-form labels of a run or a thread: at most 50 keys, flat values. */
export const metadataSchema = z.record(z.string().max(100), metadataValue).refine((m) => Object.keys(m).length <= 50, 'at most 50 keys');

/**
 * The path parameters of a route, each a string as the URL carries it (a malformed ID names no
 * stored row, so routes answer 404 for it rather than 400).
 */
export const pathParams = <K extends string>(described: Record<K, string>) =>
  z.object(Object.fromEntries(Object.entries(described).map(([name, what]) => [name, z.string().describe(what as string)])) as Record<K, z.ZodString>);
