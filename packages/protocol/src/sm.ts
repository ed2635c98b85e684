/**
 * The SM suite (SPEC.md 6.6): the sealed mode with 国密 algorithms. SM3 body hash, HMAC-SM3
 * signature, SM4-GCM (16-byte key) payload and response, the session key carried by SM2 public-key
 * encryption (GB/T 32918.4, C1‖C3‖C2), the response key from HKDF over SM3.
 *
 * Why the primitives are passed in: @wxseal/protocol has no dependency, and Node's OpenSSL exposes
 * neither SM4-GCM nor SM2 encryption, so the algorithms come from @wxseal/gm. Rather than import it
 * here, this module defines the suite's framing — labels, lengths, canonical strings, AADs, the
 * order of the steps — over a small `SmPrimitives` interface, and the packages that already depend
 * on @wxseal/gm (client, server, gateway, cli) pass `@wxseal/gm` itself (its functions have exactly
 * these signatures). The framing then has one implementation, next to the other suites', and the
 * protocol stays zero-dependency and testable with any SM implementation.
 */
import { createHash, randomBytes } from 'node:crypto';
import { canonicalQuery, canonicalRequestString, type SignedRequestFields } from './canonical.js';
import { IV_BYTES, LABELS, TAG_BYTES } from './constants.js';
import { b64uEncode } from './encoding.js';
import { WxsealError } from './errors.js';

/** The SM algorithms the suite is made of; `@wxseal/gm` satisfies it as it is. */
export interface SmPrimitives {
  sm3(data: Uint8Array | string): Buffer;
  hmacSm3(key: Uint8Array, data: Uint8Array | string): Buffer;
  hkdfSm3(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Buffer;
  sm4GcmEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): { ciphertext: Buffer; tag: Buffer };
  /** Throws when the tag does not verify. */
  sm4GcmDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, aad?: Uint8Array): Buffer;
  /** C1‖C3‖C2 with C1 uncompressed (04‖x‖y). */
  sm2Encrypt(publicKeyHex: string, plaintext: Uint8Array): Buffer;
  /** Throws when C3 does not match or the ciphertext is malformed. */
  sm2Decrypt(privateKeyHex: string, ciphertext: Uint8Array): Buffer;
  sm2PublicKeyFromPrivate(privateKeyHex: string): string;
}

/** The suite identifier (configuration, logs, the admin API); never on the wire, like the others. */
export const SM_SUITE = 'sm2-sm4-gcm' as const;

/** First lines and labels of the SM suite's strings: a signature or AAD is never valid in two suites. */
export const SM_LABELS = {
  request: 'WXSEAL1-HMAC-SM3',
  requestAad: 'WXSEAL1-SM-REQUEST',
  responseAad: 'WXSEAL1-SM-RESPONSE',
  responseHkdfInfo: 'WXSEAL1-SM response',
  rejection: 'WXSEAL1-HMAC-SM3-REJECTION',
} as const;

/** SM4 keys are 16 bytes: the session key K of the SM suite. */
export const SM_SESSION_KEY_BYTES = 16;
/** SM2 ciphertext of K: C1 (65, uncompressed point) ‖ C3 (32, SM3) ‖ C2 (16). */
export const SM2_WRAPPED_KEY_BYTES = 65 + 32 + SM_SESSION_KEY_BYTES;

/** A fresh SM suite session key K: 16 bytes from the CSPRNG, new for every request (never from the public pool). */
export function generateSmSessionKey(): Buffer {
  return randomBytes(SM_SESSION_KEY_BYTES);
}

/** An SM2 server public key as a client holds it. */
export interface Sm2ServerPublicKey {
  readonly type: 'sm2';
  /** Uncompressed point 04‖x‖y, 130 lower-case hex digits. */
  readonly publicKeyHex: string;
  readonly primitives: SmPrimitives;
}

// ---------------------------------------------------------------------------------------------
// Key files. SM2 keys are PKCS#8 / SPKI PEM, read and written by @wxseal/gm (the protocol package
// parses no DER). For hand-made configurations a bare hex form is accepted too (SPEC.md 6.6): one line
// of hex between WXSEAL SM2 BEGIN/END lines, which needs no ASN.1 and so is read here.
// ---------------------------------------------------------------------------------------------

const SM2_PRIVATE_ARMOR = 'WXSEAL SM2 PRIVATE KEY';
const SM2_PUBLIC_ARMOR = 'WXSEAL SM2 PUBLIC KEY';

