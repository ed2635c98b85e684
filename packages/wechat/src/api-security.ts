// Mini Program server API security ("API 安全"): AES256_GCM request/response encryption and
// RSAwithSHA256 (RSA-PSS, SHA-256, salt 32) signatures carried in Wechatmp-* headers.
// Source: developers.weixin.qq.com/miniprogram/dev/server/getting_started/api_signature.html
// The 国密 pair the console also offers, SM4_GCM (16-byte key) and SM2withSM3 (user ID
// 1234567812345678 unless configured; signature base64 of DER (r, s)), shares everything else:
// the {iv,data,authtag} body, the AAD, the plaintext fields, the signed string and the headers
// (no header names the algorithm: the console setting does). Those go through @wxseal/gm.
// Pure functions over node:crypto and @wxseal/gm; no I/O, no clock unless the caller lets one default.
import {
  X509Certificate,
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { CodedError, type ErrorCatalogue } from '@wxseal/protocol/errors';
import { GmError, SM2_DEFAULT_ID, sm2Sign, sm2Verify, sm4GcmDecrypt, sm4GcmEncrypt } from '@wxseal/gm';
import { WECHAT_ERRCODES } from './errors.js';
import { Sm2KeyError, sm2PrivateKeyHexOf, sm2PublicKeyHexOf, type Sm2KeyMaterial } from './sm2-keys.js';

/** The WXMP_ codes: this module's own checks of Wechatmp-* requests and answers (API 安全). */
export const WXMP_ERRORS = {
  WXMP_INVALID_ARGUMENT: {
    meaning: 'An argument given to the API security functions is missing or malformed (key, serial, appid, timestamp, body).',
    action: 'Fix the argument the message names (keys and serials as shown in the Mini Program console).',
  },
  WXMP_MISSING_HEADER: {
    meaning: 'A Wechatmp-* header is absent, repeated or unreadable (an unsigned answer is refused).',
    action: 'Check for a proxy that strips or duplicates headers, or for an answer that did not come from WeChat.',
  },
  WXMP_MALFORMED_ENVELOPE: {
    meaning: 'The encrypted {iv, data, authtag} body breaks its syntax, or a signed answer is neither encrypted nor an error.',
    action: 'Check for a proxy that alters bodies, or for an answer that did not come from WeChat.',
  },
  WXMP_DECRYPT_FAILED: {
    meaning: 'The AES-256-GCM (or SM4-GCM) body does not decrypt: wrong symmetric key, SN or algorithm, or altered data.',
    action: 'Check that the symmetric key and its SN match the console (API 安全).',
  },
  WXMP_MALFORMED_PLAINTEXT: {
    meaning: 'The decrypted body is not the JSON object the scheme defines (missing _n, _appid, _timestamp).',
    action: 'Report the call: the peer does not follow the API security scheme.',
  },
  WXMP_APPID_MISMATCH: {
    meaning: 'The appid inside the decrypted body or header is not the expected one.',
    action: 'Check the appid the client is configured with; an answer for another appid is refused.',
  },
  WXMP_TIMESTAMP_MISMATCH: {
    meaning: 'The timestamp inside the decrypted body differs from the Wechatmp-TimeStamp header.',
    action: 'Report the call: the answer was tampered with or does not follow the scheme.',
  },
  WXMP_TIMESTAMP_EXPIRED: {
    meaning: 'The answer\'s Wechatmp-TimeStamp is outside the accepted window around the clock.',
    action: 'Synchronise the server clock (NTP).',
  },
  WXMP_UNKNOWN_SERIAL: {
    meaning: 'The answer is signed with a platform certificate serial the client does not hold.',
    action: 'Download the current platform certificate from the Mini Program console (API 安全) and add it.',
  },
  WXMP_BAD_SIGNATURE: {
    meaning: 'An RSA-PSS (or SM2withSM3) signature, of a request or of WeChat\'s answer, does not verify.',
    action: 'Check the key or platform certificate configured for the serial; a message that does not verify is never trusted.',
  },
} as const satisfies ErrorCatalogue;

/** Stable codes of errors this module raises. */
export type WechatApiSecurityErrorCode = keyof typeof WXMP_ERRORS;

export class WechatApiSecurityError extends CodedError<WechatApiSecurityErrorCode> {
  override readonly name = 'WechatApiSecurityError';
}

/** The errcodes WeChat answers when a Wechatmp-* request is rejected (guide, section 5). */
const API_SECURITY_ERRCODES = [40230, 40231, 40232, 40233, 40234, 40235, 40236, 40237, 40238, 40239, 40240] as const;

export type WechatApiSecurityErrcode = (typeof API_SECURITY_ERRCODES)[number];

/**
 * Those errcodes under WeChat's own names (`API_Missing_Wechatmp_Serial`, …), read from the one
 * errcode table, WECHAT_ERRCODES, which also gives WechatApiError its meaning and code.
 */
export const WECHAT_API_SECURITY_ERRORS = Object.fromEntries(
  API_SECURITY_ERRCODES.map((c) => [c, { name: WECHAT_ERRCODES[c].wechatName, meaning: WECHAT_ERRCODES[c].meaning }]),
) as {
  readonly [C in WechatApiSecurityErrcode]: { readonly name: (typeof WECHAT_ERRCODES)[C]['wechatName']; readonly meaning: (typeof WECHAT_ERRCODES)[C]['meaning'] };
};

export function isWechatApiSecurityErrcode(errcode: unknown): errcode is WechatApiSecurityErrcode {
  return typeof errcode === 'number' && Object.prototype.hasOwnProperty.call(WECHAT_API_SECURITY_ERRORS, errcode);
}

/** The `{iv,data,authtag}` body of an encrypted request or response (all base64). */
export interface EncryptedEnvelope {
  iv: string;
  data: string;
  authtag: string;
}

/** Symmetric algorithms of the console (API 安全 → 对称密钥). */
export type WechatSymmetricAlgorithm = 'AES256_GCM' | 'SM4_GCM';
/** Asymmetric (signature) algorithms of the console (API 安全 → 非对称密钥). */
export type WechatAsymmetricAlgorithm = 'RSAwithSHA256' | 'SM2withSM3';
export const WECHAT_SYMMETRIC_ALGORITHMS: readonly WechatSymmetricAlgorithm[] = ['AES256_GCM', 'SM4_GCM'];
export const WECHAT_ASYMMETRIC_ALGORITHMS: readonly WechatAsymmetricAlgorithm[] = ['RSAwithSHA256', 'SM2withSM3'];

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const SM4_KEY_BYTES = 16;
const PSS_SALT = 32;
const SECURITY_FIELDS = ['_n', '_appid', '_timestamp'] as const;

function fail(code: WechatApiSecurityErrorCode, message: string): never {
  throw new WechatApiSecurityError(code, message);
}

function decodeB64(value: string, what: string, code: WechatApiSecurityErrorCode): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    fail(code, `${what} is not standard base64`);
  }
  return Buffer.from(value, 'base64');
}

