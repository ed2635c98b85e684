// Server side of the Mini Program API security scheme, written directly on node:crypto (a second,
// independent implementation; the client side lives in @wxseal/wechat):
//   request:  Wechatmp-Appid / -TimeStamp / -Signature (+ optional -Serial) headers,
//             signature RSA-PSS/SHA-256/salt 32 over `urlpath\nappid\ntimestamp\npostdata`,
//             body {iv,data,authtag} = AES-256-GCM with AAD `urlpath|appid|timestamp|sn`,
//             plaintext {_n,_appid,_timestamp,...params}.
//   response: the same, with the RESPONSE timestamp, signed by the platform key(s).
// An app configured with SM4_GCM / SM2withSM3 gets the same scheme with SM4-GCM (16-byte key) and
// SM2 signatures over SM3 (base64 of DER, the app's user ID, 1234567812345678 by default), through
// @wxseal/gm; SM2 answers are signed by the ring's SM2 platform key (and, in a rotation, by the
// retiring SM2 key as the -Deprecated pair).
import { constants, createCipheriv, createDecipheriv, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { sm2Sign, sm2Verify, sm4GcmDecrypt, sm4GcmEncrypt } from '@wxseal/gm';
import type { IncomingHttpHeaders } from 'node:http';
import { wxFail } from '../errcodes.js';
import type { AppEntry } from './apps.js';
import type { PlatformKeyRing } from './platform.js';

const SALT_LENGTH = 32;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const MAX_SIGNATURE_CHARS = 1400; // RSA-8192 in base64
const MAX_HEADER_CHARS = 256;
const SECURITY_FIELDS = new Set(['_n', '_appid', '_timestamp']);

export const WECHATMP_REQUEST_HEADERS = ['wechatmp-appid', 'wechatmp-timestamp', 'wechatmp-signature', 'wechatmp-serial'] as const;

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

/** True when the request carries any Wechatmp-* header (what `optional` mode keys on). */
export function hasSecurityHeaders(headers: IncomingHttpHeaders): boolean {
  return WECHATMP_REQUEST_HEADERS.some((h) => headers[h] !== undefined);
}

function b64(value: unknown, maxChars: number): Buffer | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxChars || value.length % 4 !== 0) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  return Buffer.from(value, 'base64');
}

export interface OpenRequestInput {
  /** `scheme://host/path` the client computed its AAD and signature with. */
  urlPath: string;
  headers: IncomingHttpHeaders;
  /** The raw POST body bytes. */
  body: Buffer;
  nowSeconds: number;
  timestampWindowSeconds: number;
  /** The app the access_token belongs to. */
  tokenApp: AppEntry;
  /** Looks an appid up among all apps (for 40236 vs 40237). */
  knownAppid: (appid: string) => boolean;
}

export interface OpenedRequest {
  appid: string;
  timestamp: number;
  nonce: string;
  /** The original params (URL and POST parameters), security fields removed. */
  params: Record<string, unknown>;
}

/**
 * Verifies and decrypts a secured request; throws MockWechatError with the errcode WeChat uses.
 * Order of checks (documented in the README): headers present (Appid 40233, TimeStamp 40231,
 * Signature 40232, Serial 40230 when required) → Appid valid (40236) and the token's (40237) →
 * public key configured (40239) → timestamp readable and fresh (40240) → Wechatmp-Serial, when
 * sent, names the configured public key (40234) → signature (40234) → symmetric key configured
 * (40238) → envelope and AES-GCM (40235) → inner _appid (40236), _timestamp (40240).
 */
