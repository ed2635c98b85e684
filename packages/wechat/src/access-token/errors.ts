// Errors of the access_token manager itself. Failures WeChat reports (errcodes) stay
// WechatApiError and transport failures stay WechatTransportError; these cover what the manager
// adds on top: the shared store, waiting for another instance, the forced-refresh guard, shutdown.
// Messages never carry the AppSecret or a token.

export const ACCESS_TOKEN_ERROR_CODES = [
  /** The shared store (Redis) failed or did not answer in time, and the mode forbids a local fetch. */
  'WECHAT_TOKEN_STORE_UNAVAILABLE',
  /** Another instance holds the refresh lock and no token appeared within `waitTimeoutMs`. */
  'WECHAT_TOKEN_WAIT_TIMEOUT',
  /** One refresh (retries included) did not finish within `refreshTimeoutMs`. */
  'WECHAT_TOKEN_REFRESH_TIMEOUT',
  /** `forceRefresh()` called within 30 s of the previous forced refresh. */
  'WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON',
  /** The caller's AbortSignal fired while waiting for a token. */
  'WECHAT_TOKEN_ABORTED',
  /** The manager was closed. */
  'WECHAT_TOKEN_CLOSED',
  /** Invalid options. */
  'WECHAT_TOKEN_CONFIG_INVALID',
] as const;

export type AccessTokenErrorCode = (typeof ACCESS_TOKEN_ERROR_CODES)[number];

export class AccessTokenError extends Error {
  override readonly name = 'AccessTokenError';
  readonly code: AccessTokenErrorCode;
  /** For WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON: milliseconds until a forced refresh is allowed again. */
  readonly retryAfterMs: number | undefined;

  constructor(code: AccessTokenErrorCode, message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(`${code}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isAccessTokenError(err: unknown, code?: AccessTokenErrorCode): err is AccessTokenError {
  return err instanceof AccessTokenError && (code === undefined || err.code === code);
}
