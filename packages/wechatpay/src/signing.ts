// Merchant → WeChat Pay request signatures (API v3, "签名生成"):
//   message = METHOD\nURL\ntimestamp\nnonce\nbody\n   (URL = path + query as sent; body "" for GET)
//   signature = base64(SHA256withRSA(message)) with RSASSA-PKCS1-v1_5
//   Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",timestamp="..",serial_no=".."
// Source: pay.weixin.qq.com/docs/merchant/development/interface-rules/signature-generation.html
import { sign, verify, type KeyObject } from 'node:crypto';
import { fail } from './errors.js';
import {
  PRINTABLE_TOKEN,
  bodyBytes,
  checkWindow,
  decodeBase64,
  randomAlnum,
  timestampText,
  toPrivateKey,
  toPublicKey,
  type PrivateKeyInput,
  type PublicKeyInput,
} from './internal.js';
import { SM_SIGNATURE_SCHEME, isSm2Key, sm2SignBase64, sm2VerifyDer } from './sm.js';

/** The only signature scheme of API v3 (Authorization scheme and Wechatpay-Signature-Type). */
export const SIGNATURE_SCHEME = 'WECHATPAY2-SHA256-RSA2048';

/** The signature schemes: RSA (every merchant) and SM2-with-SM3 (国密 merchants, keys on the SM2 curve). */
export type SignatureScheme = typeof SIGNATURE_SCHEME | typeof SM_SIGNATURE_SCHEME;

/** The scheme a key (KeyObject, private or public) signs / verifies with: SM2-with-SM3 for SM2 keys, RSA otherwise. */
export function signatureSchemeOf(key: KeyObject): SignatureScheme {
  return isSm2Key(key) ? SM_SIGNATURE_SCHEME : SIGNATURE_SCHEME;
}

/** Length of the nonces this package generates (what every official SDK sends). */
export const NONCE_LENGTH = 32;

/** Longest Authorization header the parser reads. */
export const MAX_AUTHORIZATION_LENGTH = 2048;

/** A random nonce over [0-9A-Za-z], 32 characters unless told otherwise (1–64). */
export function generateNonce(length: number = NONCE_LENGTH): string {
  if (!Number.isSafeInteger(length) || length < 1 || length > 64) fail('WECHATPAY_BAD_ARGUMENT', 'nonce length must be 1-64');
  return randomAlnum(length);
}

