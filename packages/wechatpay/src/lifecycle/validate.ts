// Validation of candidate merchant material before it may replace what is in use, and the
// report behind `wxseal pay certs check`. Every check collects a problem (a sentence without any
// secret) instead of throwing, so one report names everything that is wrong at once.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { MIN_RSA_BITS } from '../internal.js';
import { isSm2Key } from '../sm.js';
import { apiV3KeyBytes } from '../aead.js';
import { readCertificate, type PlatformCertificate } from '../certificates.js';
import { isPublicKeyId, normalizeCertificateSerial, wechatPayPublicKey, type WechatPayPublicKey } from '../verification.js';

const DAY_MS = 86_400_000;

/** A certificate read from a file or a sync payload: a platform certificate without the list item's times. */
export type ParsedCertificate = Omit<PlatformCertificate, 'effectiveTime' | 'expireTime'>;

function rsaProblem(key: KeyObject, what: string): string | undefined {
  // 国密 merchants: SM2 keys and SM platform certificates are accepted beside RSA.
  if (key.asymmetricKeyType !== 'rsa' && isSm2Key(key)) return undefined;
  if (key.asymmetricKeyType !== 'rsa') return `${what} is not an RSA key (${key.asymmetricKeyType ?? 'unknown'})`;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return `${what} is RSA-${bits}, below RSA-${MIN_RSA_BITS}`;
  return undefined;
}

/** Parses one PEM certificate; problems are pushed, undefined returned on failure. */
export function parseCertificatePem(pem: string, what: string, problems: string[]): ParsedCertificate | undefined {
  let parsed: { x509: X509Certificate; serial: string };
  try {
    parsed = readCertificate(pem.trim() + '\n');
  } catch {
    problems.push(`${what} is not a readable PEM X.509 certificate`);
    return undefined;
  }
  const { x509, serial } = parsed;
  const rsa = rsaProblem(x509.publicKey, `${what} ${serial}`);
  if (rsa !== undefined) {
    problems.push(rsa);
    return undefined;
  }
  return { serial, pem: x509.toString(), x509, publicKey: x509.publicKey, validFrom: new Date(x509.validFrom), validTo: new Date(x509.validTo) };
}

/** Splits a PEM bundle into its certificates. */
export function splitPemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

export interface MerchantCandidateInput {
  mchid: string;
  /** Configured serial_no; checked against the certificate when both are present. */
  serialNo?: string;
  privateKeyPem: string;
  certificatePem?: string;
  apiV3Key?: string;
  wechatPayPublicKey?: { id: string; pem: string };
  platformCertificatePems?: readonly string[];
  nowMs?: number;
}

export interface MerchantCandidate {
  mchid: string;
  merchantSerialNo: string;
  privateKey: KeyObject;
  merchantCertificate?: ParsedCertificate;
  apiV3Key?: string;
  publicKey?: WechatPayPublicKey;
  pinned: ParsedCertificate[];
}

/**
 * Validates a complete candidate: key parses and is RSA ≥ 2048; certificate parses, is RSA ≥ 2048,
 * is valid now and carries the configured serial; key matches the certificate; APIv3 key is 32
 * bytes; WeChat Pay public key parses with a PUB_KEY_ID_ id; pinned platform certificates parse
 * and are not expired. Returns the parsed candidate or the list of problems.
 */
