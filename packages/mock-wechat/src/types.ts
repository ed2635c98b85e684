// The MockWechat handle and its options: what startMockWechat returns and takes. Kept apart from the
// server so that the control API (control.ts) and the CLI state (state.ts) can name the handle
// without importing the server that imports them.
import type { MpPlatformKey } from './certs.js';
import type { FaultControl } from './faults.js';
import type { JsCodeFixture, MockAppConfig, PhoneFixture } from './mp/apps.js';
import type { MpSm2PlatformKey } from './mp/platform.js';
import type { ApiHandler } from './mp/routes.js';
import type { PayGuide } from './pay/guides.js';
import type { PayPlatformCertificate, PayPublicKeyMaterial, RotationSigning } from './pay/keys.js';
import type { MockPayMerchantConfig } from './pay/merchants.js';
import type { PayNotifyOptions, PayNotifyResult, PayNotifyTamper } from './pay/side.js';
import type { RefundStatus } from './pay/store.js';
import type { MockStats } from './stats.js';
import type { AppTokenStats, TokenKind } from './token/store.js';

export interface MockWechatLogEntry {
  method: string;
  /** URL path only: queries carry secrets (secret, access_token, js_code) and are never logged. */
  path: string;
  status: number;
  errcode?: number;
  /** Fault applied, if any. */
  fault?: string;
  /**
   * Names (never values) of URL parameters besides access_token that a secured call sent in the
   * clear. WeChat reads a secured call's parameters only from the encrypted data, so the mock
   * ignores these, like WeChat: the handler never sees them.
   */
  ignoredUrlParameters?: string[];
  ms: number;
}

export interface MockWechatOptions {
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Listen port; 0 (default) picks a free one. */
  port?: number;
  apps?: MockAppConfig[];
  /** The platform key responses are signed with; generated (RSA-2048, self-signed) when absent. */
  platformKey?: MpPlatformKey;
  /** The SM2 platform key answers to SM2withSM3 apps are signed with; generated (self-signed SM2 certificate) when absent. */
  sm2PlatformKey?: MpSm2PlatformKey;
  /** access_token lifetime; default 7200 s. */
  tokenTtlSeconds?: number;
  /** /cgi-bin/token: validity of the previous token after a new fetch; default 300 s. */
  previousTokenGraceSeconds?: number;
  /** /cgi-bin/stable_token: normal-mode renewal window before expiry; default 300 s. */
  stableRenewWindowSeconds?: number;
  /** stable_token force_refresh: minimum interval between refreshes; default 30 s. */
  forceRefreshMinIntervalSeconds?: number;
  /** stable_token force_refresh: refreshes per day before 45009; default 20. */
  forceRefreshDailyLimit?: number;
  /** Accepted |now − Wechatmp-TimeStamp|; default 300 s. */
  timestampWindowSeconds?: number;
  /**
   * Scheme and host the client computes urlpath with (AAD and signatures), e.g.
   * `https://api.weixin.qq.com`; default `http://<Host header>`.
   */
  publicBaseUrl?: string;
  /** Clock in Unix milliseconds; default Date.now. Token lifetimes, timestamps and watermarks use it. */
  clock?: () => number;
  /** Largest accepted request body; default 256 KiB. */
  maxBodyBytes?: number;
  /** Serve the /__mock/ control API; default true. */
  controlApi?: boolean;
  /** When set, the control API requires `Authorization: Bearer <controlToken>`. */
  controlToken?: string;
  /** Extra API routes (path → handler) under /wxa/ or /cgi-bin/; they replace built-ins of the same path. */
  routes?: Record<string, ApiHandler>;
  /** One call per answered request (never with secrets). */
  logger?: (entry: MockWechatLogEntry) => void;
  /** WeChat Pay merchants (see createMockPayMerchant); the Pay side's keys are generated at start when given. */
  payMerchants?: MockPayMerchantConfig[];
  /** The first Pay platform certificate (with its private key); generated when absent. */
  payPlatformCertificate?: PayPlatformCertificate;
  /** The WeChat Pay public key (public key mode); generated when absent. */
  payPublicKey?: PayPublicKeyMaterial;
}

/** Options of simulatePayment / completePayRefund. */
export interface PaySimulationOptions {
  mchid?: string;
  /** Send the callback (default true) to the order's / refund's notify_url (or `url`). */
  notify?: boolean;
  url?: string;
  tamper?: PayNotifyTamper;
  signWith?: 'certificate' | 'public-key';
  retryDelaysMs?: number[];
}

/** Handle on a running mock. */
export interface MockWechat {
  /** `http://host:port`, no trailing slash. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** False between down() and up(). */
  readonly isUp: boolean;
  /** Stops for good (closes open connections). */
  close(): Promise<void>;
  /** Simulates an outage: the listener closes and open connections are destroyed; state is kept. */
  down(): Promise<void>;
  /** Ends an outage: listens again on the same port. */
  up(): Promise<void>;
  /** down(), then up() after `ms` (not awaited; returns at once after down()). */
  outage(ms: number): Promise<void>;

