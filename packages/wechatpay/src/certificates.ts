// Platform certificates (GET /v3/certificates, "下载平台证书"): each item of `data` carries
// serial_no, effective_time, expire_time and encrypt_certificate {algorithm, nonce,
// associated_data: "certificate", ciphertext}, the PEM encrypted with AEAD_AES_256_GCM under the
// APIv3 key. Merchants in public key mode get no certificates (empty data / RESOURCE_NOT_EXISTS).
// Source: pay.weixin.qq.com/docs/merchant/apis/platform-certificate/api-v3-get-certificates/get.html
import { X509Certificate, type KeyObject } from 'node:crypto';
import { fail } from './errors.js';
import { AEAD_ALGORITHM, decryptAeadAs, encryptAeadAs, type AeadAlgorithm, type ApiV3Key } from './aead.js';
import { SM_AEAD_ALGORITHM } from './sm.js';
import { bodyBytes, decodeUtf8, toPublicKey } from './internal.js';
import { normalizeCertificateSerial, x509Serial, type PlatformCertificateKey } from './verification.js';
import { chinaTime } from './notification.js';

/** Associated data WeChat Pay uses for encrypted certificates. */
export const CERTIFICATE_ASSOCIATED_DATA = 'certificate';

export interface EncryptedCertificateItem {
  serial_no: string;
  effective_time: string;
  expire_time: string;
  encrypt_certificate: { algorithm: string; nonce: string; associated_data: string; ciphertext: string };
}

export interface PlatformCertificate {
  /** Upper-case hex serial, as WeChat reports it. */
  serial: string;
  pem: string;
  x509: X509Certificate;
  publicKey: KeyObject;
  /** From the certificate itself. */
  validFrom: Date;
  validTo: Date;
  /** effective_time / expire_time as the list item gave them. */
  effectiveTime: string;
  expireTime: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads one certificate PEM: exactly one X.509 certificate, serial as WeChat writes it. */
export function readCertificate(pem: string): { x509: X509Certificate; serial: string } {
  if (typeof pem !== 'string') fail('WECHATPAY_BAD_ARGUMENT', 'certificate must be a PEM string');
  const count = pem.split('-----BEGIN CERTIFICATE-----').length - 1;
  if (count !== 1) fail('WECHATPAY_MALFORMED', `expected one PEM certificate, found ${count}`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(pem);
  } catch (e) {
    fail('WECHATPAY_MALFORMED', 'not a readable X.509 certificate', e);
  }
  return { x509, serial: x509Serial(x509) };
}

/** Decrypts one `data` item and checks that the certificate inside carries the announced serial. */
export function decryptCertificateItem(item: unknown, apiV3Key: ApiV3Key): PlatformCertificate {
  if (!isObject(item)) fail('WECHATPAY_MALFORMED', 'certificate item must be an object');
  const { serial_no, effective_time, expire_time, encrypt_certificate: enc } = item;
  if (typeof serial_no !== 'string') fail('WECHATPAY_MALFORMED', 'serial_no must be a string');
  if (!isObject(enc)) fail('WECHATPAY_MALFORMED', 'encrypt_certificate must be an object');
  const algorithm = enc['algorithm'];
  // AEAD_SM4_GCM: the SM platform certificates (algorithm_type=SM2); the SM2 key inside verifies SM2-with-SM3.
  if (algorithm !== AEAD_ALGORITHM && algorithm !== SM_AEAD_ALGORITHM) fail('WECHATPAY_UNSUPPORTED_ALGORITHM', `encrypt_certificate.algorithm must be ${AEAD_ALGORITHM} or ${SM_AEAD_ALGORITHM}`);
  const { nonce, associated_data, ciphertext } = enc;
  if (typeof nonce !== 'string' || typeof ciphertext !== 'string' || (associated_data !== undefined && typeof associated_data !== 'string')) {
    fail('WECHATPAY_MALFORMED', 'encrypt_certificate needs string nonce, ciphertext and associated_data');
  }
  const pem = decryptAeadAs(algorithm, apiV3Key, { nonce, ciphertext, associated_data: associated_data ?? '' });
  const { x509, serial } = readCertificate(pem);
  let announced: string;
  try {
    announced = normalizeCertificateSerial(serial_no);
  } catch {
    fail('WECHATPAY_MALFORMED', 'serial_no is not a hex serial');
  }
  if (announced !== serial) fail('WECHATPAY_SERIAL_MISMATCH', `item serial_no ${serial_no} but the certificate's serial is ${serial}`);
  return {
    serial,
    pem,
    x509,
    publicKey: toPublicKey(x509, 'platform certificate'),
    validFrom: new Date(x509.validFrom),
    validTo: new Date(x509.validTo),
    effectiveTime: typeof effective_time === 'string' ? effective_time : '',
    expireTime: typeof expire_time === 'string' ? expire_time : '',
  };
}

/** Decrypts a whole /v3/certificates response body (raw text/bytes or parsed object). Empty data → []. */
export function decryptCertificateList(body: string | Uint8Array | { data?: unknown }, apiV3Key: ApiV3Key): PlatformCertificate[] {
  let doc: unknown = body;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    try {
      doc = JSON.parse(decodeUtf8(bodyBytes(body), 'certificate list'));
    } catch (e) {
      if (e instanceof Error && e.name === 'WechatPayError') throw e;
      fail('WECHATPAY_MALFORMED', 'certificate list is not JSON');
    }
  }
  if (!isObject(doc)) fail('WECHATPAY_MALFORMED', 'certificate list must be an object');
  const data = doc['data'];
  if (data === undefined || data === null) return [];
  if (!Array.isArray(data)) fail('WECHATPAY_MALFORMED', 'certificate list data must be an array');
  if (data.length > 64) fail('WECHATPAY_MALFORMED', 'certificate list holds more than 64 items');
  const out = data.map((item) => decryptCertificateItem(item, apiV3Key));
  const serials = new Set(out.map((c) => c.serial));
  if (serials.size !== out.length) fail('WECHATPAY_MALFORMED', 'certificate list repeats a serial');
  return out;
}

