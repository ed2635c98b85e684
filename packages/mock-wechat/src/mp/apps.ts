// Mini Program apps known to the mock: credentials, API security settings (what the MP console
// holds) and single-use login / phone-number codes.
import { X509Certificate, createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { wxFail } from '../errcodes.js';
import { sm2PublicHexOf } from './sm2.js';

/** The console's symmetric algorithm (API 安全 → 对称密钥). */
export type MockSymmetricAlgorithm = 'AES256_GCM' | 'SM4_GCM';
/** The console's signature algorithm (API 安全 → 非对称密钥). */
export type MockAsymmetricAlgorithm = 'RSAwithSHA256' | 'SM2withSM3';

/**
 * - `off`: Wechatmp-* headers are ignored; bodies are plain JSON.
 * - `optional`: a request carrying any Wechatmp-* header is checked (and answered sealed); others are plain.
 * - `required`: every API call must be signed and encrypted.
 */
export type ApiSecurityMode = 'off' | 'optional' | 'required';

export interface MockApiSecurityConfig {
  mode: ApiSecurityMode;
  /** AES256_GCM (default) or SM4_GCM, as chosen in the console. */
  symmetricAlgorithm?: MockSymmetricAlgorithm;
  /** RSAwithSHA256 (default) or SM2withSM3, as chosen in the console. */
  asymmetricAlgorithm?: MockAsymmetricAlgorithm;
  /** SM2 distinguishing ID of SM2withSM3 signatures, both directions; default 1234567812345678. */
  sm2UserId?: string;
  /** The symmetric key, base64 of 32 bytes (AES256_GCM) or 16 bytes (SM4_GCM), as the console shows it; absent → 40238. */
  symKey?: string;
  /** The symmetric key's number (SN) used in the AAD. Required with symKey. */
  symSn?: string;
  /** The app's public key: RSA (SPKI PEM or certificate PEM), or SM2 (SPKI PEM, certificate PEM or 04‖x‖y hex); absent → 40239. */
  publicKeyPem?: string;
  /** The public key's number (SN); checked against a request Wechatmp-Serial when one is sent. */
  publicKeySn?: string;
  /** Whether a request must carry Wechatmp-Serial (= publicKeySn); missing → 40230. Default false. */
  requireRequestSerial?: boolean;
}

export interface JsCodeFixture {
  openid: string;
  unionid?: string;
  session_key: string;
}

export interface PhoneFixture {
  /** With the country code for numbers outside mainland China, as WeChat does. */
  phoneNumber: string;
  /** Without country code; defaults to phoneNumber. */
  purePhoneNumber?: string;
  /** Default "86". */
  countryCode?: string;
}

export interface MockAppConfig {
  appid: string;
  /** AppSecret (32 hex characters on WeChat; any 1..128 printable characters accepted here). */
  secret: string;
  apiSecurity?: MockApiSecurityConfig;
  /** wx.login codes → session; each usable once (40163 on reuse); unknown → 40029. */
  jsCodes?: Record<string, JsCodeFixture>;
  /** getPhoneNumber codes → phone info; single-use like jsCodes. */
  phoneCodes?: Record<string, PhoneFixture>;
  /**
   * Development convenience: an unknown code is accepted once and answered with a session
   * (openid derived from the code) or a phone number derived from the code. Default false.
   */
  acceptAnyCode?: boolean;
}

/** An app as the mock holds it, with parsed keys. */
export interface AppEntry {
  readonly config: MockAppConfig;
  readonly mode: ApiSecurityMode;
  readonly symKey: Buffer | undefined;
  readonly symSn: string | undefined;
  readonly publicKey: KeyObject | undefined;
  readonly publicKeySn: string | undefined;
  readonly requireRequestSerial: boolean;
  readonly symmetric: MockSymmetricAlgorithm;
  readonly asymmetric: MockAsymmetricAlgorithm;
  /** The app's SM2 public point (hex) under SM2withSM3 (publicKey is then undefined). */
  readonly sm2PublicKeyHex: string | undefined;
  readonly sm2UserId: string;
}

const APPID = /^[A-Za-z0-9_-]{1,64}$/;
const SECRET = /^[\x21-\x7e]{1,128}$/;
const SN = /^[\x21-\x7b\x7d\x7e]{1,128}$/; // printable, no '|'
const CODE = /^[\x21-\x7e]{1,256}$/;
const MAX_USED_CODES = 100_000;
const MAX_CODES_PER_APP = 100_000;

function strictBase64(value: string): Buffer | undefined {
  if (typeof value !== 'string' || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return undefined;
  return Buffer.from(value, 'base64');
}

function parsePublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = pem.includes('BEGIN CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
  } catch {
    throw new TypeError('apiSecurity.publicKeyPem is not a readable public key or certificate');
  }
  if (key.asymmetricKeyType !== 'rsa') throw new TypeError('apiSecurity.publicKeyPem must be an RSA key (RSAwithSHA256)');
  return key;
}

/** Validates an app config and parses its keys. */
export function toAppEntry(config: MockAppConfig): AppEntry {
  if (typeof config !== 'object' || config === null) throw new TypeError('app config must be an object');
  if (typeof config.appid !== 'string' || !APPID.test(config.appid)) throw new TypeError('appid must be 1..64 characters of [A-Za-z0-9_-]');
  if (typeof config.secret !== 'string' || !SECRET.test(config.secret)) throw new TypeError(`secret of ${config.appid} must be 1..128 printable ASCII characters`);
  const sec = config.apiSecurity ?? { mode: 'off' as const };
  if (!['off', 'optional', 'required'].includes(sec.mode)) throw new TypeError('apiSecurity.mode must be off, optional or required');
  const symmetric = sec.symmetricAlgorithm ?? 'AES256_GCM';
  const asymmetric = sec.asymmetricAlgorithm ?? 'RSAwithSHA256';
  if (symmetric !== 'AES256_GCM' && symmetric !== 'SM4_GCM') throw new TypeError('apiSecurity.symmetricAlgorithm must be AES256_GCM or SM4_GCM');
  if (asymmetric !== 'RSAwithSHA256' && asymmetric !== 'SM2withSM3') throw new TypeError('apiSecurity.asymmetricAlgorithm must be RSAwithSHA256 or SM2withSM3');
  if (sec.sm2UserId !== undefined && (typeof sec.sm2UserId !== 'string' || sec.sm2UserId.length === 0 || sec.sm2UserId.length > 1024)) throw new TypeError('apiSecurity.sm2UserId must be 1..1024 characters');
  const keyBytes = symmetric === 'SM4_GCM' ? 16 : 32;
  let symKey: Buffer | undefined;
  if (sec.symKey !== undefined) {
    symKey = strictBase64(sec.symKey);
    if (!symKey || symKey.length !== keyBytes) throw new TypeError(`apiSecurity.symKey must be base64 of exactly ${keyBytes} bytes (${symmetric})`);
    if (typeof sec.symSn !== 'string' || !SN.test(sec.symSn)) throw new TypeError('apiSecurity.symSn is required with symKey (printable, no "|")');
  }
  const sm2 = asymmetric === 'SM2withSM3';
  const publicKey = sec.publicKeyPem === undefined || sm2 ? undefined : parsePublicKey(sec.publicKeyPem);
  const sm2PublicKeyHex = sec.publicKeyPem === undefined || !sm2 ? undefined : sm2PublicHexOf(sec.publicKeyPem);
  if (sec.publicKeySn !== undefined && (typeof sec.publicKeySn !== 'string' || !SN.test(sec.publicKeySn))) throw new TypeError('apiSecurity.publicKeySn must be printable');
  for (const [code, f] of Object.entries(config.jsCodes ?? {})) checkJsFixture(code, f);
  for (const [code, f] of Object.entries(config.phoneCodes ?? {})) checkPhoneFixture(code, f);
  return {
    config,
    mode: sec.mode,
    symKey,
    symSn: symKey ? sec.symSn : undefined,
    publicKey,
    publicKeySn: sec.publicKeySn,
    requireRequestSerial: sec.requireRequestSerial === true,
    symmetric,
    asymmetric,
    sm2PublicKeyHex,
    sm2UserId: sec.sm2UserId ?? '1234567812345678',
  };
}

function checkJsFixture(code: string, f: JsCodeFixture): void {
  if (!CODE.test(code)) throw new TypeError('js_code must be 1..256 printable ASCII characters');
  if (typeof f !== 'object' || f === null || typeof f.openid !== 'string' || f.openid.length === 0 || typeof f.session_key !== 'string') {
    throw new TypeError(`js_code fixture ${code} needs openid and session_key`);
  }
  if (f.unionid !== undefined && typeof f.unionid !== 'string') throw new TypeError('unionid must be a string');
}

function checkPhoneFixture(code: string, f: PhoneFixture): void {
  if (!CODE.test(code)) throw new TypeError('phone code must be 1..256 printable ASCII characters');
  if (typeof f !== 'object' || f === null || typeof f.phoneNumber !== 'string' || !/^\+?[0-9]{3,20}$/.test(f.phoneNumber)) {
    throw new TypeError(`phone code fixture ${code} needs a numeric phoneNumber`);
  }
}

interface CodeBook<T> {
  pending: Map<string, T>;
  used: Set<string>;
}

function book<T>(initial: Record<string, T> | undefined): CodeBook<T> {
  return { pending: new Map(Object.entries(initial ?? {})), used: new Set() };
}

/** Holds the apps and their single-use codes. */
export class AppRegistry {
  readonly #apps = new Map<string, AppEntry>();
  readonly #js = new Map<string, CodeBook<JsCodeFixture>>();
  readonly #phone = new Map<string, CodeBook<PhoneFixture>>();

  add(config: MockAppConfig): AppEntry {
    const entry = toAppEntry(config);
    this.#apps.set(entry.config.appid, entry);
    this.#js.set(entry.config.appid, book(config.jsCodes));
    this.#phone.set(entry.config.appid, book(config.phoneCodes));
    return entry;
  }

  get(appid: string): AppEntry | undefined {
    return typeof appid === 'string' ? this.#apps.get(appid) : undefined;
  }

  appids(): string[] {
    return [...this.#apps.keys()];
  }

  #require(appid: string): AppEntry {
    const app = this.get(appid);
    if (!app) throw new TypeError(`unknown appid ${appid}`);
    return app;
  }

  addJsCode(appid: string, code: string, fixture: JsCodeFixture): void {
    this.#require(appid);
    checkJsFixture(code, fixture);
    const b = this.#js.get(appid)!;
    if (b.pending.size >= MAX_CODES_PER_APP) throw new RangeError('too many pending codes');
    b.used.delete(code);
    b.pending.set(code, { ...fixture });
  }

  addPhoneCode(appid: string, code: string, fixture: PhoneFixture): void {
    this.#require(appid);
    checkPhoneFixture(code, fixture);
    const b = this.#phone.get(appid)!;
    if (b.pending.size >= MAX_CODES_PER_APP) throw new RangeError('too many pending codes');
    b.used.delete(code);
    b.pending.set(code, { ...fixture });
  }

  static #take<T>(app: AppEntry, b: CodeBook<T>, code: string, derive: () => T): T {
    if (b.used.has(code)) wxFail(40163);
    let f = b.pending.get(code);
    if (f === undefined) {
      if (app.config.acceptAnyCode !== true || !CODE.test(code)) wxFail(40029);
      f = derive();
    }
    b.pending.delete(code);
    b.used.add(code);
    if (b.used.size > MAX_USED_CODES) {
      const oldest = b.used.values().next().value;
      if (oldest !== undefined) b.used.delete(oldest);
    }
    return f;
  }

  /** Consumes a js_code: the session, or 40029 (unknown) / 40163 (already used). */
  consumeJsCode(appid: string, code: string): JsCodeFixture {
    const app = this.#require(appid);
    return AppRegistry.#take(app, this.#js.get(appid)!, code, () => {
      const h = createHash('sha256').update(`${appid}|openid|${code}`).digest('base64url');
      return { openid: `o${h.slice(0, 27)}`, session_key: randomBytes(16).toString('base64') };
    });
  }

  /** Consumes a phone code: the phone info, or 40029 / 40163. */
  consumePhoneCode(appid: string, code: string): Required<PhoneFixture> {
    const app = this.#require(appid);
    const f = AppRegistry.#take<PhoneFixture>(app, this.#phone.get(appid)!, code, () => {
      const n = createHash('sha256').update(`${appid}|phone|${code}`).digest().readUInt32BE(0) % 100_000_000;
      return { phoneNumber: `138${String(n).padStart(8, '0')}` };
    });
    return { phoneNumber: f.phoneNumber, purePhoneNumber: f.purePhoneNumber ?? f.phoneNumber, countryCode: f.countryCode ?? '86' };
  }
}
