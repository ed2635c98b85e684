// The WeChat Pay API v3 HTTP client: signs every request with the merchant snapshot taken at the
// start of the exchange, verifies every answer over its raw bytes with that snapshot's key set
// (unknown serial → one refresh → verify again), turns error bodies into typed errors, retries
// idempotent requests with fresh signatures and exponential backoff, and puts a cockatiel circuit
// breaker per merchant and host in front of the network so an outage fails fast (or degrades
// through a fallback) instead of turning into a request storm.
// Sources: pay.weixin.qq.com/docs/merchant/development/interface-rules/ (签名生成, 签名验证,
// 基本规则 / 错误信息, HTTP 状态码).
import { ConsecutiveBreaker, CircuitState, circuitBreaker, handleWhen, isBrokenCircuitError, type CircuitBreakerPolicy } from 'cockatiel';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { fail, WechatPayError } from '../errors.js';
import type { MerchantMaterial, MerchantMaterialSource } from '../merchant/material.js';
import { buildRequestPaymentParams, type RequestPaymentParams } from '../mini-program.js';
import { encryptSensitive } from '../sensitive.js';
import { requestTargetOf, signRequest } from '../signing.js';
import { HEADER_REQUEST_ID } from '../verification.js';
import { WechatPayApiError, WechatPayResponseError, WechatPayTransportError } from './errors.js';
import type { JsapiPrepayRequest, JsapiPrepayResult, Refund, RefundRequest, Transaction } from './types.js';
import { verifyWithRefresh } from './verify.js';

export const WECHATPAY_API_BASE_URL = 'https://api.mch.weixin.qq.com';
/** The documented backup domain (another access point), for callers who switch over themselves. */
export const WECHATPAY_API_BACKUP_BASE_URL = 'https://api2.mch.weixin.qq.com';

const PACKAGE_VERSION = '0.1.0';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface RetryOptions {
  /** Attempts in total for an idempotent request (1 = no retry). Default 3. */
  maxAttempts?: number;
  /** First backoff delay; doubles each retry, with jitter (50-100 % of the step). Default 200 ms. */
  baseDelayMs?: number;
  /** Cap of one backoff delay. Default 3000 ms. */
  maxDelayMs?: number;
}

export interface BreakerOptions {
  /** Consecutive transient failures (timeouts, connection errors, 5xx) that open the circuit. Default 5. */
  consecutiveFailures?: number;
  /** Time before one probe call is let through. Default 10 000 ms. */
  halfOpenAfterMs?: number;
}

/** What the fallback hook is told about a refused call (no keys, no Authorization). */
export interface FallbackRequest {
  mchid: string;
  method: HttpMethod;
  path: string;
  query: Record<string, string>;
  /** The JSON body text that would have been sent. */
  body: string | undefined;
  idempotent: boolean;
}

/** Diagnostics; never carries keys, signatures or the Authorization header. */
export type WechatPayClientEvent =
  | { type: 'request'; mchid: string; method: HttpMethod; path: string; attempt: number; materialVersion: number }
  | { type: 'response'; mchid: string; method: HttpMethod; path: string; attempt: number; status: number; requestId?: string; durationMs: number; authenticated: boolean }
  | { type: 'retry'; mchid: string; method: HttpMethod; path: string; attempt: number; delayMs: number; reason: string }
  | { type: 'serial-refresh'; mchid: string; serial: string; known: boolean }
  | { type: 'verification-failed'; mchid: string; method: HttpMethod; path: string; status: number; code: string; requestId?: string }
  | { type: 'breaker'; mchid: string; host: string; state: BreakerState }
  | { type: 'fallback'; mchid: string; method: HttpMethod; path: string };

