import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import {
  IV_BYTES,
  LABELS,
  MAX_RSA_BITS,
  MIN_RSA_BITS,
  RESPONSE_NONCE_BYTES,
  SESSION_KEY_BYTES,
  TAG_BYTES,
} from './constants.js';
import { WxsealError } from './errors.js';
import { hkdfSha256 } from './hkdf.js';
import { HPKE_TAG_BYTES, HPKE_X25519_ENC_BYTES, hpkeOpen, hpkeSeal } from './hpke.js';

export type KeyInput = KeyObject | string | Buffer;

/**
 * The suites, chosen by the type of the server key: RSA-OAEP-256 for an RSA key, HPKE base mode with
 * DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM for an X25519 key (SPEC.md 6.2 step 2,
 * 6.5), and the SM suite for an SM2 key (6.6, sm.ts; SM2 keys are not KeyObjects).
 */
export type ServerKeySuite = 'rsa-oaep-256' | 'x25519-hpke' | 'sm2-sm4-gcm';

/** HPKE `info` of the X25519 suite's session-key wrap (SPEC.md 6.5). */
export const SESSION_KEY_HPKE_INFO = 'wxseal-v1 session key';

/** Length of the X25519 suite's wrapped key: enc (32) || ciphertext of K (32) || tag (16). */
export const X25519_WRAPPED_KEY_BYTES = HPKE_X25519_ENC_BYTES + SESSION_KEY_BYTES + HPKE_TAG_BYTES;

const HPKE_INFO_BYTES = Buffer.from(SESSION_KEY_HPKE_INFO, 'latin1');
const EMPTY = Buffer.alloc(0);

function rsaBits(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType !== 'rsa' || bits === undefined) {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', 'server key must be an RSA key (rsa, not rsa-pss) or an X25519 key');
  }
  if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', `server RSA key must have ${MIN_RSA_BITS}-${MAX_RSA_BITS} bits, has ${bits}`);
  }
  return bits;
}

/**
 * The suite a server key (public or private) wraps session keys with; throws WXSEAL_CONFIG_INVALID
 * for any other key type and for an RSA key outside the modulus bounds.
 */
export function serverKeySuite(key: KeyObject): ServerKeySuite {
  if (key.asymmetricKeyType === 'x25519') return 'x25519-hpke';
  rsaBits(key);
  return 'rsa-oaep-256';
}

/** Parses a server public key once (PEM, DER SPKI or KeyObject; RSA or X25519) and checks it. */
export function loadServerPublicKey(input: KeyInput): KeyObject {
  let key: KeyObject;
  try {
    key = typeof input === 'string' || Buffer.isBuffer(input) ? createPublicKey(input) : input;
  } catch (cause) {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', 'server public key could not be parsed', { cause });
  }
  if (key.type === 'private') key = createPublicKey(key);
  if (key.type !== 'public') throw new WxsealError('WXSEAL_CONFIG_INVALID', 'a public key is required');
  serverKeySuite(key);
  return key;
}

/** Parses a server private key once (PEM PKCS#8/PKCS#1 or KeyObject; RSA or X25519) and checks it. */
export function loadServerPrivateKey(input: KeyInput): KeyObject {
  let key: KeyObject;
  try {
    key = typeof input === 'string' || Buffer.isBuffer(input) ? createPrivateKey(input) : input;
  } catch (cause) {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', 'server private key could not be parsed', { cause });
  }
  if (key.type !== 'private') throw new WxsealError('WXSEAL_CONFIG_INVALID', 'a private key is required');
  serverKeySuite(key);
  return key;
}

/**
 * Length in bytes of a wrapped session key under this key: the modulus length for RSA-OAEP, 80 for
 * the X25519 suite (SPEC.md 9 step 4 compares it with the decoded Wxseal-Wrapped-Key).
 */
export function wrappedKeyLength(key: KeyObject): number {
  return serverKeySuite(key) === 'x25519-hpke' ? X25519_WRAPPED_KEY_BYTES : Math.ceil(rsaBits(key) / 8);
}

export function generateSessionKey(): Buffer {
  return randomBytes(SESSION_KEY_BYTES);
}

export function generateIv(): Buffer {
  return publicRandomBytes(IV_BYTES);
}

// Public random values — request nonces, GCM IVs, response nonces — are drawn from a pool filled
// by one randomBytes call per 4 KiB, which saves a CSPRNG call (microseconds) per value; a sealed
// call needs three. Each value is its own slice, handed out once; a used-up pool is replaced, never
// refilled in place. Secrets (session keys) never come from the pool: a pool holds future values in
// memory.
const PUBLIC_RANDOM_POOL_BYTES = 4096;
let publicRandomPool = Buffer.alloc(0);
let publicRandomOffset = 0;

/** `bytes` fresh random bytes for a value that is sent in clear (nonce, IV). */
export function publicRandomBytes(bytes: number): Buffer {
  if (bytes > PUBLIC_RANDOM_POOL_BYTES) return randomBytes(bytes);
  if (publicRandomOffset + bytes > publicRandomPool.length) {
    publicRandomPool = randomBytes(PUBLIC_RANDOM_POOL_BYTES);
    publicRandomOffset = 0;
  }
  const out = publicRandomPool.subarray(publicRandomOffset, publicRandomOffset + bytes);
  publicRandomOffset += bytes;
  return out;
}