/** Current Unix time in seconds. */
export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Nonces in signed lines and headers: printable ASCII without `"` or `\`, at most 64 characters. */
export function assertNonce(nonce: unknown, what = 'nonce', code: 'WECHATPAY_BAD_ARGUMENT' | 'WECHATPAY_MALFORMED' = 'WECHATPAY_BAD_ARGUMENT'): asserts nonce is string {
  if (typeof nonce !== 'string' || nonce.length > 64 || !PRINTABLE_TOKEN.test(nonce)) {
    fail(code, `${what} must be 1-64 printable ASCII characters without quotes or backslashes`);
  }
}

const METHOD = /^[A-Z]{1,16}$/;
// Request-target in origin form: starts with "/", no whitespace, control characters or fragment.
const REQUEST_TARGET = /^\/[\x21-\x22\x24-\x7e]*$/;

/** The canonical URL of the message: the request-target (`/v3/...?...`) exactly as it goes on the wire. */
export function assertRequestTarget(url: unknown): asserts url is string {
  if (typeof url !== 'string' || url.length > 4096 || !REQUEST_TARGET.test(url)) {
    fail('WECHATPAY_BAD_ARGUMENT', 'url must be the request-target as sent: "/" path [? query], printable ASCII, no fragment');
  }
}

/**
 * The request-target an HTTP client sends for a URL: `pathname + search` of the WHATWG
 * serialisation (what fetch/undici put on the request line). Sign this, not a hand-built string.
 */
export function requestTargetOf(url: string | URL): string {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    fail('WECHATPAY_BAD_ARGUMENT', 'url must be an absolute URL');
  }
  const target = u.pathname + u.search;
  assertRequestTarget(target);
  return target;
}

export interface RequestMessageInput {
  /** HTTP method, upper case (GET, POST, PUT, PATCH, DELETE). */
  method: string;
  /** Request-target: absolute path plus query, exactly as sent (`/v3/pay/transactions/id/1?mchid=1`). */
  url: string;
  /** Unix seconds (number or decimal string). */
  timestamp: number | string;
  nonce: string;
  /** The exact body sent; empty (or omitted) for GET and DELETE without body. For uploads: the `meta` JSON. */
  body?: string | Uint8Array;
}

function requestMessageBytes(input: RequestMessageInput): Buffer {
  if (typeof input !== 'object' || input === null) fail('WECHATPAY_BAD_ARGUMENT', 'request message input must be an object');
  const { method, url, nonce } = input;
  if (typeof method !== 'string' || !METHOD.test(method)) fail('WECHATPAY_BAD_ARGUMENT', 'method must be an upper-case HTTP method');
  assertRequestTarget(url);
  const ts = timestampText(input.timestamp);
  assertNonce(nonce);
  return Buffer.concat([Buffer.from(`${method}\n${url}\n${ts}\n${nonce}\n`, 'utf8'), bodyBytes(input.body), Buffer.from('\n')]);
}

/** `METHOD\nURL\ntimestamp\nnonce\nbody\n` (the string a request signature covers). */
export function buildRequestMessage(input: RequestMessageInput): string {
  return requestMessageBytes(input).toString('utf8');
}

/**
 * base64 SHA256withRSA (RSASSA-PKCS1-v1_5) of a message, deterministic for a key and message; with an
 * SM2 key, base64(DER) SM2-with-SM3 (ID 1234567812345678), randomised.
 */
export function signMessage(message: string | Uint8Array, privateKey: PrivateKeyInput): string {
  const key = toPrivateKey(privateKey);
  if (isSm2Key(key)) return sm2SignBase64(bodyBytes(message, 'message'), key);
  return sign('sha256', bodyBytes(message, 'message'), key).toString('base64');
}

/** Checks a base64 SHA256withRSA signature; false on a malformed signature, never throws for it. */
export function verifyMessage(message: string | Uint8Array, signature: string, publicKey: PublicKeyInput): boolean {
  const key = toPublicKey(publicKey);
  let sig: Buffer;
  try {
    sig = decodeBase64(signature, 'signature');
  } catch {
    return false;
  }
  if (sig.length === 0) return false;
  if (isSm2Key(key)) return sm2VerifyDer(bodyBytes(message, 'message'), sig, key);
  return verify('sha256', bodyBytes(message, 'message'), key, sig);
}

/** The five parameters of an Authorization header (names as on the wire). */
export interface AuthorizationParams {
  mchid: string;
  nonce_str: string;
  signature: string;
  timestamp: string;
  serial_no: string;
}

const AUTH_KEYS = ['mchid', 'nonce_str', 'signature', 'timestamp', 'serial_no'] as const;
const MCHID = /^[0-9]{1,32}$/;
const HEX_SERIAL = /^[0-9A-Fa-f]{1,64}$/;
const SIGNATURE_B64 = /^[A-Za-z0-9+/]{1,1024}={0,2}$/;

function checkAuthorizationParams(p: AuthorizationParams, code: 'WECHATPAY_BAD_ARGUMENT' | 'WECHATPAY_MALFORMED'): void {
  if (typeof p.mchid !== 'string' || !MCHID.test(p.mchid)) fail(code, 'mchid must be 1-32 decimal digits');
  assertNonce(p.nonce_str, 'nonce_str', code);
  if (typeof p.signature !== 'string' || p.signature.length % 4 !== 0 || !SIGNATURE_B64.test(p.signature)) fail(code, 'signature must be base64');
  timestampText(p.timestamp, 'timestamp', code);
  if (typeof p.serial_no !== 'string' || !HEX_SERIAL.test(p.serial_no)) fail(code, 'serial_no must be 1-64 hex digits (the merchant certificate serial)');
}

/** `WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",timestamp="..",serial_no=".."` (or the SM2 scheme). */
export function buildAuthorization(params: AuthorizationParams, scheme: SignatureScheme = SIGNATURE_SCHEME): string {
  if (scheme !== SIGNATURE_SCHEME && scheme !== SM_SIGNATURE_SCHEME) fail('WECHATPAY_BAD_ARGUMENT', `scheme must be ${SIGNATURE_SCHEME} or ${SM_SIGNATURE_SCHEME}`);
  if (typeof params !== 'object' || params === null) fail('WECHATPAY_BAD_ARGUMENT', 'params must be an object');
  const p = { ...params, timestamp: timestampText(params.timestamp as string | number) };
  checkAuthorizationParams(p, 'WECHATPAY_BAD_ARGUMENT');
  return `${scheme} ${AUTH_KEYS.map((k) => `${k}="${p[k]}"`).join(',')}`;
}

