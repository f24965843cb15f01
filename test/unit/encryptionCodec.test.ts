import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { EncryptionCodec, PayloadDecryptionError, type EncryptionKeys } from '../../src/temporal/encryptionCodec';

const oldKey = randomBytes(32);
const newKey = randomBytes(32);
const keys = (current: string, entries: Record<string, Buffer>): EncryptionKeys => ({ currentKeyId: current, keys: new Map(Object.entries(entries)) });
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');

/** A payload as comparable plain data (protobufjs hands back Buffers where the converter made Uint8Arrays). */
const plain = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('hex')])),
  data: Buffer.from(p.data ?? []).toString('hex'),
});

const samples: Payload[] = [
  defaultPayloadConverter.toPayload({ runId: 'r1', input: 'Refund order 1001', arguments: '{"order_id":"1001"}' }),
  defaultPayloadConverter.toPayload(undefined),
  defaultPayloadConverter.toPayload(new Uint8Array([0, 1, 2, 255])),
  defaultPayloadConverter.toPayload('x'.repeat(100_000)),
];

describe('EncryptionCodec', () => {
  const codec = new EncryptionCodec(keys('old', { old: oldKey }));

  it('round-trips payloads, hiding their data and their encoding', async () => {
    const encoded = await codec.encode(samples);
    expect(encoded).toHaveLength(samples.length);
    for (const payload of encoded) {
      expect(Object.keys(payload.metadata!).sort()).toEqual(['encoding', 'encryption-key-id']);
      expect(text(payload.metadata!.encoding)).toBe('binary/encrypted');
      expect(text(payload.metadata!['encryption-key-id'])).toBe('old');
      expect(Buffer.from(payload.data!).includes('order_id')).toBe(false);
      expect(Buffer.from(payload.data!).includes('json/plain')).toBe(false);
    }
    const decoded = await codec.decode(encoded);
    expect(decoded.map(plain)).toEqual(samples.map(plain));
    expect(defaultPayloadConverter.fromPayload(decoded[0]!)).toEqual({ runId: 'r1', input: 'Refund order 1001', arguments: '{"order_id":"1001"}' });
  });

  it('uses a fresh IV every time', async () => {
    const [a, b] = await codec.encode([samples[0]!, samples[0]!]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
    expect(Buffer.from(a!.data!).subarray(0, 12).equals(Buffer.from(b!.data!).subarray(0, 12))).toBe(false);
  });

  it('refuses tampered ciphertext, IV, auth tag or truncated data', async () => {
    const [encoded] = await codec.encode([samples[0]!]);
    const data = Buffer.from(encoded!.data!);
    for (const offset of [0, 12, 20, data.length - 1]) {
      const altered = Buffer.from(data);
      altered[offset]! ^= 0x01;
      await expect(codec.decode([{ ...encoded, data: altered }])).rejects.toThrow(/failed authentication: it was altered/);
    }
    await expect(codec.decode([{ ...encoded, data: data.subarray(0, 20) }])).rejects.toThrow(/truncated/);
    await expect(codec.decode([{ ...encoded, data: data.subarray(0, 20) }])).rejects.toBeInstanceOf(PayloadDecryptionError);
  });

  it('names an unknown or missing key id clearly', async () => {
    const [encoded] = await codec.encode([samples[0]!]);
    const other = new EncryptionCodec(keys('other', { other: newKey }));
    await expect(other.decode([encoded!])).rejects.toThrow(/encrypted with key id "old", which is not configured \(known ids: other\)/);
    await expect(codec.decode([{ ...encoded, metadata: { encoding: encoded!.metadata!.encoding! } }])).rejects.toThrow(/no "encryption-key-id"/);
    // The right id with the wrong key material: authentication fails rather than returning garbage.
    const impostor = new EncryptionCodec(keys('old', { old: newKey }));
    await expect(impostor.decode([encoded!])).rejects.toThrow(/failed authentication/);
  });

  it('decodes payloads of a retired current key after rotation', async () => {
    const [beforeRotation] = await codec.encode([samples[0]!]);
    const rotated = new EncryptionCodec(keys('new', { old: oldKey, new: newKey }));
    const [afterRotation] = await rotated.encode([samples[0]!]);
    expect(text(afterRotation!.metadata!['encryption-key-id'])).toBe('new');

    const decoded = await rotated.decode([beforeRotation!, afterRotation!]);
    expect(decoded.map(plain)).toEqual([plain(samples[0]!), plain(samples[0]!)]);
    // A process that was not given the new key says so, rather than failing obscurely.
    await expect(codec.decode([afterRotation!])).rejects.toThrow(/key id "new", which is not configured/);
  });

  it('passes unencrypted payloads through, so histories from before encryption stay readable', async () => {
    const decoded = await codec.decode(samples);
    decoded.forEach((payload, i) => expect(payload).toBe(samples[i]));
    expect(await codec.decode([])).toEqual([]);
  });

  it('refuses a current key id that is not configured, or key material of the wrong size', () => {
    expect(() => new EncryptionCodec(keys('missing', { old: oldKey }))).toThrow(/current key id "missing"/);
    expect(() => new EncryptionCodec(keys('short', { short: randomBytes(16) }))).toThrow(/must be 32 bytes/);
  });
});

describe('encryption configuration', () => {
  const oldB64 = oldKey.toString('base64');
  const newB64 = newKey.toString('base64');

  it('is off without keys', () => {
    expect(loadConfig({}).encryption).toBeUndefined();
    expect(loadConfig({ BOSUN_ENCRYPTION_KEYS: '', BOSUN_ENCRYPTION_KEY_ID: '' }).encryption).toBeUndefined();
  });

  it('reads the keys, the current one defaulting to the last listed', () => {
    const config = loadConfig({ BOSUN_ENCRYPTION_KEYS: `old:${oldB64}, new:${newB64}` });
    expect(config.encryption!.currentKeyId).toBe('new');
    expect([...config.encryption!.keys.keys()]).toEqual(['old', 'new']);
    expect(config.encryption!.keys.get('old')!.equals(oldKey)).toBe(true);
    expect(loadConfig({ BOSUN_ENCRYPTION_KEYS: `old:${oldB64},new:${newB64}`, BOSUN_ENCRYPTION_KEY_ID: 'old' }).encryption!.currentKeyId).toBe('old');
    // The configuration feeds the codec as is.
    expect(new EncryptionCodec(config.encryption!).currentKeyId).toBe('new');
  });

  it('lists every problem without quoting key material', () => {
    const short = randomBytes(16).toString('base64');
    const notBase64 = `${randomBytes(24).toString('hex')}!!`;
    const bare = randomBytes(32).toString('base64');
    const secrets = [oldB64, short, notBase64, bare, newB64];
    const attempt = () =>
      loadConfig({
        BOSUN_ENCRYPTION_KEYS: [`a:${oldB64}`, `b:${short}`, `c:${notBase64}`, bare, `a:${newB64}`, `bad id!:${newB64}`].join(','),
      });
    expect(attempt).toThrow(ConfigError);
    let problems: string[] = [];
    try {
      attempt();
    } catch (err) {
      problems = (err as ConfigError).problems;
      const message = (err as Error).message;
      for (const secret of secrets) {
        expect(message).not.toContain(secret);
        expect(message).not.toContain(secret.slice(0, 8));
      }
    }
    expect(problems).toEqual([
      expect.stringMatching(/^BOSUN_ENCRYPTION_KEYS: entry 2: key "b" must be 32 bytes, not 16/),
      expect.stringMatching(/^BOSUN_ENCRYPTION_KEYS: entry 3: key "c" is not valid base64/),
      expect.stringMatching(/^BOSUN_ENCRYPTION_KEYS: entry 4 must look like id:<base64 of 32 bytes>/),
      expect.stringMatching(/^BOSUN_ENCRYPTION_KEYS: entry 5: key id "a" is listed more than once/),
      expect.stringMatching(/^BOSUN_ENCRYPTION_KEYS: entry 6: the key id must be/),
    ]);
  });

  it('refuses a current key id that names no key, without echoing it', () => {
    const pastedKey = newB64.replace(/[+/=]/g, 'A');
    expect(() => loadConfig({ BOSUN_ENCRYPTION_KEYS: `old:${oldB64}`, BOSUN_ENCRYPTION_KEY_ID: pastedKey })).toThrow(
      /BOSUN_ENCRYPTION_KEY_ID: names none of the keys in BOSUN_ENCRYPTION_KEYS \(their ids: old\)/,
    );
    expect(() => loadConfig({ BOSUN_ENCRYPTION_KEYS: `old:${oldB64}`, BOSUN_ENCRYPTION_KEY_ID: pastedKey })).not.toThrow(pastedKey.slice(0, 8));
    expect(() => loadConfig({ BOSUN_ENCRYPTION_KEY_ID: 'old' })).toThrow(/BOSUN_ENCRYPTION_KEY_ID: set, but BOSUN_ENCRYPTION_KEYS lists no keys/);
  });

  it('allows the Temporal UI origins to call the codec server', () => {
    expect(loadConfig({}).codecServer.corsOrigins).toEqual(['http://127.0.0.1:8233', 'http://localhost:8233']);
    expect(loadConfig({ BOSUN_CODEC_CORS_ORIGIN: 'https://temporal.example.com/' }).codecServer.corsOrigins).toEqual(['https://temporal.example.com']);
    expect(() => loadConfig({ BOSUN_CODEC_CORS_ORIGIN: 'https://temporal.example.com/ui' })).toThrow(/BOSUN_CODEC_CORS_ORIGIN: .* is not an origin/);
    expect(() => loadConfig({ BOSUN_CODEC_CORS_ORIGIN: '*' })).toThrow(/is not an origin/);
  });
});
