// Mini Program server API client: access_token handling, the API security scheme (encrypt +
// sign requests, verify + decrypt responses) and typed helpers for common endpoints.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Counter, type Registry } from 'prom-client';
import {
  WechatApiSecurityError,
  buildEncryptedRequest,
  decryptResponse,
  requestHeaders,
  responseTimestamp,
  signRequest,
  signRequestSm2,
  toSm2PrivateKey,
  toSm2VerificationKey,
  toVerificationKey,
  verifyResponseSignature,
  WECHAT_ASYMMETRIC_ALGORITHMS,
  WECHAT_SYMMETRIC_ALGORITHMS,
  type ResponseHeaders,
  type WechatAsymmetricAlgorithm,
  type WechatSymmetricAlgorithm,
} from './api-security.js';
import { WechatApiError, WechatTransportError, wechatErrorOf } from './errors.js';
import { WechatHttp, type WechatHttpOptions, type WechatHttpResponse } from './http.js';
import type { AccessTokenSource } from './token-source.js';

/** A PEM string, a path to a PEM file, or a KeyObject. */
export type KeyMaterial = string | KeyObject;

export interface MpApiSecurityOptions {
  /**
   * The console's symmetric algorithm (API 安全 → 对称密钥): AES256_GCM (default) or SM4_GCM.
   * The console sets it per app; WeChat names it in no header, so it must match the console.
   */
  symmetricAlgorithm?: WechatSymmetricAlgorithm;
  /** The console's signature algorithm (API 安全 → 非对称密钥): RSAwithSHA256 (default) or SM2withSM3. */
  asymmetricAlgorithm?: WechatAsymmetricAlgorithm;
  /** SM2 distinguishing ID of both directions' SM2withSM3 signatures; default 1234567812345678. */
  sm2UserId?: string;
  /** API symmetric key as the console shows it: base64 of 32 bytes (AES256_GCM) or 16 bytes (SM4_GCM), or the bytes. */
  symKey: string | Uint8Array;
  /** The symmetric key's number (SN); goes into the AAD. */
  symSn: string;
  /**
   * Application private key (PEM, file path or KeyObject): RSA, or SM2 under SM2withSM3 (also
   * accepted then: the 32-byte scalar as 64 hex digits).
   */
  privateKey: KeyMaterial;
  /** The application key pair's number (SN) from the console. */
  privateKeySn: string;
  /**
   * WeChat platform certificates by their console number (the Wechatmp-Serial value, not the
   * X.509 serial): certificate PEM, public key PEM, file path or KeyObject. During a rotation give
   * both the old and the new one.
   */
  platformCertificates: Record<string, KeyMaterial>;
  /** Send `Wechatmp-Serial: <privateKeySn>` on requests. Default true. */
  sendRequestSerial?: boolean;
  /** Largest accepted |now − response timestamp|. Default 300 s. */
  maxResponseSkewSeconds?: number;
}

/** Minimal logger (pino-compatible); nothing secret is ever passed to it. */
export interface MpClientLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export type MpClientEvent =
  | { type: 'platform-certificate-deprecated'; path: string; deprecatedSerial: string; currentSerial: string }
  | { type: 'access-token-rejected'; path: string; errcode: number }
  | { type: 'response-rejected'; path: string; code: string };

export interface MpClientOptions {
  appid: string;
  /** AppSecret; needed by `code2Session` only. */
  secret?: string;
  /** Where access tokens come from: an AccessTokenManager (shared, refreshed) or staticAccessToken(). */
  accessToken?: AccessTokenSource;
  /** A WechatHttp to share (breaker, pool) or options for a private one. */
  http?: WechatHttp | WechatHttpOptions;
  /** API security (API 安全) keys; when set, `call` uses the scheme by default. */
  apiSecurity?: MpApiSecurityOptions;
  logger?: MpClientLogger;
  onEvent?: (event: MpClientEvent) => void;
  /** prom-client registry to publish `wxseal_wechat_*` counters on. */
  metricsRegistry?: Registry;
  /** Clock in ms (tests). */
  now?: () => number;
}

