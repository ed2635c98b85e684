// 国密 side of the Pay mock: SM2 X.509 certificates (signature SM2-with-SM3, OID 1.2.156.10197.1.501,
// signed with the default ID 1234567812345678, key id-ecPublicKey on the SM2 curve — the shape of
// WeChat Pay's SM platform certificates and of a merchant's SM API certificate) and the ring of SM
// platform certificates listed by GET /v3/certificates?algorithm_type=SM2.
// @peculiar/x509 rides on WebCrypto, which has no SM2, so the few DER structures are written here.
import { createPrivateKey } from 'node:crypto';
import { normalizeCertificateSerial } from '@wxseal/wechatpay';
import { sm2GenerateKeyPair, sm2PrivateKeyToPem, sm2PublicKeyToDer, sm2Sign } from '@wxseal/gm';
import { PlatformCertificateSet, randomCertificateSerialHex, type PayPlatformCertificate } from './keys.js';

function derLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, ...parts: Buffer[]): Buffer {
  const value = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(value.length), value]);
}

const OID_SM2_WITH_SM3 = Buffer.from('06082a811ccf55018375', 'hex');
const ATTRIBUTE_OIDS: Readonly<Record<string, string>> = { CN: '550403', OU: '55040b', O: '55040a', L: '550407', C: '550406' };

/** `CN=a, O=b, C=CN` → Name (one RDN per attribute, UTF8String, PrintableString for C). */
function name(dn: string): Buffer {
  const rdns = dn.split(/,\s*/).map((part) => {
    const eq = part.indexOf('=');
    const type = part.slice(0, eq).trim();
    const oid = ATTRIBUTE_OIDS[type];
    if (oid === undefined) throw new TypeError(`unsupported DN attribute ${type}`);
    const value = Buffer.from(part.slice(eq + 1).trim(), 'utf8');
    return der(0x31, der(0x30, der(0x06, Buffer.from(oid, 'hex')), der(type === 'C' ? 0x13 : 0x0c, value)));
  });
  return der(0x30, ...rdns);
}

/** UTCTime (before 2050) or GeneralizedTime, second precision. */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return d.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(`${iso.slice(2)}Z`)) : der(0x18, Buffer.from(`${iso}Z`));
}

export interface Sm2CertificateOptions {
  subject: string;
  /** Default: the subject (self-signed). */
  issuer?: string;
  /** Signs the certificate; default: the subject's own key (self-signed). */
  issuerPrivateKeyHex?: string;
  notBeforeMs?: number;
  validityDays?: number;
  /** Even-length hex, at most 20 bytes; random (WeChat-like, 40 digits) when absent. */
  serialNumberHex?: string;
}

export interface Sm2Certificate {
  /** Upper-case hex serial without leading zeros (Wechatpay-Serial / serial_no). */
  serial: string;
  certificatePem: string;
  /** PKCS#8 `PRIVATE KEY` PEM, as `openssl genpkey -algorithm SM2` writes it. */
  privateKeyPem: string;
  privateKeyHex: string;
  publicKeyHex: string;
}

/** A fresh SM2 key pair and its certificate. */
export function createSm2Certificate(options: Sm2CertificateOptions): Sm2Certificate {
  const pair = sm2GenerateKeyPair();
  let serial = options.serialNumberHex ?? randomCertificateSerialHex();
  if (!/^[0-9a-fA-F]+$/.test(serial) || serial.length % 2 !== 0 || serial.length > 40) throw new RangeError('serialNumberHex must be even-length hex, at most 20 bytes');
  // A positive INTEGER without a sign byte.
  serial = ((parseInt(serial.slice(0, 2), 16) & 0x7f) | 0x01).toString(16).padStart(2, '0') + serial.slice(2);
  const notBefore = new Date(options.notBeforeMs ?? Date.now() - 86_400_000);
  const notAfter = new Date(notBefore.getTime() + (options.validityDays ?? 1825) * 86_400_000);
  const algorithm = der(0x30, OID_SM2_WITH_SM3);
  const tbs = der(
    0x30,
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, Buffer.from(serial, 'hex')),
    algorithm,
    name(options.issuer ?? options.subject),
    der(0x30, time(notBefore), time(notAfter)),
    name(options.subject),
    sm2PublicKeyToDer(pair.publicKeyHex),
  );
  const signature = sm2Sign(options.issuerPrivateKeyHex ?? pair.privateKeyHex, tbs);
  const cert = der(0x30, tbs, algorithm, der(0x03, Buffer.from([0]), signature));
  const b64 = cert.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd();
  return {
    serial: normalizeCertificateSerial(serial),
    certificatePem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`,
    privateKeyPem: sm2PrivateKeyToPem(pair.privateKeyHex),
    privateKeyHex: pair.privateKeyHex,
    publicKeyHex: pair.publicKeyHex,
  };
}

/** A WeChat Pay SM platform certificate (SM2), self-signed, 5 years from yesterday unless told. */
export function generateSmPayPlatformCertificate(options: { nowMs?: number; validityDays?: number } = {}): PayPlatformCertificate {
  const c = createSm2Certificate({
    subject: 'CN=Tenpay.com SM2 mock platform, OU=Tenpay.com CA Center, O=wxseal mock (not Tencent), L=Shenzhen, C=CN',
    notBeforeMs: (options.nowMs ?? Date.now()) - 86_400_000,
    validityDays: options.validityDays ?? 1825,
  });
  return { serial: c.serial, certificatePem: c.certificatePem, privateKeyPem: c.privateKeyPem };
}

/** The SM platform certificates (oldest first) and which one signs: rotated like the RSA ones. */
export class SmPayKeyRing extends PlatformCertificateSet {
  constructor(first: PayPlatformCertificate) {
    super(first, { label: 'SM platform certificate', loadKey: (pem) => createPrivateKey(pem) });
  }
}
