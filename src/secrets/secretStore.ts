/**
 * Where tool secrets come from: the worker's environment, a file, or a HashiCorp-Vault-compatible
 * KV v2 store. A tool gets the values it declares inside its activity, just before it runs; they
 * never travel through workflow inputs, history, the model's context, rows or logs.
 *
 * Errors name the secret and where it was looked for, never a value or a credential.
 */
import { readFile } from 'node:fs/promises';
import { SECRET_ENV_PREFIX, type SecretsConfig } from '../config';
import { secretNameIn, type Environment } from '../shared/environments';

export interface SecretStore {
  /** The secret's value; rejects with a SecretError when it has none. */
  get(name: string): Promise<string>;
}

export class SecretError extends Error {
  override name = 'SecretError';
  constructor(
    readonly secretName: string,
    message: string,
  ) {
    super(message);
  }
}

/** How long a value is reused before it is read again (so rotation takes effect within this). */
export const SECRET_CACHE_TTL_MS = 30_000;

const secretName = /^[A-Z][A-Z0-9_]{0,99}$/;

function checkName(name: string): void {
  if (!secretName.test(name)) throw new SecretError(name, `"${name.slice(0, 100)}" is not a secret name (upper-case letters, digits and _)`);
}

export function createSecretStore(config: SecretsConfig, options: { fetch?: typeof fetch; ttlMs?: number } = {}): SecretStore {
  const store =
    config.backend === 'env'
      ? envSecretStore(config.values, config.prefix)
      : config.backend === 'file'
        ? fileSecretStore(config.path)
        : vaultSecretStore({ ...config, fetch: options.fetch });
  return cachedSecretStore(store, options.ttlMs ?? SECRET_CACHE_TTL_MS);
}

/** `<prefix><NAME>` of the environment given at construction (config.ts collects them; nothing reads process.env here). */
export function envSecretStore(env: Readonly<Record<string, string | undefined>>, prefix = SECRET_ENV_PREFIX): SecretStore {
  return {
    async get(name) {
      checkName(name);
      const value = env[`${prefix}${name}`];
      if (value === undefined || value === '') throw new SecretError(name, `secret ${name} is not set (environment variable ${prefix}${name})`);
      return value;
    },
  };
}

/**
 * A JSON object of names to string values, or `NAME=value` lines (blank lines and `#` comments
 * ignored, optional single or double quotes around the value). Read again on every call: wrap it
 * in `cachedSecretStore` (createSecretStore does).
 */
export function fileSecretStore(path: string): SecretStore {
  return {
    async get(name) {
      checkName(name);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        throw new SecretError(name, `cannot read the secrets file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      const value = parseSecretsFile(text, path).get(name);
      if (value === undefined || value === '') throw new SecretError(name, `secret ${name} is not in the secrets file ${path}`);
      return value;
    },
  };
}

/** Parses a secrets file; problems name line numbers, never content. */
export function parseSecretsFile(text: string, path = 'secrets file'): Map<string, string> {
  const values = new Map<string, string>();
  if (text.trimStart().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SecretError('', `${path} is not valid JSON`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new SecretError('', `${path} must hold a JSON object`);
    for (const [key, value] of Object.entries(json)) {
      if (typeof value !== 'string') throw new SecretError(key, `${path}: the value of ${key} must be a string`);
      values.set(key, value);
    }
    return values;
  }
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new SecretError('', `${path}: line ${i + 1} is not NAME=value`);
    let value = m[2]!;
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) value = value.slice(1, -1);
    values.set(m[1]!, value);
  });
  return values;
}

export interface VaultOptions {
  /** e.g. https://vault.internal:8200 */
  addr: string;
  token: string;
  /** The KV v2 mount, `secret` by default. */
  mount: string;
  /** Prepended to the secret's name to make its path under the mount, e.g. `bosun/`. */
  pathPrefix: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/**
 * KV v2: `GET {addr}/v1/{mount}/data/{pathPrefix}{NAME}` with `X-Vault-Token`; the value is the
 * entry's `value` field, or else its field named like the secret.
 */
export function vaultSecretStore({ addr, token, mount, pathPrefix, fetch: doFetch = fetch, timeoutMs = 5000 }: VaultOptions): SecretStore {
  const base = addr.replace(/\/+$/, '');
  const trim = (s: string) => s.replace(/^\/+|\/+$/g, '');
  return {
    async get(name) {
      checkName(name);
      const path = [trim(mount), 'data', trim(`${pathPrefix}${name}`)].filter(Boolean).join('/');
      const where = `Vault ${path}`;
      let res: Response;
      try {
        res = await doFetch(`${base}/v1/${path.split('/').map(encodeURIComponent).join('/')}`, {
          headers: { 'x-vault-token': token, accept: 'application/json' },
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
      } catch (err) {
        const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'cannot connect';
        throw new SecretError(name, `secret ${name}: ${where}: ${reason}`);
      }
      // The body is not quoted in any message: it may hold data.
      if (res.status === 404) throw new SecretError(name, `secret ${name} is not in ${where}`);
      if (res.status === 401 || res.status === 403) throw new SecretError(name, `secret ${name}: ${where} refused the token (${res.status})`);
      if (!res.ok) throw new SecretError(name, `secret ${name}: ${where} answered ${res.status}`);
      let body: { data?: { data?: Record<string, unknown> } };
      try {
        body = (await res.json()) as typeof body;
      } catch {
        throw new SecretError(name, `secret ${name}: ${where} did not answer JSON`);
      }
      const fields = body.data?.data ?? {};
      const value = typeof fields.value === 'string' ? fields.value : fields[name];
      if (typeof value !== 'string' || value === '') throw new SecretError(name, `secret ${name}: ${where} has no string field "value" or "${name}"`);
      return value;
    },
  };
}

/** Reuses each value for `ttlMs`; failures are not cached, and concurrent reads of one name share a lookup. */
export function cachedSecretStore(store: SecretStore, ttlMs: number, now: () => number = Date.now): SecretStore {
  const cache = new Map<string, { expires: number; value: Promise<string> }>();
  return {
    get(name) {
      const hit = cache.get(name);
      if (hit && hit.expires > now()) return hit.value;
      const value = store.get(name);
      cache.set(name, { expires: now() + ttlMs, value });
      value.catch(() => {
        if (cache.get(name)?.value === value) cache.delete(name);
      });
      return value;
    },
  };
}

/** Resolves the named secrets at once; the first missing one rejects. */
export async function resolveSecrets(
  store: SecretStore | undefined, names: readonly string[], environment: Environment = 'production',
): Promise<Record<string, string>> {
  if (names.length === 0) return {};
  // A staging run's NAME is STAGING_NAME in the store: it never sees production's value.
  const stored = names.map((name) => secretNameIn(environment, name));
  if (!store) throw new SecretError(stored[0]!, `secret ${stored[0]} is needed but this worker has no secret store`);
  const values = await Promise.all(stored.map((name) => store.get(name)));
  return Object.fromEntries(names.map((name, i) => [name, values[i]!]));
}
