// 国密 primitives for wxseal. SM3, HMAC-SM3 and HKDF-SM3 come from node:crypto (OpenSSL 3);
// SM4-GCM, SM2 signatures with a distinguishing ID and SM2 public-key encryption from
// sm-crypto-v2, because Node's OpenSSL exposes neither. SM2 decryption runs its curve arithmetic
// in OpenSSL where the runtime has the SM2 curve (sm2-decrypt.ts, about 4x faster), else in
// sm-crypto-v2. Nothing here implements a primitive.
import './random-shim.js';
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { sm2, sm4 } from 'sm-crypto-v2';
import { GmError } from './errors.js';
import { isOnCurve, isStrictSm2SignatureDer } from './keys.js';
import { opensslSm2Available, sm2DecryptWithOpenssl } from './sm2-decrypt.js';

export { GM_ERRORS, GmError, isGmError, type GmErrorCode } from './errors.js';
export { opensslSm2Available } from './sm2-decrypt.js';
export {
  sm2CiphertextFromAsn1,
  sm2CiphertextToAsn1,
  sm2PrivateKeyFromDer,
  sm2PrivateKeyFromPem,
  sm2PrivateKeyToDer,
  sm2PrivateKeyToPem,
  sm2PublicKeyFromCertificate,
  sm2PublicKeyFromDer,
  sm2PublicKeyFromPem,
  sm2PublicKeyToDer,
  sm2PublicKeyToPem,
} from './keys.js';

/** The default SM2 distinguishing ID of GB/T 32918 and WeChat Pay (OpenSSL 3.0's pkeyutl uses an empty ID unless given -pkeyopt distid:1234567812345678). */
export const SM2_DEFAULT_ID = '1234567812345678';

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** SM3 digest (32 bytes). */
export function sm3(data: Uint8Array | string): Buffer {
  return createHash('sm3').update(data).digest();
}

/** HMAC-SM3 (32 bytes). */
export function hmacSm3(key: Uint8Array, data: Uint8Array | string): Buffer {
  return createHmac('sm3', key).update(data).digest();
}

/** HKDF (RFC 5869) over SM3. */
export function hkdfSm3(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Buffer {
  return Buffer.from(hkdfSync('sm3', ikm, salt, info, length));
}

function checkLen(what: string, b: Uint8Array, len: number): void {
  if (b.length !== len) throw new GmError(what === 'key' ? 'GM_KEY_INVALID' : 'GM_INPUT_INVALID', `SM4-GCM ${what} must be ${len} bytes, got ${b.length}`);
}

/** SM4-GCM encryption (RFC 8998): 16-byte key, 12-byte IV, 16-byte tag. */
export function sm4GcmEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): { ciphertext: Buffer; tag: Buffer } {
  checkLen('key', key, 16);
  checkLen('IV', iv, 12);
  const r = sm4.encrypt(plaintext, key, { mode: 'gcm', iv, associatedData: aad, output: 'array', outputTag: true, padding: 'none' });
  if (!r.tag) throw new GmError('GM_INPUT_INVALID', 'SM4-GCM produced no tag');
  return { ciphertext: Buffer.from(r.output), tag: Buffer.from(r.tag) };
}

/** SM4-GCM decryption; an altered ciphertext, tag or AAD throws GM_DECRYPT_FAILED. */
export function sm4GcmDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Buffer {
  checkLen('key', key, 16);
  checkLen('IV', iv, 12);
  checkLen('tag', tag, 16);
  try {
    return Buffer.from(sm4.decrypt(ciphertext, key, { mode: 'gcm', iv, tag, associatedData: aad, output: 'array', padding: 'none' }));
  } catch {
    throw new GmError('GM_DECRYPT_FAILED', 'SM4-GCM authentication failed');
  }
}

/** An SM2 key pair: the private scalar (32 bytes) and the uncompressed public point 04‖x‖y (65 bytes), hex. */
export interface Sm2KeyPair {
  privateKeyHex: string;
  publicKeyHex: string;
}

const PRIVATE_HEX = /^[0-9a-f]{64}$/;
const PUBLIC_HEX = /^04[0-9a-f]{128}$/;

function checkPrivate(k: string): string {
  const v = k.toLowerCase();
  if (!PRIVATE_HEX.test(v)) throw new GmError('GM_KEY_INVALID', 'an SM2 private key is 32 bytes (64 hex digits)');
  return v;
}
function checkPublic(k: string): string {
  const v = k.toLowerCase();
  if (!PUBLIC_HEX.test(v) || !isOnCurve(v)) throw new GmError('GM_KEY_INVALID', 'an SM2 public key is an uncompressed point 04‖x‖y on the SM2 curve');
  return v;
}