export function validateMerchantCandidate(input: MerchantCandidateInput): { candidate?: MerchantCandidate; problems: string[] } {
  const problems: string[] = [];
  const now = input.nowMs ?? Date.now();
  let privateKey: KeyObject | undefined;
  try {
    privateKey = createPrivateKey(input.privateKeyPem);
    if (privateKey.type !== 'private') throw new Error('not private');
    const rsa = rsaProblem(privateKey, 'merchant private key');
    if (rsa !== undefined) {
      problems.push(rsa);
      privateKey = undefined;
    }
  } catch {
    problems.push('merchant private key is not a readable PEM private key');
    privateKey = undefined;
  }
  let cert: ParsedCertificate | undefined;
  if (input.certificatePem !== undefined) {
    cert = parseCertificatePem(input.certificatePem, 'merchant certificate', problems);
    if (cert !== undefined) {
      if (cert.validTo.getTime() <= now) problems.push(`merchant certificate ${cert.serial} expired at ${cert.validTo.toISOString()}`);
      if (cert.validFrom.getTime() > now + 300_000) problems.push(`merchant certificate ${cert.serial} is not valid before ${cert.validFrom.toISOString()}`);
      if (privateKey !== undefined && !cert.x509.checkPrivateKey(privateKey)) {
        problems.push(`merchant private key does not match the public key of merchant certificate ${cert.serial}`);
      }
    }
  }
  let serial: string | undefined;
  if (input.serialNo !== undefined && input.serialNo.trim() !== '') {
    try {
      serial = normalizeCertificateSerial(input.serialNo.trim());
    } catch {
      problems.push('configured serial_no is not a hex certificate serial');
    }
  }
  if (serial !== undefined && cert !== undefined && serial !== cert.serial) {
    problems.push(`configured serial_no ${serial} differs from the merchant certificate's serial ${cert.serial}`);
  }
  const merchantSerialNo = serial ?? cert?.serial;
  if (merchantSerialNo === undefined && input.certificatePem === undefined) problems.push('neither serial_no nor a merchant certificate is configured');
  let apiV3Key: string | undefined;
  if (input.apiV3Key !== undefined) {
    try {
      apiV3KeyBytes(input.apiV3Key);
      apiV3Key = input.apiV3Key;
    } catch {
      problems.push('APIv3 key must be exactly 32 bytes');
    }
  }
  let publicKey: WechatPayPublicKey | undefined;
  if (input.wechatPayPublicKey !== undefined) {
    if (!isPublicKeyId(input.wechatPayPublicKey.id)) problems.push('WeChat Pay public key id must start with PUB_KEY_ID_');
    else {
      try {
        publicKey = wechatPayPublicKey(input.wechatPayPublicKey.id, input.wechatPayPublicKey.pem);
      } catch {
        problems.push(`WeChat Pay public key ${input.wechatPayPublicKey.id} is not a readable RSA ≥ ${MIN_RSA_BITS} public key`);
      }
    }
  }
  const pinned: ParsedCertificate[] = [];
  for (const [i, pem] of (input.platformCertificatePems ?? []).entries()) {
    const c = parseCertificatePem(pem, `pinned platform certificate #${i + 1}`, problems);
    if (c === undefined) continue;
    if (c.validTo.getTime() <= now) problems.push(`pinned platform certificate ${c.serial} expired at ${c.validTo.toISOString()}`);
    else if (!pinned.some((p) => p.serial === c.serial)) pinned.push(c);
  }
  if (problems.length > 0 || privateKey === undefined || merchantSerialNo === undefined) return { problems };
  const candidate: MerchantCandidate = { mchid: input.mchid, merchantSerialNo, privateKey, pinned };
  if (cert !== undefined) candidate.merchantCertificate = cert;
  if (apiV3Key !== undefined) candidate.apiV3Key = apiV3Key;
  if (publicKey !== undefined) candidate.publicKey = publicKey;
  return { candidate, problems };
}

export interface CertificateStatus {
  serial: string;
  subject: string;
  validFrom: string;
  validTo: string;
  /** Whole days until validTo (negative once expired). */
  daysLeft: number;
  expired: boolean;
}

export interface CheckCertificatesInput {
  mchid?: string;
  serialNo?: string;
  privateKeyPem?: string;
  merchantCertificatePem?: string;
  /** Platform certificates (PEMs or one bundle each), e.g. the output of `certs download`. */
  platformCertificatePems?: readonly string[];
  wechatPayPublicKey?: { id: string; pem: string };
  apiV3Key?: string;
  /** A certificate with fewer days left is a problem (default 30). */
  warnDays?: number;
  nowMs?: number;
}

export interface CertificateCheckReport {
  /** No problem, and something was checked (a merchant certificate, platform certificates or the public key). */
  ok: boolean;
  /** What was checked and found good, one sentence each (what `certs check` prints on success). */
  checked: string[];
  merchant?: CertificateStatus & { keyMatchesCertificate?: boolean; serialMatchesConfig?: boolean };
  platform: CertificateStatus[];
  wechatPayPublicKeyId?: string;
  problems: string[];
  warnings: string[];
}

function status(c: ParsedCertificate, now: number): CertificateStatus {
  return {
    serial: c.serial,
    subject: c.x509.subject.replace(/\n/g, ', '),
    validFrom: c.validFrom.toISOString(),
    validTo: c.validTo.toISOString(),
    daysLeft: Math.floor((c.validTo.getTime() - now) / DAY_MS),
    expired: c.validTo.getTime() <= now,
  };
}

/**
 * The `certs check` report: serials, validity, days left, key-matches-cert, problems, and what was
 * checked. Pure, no I/O. A private key, serial or APIv3 key alone is nothing to check: with no
 * merchant certificate, platform certificate or WeChat Pay public key the report is not ok.
 */
