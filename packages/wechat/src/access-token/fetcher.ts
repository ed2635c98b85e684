// Asking WeChat for a token: POST /cgi-bin/stable_token or GET /cgi-bin/token with the AppSecret,
// under one deadline for the whole refresh, transient failures retried with exponential backoff
// (forced refreshes never: a retry inside 30 s would not refresh).
import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from 'cockatiel';
import { WechatApiError, WechatTransportError, wechatErrorOf } from '../errors.js';
import { WechatHttp } from '../http.js';
import { AccessTokenError } from './errors.js';
import { CLASSIC_TOKEN_PATH, DEFAULTS, STABLE_TOKEN_PATH, positive, type AccessTokenRetryOptions } from './options.js';
import { toError, type TokenRuntime } from './runtime.js';
import type { StoredAccessToken } from './store.js';

const MAX_TOKEN_LENGTH = 2048;

function isTransient(err: unknown): boolean {
  return (err instanceof WechatTransportError || err instanceof WechatApiError) && err.transient;
}

export interface TokenFetcherOptions {
  /** AppSecret: only ever sent to WeChat. */
  secret: string;
  http: WechatHttp;
  refreshMarginMs: number;
  refreshTimeoutMs: number;
  retry: AccessTokenRetryOptions | false | undefined;
}

export class TokenFetcher {
  readonly #rt: TokenRuntime;
  readonly #secret: string;
  readonly #http: WechatHttp;
  readonly #refreshMarginMs: number;
  readonly #refreshTimeoutMs: number;
  readonly #retry: RetryPolicy | undefined;

  constructor(runtime: TokenRuntime, options: TokenFetcherOptions) {
    this.#rt = runtime;
    this.#secret = options.secret;
    this.#http = options.http;
    this.#refreshMarginMs = options.refreshMarginMs;
    this.#refreshTimeoutMs = options.refreshTimeoutMs;
    if (options.retry !== false) {
      const r = options.retry ?? {};
      const maxRetries = r.maxRetries ?? DEFAULTS.maxRetries;
      if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) throw new AccessTokenError('WECHAT_TOKEN_CONFIG_INVALID', 'retry.maxRetries must be a non-negative integer');
      if (maxRetries > 0) {
        this.#retry = retry(handleWhen(isTransient), {
          maxAttempts: maxRetries,
          backoff: new ExponentialBackoff({
            initialDelay: positive('retry.initialDelayMs', r.initialDelayMs ?? DEFAULTS.initialDelayMs),
            maxDelay: positive('retry.maxDelayMs', r.maxDelayMs ?? DEFAULTS.maxDelayMs),
          }),
        });
        this.#retry.onRetry((e) => {
          runtime.stats.retries++;
          runtime.emit({ type: 'retry', attempt: e.attempt, delayMs: e.delay, error: 'error' in e ? toError(e.error) : new Error('retry') });
        });
      }
    }
  }

  /** A new token from WeChat (counted and reported as `fetched`); errors go through mapAbort. */
  async fetch(forced: boolean): Promise<StoredAccessToken> {
    const deadline = AbortSignal.timeout(this.#refreshTimeoutMs);
    const signal = AbortSignal.any([this.#rt.signal, deadline]);
    let attempts = 0;
    const once = async (s: AbortSignal): Promise<StoredAccessToken> => {
      attempts++;
      if (s.aborted) throw this.mapAbort(new WechatTransportError('WECHAT_ABORTED', 'refresh aborted'));
      return this.#fetchOnce(forced, s);
    };
    let rec: StoredAccessToken;
    try {
      rec = this.#retry && !forced ? await this.#retry.execute(({ signal: s }) => once(s), signal) : await once(signal);
    } catch (e) {
      throw this.mapAbort(e);
    }
    this.#rt.stats.fetches++;
    if (forced) this.#rt.stats.forcedFetches++;
    this.#rt.emit({ type: 'fetched', forced, expiresInSeconds: Math.round((rec.expiresAt - rec.fetchedAt) / 1000), attempts });
    return rec;
  }

  /** WECHAT_ABORTED caused by our own deadline or by close() becomes the manager's own error. */
  mapAbort(e: unknown): Error {
    const err = toError(e);
    if (!(err instanceof WechatTransportError && err.code === 'WECHAT_ABORTED')) return err;
    if (this.#rt.closed) return new AccessTokenError('WECHAT_TOKEN_CLOSED', 'the access_token manager was closed during a refresh', { cause: err });
    return new AccessTokenError('WECHAT_TOKEN_REFRESH_TIMEOUT', `refresh did not finish within ${this.#refreshTimeoutMs} ms`, { cause: err });
  }

  async #fetchOnce(forced: boolean, signal: AbortSignal): Promise<StoredAccessToken> {
    const { appid, mode } = this.#rt;
    const startedAt = this.#rt.now();
    const path = mode === 'stable' ? STABLE_TOKEN_PATH : CLASSIC_TOKEN_PATH;
    const res =
      mode === 'stable'
        ? await this.#http.request({
            method: 'POST',
            path,
            body: JSON.stringify({ grant_type: 'client_credential', appid, secret: this.#secret, ...(forced ? { force_refresh: true } : {}) }),
            signal,
          })
        : await this.#http.request({
            method: 'GET',
            path,
            query: { grant_type: 'client_credential', appid, secret: this.#secret },
            signal,
          });
    const body = WechatHttp.json(res);
    const apiError = wechatErrorOf(body, { path });
    if (apiError) throw apiError;
    const token = body['access_token'];
    const expiresIn = body['expires_in'];
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw new WechatTransportError('WECHAT_BAD_RESPONSE', `HTTP ${res.status} from ${path}: no usable access_token in the answer`, { status: res.status });
    }
    if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw new WechatTransportError('WECHAT_BAD_RESPONSE', `HTTP ${res.status} from ${path}: no usable expires_in in the answer`, { status: res.status });
    }
    const lifetimeMs = expiresIn * 1000;
    const expiresAt = startedAt + lifetimeMs;
    // Renew `margin` before expiry, but never before half the lifetime: a token handed out late in
    // its life (stable_token answers with the remaining seconds) must not trigger a refresh loop.
    const refreshAt = expiresAt - Math.min(this.#refreshMarginMs, lifetimeMs / 2);
    return { token, expiresAt, refreshAt, fetchedAt: startedAt };
  }
}
