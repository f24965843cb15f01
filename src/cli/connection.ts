/** Where the CLI finds the API and its key: flags, then environment, then the file `npm start` writes. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CliError } from './apiClient';

export const defaultBaseUrl = 'http://127.0.0.1:8080';

const devKeyFile = path.join('.data', 'dev-api-key');
/** The checkout this CLI belongs to, for `npm start`'s key when run from another directory. */
const checkoutRoot = path.resolve(__dirname, '../..');

export function resolveBaseUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const url = flag ?? (env.BOSUN_URL || defaultBaseUrl);
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new CliError(`not an http(s) URL: ${url}`);
  return url;
}

export function resolveApiKey(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  const key = flag ?? (env.BOSUN_API_KEY || readDevKey(cwd));
  if (!key) {
    throw new CliError(`no API key: pass --key, set BOSUN_API_KEY, or run \`npm start\` (it writes ${devKeyFile}).`);
  }
  return key;
}

function readDevKey(cwd: string): string | undefined {
  for (const root of [cwd, checkoutRoot]) {
    const file = path.join(root, devKeyFile);
    if (existsSync(file)) return readFileSync(file, 'utf8').trim() || undefined;
  }
  return undefined;
}