/** A verification key entry from a decrypted platform certificate. */
export function certificateVerificationKey(cert: PlatformCertificate): PlatformCertificateKey {
  return Object.freeze({ kind: 'certificate' as const, serial: cert.serial, publicKey: cert.publicKey, validFrom: cert.validFrom, validTo: cert.validTo });
}

/** The newest certificate valid at `nowSeconds` (latest validTo), or undefined. */
export function newestValidCertificate(certs: readonly PlatformCertificate[], nowSeconds: number = Date.now() / 1000): PlatformCertificate | undefined {
  let best: PlatformCertificate | undefined;
  for (const c of certs) {
    if (c.validFrom.getTime() / 1000 > nowSeconds || c.validTo.getTime() / 1000 < nowSeconds) continue;
    if (best === undefined || c.validTo > best.validTo) best = c;
  }
  return best;
}

/**
 * Builds a /v3/certificates body from PEMs (the WeChat Pay side; for mock servers and tests);
 * `algorithm` AEAD_SM4_GCM for the SM platform certificates (algorithm_type=SM2).
 */
export function buildCertificateListBody(pems: readonly string[], apiV3Key: ApiV3Key, algorithm: AeadAlgorithm = AEAD_ALGORITHM): string {
  const data = pems.map((pem) => {
    const { x509, serial } = readCertificate(pem);
    return {
      serial_no: serial,
      effective_time: chinaTime(new Date(x509.validFrom)),
      expire_time: chinaTime(new Date(x509.validTo)),
      encrypt_certificate: { algorithm, ...encryptAeadAs(algorithm, apiV3Key, { plaintext: pem, associated_data: CERTIFICATE_ASSOCIATED_DATA }) },
    };
  });
  return JSON.stringify({ data });
}