// One auth-param: key="value" (value: no quote, no backslash, no control characters).
const AUTH_PARAM = /^([a-z_]+)="([\x20\x21\x23-\x5b\x5d-\x7e]*)"$/;

/**
 * Strict parser of the Authorization header: the scheme `WECHATPAY2-SHA256-RSA2048`, one space,
 * then exactly the five quoted parameters in any order, each once, separated by commas with
 * optional spaces/tabs around them (RFC 7235 lists). Unknown, repeated or missing parameters,
 * unquoted values and malformed values are WECHATPAY_MALFORMED.
 */
export function parseAuthorization(header: string): AuthorizationParams {
  return parseAuthorizationWithScheme(header, [SIGNATURE_SCHEME]).params;
}

/**
 * parseAuthorization accepting the given schemes (default both RSA and SM2-with-SM3); returns the
 * scheme with the parameters. A scheme outside `schemes` is WECHATPAY_UNSUPPORTED_ALGORITHM.
 */
export function parseAuthorizationWithScheme(
  header: string,
  schemes: readonly SignatureScheme[] = [SIGNATURE_SCHEME, SM_SIGNATURE_SCHEME],
): { scheme: SignatureScheme; params: AuthorizationParams } {
  if (typeof header !== 'string') fail('WECHATPAY_MALFORMED', 'Authorization must be a string');
  if (header.length > MAX_AUTHORIZATION_LENGTH) fail('WECHATPAY_MALFORMED', `Authorization is longer than ${MAX_AUTHORIZATION_LENGTH} characters`);
  const matched = schemes.find((s) => header.startsWith(`${s} `));
  if (matched === undefined) {
    const scheme = header.split(' ', 1)[0] ?? '';
    if (!(schemes as readonly string[]).includes(scheme) && /^[A-Za-z0-9-]+$/.test(scheme) && header.length > scheme.length) {
      fail('WECHATPAY_UNSUPPORTED_ALGORITHM', `Authorization scheme must be ${schemes.join(' or ')}`);
    }
    fail('WECHATPAY_MALFORMED', `Authorization must start with "${schemes[0] ?? SIGNATURE_SCHEME} "`);
  }
  const prefix = `${matched} `;
  const rest = header.slice(prefix.length);
  if (/^\s|\s$/.test(rest)) fail('WECHATPAY_MALFORMED', 'Authorization must have exactly one space after the scheme and no trailing space');
  const seen = new Map<string, string>();
  for (const raw of rest.split(',')) {
    const part = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    const m = AUTH_PARAM.exec(part);
    if (m === null) fail('WECHATPAY_MALFORMED', 'Authorization parameters must be key="value" separated by commas');
    const [, key = '', value = ''] = m;
    if (!(AUTH_KEYS as readonly string[]).includes(key)) fail('WECHATPAY_MALFORMED', `unknown Authorization parameter ${key}`);
    if (seen.has(key)) fail('WECHATPAY_MALFORMED', `Authorization parameter ${key} repeated`);
    seen.set(key, value);
  }
  for (const k of AUTH_KEYS) if (!seen.has(k)) fail('WECHATPAY_MALFORMED', `Authorization parameter ${k} missing`);
  const params: AuthorizationParams = {
    mchid: seen.get('mchid') ?? '',
    nonce_str: seen.get('nonce_str') ?? '',
    signature: seen.get('signature') ?? '',
    timestamp: seen.get('timestamp') ?? '',
    serial_no: seen.get('serial_no') ?? '',
  };
  checkAuthorizationParams(params, 'WECHATPAY_MALFORMED');
  return { scheme: matched, params };
}

