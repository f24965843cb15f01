import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import {
  cachedSecretStore, createSecretStore, envSecretStore, fileSecretStore, parseSecretsFile, resolveSecrets, SecretError, vaultSecretStore,
  type SecretStore,
} from '../../src/secrets/secretStore';

const VALUE = 'v4lue-that-must-not-leak';

/** A store's failure, which must name the secret and never quote a value or a token. */
async function failureOf(store: SecretStore, name: string, ...forbidden: string[]): Promise<string> {
  const err = await store.get(name).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SecretError);
  const message = (err as Error).message;
  for (const text of [VALUE, ...forbidden]) expect(message).not.toContain(text);
  return message;
}

describe('environment secrets', () => {
  it('reads <prefix><NAME> from the environment it was given', async () => {
    const store = envSecretStore({ BOSUN_SECRET_PARTNER_API_TOKEN: VALUE, PARTNER_API_TOKEN: 'unprefixed' });
    expect(await store.get('PARTNER_API_TOKEN')).toBe(VALUE);
    expect(await failureOf(store, 'MISSING')).toMatch(/MISSING is not set \(environment variable BOSUN_SECRET_MISSING\)/);
    expect(await failureOf(store, 'lower-case')).toMatch(/not a secret name/);
  });

  it('comes from loadConfig, which collects BOSUN_SECRET_* (and nothing else reads process.env)', async () => {
    const config = loadConfig({ BOSUN_SECRET_A: 'one', BOSUN_SECRET_B: '', BOSUN_SECRETS_FILE: '/x', OTHER: 'no' });
    expect(config.secrets).toEqual({ backend: 'env', prefix: 'BOSUN_SECRET_', values: { BOSUN_SECRET_A: 'one' } });
    expect(await createSecretStore(config.secrets).get('A')).toBe('one');
  });
});

describe('file secrets', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'bosun-secrets-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a JSON object', async () => {
    const file = path.join(dir, 'secrets.json');
    writeFileSync(file, JSON.stringify({ PARTNER_API_TOKEN: VALUE, OTHER: 'x' }));
    const store = fileSecretStore(file);
    expect(await store.get('PARTNER_API_TOKEN')).toBe(VALUE);
    expect(await failureOf(store, 'NOPE')).toMatch(/NOPE is not in the secrets file/);
  });

  it('reads NAME=value lines, with comments, export and quotes', async () => {
    const file = path.join(dir, 'secrets.env');
    writeFileSync(file, `# partner\nexport PARTNER_API_TOKEN="${VALUE}"\n\nPLAIN = a=b\nSINGLE='q'\n`);
    const store = fileSecretStore(file);
    expect(await store.get('PARTNER_API_TOKEN')).toBe(VALUE);
    expect(await store.get('PLAIN')).toBe('a=b');
    expect(await store.get('SINGLE')).toBe('q');
  });

  it('names the line of a malformed file without quoting it, and a missing file by its path', async () => {
    expect(() => parseSecretsFile(`OK=1\n${VALUE}\n`, 'f')).toThrow(/f: line 2 is not NAME=value/);
    expect(() => parseSecretsFile(`OK=1\n${VALUE}\n`, 'f')).not.toThrow(new RegExp(VALUE));
    expect(() => parseSecretsFile(`{"A": ${JSON.stringify(VALUE)}`, 'f')).toThrow(/f is not valid JSON/);
    expect(() => parseSecretsFile('{"A": 1}', 'f')).toThrow(/value of A must be a string/);
    expect(await failureOf(fileSecretStore(path.join(dir, 'absent')), 'A')).toMatch(/cannot read the secrets file .*absent: ENOENT/);
  });

  it('comes from BOSUN_SECRETS_BACKEND=file, which needs BOSUN_SECRETS_FILE', () => {
    expect(loadConfig({ BOSUN_SECRETS_BACKEND: 'file', BOSUN_SECRETS_FILE: '/run/secrets/bosun' }).secrets).toEqual({ backend: 'file', path: '/run/secrets/bosun' });
    expect(() => loadConfig({ BOSUN_SECRETS_BACKEND: 'file' })).toThrow(/BOSUN_SECRETS_FILE: required/);
  });
});

