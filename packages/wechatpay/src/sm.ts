// 国密 (ShangMi) for WeChat Pay API v3, as wechatpay-java's `shangmi` extension implements it:
//   Authorization scheme and Wechatpay-Signature-Type `WECHATPAY2-SM2-WITH-SM3`;
//   signature = base64(DER SEQUENCE{r, s}) of SM2 with SM3 over Z(ID) ‖ message, ID 1234567812345678
//   (Kona's SM2 Signature default; the published vector of shangmi-testing BaseSM2Test verifies so);
//   `AEAD_SM4_GCM` for callback resources and encrypted certificates: SM4-GCM (12-byte nonce, 16-byte
//   tag) under the FIRST 16 BYTES OF SM3(APIv3 key) (AeadSM4Cipher.covertSM4Key), same nonce /
//   associated_data / base64(ciphertext ‖ tag) encoding as AEAD_AES_256_GCM;
//   SM platform certificates: GET /v3/certificates?algorithm_type=SM2.
// Key handling lives here only: SM2 keys travel as node:crypto KeyObjects (OpenSSL 3 reads SM2 PEM,
// PKCS#8 and certificates); their PKCS#8 / SPKI DER exports are read by @wxseal/gm into the hex form
// it signs with.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { SM2_DEFAULT_ID, sm2PrivateKeyFromDer, sm2PublicKeyFromDer, sm2Sign, sm2Verify, sm3, sm4GcmDecrypt, sm4GcmEncrypt } from '@wxseal/gm';
import { fail } from './errors.js';

/** Authorization scheme and Wechatpay-Signature-Type of SM2-with-SM3 signatures. */
export const SM_SIGNATURE_SCHEME = 'WECHATPAY2-SM2-WITH-SM3';
/** resource.algorithm / encrypt_certificate.algorithm of SM4-GCM. */
export const SM_AEAD_ALGORITHM = 'AEAD_SM4_GCM';
/** algorithm_type of GET /v3/certificates that lists the SM platform certificates. */
export const SM_CERTIFICATE_ALGORITHM_TYPE = 'SM2';
/** The SM2 distinguishing ID WeChat Pay signs and verifies with. */
export const WECHATPAY_SM2_USER_ID = SM2_DEFAULT_ID;

// DER of OID 1.2.156.10197.1.301 (the SM2 curve) as it appears in SPKI / PKCS#8 parameters.
const SM2_CURVE_OID = Buffer.from('06082a811ccf5501822d', 'hex');
const sm2Cache = new WeakMap<KeyObject, boolean>();

function spkiOf(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/** True for an SM2 key (private or public): an EC key on the SM2 curve. */
export function isSm2Key(key: KeyObject): boolean {
  if (typeof key !== 'object' || key === null || (key.type !== 'private' && key.type !== 'public')) return false;
  const cached = sm2Cache.get(key);
  if (cached !== undefined) return cached;
  let r = false;
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') r = false;
  else {
    try {
      r = spkiOf(key).includes(SM2_CURVE_OID);
    } catch {
      r = false;
    }
  }
  sm2Cache.set(key, r);
  return r;
}

/** Uncompressed SM2 public point 04‖x‖y (hex) of an SM2 key. */
export function sm2PublicKeyHex(key: KeyObject): string {
  try {
    return sm2PublicKeyFromDer(spkiOf(key));
  } catch (e) {
    fail('WECHATPAY_BAD_ARGUMENT', 'not an SM2 public key (uncompressed point on the SM2 curve)', e);
  }
}

/** The 32-byte private scalar (hex) of an SM2 private key. */
export function sm2PrivateKeyHex(key: KeyObject): string {
  if (key.type !== 'private') fail('WECHATPAY_BAD_ARGUMENT', 'an SM2 private key is needed');
  try {
    return sm2PrivateKeyFromDer(key.export({ type: 'pkcs8', format: 'der' }));
  } catch (e) {
    fail('WECHATPAY_BAD_ARGUMENT', 'not an SM2 private key', e);
  }
}

/** base64(DER) SM2-with-SM3 signature (ID 1234567812345678). */
export function sm2SignBase64(message: Uint8Array, privateKey: KeyObject): string {
  return sm2Sign(sm2PrivateKeyHex(privateKey), message, { userId: WECHATPAY_SM2_USER_ID, publicKeyHex: sm2PublicKeyHex(privateKey) }).toString('base64');
}

/** Verifies a DER SM2-with-SM3 signature (ID 1234567812345678); false on any mismatch. */
export function sm2VerifyDer(message: Uint8Array, signature: Uint8Array, publicKey: KeyObject): boolean {
  return sm2Verify(sm2PublicKeyHex(publicKey), message, signature, { userId: WECHATPAY_SM2_USER_ID });
}

/** The SM4 key of AEAD_SM4_GCM: the first 16 bytes of SM3(APIv3 key bytes). */
export function sm4KeyFromApiV3Key(apiV3Key: Uint8Array): Buffer {
  return sm3(apiV3Key).subarray(0, 16);
}

/** SM4-GCM open: data = ciphertext ‖ 16-byte tag; WECHATPAY_DECRYPT_FAILED when it does not authenticate. */
export function sm4GcmOpen(key: Uint8Array, iv: Uint8Array, data: Uint8Array, aad: Uint8Array): Buffer {
  try {
    return sm4GcmDecrypt(key, iv, data.subarray(0, data.length - 16), data.subarray(data.length - 16), aad);
  } catch (e) {
    fail('WECHATPAY_DECRYPT_FAILED', 'SM4-GCM authentication failed (wrong key, nonce, associated_data or tampered ciphertext)', e);
  }
}

/** SM4-GCM seal: ciphertext ‖ 16-byte tag. */
export function sm4GcmSeal(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const { ciphertext, tag } = sm4GcmEncrypt(key, iv, plaintext, aad);
  return Buffer.concat([ciphertext, tag]);
}

/**
 * Why payment parameters (paySign / sign) are refused for an SM2 merchant key: WeChat documents no
 * SM2 client-side payment signature. The v3 "调起支付" pages of JSAPI, Mini Program and App define
 * paySign as SHA256 with RSA over the four lines, and signType as "RSA" only ("签名类型，默认为RSA，
 * 仅支持RSA"); the 国密 guide (pay.weixin.qq.com/docs/merchant/development/shangmi/guide.html) covers
 * request/response signatures, sensitive fields and callbacks / certificates, not payment parameters.
 */
export const SM2_PAY_SIGN_UNDOCUMENTED =
  'WeChat documents no SM2 payment-parameter signature: the v3 调起支付 pages (JSAPI, Mini Program, App) specify paySign as SHA256 with RSA and signType "RSA" only (签名类型，默认为RSA，仅支持RSA), and the 国密 guide (pay.weixin.qq.com/docs/merchant/development/shangmi/guide.html) covers API signatures, sensitive fields and callbacks only; sign payment parameters with an RSA merchant key';