export function sm2GenerateKeyPair(): Sm2KeyPair {
  const kp = sm2.generateKeyPairHex();
  return { privateKeyHex: kp.privateKey, publicKeyHex: kp.publicKey };
}

export function sm2PublicKeyFromPrivate(privateKeyHex: string): string {
  return sm2.getPublicKeyFromPrivateKey(checkPrivate(privateKeyHex));
}

/** SM2 signature with SM3 over Z(ID, public key) ‖ message (GB/T 32918.2), DER-encoded (r, s). */
export function sm2Sign(privateKeyHex: string, message: Uint8Array | string, options: { userId?: string; publicKeyHex?: string } = {}): Buffer {
  const priv = checkPrivate(privateKeyHex);
  const publicKey = options.publicKeyHex ? checkPublic(options.publicKeyHex) : sm2.getPublicKeyFromPrivateKey(priv);
  const msg = typeof message === 'string' ? new Uint8Array(Buffer.from(message, 'utf8')) : message;
  return Buffer.from(sm2.doSignature(msg, priv, { der: true, hash: true, publicKey, userId: options.userId ?? SM2_DEFAULT_ID }), 'hex');
}

/** Verifies a DER-encoded SM2 signature; false for any mismatch or a signature that is not strict DER. */
export function sm2Verify(publicKeyHex: string, message: Uint8Array | string, signatureDer: Uint8Array, options: { userId?: string } = {}): boolean {
  const pub = checkPublic(publicKeyHex);
  const msg = typeof message === 'string' ? new Uint8Array(Buffer.from(message, 'utf8')) : message;
  // sm-crypto-v2 reads DER loosely (a wrong length, trailing bytes): only strict DER gets to it.
  if (!isStrictSm2SignatureDer(signatureDer)) return false;
  try {
    return sm2.doVerifySignature(msg, hex(signatureDer), pub, { der: true, hash: true, userId: options.userId ?? SM2_DEFAULT_ID });
  } catch {
    return false;
  }
}

/** SM2 public-key encryption (GB/T 32918.4), C1‖C3‖C2 with C1 uncompressed (04‖x‖y). */
export function sm2Encrypt(publicKeyHex: string, plaintext: Uint8Array): Buffer {
  const pub = checkPublic(publicKeyHex);
  return Buffer.from(`04${sm2.doEncrypt(plaintext, pub, 1)}`, 'hex');
}

/** Decrypts C1‖C3‖C2 (C1 uncompressed); GM_DECRYPT_FAILED when C3 does not match. */
export function sm2Decrypt(privateKeyHex: string, ciphertext: Uint8Array): Buffer {
  const priv = checkPrivate(privateKeyHex);
  if (ciphertext.length < 65 + 32 + 1 || ciphertext[0] !== 0x04) throw new GmError('GM_INPUT_INVALID', 'an SM2 ciphertext is 04‖x‖y ‖ C3 (32) ‖ C2');
  if (opensslSm2Available()) {
    const out = sm2DecryptWithOpenssl(priv, ciphertext);
    if (out === undefined) throw new GmError('GM_DECRYPT_FAILED', 'SM2 decryption failed');
    return out;
  }
  return sm2DecryptReference(priv, ciphertext);
}

/**
 * SM2 decryption entirely in sm-crypto-v2: the fallback where OpenSSL lacks the SM2 curve, and the
 * independent implementation the tests hold the OpenSSL path against. Same contract as sm2Decrypt.
 */
export function sm2DecryptReference(privateKeyHex: string, ciphertext: Uint8Array): Buffer {
  const priv = checkPrivate(privateKeyHex);
  if (ciphertext.length < 65 + 32 + 1 || ciphertext[0] !== 0x04) throw new GmError('GM_INPUT_INVALID', 'an SM2 ciphertext is 04‖x‖y ‖ C3 (32) ‖ C2');
  let out: Uint8Array;
  try {
    out = sm2.doDecrypt(hex(ciphertext.subarray(1)), priv, 1, { output: 'array' });
  } catch {
    throw new GmError('GM_DECRYPT_FAILED', 'SM2 decryption failed');
  }
  // sm-crypto-v2 answers an empty array when C3 does not match.
  if (out.length === 0) throw new GmError('GM_DECRYPT_FAILED', 'SM2 decryption failed (C3 mismatch)');
  return Buffer.from(out);
}
