// Sensitive request/response fields (names, ID numbers, phone numbers, bank accounts) are encrypted
// with RSAES-OAEP using SHA-1 and MGF1-SHA-1 ("敏感信息加解密"): requests under the WeChat Pay
// public key / platform certificate named in the request's Wechatpay-Serial header, responses
// under the merchant's key. Ciphertext is base64.
// Source: pay.weixin.qq.com/docs/merchant/development/interface-rules/sensitive-data-encryption.html
import { constants, privateDecrypt, publicEncrypt } from 'node:crypto';
import { fail } from './errors.js';
import { decodeBase64, decodeUtf8, toPrivateKey, toPublicKey, type PrivateKeyInput, type PublicKeyInput } from './internal.js';
import { isSm2Key } from './sm.js';

// 国密 merchants encrypt sensitive fields with SM2 (C1C3C2); not implemented here: refused by code.
function refuseSm2(key: Parameters<typeof isSm2Key>[0]): void {
  if (isSm2Key(key)) fail('WECHATPAY_UNSUPPORTED_ALGORITHM', 'SM2 encryption of sensitive fields (国密) is not implemented; this core does RSA-OAEP only');
}

/** OAEP overhead with SHA-1: 2·20 + 2 bytes. */
const OAEP_SHA1_OVERHEAD = 42;

/** Largest plaintext (UTF-8 bytes) a key of `modulusBits` can carry: 214 bytes for RSA-2048. */
export function maxSensitivePlaintextBytes(modulusBits: number): number {
  return Math.floor(modulusBits / 8) - OAEP_SHA1_OVERHEAD;
}

/** Encrypts a sensitive field: base64(RSA-OAEP(SHA-1, MGF1-SHA-1)) of its UTF-8 bytes. Randomised. */
export function encryptSensitive(plaintext: string, publicKey: PublicKeyInput): string {
  if (typeof plaintext !== 'string') fail('WECHATPAY_BAD_ARGUMENT', 'plaintext must be a string');
  const key = toPublicKey(publicKey);
  refuseSm2(key);
  const data = Buffer.from(plaintext, 'utf8');
  const max = maxSensitivePlaintextBytes(key.asymmetricKeyDetails?.modulusLength ?? 0);
  if (data.length > max) fail('WECHATPAY_BAD_ARGUMENT', `plaintext is ${data.length} bytes; this key takes at most ${max}`);
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, data).toString('base64');
}

/** Decrypts a sensitive field; any failure (wrong key, padding, tampering) is WECHATPAY_DECRYPT_FAILED. */
export function decryptSensitive(ciphertext: string, privateKey: PrivateKeyInput): string {
  const key = toPrivateKey(privateKey);
  refuseSm2(key);
  const data = decodeBase64(ciphertext, 'ciphertext');
  const size = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  if (data.length !== size) fail('WECHATPAY_DECRYPT_FAILED', `ciphertext must be ${size} bytes for this key`);
  let plain: Buffer;
  try {
    plain = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, data);
  } catch (e) {
    fail('WECHATPAY_DECRYPT_FAILED', 'RSA-OAEP decryption failed', e);
  }
  return decodeUtf8(plain, 'plaintext', 'WECHATPAY_DECRYPT_FAILED');
}