export function openSecuredRequest(input: OpenRequestInput): OpenedRequest {
  const { headers, tokenApp: app } = input;
  const appid = headerValue(headers, 'wechatmp-appid');
  const timestampRaw = headerValue(headers, 'wechatmp-timestamp');
  const signatureB64 = headerValue(headers, 'wechatmp-signature');
  const serial = headerValue(headers, 'wechatmp-serial');
  if (!appid) wxFail(40233);
  if (!timestampRaw) wxFail(40231);
  if (!signatureB64) wxFail(40232);
  if (app.requireRequestSerial && !serial) wxFail(40230);

  if (appid.length > MAX_HEADER_CHARS || !/^[A-Za-z0-9_-]+$/.test(appid) || !input.knownAppid(appid)) wxFail(40236);
  if (appid !== app.config.appid) wxFail(40237);
  if (!app.publicKey && !app.sm2PublicKeyHex) wxFail(40239);

  if (!/^[0-9]{1,12}$/.test(timestampRaw)) wxFail(40240, 'Wechatmp-TimeStamp is not a Unix timestamp in seconds');
  const timestamp = Number(timestampRaw);
  if (Math.abs(input.nowSeconds - timestamp) > input.timestampWindowSeconds) wxFail(40240);

  if (serial !== undefined && serial !== app.publicKeySn) wxFail(40234, 'Wechatmp-Serial does not name the configured public key');

  const signature = b64(signatureB64, MAX_SIGNATURE_CHARS);
  const signed = Buffer.concat([Buffer.from(`${input.urlPath}\n${appid}\n${timestamp}\n`, 'utf8'), input.body]);
  let good = false;
  if (signature) {
    try {
      if (app.asymmetric === 'SM2withSM3') good = app.sm2PublicKeyHex !== undefined && sm2Verify(app.sm2PublicKeyHex, signed, signature, { userId: app.sm2UserId });
      else if (app.publicKey) good = verify('sha256', signed, { key: app.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT_LENGTH }, signature);
    } catch {
      good = false;
    }
  }
  if (!good) wxFail(40234);

  if (!app.symKey || !app.symSn) wxFail(40238);
  const aad = `${input.urlPath}|${appid}|${timestamp}|${app.symSn}`;
  const plaintext = decryptEnvelope(app.symKey, input.body, aad, app.symmetric === 'SM4_GCM');

  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext);
  } catch {
    wxFail(40235, 'decrypted data is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) wxFail(40235, 'decrypted data is not a JSON object');
  const obj = parsed as Record<string, unknown>;
  if (typeof obj._n !== 'string' || obj._n.length === 0) wxFail(40235, '_n missing');
  if (obj._appid !== appid) wxFail(40236, '_appid differs from Wechatmp-Appid');
  if (obj._timestamp !== timestamp) wxFail(40240, '_timestamp differs from Wechatmp-TimeStamp');
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!SECURITY_FIELDS.has(k)) params[k] = v;
  return { appid, timestamp, nonce: obj._n, params };
}

function decryptEnvelope(key: Buffer, body: Buffer, aad: string, sm4 = false): string {
  let env: unknown;
  try {
    env = JSON.parse(body.toString('utf8'));
  } catch {
    wxFail(40235, 'body is not JSON');
  }
  if (typeof env !== 'object' || env === null || Array.isArray(env)) wxFail(40235, 'body is not an {iv,data,authtag} object');
  const { iv: ivB64, data: dataB64, authtag: tagB64 } = env as Record<string, unknown>;
  const iv = b64(ivB64, 64);
  const tag = b64(tagB64, 64);
  const data = typeof dataB64 === 'string' && dataB64.length === 0 ? Buffer.alloc(0) : b64(dataB64, body.length);
  if (!iv || iv.length !== IV_LENGTH) wxFail(40235, 'iv must be 12 bytes of base64');
  if (!tag || tag.length !== TAG_LENGTH) wxFail(40235, 'authtag must be 16 bytes of base64');
  if (!data) wxFail(40235, 'data must be base64');
  if (sm4) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(sm4GcmDecrypt(key, iv, data, tag, Buffer.from(aad, 'utf8')));
    } catch {
      wxFail(40235);
    }
  }
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
    d.setAAD(Buffer.from(aad, 'utf8'));
    d.setAuthTag(tag);
    const plain = Buffer.concat([d.update(data), d.final()]);
    return new TextDecoder('utf-8', { fatal: true }).decode(plain);
  } catch {
    wxFail(40235);
  }
}