function armor(label: string, hex: string): string {
  return `-----BEGIN ${label}-----\n${hex}\n-----END ${label}-----\n`;
}

function unarmor(label: string, text: string, pattern: RegExp): string | undefined {
  const m = new RegExp(`^\\s*-----BEGIN ${label}-----\\s+([0-9A-Fa-f]+)\\s+-----END ${label}-----\\s*$`).exec(text);
  if (!m || !pattern.test(m[1]!)) return undefined;
  return m[1]!.toLowerCase();
}

export function formatSm2PrivateKey(privateKeyHex: string): string {
  return armor(SM2_PRIVATE_ARMOR, privateKeyHex.toLowerCase());
}

export function formatSm2PublicKey(publicKeyHex: string): string {
  return armor(SM2_PUBLIC_ARMOR, publicKeyHex.toLowerCase());
}

const keyText = (input: unknown): string | undefined =>
  typeof input === 'string' ? input : Buffer.isBuffer(input) ? input.toString('latin1') : undefined;

/** The private scalar (64 hex digits) of an armored SM2 private key; undefined when `input` is not one. */
export function parseSm2PrivateKey(input: unknown): string | undefined {
  const text = keyText(input);
  return text === undefined ? undefined : unarmor(SM2_PRIVATE_ARMOR, text, /^[0-9A-Fa-f]{64}$/);
}

/** The point (04‖x‖y, 130 hex digits) of an armored SM2 public key; undefined when `input` is not one. */
export function parseSm2PublicKey(input: unknown): string | undefined {
  const text = keyText(input);
  return text === undefined ? undefined : unarmor(SM2_PUBLIC_ARMOR, text, /^04[0-9A-Fa-f]{128}$/);
}

/** True when `input` is a key in the SM2 armored form (private or public), well-formed or not. */
export function looksLikeSm2Key(input: unknown): boolean {
  const text = keyText(input);
  return text !== undefined && /-----BEGIN WXSEAL SM2 (?:PRIVATE|PUBLIC) KEY-----/.test(text);
}

// DER SubjectPublicKeyInfo of an SM2 point: id-ecPublicKey with the curve sm2 (1.2.156.10197.1.301).
const SM2_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a811ccf5501822d034200', 'hex');

/** DER SPKI of an SM2 public key (what OpenSSL writes), for the key id. */
export function sm2SpkiDer(publicKeyHex: string): Buffer {
  return Buffer.concat([SM2_SPKI_PREFIX, Buffer.from(publicKeyHex, 'hex')]);
}

/** The reference server key id of an SM2 key: `sk-` + 16 hex digits of SHA-256(DER SPKI) (SPEC.md 2). */
export function sm2ServerKeyId(publicKeyHex: string): string {
  return `sk-${createHash('sha256').update(sm2SpkiDer(publicKeyHex)).digest('hex').slice(0, 16)}`;
}

// ---------------------------------------------------------------------------------------------
// The suite's strings and operations.
// ---------------------------------------------------------------------------------------------

/** SPEC.md 6.6: the canonical request string of 5.2 with the first line WXSEAL1-HMAC-SM3 and an SM3 body hash. */
export function smCanonicalRequestString(f: SignedRequestFields): string {
  return SM_LABELS.request + canonicalRequestString(f).slice(LABELS.request.length);
}

/** hex(SM3(body)): the body hash line of the SM suite. */
export function sm3Hex(sm: SmPrimitives, body: Uint8Array): string {
  return sm.sm3(body).toString('hex');
}

/** b64u(HMAC-SM3(secret, canonical)). */
export function smSignCanonical(sm: SmPrimitives, secret: Uint8Array, canonical: string): string {
  return b64uEncode(sm.hmacSm3(secret, Buffer.from(canonical, 'utf8')));
}

/** The SM suite's request AAD: the 8 lines of 6.2 step 4 under the label WXSEAL1-SM-REQUEST. */
export function smRequestAad(f: { method: string; path: string; rawQuery: string; timestamp: string; nonce: string; keyId: string; serverKeyId: string }): Buffer {
  return Buffer.from([SM_LABELS.requestAad, f.method, f.path, canonicalQuery(f.rawQuery), f.timestamp, f.nonce, f.keyId, f.serverKeyId].join('\n'), 'utf8');
}

