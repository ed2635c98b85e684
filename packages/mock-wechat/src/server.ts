// The HTTP server: routing, limits, fault injection, outage simulation, and the MockWechat handle.
// Layout: src/token/ (access_token), src/mp/ (Mini Program endpoints and API security), src/faults.ts,
// src/certs.ts (reusable for WeChat Pay platform certificates), src/control.ts (/__mock/ API).
// src/pay/ is the WeChat Pay API v3 side (every /v3/ path).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateMpPlatformKey, type MpPlatformKey } from './certs.js';
import { handleControl } from './control.js';
import { MockWechatError, errorBody } from './errcodes.js';
import { FaultRegistry, type FaultControl } from './faults.js';
import { BodyTooLargeError, readBody, sendJson, sendText } from './http-util.js';
import { AppRegistry, type AppEntry, type JsCodeFixture, type MockAppConfig, type PhoneFixture } from './mp/apps.js';
import { PlatformKeyRing } from './mp/platform.js';
import { BUILTIN_API_ROUTES, echo, jscode2session, type ApiHandler } from './mp/routes.js';
import { hasSecurityHeaders, openSecuredRequest, sealResponse } from './mp/security.js';
import { StatsCounter, type MockStats } from './stats.js';
import { classicToken, stableToken } from './token/routes.js';
import { codeForStatus } from './pay/errors.js';
import { PayKeyRing, generatePayPlatformCertificate, generatePayPublicKey, type PayPlatformCertificate, type PayPublicKeyMaterial, type RotationSigning } from './pay/keys.js';
import type { MockPayMerchantConfig } from './pay/merchants.js';
import { PaySide, type PayAnswer, type PayNotifyOptions, type PayNotifyResult, type PayNotifyTamper } from './pay/side.js';
import { refundView, transactionView, type RefundStatus } from './pay/store.js';
import { TokenStore, type AppTokenStats, type TokenKind } from './token/store.js';

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
  /** Console number of the certificate being retired, during a rotation. */
  deprecatedPlatformSerial(): string | undefined;
  /** Starts a rotation; returns the new console number. Responses then carry both signatures. */
  rotatePlatformKey(next?: MpPlatformKey): Promise<string>;
  /** Ends the rotation: only the new key signs. */
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

  readonly faults: FaultControl;
  /** A snapshot of the counters. */
  readonly stats: MockStats;
  resetStats(): void;
}

const DEFAULT_MAX_BODY = 256 * 1024;
const HOST_HEADER = /^[A-Za-z0-9.\-:[\]]{1,255}$/;

function normaliseBaseUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new TypeError('publicBaseUrl must be an absolute http(s) URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError('publicBaseUrl must be http(s)');
  if (u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) throw new TypeError('publicBaseUrl must be scheme://host[:port] only');
  return `${u.protocol}//${u.host}`;
}

class MockWechatServer implements MockWechat {
  readonly faults = new FaultRegistry();
  readonly #apps = new AppRegistry();
  readonly #tokens: TokenStore;
  readonly #platform: PlatformKeyRing;
  readonly #stats = new StatsCounter();
  readonly #routes = new Map<string, ApiHandler>(BUILTIN_API_ROUTES);
  readonly #opts: MockWechatOptions;
  readonly #clock: () => number;
  readonly #publicBase: string | undefined;
  readonly #maxBody: number;
  readonly #window: number;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #host: string;
  #port: number;
  #closed = false;
  #lifetime = new AbortController();
  #outageTimer: NodeJS.Timeout | undefined;
  #pay: PaySide | undefined;
  #payInit: Promise<PaySide> | undefined;