/** Checks the URL the AAD and the signed string use: scheme and host, no query, no fragment. */
export function assertUrlPath(urlPath: string): void {
  let url: URL;
  try {
    url = new URL(urlPath);
  } catch {
    fail('WXMP_INVALID_ARGUMENT', 'urlPath must be an absolute URL with scheme and host');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail('WXMP_INVALID_ARGUMENT', 'urlPath must be http(s)');
  if (urlPath.includes('?') || urlPath.includes('#')) fail('WXMP_INVALID_ARGUMENT', 'urlPath must not carry a query or fragment');
}

function assertTimestamp(timestamp: number, what = 'timestamp'): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) fail('WXMP_INVALID_ARGUMENT', `${what} must be a non-negative integer (seconds)`);
}

function assertAppid(appid: string): void {
  if (typeof appid !== 'string' || appid.length === 0 || /[|\n]/.test(appid)) fail('WXMP_INVALID_ARGUMENT', 'appid must be a non-empty string without "|" or newline');
}

function symKeyBytes(symKey: Uint8Array | string, bytes = KEY_BYTES): Buffer {
  const key = typeof symKey === 'string' ? decodeB64(symKey, 'symKey', 'WXMP_INVALID_ARGUMENT') : Buffer.from(symKey);
  if (key.length !== bytes) fail('WXMP_INVALID_ARGUMENT', `symKey must be ${bytes} bytes, got ${key.length}`);
  return key;
}

