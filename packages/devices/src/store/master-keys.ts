import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { IV_BYTES, TAG_BYTES, WxsealError } from '@wxseal/protocol';
import { aesGcmDecrypt, aesGcmEncrypt, b64uDecodeStrict, b64uEncode } from '@wxseal/protocol/primitives';
import { DeviceStoreError } from './errors.js';

/** A master key is 32 random bytes (AES-256), written as base64url without padding. */
export const MASTER_KEY_BYTES = 32;
/** Master key ids: 1-32 characters of A-Z a-z 0-9 . _ - (no `:`, the separator of the compact form). */
export const MASTER_KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;
/** Environment variable holding the ring inline (compact or JSON form, see MasterKeyRing.parse). */
export const MASTER_KEYS_ENV = 'WXSEAL_DEVICE_MASTER_KEYS';
/** Environment variable naming a file that holds the ring (same forms). */
export const MASTER_KEY_FILE_ENV = 'WXSEAL_DEVICE_MASTER_KEY_FILE';

/** What a sealed value is, bound into its associated data so it cannot be moved to another row or column. */
export type SealPurpose = 'device-key-current' | 'device-key-previous' | 'product-secret';

export interface SealContext {
  purpose: SealPurpose;
  /** The device serial or the product id the value belongs to. */
  subject: string;
  /** The key version of the value (1 for product secrets). */
  version: number;
}

export interface MasterKeyRingInput {
  /** The id new ciphertexts are written under. Must be one of `keys`. */
  active: string;
  /** Every master key that may still protect a row: id → 32 bytes (or their base64url). */
  keys: Readonly<Record<string, string | Uint8Array>>;
}

/** Version byte of the sealed format: 0x01 || IV (12) || AES-256-GCM ciphertext || tag (16). */
const FORMAT_V1 = 0x01;
const AAD_LABEL = 'WXSEAL-DEVICES-1';

const configError = (message: string): never => {
  throw new WxsealError('WXSEAL_CONFIG_INVALID', message);
};

function decodeMasterKey(id: string, value: string | Uint8Array): Buffer {
  let bytes: Buffer | undefined;
  if (typeof value === 'string') bytes = b64uDecodeStrict(value.trim());
  else if (value instanceof Uint8Array) bytes = Buffer.from(value);
  if (!bytes || bytes.length !== MASTER_KEY_BYTES) {
    return configError(`master key ${id} must be ${MASTER_KEY_BYTES} bytes written as base64url without padding`);
  }
  return bytes;
}

/** The associated data of one sealed value: label, purpose, subject, version and master key id, LF-separated. */
export function sealAad(context: SealContext, masterKeyId: string): Buffer {
  return Buffer.from([AAD_LABEL, context.purpose, context.subject, String(context.version), masterKeyId].join('\n'), 'utf8');
}

/**
 * The master keys that protect device keys and product secrets at rest: one active key (used for
 * every new ciphertext) and older ones kept for reading until DeviceRepository.rewrapAll has moved
 * every row to the active one. Keys never leave the ring: it only seals and opens.
 *
 * Each value is sealed with AES-256-GCM under a fresh random IV, with associated data naming its
 * purpose (current key, previous key, product secret), its serial or product id, its key version
 * and the master key id, so a ciphertext copied to another row or column does not open.
 */
export class MasterKeyRing {
  readonly activeId: string;
  readonly #keys: ReadonlyMap<string, Buffer>;

  constructor(input: MasterKeyRingInput) {
    if (!input || typeof input !== 'object' || !input.keys || typeof input.keys !== 'object') {
      configError('a master key ring needs { active, keys }');
    }
    const keys = new Map<string, Buffer>();
    for (const [id, value] of Object.entries(input.keys)) {
      if (!MASTER_KEY_ID_PATTERN.test(id)) configError('a master key id must be 1-32 characters of A-Z a-z 0-9 . _ -');
      keys.set(id, decodeMasterKey(id, value));
    }
    if (keys.size === 0) configError('the master key ring is empty');
    if (typeof input.active !== 'string' || !keys.has(input.active)) configError('the active master key id is not in the ring');
    const seen = new Set<string>();
    for (const key of keys.values()) {
      const hex = key.toString('hex');
      if (seen.has(hex)) configError('two master key ids hold the same key');
      seen.add(hex);
    }
    this.activeId = input.active;
    this.#keys = keys;
  }

  /** A new random master key, as base64url text (for a key file or an environment variable). */
  static generateKey(): string {
    return b64uEncode(randomBytes(MASTER_KEY_BYTES));
  }

