import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { bundleFileSchema, type Bundle } from '../shared/bundle';

export class BundleError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}:\n  - ${problems.join('\n  - ')}`);
  }
}

/** The bundles a process knows, by ID, and the one each agent currently runs. */
export interface BundleRegistry {
  byId(bundleId: string): Bundle | undefined;
  currentFor(agent: string): Bundle | undefined;
}

/** Loads every `<agentsDir>/<agent>/bundle.yaml`, validating each and hashing it into its ID. */
export function loadBundles(agentsDir: string): BundleRegistry {
  const bundles = readdirSync(agentsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(agentsDir, entry.name, 'bundle.yaml')))
    .map((entry) => loadBundle(path.join(agentsDir, entry.name, 'bundle.yaml')));
  const byId = new Map(bundles.map((b) => [b.id, b]));
  const byAgent = new Map(bundles.map((b) => [b.name, b]));
  return { byId: (id) => byId.get(id), currentFor: (agent) => byAgent.get(agent) };
}

export function loadBundle(file: string): Bundle {
  const parsed = bundleFileSchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new BundleError(file, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const { prompt, ...rest } = parsed.data;
  const systemPrompt = readFileSync(path.resolve(path.dirname(file), prompt), 'utf8');
  const content = { ...rest, systemPrompt };
  return { ...content, id: `${rest.name}@${contentHash(content)}` };
}

/** First 12 hex of the SHA-256 of the bundle's canonical JSON (keys sorted at every depth). */
export function contentHash(content: unknown): string {
  return createHash('sha256').update(canonicalJson(content)).digest('hex').slice(0, 12);
}

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