export interface CallOptions {
  /** Use the API security scheme; default: true when `apiSecurity` is configured. */
  security?: boolean;
  /** Send `access_token` in the query; default true. */
  accessToken?: boolean;
  /**
   * The API's URL parameters (besides access_token, which the client adds). In a secured call
   * they travel inside the encrypted data with the POST parameters, as the API security guide
   * requires ("原请求字段，包含URL参数、POST参数，不包含AccessToken"): WeChat reads them only
   * from there, and the URL then carries access_token alone. In a plain call they go in the query.
   */
  query?: Record<string, string>;
  signal?: AbortSignal;
}

export interface PhoneInfo {
  phoneNumber: string;
  purePhoneNumber: string;
  countryCode: string;
  watermark: { timestamp: number; appid: string };
}

export interface Code2SessionResult {
  openid: string;
  session_key: string;
  unionid?: string;
}

export interface MpClientStats {
  calls: number;
  securedCalls: number;
  tokenRetries: number;
  deprecatedCertificateResponses: number;
  rejectedResponses: number;
}

function isPem(s: string): boolean {
  return s.includes('-----BEGIN ');
}

function readMaterial(m: KeyMaterial, what: string): KeyObject | string {
  if (typeof m !== 'string') return m;
  if (isPem(m)) return m;
  try {
    return readFileSync(m, 'utf8');
  } catch {
    throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', `${what}: neither a PEM string nor a readable file`);
  }
}

interface SecurityState {
  symmetric: WechatSymmetricAlgorithm;
  asymmetric: WechatAsymmetricAlgorithm;
  sm2UserId: string | undefined;
  symKey: string | Uint8Array;
  symSn: string;
  /** RSA: a KeyObject; SM2: the private scalar, hex. */
  privateKey: KeyObject | string;
  privateKeySn: string;
  sendRequestSerial: boolean;
  maxSkew: number;
  /** RSA: KeyObjects; SM2: public points, hex. */
  certificates: Record<string, KeyObject | string>;
}

const SM2_HEX_KEY = /^(?:[0-9a-fA-F]{64}|04[0-9a-fA-F]{128})$/;

function loadCertificates(map: Record<string, KeyMaterial>, asymmetric: WechatAsymmetricAlgorithm = 'RSAwithSHA256'): Record<string, KeyObject | string> {
  const out: Record<string, KeyObject | string> = {};
  const entries = Object.entries(map);
  if (entries.length === 0) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'platformCertificates must hold at least one certificate');
  for (const [serial, material] of entries) {
    if (serial.length === 0 || serial.length > 128) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'platform certificate number must be 1..128 characters');
    if (asymmetric === 'SM2withSM3') {
      const m = typeof material === 'string' && SM2_HEX_KEY.test(material.trim()) ? material : readMaterial(material, `platform certificate ${serial}`);
      out[serial] = toSm2VerificationKey(m);
      continue;
    }
    const m = readMaterial(material, `platform certificate ${serial}`);
    if (typeof m === 'string' && m.includes('-----BEGIN CERTIFICATE-----')) {
      // Validity is the operator's concern (the console issues them); parse to fail early on garbage.
      new X509Certificate(m);
    }
    out[serial] = toVerificationKey(m);
  }
  return out;
}

function loadPrivateKey(o: MpApiSecurityOptions, asymmetric: WechatAsymmetricAlgorithm): KeyObject | string {
  if (asymmetric === 'SM2withSM3') {
    const m = typeof o.privateKey === 'string' && SM2_HEX_KEY.test(o.privateKey.trim()) ? o.privateKey : readMaterial(o.privateKey, 'privateKey');
    return toSm2PrivateKey(m);
  }
  const pk = readMaterial(o.privateKey, 'privateKey');
  let privateKey: KeyObject;
  try {
    privateKey = typeof pk === 'string' ? createPrivateKey(pk) : pk;
  } catch {
    throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'privateKey is not a readable private key');
  }
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'rsa') throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'privateKey must be an RSA private key');
  return privateKey;
}