function assertAlgorithms(symmetric: unknown, asymmetric: unknown): void {
  if (symmetric !== undefined && !WECHAT_SYMMETRIC_ALGORITHMS.includes(symmetric as WechatSymmetricAlgorithm)) fail('WXMP_INVALID_ARGUMENT', 'symmetric algorithm must be AES256_GCM or SM4_GCM');
  if (asymmetric !== undefined && !WECHAT_ASYMMETRIC_ALGORITHMS.includes(asymmetric as WechatAsymmetricAlgorithm)) fail('WXMP_INVALID_ARGUMENT', 'asymmetric algorithm must be RSAwithSHA256 or SM2withSM3');
}

/** AAD of the GCM layer: `urlpath|appid|timestamp|sn`. */
export function buildAad(urlPath: string, appid: string, timestamp: number, symSn: string): string {
  assertUrlPath(urlPath);
  assertAppid(appid);
  assertTimestamp(timestamp);
  if (typeof symSn !== 'string' || symSn.length === 0 || symSn.includes('|')) fail('WXMP_INVALID_ARGUMENT', 'symSn must be a non-empty string without "|"');
  return `${urlPath}|${appid}|${timestamp}|${symSn}`;
}

/** String signed in both directions: `urlpath\nappid\ntimestamp\npostdata`, no trailing newline, no SN. */
export function buildSigningString(urlPath: string, appid: string, timestamp: number, body: string): string {
  assertUrlPath(urlPath);
  assertAppid(appid);
  assertTimestamp(timestamp);
  return `${urlPath}\n${appid}\n${timestamp}\n${body}`;
}

/** AES-256-GCM seal of a plaintext under an AAD (low-level; also what a mock WeChat server needs). */
export function sealEnvelope(symKey: Uint8Array | string, iv: Uint8Array | string, aad: string, plaintext: string): EncryptedEnvelope {
  const key = symKeyBytes(symKey);
  const ivBytes = typeof iv === 'string' ? decodeB64(iv, 'iv', 'WXMP_INVALID_ARGUMENT') : Buffer.from(iv);
  if (ivBytes.length !== IV_BYTES) fail('WXMP_INVALID_ARGUMENT', `iv must be ${IV_BYTES} bytes`);
  const cipher = createCipheriv('aes-256-gcm', key, ivBytes, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { iv: ivBytes.toString('base64'), data: data.toString('base64'), authtag: cipher.getAuthTag().toString('base64') };
}

/** Parses an `{iv,data,authtag}` body (string or object), checking shapes and lengths. */
export function parseEnvelope(body: string | EncryptedEnvelope): EncryptedEnvelope {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      fail('WXMP_MALFORMED_ENVELOPE', 'body is not JSON');
    }
  }
  if (typeof value !== 'object' || value === null) fail('WXMP_MALFORMED_ENVELOPE', 'body is not an object');
  const { iv, data, authtag } = value as Record<string, unknown>;
  if (typeof iv !== 'string' || typeof data !== 'string' || typeof authtag !== 'string') {
    fail('WXMP_MALFORMED_ENVELOPE', 'body must carry string iv, data and authtag');
  }
  if (decodeB64(iv, 'iv', 'WXMP_MALFORMED_ENVELOPE').length !== IV_BYTES) fail('WXMP_MALFORMED_ENVELOPE', `iv must decode to ${IV_BYTES} bytes`);
  if (decodeB64(authtag, 'authtag', 'WXMP_MALFORMED_ENVELOPE').length !== TAG_BYTES) fail('WXMP_MALFORMED_ENVELOPE', `authtag must decode to ${TAG_BYTES} bytes`);
  decodeB64(data, 'data', 'WXMP_MALFORMED_ENVELOPE');
  return { iv, data, authtag };
}

/** AES-256-GCM open; any tampering with iv, data, tag or AAD gives WXMP_DECRYPT_FAILED. */
export function openEnvelope(symKey: Uint8Array | string, envelope: string | EncryptedEnvelope, aad: string): string {
  const key = symKeyBytes(symKey);
  const env = parseEnvelope(envelope);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(env.iv, 'base64'), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(env.authtag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(env.data, 'base64')), decipher.final()]);
    return new TextDecoder('utf-8', { fatal: true }).decode(plain);
  } catch {
    fail('WXMP_DECRYPT_FAILED', 'AES-256-GCM authentication failed');
  }
}

