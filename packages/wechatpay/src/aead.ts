// AEAD_AES_256_GCM as API v3 uses it for callback resources and platform certificates
// ("证书和回调报文解密"): key = the 32-character APIv3 key as bytes, nonce = the `nonce` string's
// UTF-8 bytes (12), associated data = `associated_data` UTF-8 (may be empty),
// `ciphertext` = base64(encrypted data || 16-byte tag).
// Source: pay.weixin.qq.com/docs/merchant/development/interface-rules/certificate-callback-decryption.html
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { fail } from './errors.js';
import { bodyBytes, decodeBase64, decodeUtf8, randomAlnum } from './internal.js';
import { SM_AEAD_ALGORITHM, sm4GcmOpen, sm4GcmSeal, sm4KeyFromApiV3Key } from './sm.js';

export const AEAD_ALGORITHM = 'AEAD_AES_256_GCM';
/** Length of the APIv3 key in bytes (AES-256). */
export const API_V3_KEY_BYTES = 32;
/** Nonce length in bytes (GCM's standard 96-bit IV; what WeChat Pay sends and wechatpay-go requires). */
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

/** The APIv3 key: the 32-character string set on the merchant platform, or its 32 bytes. */
export type ApiV3Key = string | Uint8Array;

/** Validates an APIv3 key and returns its 32 bytes. Anything but exactly 32 bytes is refused. */
export function apiV3KeyBytes(key: ApiV3Key): Buffer {
  let bytes: Buffer;
  if (typeof key === 'string') bytes = Buffer.from(key, 'utf8');
  else if (key instanceof Uint8Array) bytes = Buffer.from(key);
  else fail('WECHATPAY_BAD_ARGUMENT', 'APIv3 key must be a string or bytes');
  if (bytes.length !== API_V3_KEY_BYTES) fail('WECHATPAY_BAD_ARGUMENT', `APIv3 key must be ${API_V3_KEY_BYTES} bytes, got ${bytes.length}`);
  return bytes;
}

/** The AEAD fields of a callback `resource` or a certificate's `encrypt_certificate`. */
export interface AeadCiphertext {
  /** base64(encrypted || tag). */
  ciphertext: string;
  /** 12-character nonce string. */
  nonce: string;
  /** Associated data, possibly empty. */
  associated_data: string;
}

export interface AeadDecryptInput {
  ciphertext: string;
  nonce: string;
  /** Missing or undefined means empty. */
  associated_data?: string;
}

export interface AeadEncryptInput {
  plaintext: string | Uint8Array;
  /** 12 random [0-9A-Za-z] characters when omitted. Never reuse one under the same key. */
  nonce?: string;
  associated_data?: string;
}

function nonceBytes(nonce: unknown, code: 'WECHATPAY_BAD_ARGUMENT' | 'WECHATPAY_MALFORMED'): Buffer {
  if (typeof nonce !== 'string') fail(code, 'nonce must be a string');
  const b = Buffer.from(nonce, 'utf8');
  if (b.length !== AEAD_NONCE_BYTES) fail(code, `nonce must be ${AEAD_NONCE_BYTES} bytes, got ${b.length}`);
  return b;
}

function aadBytes(aad: unknown, code: 'WECHATPAY_BAD_ARGUMENT' | 'WECHATPAY_MALFORMED'): Buffer {
  if (aad === undefined) return Buffer.alloc(0);
  if (typeof aad !== 'string') fail(code, 'associated_data must be a string');
  return Buffer.from(aad, 'utf8');
}

