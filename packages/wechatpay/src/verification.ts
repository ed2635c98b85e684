// WeChat Pay → merchant signatures on responses and notifications (API v3, "签名验证"):
//   message = timestamp\nnonce\nbody\n over the RAW body bytes, SHA256withRSA (PKCS#1 v1.5)
//   headers Wechatpay-Timestamp / -Nonce / -Signature / -Serial [/ -Signature-Type], Request-ID
// The key is chosen by Wechatpay-Serial: a platform certificate by its serial number (hex,
// compared case-insensitively and without leading zeros), a WeChat Pay public key by its id
// (`PUB_KEY_ID_…`). Both kinds may be held at once (migration from certificates to the public key).
// Signatures beginning `WECHATPAY/SIGNTEST/` are probes and always fail.
// Source: pay.weixin.qq.com/docs/merchant/development/interface-rules/signature-verification.html
import { X509Certificate, verify, type KeyObject } from 'node:crypto';
import { fail } from './errors.js';
import {
  DEFAULT_WINDOW_SECONDS,
  bodyBytes,
  checkWindow,
  decodeBase64,
  nowOr,
  readHeader,
  requireHeader,
  timestampText,
  toPrivateKey,
  toPublicKey,
  type HeaderInput,
  type PrivateKeyInput,
  type PublicKeyInput,
} from './internal.js';
import { SIGNATURE_SCHEME, assertNonce, generateNonce, signMessage, unixSeconds, type SignatureScheme } from './signing.js';
import { SM_SIGNATURE_SCHEME, isSm2Key, sm2VerifyDer } from './sm.js';

/** Prefix of WeChat Pay public key ids (public key mode). */
export const PUBLIC_KEY_ID_PREFIX = 'PUB_KEY_ID_';
/** Prefix of probe signatures, which must never verify. */
export const PROBE_SIGNATURE_PREFIX = 'WECHATPAY/SIGNTEST/';

export const HEADER_TIMESTAMP = 'Wechatpay-Timestamp';
export const HEADER_NONCE = 'Wechatpay-Nonce';
export const HEADER_SIGNATURE = 'Wechatpay-Signature';
export const HEADER_SERIAL = 'Wechatpay-Serial';
export const HEADER_SIGNATURE_TYPE = 'Wechatpay-Signature-Type';
export const HEADER_REQUEST_ID = 'Request-ID';

const PUBLIC_KEY_ID = /^PUB_KEY_ID_[0-9A-Za-z]{1,64}$/;
const HEX_SERIAL = /^[0-9A-Fa-f]{1,64}$/;

/** True when the serial names a WeChat Pay public key (`PUB_KEY_ID_…`) rather than a certificate. */
export function isPublicKeyId(serial: string): boolean {
  return typeof serial === 'string' && serial.startsWith(PUBLIC_KEY_ID_PREFIX);
}

/**
 * Canonical form of a certificate serial: upper-case hex without leading zeros (Java's
 * BigInteger.toString(16) drops them, OpenSSL keeps them; WeChat writes upper case).
 */
export function normalizeCertificateSerial(serial: string): string {
  if (typeof serial !== 'string' || !HEX_SERIAL.test(serial)) fail('WECHATPAY_BAD_ARGUMENT', 'certificate serial must be 1-64 hex digits');
  const s = serial.toUpperCase().replace(/^0+/, '');
  return s === '' ? '0' : s;
}

/** A platform certificate held for verification, selected by its serial number. */
export interface PlatformCertificateKey {
  readonly kind: 'certificate';
  /** Serial as WeChat reports it: upper-case hex. */
  readonly serial: string;
  readonly publicKey: KeyObject;
  readonly validFrom?: Date;
  readonly validTo?: Date;
}

/** A WeChat Pay public key (public key mode), selected by its `PUB_KEY_ID_…` id. */
export interface WechatPayPublicKey {
  readonly kind: 'public-key';
  readonly id: string;
  readonly publicKey: KeyObject;
}

export type VerificationKey = PlatformCertificateKey | WechatPayPublicKey;

/** Upper-case hex serial of an X.509 certificate as WeChat reports it. */
export function x509Serial(cert: X509Certificate): string {
  return normalizeCertificateSerial(cert.serialNumber);
}

/** A platform certificate entry from its PEM or X509Certificate (serial and validity read from it). */
export function platformCertificateKey(certificate: string | X509Certificate): PlatformCertificateKey {
  let cert: X509Certificate;
  try {
    cert = typeof certificate === 'string' ? new X509Certificate(certificate) : certificate;
  } catch (e) {
    fail('WECHATPAY_BAD_ARGUMENT', 'certificate is not a readable X.509 certificate', e);
  }
  if (!(cert instanceof X509Certificate)) fail('WECHATPAY_BAD_ARGUMENT', 'certificate must be a PEM string or X509Certificate');
  return Object.freeze({
    kind: 'certificate' as const,
    serial: x509Serial(cert),
    publicKey: toPublicKey(cert, 'certificate'),
    validFrom: new Date(cert.validFrom),
    validTo: new Date(cert.validTo),
  });
}

