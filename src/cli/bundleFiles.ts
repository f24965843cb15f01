/** Bundles as engineers keep them in git: `<dir>/bundle.yaml` beside the prompt file it names. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export class BundleFileError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}:\n  - ${problems.join('\n  - ')}`);
  }
}

const fileSchema = z.looseObject({ prompt: z.string().min(1).describe('path of the prompt file, relative to bundle.yaml') });

/**
 * Reads a bundle directory into the body `POST /v1/bundles` takes: the prompt file's text becomes
 * `systemPrompt`. Everything else is validated by the API at publish time.
 */
export function readBundleDir(dir: string): Record<string, unknown> {
  const file = path.join(dir, 'bundle.yaml');
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new BundleFileError(file, [err instanceof Error ? err.message : String(err)]);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw new BundleFileError(file, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  const { prompt, ...rest } = parsed.data;
  const promptFile = path.resolve(dir, prompt);
  if (!existsSync(promptFile)) throw new BundleFileError(file, [`prompt: ${prompt} does not exist`]);
  return { ...rest, systemPrompt: readFileSync(promptFile, 'utf8') };
}

/** Every `<agentsDir>/<agent>/bundle.yaml`, read. */
export function readAgentsDir(agentsDir: string): Record<string, unknown>[] {
  return readdirSync(agentsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(agentsDir, entry.name, 'bundle.yaml')))
    .map((entry) => readBundleDir(path.join(agentsDir, entry.name)));
}
