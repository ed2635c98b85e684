// Typed errors of the WeChat Pay HTTP client. Three families, told apart by class and `code`:
//  - WechatPayApiError: WeChat Pay (or something in front of it) answered 4xx/5xx with
//    `{code, message, detail?}`; `code` is WeChat's own (PARAM_ERROR, SIGN_ERROR, …).
//  - WechatPayTransportError: no usable answer (timeout, abort, connection, oversized or
//    non-JSON body, circuit open); `code` is WECHATPAY_*.
//  - WechatPayResponseError: an answer failed signature verification (a WechatPayError with the
//    core's code — WECHATPAY_BAD_SIGNATURE, _UNKNOWN_SERIAL, … — plus status and request id).
// No error carries keys, the Authorization header or a signature.
import { CodedError, type ErrorCatalogue } from '@wxseal/protocol/errors';
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

/**
 * WeChat Pay answered with an HTTP error status. `code` is WeChat Pay's own (its wire), never one of
 * ours, so it is in no catalogue of ours; the message does not repeat it (the display form,
 * `toString()`, leads with it).
 */
export class WechatPayApiError extends CodedError<string> {
  override readonly name = 'WechatPayApiError';
  /** HTTP status. */
  readonly status: number;
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
    // `code` is WeChat's error code (`PARAM_ERROR`, `SIGN_ERROR`, `ORDER_NOT_EXIST`, …), or
    // `HTTP_<status>` when the body carried none.
    super(init.code, `WeChat Pay ${init.method} ${init.path} → HTTP ${init.status}: ${apiMessage}${init.requestId ? ` (Request-ID ${init.requestId})` : ''}${init.authenticated ? '' : ' [unauthenticated answer]'}`);
    this.status = init.status;
    this.apiMessage = apiMessage;
    this.detail = init.detail;
    this.requestId = init.requestId;
    this.authenticated = init.authenticated;
    this.retryable = isRetryableApiAnswer(init.status, init.code);
    this.method = init.method;
    this.path = init.path;
  }
}

/** The codes of WechatPayTransportError: no usable answer from WeChat Pay. */
export const WECHATPAY_TRANSPORT_ERRORS = {
  WECHATPAY_TIMEOUT: {
    meaning: 'No answer from WeChat Pay within the deadline.',
    action: 'Idempotent requests are retried; for a payment, query the order before trying again. If it lasts, check the outbound network.',
  },
  WECHATPAY_ABORTED: {
    meaning: 'The caller\'s AbortSignal fired.',
    action: 'Nothing, if the abort was meant; query the order if a payment call was cut.',
  },
  WECHATPAY_UNAVAILABLE: {
    meaning: 'WeChat Pay could not be reached (connection refused or reset, DNS, TLS).',
    action: 'Idempotent requests are retried (and the backup host tried); if it lasts, check the outbound network or proxy.',
  },
  WECHATPAY_BAD_RESPONSE: {
    meaning: 'The answer was too large, or a verified 2xx body is not JSON or lacks a documented field.',
    action: 'Check for a proxy answering in WeChat Pay\'s place; report the call if WeChat Pay changed its answer.',
  },
  WECHATPAY_CIRCUIT_OPEN: {
    meaning: 'The circuit breaker for this merchant and host is open: the call failed fast instead of being sent.',
    action: 'Wait until the breaker half-opens; look at the failures that opened it.',
  },
} as const satisfies ErrorCatalogue;

export type WechatPayTransportErrorCode = keyof typeof WECHATPAY_TRANSPORT_ERRORS;

/** No usable answer from WeChat Pay. */
export class WechatPayTransportError extends CodedError<WechatPayTransportErrorCode> {
  override readonly name = 'WechatPayTransportError';
  readonly status: number | undefined;
  readonly method: string | undefined;
  readonly path: string | undefined;
  constructor(code: WechatPayTransportErrorCode, message: string, options: { status?: number; method?: string; path?: string; cause?: unknown } = {}) {
    super(code, message, options);
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
  override readonly name = 'WechatPayResponseError';
  readonly status: number;
  readonly requestId: string | undefined;
  readonly method: string;
  readonly path: string;
  /** Never retried: an unverifiable answer is a security event, not a transient failure. */
  readonly retryable = false;
  constructor(code: WechatPayErrorCode, message: string, options: { status: number; requestId?: string; method: string; path: string; cause?: unknown }) {
    super(code, `${options.method} ${options.path} → HTTP ${options.status}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
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