export interface WechatPayClientOptions {
  /** Keys and certificates per merchant (StaticMerchantMaterialSource, CertificateManager). */
  source: MerchantMaterialSource;
  /** Scheme + host (+ port). Default https://api.mch.weixin.qq.com. */
  baseUrl?: string;
  /** Deadline of one attempt, answer body included. Default 10 000 ms. */
  timeoutMs?: number;
  /** Largest answer body read. Default 1 MiB. */
  maxResponseBytes?: number;
  retry?: RetryOptions | false;
  /** Circuit breaker per merchant + host; `false` disables it. */
  breaker?: BreakerOptions | false;
  /** undici dispatcher (proxy agent, mock agent, TLS options); a private pooled Agent by default. */
  dispatcher?: Dispatcher;
  onEvent?: (event: WechatPayClientEvent) => void;
  /** Called when a breaker opens (e.g. page someone, start queueing). */
  onBreakerOpen?: (info: { mchid: string; host: string }) => void;
  /**
   * Called instead of failing with WECHATPAY_CIRCUIT_OPEN while the breaker is open. Its answer is
   * returned to the caller (marked `fromFallback`); throw to fail. Typed calls check its `data`
   * like a real answer.
   */
  fallback?: (request: FallbackRequest, error: WechatPayTransportError) => WechatPayResponse | Promise<WechatPayResponse>;
  /** User-Agent sent (WeChat Pay asks for one). Default `wxseal-wechatpay/<version> Node/<version>`. */
  userAgent?: string;
  /** Clock in Unix seconds (tests): request timestamps and the ±window of answers. */
  clock?: () => number;
  /** Accepted |now − Wechatpay-Timestamp| of answers. Default 300 s. */
  windowSeconds?: number;
}

export interface WechatPayRequest {
  method: HttpMethod;
  /** `/v3/...` without query. Path parameters must already be percent-encoded. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** An object (JSON.stringify'd once; those exact bytes are signed and sent) or JSON text. */
  body?: unknown;
  /**
   * Safe to send again with the same parameters. Default: true for GET, false otherwise. Only
   * idempotent requests are retried (after transport errors, 5xx, 429, SYSTEM_ERROR, …).
   */
  idempotent?: boolean;
  /** Extra headers; Authorization, Accept, Content-Type, User-Agent, Wechatpay-Serial and hop-by-hop headers are set by the client. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Deadline of each attempt for this call. */
  timeoutMs?: number;
  /**
   * Wechatpay-Serial to send instead of the snapshot's (the serial returned by encryptSensitive,
   * so that WeChat decrypts with the key that encrypted).
   */
  wechatpaySerial?: string;
}

export interface WechatPayResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON; undefined for an empty body (204). */
  data: T;
  requestId: string | undefined;
  /** Set when the answer came from the fallback hook, not from WeChat Pay. */
  fromFallback?: true;
}

/** Per-call options of the typed calls. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Override the call's default idempotency (see each call). */
  idempotent?: boolean;
}

/** The facade of one merchant: `client.merchant(mchid)`. */
export interface WechatPayMerchantClient {
  readonly mchid: string;
  request<T = unknown>(req: WechatPayRequest): Promise<WechatPayResponse<T>>;
  /**
   * `POST /v3/pay/transactions/jsapi` (JSAPI and Mini Program). Idempotent by default: the same
   * body (same out_trade_no and parameters) is repeated byte for byte, and WeChat Pay does not
   * create a second order for an out_trade_no. Pass `{ idempotent: false }` to never repeat.
   */
  jsapiPrepay(req: JsapiPrepayRequest, options?: CallOptions): Promise<JsapiPrepayResult>;
  /** Signed `wx.requestPayment` parameters for a prepay_id (merchant private key of the current snapshot). */
  requestPaymentParams(appId: string, prepayId: string): RequestPaymentParams;
  /** `GET /v3/pay/transactions/id/{transaction_id}?mchid=`. */
  queryOrderById(transactionId: string, options?: CallOptions): Promise<Transaction>;
  /** `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=`. */
  queryOrderByOutTradeNo(outTradeNo: string, options?: CallOptions): Promise<Transaction>;
  /** `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` → 204. Idempotent by default. */
  closeOrder(outTradeNo: string, options?: CallOptions): Promise<void>;
  /** `POST /v3/refund/domestic/refunds`. Idempotent by default: one out_refund_no refunds at most once. */
  refund(req: RefundRequest, options?: CallOptions): Promise<Refund>;
  /** `GET /v3/refund/domestic/refunds/{out_refund_no}`. */
  queryRefund(outRefundNo: string, options?: CallOptions): Promise<Refund>;
  /**
   * RSA-OAEP encryption of a sensitive field with the snapshot's WeChat Pay key. Send the request
   * with `wechatpaySerial` set to the returned serial (WeChat decrypts with the key it names).
   */
  encryptSensitive(plaintext: string): { ciphertext: string; wechatpaySerial: string };
  /** State of this merchant's breaker for the client's host. */
  readonly breakerState: BreakerState;
}