  /** Console number → certificate PEM: the current one and, during a rotation, the deprecated one. */
  platformCertificates(): Record<string, string>;
  /** Console number of the current platform certificate (sent as Wechatmp-Serial). */
  platformSerial(): string;
  /** Console number → SM2 platform certificate PEM, for apps configured with SM2withSM3: the current one and, during a rotation, the deprecated one. */
  sm2PlatformCertificates(): Record<string, string>;
  /** Console number of the current SM2 platform key (Wechatmp-Serial of SM2withSM3 answers). */
  sm2PlatformSerial(): string;
  /** Console number of the certificate being retired, during a rotation. */
  deprecatedPlatformSerial(): string | undefined;
  /** Console number of the SM2 platform key being retired, during a rotation. */
  deprecatedSm2PlatformSerial(): string | undefined;
  /**
   * Starts a rotation of the platform keys, RSA and SM2 together (`options.sm2` or a fresh SM2 key);
   * returns the new RSA console number (`sm2PlatformSerial()` gives the SM2 one). Responses then carry
   * both signatures: the new key's and the deprecated one's (Wechatmp-Serial-Deprecated / -Signature-Deprecated).
   */
  rotatePlatformKey(next?: MpPlatformKey, options?: { sm2?: MpSm2PlatformKey }): Promise<string>;
  /** Ends the rotation: only the new keys sign. */
  finishRotation(): void;

  addApp(config: MockAppConfig): void;
  addJsCode(appid: string, code: string, fixture: JsCodeFixture): void;
  addPhoneCode(appid: string, code: string, fixture: PhoneFixture): void;
  /** Adds or replaces an API route under /wxa/ or /cgi-bin/. */
  route(path: string, handler: ApiHandler): void;

  /** Every token of `appid` answers 40001 from now on; returns how many were valid. */
  invalidateTokens(appid: string): number;
  /** Successful token fetches (classic + stable, or one kind). */
  tokenFetchCount(appid: string, kind?: TokenKind): number;
  tokenStats(appid: string): AppTokenStats;
  /** The currently valid token of a kind (default stable), if any. */
  currentToken(appid: string, kind?: TokenKind): string | undefined;
  /** Resets the daily force_refresh quota of `appid`. */
  resetForceRefreshQuota(appid: string): void;

  // ---- WeChat Pay API v3 (/v3/ paths) ----
  /** Registers (or replaces) a Pay merchant; generates the Pay side's keys on first use. */
  addPayMerchant(config: MockPayMerchantConfig): Promise<void>;
  /** mchids of the Pay merchants. */
  payMerchants(): string[];
  /** Serial → PEM of the listed platform certificates (oldest first); `{}` for a public-key-only merchant. */
  payPlatformCertificates(mchid?: string): Record<string, string>;
  /** Serial of the newest platform certificate. */
  payPlatformSerial(): string;
  /** The WeChat Pay public key: id `PUB_KEY_ID_…` and SPKI PEM. */
  payPublicKey(): { id: string; pem: string };
  /**
   * Lists a new platform certificate next to the current one; answers and callbacks are then signed
   * with the new one (`signWith: 'old'` keeps the old one signing, `'alternate'` alternates). Returns its serial.
   */
  rotatePayPlatformCertificate(options?: { next?: PayPlatformCertificate; signWith?: RotationSigning }): Promise<string>;
  /** Removes all but the newest platform certificate from /v3/certificates; returns the serials removed. */
  withdrawOldPayPlatformCertificate(): string[];
  /** 国密: serial → PEM of the listed SM platform certificates (/v3/certificates?algorithm_type=SM2), oldest first. */
  paySmPlatformCertificates(): Record<string, string>;
  /** 国密: lists a new SM platform certificate (SM2) and signs SM merchants' answers with it (see rotatePayPlatformCertificate). */
  rotatePaySmPlatformCertificate(options?: { next?: PayPlatformCertificate; signWith?: RotationSigning }): Promise<string>;
  /** 国密: removes all but the newest SM platform certificate; returns the serials removed. */
  withdrawOldPaySmPlatformCertificate(): string[];
  /** POSTs a signed, encrypted callback (TRANSACTION.SUCCESS / REFUND.*) and reports the answer. */
  payNotify(options: PayNotifyOptions): Promise<PayNotifyResult>;
  /** Marks an order paid (SUCCESS) and, unless `notify: false`, sends TRANSACTION.SUCCESS to its notify_url. */
  simulatePayment(outTradeNo: string, options?: PaySimulationOptions): Promise<PayNotifyResult | undefined>;
  /** Ends a PROCESSING refund (SUCCESS unless told) and, when it has a notify_url (or `url`), sends REFUND.<status>. */
  completePayRefund(outRefundNo: string, options?: PaySimulationOptions & { status?: Exclude<RefundStatus, 'PROCESSING'> }): Promise<PayNotifyResult | undefined>;
  /** The order as the query API shows it, or undefined. */
  payOrder(outTradeNo: string, mchid?: string): Record<string, unknown> | undefined;
  /** The refund as the query API shows it, or undefined. */
  payRefund(outRefundNo: string, mchid?: string): Record<string, unknown> | undefined;
  /** The 服务人员 registered through POST /v3/smartguide/guides, with name and mobile as the mock decrypted them. */
  payGuides(mchid: string): PayGuide[];

  readonly faults: FaultControl;
  /** A snapshot of the counters. */
  readonly stats: MockStats;
  resetStats(): void;
}
