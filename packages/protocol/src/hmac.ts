import { createHmac, timingSafeEqual } from 'node:crypto';
import { SIGNATURE_BYTES } from './constants.js';
import { b64uEncode } from './encoding.js';

export function hmacSha256(secret: Uint8Array, message: string): Buffer {
  return createHmac('sha256', secret).update(message, 'utf8').digest();
}

/** SPEC.md 5.3: b64u(HMAC-SHA256(secret, canonical string)). */
export function signCanonical(secret: Uint8Array, canonical: string): string {
  return b64uEncode(hmacSha256(secret, canonical));
}

/**
 * Checks a decoded signature against every candidate secret in constant time, without stopping
 * at the first match (so timing does not reveal which secret of a rotation set matched).
 * Returns the index of the matching secret, or -1.
 */
export function matchSignature(
  secrets: readonly Uint8Array[],
  canonical: string,
  signature: Uint8Array,
  mac: (secret: Uint8Array, message: string) => Buffer = hmacSha256,
): number {
  if (signature.length !== SIGNATURE_BYTES) return -1;
  let matched = -1;
  for (let i = 0; i < secrets.length; i++) {
    const expected = mac(secrets[i]!, canonical);
    // Bitwise, not short-circuit: every secret is always checked.
    if (timingSafeEqual(expected, signature) && matched === -1) matched = i;
  }
  return matched;
}