export function generateResponseNonce(): Buffer {
  return publicRandomBytes(RESPONSE_NONCE_BYTES);
}

/**
 * Wraps the session key for the server key (SPEC.md 6.2 step 2), by the key's type: RSA-OAEP with
 * SHA-256 and MGF1-SHA-256, empty label; or, for X25519, enc || ct of HPKE SealBase with
 * AES-256-GCM, info "wxseal-v1 session key" and empty aad (SPEC.md 6.5). `ephemeralPrivateKey` fixes
 * the HPKE ephemeral key, for known-answer vectors only.
 */
export function wrapSessionKey(publicKey: KeyObject, sessionKey: Uint8Array, options: { ephemeralPrivateKey?: KeyObject } = {}): Buffer {
  if (publicKey.asymmetricKeyType === 'x25519') {
    const recipientPublicKey = publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
    const { enc, ciphertext } = hpkeSeal({
      aead: 'aes-256-gcm',
      recipientPublicKey,
      info: HPKE_INFO_BYTES,
      aad: EMPTY,
      plaintext: sessionKey,
      ...(options.ephemeralPrivateKey ? { ephemeralPrivateKey: options.ephemeralPrivateKey } : {}),
    });
    return Buffer.concat([enc, ciphertext]);
  }
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, sessionKey);
}

/**
 * Unwraps a session key with the server's private key (SPEC.md 9 step 7), RSA-OAEP or the X25519
 * suite by the key's type. Every failure, whatever its cause, is WXSEAL_UNWRAP_FAILED.
 */
export function unwrapSessionKey(privateKey: KeyObject, wrapped: Uint8Array): Buffer {
  let key: Buffer;
  try {
    if (privateKey.asymmetricKeyType === 'x25519') {
      if (wrapped.length !== X25519_WRAPPED_KEY_BYTES) throw new Error('wrong length');
      key = hpkeOpen({
        aead: 'aes-256-gcm',
        recipientPrivateKey: privateKey,
        enc: wrapped.subarray(0, HPKE_X25519_ENC_BYTES),
        info: HPKE_INFO_BYTES,
        aad: EMPTY,
        ciphertext: wrapped.subarray(HPKE_X25519_ENC_BYTES),
      });
    } else {
      key = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped);
    }
  } catch {
    throw new WxsealError('WXSEAL_UNWRAP_FAILED', 'the wrapped session key does not decrypt with the named server key');
  }
  if (key.length !== SESSION_KEY_BYTES) {
    throw new WxsealError('WXSEAL_UNWRAP_FAILED', `the session key must be ${SESSION_KEY_BYTES} bytes`);
  }
  return key;
}

/**
 * AES-256-GCM; returns ciphertext || 16-byte tag. The plaintext may come in parts (the payload's
 * meta, LF and body): they are encrypted in turn, so a large body is not first copied into one
 * plaintext, and the ciphertext is written once into a buffer of its final size.
 */
export function aesGcmEncrypt(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[]): Buffer {
  const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  let length = 0;
  for (const part of parts) length += part.length;
  const out = Buffer.allocUnsafe(length + TAG_BYTES);
  let offset = 0;
  for (const part of parts) offset += cipher.update(part).copy(out, offset);
  offset += cipher.final().copy(out, offset); // GCM: empty
  cipher.getAuthTag().copy(out, offset);
  return offset + TAG_BYTES === out.length ? out : out.subarray(0, offset + TAG_BYTES);
}

/** AES-256-GCM over ciphertext || tag; throws `failure` when the tag does not verify. */
export function aesGcmDecrypt(
  key: Uint8Array,
  iv: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
  failure: 'WXSEAL_DECRYPT_FAILED' | 'WXSEAL_RESPONSE_INVALID' = 'WXSEAL_DECRYPT_FAILED',
): Buffer {
  if (sealed.length < TAG_BYTES) throw new WxsealError(failure, 'ciphertext is shorter than the GCM tag');
  const data = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
  const head = decipher.update(data.subarray(0, data.length - TAG_BYTES));
  try {
    // final() is where GCM checks the tag: never skip it. Its output is empty for GCM, so the
    // plaintext is `head` as it is (no copy of a large body).
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    throw new WxsealError(failure, 'authenticated decryption failed');
  }
}

/** SPEC.md 6.3 step 2: HKDF-SHA256(K, salt = R, info = "WXSEAL1 response", 44) → key, iv. */
export function deriveResponseKey(sessionKey: Uint8Array, responseNonce: Uint8Array): { key: Buffer; iv: Buffer } {
  const okm = hkdfSha256(sessionKey, responseNonce, LABELS.responseHkdfInfo, SESSION_KEY_BYTES + IV_BYTES);
  return { key: okm.subarray(0, SESSION_KEY_BYTES), iv: okm.subarray(SESSION_KEY_BYTES) };
}