export interface SealedResponse {
  headers: Record<string, string>;
  body: string;
}

/**
 * Encrypts and signs a response: plaintext `{_n,_appid,_timestamp,...result}`, AAD with the
 * response timestamp, signature by the current platform key (+ the deprecated one in rotation).
 */
export function sealResponse(opts: {
  urlPath: string;
  app: AppEntry;
  platform: PlatformKeyRing;
  nowSeconds: number;
  result: Record<string, unknown>;
}): SealedResponse {
  const { app, nowSeconds: ts } = opts;
  const appid = app.config.appid;
  if (!app.symKey || !app.symSn) throw new Error('sealResponse needs a symmetric key');
  const fields: Record<string, unknown> = { _n: randomBytes(16).toString('base64').replace(/=+$/, ''), _appid: appid, _timestamp: ts };
  for (const [k, v] of Object.entries(opts.result)) if (!SECURITY_FIELDS.has(k)) fields[k] = v;
  const iv = randomBytes(IV_LENGTH);
  const aad = Buffer.from(`${opts.urlPath}|${appid}|${ts}|${app.symSn}`, 'utf8');
  let body: string;
  if (app.symmetric === 'SM4_GCM') {
    const { ciphertext, tag } = sm4GcmEncrypt(app.symKey, iv, Buffer.from(JSON.stringify(fields), 'utf8'), aad);
    body = JSON.stringify({ iv: iv.toString('base64'), data: ciphertext.toString('base64'), authtag: tag.toString('base64') });
  } else {
    const c = createCipheriv('aes-256-gcm', app.symKey, iv, { authTagLength: TAG_LENGTH });
    c.setAAD(aad);
    const data = Buffer.concat([c.update(JSON.stringify(fields), 'utf8'), c.final()]);
    body = JSON.stringify({ iv: iv.toString('base64'), data: data.toString('base64'), authtag: c.getAuthTag().toString('base64') });
  }
  const message = Buffer.from(`${opts.urlPath}\n${appid}\n${ts}\n${body}`, 'utf8');
  if (app.asymmetric === 'SM2withSM3') {
    const sm2Sig = (k: { privateKeyHex: string; publicKeyHex: string }) => sm2Sign(k.privateKeyHex, message, { userId: app.sm2UserId, publicKeyHex: k.publicKeyHex }).toString('base64');
    const sm2 = opts.platform.sm2;
    const headers: Record<string, string> = {
      'Wechatmp-Appid': appid,
      'Wechatmp-TimeStamp': String(ts),
      'Wechatmp-Serial': sm2.consoleNumber,
      'Wechatmp-Signature': sm2Sig(sm2),
    };
    // In a rotation the retiring SM2 key signs too, as the RSA one does.
    const oldSm2 = opts.platform.sm2Deprecated;
    if (oldSm2) {
      headers['Wechatmp-Serial-Deprecated'] = oldSm2.consoleNumber;
      headers['Wechatmp-Signature-Deprecated'] = sm2Sig(oldSm2);
    }
    return { headers, body };
  }
  const pss = (key: KeyObject) => sign('sha256', message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT_LENGTH }).toString('base64');
  const headers: Record<string, string> = {
    'Wechatmp-Appid': appid,
    'Wechatmp-TimeStamp': String(ts),
    'Wechatmp-Serial': opts.platform.current.spec.consoleNumber,
    'Wechatmp-Signature': pss(opts.platform.current.key),
  };
  const old = opts.platform.deprecated;
  if (old) {
    headers['Wechatmp-Serial-Deprecated'] = old.spec.consoleNumber;
    headers['Wechatmp-Signature-Deprecated'] = pss(old.key);
  }
  return { headers, body };
}
