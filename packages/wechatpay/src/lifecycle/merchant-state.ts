// One merchant's material as the manager holds it: the validated candidate read from its sources,
// the platform certificates downloaded or synchronised, and the immutable snapshot built from both
// that callers get from current(). A snapshot is never edited: a change builds a new one.
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { MerchantMaterial } from '../merchant/material.js';
import { createVerificationKeySet, normalizeCertificateSerial, type VerificationKey } from '../verification.js';
import { downloadsPlatformCertificates, type MerchantConfig } from './config.js';
import type { MerchantCandidate, ParsedCertificate } from './validate.js';

export interface MerchantState {
  readonly config: MerchantConfig;
  readonly mchid: string;
  /** Downloads platform certificates (see MerchantConfig.downloadPlatformCertificates). */
  readonly download: boolean;
  candidate?: MerchantCandidate;
  candidateFingerprint?: string;
  /** Downloaded / synchronised platform certificates. */
  platform: ParsedCertificate[];
  /** The snapshot in use. */
  material?: MerchantMaterial;
  version: number;
  /** The reload in progress (reloads of one merchant run one after another). */
  reloading: Promise<boolean>;
}

export function createMerchantState(config: MerchantConfig): MerchantState {
  return { config, mchid: config.mchid, download: downloadsPlatformCertificates(config), platform: [], version: 0, reloading: Promise.resolve(true) };
}

/** Whether the snapshot can verify a signature made with `serial` (certificate serial or public key id). */
export function knowsSerial(material: MerchantMaterial | undefined, serial: string): boolean {
  const keys = material?.verificationKeys;
  if (keys === undefined) return false;
  if (keys.publicKeys.has(serial)) return true;
  try {
    return keys.certificates.has(normalizeCertificateSerial(serial));
  } catch {
    return false;
  }
}

/**
 * The snapshot of a candidate plus platform certificates at `now`: expired certificates left out,
 * the newest valid one (or the WeChat Pay public key) as the encryption key and Wechatpay-Serial.
 */
export function buildSnapshot(mchid: string, c: MerchantCandidate, platform: readonly ParsedCertificate[], version: number, now: number): { material: MerchantMaterial; platformSerials: string[] } {
  const certs = new Map<string, ParsedCertificate>();
  for (const p of [...c.pinned, ...platform]) if (p.validTo.getTime() > now && !certs.has(p.serial)) certs.set(p.serial, p);
  const keys: VerificationKey[] = [...certs.values()].map((p) =>
    Object.freeze({ kind: 'certificate' as const, serial: p.serial, publicKey: p.publicKey, validFrom: p.validFrom, validTo: p.validTo }),
  );
  if (c.publicKey !== undefined) keys.push(c.publicKey);
  let newest: ParsedCertificate | undefined;
  for (const p of certs.values()) if (p.validFrom.getTime() <= now && (newest === undefined || p.validTo > newest.validTo)) newest = p;
  const wechatpaySerial = c.publicKey?.id ?? newest?.serial;
  const encryptionKey: KeyObject | undefined = c.publicKey?.publicKey ?? newest?.publicKey;
  const material: MerchantMaterial = Object.freeze({
    mchid,
    merchantSerialNo: c.merchantSerialNo,
    privateKey: c.privateKey,
    ...(c.merchantCertificate === undefined ? {} : { merchantCertificate: c.merchantCertificate.x509 as X509Certificate }),
    apiV3Key: c.apiV3Key ?? '',
    verificationKeys: createVerificationKeySet(keys),
    ...(wechatpaySerial === undefined ? {} : { wechatpaySerial }),
    ...(encryptionKey === undefined ? {} : { encryptionKey }),
    version,
  });
  return { material, platformSerials: [...certs.keys()] };
}