/** SM4-GCM seal (SM4_GCM): a 16-byte key (bytes or base64), otherwise as sealEnvelope. */
export function sealEnvelopeSm4(symKey: Uint8Array | string, iv: Uint8Array | string, aad: string, plaintext: string): EncryptedEnvelope {
  const key = symKeyBytes(symKey, SM4_KEY_BYTES);
  const ivBytes = typeof iv === 'string' ? decodeB64(iv, 'iv', 'WXMP_INVALID_ARGUMENT') : Buffer.from(iv);
  if (ivBytes.length !== IV_BYTES) fail('WXMP_INVALID_ARGUMENT', `iv must be ${IV_BYTES} bytes`);
  const { ciphertext, tag } = sm4GcmEncrypt(key, ivBytes, Buffer.from(plaintext, 'utf8'), Buffer.from(aad, 'utf8'));
  return { iv: ivBytes.toString('base64'), data: ciphertext.toString('base64'), authtag: tag.toString('base64') };
}

/** SM4-GCM open; any tampering with iv, data, tag or AAD gives WXMP_DECRYPT_FAILED. */
export function openEnvelopeSm4(symKey: Uint8Array | string, envelope: string | EncryptedEnvelope, aad: string): string {
  const key = symKeyBytes(symKey, SM4_KEY_BYTES);
  const env = parseEnvelope(envelope);
  try {
    const plain = sm4GcmDecrypt(key, Buffer.from(env.iv, 'base64'), Buffer.from(env.data, 'base64'), Buffer.from(env.authtag, 'base64'), Buffer.from(aad, 'utf8'));
    return new TextDecoder('utf-8', { fatal: true }).decode(plain);
  } catch {
    fail('WXMP_DECRYPT_FAILED', 'SM4-GCM authentication failed');
  }
}

export interface BuildEncryptedRequestOptions {
  /** Full API URL with scheme and host, without the query (no access_token). */
  urlPath: string;
  appid: string;
  /** Unix seconds; also sent as Wechatmp-TimeStamp. */
  timestamp: number;
  /** The 32-byte symmetric key (bytes or base64 as the console shows it). */
  symKey: Uint8Array | string;
  /** The symmetric key's number (SN) from the console. */
  symSn: string;
  /** Original URL and POST parameters, without access_token. */
  params: Record<string, unknown>;
  /** `_n`; random 16-byte base64 (unpadded) when omitted. */
  nonce?: string;
  /** 12-byte IV (bytes or base64); random when omitted. Never reuse one under the same key. */
  iv?: Uint8Array | string;
  /** Default AES256_GCM (32-byte key); SM4_GCM takes a 16-byte key. */
  symmetricAlgorithm?: WechatSymmetricAlgorithm;
}

export interface EncryptedRequest {
  /** The exact POST body to send and to sign. */
  body: string;
  envelope: EncryptedEnvelope;
  /** The JSON that was encrypted. */
  plaintext: string;
  aad: string;
}

/** Encrypts a request: plaintext `{_n,_appid,_timestamp,...params}`, AAD `urlpath|appid|timestamp|sn`. */
export function buildEncryptedRequest(opts: BuildEncryptedRequestOptions): EncryptedRequest {
  const aad = buildAad(opts.urlPath, opts.appid, opts.timestamp, opts.symSn);
  if (typeof opts.params !== 'object' || opts.params === null || Array.isArray(opts.params)) fail('WXMP_INVALID_ARGUMENT', 'params must be an object');
  for (const field of SECURITY_FIELDS) {
    if (Object.prototype.hasOwnProperty.call(opts.params, field)) fail('WXMP_INVALID_ARGUMENT', `params must not contain the security field ${field}`);
  }
  const nonce = opts.nonce ?? randomBytes(16).toString('base64').replace(/=+$/, '');
  if (typeof nonce !== 'string' || nonce.length === 0) fail('WXMP_INVALID_ARGUMENT', 'nonce must be a non-empty string');
  const plaintext = JSON.stringify({ _n: nonce, _appid: opts.appid, _timestamp: opts.timestamp, ...opts.params });
  assertAlgorithms(opts.symmetricAlgorithm, undefined);
  const seal = opts.symmetricAlgorithm === 'SM4_GCM' ? sealEnvelopeSm4 : sealEnvelope;
  const envelope = seal(opts.symKey, opts.iv ?? randomBytes(IV_BYTES), aad, plaintext);
  return { body: JSON.stringify({ iv: envelope.iv, data: envelope.data, authtag: envelope.authtag }), envelope, plaintext, aad };
}

