// Shared helpers (not exported from the package index).
import { X509Certificate, createPrivateKey, createPublicKey, randomInt, type KeyObject } from 'node:crypto';
import { fail, type WechatPayErrorCode } from './errors.js';
import { isSm2Key } from './sm.js';

/** A private key: PEM (PKCS#1 or PKCS#8) or a KeyObject. */
export type PrivateKeyInput = string | KeyObject;
/** A public key: SPKI/PKCS#1 PEM, an X.509 certificate (PEM or X509Certificate) or a KeyObject. */
export type PublicKeyInput = string | KeyObject | X509Certificate;

/** Smallest RSA modulus accepted; WeChat Pay keys and certificates are RSA-2048. */
export const MIN_RSA_BITS = 2048;

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict standard base64 (padded, no whitespace); `what` names the field in the error. */
export function decodeBase64(value: unknown, what: string, code: WechatPayErrorCode = 'WECHATPAY_MALFORMED'): Buffer {
  if (typeof value !== 'string' || value.length % 4 !== 0 || !B64.test(value)) fail(code, `${what} is not standard padded base64`);
  const bytes = Buffer.from(value, 'base64');
  // Reject non-canonical encodings (non-zero pad bits): one text per byte string.
  if (bytes.toString('base64') !== value) fail(code, `${what} is not canonical base64`);
  return bytes;
}

function checkRsa(k: KeyObject, what: string): KeyObject {
  // 国密 merchants: SM2 keys are accepted beside RSA (signing / verification dispatch on the key).
  if (k.asymmetricKeyType !== 'rsa' && isSm2Key(k)) return k;
  if (k.asymmetricKeyType !== 'rsa') fail('WECHATPAY_BAD_ARGUMENT', `${what} must be an RSA key`);
  const bits = k.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) fail('WECHATPAY_BAD_ARGUMENT', `${what} must be at least RSA-${MIN_RSA_BITS}, got ${bits} bits`);
  return k;
}

export function toPrivateKey(key: PrivateKeyInput, what = 'privateKey'): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === 'string' ? createPrivateKey(key) : key;
  } catch (e) {
    fail('WECHATPAY_BAD_ARGUMENT', `${what} is not a readable private key`, e);
  }
  if (typeof k !== 'object' || k === null || k.type !== 'private') fail('WECHATPAY_BAD_ARGUMENT', `${what} must be a private key`);
  return checkRsa(k, what);
}

export function toPublicKey(key: PublicKeyInput, what = 'publicKey'): KeyObject {
  let k: KeyObject;
  try {
    if (key instanceof X509Certificate) k = key.publicKey;
    else if (typeof key === 'string') k = key.includes('-----BEGIN CERTIFICATE-----') ? new X509Certificate(key).publicKey : createPublicKey(key);
    else k = key.type === 'private' ? createPublicKey(key) : key;
  } catch (e) {
    fail('WECHATPAY_BAD_ARGUMENT', `${what} is not a readable certificate or public key`, e);
  }
  if (typeof k !== 'object' || k === null || k.type !== 'public') fail('WECHATPAY_BAD_ARGUMENT', `${what} must be a public key`);
  return checkRsa(k, what);
}

/** Header collections accepted by the verifiers: a plain object (Node, undici) or a fetch `Headers`. */
export type HeaderInput = Record<string, string | string[] | number | undefined> | { get(name: string): string | null };

/** Longest header value read; anything longer is malformed (a 4096-bit signature is 684 chars). */
export const MAX_HEADER_LENGTH = 2048;