function loadSecurity(o: MpApiSecurityOptions): SecurityState {
  const symmetric = o.symmetricAlgorithm ?? 'AES256_GCM';
  const asymmetric = o.asymmetricAlgorithm ?? 'RSAwithSHA256';
  if (!WECHAT_SYMMETRIC_ALGORITHMS.includes(symmetric)) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'symmetricAlgorithm must be AES256_GCM or SM4_GCM');
  if (!WECHAT_ASYMMETRIC_ALGORITHMS.includes(asymmetric)) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'asymmetricAlgorithm must be RSAwithSHA256 or SM2withSM3');
  if (o.sm2UserId !== undefined && (typeof o.sm2UserId !== 'string' || o.sm2UserId.length === 0 || Buffer.byteLength(o.sm2UserId) > 1024)) {
    throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'sm2UserId must be 1..1024 bytes');
  }
  const privateKey = loadPrivateKey(o, asymmetric);
  if (typeof o.symSn !== 'string' || o.symSn.length === 0) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'symSn is required');
  if (typeof o.privateKeySn !== 'string' || o.privateKeySn.length === 0) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'privateKeySn is required');
  const maxSkew = o.maxResponseSkewSeconds ?? 300;
  if (!Number.isFinite(maxSkew) || maxSkew <= 0 || maxSkew > 3600) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'maxResponseSkewSeconds must be in (0, 3600]');
  return {
    symmetric,
    asymmetric,
    sm2UserId: o.sm2UserId,
    symKey: o.symKey,
    symSn: o.symSn,
    privateKey,
    privateKeySn: o.privateKeySn,
    sendRequestSerial: o.sendRequestSerial ?? true,
    maxSkew,
    certificates: loadCertificates(o.platformCertificates, asymmetric),
  };
}

function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function parseJsonObject(res: WechatHttpResponse, path: string): Record<string, unknown> {
  try {
    return WechatHttp.json(res);
  } catch (err) {
    throw new WechatTransportError('WECHAT_BAD_RESPONSE', `${path}: HTTP ${res.status}, body is not a JSON object`, { status: res.status, cause: err });
  }
}

export class MpClient {
  readonly appid: string;
  private readonly secret: string | undefined;
  private readonly tokens: AccessTokenSource | undefined;
  private readonly http: WechatHttp;
  private readonly ownsHttp: boolean;
  private security: SecurityState | undefined;
  private readonly logger: MpClientLogger | undefined;
  private readonly onEvent: ((e: MpClientEvent) => void) | undefined;
  private readonly now: () => number;
  private readonly counters: MpClientStats = { calls: 0, securedCalls: 0, tokenRetries: 0, deprecatedCertificateResponses: 0, rejectedResponses: 0 };
  private readonly deprecatedMetric: Counter<'appid' | 'serial'> | undefined;
  private readonly callsMetric: Counter<'appid' | 'outcome'> | undefined;