/** The SM suite's response AAD: the 4 lines of 6.3 step 3 under the label WXSEAL1-SM-RESPONSE. */
export function smResponseAad(b: { keyId: string; requestNonce: string; status: number }): Buffer {
  if (!Number.isInteger(b.status) || b.status < 100 || b.status > 999) throw new RangeError(`invalid HTTP status ${b.status}`);
  return Buffer.from([SM_LABELS.responseAad, b.keyId, b.requestNonce, String(b.status)].join('\n'), 'utf8');
}

/** HKDF-SM3(IKM = K, salt = R, info = "WXSEAL1-SM response", L = 28) → SM4 key (16), IV (12). */
export function deriveSmResponseKey(sm: SmPrimitives, sessionKey: Uint8Array, responseNonce: Uint8Array): { key: Buffer; iv: Buffer } {
  const okm = sm.hkdfSm3(sessionKey, responseNonce, Buffer.from(SM_LABELS.responseHkdfInfo, 'latin1'), SM_SESSION_KEY_BYTES + IV_BYTES);
  return { key: okm.subarray(0, SM_SESSION_KEY_BYTES), iv: okm.subarray(SM_SESSION_KEY_BYTES) };
}

/** SM4-GCM; returns ciphertext ‖ 16-byte tag, as aesGcmEncrypt does. */
export function sm4GcmSeal(sm: SmPrimitives, key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[]): Buffer {
  const pt = plaintext instanceof Uint8Array ? plaintext : Buffer.concat(plaintext as Uint8Array[]);
  const { ciphertext, tag } = sm.sm4GcmEncrypt(key, iv, pt, aad);
  return Buffer.concat([ciphertext, tag]);
}

/** SM4-GCM over ciphertext ‖ tag; throws `failure` when the tag does not verify. */
export function sm4GcmOpen(
  sm: SmPrimitives,
  key: Uint8Array,
  iv: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
  failure: 'WXSEAL_DECRYPT_FAILED' | 'WXSEAL_RESPONSE_INVALID' = 'WXSEAL_DECRYPT_FAILED',
): Buffer {
  if (sealed.length < TAG_BYTES) throw new WxsealError(failure, 'ciphertext is shorter than the GCM tag');
  try {
    return sm.sm4GcmDecrypt(key, iv, sealed.subarray(0, sealed.length - TAG_BYTES), sealed.subarray(sealed.length - TAG_BYTES), aad);
  } catch {
    throw new WxsealError(failure, 'authenticated decryption failed');
  }
}

/** SPEC.md 6.6: wrapped = SM2-Encrypt(server public key, K), C1‖C3‖C2, 113 bytes. */
export function wrapSmSessionKey(sm: SmPrimitives, publicKeyHex: string, sessionKey: Uint8Array): Buffer {
  if (sessionKey.length !== SM_SESSION_KEY_BYTES) throw new WxsealError('WXSEAL_CONFIG_INVALID', `an SM suite session key is ${SM_SESSION_KEY_BYTES} bytes`);
  const wrapped = sm.sm2Encrypt(publicKeyHex, sessionKey);
  if (wrapped.length !== SM2_WRAPPED_KEY_BYTES) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'the SM2 ciphertext of the session key is not C1‖C3‖C2 of 113 bytes');
  return wrapped;
}

/** Step 7 for an SM2 server key. Every failure, whatever its cause, is WXSEAL_UNWRAP_FAILED. */
export function unwrapSmSessionKey(sm: SmPrimitives, privateKeyHex: string, wrapped: Uint8Array): Buffer {
  let key: Buffer;
  try {
    if (wrapped.length !== SM2_WRAPPED_KEY_BYTES) throw new Error('wrong length');
    key = sm.sm2Decrypt(privateKeyHex, wrapped);
  } catch {
    throw new WxsealError('WXSEAL_UNWRAP_FAILED', 'the wrapped session key does not decrypt with the named server key');
  }
  if (key.length !== SM_SESSION_KEY_BYTES) throw new WxsealError('WXSEAL_UNWRAP_FAILED', `the session key must be ${SM_SESSION_KEY_BYTES} bytes`);
  return key;
}

/** SPEC.md 10.1 under the SM suite: the canonical rejection string, first line WXSEAL1-HMAC-SM3-REJECTION. */
export function smCanonicalRejectionString(r: { keyId: string; requestNonce: string; status: number; code: string; serverTime: string }): string {
  return [SM_LABELS.rejection, r.keyId, r.requestNonce, String(r.status), r.code, r.serverTime].join('\n');
}