function toPrivateKey(key: KeyObject | string): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === 'string' ? createPrivateKey(key) : key;
  } catch {
    fail('WXMP_INVALID_ARGUMENT', 'privateKey is not a readable private key');
  }
  if (k.type !== 'private' || k.asymmetricKeyType !== 'rsa') fail('WXMP_INVALID_ARGUMENT', 'privateKey must be an RSA private key');
  return k;
}

/** Accepts an X.509 certificate PEM, a public key PEM, or a KeyObject. */
export function toVerificationKey(key: KeyObject | string): KeyObject {
  let k: KeyObject;
  try {
    if (typeof key !== 'string') k = key.type === 'private' ? createPublicKey(key) : key;
    else if (key.includes('-----BEGIN CERTIFICATE-----')) k = new X509Certificate(key).publicKey;
    else k = createPublicKey(key);
  } catch {
    fail('WXMP_INVALID_ARGUMENT', 'not a readable certificate or public key');
  }
  if (k.asymmetricKeyType !== 'rsa') fail('WXMP_INVALID_ARGUMENT', 'verification key must be RSA');
  return k;
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT } as const;

function pssVerify(key: KeyObject, message: string, signatureB64: string): boolean {
  if (typeof signatureB64 !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(signatureB64) || signatureB64.length % 4 !== 0) return false;
  return verify('sha256', Buffer.from(message, 'utf8'), { key, ...PSS }, Buffer.from(signatureB64, 'base64'));
}

export interface SignRequestOptions {
  urlPath: string;
  appid: string;
  timestamp: number;
  /** The exact POST body sent. */
  body: string;
  /** Application RSA private key (PKCS#1 or PKCS#8 PEM, or KeyObject). */
  privateKey: KeyObject | string;
}

/** Wechatmp-Signature of a request: base64 RSA-PSS/SHA-256/salt 32. PSS is randomised. */
export function signRequest(opts: SignRequestOptions): string {
  const message = buildSigningString(opts.urlPath, opts.appid, opts.timestamp, opts.body);
  return sign('sha256', Buffer.from(message, 'utf8'), { key: toPrivateKey(opts.privateKey), ...PSS }).toString('base64');
}

/** The headers a signed request carries. */
export function requestHeaders(appid: string, timestamp: number, signature: string): Record<string, string> {
  return { 'Wechatmp-Appid': appid, 'Wechatmp-TimeStamp': String(timestamp), 'Wechatmp-Signature': signature };
}

export interface VerifyRequestSignatureOptions {
  urlPath: string;
  appid: string;
  timestamp: number;
  body: string;
  signature: string;
  /** Application public key (or its private key, or a certificate). */
  publicKey: KeyObject | string;
}

/** What WeChat does with a request signature (for mock servers and tests); throws WXMP_BAD_SIGNATURE. */
export function verifyRequestSignature(opts: VerifyRequestSignatureOptions): void {
  const message = buildSigningString(opts.urlPath, opts.appid, opts.timestamp, opts.body);
  if (!pssVerify(toVerificationKey(opts.publicKey), message, opts.signature)) fail('WXMP_BAD_SIGNATURE', 'request signature does not verify');
}

function sm2Fail(err: unknown, what: string): never {
  if (err instanceof Sm2KeyError || err instanceof GmError) fail('WXMP_INVALID_ARGUMENT', `${what}: ${err.message}`);
  throw err;
}

/** The SM2 private scalar (hex) of hex, PEM or KeyObject material; WXMP_INVALID_ARGUMENT otherwise. */
export function toSm2PrivateKey(material: Sm2KeyMaterial): string {
  try {
    return sm2PrivateKeyHexOf(material);
  } catch (err) {
    return sm2Fail(err, 'SM2 private key');
  }
}

/** The SM2 public point (hex) of hex, PEM key, certificate or KeyObject material; WXMP_INVALID_ARGUMENT otherwise. */
export function toSm2VerificationKey(material: Sm2KeyMaterial): string {
  try {
    return sm2PublicKeyHexOf(material);
  } catch (err) {
    return sm2Fail(err, 'SM2 public key or certificate');
  }
}

function sm2VerifyB64(publicKeyHex: string, message: string, signatureB64: string, userId: string): boolean {
  if (typeof signatureB64 !== 'string' || signatureB64.length > 200 || !/^[A-Za-z0-9+/]+={0,2}$/.test(signatureB64) || signatureB64.length % 4 !== 0) return false;
  try {
    return sm2Verify(publicKeyHex, message, Buffer.from(signatureB64, 'base64'), { userId });
  } catch (err) {
    return sm2Fail(err, 'SM2 public key');
  }
}