export interface WechatPayClient {
  readonly baseUrl: string;
  merchant(mchid: string): WechatPayMerchantClient;
  /** Closes the private connection pool (not a dispatcher passed in). */
  close(): Promise<void>;
}

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};

const MCHID = /^[0-9]{1,32}$/;
const PATH = /^\/v3\/[\x21-\x22\x24-\x3e\x40-\x7e]*$/; // printable, no "#" or "?"
const ID = /^[\x21-\x7e]{1,64}$/;
const RESERVED_HEADERS = new Set(['authorization', 'accept', 'content-type', 'content-length', 'user-agent', 'wechatpay-serial', 'host', 'connection', 'transfer-encoding']);
const SIGNATURE_HEADERS = ['wechatpay-signature', 'wechatpay-timestamp', 'wechatpay-nonce', 'wechatpay-serial'];

function positive(value: number | undefined, fallback: number, what: string, min = 0): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) fail('WECHATPAY_BAD_ARGUMENT', `${what} must be a number ≥ ${min}`);
  return v;
}

function pathId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !ID.test(value)) fail('WECHATPAY_BAD_ARGUMENT', `${what} must be 1-64 printable ASCII characters`);
  return encodeURIComponent(value);
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

interface PreparedRequest {
  mchid: string;
  method: HttpMethod;
  path: string;
  url: URL;
  target: string;
  query: Record<string, string>;
  bodyText: string | undefined;
  idempotent: boolean;
  headers: Record<string, string>;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  wechatpaySerial: string | undefined;
}

/** Creates a client; one per process is enough (it pools connections and holds the breakers). */
export function createWechatPayClient(options: WechatPayClientOptions): WechatPayClient {
  return new WechatPayClientImpl(options);
}

class WechatPayClientImpl implements WechatPayClient {
  readonly baseUrl: string;
  private readonly host: string;
  private readonly source: MerchantMaterialSource;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly retry: Required<RetryOptions>;
  private readonly breakerOptions: Required<BreakerOptions> | false;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly userAgent: string;
  private readonly clock: (() => number) | undefined;
  private readonly windowSeconds: number | undefined;
  private readonly breakers = new Map<string, CircuitBreakerPolicy>();
  private readonly merchants = new Map<string, WechatPayMerchantClient>();