/** Case-insensitive single-valued header lookup; a repeated header is malformed. */
export function readHeader(headers: HeaderInput, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) fail('WECHATPAY_BAD_ARGUMENT', 'headers must be an object');
  let value: string | undefined;
  if (typeof (headers as { get?: unknown }).get === 'function' && !Object.prototype.hasOwnProperty.call(headers, 'get')) {
    const v = (headers as { get(name: string): string | null }).get(name);
    value = v === null ? undefined : v;
    // fetch Headers joins repeated values with ", "; none of the Wechatpay-* values contains one.
    if (value !== undefined && value.includes(', ')) fail('WECHATPAY_MISSING_HEADER', `${name} must appear once`);
  } else {
    const lower = name.toLowerCase();
    let found = false;
    for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
      if (k.toLowerCase() !== lower || v === undefined) continue;
      if (found) fail('WECHATPAY_MISSING_HEADER', `${name} must appear once`);
      found = true;
      if (Array.isArray(v)) {
        if (v.length !== 1 || typeof v[0] !== 'string') fail('WECHATPAY_MISSING_HEADER', `${name} must appear once`);
        value = v[0];
      } else if (typeof v === 'string') value = v;
      else if (typeof v === 'number') value = String(v);
      else fail('WECHATPAY_MALFORMED', `${name} is not a string`);
    }
  }
  if (value !== undefined && value.length > MAX_HEADER_LENGTH) fail('WECHATPAY_MALFORMED', `${name} is longer than ${MAX_HEADER_LENGTH} characters`);
  return value;
}

export function requireHeader(headers: HeaderInput, name: string): string {
  const v = readHeader(headers, name);
  if (v === undefined || v === '') fail('WECHATPAY_MISSING_HEADER', `${name} missing`);
  return v;
}

/** Unix seconds as WeChat Pay writes them: 1–12 decimal digits, no sign, no fraction. */
const TIMESTAMP = /^[0-9]{1,12}$/;

/** Normalises a timestamp argument (number or decimal string) to its decimal text. */
export function timestampText(value: number | string, what = 'timestamp', code: WechatPayErrorCode = 'WECHATPAY_BAD_ARGUMENT'): string {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) fail(code, `${what} must be a non-negative integer of seconds`);
    return String(value);
  }
  if (typeof value !== 'string' || !TIMESTAMP.test(value)) fail(code, `${what} must be 1-12 decimal digits`);
  return value;
}

/** Clock in Unix seconds; `nowSeconds` overrides it (tests, mock servers). */
export function nowOr(nowSeconds: number | undefined): number {
  if (nowSeconds === undefined) return Math.floor(Date.now() / 1000);
  if (typeof nowSeconds !== 'number' || !Number.isFinite(nowSeconds)) fail('WECHATPAY_BAD_ARGUMENT', 'nowSeconds must be a finite number');
  return nowSeconds;
}

/** Default accepted clock difference, in seconds, between a timestamp and the local clock (±5 min). */
export const DEFAULT_WINDOW_SECONDS = 300;

/** Rejects when |now − timestamp| > window (inclusive ±window, as wechatpay-axios-plugin). */
export function checkWindow(timestamp: number, nowSeconds: number | undefined, windowSeconds: number | undefined, what: string): void {
  const now = nowOr(nowSeconds);
  const window = windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  if (typeof window !== 'number' || !Number.isFinite(window) || window < 0) fail('WECHATPAY_BAD_ARGUMENT', 'windowSeconds must be a non-negative number');
  if (Math.abs(now - timestamp) > window) fail('WECHATPAY_TIMESTAMP_EXPIRED', `${what} ${timestamp} is outside ±${window}s of ${Math.floor(now)}`);
}

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniform random string over [0-9A-Za-z] (crypto.randomInt, no modulo bias). */
export function randomAlnum(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}

/** Printable ASCII without `"` and `\` (values that appear quoted or in a signed line). */
export const PRINTABLE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 strictly (invalid sequences are an error, not U+FFFD). */
export function decodeUtf8(bytes: Uint8Array, what: string, code: WechatPayErrorCode = 'WECHATPAY_MALFORMED'): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    fail(code, `${what} is not valid UTF-8`);
  }
}

/** Body bytes as sent/received: a string is UTF-8 encoded, bytes are used as they are. */
export function bodyBytes(body: string | Uint8Array | undefined, what = 'body'): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  fail('WECHATPAY_BAD_ARGUMENT', `${what} must be a string or bytes`);
}