  constructor(options: MpClientOptions) {
    if (typeof options.appid !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(options.appid)) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'appid must be 1..64 characters [A-Za-z0-9_-]');
    this.appid = options.appid;
    this.secret = options.secret;
    this.tokens = options.accessToken;
    if (options.http instanceof WechatHttp) {
      this.http = options.http;
      this.ownsHttp = false;
    } else {
      this.http = new WechatHttp(options.http);
      this.ownsHttp = true;
    }
    this.security = options.apiSecurity ? loadSecurity(options.apiSecurity) : undefined;
    this.logger = options.logger;
    this.onEvent = options.onEvent;
    this.now = options.now ?? Date.now;
    if (options.metricsRegistry) {
      const registers = [options.metricsRegistry];
      this.deprecatedMetric = new Counter({
        name: 'wxseal_wechat_platform_certificate_deprecated_total',
        help: 'Responses verified only with the Wechatmp-*-Deprecated pair: download the new platform certificate',
        labelNames: ['appid', 'serial'],
        registers,
      });
      this.callsMetric = new Counter({ name: 'wxseal_wechat_calls_total', help: 'Calls to WeChat server APIs by outcome', labelNames: ['appid', 'outcome'], registers });
    }
  }

  /** Swaps the platform certificates (after downloading a renewed one) without a restart. */
  setPlatformCertificates(certificates: Record<string, KeyMaterial>): void {
    if (!this.security) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'API security is not configured');
    this.security = { ...this.security, certificates: loadCertificates(certificates, this.security.asymmetric) };
  }

  /** Console numbers of the platform certificates held. */
  platformCertificateSerials(): string[] {
    return Object.keys(this.security?.certificates ?? {});
  }

  stats(): MpClientStats {
    return { ...this.counters };
  }

  /**
   * POSTs `body` to `path` (e.g. "/wxa/business/getuserphonenumber"). With API security the body
   * is encrypted and signed and the answer must verify and decrypt; an unsigned answer is accepted
   * only as an error (`WechatApiError` with `authenticated: false`). 40001/40014/42001 drop the
   * token and retry once with a fresh one.
   */
  async call<T extends object = Record<string, unknown>>(path: string, body: Record<string, unknown> = {}, options: CallOptions = {}): Promise<T> {
    const secured = options.security ?? this.security !== undefined;
    if (secured && !this.security) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'security requested but apiSecurity is not configured');
    const useToken = options.accessToken ?? true;
    if (useToken && !this.tokens) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'no accessToken source configured');
    this.http.urlOf(path); // validates the path early
    this.counters.calls += 1;
    if (secured) this.counters.securedCalls += 1;
    for (let attempt = 0; ; attempt += 1) {
      const token = useToken && this.tokens ? await this.tokens.getAccessToken(options.signal ? { signal: options.signal } : {}) : undefined;
      try {
        const result = secured ? await this.securedOnce(path, body, token, options) : await this.plainOnce(path, body, token, options);
        this.callsMetric?.inc({ appid: this.appid, outcome: 'ok' });
        return result as T;
      } catch (err) {
        if (err instanceof WechatApiError && err.tokenInvalid && token !== undefined && this.tokens && attempt === 0) {
          this.counters.tokenRetries += 1;
          this.emit({ type: 'access-token-rejected', path, errcode: err.errcode });
          await this.tokens.invalidate(token);
          continue;
        }
        this.callsMetric?.inc({ appid: this.appid, outcome: err instanceof WechatApiError ? 'errcode' : err instanceof WechatApiSecurityError ? 'rejected' : 'transport' });
        throw err;
      }
    }
  }

  /** Phone number from the code of a `getPhoneNumber` button (`/wxa/business/getuserphonenumber`). */
  async getPhoneNumber(code: string, options: Omit<CallOptions, 'accessToken'> = {}): Promise<PhoneInfo> {
    if (typeof code !== 'string' || code.length === 0 || code.length > 512) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'code must be 1..512 characters');
    const res = await this.call<{ phone_info?: unknown }>('/wxa/business/getuserphonenumber', { code }, options);
    const info = res.phone_info as Partial<PhoneInfo> | undefined;
    if (!info || typeof info.phoneNumber !== 'string' || typeof info.purePhoneNumber !== 'string' || typeof info.countryCode !== 'string') {
      throw new WechatTransportError('WECHAT_BAD_RESPONSE', 'getuserphonenumber: phone_info missing or malformed');
    }
    const wm = info.watermark;
    if (!wm || wm.appid !== this.appid) throw new WechatTransportError('WECHAT_BAD_RESPONSE', 'getuserphonenumber: watermark.appid differs from this appid');
    return { phoneNumber: info.phoneNumber, purePhoneNumber: info.purePhoneNumber, countryCode: info.countryCode, watermark: { timestamp: Number(wm.timestamp), appid: wm.appid } };
  }

  /** Login: exchanges a `wx.login` code for openid / session_key (`/sns/jscode2session`). */
  async code2Session(jsCode: string, options: { signal?: AbortSignal } = {}): Promise<Code2SessionResult> {
    if (!this.secret) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'code2Session needs the AppSecret (option secret)');
    if (typeof jsCode !== 'string' || jsCode.length === 0 || jsCode.length > 512) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'jsCode must be 1..512 characters');
    const path = '/sns/jscode2session';
    const res = await this.http.request({
      method: 'GET',
      path,
      query: { appid: this.appid, secret: this.secret, js_code: jsCode, grant_type: 'authorization_code' },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const json = parseJsonObject(res, path);
    const err = wechatErrorOf(json, { path });
    if (err) throw err;
    if (typeof json.openid !== 'string' || typeof json.session_key !== 'string') throw new WechatTransportError('WECHAT_BAD_RESPONSE', 'jscode2session: openid or session_key missing');
    return { openid: json.openid, session_key: json.session_key, ...(typeof json.unionid === 'string' ? { unionid: json.unionid } : {}) };
  }

  async close(): Promise<void> {
    if (this.ownsHttp) await this.http.close();
  }

  private emit(event: MpClientEvent): void {
    try {
      this.onEvent?.(event);
    } catch {
      // A failing listener must not turn a good answer into an error.
    }
  }

  private async plainOnce(path: string, body: Record<string, unknown>, token: string | undefined, options: CallOptions): Promise<Record<string, unknown>> {
    const res = await this.http.request({
      method: 'POST',
      path,
      query: { ...options.query, ...(token !== undefined ? { access_token: token } : {}) },
      body: JSON.stringify(body),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const json = parseJsonObject(res, path);
    const err = wechatErrorOf(json, { path });
    if (err) throw err;
    return json;
  }

  private async securedOnce(path: string, params: Record<string, unknown>, token: string | undefined, options: CallOptions): Promise<Record<string, unknown>> {
    const sec = this.security;
    if (!sec) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'API security is not configured');
    const urlPath = this.http.urlOf(path);
    const timestamp = Math.floor(this.now() / 1000);
    const req = buildEncryptedRequest({
      urlPath,
      appid: this.appid,
      timestamp,
      symKey: sec.symKey,
      symSn: sec.symSn,
      params: securedParams(params, options.query, token !== undefined),
      symmetricAlgorithm: sec.symmetric,
    });
    const signature =
      sec.asymmetric === 'SM2withSM3'
        ? signRequestSm2({ urlPath, appid: this.appid, timestamp, body: req.body, privateKey: sec.privateKey, ...(sec.sm2UserId !== undefined ? { userId: sec.sm2UserId } : {}) })
        : signRequest({ urlPath, appid: this.appid, timestamp, body: req.body, privateKey: sec.privateKey });
    const headers = requestHeaders(this.appid, timestamp, signature);
    if (sec.sendRequestSerial) headers['Wechatmp-Serial'] = sec.privateKeySn;
    // Only access_token stays in the URL; every other URL parameter is inside the encrypted data.
    const accessToken = token ?? options.query?.access_token;
    const res = await this.http.request({
      method: 'POST',
      path,
      query: accessToken !== undefined ? { access_token: accessToken } : {},
      headers,
      body: req.body,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    try {
      return this.openSecuredResponse(path, urlPath, res, sec);
    } catch (err) {
      if (err instanceof WechatApiSecurityError) {
        this.counters.rejectedResponses += 1;
        this.emit({ type: 'response-rejected', path, code: err.code });
      }
      throw err;
    }
  }

  private openSecuredResponse(path: string, urlPath: string, res: WechatHttpResponse, sec: SecurityState): Record<string, unknown> {
    if (headerValue(res.headers, 'wechatmp-signature') === undefined) {
      // WeChat answers scheme failures (40230–40240 …) as plain, unsigned JSON. Such a body is
      // believed only as an error; an unsigned success would be a downgrade, so it is refused.
      const json = parseJsonObject(res, path);
      const err = wechatErrorOf(json, { authenticated: false, path });
      if (err) throw err;
      throw new WechatApiSecurityError('WXMP_MISSING_HEADER', `${path}: unsigned response refused (Wechatmp-Signature missing)`);
    }
    const verified = verifyResponseSignature({
      urlPath,
      appid: this.appid,
      headers: res.headers,
      body: res.body,
      certificates: sec.certificates,
      asymmetricAlgorithm: sec.asymmetric,
      ...(sec.sm2UserId !== undefined ? { sm2UserId: sec.sm2UserId } : {}),
    });
    if (verified.deprecated) {
      const currentSerial = headerValue(res.headers, 'wechatmp-serial') ?? '';
      this.counters.deprecatedCertificateResponses += 1;
      this.deprecatedMetric?.inc({ appid: this.appid, serial: verified.serial });
      this.logger?.warn(
        { appid: this.appid, deprecatedSerial: verified.serial, currentSerial, path },
        'WeChat platform certificate rotation: response verified with the deprecated certificate; download the new one from the console',
      );
      this.emit({ type: 'platform-certificate-deprecated', path, deprecatedSerial: verified.serial, currentSerial });
    }
    const ts = responseTimestamp(res.headers);
    const nowS = Math.floor(this.now() / 1000);
    if (Math.abs(nowS - ts) > sec.maxSkew) throw new WechatApiSecurityError('WXMP_TIMESTAMP_EXPIRED', `${path}: response timestamp ${ts} is outside ±${sec.maxSkew}s`);
    const json = parseJsonObject(res, path);
    if (typeof json.iv === 'string' && typeof json.data === 'string' && typeof json.authtag === 'string') {
      const { data } = decryptResponse({
        urlPath,
        appid: this.appid,
        timestamp: ts,
        symKey: sec.symKey,
        symSn: sec.symSn,
        body: res.body,
        nowSeconds: nowS,
        maxSkewSeconds: sec.maxSkew,
        symmetricAlgorithm: sec.symmetric,
      });
      const err = wechatErrorOf(data, { authenticated: true, path });
      if (err) throw err;
      return data;
    }
    // A signed but unencrypted body: only errors come this way.
    const err = wechatErrorOf(json, { authenticated: true, path });
    if (err) throw err;
    throw new WechatApiSecurityError('WXMP_MALFORMED_ENVELOPE', `${path}: signed response is neither encrypted nor an error`);
  }
}

/**
 * The fields of a secured request: POST parameters and URL parameters (without access_token)
 * together. A name in both, or an access_token beside the one the client adds, is refused rather
 * than silently dropped.
 */
function securedParams(body: Record<string, unknown>, query: Record<string, string> | undefined, clientAddsToken: boolean): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'body must be an object');
  const out: Record<string, unknown> = { ...body };
  for (const [name, value] of Object.entries(query ?? {})) {
    if (name === 'access_token') {
      if (clientAddsToken) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', 'query.access_token: the client adds the access token itself');
      continue; // sent in the URL (accessToken: false and a token of the caller's own)
    }
    if (Object.prototype.hasOwnProperty.call(body, name)) throw new WechatApiSecurityError('WXMP_INVALID_ARGUMENT', `parameter ${name} given both in query and in the body`);
    out[name] = value;
  }
  return out;
}

export function createMpClient(options: MpClientOptions): MpClient {
  return new MpClient(options);
}