  constructor(private readonly options: WechatPayClientOptions) {
    if (typeof options !== 'object' || options === null) fail('WECHATPAY_BAD_ARGUMENT', 'options must be an object');
    const src = options.source as Partial<MerchantMaterialSource> | undefined;
    if (typeof src?.current !== 'function' || typeof src.refreshForUnknownSerial !== 'function') fail('WECHATPAY_BAD_ARGUMENT', 'source must be a MerchantMaterialSource');
    this.source = options.source;
    let base: URL;
    try {
      base = new URL(options.baseUrl ?? WECHATPAY_API_BASE_URL);
    } catch {
      fail('WECHATPAY_BAD_ARGUMENT', 'baseUrl must be an absolute URL');
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:') fail('WECHATPAY_BAD_ARGUMENT', 'baseUrl must be http(s)');
    if (base.search || base.hash || base.username || base.password || (base.pathname !== '/' && base.pathname !== '')) fail('WECHATPAY_BAD_ARGUMENT', 'baseUrl must be scheme://host[:port] only');
    this.baseUrl = base.origin;
    this.host = base.host;
    this.timeoutMs = positive(options.timeoutMs, 10_000, 'timeoutMs', 1);
    this.maxResponseBytes = positive(options.maxResponseBytes, 1024 * 1024, 'maxResponseBytes', 1);
    const r = options.retry === false ? { maxAttempts: 1 } : (options.retry ?? {});
    this.retry = {
      maxAttempts: Math.floor(positive(r.maxAttempts, 3, 'retry.maxAttempts', 1)),
      baseDelayMs: positive(r.baseDelayMs, 200, 'retry.baseDelayMs'),
      maxDelayMs: positive(r.maxDelayMs, 3000, 'retry.maxDelayMs'),
    };
    this.breakerOptions = options.breaker === false ? false : {
      consecutiveFailures: Math.floor(positive(options.breaker?.consecutiveFailures, 5, 'breaker.consecutiveFailures', 1)),
      halfOpenAfterMs: positive(options.breaker?.halfOpenAfterMs, 10_000, 'breaker.halfOpenAfterMs', 1),
    };
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher = options.dispatcher ?? new Agent({ connections: 64, keepAliveTimeout: 10_000 });
    this.userAgent = options.userAgent ?? `wxseal-wechatpay/${PACKAGE_VERSION} Node/${process.versions.node}`;
    this.clock = options.clock;
    this.windowSeconds = options.windowSeconds;
  }

  merchant(mchid: string): WechatPayMerchantClient {
    if (typeof mchid !== 'string' || !MCHID.test(mchid)) fail('WECHATPAY_BAD_ARGUMENT', 'mchid must be 1-32 decimal digits');
    let m = this.merchants.get(mchid);
    if (m === undefined) {
      m = new MerchantClient(this, mchid);
      this.merchants.set(mchid, m);
    }
    return m;
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private emit(event: WechatPayClientEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // Diagnostics must never break a payment call.
    }
  }

  /** @internal */
  materialOf(mchid: string): MerchantMaterial {
    return this.source.current(mchid);
  }

  /** @internal */
  breakerStateOf(mchid: string): BreakerState {
    const b = this.breakers.get(`${mchid}@${this.host}`);
    return b ? STATE_NAMES[b.state] : 'closed';
  }

  private breakerFor(mchid: string): CircuitBreakerPolicy | undefined {
    if (this.breakerOptions === false) return undefined;
    const key = `${mchid}@${this.host}`;
    let b = this.breakers.get(key);
    if (b === undefined) {
      b = circuitBreaker(
        handleWhen((err) => (err instanceof WechatPayTransportError && err.retryable) || (err instanceof WechatPayApiError && err.status >= 500)),
        { halfOpenAfter: this.breakerOptions.halfOpenAfterMs, breaker: new ConsecutiveBreaker(this.breakerOptions.consecutiveFailures) },
      );
      const host = this.host;
      b.onStateChange((s) => {
        const state = STATE_NAMES[s];
        this.emit({ type: 'breaker', mchid, host, state });
        if (s === CircuitState.Open) {
          try {
            this.options.onBreakerOpen?.({ mchid, host });
          } catch {
            // A listener's failure is not the caller's.
          }
        }
      });
      this.breakers.set(key, b);
    }
    return b;
  }

  private prepare(mchid: string, req: WechatPayRequest): PreparedRequest {
    if (typeof req !== 'object' || req === null) fail('WECHATPAY_BAD_ARGUMENT', 'request must be an object');
    const method = req.method;
    if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) fail('WECHATPAY_BAD_ARGUMENT', 'method must be GET, POST, PUT, PATCH or DELETE');
    if (typeof req.path !== 'string' || !PATH.test(req.path)) fail('WECHATPAY_BAD_ARGUMENT', 'path must be /v3/… (printable ASCII, percent-encoded, no query or fragment)');
    const url = new URL(req.path, this.baseUrl);
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v === undefined) continue;
      query[k] = String(v);
      url.searchParams.append(k, String(v));
    }
    const target = requestTargetOf(url);
    let bodyText: string | undefined;
    if (req.body !== undefined) {
      if (method === 'GET') fail('WECHATPAY_BAD_ARGUMENT', 'a GET request carries no body');
      bodyText = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
      if (typeof bodyText !== 'string') fail('WECHATPAY_BAD_ARGUMENT', 'body must be JSON-serialisable');
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers ?? {})) {
      if (RESERVED_HEADERS.has(k.toLowerCase())) fail('WECHATPAY_BAD_ARGUMENT', `header ${k} is set by the client`);
      if (typeof v !== 'string' || /[\r\n]/.test(v)) fail('WECHATPAY_BAD_ARGUMENT', `header ${k} must be a single-line string`);
      headers[k] = v;
    }
    if (req.wechatpaySerial !== undefined && (typeof req.wechatpaySerial !== 'string' || !/^[0-9A-Za-z_]{1,80}$/.test(req.wechatpaySerial))) {
      fail('WECHATPAY_BAD_ARGUMENT', 'wechatpaySerial must be a certificate serial or PUB_KEY_ID_…');
    }
    return {
      mchid,
      method,
      path: req.path,
      url,
      target,
      query,
      bodyText,
      idempotent: req.idempotent ?? method === 'GET',
      headers,
      signal: req.signal,
      timeoutMs: positive(req.timeoutMs, this.timeoutMs, 'timeoutMs', 1),
      wechatpaySerial: req.wechatpaySerial,
    };
  }

  /** @internal */
  async request<T>(mchid: string, req: WechatPayRequest): Promise<WechatPayResponse<T>> {
    const p = this.prepare(mchid, req);
    const maxAttempts = p.idempotent ? this.retry.maxAttempts : 1;
    const breaker = this.breakerFor(mchid);
    for (let attempt = 1; ; attempt++) {
      if (p.signal?.aborted) throw new WechatPayTransportError('WECHATPAY_ABORTED', `${p.method} ${p.path} aborted by the caller`, { method: p.method, path: p.path, cause: p.signal.reason });
      try {
        const run = (): Promise<WechatPayResponse<T>> => this.attempt<T>(p, attempt);
        return breaker ? await breaker.execute(run) : await run();
      } catch (err) {
        if (isBrokenCircuitError(err)) {
          const open = new WechatPayTransportError('WECHATPAY_CIRCUIT_OPEN', `circuit open for merchant ${mchid} at ${this.host} after repeated failures; failing fast`, { method: p.method, path: p.path, cause: err });
          const fallback = this.options.fallback;
          if (fallback === undefined) throw open;
          this.emit({ type: 'fallback', mchid, method: p.method, path: p.path });
          const answer = await fallback({ mchid, method: p.method, path: p.path, query: { ...p.query }, body: p.bodyText, idempotent: p.idempotent }, open);
          return { ...answer, fromFallback: true } as WechatPayResponse<T>;
        }
        const retryable = (err instanceof WechatPayTransportError || err instanceof WechatPayApiError) && err.retryable;
        if (!retryable || attempt >= maxAttempts || p.signal?.aborted) throw err;
        const step = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
        const delayMs = Math.round(step / 2 + Math.random() * (step / 2));
        this.emit({ type: 'retry', mchid, method: p.method, path: p.path, attempt, delayMs, reason: (err as { code: string }).code });
        try {
          await sleep(delayMs, p.signal);
        } catch (abortReason) {
          throw new WechatPayTransportError('WECHATPAY_ABORTED', `${p.method} ${p.path} aborted by the caller`, { method: p.method, path: p.path, cause: abortReason });
        }
      }
    }
  }

  /** One signed exchange: snapshot → sign (fresh nonce and timestamp) → send → verify. */
  private async attempt<T>(p: PreparedRequest, attempt: number): Promise<WechatPayResponse<T>> {
    const material: MerchantMaterial = this.source.current(p.mchid);
    const signed = signRequest({
      mchid: p.mchid,
      serialNo: material.merchantSerialNo,
      privateKey: material.privateKey,
      method: p.method,
      url: p.target,
      body: p.bodyText,
      timestamp: this.clock ? Math.floor(this.clock()) : undefined,
    });
    const headers: Record<string, string> = {
      ...p.headers,
      authorization: signed.authorization,
      accept: 'application/json',
      'user-agent': this.userAgent,
    };
    const serial = p.wechatpaySerial ?? material.wechatpaySerial;
    if (serial !== undefined) headers['wechatpay-serial'] = serial;
    if (p.bodyText !== undefined) headers['content-type'] = 'application/json';
    this.emit({ type: 'request', mchid: p.mchid, method: p.method, path: p.path, attempt, materialVersion: material.version });
    const started = Date.now();
    const raw = await this.send(p, headers);
    const requestId = headerValue(raw.headers, HEADER_REQUEST_ID.toLowerCase());
    const ok = raw.status >= 200 && raw.status < 300;
    const signedAnswer = SIGNATURE_HEADERS.some((h) => raw.headers[h] !== undefined);
    let authenticated = false;
    if (ok || signedAnswer) {
      try {
        await verifyWithRefresh({
          source: this.source,
          mchid: p.mchid,
          material,
          headers: raw.headers,
          body: raw.body,
          nowSeconds: this.clock?.(),
          windowSeconds: this.windowSeconds,
          onRefresh: (s, known) => this.emit({ type: 'serial-refresh', mchid: p.mchid, serial: s, known }),
        });
        authenticated = true;
      } catch (err) {
        if (!(err instanceof WechatPayError)) throw err;
        this.emit({ type: 'verification-failed', mchid: p.mchid, method: p.method, path: p.path, status: raw.status, code: err.code, ...(requestId ? { requestId } : {}) });
        throw new WechatPayResponseError(err.code, `answer rejected: ${err.message}`, { status: raw.status, requestId, method: p.method, path: p.path, cause: err });
      }
    }
    this.emit({ type: 'response', mchid: p.mchid, method: p.method, path: p.path, attempt, status: raw.status, durationMs: Date.now() - started, authenticated, ...(requestId ? { requestId } : {}) });
    if (!ok) throw this.apiError(p, raw, requestId, authenticated);
    let data: unknown;
    if (raw.body.length > 0) {
      try {
        data = JSON.parse(raw.body.toString('utf8'));
      } catch {
        throw new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `HTTP ${raw.status}: verified body is not JSON`, { status: raw.status, method: p.method, path: p.path });
      }
    }
    return { status: raw.status, headers: raw.headers, data: data as T, requestId };
  }

  private apiError(p: PreparedRequest, raw: RawAnswer, requestId: string | undefined, authenticated: boolean): WechatPayApiError {
    let code = `HTTP_${raw.status}`;
    let message = `HTTP ${raw.status} without a WeChat Pay error body`;
    let detail: unknown;
    try {
      const v = JSON.parse(raw.body.toString('utf8')) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const o = v as { code?: unknown; message?: unknown; detail?: unknown };
        if (typeof o.code === 'string' && /^[A-Z0-9_]{1,64}$/.test(o.code)) code = o.code;
        if (typeof o.message === 'string') message = o.message;
        detail = o.detail;
      }
    } catch {
      // Not JSON (a proxy's HTML page): keep the HTTP status as the code.
    }
    return new WechatPayApiError({ status: raw.status, code, message, detail, requestId, authenticated, method: p.method, path: p.path });
  }

  private async send(p: PreparedRequest, headers: Record<string, string>): Promise<RawAnswer> {
    const deadline = AbortSignal.timeout(p.timeoutMs);
    const signal = p.signal ? AbortSignal.any([p.signal, deadline]) : deadline;
    const where = { method: p.method, path: p.path };
    try {
      const res = await undiciRequest(p.url, { method: p.method, headers, body: p.bodyText, signal, dispatcher: this.dispatcher });
      const declared = Number(headerValue(res.headers, 'content-length'));
      if (Number.isFinite(declared) && declared > this.maxResponseBytes) {
        res.body.destroy();
        throw new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `answer body of ${declared} bytes exceeds ${this.maxResponseBytes}`, { status: res.statusCode, ...where });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        size += buf.length;
        if (size > this.maxResponseBytes) {
          res.body.destroy();
          throw new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `answer body exceeds ${this.maxResponseBytes} bytes`, { status: res.statusCode, ...where });
        }
        chunks.push(buf);
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
    } catch (err) {
      if (err instanceof WechatPayTransportError) throw err;
      if (p.signal?.aborted) throw new WechatPayTransportError('WECHATPAY_ABORTED', `${p.method} ${p.path} aborted by the caller`, { ...where, cause: err });
      if (deadline.aborted) throw new WechatPayTransportError('WECHATPAY_TIMEOUT', `no answer to ${p.method} ${p.path} within ${p.timeoutMs} ms`, { ...where, cause: err });
      const msg = err instanceof Error ? err.message : String(err);
      throw new WechatPayTransportError('WECHATPAY_UNAVAILABLE', `cannot reach ${this.host} for ${p.method} ${p.path}: ${msg}`, { ...where, cause: err });
    }
  }
}

