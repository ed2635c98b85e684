// The mock's assembly: the MockWechat handle over one node:http server. It owns the state (apps,
// tokens, platform keys, the Pay side, faults, stats), the listener and its outages; what a request
// does is in routing.ts (where it goes), token/ (access_token endpoints), mp/ (Mini Program
// endpoints, API security: mp/api-call.ts), pay/ (WeChat Pay API v3, every /v3/ path) and
// control.ts (/__mock/). The handle's types are in types.ts.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { generateMpPlatformKey, type MpPlatformKey } from './certs.js';
import { errorBody } from './errcodes.js';
import { FaultRegistry } from './faults.js';
import { sendJson } from './http-util.js';
import { AppRegistry, type JsCodeFixture, type MockAppConfig, type PhoneFixture } from './mp/apps.js';
import { PlatformKeyRing, type MpSm2PlatformKey } from './mp/platform.js';
import { BUILTIN_API_ROUTES, type ApiHandler } from './mp/routes.js';
import type { PayGuide } from './pay/guides.js';
import { PayKeyRing, generatePayPlatformCertificate, generatePayPublicKey, type PayPlatformCertificate, type RotationSigning } from './pay/keys.js';
import type { MockPayMerchantConfig } from './pay/merchants.js';
import { PaySide, type PayNotifyOptions, type PayNotifyResult } from './pay/side.js';
import { refundView, transactionView, type RefundStatus } from './pay/store.js';
import { routeRequest, type RouterContext } from './routing.js';
import { StatsCounter, type MockStats } from './stats.js';
import { TokenStore, type AppTokenStats, type TokenKind } from './token/store.js';
import type { MockWechat, MockWechatOptions, PaySimulationOptions } from './types.js';

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
  readonly #window: number;
  readonly #router: RouterContext;
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
    const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
    if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1024 || maxBodyBytes > 64 * 1024 * 1024) throw new RangeError('maxBodyBytes must be 1 KiB..64 MiB');
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
    this.#platform = new PlatformKeyRing(platformKey, opts.sm2PlatformKey);
    for (const app of opts.apps ?? []) this.#apps.add(app);
    for (const [path, handler] of Object.entries(opts.routes ?? {})) this.route(path, handler);
    this.#router = {
      options: opts,
      maxBodyBytes,
      stats: this.#stats,
      faults: this.faults,
      apps: this.#apps,
      tokens: this.#tokens,
      api: {
        apps: this.#apps,
        tokens: this.#tokens,
        platform: this.#platform,
        routes: this.#routes,
        stats: this.#stats,
        timestampWindowSeconds: this.#window,
        nowSeconds: () => Math.floor(this.#clock() / 1000),
        baseUrl: (req) => this.#baseUrl(req),
      },
      control: this,
      lifetime: () => this.#lifetime.signal,
      pay: () => this.ensurePay(),
    };
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
      routeRequest(this.#router, req, res).catch(() => {
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
  sm2PlatformCertificates(): Record<string, string> {
    return this.#platform.sm2Certificates();
  }
  sm2PlatformSerial(): string {
    return this.#platform.sm2.consoleNumber;
  }
  deprecatedPlatformSerial(): string | undefined {
    return this.#platform.deprecated?.spec.consoleNumber;
  }
  deprecatedSm2PlatformSerial(): string | undefined {
    return this.#platform.sm2Deprecated?.consoleNumber;
  }
  rotatePlatformKey(next?: MpPlatformKey, options: { sm2?: MpSm2PlatformKey } = {}): Promise<string> {
    return this.#platform.rotate(next, options);
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
  paySmPlatformCertificates(): Record<string, string> {
    return this.#paySide().smKeys.certificates();
  }
  async rotatePaySmPlatformCertificate(options: { next?: PayPlatformCertificate; signWith?: RotationSigning } = {}): Promise<string> {
    return (await this.ensurePay()).rotateSm(options);
  }
  withdrawOldPaySmPlatformCertificate(): string[] {
    return this.#paySide().smKeys.withdrawOld();
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
  payGuides(mchid: string): PayGuide[] {
    return this.#pay?.guides.list(mchid) ?? [];
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

  #baseUrl(req: IncomingMessage): string {
    if (this.#publicBase) return this.#publicBase;
    const host = req.headers.host;
    return typeof host === 'string' && HOST_HEADER.test(host) ? `http://${host}` : this.url;
  }
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