export interface SignRequestSm2Options {
  urlPath: string;
  appid: string;
  timestamp: number;
  /** The exact POST body sent. */
  body: string;
  /** Application SM2 private key: 64 hex, PKCS#8/SEC1 PEM, or KeyObject. */
  privateKey: Sm2KeyMaterial;
  /** SM2 distinguishing ID; default 1234567812345678 (GB/T 32918). */
  userId?: string;
}

/** Wechatmp-Signature of a request under SM2withSM3: base64 of the DER (r, s) signature. Randomised. */
export function signRequestSm2(opts: SignRequestSm2Options): string {
  const message = buildSigningString(opts.urlPath, opts.appid, opts.timestamp, opts.body);
  const key = toSm2PrivateKey(opts.privateKey);
  return sm2Sign(key, message, { userId: opts.userId ?? SM2_DEFAULT_ID }).toString('base64');
}

export interface VerifyRequestSignatureSm2Options {
  urlPath: string;
  appid: string;
  timestamp: number;
  body: string;
  signature: string;
  /** Application SM2 public key (hex, SPKI PEM, certificate, or the private key). */
  publicKey: Sm2KeyMaterial;
  userId?: string;
}

/** WeChat's check of an SM2withSM3 request signature (for mock servers and tests); throws WXMP_BAD_SIGNATURE. */
export function verifyRequestSignatureSm2(opts: VerifyRequestSignatureSm2Options): void {
  const message = buildSigningString(opts.urlPath, opts.appid, opts.timestamp, opts.body);
  if (!sm2VerifyB64(toSm2VerificationKey(opts.publicKey), message, opts.signature, opts.userId ?? SM2_DEFAULT_ID)) fail('WXMP_BAD_SIGNATURE', 'request signature does not verify (SM2withSM3)');
}

/** The Wechatmp-* response headers, by name (case-insensitive lookup). */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

function header(headers: ResponseHeaders, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== lower || v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.length !== 1) fail('WXMP_MISSING_HEADER', `${name} must appear once`);
      return v[0];
    }
    return v;
  }
  return undefined;
}

function requireHeader(headers: ResponseHeaders, name: string): string {
  const v = header(headers, name);
  if (v === undefined || v === '') fail('WXMP_MISSING_HEADER', `${name} missing`);
  return v;
}

/** Reads Wechatmp-TimeStamp as a number (decimal digits only). */
export function responseTimestamp(headers: ResponseHeaders): number {
  const raw = requireHeader(headers, 'Wechatmp-TimeStamp');
  if (!/^\d{1,15}$/.test(raw)) fail('WXMP_MISSING_HEADER', 'Wechatmp-TimeStamp is not a decimal timestamp');
  return Number(raw);
}

export interface VerifyResponseSignatureOptions {
  urlPath: string;
  appid: string;
  headers: ResponseHeaders;
  /** The exact response body bytes as text. */
  body: string;
  /** Platform certificates (or public keys) by their console number (Wechatmp-Serial), not X.509 serial. */
  certificates: Record<string, KeyObject | string>;
  /** Default RSAwithSHA256; SM2withSM3 reads SM2 certificates / public keys (hex, PEM). */
  asymmetricAlgorithm?: WechatAsymmetricAlgorithm;
  /** SM2 distinguishing ID of the platform's signatures; default 1234567812345678. */
  sm2UserId?: string;
}

export interface VerifiedResponseSignature {
  timestamp: number;
  /** The console number whose signature verified. */
  serial: string;
  /** True when only the Wechatmp-*-Deprecated pair could be checked: update the certificate soon. */
  deprecated: boolean;
}

/**
 * Verifies a response signature over `urlpath\nappid\nRESPONSE timestamp\nbody`. The certificate
 * is chosen by Wechatmp-Serial; when none is held for it, the Wechatmp-Serial-Deprecated /
 * Wechatmp-Signature-Deprecated pair is tried instead. A held certificate whose signature fails
 * is a failure (no fallback).
 */