describe('Vault KV v2 secrets', () => {
  const token = 'hvs.test-token-do-not-print';
  let server: http.Server;
  let addr: string;
  const seen: { url: string; token: string | undefined }[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', token: req.headers['x-vault-token'] as string | undefined });
      const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.headers['x-vault-token'] !== token) return send(403, { errors: ['permission denied'] });
      if (req.url === '/v1/secret/data/bosun/PARTNER_API_TOKEN') return send(200, { data: { data: { value: VALUE }, metadata: { version: 3 } } });
      if (req.url === '/v1/kv/team/data/apps/bosun/NAMED') return send(200, { data: { data: { NAMED: 'named-field' } } });
      if (req.url === '/v1/secret/data/bosun/NO_FIELD') return send(200, { data: { data: { other: VALUE } } });
      if (req.url === '/v1/secret/data/bosun/BROKEN') return send(500, { errors: [VALUE] });
      return send(404, { errors: [] });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    addr = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const store = (overrides: Partial<Parameters<typeof vaultSecretStore>[0]> = {}) =>
    vaultSecretStore({ addr, token, mount: 'secret', pathPrefix: 'bosun/', ...overrides });

  it('reads data.data.value from {addr}/v1/{mount}/data/{prefix}{NAME} with X-Vault-Token', async () => {
    expect(await store().get('PARTNER_API_TOKEN')).toBe(VALUE);
    expect(seen.at(-1)).toEqual({ url: '/v1/secret/data/bosun/PARTNER_API_TOKEN', token });
  });

  it('falls back to the field named like the secret, under any mount and prefix', async () => {
    expect(await store({ mount: 'kv/team', pathPrefix: 'apps/bosun/' }).get('NAMED')).toBe('named-field');
  });

  it('fails clearly, never quoting the token or what Vault answered', async () => {
    expect(await failureOf(store(), 'ABSENT', token)).toMatch(/ABSENT is not in Vault secret\/data\/bosun\/ABSENT/);
    expect(await failureOf(store({ token: 'wrong-token' }), 'PARTNER_API_TOKEN', 'wrong-token')).toMatch(/refused the token \(403\)/);
    expect(await failureOf(store(), 'NO_FIELD', token)).toMatch(/no string field "value" or "NO_FIELD"/);
    expect(await failureOf(store(), 'BROKEN', token)).toMatch(/answered 500/);
    expect(await failureOf(store({ addr: 'http://127.0.0.1:1' }), 'PARTNER_API_TOKEN', token)).toMatch(/cannot connect/);
  });

  it('comes from BOSUN_SECRETS_BACKEND=vault, which needs an address and a token (never echoed)', () => {
    expect(loadConfig({ BOSUN_SECRETS_BACKEND: 'vault', BOSUN_VAULT_ADDR: addr, BOSUN_VAULT_TOKEN: token }).secrets).toEqual({
      backend: 'vault', addr, token, mount: 'secret', pathPrefix: 'bosun/',
    });
    let problems: string[] = [];
    try {
      loadConfig({ BOSUN_SECRETS_BACKEND: 'vault', BOSUN_VAULT_MOUNT: 'kv' });
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual(['BOSUN_VAULT_ADDR: required when BOSUN_SECRETS_BACKEND=vault', 'BOSUN_VAULT_TOKEN: required when BOSUN_SECRETS_BACKEND=vault']);
    expect(() => loadConfig({ BOSUN_SECRETS_BACKEND: 'aws' })).toThrow(/BOSUN_SECRETS_BACKEND/);
  });
});

describe('the cache', () => {
  it('reuses a value for the TTL, then reads again; failures are not kept', async () => {
    let now = 0;
    let reads = 0;
    let value: string | undefined = 'one';
    const inner: SecretStore = {
      async get(name) {
        reads += 1;
        if (value === undefined) throw new SecretError(name, `${name} missing`);
        return value;
      },
    };
    const store = cachedSecretStore(inner, 30_000, () => now);
    expect(await Promise.all([store.get('A'), store.get('A')])).toEqual(['one', 'one']);
    expect(reads).toBe(1);
    value = 'two';
    now = 29_999;
    expect(await store.get('A')).toBe('one');
    now = 30_000;
    expect(await store.get('A')).toBe('two');
    expect(reads).toBe(2);
    value = undefined;
    now = 70_000;
    await expect(store.get('A')).rejects.toThrow(/A missing/);
    value = 'three';
    expect(await store.get('A')).toBe('three');
  });

  it('resolves a set of names at once, and needs a store only when there are names', async () => {
    const store = envSecretStore({ BOSUN_SECRET_A: '1', BOSUN_SECRET_B: '2' });
    expect(await resolveSecrets(store, ['A', 'B'])).toEqual({ A: '1', B: '2' });
    expect(await resolveSecrets(undefined, [])).toEqual({});
    await expect(resolveSecrets(undefined, ['A'])).rejects.toThrow(/no secret store/);
    await expect(resolveSecrets(store, ['A', 'C'])).rejects.toThrow(/C is not set/);
  });
});
