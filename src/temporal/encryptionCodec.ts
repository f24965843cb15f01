/**
 * Encrypts every payload Bosun hands to Temporal (workflow and activity inputs and results, signals,
 * queries, heartbeats), so the Temporal Service and its Web UI only ever hold ciphertext.
 *
 * Format of an encrypted payload:
 *   metadata.encoding            = "binary/encrypted"
 *   metadata["encryption-key-id"] = the id of the key that encrypted it
 *   data                          = IV (12 bytes) || AES-256-GCM ciphertext || auth tag (16 bytes)
 * The plaintext is the whole original payload (metadata and data) serialized as protobuf, so its
 * encoding and any other metadata are hidden too and restored exactly on decode.
 *
 * Keys rotate by id: new payloads use the current key, and any configured key decodes what it
 * encrypted. Payloads without the encrypted encoding pass through, so histories written before
 * encryption was switched on stay readable.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/** The keys of `Config.encryption`: id → 32 bytes of key material, and the id new payloads use. */
export interface EncryptionKeys {
  currentKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
}

/** A payload that cannot be decrypted: unknown key, tampered or truncated ciphertext. */
export class PayloadDecryptionError extends Error {
  override name = 'PayloadDecryptionError';
}

const utf8 = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

export function isEncrypted(payload: Payload): boolean {
  return utf8(payload.metadata?.encoding) === ENCRYPTED_ENCODING;
}

export class EncryptionCodec implements PayloadCodec {
  private readonly current: { id: string; key: Buffer };

  constructor(private readonly keys: EncryptionKeys) {
    const key = keys.keys.get(keys.currentKeyId);
    if (!key) throw new Error(`encryption: the current key id "${keys.currentKeyId}" is not among the configured keys`);
    for (const [id, material] of keys.keys) {
      if (material.length !== KEY_BYTES) throw new Error(`encryption: key "${id}" must be ${KEY_BYTES} bytes`);
    }
    this.current = { id: keys.currentKeyId, key };
  }

  get currentKeyId(): string {
    return this.current.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encryptOne(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decryptOne(payload));
  }

  encryptOne(payload: Payload): Payload {
    const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.current.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      metadata: {
        encoding: Buffer.from(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: Buffer.from(this.current.id),
      },
      data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
    };
  }

  decryptOne(payload: Payload): Payload {
    if (!isEncrypted(payload)) return payload;
    const keyId = utf8(payload.metadata?.[KEY_ID_METADATA]);
    if (!keyId) throw new PayloadDecryptionError(`encrypted payload has no "${KEY_ID_METADATA}" metadata`);
    const key = this.keys.keys.get(keyId);
    if (!key) {
      throw new PayloadDecryptionError(
        `payload was encrypted with key id "${keyId}", which is not configured (known ids: ${[...this.keys.keys.keys()].join(', ')}); ` +
          'add that key to BOSUN_ENCRYPTION_KEYS',
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(`encrypted payload (key id "${keyId}") is truncated`);
    const iv = data.subarray(0, IV_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const decipher = createDecipheriv(ALGORITHM, key, iv);
    decipher.setAuthTag(tag);
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(
        `encrypted payload (key id "${keyId}") failed authentication: it was altered, or key "${keyId}" is not the key that encrypted it`,
      );
    }
    const decoded = temporal.api.common.v1.Payload.decode(plaintext);
    return temporal.api.common.v1.Payload.toObject(decoded, { defaults: false }) as Payload;
  }
}

/** The codec for a configuration, or none when encryption is off. */
export function createEncryptionCodec(keys: EncryptionKeys | undefined): EncryptionCodec | undefined {
  return keys ? new EncryptionCodec(keys) : undefined;
}

/** The data converter for Temporal clients and workers: encrypting when keys are configured. */
export function encryptingDataConverter(codec: PayloadCodec | undefined): DataConverter {
  return codec ? { payloadCodecs: [codec] } : {};
}