function gcmAlgorithm(key: Buffer): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  switch (key.length) {
    case 16:
      return 'aes-128-gcm';
    case 24:
      return 'aes-192-gcm';
    case 32:
      return 'aes-256-gcm';
    default:
      fail('WECHATPAY_BAD_ARGUMENT', `AES key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}

function open(key: Buffer, input: AeadDecryptInput, sm4 = false): Buffer {
  if (typeof input !== 'object' || input === null) fail('WECHATPAY_BAD_ARGUMENT', 'AEAD input must be an object');
  const iv = nonceBytes(input.nonce, 'WECHATPAY_MALFORMED');
  const aad = aadBytes(input.associated_data, 'WECHATPAY_MALFORMED');
  const data = decodeBase64(input.ciphertext, 'ciphertext');
  if (data.length < AEAD_TAG_BYTES) fail('WECHATPAY_MALFORMED', 'ciphertext is shorter than the 16-byte tag');
  if (sm4) return sm4GcmOpen(key, iv, data, aad);
  const algorithm = gcmAlgorithm(key);
  try {
    const d = createDecipheriv(algorithm, key, iv, { authTagLength: AEAD_TAG_BYTES });
    d.setAAD(aad);
    d.setAuthTag(data.subarray(data.length - AEAD_TAG_BYTES));
    return Buffer.concat([d.update(data.subarray(0, data.length - AEAD_TAG_BYTES)), d.final()]);
  } catch (e) {
    fail('WECHATPAY_DECRYPT_FAILED', 'AES-GCM authentication failed (wrong key, nonce, associated_data or tampered ciphertext)', e);
  }
}

function seal(key: Buffer, input: AeadEncryptInput, sm4 = false): AeadCiphertext {
  if (typeof input !== 'object' || input === null) fail('WECHATPAY_BAD_ARGUMENT', 'AEAD input must be an object');
  const nonce = input.nonce ?? randomAlnum(AEAD_NONCE_BYTES);
  const iv = nonceBytes(nonce, 'WECHATPAY_BAD_ARGUMENT');
  const associated_data = input.associated_data ?? '';
  if (sm4) {
    const sealed = sm4GcmSeal(key, iv, bodyBytes(input.plaintext, 'plaintext'), aadBytes(associated_data, 'WECHATPAY_BAD_ARGUMENT'));
    return { ciphertext: sealed.toString('base64'), nonce, associated_data };
  }
  const c = createCipheriv(gcmAlgorithm(key), key, iv, { authTagLength: AEAD_TAG_BYTES });
  c.setAAD(aadBytes(associated_data, 'WECHATPAY_BAD_ARGUMENT'));
  const out = Buffer.concat([c.update(bodyBytes(input.plaintext, 'plaintext')), c.final(), c.getAuthTag()]);
  return { ciphertext: out.toString('base64'), nonce, associated_data };
}

/** AEAD_AES_256_GCM decryption under the APIv3 key; the plaintext must be UTF-8. */
export function decryptAead(apiV3Key: ApiV3Key, input: AeadDecryptInput): string {
  return decodeUtf8(open(apiV3KeyBytes(apiV3Key), input), 'plaintext', 'WECHATPAY_DECRYPT_FAILED');
}

/** AEAD_AES_256_GCM decryption returning raw bytes. */
export function decryptAeadBytes(apiV3Key: ApiV3Key, input: AeadDecryptInput): Buffer {
  return open(apiV3KeyBytes(apiV3Key), input);
}

/** AEAD_AES_256_GCM encryption under the APIv3 key (the WeChat Pay side; for mock servers and tests). */
export function encryptAead(apiV3Key: ApiV3Key, input: AeadEncryptInput): AeadCiphertext {
  return seal(apiV3KeyBytes(apiV3Key), input);
}

/**
 * AES-GCM with ANY standard AES key length (16, 24 or 32 bytes) and WeChat's encoding. NOT the
 * production path — API v3 always uses a 32-byte key; use decryptAead. Exists for published vectors
 * that use other key sizes (wechatpay-go's core/notify/notify_test.go uses a 16-byte key, i.e.
 * AES-128-GCM) and for interoperability experiments.
 */
export function decryptAesGcmAnyKeyLength(key: Uint8Array, input: AeadDecryptInput): string {
  if (!(key instanceof Uint8Array)) fail('WECHATPAY_BAD_ARGUMENT', 'key must be bytes');
  return decodeUtf8(open(Buffer.from(key), input), 'plaintext', 'WECHATPAY_DECRYPT_FAILED');
}

/** Encryption counterpart of decryptAesGcmAnyKeyLength (not the production path). */
export function encryptAesGcmAnyKeyLength(key: Uint8Array, input: AeadEncryptInput): AeadCiphertext {
  if (!(key instanceof Uint8Array)) fail('WECHATPAY_BAD_ARGUMENT', 'key must be bytes');
  return seal(Buffer.from(key), input);
}

/** The AEAD algorithms of API v3 resources: AES-256-GCM (RSA merchants) and SM4-GCM (国密 merchants). */
export type AeadAlgorithm = typeof AEAD_ALGORITHM | typeof SM_AEAD_ALGORITHM;

/** AEAD_SM4_GCM decryption under the APIv3 key (SM4 key = first 16 bytes of SM3(APIv3 key)); UTF-8 plaintext. */
export function decryptAeadSm4(apiV3Key: ApiV3Key, input: AeadDecryptInput): string {
  return decodeUtf8(open(sm4KeyFromApiV3Key(apiV3KeyBytes(apiV3Key)), input, true), 'plaintext', 'WECHATPAY_DECRYPT_FAILED');
}

/** AEAD_SM4_GCM encryption under the APIv3 key (the WeChat Pay side; for mock servers and tests). */
export function encryptAeadSm4(apiV3Key: ApiV3Key, input: AeadEncryptInput): AeadCiphertext {
  return seal(sm4KeyFromApiV3Key(apiV3KeyBytes(apiV3Key)), input, true);
}

/** Decryption by algorithm name; anything but the two algorithms is WECHATPAY_UNSUPPORTED_ALGORITHM. */
export function decryptAeadAs(algorithm: string, apiV3Key: ApiV3Key, input: AeadDecryptInput): string {
  if (algorithm === AEAD_ALGORITHM) return decryptAead(apiV3Key, input);
  if (algorithm === SM_AEAD_ALGORITHM) return decryptAeadSm4(apiV3Key, input);
  fail('WECHATPAY_UNSUPPORTED_ALGORITHM', `AEAD algorithm ${algorithm} is neither ${AEAD_ALGORITHM} nor ${SM_AEAD_ALGORITHM}`);
}

/** Encryption by algorithm name. */
export function encryptAeadAs(algorithm: AeadAlgorithm, apiV3Key: ApiV3Key, input: AeadEncryptInput): AeadCiphertext {
  if (algorithm === SM_AEAD_ALGORITHM) return encryptAeadSm4(apiV3Key, input);
  if (algorithm === AEAD_ALGORITHM) return encryptAead(apiV3Key, input);
  fail('WECHATPAY_BAD_ARGUMENT', `AEAD algorithm must be ${AEAD_ALGORITHM} or ${SM_AEAD_ALGORITHM}`);
}