function objectData(res: WechatPayResponse, what: string, required: readonly string[], p: { method: HttpMethod; path: string }): Record<string, unknown> {
  const d = res.data;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) {
    throw new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `${what}: answer is not a JSON object`, { status: res.status, ...p });
  }
  for (const k of required) {
    if (typeof (d as Record<string, unknown>)[k] !== 'string') {
      throw new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `${what}: answer lacks ${k}`, { status: res.status, ...p });
    }
  }
  return d as Record<string, unknown>;
}

class MerchantClient implements WechatPayMerchantClient {
  constructor(private readonly client: WechatPayClientImpl, readonly mchid: string) {}

  get breakerState(): BreakerState {
    return this.client.breakerStateOf(this.mchid);
  }

  request<T = unknown>(req: WechatPayRequest): Promise<WechatPayResponse<T>> {
    return this.client.request<T>(this.mchid, req);
  }

  private call(method: HttpMethod, path: string, defaults: { idempotent: boolean }, options: CallOptions | undefined, extra: Partial<WechatPayRequest> = {}): Promise<WechatPayResponse> {
    return this.request({ method, path, ...extra, idempotent: options?.idempotent ?? defaults.idempotent, signal: options?.signal, timeoutMs: options?.timeoutMs });
  }

  async jsapiPrepay(req: JsapiPrepayRequest, options?: CallOptions): Promise<JsapiPrepayResult> {
    if (typeof req !== 'object' || req === null) fail('WECHATPAY_BAD_ARGUMENT', 'prepay request must be an object');
    for (const k of ['appid', 'description', 'out_trade_no', 'notify_url'] as const) {
      if (typeof req[k] !== 'string' || req[k] === '') fail('WECHATPAY_BAD_ARGUMENT', `${k} must be a non-empty string`);
    }
    if (!Number.isSafeInteger(req.amount?.total) || req.amount.total <= 0) fail('WECHATPAY_BAD_ARGUMENT', 'amount.total must be a positive integer of fen');
    if (typeof req.payer?.openid !== 'string' || req.payer.openid === '') fail('WECHATPAY_BAD_ARGUMENT', 'payer.openid must be a non-empty string');
    const path = '/v3/pay/transactions/jsapi';
    const res = await this.call('POST', path, { idempotent: true }, options, { body: { ...req, mchid: this.mchid } });
    const d = objectData(res, 'jsapi prepay', ['prepay_id'], { method: 'POST', path });
    return { prepay_id: d['prepay_id'] as string };
  }