export interface SignRequestOptions {
  mchid: string;
  /** Serial number of the merchant API certificate (hex). */
  serialNo: string;
  /** Merchant API private key (apiclient_key.pem) or KeyObject. */
  privateKey: PrivateKeyInput;
  method: string;
  /** Request-target as sent (see requestTargetOf). */
  url: string;
  body?: string | Uint8Array;
  /** Unix seconds; now when omitted. */
  timestamp?: number | string;
  /** 32 random [0-9A-Za-z] characters when omitted. */
  nonce?: string;
}

export interface SignedRequest {
  /** Value of the Authorization header. */
  authorization: string;
  /** The signed message. */
  message: string;
  signature: string;
  timestamp: string;
  nonce: string;
}

/** Signs a request and builds its Authorization header. */
export function signRequest(opts: SignRequestOptions): SignedRequest {
  if (typeof opts !== 'object' || opts === null) fail('WECHATPAY_BAD_ARGUMENT', 'options must be an object');
  const timestamp = timestampText(opts.timestamp ?? unixSeconds());
  const nonce = opts.nonce ?? generateNonce();
  const bytes = requestMessageBytes({ method: opts.method, url: opts.url, timestamp, nonce, body: opts.body });
  const key = toPrivateKey(opts.privateKey);
  const signature = signMessage(bytes, key);
  const authorization = buildAuthorization({ mchid: opts.mchid, nonce_str: nonce, signature, timestamp, serial_no: opts.serialNo }, isSm2Key(key) ? SM_SIGNATURE_SCHEME : SIGNATURE_SCHEME);
  return { authorization, message: bytes.toString('utf8'), signature, timestamp, nonce };
}

export interface VerifyRequestOptions {
  /** The Authorization header as received. */
  authorization: string;
  method: string;
  /** Request-target as received. */
  url: string;
  /** Raw body bytes (or text) as received. */
  body?: string | Uint8Array;
  /**
   * The merchant's public key for (mchid, serial_no): a public key / certificate, or undefined when
   * none is registered (→ WECHATPAY_UNKNOWN_SERIAL).
   */
  resolveKey: (mchid: string, serialNo: string) => PublicKeyInput | undefined;
  /** Clock (Unix seconds); now when omitted. */
  nowSeconds?: number;
  /** Accepted |now − timestamp|; 300 s by default. */
  windowSeconds?: number;
  /**
   * Accepted Authorization schemes; default RSA only. With SM2-with-SM3 accepted, the scheme must
   * match the merchant key found (an SM2 key for the SM scheme), else WECHATPAY_UNSUPPORTED_ALGORITHM.
   */
  schemes?: readonly SignatureScheme[];
}

/**
 * What WeChat Pay does with a merchant request (for mock servers): parse the Authorization header,
 * check the timestamp window, find the merchant key, verify the signature. Returns the parameters.
 */
export function verifyRequest(opts: VerifyRequestOptions): AuthorizationParams {
  if (typeof opts !== 'object' || opts === null) fail('WECHATPAY_BAD_ARGUMENT', 'options must be an object');
  const { scheme, params } = parseAuthorizationWithScheme(opts.authorization, opts.schemes ?? [SIGNATURE_SCHEME]);
  checkWindow(Number(params.timestamp), opts.nowSeconds, opts.windowSeconds, 'request timestamp');
  const key = opts.resolveKey(params.mchid, params.serial_no);
  if (key === undefined) fail('WECHATPAY_UNKNOWN_SERIAL', `no key registered for merchant ${params.mchid} serial ${params.serial_no}`);
  if (signatureSchemeOf(toPublicKey(key)) !== scheme) fail('WECHATPAY_UNSUPPORTED_ALGORITHM', `Authorization scheme ${scheme} does not match the merchant key for serial ${params.serial_no}`);
  const bytes = requestMessageBytes({ method: opts.method, url: opts.url, timestamp: params.timestamp, nonce: params.nonce_str, body: opts.body });
  if (!verifyMessage(bytes, params.signature, key)) fail('WECHATPAY_BAD_SIGNATURE', 'request signature does not verify');
  return params;
}