  constructor(opts: MockWechatOptions, platformKey: MpPlatformKey) {
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
    this.#host = opts.host ?? '127.0.0.1';
    this.#port = opts.port ?? 0;
    if (!Number.isInteger(this.#port) || this.#port < 0 || this.#port > 65535) throw new RangeError('port must be 0..65535');
    this.#publicBase = opts.publicBaseUrl === undefined ? undefined : normaliseBaseUrl(opts.publicBaseUrl);
    this.#maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
    if (!Number.isInteger(this.#maxBody) || this.#maxBody < 1024 || this.#maxBody > 64 * 1024 * 1024) throw new RangeError('maxBodyBytes must be 1 KiB..64 MiB');
    this.#window = opts.timestampWindowSeconds ?? 300;
    if (!Number.isFinite(this.#window) || this.#window < 0) throw new RangeError('timestampWindowSeconds must be ≥ 0');
    if (opts.controlToken !== undefined && (typeof opts.controlToken !== 'string' || opts.controlToken.length < 8)) throw new TypeError('controlToken must be at least 8 characters');
    this.#tokens = new TokenStore(this.#clock, {
      ...(opts.tokenTtlSeconds !== undefined ? { ttlSeconds: opts.tokenTtlSeconds } : {}),
      ...(opts.previousTokenGraceSeconds !== undefined ? { previousTokenGraceSeconds: opts.previousTokenGraceSeconds } : {}),
      ...(opts.stableRenewWindowSeconds !== undefined ? { stableRenewWindowSeconds: opts.stableRenewWindowSeconds } : {}),
      ...(opts.forceRefreshMinIntervalSeconds !== undefined ? { forceRefreshMinIntervalSeconds: opts.forceRefreshMinIntervalSeconds } : {}),
      ...(opts.forceRefreshDailyLimit !== undefined ? { forceRefreshDailyLimit: opts.forceRefreshDailyLimit } : {}),
    });
    this.#platform = new PlatformKeyRing(platformKey);
    for (const app of opts.apps ?? []) this.#apps.add(app);
    for (const [path, handler] of Object.entries(opts.routes ?? {})) this.route(path, handler);
  }

  // ---- lifecycle -------------------------------------------------------------------------

  get url(): string {
    const h = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    return `http://${h}:${this.#port}`;
  }
  get host(): string {
    return this.#host;
  }
  get port(): number {
    return this.#port;
  }
  get isUp(): boolean {
    return this.#server !== undefined;
  }

  async listen(): Promise<void> {
    if (this.#closed) throw new Error('mock-wechat is closed');
    if (this.#server) return;
    const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000, headersTimeout: 15_000, keepAliveTimeout: 5_000 }, (req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) sendJson(res, 500, errorBody(-1));
        else res.destroy();
      });
    });
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, this.#host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async #stopListening(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await closed;
  }

  async down(): Promise<void> {
    if (this.#outageTimer) clearTimeout(this.#outageTimer);
    this.#outageTimer = undefined;
    // Requests parked in an injected latency die with the outage.
    this.#lifetime.abort();
    this.#lifetime = new AbortController();
    await this.#stopListening();
  }

  async up(): Promise<void> {
    if (this.#outageTimer) clearTimeout(this.#outageTimer);
    this.#outageTimer = undefined;
    await this.listen();
  }

  async outage(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0 || ms > 3_600_000) throw new RangeError('outage duration must be 0..3600000 ms');
    await this.down();
    this.#outageTimer = setTimeout(() => {
      this.#outageTimer = undefined;
      if (!this.#closed) this.listen().catch(() => undefined);
    }, ms);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.down();
  }

  // ---- platform keys, apps, tokens ---------------------------------------------------------

  platformCertificates(): Record<string, string> {
    return this.#platform.certificates();
  }
  platformSerial(): string {
    return this.#platform.current.spec.consoleNumber;
  }
  deprecatedPlatformSerial(): string | undefined {
    return this.#platform.deprecated?.spec.consoleNumber;
  }
  rotatePlatformKey(next?: MpPlatformKey): Promise<string> {
    return this.#platform.rotate(next);
  }
  finishRotation(): void {
    this.#platform.finishRotation();
  }

  addApp(config: MockAppConfig): void {
    this.#apps.add(config);
  }
  addJsCode(appid: string, code: string, fixture: JsCodeFixture): void {
    this.#apps.addJsCode(appid, code, fixture);
  }
  addPhoneCode(appid: string, code: string, fixture: PhoneFixture): void {
    this.#apps.addPhoneCode(appid, code, fixture);
  }
  route(path: string, handler: ApiHandler): void {
    if (typeof path !== 'string' || !/^\/(wxa|cgi-bin)\/[\x21-\x7e]{1,500}$/.test(path) || path.includes('?')) throw new TypeError('route path must start with /wxa/ or /cgi-bin/');
    if (path === '/cgi-bin/token' || path === '/cgi-bin/stable_token') throw new TypeError(`${path} cannot be replaced`);
    if (typeof handler !== 'function') throw new TypeError('route handler must be a function');
    this.#routes.set(path, handler);
  }

  invalidateTokens(appid: string): number {
    return this.#tokens.invalidate(appid);
  }
  tokenFetchCount(appid: string, kind?: TokenKind): number {
    const s = this.#tokens.stats(appid);
    if (kind === 'classic') return s.classicFetches;
    if (kind === 'stable') return s.stableFetches;
    return s.classicFetches + s.stableFetches;
  }
  tokenStats(appid: string): AppTokenStats {
    return this.#tokens.stats(appid);
  }
  currentToken(appid: string, kind: TokenKind = 'stable'): string | undefined {
    return this.#tokens.current(appid, kind);
  }
  resetForceRefreshQuota(appid: string): void {
    this.#tokens.resetForceRefreshQuota(appid);
  }

  // ---- WeChat Pay -----------------------------------------------------------------------------

  /** Creates the Pay side (platform certificate + public key) once. */
  ensurePay(): Promise<PaySide> {
    if (this.#pay) return Promise.resolve(this.#pay);
    this.#payInit ??= (async () => {
      const nowMs = this.#clock();
      const [cert, publicKey] = await Promise.all([
        this.#opts.payPlatformCertificate ?? generatePayPlatformCertificate({ nowMs }),
        this.#opts.payPublicKey ?? generatePayPublicKey(),
      ]);
      this.#pay = new PaySide(new PayKeyRing(cert, publicKey), this.#clock, this.#window);
      return this.#pay;
    })();
    this.#payInit.catch(() => {
      this.#payInit = undefined;
    });
    return this.#payInit;
  }

  #paySide(): PaySide {
    if (!this.#pay) throw new Error('the WeChat Pay side is not set up: pass payMerchants or call addPayMerchant() first');
    return this.#pay;
  }

  async addPayMerchant(config: MockPayMerchantConfig): Promise<void> {
    (await this.ensurePay()).merchants.add(config);
  }
  payMerchants(): string[] {
    return this.#pay?.merchants.mchids() ?? [];
  }
  payPlatformCertificates(mchid?: string): Record<string, string> {
    const pay = this.#paySide();
    if (mchid !== undefined) {
      const m = pay.merchants.get(mchid);
      if (!m) throw new Error(`unknown pay merchant ${mchid}`);
      if (m.mode === 'public-key') return {};
    }
    return pay.keys.certificates();
  }
  payPlatformSerial(): string {
    return this.#paySide().keys.newestSerial;
  }
  payPublicKey(): { id: string; pem: string } {
    const k = this.#paySide().keys.publicKey;
    return { id: k.id, pem: k.publicKeyPem };
  }
  async rotatePayPlatformCertificate(options: { next?: PayPlatformCertificate; signWith?: RotationSigning } = {}): Promise<string> {
    return (await this.ensurePay()).rotate(options);
  }
  withdrawOldPayPlatformCertificate(): string[] {
    return this.#paySide().keys.withdrawOld();
  }
  async payNotify(options: PayNotifyOptions): Promise<PayNotifyResult> {
    return this.#paySide().notify(options);
  }
  async simulatePayment(outTradeNo: string, options: PaySimulationOptions = {}): Promise<PayNotifyResult | undefined> {
    const pay = this.#paySide();
    const order = pay.findOrder(outTradeNo, options.mchid);
    pay.store.pay(order);
    if (options.notify === false) return undefined;
    return pay.notify({ ...notifyExtras(options), mchid: order.mchid, event: 'TRANSACTION.SUCCESS', out_trade_no: order.out_trade_no });
  }
  async completePayRefund(outRefundNo: string, options: PaySimulationOptions & { status?: Exclude<RefundStatus, 'PROCESSING'> } = {}): Promise<PayNotifyResult | undefined> {
    const pay = this.#paySide();
    const refund = pay.findRefund(outRefundNo, options.mchid);
    const status = options.status ?? 'SUCCESS';
    if (status !== 'SUCCESS' && status !== 'CLOSED' && status !== 'ABNORMAL') throw new TypeError('status must be SUCCESS, CLOSED or ABNORMAL');
    pay.store.completeRefund(refund, status);
    if (options.notify === false || (options.url === undefined && refund.notify_url === undefined)) return undefined;
    return pay.notify({ ...notifyExtras(options), mchid: refund.mchid, event: `REFUND.${status}`, out_refund_no: refund.out_refund_no });
  }
  payOrder(outTradeNo: string, mchid?: string): Record<string, unknown> | undefined {
    try {
      return transactionView(this.#paySide().findOrder(outTradeNo, mchid));
    } catch {
      return undefined;
    }
  }
  payRefund(outRefundNo: string, mchid?: string): Record<string, unknown> | undefined {
    try {
      return refundView(this.#paySide().findRefund(outRefundNo, mchid));
    } catch {
      return undefined;
    }
  }

  get stats(): MockStats {
    return this.#stats.snapshot();
  }
  resetStats(): void {
    this.#stats.reset();
  }

  /** For the control API. */
  get appids(): string[] {
    return this.#apps.appids();
  }

  // ---- request handling --------------------------------------------------------------------

  #nowSeconds(): number {
    return Math.floor(this.#clock() / 1000);
  }

  #baseUrl(req: IncomingMessage): string {
    if (this.#publicBase) return this.#publicBase;
    const host = req.headers.host;
    return typeof host === 'string' && HOST_HEADER.test(host) ? `http://${host}` : this.url;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const method = req.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://mock.invalid');
    } catch {
      sendText(res, 400, 'bad request target', true);
      return;
    }
    const path = url.pathname;
    const log = (status: number, errcode?: number, fault?: string, ignoredUrlParameters?: string[]) => {
      if (!this.#opts.logger) return;
      try {
        this.#opts.logger({
          method,
          path: path.slice(0, 200),
          status,
          ...(errcode !== undefined ? { errcode } : {}),
          ...(fault ? { fault } : {}),
          ...(ignoredUrlParameters !== undefined ? { ignoredUrlParameters } : {}),
          ms: Date.now() - started,
        });
      } catch {
        // a throwing logger must not break the mock
      }
    };

    if (path === '/__mock' || path.startsWith('/__mock/')) {
      if (this.#opts.controlApi === false) {
        sendText(res, 404, 'not found');
        return;
      }
      let body: Buffer;
      try {
        body = await readBody(req, 64 * 1024);
      } catch (err) {
        if (err instanceof BodyTooLargeError) sendText(res, 413, 'body too large', true);
        return;
      }
      const status = await handleControl(this, { method, path, query: url.searchParams, headers: req.headers, body, controlToken: this.#opts.controlToken }, res);
      log(status);
      return;
    }

    this.#stats.request(path);
    const plan = this.faults.plan(path);
    if (plan.delayMs > 0 || plan.terminal) this.#stats.fault();
    if (plan.delayMs > 0) {
      try {
        await sleep(plan.delayMs, undefined, { signal: this.#lifetime.signal });
      } catch {
        req.socket.destroy();
        return;
      }
    }
    if (plan.terminal?.kind === 'drop') {
      req.socket.destroy();
      log(0, undefined, 'drop');
      return;
    }
    if (isPayPath(path) && (plan.terminal?.kind === 'http-status' || plan.terminal?.kind === 'errcode')) {
      // Pay flavour: a signed `{code, message}` JSON answer (errcode 45009/45011 → 429 FREQUENCY_LIMITED, others → 500 SYSTEM_ERROR).
      const t = plan.terminal;
      if (t.kind === 'errcode' || t.body === DEFAULT_FAULT_BODY) {
        const status = t.kind === 'http-status' ? t.status : t.errcode === 45009 || t.errcode === 45011 ? 429 : 500;
        const message = t.kind === 'errcode' ? t.errmsg : undefined;
        const answer = (await this.ensurePay()).faultAnswer(req.headers, status, codeForStatus(status).code, message);
        sendPay(res, answer);
        log(answer.status, undefined, t.kind);
        return;
      }
    }
    if (plan.terminal?.kind === 'http-status') {
      sendText(res, plan.terminal.status, plan.terminal.body);
      log(plan.terminal.status, undefined, 'http-status');
      return;
    }
    if (plan.terminal?.kind === 'errcode') {
      const errcode = plan.terminal.errcode;
      this.#stats.rejection(errcode);
      const body = plan.terminal.errmsg !== undefined ? { errcode, errmsg: plan.terminal.errmsg } : errorBody(errcode, 'injected');
      sendJson(res, 200, body);
      log(200, errcode, 'errcode');
      return;
    }

    let body: Buffer;
    try {
      body = await readBody(req, this.#maxBody);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        sendText(res, 413, 'request body too large', true);
        log(413);
      }
      return;
    }

    if (isPayPath(path)) {
      let answer: PayAnswer;
      try {
        const pay = await this.ensurePay();
        answer = pay.handle({ method, target: req.url ?? path, path, query: url.searchParams, headers: req.headers, body });
      } catch {
        sendJson(res, 500, { code: 'SYSTEM_ERROR', message: '系统错误' });
        log(500);
        return;
      }
      sendPay(res, answer);
      log(answer.status);
      return;
    }

    try {
      const answer = await this.#dispatch(req, method, path, url.searchParams, body);
      if (answer === undefined) {
        sendText(res, 404, 'mock-wechat: no such endpoint');
        log(404);
        return;
      }
      const errcode = typeof answer.errcode === 'number' && answer.errcode !== 0 ? answer.errcode : undefined;
      if (errcode !== undefined) this.#stats.rejection(errcode);
      sendJson(res, 200, answer.body, answer.headers);
      log(200, errcode, undefined, answer.ignoredUrlParameters);
    } catch (err) {
      if (err instanceof MockWechatError) {
        this.#stats.rejection(err.errcode);
        sendJson(res, 200, errorBody(err.errcode, err.detail));
        log(200, err.errcode);
        return;
      }
      this.#stats.rejection(-1);
      sendJson(res, 500, errorBody(-1));
      log(500, -1);
    }
  }

  /** Returns the answer, or undefined for an unknown endpoint; throws MockWechatError for plain error answers. */
  async #dispatch(
    req: IncomingMessage,
    method: string,
    path: string,
    query: URLSearchParams,
    body: Buffer,
  ): Promise<ApiAnswer | undefined> {
    if (path === '/cgi-bin/token') {
      if (method !== 'GET' && method !== 'POST') return undefined;
      return { body: classicToken(query, this.#apps, this.#tokens) };
    }
    if (path === '/cgi-bin/stable_token') {
      if (method !== 'POST') throw new MockWechatError(43002);
      return { body: stableToken(body, this.#apps, this.#tokens) };
    }
    if (path === '/sns/jscode2session') {
      if (method !== 'GET' && method !== 'POST') return undefined;
      return { body: jscode2session(query, this.#apps) };
    }
    if (path.startsWith('/wxa/') || path.startsWith('/cgi-bin/')) {
      if (method !== 'GET' && method !== 'POST') return undefined;
      return this.#api(req, path, query, body);
    }
    return undefined;
  }

  async #api(req: IncomingMessage, path: string, query: URLSearchParams, body: Buffer): Promise<ApiAnswer> {
    const token = query.get('access_token');
    if (!token) throw new MockWechatError(41001);
    const checked = this.#tokens.check(token);
    if (!checked.ok) throw new MockWechatError(checked.errcode, checked.detail);
    const app: AppEntry | undefined = this.#apps.get(checked.appid);
    if (!app) throw new MockWechatError(40001, 'the app of this access_token is gone');

    const secured = app.mode === 'required' || (app.mode === 'optional' && hasSecurityHeaders(req.headers));
    const urlPath = this.#baseUrl(req) + path;
    const nowSeconds = this.#nowSeconds();
    let params: Record<string, unknown>;
    let ignoredUrlParameters: string[] | undefined;
    if (secured) {
      const opened = openSecuredRequest({
        urlPath,
        headers: req.headers,
        body,
        nowSeconds,
        timestampWindowSeconds: this.#window,
        tokenApp: app,
        knownAppid: (id) => this.#apps.get(id) !== undefined,
      });
      this.#stats.secured();
      // URL parameters of a secured call travel inside the encrypted data (the guide: 原请求字段，
      // 包含URL参数、POST参数，不包含AccessToken); WeChat reads none from the URL but
      // access_token, so any other is ignored here too, and named in the log.
      params = opened.params;
      const names = [...new Set([...query.keys()].filter((k) => k !== 'access_token'))];
      if (names.length > 0) ignoredUrlParameters = names.slice(0, 16).map((k) => k.slice(0, 64));
    } else {
      params = {};
      for (const [k, v] of query) if (k !== 'access_token' && params[k] === undefined) params[k] = v;
      if (body.length > 0) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          throw new MockWechatError(47001, 'POST data is not JSON');
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new MockWechatError(47001, 'POST data is not a JSON object');
        Object.assign(params, parsed);
      }
    }

    const handler = this.#routes.get(path) ?? echo;
    let result: Record<string, unknown>;
    try {
      const r = await handler({ appid: app.config.appid, path, params, secured, nowSeconds, apps: this.#apps });
      result = typeof r === 'object' && r !== null && !Array.isArray(r) ? r : { errcode: -1, errmsg: 'system error: handler returned no object' };
      if (result.errcode === undefined) result = { errcode: 0, errmsg: 'ok', ...result };
    } catch (err) {
      if (!(err instanceof MockWechatError)) throw err;
      // Business errors of a verified call are answered sealed like any result.
      if (!secured) throw err;
      result = errorBody(err.errcode, err.detail);
    }
    const errcode = typeof result.errcode === 'number' ? result.errcode : undefined;
    if (!secured) return { body: result, ...(errcode !== undefined ? { errcode } : {}) };
    const sealed = sealResponse({ urlPath, app, platform: this.#platform, nowSeconds: this.#nowSeconds(), result });
    return { body: sealed.body, headers: sealed.headers, ...(errcode !== undefined ? { errcode } : {}), ...(ignoredUrlParameters !== undefined ? { ignoredUrlParameters } : {}) };
  }
}

/** What an endpoint answers: the body (JSON), extra headers, the errcode for stats and logs. */
interface ApiAnswer {
  body: unknown;
  headers?: Record<string, string>;
  errcode?: number;
  ignoredUrlParameters?: string[];
}

const DEFAULT_FAULT_BODY = 'mock-wechat: injected HTTP error';

function isPayPath(path: string): boolean {
  return path === '/v3' || path.startsWith('/v3/');
}

function sendPay(res: ServerResponse, answer: PayAnswer): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(Buffer.byteLength(answer.body)) });
  res.end(answer.body);
}

function notifyExtras(o: PaySimulationOptions): Partial<PayNotifyOptions> {
  return {
    ...(o.url !== undefined ? { url: o.url } : {}),
    ...(o.tamper !== undefined ? { tamper: o.tamper } : {}),
    ...(o.signWith !== undefined ? { signWith: o.signWith } : {}),
    ...(o.retryDelaysMs !== undefined ? { retryDelaysMs: o.retryDelaysMs } : {}),
  };
}

/** Starts a mock WeChat server; resolves once it listens. */
export async function startMockWechat(options: MockWechatOptions = {}): Promise<MockWechat> {
  const platformKey = options.platformKey ?? (await generateMpPlatformKey(options.clock ? { nowMs: options.clock() } : {}));
  const mock = new MockWechatServer(options, platformKey);
  if (options.payMerchants !== undefined && options.payMerchants.length > 0) {
    for (const m of options.payMerchants) await mock.addPayMerchant(m);
  }
  await mock.listen();
  return mock;
}

export type { MockWechatServer };
