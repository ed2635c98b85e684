// The client's public interface: its options, a request and its answer, the diagnostics events,
// and the two facades (the client and one merchant's view of it).
import type { Dispatcher } from 'undici';
import type { MerchantMaterialSource } from '../merchant/material.js';
import type { AppPaymentParams } from '../api/app-payment.js';
import type { RequestPaymentParams } from '../mini-program.js';
import type { WechatPayTransportError } from './errors.js';
import type { JsapiPrepayRequest, JsapiPrepayResult, Refund, RefundRequest, Transaction } from './types.js';

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
  /**
   * A `multipart/form-data` upload (the media APIs) instead of `body`: the `meta` JSON text is
   * what the signature covers; the sent body is the two parts `meta` and `file`.
   */
  multipart?: MultipartUpload;
  /**
   * The 2xx answer is a file (a bill download): WeChat Pay does not sign it, so it is NOT verified
   * (check its digest, as downloadBill does) and comes back as bytes in `data`. Error answers are
   * JSON and verified as usual. `maxBytes` replaces the client's maxResponseBytes for this call.
   */
  download?: { maxBytes?: number };
}

/** The parts of a media upload. */
export interface MultipartUpload {
  /** The `meta` part: JSON text (e.g. `{"filename":"a.jpg","sha256":"…"}`), signed as the request body. */
  meta: string;
  /** The `file` part's bytes. */
  file: Uint8Array;
  /** The `file` part's filename. */
  filename: string;
  /** The `file` part's Content-Type (e.g. image/jpeg). */
  contentType: string;
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
  /**
   * Signed parameters of the App SDK's PayReq for an App prepay_id (`appid\ntimestamp\nnoncestr\nprepayid\n`,
   * package `Sign=WXPay`, partnerid = this mchid; merchant private key of the current snapshot).
   */
  appPaymentParams(appId: string, prepayId: string): AppPaymentParams;
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
   * Encryption of a sensitive field with the snapshot's WeChat Pay key: RSA-OAEP, or SM2
   * (C1C3C2_ASN1) for a 国密 merchant holding SM platform certificates. Send the request with
   * `wechatpaySerial` set to the returned serial (WeChat decrypts with the key it names).
   */
  encryptSensitive(plaintext: string): { ciphertext: string; wechatpaySerial: string };
  /**
   * Decrypts a sensitive field of an answer (encrypted by WeChat Pay to the merchant's key) with the
   * snapshot's merchant private key: RSA-OAEP, or SM2 C1C3C2_ASN1 for an SM2 key.
   * WECHATPAY_DECRYPT_FAILED when it does not decrypt.
   */
  decryptSensitive(ciphertext: string): string;
  /** State of this merchant's breaker for the client's host. */
  readonly breakerState: BreakerState;
}

export interface WechatPayClient {
  readonly baseUrl: string;
  merchant(mchid: string): WechatPayMerchantClient;
  /** Closes the private connection pool (not a dispatcher passed in). */
  close(): Promise<void>;
}
