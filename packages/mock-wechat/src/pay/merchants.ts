// Pay merchants known to the mock: mchid, merchant API certificate serial + public key (to verify
// request signatures), APIv3 key (to encrypt /v3/certificates and callbacks), and how WeChat Pay
// signs for them (platform certificate, WeChat Pay public key, or both).
import { X509Certificate, createPublicKey, randomInt, type KeyObject } from 'node:crypto';
import { apiV3KeyBytes, isSm2Key, normalizeCertificateSerial } from '@wxseal/wechatpay';
import { createCertificate } from '../certs.js';
import { randomCertificateSerialHex } from './keys.js';
import { createSm2Certificate } from './sm-keys.js';

/**
 * How WeChat Pay authenticates itself to this merchant:
 * - 'certificate': platform certificates (listed by /v3/certificates) sign everything;
 * - 'public-key': the WeChat Pay public key signs everything, /v3/certificates has nothing to list;
 * - 'both' (migration): certificates by default, the public key when a request carries
 *   `Wechatpay-Serial: PUB_KEY_ID_…`.
 */
export type PayMerchantMode = 'certificate' | 'public-key' | 'both';

/** A merchant as the mock knows it. Give either the merchant certificate or its public key. */
export interface MockPayMerchantConfig {
  /** 1-32 digits. */
  mchid: string;
  /** Serial of the merchant API certificate (hex), the `serial_no` of Authorization. */
  merchantSerialNo: string;
  /** apiclient_cert.pem; its public key verifies request signatures. */
  merchantCertificatePem?: string;
  /** The merchant's public key (SPKI PEM) instead of the certificate. */
  merchantPublicKeyPem?: string;
  /** APIv3 key: 32 bytes (a 32-character string, as on the merchant platform). */
  apiV3Key: string;
  /** Default 'certificate'. */
  mode?: PayMerchantMode;
}

/** What a merchant's backend configures. */
export interface MockPayClientConfig {
  mchid: string;
  merchantSerialNo: string;
  privateKeyPem: string;
  merchantCertificatePem: string;
  apiV3Key: string;
}

export interface MerchantEntry {
  mchid: string;
  serial: string;
  publicKey: KeyObject;
  apiV3Key: string;
  mode: PayMerchantMode;
  /** 国密 merchant: SM2 merchant key; WeChat Pay answers with SM2 (SM platform certificates) and AEAD_SM4_GCM. */
  sm: boolean;
}

const MCHID = /^[0-9]{1,32}$/;
const MAX_MERCHANTS = 1000;

export class PayMerchantRegistry {
  readonly #byMchid = new Map<string, MerchantEntry>();