  requestPaymentParams(appId: string, prepayId: string): RequestPaymentParams {
    const material = this.client.materialOf(this.mchid);
    return buildRequestPaymentParams({ appId, prepayId, privateKey: material.privateKey });
  }

  async queryOrderById(transactionId: string, options?: CallOptions): Promise<Transaction> {
    const path = `/v3/pay/transactions/id/${pathId(transactionId, 'transaction_id')}`;
    const res = await this.call('GET', path, { idempotent: true }, options, { query: { mchid: this.mchid } });
    return objectData(res, 'query order', ['out_trade_no', 'trade_state'], { method: 'GET', path }) as Transaction;
  }

  async queryOrderByOutTradeNo(outTradeNo: string, options?: CallOptions): Promise<Transaction> {
    const path = `/v3/pay/transactions/out-trade-no/${pathId(outTradeNo, 'out_trade_no')}`;
    const res = await this.call('GET', path, { idempotent: true }, options, { query: { mchid: this.mchid } });
    return objectData(res, 'query order', ['out_trade_no', 'trade_state'], { method: 'GET', path }) as Transaction;
  }

  async closeOrder(outTradeNo: string, options?: CallOptions): Promise<void> {
    const path = `/v3/pay/transactions/out-trade-no/${pathId(outTradeNo, 'out_trade_no')}/close`;
    await this.call('POST', path, { idempotent: true }, options, { body: { mchid: this.mchid } });
  }

