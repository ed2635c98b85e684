// The access_token manager's options, the events it reports and its counters, with the defaults
// and the checks of the options.
import type { WechatHttp, WechatHttpOptions } from '../http.js';
import { AccessTokenError } from './errors.js';
import type { TokenStore } from './store.js';

export type AccessTokenMode = 'stable' | 'classic';

export const STABLE_TOKEN_PATH = '/cgi-bin/stable_token';
export const CLASSIC_TOKEN_PATH = '/cgi-bin/token';
/** WeChat refuses (ignores) forced stable_token refreshes closer together than this. */
export const FORCE_REFRESH_MIN_INTERVAL_MS = 30_000;

export interface AccessTokenRetryOptions {
  /** Retries after the first attempt (default 3). 0 disables retrying. */
  maxRetries?: number;
  /** First backoff delay (default 200 ms); later ones grow exponentially, with jitter. */
  initialDelayMs?: number;
  /** Largest backoff delay (default 2000 ms). */
  maxDelayMs?: number;
}

export interface AccessTokenManagerOptions {
  appid: string;
  /** AppSecret. Only ever sent to WeChat; never logged, never part of an error or event. */
  secret: string;
  /** A shared WechatHttp (not closed by the manager), or options for a private one (closed by `close()`). */
  http?: WechatHttp | WechatHttpOptions;
  /** `stable` (default): POST /cgi-bin/stable_token. `classic`: GET /cgi-bin/token, where each fetch supersedes the previous token. */
  mode?: AccessTokenMode;
  /** Where tokens are shared; a per-process MemoryTokenStore by default. Use RedisTokenStore for several instances. */
  store?: TokenStore;
  /**
   * Seconds before expiry from which the token is renewed while still being served (default 180).
   * Keep it under 300: stable_token only hands out the successor during the last 5 minutes of a
   * token's life; earlier it returns the same token again. A token whose whole lifetime is shorter
   * than twice the margin is renewed at half its lifetime instead.
   */
  refreshMarginSeconds?: number;
  /** Life of the shared refresh lock (default 30000 ms). Must exceed `refreshTimeoutMs`. */
  lockTtlMs?: number;
  /** Deadline of one refresh, retries included (default 20000 ms). */
  refreshTimeoutMs?: number;
  /** How long a caller with no valid token waits for another instance's refresh (default `lockTtlMs`). */
  waitTimeoutMs?: number;
  /** Interval of store reads while waiting for another instance (default 100 ms). */
  pollIntervalMs?: number;
  /** After a failed refresh, no new background attempt before this many ms (default 5000). */
  failureBackoffMs?: number;
  /** Backoff of transient failures (errcode -1 / 45011, unreachable, timeout). `false`: no retry. */
  retry?: AccessTokenRetryOptions | false;
  /** Clock in epoch ms (tests). Default Date.now. */
  now?: () => number;
  /** Told about everything worth a log line or a metric. Exceptions it throws are ignored. */
  onEvent?: (event: AccessTokenEvent) => void;
}

export type StoreOperation = 'get' | 'set' | 'delete' | 'lock' | 'unlock';

/** Events carry neither the secret nor tokens. `at` is the manager clock (epoch ms). */
export type AccessTokenEvent =
  | { type: 'fetched'; at: number; appid: string; mode: AccessTokenMode; forced: boolean; expiresInSeconds: number; attempts: number }
  | { type: 'shared-read'; at: number; appid: string; mode: AccessTokenMode; expiresAt: number }
  | { type: 'retry'; at: number; appid: string; mode: AccessTokenMode; attempt: number; delayMs: number; error: Error }
  /** A refresh failed (after retries). `servingStale`: a still-valid token keeps being served (a `served-stale` event follows). */
  | { type: 'refresh-failed'; at: number; appid: string; mode: AccessTokenMode; servingStale: boolean; error: Error }
  | { type: 'served-stale'; at: number; appid: string; mode: AccessTokenMode; expiresAt: number; error: Error }
  | { type: 'invalidated'; at: number; appid: string; mode: AccessTokenMode; memory: boolean; store: boolean | 'unavailable' }
  | { type: 'lock-wait'; at: number; appid: string; mode: AccessTokenMode }
  | { type: 'lock-lost'; at: number; appid: string; mode: AccessTokenMode }
  | {
      type: 'store-unavailable';
      at: number;
      appid: string;
      mode: AccessTokenMode;
      operation: StoreOperation;
      /** What the manager did instead: fetched in-process, served a still-valid token, kept the token in memory only, failed, or ignored it. */
      fallback: 'local-fetch' | 'served-stale' | 'memory-only' | 'fail' | 'ignored';
      error: Error;
    };

/** Counters since construction, for a metrics exporter. */
export interface AccessTokenStats {
  /** Successful fetches from WeChat (forced ones included). */
  fetches: number;
  forcedFetches: number;
  /** Tokens adopted from the shared store (fetched by another instance or an earlier refresh). */
  sharedReads: number;
  /** `invalidate()` calls. */
  invalidations: number;
  /** Refreshes that failed (after retries). */
  failures: number;
  /** Retries of transient failures. */
  retries: number;
  /** Times a still-valid token was served after a failed refresh. */
  staleServed: number;
  /** Store operations that failed or timed out. */
  storeUnavailable: number;
  /** Times this instance waited for another instance's refresh. */
  lockWaits: number;
}

export const DEFAULTS = {
  refreshMarginSeconds: 180,
  lockTtlMs: 30_000,
  refreshTimeoutMs: 20_000,
  pollIntervalMs: 100,
  failureBackoffMs: 5000,
  maxRetries: 3,
  initialDelayMs: 200,
  maxDelayMs: 2000,
} as const;

/** A positive finite number, or WECHAT_TOKEN_CONFIG_INVALID naming the option. */
export function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new AccessTokenError('WECHAT_TOKEN_CONFIG_INVALID', `${name} must be a positive number`);
  return v;
}