  add(config: MockPayMerchantConfig): MerchantEntry {
    if (typeof config !== 'object' || config === null) throw new TypeError('pay merchant config must be an object');
    const { mchid } = config;
    if (typeof mchid !== 'string' || !MCHID.test(mchid)) throw new TypeError('mchid must be 1-32 digits');
    if (typeof config.merchantSerialNo !== 'string' || !/^[0-9A-Fa-f]{1,64}$/.test(config.merchantSerialNo)) throw new TypeError('merchantSerialNo must be 1-64 hex digits');
    const mode = config.mode ?? 'certificate';
    if (mode !== 'certificate' && mode !== 'public-key' && mode !== 'both') throw new TypeError("mode must be 'certificate', 'public-key' or 'both'");
    if (typeof config.apiV3Key !== 'string') throw new TypeError('apiV3Key must be a string');
    try {
      apiV3KeyBytes(config.apiV3Key);
    } catch {
      throw new TypeError('apiV3Key must be 32 bytes');
    }
    if ((config.merchantCertificatePem === undefined) === (config.merchantPublicKeyPem === undefined)) {
      throw new TypeError('give exactly one of merchantCertificatePem and merchantPublicKeyPem');
    }
    let publicKey: KeyObject;
    try {
      if (config.merchantCertificatePem !== undefined) {
        const cert = new X509Certificate(config.merchantCertificatePem);
        if (normalizeCertificateSerial(cert.serialNumber) !== normalizeCertificateSerial(config.merchantSerialNo)) {
          throw new TypeError('merchantSerialNo is not the serial of merchantCertificatePem');
        }
        publicKey = cert.publicKey;
      } else {
        publicKey = createPublicKey(config.merchantPublicKeyPem as string);
      }
    } catch (err) {
      if (err instanceof TypeError) throw err;
      throw new TypeError('merchant certificate / public key is not readable');
    }
    const sm = publicKey.asymmetricKeyType !== 'rsa' && isSm2Key(publicKey);
    if (publicKey.asymmetricKeyType !== 'rsa' && !sm) throw new TypeError('the merchant key must be RSA or SM2');
    if (sm && mode !== 'certificate') throw new TypeError("an SM2 merchant uses mode 'certificate' (SM platform certificates)");
    if (!this.#byMchid.has(mchid) && this.#byMchid.size >= MAX_MERCHANTS) throw new RangeError(`at most ${MAX_MERCHANTS} pay merchants`);
    const entry: MerchantEntry = { mchid, serial: normalizeCertificateSerial(config.merchantSerialNo), publicKey, apiV3Key: config.apiV3Key, mode, sm };
    this.#byMchid.set(mchid, entry);
    return entry;
  }

  get(mchid: string): MerchantEntry | undefined {
    return this.#byMchid.get(mchid);
  }

  mchids(): string[] {
    return [...this.#byMchid.keys()];
  }
}

export interface CreateMockPayMerchantOptions {
  /** Default: 10 random digits starting with 1. */
  mchid?: string;
  mode?: PayMerchantMode;
  /** Default: 32 random [0-9A-Za-z]. */
  apiV3Key?: string;
  /** Clock for the certificate's notBefore (Unix ms). */
  nowMs?: number;
  /** 'SM2': a 国密 merchant (SM2 key and SM2 merchant API certificate). Default 'RSA'. */
  algorithm?: 'RSA' | 'SM2';
}

export interface MockPayMerchant {
  /** Give to startMockWechat({ payMerchants }) or mock.addPayMerchant(). */
  config: MockPayMerchantConfig;
  /** The merchant backend's side (private key included). */
  client: MockPayClientConfig;
}

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Generates a merchant: RSA-2048 key, merchant API certificate (its serial), APIv3 key. */
export async function createMockPayMerchant(options: CreateMockPayMerchantOptions = {}): Promise<MockPayMerchant> {
  let mchid = options.mchid;
  if (mchid === undefined) {
    mchid = '1';
    while (mchid.length < 10) mchid += String(randomInt(0, 10));
  }
  let apiV3Key = options.apiV3Key;
  if (apiV3Key === undefined) {
    apiV3Key = '';
    while (apiV3Key.length < 32) apiV3Key += ALNUM[randomInt(0, ALNUM.length)];
  }
  const certOptions = {
    subject: `CN=${mchid}, OU=wxseal mock merchant, O=wxseal mock (not Tencent), L=Shenzhen, C=CN`,
    ...(options.nowMs !== undefined ? { notBeforeMs: options.nowMs - 86_400_000 } : {}),
    validityDays: 1825,
    serialNumberHex: randomCertificateSerialHex(),
  };
  const cert =
    options.algorithm === 'SM2'
      ? (() => {
          const c = createSm2Certificate(certOptions);
          return { x509SerialHex: c.serial, certificatePem: c.certificatePem, privateKeyPem: c.privateKeyPem };
        })()
      : await createCertificate(certOptions);
  const merchantSerialNo = normalizeCertificateSerial(cert.x509SerialHex);
  const config: MockPayMerchantConfig = { mchid, merchantSerialNo, merchantCertificatePem: cert.certificatePem, apiV3Key, mode: options.mode ?? 'certificate' };
  // Validates (mchid, key length) early, on a throwaway registry.
  new PayMerchantRegistry().add(config);
  return {
    config,
    client: { mchid, merchantSerialNo, privateKeyPem: cert.privateKeyPem, merchantCertificatePem: cert.certificatePem, apiV3Key },
  };
}
