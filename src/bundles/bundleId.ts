import { createHash } from 'node:crypto';
import type { PinnedContent } from '../shared/bundle';

/** `<agent>@<first 12 hex of the SHA-256 of the canonical content>`: same content, same ID. */
export function bundleIdOf(content: PinnedContent): string {
  return `${content.name}@${createHash('sha256').update(canonicalJson(content)).digest('hex').slice(0, 12)}`;
}

/** JSON with keys sorted at every depth and undefined values left out. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The pin of a tool's schema: the first 16 hex of the SHA-256 of its canonical JSON. Whatever the
 * model and the validator see of a tool (its argument schema, and for MCP tools its annotations)
 * goes in, so a bundle's ID changes whenever any of it does.
 */
export function schemaHashOf(schema: unknown): string {
  return createHash('sha256').update(canonicalJson(schema)).digest('hex').slice(0, 16);
}
