// The WeChat Pay API v3 HTTP client: signs every request with the merchant snapshot taken at the
// start of the exchange, verifies every answer over its raw bytes with that snapshot's key set
// (unknown serial → one refresh → verify again), turns error bodies into typed errors, retries
// idempotent requests with fresh signatures and exponential backoff, and puts a cockatiel circuit
// breaker per merchant and host in front of the network so an outage fails fast (or degrades
// through a fallback) instead of turning into a request storm.
// Sources: pay.weixin.qq.com/docs/merchant/development/interface-rules/ (签名生成, 签名验证,
// 基本规则 / 错误信息, HTTP 状态码).
// This file is the exchange (sign → send → verify → typed error) and the retry loop around it; the
// typed calls are merchant-client.ts, request checks prepare.ts, the HTTP round trip transport.ts,
// the breakers breakers.ts, the public types interface.ts.
import { isBrokenCircuitError } from 'cockatiel';
import { Agent, type Dispatcher } from 'undici';
import { fail, WechatPayError } from '../errors.js';
import type { MerchantMaterial, MerchantMaterialSource } from '../merchant/material.js';
import { signRequest } from '../signing.js';
import { HEADER_REQUEST_ID } from '../verification.js';
import { BreakerSet } from './breakers.js';
import { WechatPayApiError, WechatPayResponseError, WechatPayTransportError } from './errors.js';
import type {
  BreakerOptions,
  BreakerState,
  RetryOptions,
  WechatPayClient,
  WechatPayClientEvent,
  WechatPayClientOptions,
  WechatPayMerchantClient,
  WechatPayRequest,
  WechatPayResponse,
} from './interface.js';
import { MerchantClient, type MerchantClientHost } from './merchant-client.js';
import { positive, prepareRequest, type PreparedRequest } from './prepare.js';
import { headerValue, sendRequest, type RawAnswer, type TransportOptions } from './transport.js';
import { verifyWithRefresh } from './verify.js';

export const WECHATPAY_API_BASE_URL = 'https://api.mch.weixin.qq.com';
/** The documented backup domain (another access point), for callers who switch over themselves. */
export const WECHATPAY_API_BACKUP_BASE_URL = 'https://api2.mch.weixin.qq.com';

const PACKAGE_VERSION = '0.1.0';

const SIGNATURE_HEADERS = ['wechatpay-signature', 'wechatpay-timestamp', 'wechatpay-nonce', 'wechatpay-serial'];
const MCHID = /^[0-9]{1,32}$/;

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

/** Creates a client; one per process is enough (it pools connections and holds the breakers). */
export function createWechatPayClient(options: WechatPayClientOptions): WechatPayClient {
  return new WechatPayClientImpl(options);
}

class WechatPayClientImpl implements WechatPayClient, MerchantClientHost {
  readonly baseUrl: string;
  private readonly host: string;
  private readonly source: MerchantMaterialSource;
  private readonly timeoutMs: number;
  private readonly retry: Required<RetryOptions>;
  /** Undefined when breakers are disabled. */
  private readonly breakers: BreakerSet | undefined;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly transport: TransportOptions;
  private readonly userAgent: string;
  private readonly clock: (() => number) | undefined;
  private readonly windowSeconds: number | undefined;
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
    const maxResponseBytes = positive(options.maxResponseBytes, 1024 * 1024, 'maxResponseBytes', 1);
    const r = options.retry === false ? { maxAttempts: 1 } : (options.retry ?? {});
    this.retry = {
      maxAttempts: Math.floor(positive(r.maxAttempts, 3, 'retry.maxAttempts', 1)),
      baseDelayMs: positive(r.baseDelayMs, 200, 'retry.baseDelayMs'),
      maxDelayMs: positive(r.maxDelayMs, 3000, 'retry.maxDelayMs'),
    };
    const breakerOptions: Required<BreakerOptions> | false = options.breaker === false ? false : {
      consecutiveFailures: Math.floor(positive(options.breaker?.consecutiveFailures, 5, 'breaker.consecutiveFailures', 1)),
      halfOpenAfterMs: positive(options.breaker?.halfOpenAfterMs, 10_000, 'breaker.halfOpenAfterMs', 1),
    };
    this.breakers = breakerOptions === false ? undefined : new BreakerSet(this.host, breakerOptions, (e) => this.emit(e), options.onBreakerOpen);
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher = options.dispatcher ?? new Agent({ connections: 64, keepAliveTimeout: 10_000 });
    this.transport = { dispatcher: this.dispatcher, maxResponseBytes, host: this.host };
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
    return this.breakers?.stateOf(mchid) ?? 'closed';
  }

  /** @internal */
  async request<T>(mchid: string, req: WechatPayRequest): Promise<WechatPayResponse<T>> {
    const p = prepareRequest(mchid, req, this.baseUrl, this.timeoutMs);
    const maxAttempts = p.idempotent ? this.retry.maxAttempts : 1;
    const breaker = this.breakers?.for(mchid);
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
    if (p.contentType !== undefined) headers['content-type'] = p.contentType;
    this.emit({ type: 'request', mchid: p.mchid, method: p.method, path: p.path, attempt, materialVersion: material.version });
    const started = Date.now();
    const raw = await sendRequest(this.transport, p, headers);
    const requestId = headerValue(raw.headers, HEADER_REQUEST_ID.toLowerCase());
    const ok = raw.status >= 200 && raw.status < 300;
    const signedAnswer = SIGNATURE_HEADERS.some((h) => raw.headers[h] !== undefined);
    let authenticated = false;
    // A downloaded file is not signed by WeChat Pay: its caller checks the digest announced by
    // the (verified) bill answer instead. Its error answers are verified like any other.
    const unsignedFile = p.download && ok;
    if (!unsignedFile && (ok || signedAnswer)) {
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
    if (unsignedFile) return { status: raw.status, headers: raw.headers, data: raw.body as T, requestId };
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
}

/** True when an error from the client came from a failed answer verification. */
export function isWechatPayResponseError(err: unknown): err is WechatPayResponseError {
  return err instanceof WechatPayResponseError;
}

