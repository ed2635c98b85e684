// Sensitive request/response fields (names, ID numbers, phone numbers, bank accounts), "敏感信息加解密":
// requests are encrypted under the WeChat Pay public key / platform certificate named in the
// request's Wechatpay-Serial header, responses under the merchant's key. Ciphertext is base64.
// - RSA: RSAES-OAEP with SHA-1 and MGF1-SHA-1.
//   Source: pay.weixin.qq.com/docs/merchant/development/interface-rules/sensitive-data-encryption.html
// - 国密 (SM2 keys): SM2 public-key encryption (GB/T 32918.4) replaces RSA-OAEP, "密文格式：C1C3C2_ASN1",
//   i.e. base64 of the GM/T 0009 DER SEQUENCE { INTEGER x, INTEGER y, OCTET STRING C3, OCTET STRING C2 }
//   (what `openssl pkeyutl -encrypt` writes with an SM2 key, and what wechatpay-java's SM2PrivacyEncryptor
//   gets from the Kona "SM2" cipher). The Wechatpay-Serial rule is unchanged: it names the SM platform
//   certificate whose key encrypted.
//   Source: pay.weixin.qq.com/docs/merchant/development/shangmi/guide.html § 3 敏感信息加密.
import { constants, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import { sm2CiphertextFromAsn1, sm2CiphertextToAsn1, sm2Decrypt, sm2Encrypt } from '@wxseal/gm';
import { fail } from './errors.js';
import { decodeBase64, decodeUtf8, toPrivateKey, toPublicKey, type PrivateKeyInput, type PublicKeyInput } from './internal.js';
import { isSm2Key, sm2PrivateKeyHex, sm2PublicKeyHex } from './sm.js';

/** OAEP overhead with SHA-1: 2·20 + 2 bytes. */
const OAEP_SHA1_OVERHEAD = 42;
/** Largest SM2 sensitive plaintext accepted (UTF-8 bytes); WeChat's fields are far shorter. */
export const MAX_SM2_SENSITIVE_PLAINTEXT_BYTES = 4096;

/** Largest plaintext (UTF-8 bytes) a key of `modulusBits` can carry: 214 bytes for RSA-2048. */
export function maxSensitivePlaintextBytes(modulusBits: number): number {
  return Math.floor(modulusBits / 8) - OAEP_SHA1_OVERHEAD;
}

function encryptSm2(data: Buffer, key: KeyObject): string {
  if (data.length === 0) fail('WECHATPAY_BAD_ARGUMENT', 'SM2 cannot encrypt an empty field (C2 would be empty)');
  if (data.length > MAX_SM2_SENSITIVE_PLAINTEXT_BYTES) fail('WECHATPAY_BAD_ARGUMENT', `plaintext is ${data.length} bytes; SM2 sensitive fields take at most ${MAX_SM2_SENSITIVE_PLAINTEXT_BYTES}`);
  return sm2CiphertextToAsn1(sm2Encrypt(sm2PublicKeyHex(key), data)).toString('base64');
}

function decryptSm2(data: Buffer, key: KeyObject): Buffer {
  let c1c3c2: Buffer;
  try {
    c1c3c2 = sm2CiphertextFromAsn1(data);
  } catch (e) {
    fail('WECHATPAY_DECRYPT_FAILED', 'SM2 ciphertext is not C1C3C2_ASN1 (DER SEQUENCE { x, y, C3, C2 })', e);
  }
  try {
    return sm2Decrypt(sm2PrivateKeyHex(key), c1c3c2);
  } catch (e) {
    fail('WECHATPAY_DECRYPT_FAILED', 'SM2 decryption failed (wrong key or tampered ciphertext: C3 does not match)', e);
  }
}

/**
 * Encrypts a sensitive field to WeChat Pay's key (platform certificate or public key). Randomised.
 * RSA key: base64(RSA-OAEP(SHA-1, MGF1-SHA-1)); SM2 key (国密): base64(C1C3C2_ASN1). Send the
 * request with Wechatpay-Serial naming that certificate / key.
 */
export function encryptSensitive(plaintext: string, publicKey: PublicKeyInput): string {
  if (typeof plaintext !== 'string') fail('WECHATPAY_BAD_ARGUMENT', 'plaintext must be a string');
  const key = toPublicKey(publicKey);
  const data = Buffer.from(plaintext, 'utf8');
  if (isSm2Key(key)) return encryptSm2(data, key);
  const max = maxSensitivePlaintextBytes(key.asymmetricKeyDetails?.modulusLength ?? 0);
  if (data.length > max) fail('WECHATPAY_BAD_ARGUMENT', `plaintext is ${data.length} bytes; this key takes at most ${max}`);
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, data).toString('base64');
}

/**
 * Decrypts a sensitive field of an answer with the merchant's private key (RSA-OAEP, or SM2
 * C1C3C2_ASN1 for an SM2 key). Any failure (wrong key, padding, layout, tampering) is
 * WECHATPAY_DECRYPT_FAILED; text that is not base64 is WECHATPAY_MALFORMED.
 */
export function decryptSensitive(ciphertext: string, privateKey: PrivateKeyInput): string {
  const key = toPrivateKey(privateKey);
  const data = decodeBase64(ciphertext, 'ciphertext');
  if (isSm2Key(key)) return decodeUtf8(decryptSm2(data, key), 'plaintext', 'WECHATPAY_DECRYPT_FAILED');
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
