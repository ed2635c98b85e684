// Typed errors of the WeChat Pay HTTP client. Three families, told apart by class and `code`:
//  - WechatPayApiError: WeChat Pay (or something in front of it) answered 4xx/5xx with
//    `{code, message, detail?}`; `code` is WeChat's own (PARAM_ERROR, SIGN_ERROR, …).
//  - WechatPayTransportError: no usable answer (timeout, abort, connection, oversized or
//    non-JSON body, circuit open); `code` is WECHATPAY_*.
//  - WechatPayResponseError: an answer failed signature verification (a WechatPayError with the
//    core's code — WECHATPAY_BAD_SIGNATURE, _UNKNOWN_SERIAL, … — plus status and request id).
// No error carries keys, the Authorization header or a signature.
import { WechatPayError, type WechatPayErrorCode } from '../errors.js';

/** WeChat error codes after which the same request may be sent again (with a fresh signature). */
export const RETRYABLE_API_CODES: ReadonlySet<string> = new Set([
  'SYSTEM_ERROR',
  'SYSTEMERROR',
  'FREQUENCY_LIMITED',
  'RATELIMIT_EXCEEDED',
  'SERVICE_UNAVAILABLE',
  'BANK_ERROR',
]);

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** True for answers worth repeating (idempotent requests only): 5xx, 429 and the codes above. */
export function isRetryableApiAnswer(status: number, code: string | undefined): boolean {
  return status >= 500 || status === 429 || (code !== undefined && RETRYABLE_API_CODES.has(code));
}

export interface WechatPayApiErrorInit {
  status: number;
  code: string;
  message: string;
  detail?: unknown;
  requestId?: string;
  /** The answer's signature was present and verified. */
  authenticated: boolean;
  method: string;
  /** Path of the request (no query). */
  path: string;
}

/** WeChat Pay answered with an HTTP error status. */
export class WechatPayApiError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** WeChat's error code (`PARAM_ERROR`, `SIGN_ERROR`, `ORDER_NOT_EXIST`, …), or `HTTP_<status>` when the body carried none. */
  readonly code: string;
  /** WeChat's message (clipped to 512 characters). */
  readonly apiMessage: string;
  /** WeChat's `detail` object when present. */
  readonly detail: unknown;
  readonly requestId: string | undefined;
  /** Whether a WeChat Pay signature on this answer verified. Unauthenticated answers (a proxy's 502, an unsigned body) are never trusted for business decisions. */
  readonly authenticated: boolean;
  /** Repeating the same request may succeed: 5xx, 429, SYSTEM_ERROR, FREQUENCY_LIMITED, … */
  readonly retryable: boolean;
  readonly method: string;
  readonly path: string;
  constructor(init: WechatPayApiErrorInit) {
    const apiMessage = clip(init.message, 512);
    super(`WeChat Pay ${init.method} ${init.path} → HTTP ${init.status} ${init.code}: ${apiMessage}${init.requestId ? ` (Request-ID ${init.requestId})` : ''}${init.authenticated ? '' : ' [unauthenticated answer]'}`);
    this.name = 'WechatPayApiError';
    this.status = init.status;
    this.code = init.code;
    this.apiMessage = apiMessage;
    this.detail = init.detail;
    this.requestId = init.requestId;
    this.authenticated = init.authenticated;
    this.retryable = isRetryableApiAnswer(init.status, init.code);
    this.method = init.method;
    this.path = init.path;
  }
}

export type WechatPayTransportErrorCode =
  /** No answer within the deadline. */
  | 'WECHATPAY_TIMEOUT'
  /** The caller's AbortSignal fired. */
  | 'WECHATPAY_ABORTED'
  /** Connection refused/reset, DNS, TLS… */
  | 'WECHATPAY_UNAVAILABLE'
  /** The answer was too large, or a verified 2xx body is not JSON / lacks a documented field. */
  | 'WECHATPAY_BAD_RESPONSE'
  /** The circuit breaker for this merchant and host is open: failing fast instead of calling. */
  | 'WECHATPAY_CIRCUIT_OPEN';

/** No usable answer from WeChat Pay. */
export class WechatPayTransportError extends Error {
  readonly code: WechatPayTransportErrorCode;
  readonly status: number | undefined;
  readonly method: string | undefined;
  readonly path: string | undefined;
  constructor(code: WechatPayTransportErrorCode, message: string, options: { status?: number; method?: string; path?: string; cause?: unknown } = {}) {
    super(`${code}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WechatPayTransportError';
    this.code = code;
    this.status = options.status;
    this.method = options.method;
    this.path = options.path;
  }
  /** Worth repeating (for idempotent requests): timeouts and connection failures. */
  get retryable(): boolean {
    return this.code === 'WECHATPAY_TIMEOUT' || this.code === 'WECHATPAY_UNAVAILABLE';
  }
}

/** An answer from WeChat Pay failed signature verification; `code` is the core's verification code. */
export class WechatPayResponseError extends WechatPayError {
  readonly status: number;
  readonly requestId: string | undefined;
  readonly method: string;
  readonly path: string;
  /** Never retried: an unverifiable answer is a security event, not a transient failure. */
  readonly retryable = false;
  constructor(code: WechatPayErrorCode, message: string, options: { status: number; requestId?: string; method: string; path: string; cause?: unknown }) {
    super(code, `${options.method} ${options.path} → HTTP ${options.status}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WechatPayResponseError';
    this.status = options.status;
    this.requestId = options.requestId;
    this.method = options.method;
    this.path = options.path;
  }
}

export function isWechatPayApiError(err: unknown, code?: string): err is WechatPayApiError {
  return err instanceof WechatPayApiError && (code === undefined || err.code === code);
}

export function isWechatPayTransportError(err: unknown, code?: WechatPayTransportErrorCode): err is WechatPayTransportError {
  return err instanceof WechatPayTransportError && (code === undefined || err.code === code);
}