/**
 * A platform certificate entry from a serial and a bare public key (no validity check). Prefer
 * platformCertificateKey when the certificate is at hand.
 */
export function certificateSerialKey(serial: string, publicKey: PublicKeyInput): PlatformCertificateKey {
  return Object.freeze({ kind: 'certificate' as const, serial: normalizeCertificateSerial(serial), publicKey: toPublicKey(publicKey) });
}

/** A WeChat Pay public key entry (`pub_key.pem` from the merchant platform, and its `PUB_KEY_ID_…`). */
export function wechatPayPublicKey(id: string, publicKey: PublicKeyInput): WechatPayPublicKey {
  if (typeof id !== 'string' || !PUBLIC_KEY_ID.test(id)) fail('WECHATPAY_BAD_ARGUMENT', 'public key id must look like PUB_KEY_ID_<digits>');
  return Object.freeze({ kind: 'public-key' as const, id, publicKey: toPublicKey(publicKey) });
}

/** An immutable set of verification keys indexed by serial / public key id. */
export interface VerificationKeySet {
  readonly certificates: ReadonlyMap<string, PlatformCertificateKey>;
  readonly publicKeys: ReadonlyMap<string, WechatPayPublicKey>;
}

/** Builds a key set; a serial or id appearing twice is a WECHATPAY_BAD_ARGUMENT. */
export function createVerificationKeySet(keys: Iterable<VerificationKey>): VerificationKeySet {
  const certificates = new Map<string, PlatformCertificateKey>();
  const publicKeys = new Map<string, WechatPayPublicKey>();
  if (keys === null || typeof keys !== 'object' || typeof (keys as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    fail('WECHATPAY_BAD_ARGUMENT', 'keys must be iterable');
  }
  for (const k of keys) {
    if (k?.kind === 'certificate') {
      const serial = normalizeCertificateSerial(k.serial);
      if (certificates.has(serial)) fail('WECHATPAY_BAD_ARGUMENT', `certificate serial ${serial} given twice`);
      certificates.set(serial, k);
    } else if (k?.kind === 'public-key') {
      if (!PUBLIC_KEY_ID.test(k.id)) fail('WECHATPAY_BAD_ARGUMENT', `bad public key id ${String(k.id)}`);
      if (publicKeys.has(k.id)) fail('WECHATPAY_BAD_ARGUMENT', `public key id ${k.id} given twice`);
      publicKeys.set(k.id, k);
    } else {
      fail('WECHATPAY_BAD_ARGUMENT', 'keys must be certificate or public-key entries');
    }
  }
  return Object.freeze({ certificates, publicKeys });
}

function asKeySet(keys: VerificationKeySet | Iterable<VerificationKey>): VerificationKeySet {
  if (typeof keys === 'object' && keys !== null && 'certificates' in keys && 'publicKeys' in keys) return keys;
  return createVerificationKeySet(keys);
}

/**
 * The key named by a Wechatpay-Serial value: `PUB_KEY_ID_…` → public key (exact id), otherwise a
 * certificate serial (hex, case-insensitive). WECHATPAY_UNKNOWN_SERIAL when none is held.
 */
export function selectVerificationKey(keys: VerificationKeySet | Iterable<VerificationKey>, serial: string): VerificationKey {
  const set = asKeySet(keys);
  if (typeof serial !== 'string') fail('WECHATPAY_BAD_ARGUMENT', 'serial must be a string');
  if (isPublicKeyId(serial)) {
    if (!PUBLIC_KEY_ID.test(serial)) fail('WECHATPAY_MALFORMED', 'Wechatpay-Serial is not a valid PUB_KEY_ID_');
    const k = set.publicKeys.get(serial);
    if (k === undefined) fail('WECHATPAY_UNKNOWN_SERIAL', `no WeChat Pay public key held for ${serial}`);
    return k;
  }
  if (!HEX_SERIAL.test(serial)) fail('WECHATPAY_MALFORMED', 'Wechatpay-Serial is neither a hex certificate serial nor a PUB_KEY_ID_');
  const k = set.certificates.get(normalizeCertificateSerial(serial));
  if (k === undefined) fail('WECHATPAY_UNKNOWN_SERIAL', `no platform certificate held for serial ${serial.toUpperCase()}`);
  return k;
}

/** `timestamp\nnonce\nbody\n` (what response and notification signatures cover). */
export function buildResponseMessage(timestamp: number | string, nonce: string, body: string = ''): string {
  return responseMessageBytes(timestamp, nonce, body).toString('utf8');
}

function responseMessageBytes(timestamp: number | string, nonce: string, body: string | Uint8Array): Buffer {
  const ts = timestampText(timestamp);
  assertNonce(nonce);
  return Buffer.concat([Buffer.from(`${ts}\n${nonce}\n`, 'utf8'), bodyBytes(body), Buffer.from('\n')]);
}

/** The signature headers of a response or notification, read and shape-checked. */
export interface WechatPaySignatureHeaders {
  timestamp: string;
  nonce: string;
  signature: string;
  serial: string;
  /** Wechatpay-Signature-Type when present. */
  signatureType?: string;
  /** Request-ID when present (for logs and support tickets). */
  requestId?: string;
}

/** Reads Wechatpay-* headers (case-insensitively), bounding and shape-checking each. */
export function readSignatureHeaders(headers: HeaderInput): WechatPaySignatureHeaders {
  const timestamp = requireHeader(headers, HEADER_TIMESTAMP);
  timestampText(timestamp, HEADER_TIMESTAMP, 'WECHATPAY_MALFORMED');
  const nonce = requireHeader(headers, HEADER_NONCE);
  assertNonce(nonce, HEADER_NONCE, 'WECHATPAY_MALFORMED');
  const signature = requireHeader(headers, HEADER_SIGNATURE);
  const serial = requireHeader(headers, HEADER_SERIAL);
  if (serial.length > 80 || !/^[0-9A-Za-z_]+$/.test(serial)) fail('WECHATPAY_MALFORMED', `${HEADER_SERIAL} is malformed`);
  const out: WechatPaySignatureHeaders = { timestamp, nonce, signature, serial };
  const signatureType = readHeader(headers, HEADER_SIGNATURE_TYPE);
  if (signatureType !== undefined) out.signatureType = signatureType;
  const requestId = readHeader(headers, HEADER_REQUEST_ID);
  if (requestId !== undefined) out.requestId = requestId;
  return out;
}

export interface VerifySignatureOptions {
  headers: HeaderInput;
  /** The RAW body as received (bytes preferred; a string is UTF-8 encoded). Never a re-serialised object. */
  body: string | Uint8Array;
  /** Platform certificates and/or WeChat Pay public keys. */
  keys: VerificationKeySet | Iterable<VerificationKey>;
  /** Clock (Unix seconds); now when omitted. */
  nowSeconds?: number;
  /** Accepted |now − Wechatpay-Timestamp|; 300 s by default (inclusive). */
  windowSeconds?: number;
}

export interface VerifiedSignature {
  /** Wechatpay-Timestamp as a number. */
  timestamp: number;
  nonce: string;
  /** Wechatpay-Serial as received. */
  serial: string;
  /** Which kind of key verified: platform certificate or WeChat Pay public key. */
  keyKind: VerificationKey['kind'];
  /** `WECHATPAY2-SM2-WITH-SM3` when an SM2 key verified; absent for RSA (the default scheme). */
  scheme?: typeof SM_SIGNATURE_SCHEME;
  requestId?: string;
}

/**
 * Verifies a response or notification signature. Order of checks: headers present and well formed
 * (WECHATPAY_MISSING_HEADER / WECHATPAY_MALFORMED), signature type (WECHATPAY_UNSUPPORTED_ALGORITHM),
 * probe signature (WECHATPAY_PROBE_SIGNATURE), timestamp window (WECHATPAY_TIMESTAMP_EXPIRED), key by
 * serial (WECHATPAY_UNKNOWN_SERIAL: refresh certificates once and retry), certificate validity
 * (WECHATPAY_CERTIFICATE_EXPIRED), signature (WECHATPAY_BAD_SIGNATURE).
 */
export function verifySignature(opts: VerifySignatureOptions): VerifiedSignature {
  if (typeof opts !== 'object' || opts === null) fail('WECHATPAY_BAD_ARGUMENT', 'options must be an object');
  const h = readSignatureHeaders(opts.headers);
  if (h.signatureType !== undefined && h.signatureType !== SIGNATURE_SCHEME && h.signatureType !== SM_SIGNATURE_SCHEME) {
    fail('WECHATPAY_UNSUPPORTED_ALGORITHM', `${HEADER_SIGNATURE_TYPE} ${h.signatureType} is neither ${SIGNATURE_SCHEME} nor ${SM_SIGNATURE_SCHEME}`);
  }
  if (h.signature.startsWith(PROBE_SIGNATURE_PREFIX)) fail('WECHATPAY_PROBE_SIGNATURE', 'probe signature (WECHATPAY/SIGNTEST/): verification must fail');
  const sig = decodeBase64(h.signature, HEADER_SIGNATURE);
  if (sig.length === 0) fail('WECHATPAY_MALFORMED', `${HEADER_SIGNATURE} is empty`);
  const timestamp = Number(h.timestamp);
  checkWindow(timestamp, opts.nowSeconds, opts.windowSeconds, HEADER_TIMESTAMP);
  const key = selectVerificationKey(opts.keys, h.serial);
  // The algorithm is the key's (SM2 key → SM2-with-SM3); a Signature-Type naming the other one is
  // refused before any verification (no algorithm confusion).
  const scheme: SignatureScheme = isSm2Key(key.publicKey) ? SM_SIGNATURE_SCHEME : SIGNATURE_SCHEME;
  if (h.signatureType !== undefined && h.signatureType !== scheme) {
    fail('WECHATPAY_UNSUPPORTED_ALGORITHM', `${HEADER_SIGNATURE_TYPE} ${h.signatureType} but the key for ${h.serial} verifies ${scheme}`);
  }
  if (key.kind === 'certificate' && (key.validFrom !== undefined || key.validTo !== undefined)) {
    const now = nowOr(opts.nowSeconds);
    const slack = opts.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
    if ((key.validFrom !== undefined && now + slack < key.validFrom.getTime() / 1000) || (key.validTo !== undefined && now - slack > key.validTo.getTime() / 1000)) {
      fail('WECHATPAY_CERTIFICATE_EXPIRED', `platform certificate ${key.serial} is not valid now`);
    }
  }
  const message = responseMessageBytes(h.timestamp, h.nonce, opts.body);
  const ok = scheme === SM_SIGNATURE_SCHEME ? sm2VerifyDer(message, sig, key.publicKey) : verify('sha256', message, key.publicKey, sig);
  if (!ok) fail('WECHATPAY_BAD_SIGNATURE', `signature does not verify with ${key.kind} ${h.serial}`);
  const out: VerifiedSignature = { timestamp, nonce: h.nonce, serial: h.serial, keyKind: key.kind };
  if (scheme === SM_SIGNATURE_SCHEME) out.scheme = scheme;
  if (h.requestId !== undefined) out.requestId = h.requestId;
  return out;
}

export interface SignResponseOptions {
  /** The exact body that will be sent. */
  body: string | Uint8Array;
  /** WeChat Pay's private key (platform certificate key or public-key-mode key). */
  privateKey: PrivateKeyInput;
  /** Certificate serial (hex) or `PUB_KEY_ID_…` sent as Wechatpay-Serial. */
  serial: string;
  timestamp?: number | string;
  nonce?: string;
  /** Adds a Request-ID header. */
  requestId?: string;
}

/** Signature headers of a response/notification (the WeChat Pay side; for mock servers). */
// A type alias (not an interface) so that it is assignable to HeaderInput's index signature.
export type SignedResponseHeaders = {
  'Wechatpay-Timestamp': string;
  'Wechatpay-Nonce': string;
  'Wechatpay-Signature': string;
  'Wechatpay-Serial': string;
  'Wechatpay-Signature-Type': SignatureScheme;
  'Request-ID'?: string;
};

/** Signs a response or notification body the way WeChat Pay does and returns its headers. */
export function signResponse(opts: SignResponseOptions): SignedResponseHeaders {
  if (typeof opts !== 'object' || opts === null) fail('WECHATPAY_BAD_ARGUMENT', 'options must be an object');
  const { serial } = opts;
  if (typeof serial !== 'string' || !(PUBLIC_KEY_ID.test(serial) || HEX_SERIAL.test(serial))) {
    fail('WECHATPAY_BAD_ARGUMENT', 'serial must be a hex certificate serial or PUB_KEY_ID_…');
  }
  const timestamp = timestampText(opts.timestamp ?? unixSeconds());
  const nonce = opts.nonce ?? generateNonce();
  const privateKey = toPrivateKey(opts.privateKey);
  const signature = signMessage(responseMessageBytes(timestamp, nonce, opts.body), privateKey);
  const headers: SignedResponseHeaders = {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': signature,
    'Wechatpay-Serial': serial,
    'Wechatpay-Signature-Type': isSm2Key(privateKey) ? SM_SIGNATURE_SCHEME : SIGNATURE_SCHEME,
  };
  if (opts.requestId !== undefined) {
    if (typeof opts.requestId !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(opts.requestId)) fail('WECHATPAY_BAD_ARGUMENT', 'requestId must be 1-128 printable characters');
    headers['Request-ID'] = opts.requestId;
  }
  return headers;
}