  async refund(req: RefundRequest, options?: CallOptions): Promise<Refund> {
    if (typeof req !== 'object' || req === null) fail('WECHATPAY_BAD_ARGUMENT', 'refund request must be an object');
    if (typeof req.out_refund_no !== 'string' || req.out_refund_no === '') fail('WECHATPAY_BAD_ARGUMENT', 'out_refund_no must be a non-empty string');
    if ((req.transaction_id === undefined) === (req.out_trade_no === undefined)) fail('WECHATPAY_BAD_ARGUMENT', 'give exactly one of transaction_id and out_trade_no');
    if (!Number.isSafeInteger(req.amount?.refund) || !Number.isSafeInteger(req.amount?.total) || req.amount.refund <= 0 || req.amount.refund > req.amount.total) {
      fail('WECHATPAY_BAD_ARGUMENT', 'amount.refund and amount.total must be integers of fen with 0 < refund ≤ total');
    }
    const path = '/v3/refund/domestic/refunds';
    const res = await this.call('POST', path, { idempotent: true }, options, { body: req });
    return objectData(res, 'refund', ['refund_id', 'out_refund_no', 'status'], { method: 'POST', path }) as Refund;
  }

  async queryRefund(outRefundNo: string, options?: CallOptions): Promise<Refund> {
    const path = `/v3/refund/domestic/refunds/${pathId(outRefundNo, 'out_refund_no')}`;
    const res = await this.call('GET', path, { idempotent: true }, options);
    return objectData(res, 'query refund', ['refund_id', 'out_refund_no', 'status'], { method: 'GET', path }) as Refund;
  }

  encryptSensitive(plaintext: string): { ciphertext: string; wechatpaySerial: string } {
    const material = this.client.materialOf(this.mchid);
    if (material.encryptionKey === undefined || material.wechatpaySerial === undefined) {
      fail('WECHATPAY_BAD_ARGUMENT', `merchant ${this.mchid} has no WeChat Pay encryption key (no public key or valid platform certificate yet)`);
    }
    return { ciphertext: encryptSensitive(plaintext, material.encryptionKey), wechatpaySerial: material.wechatpaySerial };
  }
}

/** True when an error from the client came from a failed answer verification. */
export function isWechatPayResponseError(err: unknown): err is WechatPayResponseError {
  return err instanceof WechatPayResponseError;
}

