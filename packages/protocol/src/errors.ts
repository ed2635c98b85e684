/** Stable error codes of SPEC.md section 10, with the HTTP status a server answers each with. */
export const WIRE_ERROR_STATUS = {
  WXSEAL_BODY_TOO_LARGE: 413,
  WXSEAL_UNSUPPORTED_VERSION: 400,
  WXSEAL_MISSING_HEADER: 400,
  WXSEAL_MALFORMED_HEADER: 400,
  WXSEAL_MODE_NOT_ALLOWED: 403,
  WXSEAL_TIMESTAMP_EXPIRED: 401,
  WXSEAL_TIMESTAMP_FUTURE: 401,
  WXSEAL_UNKNOWN_KEY_ID: 401,
  WXSEAL_KEY_REVOKED: 401,
  WXSEAL_UNKNOWN_SERVER_KEY: 400,
  WXSEAL_BAD_SIGNATURE: 401,
  WXSEAL_REPLAYED_NONCE: 401,
  WXSEAL_UNWRAP_FAILED: 400,
  WXSEAL_DECRYPT_FAILED: 400,
  WXSEAL_MALFORMED_PAYLOAD: 400,
  WXSEAL_NONCE_STORE_FULL: 503,
  WXSEAL_NONCE_STORE_UNAVAILABLE: 503,
  WXSEAL_KEY_STORE_UNAVAILABLE: 503,
  // Raised by a gateway before any verifier runs (SPEC.md section 10): no route for the path, or
  // more header fields than the gateway accepts. Unsigned rejections like the rest of this table.
  WXSEAL_ROUTE_NOT_FOUND: 404,
  WXSEAL_TOO_MANY_HEADERS: 431,
} as const;

export type WireErrorCode = keyof typeof WIRE_ERROR_STATUS;

/** Codes only a client raises; they never travel on the wire. */
export const CLIENT_ERROR_CODES = [
  'WXSEAL_RESPONSE_INVALID',
  'WXSEAL_TIMEOUT',
  'WXSEAL_ABORTED',
  'WXSEAL_NETWORK',
  'WXSEAL_CONFIG_INVALID',
  'WXSEAL_REMOTE_ERROR',
] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

export type WxsealErrorCode = WireErrorCode | ClientErrorCode;

export function isWireErrorCode(code: string): code is WireErrorCode {
  return Object.prototype.hasOwnProperty.call(WIRE_ERROR_STATUS, code);
}

/** The one error type of wxseal: a stable `code`, and for wire codes the HTTP `status`. */
export class WxsealError extends Error {
  override readonly name = 'WxsealError';
  readonly code: WxsealErrorCode;
  /** HTTP status a server answers with (wire codes), or the status received (client codes). */
  readonly status: number | undefined;

  constructor(code: WxsealErrorCode, message: string, options?: { status?: number; cause?: unknown }) {
    super(message);
    this.code = code;
    this.status = options?.status ?? (isWireErrorCode(code) ? WIRE_ERROR_STATUS[code] : undefined);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

export function isWxsealError(err: unknown, code?: WxsealErrorCode): err is WxsealError {
  return err instanceof WxsealError && (code === undefined || err.code === code);
}
