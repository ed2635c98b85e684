// Errors of the access_token manager itself. Failures WeChat reports (errcodes) stay
// WechatApiError and transport failures stay WechatTransportError; these cover what the manager
// adds on top: the shared store, waiting for another instance, the forced-refresh guard, shutdown.
// Messages never carry the AppSecret or a token.
import { CodedError, type ErrorCatalogue } from '@wxseal/protocol/errors';

/** The WECHAT_TOKEN_ codes of the access_token manager. */
export const ACCESS_TOKEN_ERRORS = {
  WECHAT_TOKEN_STORE_UNAVAILABLE: {
    meaning: 'The shared token store (Redis) failed or did not answer in time, and the mode forbids fetching a token locally.',
    action: 'Check Redis; allow a local fetch (the store mode) only if one instance fetching on its own is acceptable.',
  },
  WECHAT_TOKEN_WAIT_TIMEOUT: {
    meaning: 'Another instance holds the refresh lock and no new token appeared within waitTimeoutMs.',
    action: 'Look at the instance holding the lock (its logs, its access to WeChat); the lock expires on its own.',
  },
  WECHAT_TOKEN_REFRESH_TIMEOUT: {
    meaning: 'One refresh (retries included) did not finish within refreshTimeoutMs.',
    action: 'Check the outbound network to api.weixin.qq.com, or raise refreshTimeoutMs.',
  },
  WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON: {
    meaning: 'forceRefresh() was called within 30 s of the previous forced refresh; `retryAfterMs` says when it is allowed again.',
    action: 'Wait retryAfterMs; a forced refresh invalidates the token of every other holder, so call it only on a token WeChat rejected.',
  },
  WECHAT_TOKEN_ABORTED: {
    meaning: 'The caller\'s AbortSignal fired while waiting for a token.',
    action: 'Nothing, if the abort was meant.',
  },
  WECHAT_TOKEN_CLOSED: {
    meaning: 'The manager was closed.',
    action: 'Do not use a manager after close(); create a new one.',
  },
  WECHAT_TOKEN_CONFIG_INVALID: {
    meaning: 'Invalid options of the access_token manager (the message names the option).',
    action: 'Fix the option the message names.',
  },
} as const satisfies ErrorCatalogue;

export type AccessTokenErrorCode = keyof typeof ACCESS_TOKEN_ERRORS;

export const ACCESS_TOKEN_ERROR_CODES = Object.keys(ACCESS_TOKEN_ERRORS) as readonly AccessTokenErrorCode[];

export class AccessTokenError extends CodedError<AccessTokenErrorCode> {
  override readonly name = 'AccessTokenError';
  /** For WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON: milliseconds until a forced refresh is allowed again. */
  readonly retryAfterMs: number | undefined;

  constructor(code: AccessTokenErrorCode, message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(code, message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isAccessTokenError(err: unknown, code?: AccessTokenErrorCode): err is AccessTokenError {
  return err instanceof AccessTokenError && (code === undefined || err.code === code);
}
