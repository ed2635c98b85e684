import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { MAX_SECRET_BYTES, MIN_SECRET_BYTES } from '@wxseal/protocol';

/** What the shared cache (L2) holds about one serial, once decrypted. Revoked entries hold no key. */
export interface CachedDeviceKey {
  status: 'active' | 'revoked';
  currentKey?: Buffer;
  previousKey?: Buffer;
  /** Unix seconds, inclusive; present whenever previousKey is. */
  previousKeyNotAfter?: number;
  keyVersion: number;
  updatedAt: number;
}

const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FLAG_REVOKED = 1;
const FLAG_PREVIOUS = 2;

/**
 * Encrypts a cache value with AES-256-GCM under `cacheKey`, the serial as associated data: a Redis
 * dump holds no usable device key, and a value cannot be moved to another serial's entry.
 * Layout: format byte 1 | 12-byte IV | ciphertext | 16-byte tag; the plaintext is
 * flags | keyVersion (f64) | updatedAt (f64) | len | current key | [len | previous key | notAfter (f64)].
 */
export function encodeCacheValue(cacheKey: Uint8Array, serial: string, value: CachedDeviceKey): Buffer {
  const current = value.status === 'active' ? value.currentKey : undefined;
  const previous = current && value.previousKey && value.previousKeyNotAfter !== undefined ? value.previousKey : undefined;
  const parts: Buffer[] = [];
  const head = Buffer.alloc(17);
  head[0] = (value.status === 'revoked' ? FLAG_REVOKED : 0) | (previous ? FLAG_PREVIOUS : 0);
  head.writeDoubleBE(value.keyVersion, 1);
  head.writeDoubleBE(value.updatedAt, 9);
  parts.push(head, Buffer.from([current?.length ?? 0]));
  if (current) parts.push(current);
  if (previous) {
    const notAfter = Buffer.alloc(8);
    notAfter.writeDoubleBE(value.previousKeyNotAfter!, 0);
    parts.push(Buffer.from([previous.length]), previous, notAfter);
  }
  const plaintext = Buffer.concat(parts);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', cacheKey, iv);
  cipher.setAAD(Buffer.from(serial, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  plaintext.fill(0);
  return Buffer.concat([Buffer.from([FORMAT]), iv, ciphertext, cipher.getAuthTag()]);
}

/** Decrypts and parses a cache value; undefined when it is not a valid value for this serial under this key. */
export function decodeCacheValue(cacheKey: Uint8Array, serial: string, blob: Uint8Array): CachedDeviceKey | undefined {
  if (blob.length < 1 + IV_BYTES + TAG_BYTES + 18 || blob[0] !== FORMAT) return undefined;
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', cacheKey, buf.subarray(1, 1 + IV_BYTES));
    decipher.setAAD(Buffer.from(serial, 'utf8'));
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
    plain = Buffer.concat([decipher.update(buf.subarray(1 + IV_BYTES, buf.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
  const flags = plain[0]!;
  const value: CachedDeviceKey = {
    status: flags & FLAG_REVOKED ? 'revoked' : 'active',
    keyVersion: plain.readDoubleBE(1),
    updatedAt: plain.readDoubleBE(9),
  };
  let at = 17;
  const keyAt = (): Buffer | undefined => {
    const len = plain[at];
    if (len === undefined || at + 1 + len > plain.length) return undefined;
    const key = Buffer.from(plain.subarray(at + 1, at + 1 + len));
    at += 1 + len;
    return key;
  };
  const current = keyAt();
  if (current === undefined) return undefined;
  if (value.status === 'active') {
    if (current.length < MIN_SECRET_BYTES || current.length > MAX_SECRET_BYTES) return undefined;
    value.currentKey = current;
  }
  if (flags & FLAG_PREVIOUS) {
    const previous = keyAt();
    if (previous === undefined || previous.length < MIN_SECRET_BYTES || previous.length > MAX_SECRET_BYTES || at + 8 !== plain.length) return undefined;
    value.previousKey = previous;
    value.previousKeyNotAfter = plain.readDoubleBE(at);
  } else if (at !== plain.length) {
    return undefined;
  }
  plain.fill(0);
  return value;
}
