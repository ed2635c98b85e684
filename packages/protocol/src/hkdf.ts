/**
 * HKDF-SHA256 (RFC 5869) from node:crypto's HMAC-SHA256. `hkdfSync` gives the same bytes but costs
 * ~13 µs a call on Node 20 (a KeyObject and a crypto job per call) against ~5 µs for the three
 * HMACs of a 44-byte output; the response key is derived once per sealed response, so this is on
 * the hot path. Checked against `hkdfSync` and RFC 5869's test cases in the tests.
 */
import { createHmac } from 'node:crypto';

const HASH_BYTES = 32;
const ZERO_SALT = Buffer.alloc(HASH_BYTES);
const EMPTY = Buffer.alloc(0);
/** The one-byte block counters 1..255 of HKDF-Expand. */
const COUNTERS: readonly Buffer[] = Array.from({ length: 256 }, (_, i) => Buffer.of(i));

/** HKDF-Extract; an empty salt is HashLen zero bytes (RFC 5869 2.2). */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Buffer {
  return createHmac('sha256', salt.length === 0 ? ZERO_SALT : salt).update(ikm).digest();
}

/** HKDF-Expand to `length` bytes (at most 255 × 32). */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array | string, length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0 || length > 255 * HASH_BYTES) throw new RangeError(`HKDF-Expand length must be 0-${255 * HASH_BYTES}`);
  const blocks = Math.ceil(length / HASH_BYTES);
  const out = Buffer.allocUnsafe(blocks * HASH_BYTES);
  let previous: Buffer = EMPTY;
  for (let i = 1; i <= blocks; i++) {
    const hmac = createHmac('sha256', prk).update(previous);
    previous = (typeof info === 'string' ? hmac.update(info, 'utf8') : hmac.update(info)).update(COUNTERS[i]!).digest();
    previous.copy(out, (i - 1) * HASH_BYTES);
  }
  return out.subarray(0, length);
}

/** HKDF-SHA256(ikm, salt, info, length): Extract then Expand. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array | string, length: number): Buffer {
  return hkdfExpand(hkdfExtract(salt, ikm), info, length);
}