export function checkCertificates(input: CheckCertificatesInput): CertificateCheckReport {
  const now = input.nowMs ?? Date.now();
  const warnDays = input.warnDays ?? 30;
  const problems: string[] = [];
  const warnings: string[] = [];
  const checked: string[] = [];
  const report: CertificateCheckReport = { ok: false, checked, platform: [], problems, warnings };
  if (input.merchantCertificatePem === undefined && (input.platformCertificatePems ?? []).length === 0 && input.wechatPayPublicKey === undefined) {
    problems.push('nothing to check: give the merchant certificate (with the private key and serial_no to match), platform certificates or the WeChat Pay public key');
  }
  if (input.merchantCertificatePem !== undefined) {
    const c = parseCertificatePem(input.merchantCertificatePem, 'merchant certificate', problems);
    if (c !== undefined) {
      const m: NonNullable<CertificateCheckReport['merchant']> = status(c, now);
      if (m.expired) problems.push(`merchant certificate ${c.serial} expired at ${m.validTo}`);
      else {
        checked.push(`merchant certificate ${c.serial} valid until ${m.validTo} (${m.daysLeft} days left)`);
        if (m.daysLeft < warnDays) warnings.push(`merchant certificate ${c.serial} expires in ${m.daysLeft} days`);
      }
      if (input.privateKeyPem !== undefined) {
        try {
          m.keyMatchesCertificate = c.x509.checkPrivateKey(createPrivateKey(input.privateKeyPem));
          if (!m.keyMatchesCertificate) problems.push(`merchant private key does not match merchant certificate ${c.serial}`);
          else checked.push(`merchant private key matches merchant certificate ${c.serial}`);
        } catch {
          m.keyMatchesCertificate = false;
          problems.push('merchant private key is not a readable PEM private key');
        }
      }
      if (input.serialNo !== undefined) {
        let configured: string | undefined;
        try {
          configured = normalizeCertificateSerial(input.serialNo.trim());
        } catch {
          problems.push('configured serial_no is not a hex certificate serial');
        }
        if (configured !== undefined) {
          m.serialMatchesConfig = configured === c.serial;
          if (!m.serialMatchesConfig) problems.push(`configured serial_no ${configured} differs from the merchant certificate's serial ${c.serial}`);
          else checked.push(`serial_no ${configured} is the merchant certificate's serial`);
        }
      }
      report.merchant = m;
    }
  } else {
    if (input.privateKeyPem !== undefined) {
      try {
        const k = createPrivateKey(input.privateKeyPem);
        const rsa = rsaProblem(k, 'merchant private key');
        if (rsa !== undefined) problems.push(rsa);
        else warnings.push('merchant private key only read, not matched: no merchant certificate given');
      } catch {
        problems.push('merchant private key is not a readable PEM private key');
      }
    }
    if (input.serialNo !== undefined) warnings.push('serial_no not checked: no merchant certificate given');
  }
  const seen = new Set<string>();
  for (const [i, text] of (input.platformCertificatePems ?? []).entries()) {
    const pems = splitPemCertificates(text);
    if (pems.length === 0) problems.push(`platform certificate input #${i + 1} holds no PEM certificate`);
    for (const pem of pems) {
      const c = parseCertificatePem(pem, `platform certificate (input #${i + 1})`, problems);
      if (c === undefined || seen.has(c.serial)) continue;
      seen.add(c.serial);
      const s = status(c, now);
      report.platform.push(s);
      if (s.expired) warnings.push(`platform certificate ${c.serial} expired at ${s.validTo}`);
    }
  }
  if (report.platform.length > 0 && !report.platform.some((p) => !p.expired)) problems.push('no platform certificate is currently valid');
  const valid = report.platform.filter((p) => !p.expired).sort((a, b) => a.validTo.localeCompare(b.validTo));
  const nearest = valid[0];
  if (nearest !== undefined) {
    checked.push(`${valid.length} platform certificate${valid.length === 1 ? '' : 's'} valid, nearest expiry ${nearest.validTo} (${nearest.serial}, ${nearest.daysLeft} days left)`);
  }
  const newest = valid[valid.length - 1];
  if (newest !== undefined && newest.daysLeft < warnDays) warnings.push(`newest platform certificate ${newest.serial} expires in ${newest.daysLeft} days`);
  if (input.wechatPayPublicKey !== undefined) {
    try {
      const k = wechatPayPublicKey(input.wechatPayPublicKey.id, input.wechatPayPublicKey.pem);
      report.wechatPayPublicKeyId = input.wechatPayPublicKey.id;
      checked.push(`WeChat Pay public key ${k.id} is a readable RSA-${k.publicKey.asymmetricKeyDetails?.modulusLength ?? '?'} key`);
    } catch {
      problems.push('WeChat Pay public key (or its PUB_KEY_ID_ id) is not usable');
    }
  }
  if (input.apiV3Key !== undefined) {
    try {
      apiV3KeyBytes(input.apiV3Key);
      checked.push('APIv3 key is 32 bytes');
    } catch {
      problems.push('APIv3 key must be exactly 32 bytes');
    }
  }
  report.ok = problems.length === 0 && checked.length > 0;
  return report;
}