  /**
   * Reads a ring from text, in one of two forms:
   * - compact: `id:key` entries separated by commas, semicolons or whitespace; the FIRST entry is
   *   the active key (`m2:AAAA…,m1:BBBB…`); lines starting with `#` are comments;
   * - JSON: `{"active":"m2","keys":{"m1":"BBBB…","m2":"AAAA…"}}`.
   */
  static parse(text: string): MasterKeyRing {
    const trimmed = text.trim();
    if (trimmed.startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(trimmed);
      } catch {
        return configError('the master key ring is not valid JSON');
      }
      const obj = parsed as { active?: unknown; keys?: unknown };
      if (typeof obj.active !== 'string' || !obj.keys || typeof obj.keys !== 'object' || Array.isArray(obj.keys)) {
        return configError('a JSON master key ring is {"active": "<id>", "keys": {"<id>": "<base64url>"}}');
      }
      const keys: Record<string, string> = {};
      for (const [id, value] of Object.entries(obj.keys as Record<string, unknown>)) {
        if (typeof value !== 'string') return configError(`master key ${id} must be a base64url string`);
        keys[id] = value;
      }
      return new MasterKeyRing({ active: obj.active, keys });
    }
    const entries = trimmed
      .split('\n')
      .filter((line) => !line.trim().startsWith('#'))
      .join(' ')
      .split(/[\s,;]+/)
      .filter((e) => e !== '');
    const keys: Record<string, string> = {};
    let active: string | undefined;
    for (const entry of entries) {
      const colon = entry.indexOf(':');
      if (colon <= 0) return configError('a master key entry is <id>:<base64url key>');
      const id = entry.slice(0, colon);
      if (Object.prototype.hasOwnProperty.call(keys, id)) return configError(`master key ${id} appears twice`);
      keys[id] = entry.slice(colon + 1);
      active ??= id;
    }
    if (active === undefined) return configError('the master key ring is empty');
    return new MasterKeyRing({ active, keys });
  }

  /** Reads a ring from a file (either form of parse). */
  static fromFile(path: string): MasterKeyRing {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      return configError(`cannot read the master key file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return MasterKeyRing.parse(text);
  }

  /**
   * Reads a ring from WXSEAL_DEVICE_MASTER_KEYS (inline) or WXSEAL_DEVICE_MASTER_KEY_FILE (a path);
   * exactly one of the two must be set.
   */
  static fromEnv(env: Readonly<Record<string, string | undefined>> = process.env): MasterKeyRing {
    const inline = env[MASTER_KEYS_ENV];
    const file = env[MASTER_KEY_FILE_ENV];
    if (inline && file) return configError(`set either ${MASTER_KEYS_ENV} or ${MASTER_KEY_FILE_ENV}, not both`);
    if (inline) return MasterKeyRing.parse(inline);
    if (file) return MasterKeyRing.fromFile(file);
    return configError(`no master keys: set ${MASTER_KEYS_ENV} or ${MASTER_KEY_FILE_ENV}`);
  }

  /** Every master key id of the ring, the active one first. */
  get ids(): string[] {
    return [this.activeId, ...[...this.#keys.keys()].filter((id) => id !== this.activeId)];
  }

  has(id: string): boolean {
    return this.#keys.has(id);
  }

  /** The same keys with another active id (the first step of a master key rotation). */
  withActive(id: string): MasterKeyRing {
    if (!this.#keys.has(id)) configError(`master key ${id} is not in the ring`);
    return new MasterKeyRing({ active: id, keys: Object.fromEntries(this.#keys) });
  }

  /** Seals a value under the active key (or the named one). */
  seal(plaintext: Uint8Array, context: SealContext, masterKeyId: string = this.activeId): Buffer {
    const key = this.#keys.get(masterKeyId) ?? masterKeyUnknown(masterKeyId);
    const iv = randomBytes(IV_BYTES);
    const sealed = aesGcmEncrypt(key, iv, sealAad(context, masterKeyId), plaintext);
    return Buffer.concat([Buffer.of(FORMAT_V1), iv, sealed]);
  }

  /** Opens a sealed value; DeviceStoreError DEVICE_KEY_DECRYPT_FAILED when it does not belong to this context. */
  open(masterKeyId: string, sealed: Uint8Array, context: SealContext): Buffer {
    const key = this.#keys.get(masterKeyId) ?? masterKeyUnknown(masterKeyId);
    const data = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    const failed = (): never => {
      throw new DeviceStoreError('DEVICE_KEY_DECRYPT_FAILED', `the ${context.purpose} of ${context.subject} does not decrypt (wrong master key, or the row was altered)`);
    };
    if (data.length < 1 + IV_BYTES + TAG_BYTES || data[0] !== FORMAT_V1) return failed();
    try {
      return aesGcmDecrypt(key, data.subarray(1, 1 + IV_BYTES), sealAad(context, masterKeyId), data.subarray(1 + IV_BYTES));
    } catch {
      return failed();
    }
  }
}

function masterKeyUnknown(id: string): never {
  throw new DeviceStoreError('DEVICE_MASTER_KEY_UNKNOWN', `master key ${id} is not in the ring (keep old master keys until rewrapAll has finished)`);
}