export function verifyResponseSignature(opts: VerifyResponseSignatureOptions): VerifiedResponseSignature {
  const { headers } = opts;
  const timestamp = responseTimestamp(headers);
  const appidHeader = header(headers, 'Wechatmp-Appid');
  if (appidHeader !== undefined && appidHeader !== opts.appid) fail('WXMP_APPID_MISMATCH', 'Wechatmp-Appid differs from the expected appid');
  const serial = requireHeader(headers, 'Wechatmp-Serial');
  const signature = requireHeader(headers, 'Wechatmp-Signature');
  const message = buildSigningString(opts.urlPath, opts.appid, timestamp, opts.body);
  const has = (sn: string) => Object.prototype.hasOwnProperty.call(opts.certificates, sn);

  let chosen: { serial: string; signature: string; deprecated: boolean } | undefined;
  if (has(serial)) chosen = { serial, signature, deprecated: false };
  else {
    const oldSerial = header(headers, 'Wechatmp-Serial-Deprecated');
    const oldSignature = header(headers, 'Wechatmp-Signature-Deprecated');
    if (oldSerial !== undefined && oldSignature !== undefined && has(oldSerial)) chosen = { serial: oldSerial, signature: oldSignature, deprecated: true };
  }
  if (chosen === undefined) fail('WXMP_UNKNOWN_SERIAL', `no platform certificate held for serial ${serial}`);
  const cert = opts.certificates[chosen.serial];
  if (cert === undefined) fail('WXMP_UNKNOWN_SERIAL', `no platform certificate held for serial ${chosen.serial}`);
  assertAlgorithms(undefined, opts.asymmetricAlgorithm);
  const good = opts.asymmetricAlgorithm === 'SM2withSM3'
    ? sm2VerifyB64(toSm2VerificationKey(cert), message, chosen.signature, opts.sm2UserId ?? SM2_DEFAULT_ID)
    : pssVerify(toVerificationKey(cert), message, chosen.signature);
  if (!good) fail('WXMP_BAD_SIGNATURE', `response signature does not verify with certificate ${chosen.serial}`);
  return { timestamp, serial: chosen.serial, deprecated: chosen.deprecated };
}

export interface DecryptResponseOptions {
  urlPath: string;
  appid: string;
  /** The RESPONSE timestamp (Wechatmp-TimeStamp of the response). */
  timestamp: number;
  symKey: Uint8Array | string;
  symSn: string;
  body: string | EncryptedEnvelope;
  /** Clock in Unix seconds; defaults to now. */
  nowSeconds?: number;
  /** Largest accepted |now - timestamp|; default 300 s. */
  maxSkewSeconds?: number;
  /** Default AES256_GCM; SM4_GCM takes the 16-byte key. */
  symmetricAlgorithm?: WechatSymmetricAlgorithm;
}

export interface DecryptedResponse {
  plaintext: string;
  /** The original response fields, without `_n`, `_appid`, `_timestamp`. */
  data: Record<string, unknown>;
  nonce: string;
}

/** Decrypts a response (AAD with the response timestamp) and checks its inner `_appid` / `_timestamp`. */
export function decryptResponse(opts: DecryptResponseOptions): DecryptedResponse {
  const aad = buildAad(opts.urlPath, opts.appid, opts.timestamp, opts.symSn);
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  const maxSkew = opts.maxSkewSeconds ?? 300;
  if (!Number.isFinite(now) || !Number.isFinite(maxSkew) || maxSkew < 0) fail('WXMP_INVALID_ARGUMENT', 'nowSeconds / maxSkewSeconds invalid');
  if (Math.abs(now - opts.timestamp) > maxSkew) fail('WXMP_TIMESTAMP_EXPIRED', `response timestamp ${opts.timestamp} is outside ±${maxSkew}s of ${now}`);
  assertAlgorithms(opts.symmetricAlgorithm, undefined);
  const plaintext = (opts.symmetricAlgorithm === 'SM4_GCM' ? openEnvelopeSm4 : openEnvelope)(opts.symKey, opts.body, aad);
  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext);
  } catch {
    fail('WXMP_MALFORMED_PLAINTEXT', 'decrypted data is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('WXMP_MALFORMED_PLAINTEXT', 'decrypted data is not an object');
  const { _n, _appid, _timestamp, ...data } = parsed as Record<string, unknown>;
  if (typeof _n !== 'string') fail('WXMP_MALFORMED_PLAINTEXT', '_n missing');
  if (_appid !== opts.appid) fail('WXMP_APPID_MISMATCH', 'inner _appid differs from the expected appid');
  if (_timestamp !== opts.timestamp) fail('WXMP_TIMESTAMP_MISMATCH', 'inner _timestamp differs from Wechatmp-TimeStamp');
  return { plaintext, data, nonce: _n };
}
