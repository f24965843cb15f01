import { createHash } from 'node:crypto';
import type { BundleContent } from '../shared/bundle';

/** `<agent>@<first 12 hex of the SHA-256 of the canonical content>`: same content, same ID. */
export function bundleIdOf(content: BundleContent): string {
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
