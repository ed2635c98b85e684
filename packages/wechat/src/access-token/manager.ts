// The access_token manager: one token per appid shared by every instance of a deployment,
// fetched from WeChat by exactly one of them per renewal, refreshed ahead of expiry, retried on
// transient failures, and served stale (while still valid) when WeChat or the store is in trouble.
// This file is the policy a caller meets: serve the held token, refresh it in the background from
// its refresh time, one refresh in flight per process, the timer of start(), the forced-refresh
// guard. How instances agree through the store is coordination.ts; the WeChat call is fetcher.ts.
import { WechatHttp } from '../http.js';
import type { AccessTokenSource } from '../token-source.js';
import { TokenCache } from './cache.js';
import { SharedRefresh } from './coordination.js';
import { AccessTokenError } from './errors.js';
import { TokenFetcher } from './fetcher.js';
import { DEFAULTS, FORCE_REFRESH_MIN_INTERVAL_MS, positive, type AccessTokenManagerOptions, type AccessTokenMode, type AccessTokenStats } from './options.js';
import { TokenRuntime } from './runtime.js';
import { MemoryTokenStore, type StoredAccessToken } from './store.js';

const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Implements AccessTokenSource for one appid. See the package README ("access_token manager")
 * for the lookup order, the locking protocol and the failure behaviour.
 */
export class AccessTokenManager implements AccessTokenSource {
  readonly appid: string;
  readonly mode: AccessTokenMode;
  readonly refreshMarginMs: number;
  readonly lockTtlMs: number;
  readonly refreshTimeoutMs: number;
  readonly waitTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly failureBackoffMs: number;
  readonly #http: WechatHttp;
  readonly #ownsHttp: boolean;
  readonly #rt: TokenRuntime;
  readonly #cache = new TokenCache();
  readonly #shared: SharedRefresh;
  #inflight: Promise<StoredAccessToken> | undefined;
  #lastForcedAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: AccessTokenManagerOptions) {
    if (!options || typeof options.appid !== 'string' || options.appid.length === 0) {
      throw new AccessTokenError('WECHAT_TOKEN_CONFIG_INVALID', 'appid must be a non-empty string');
    }
    if (typeof options.secret !== 'string' || options.secret.length === 0) {
      throw new AccessTokenError('WECHAT_TOKEN_CONFIG_INVALID', 'secret must be a non-empty string');
    }
    const mode = options.mode ?? 'stable';
    if (mode !== 'stable' && mode !== 'classic') throw new AccessTokenError('WECHAT_TOKEN_CONFIG_INVALID', 'mode must be "stable" or "classic"');
    this.appid = options.appid;
    this.mode = mode;
    const margin = options.refreshMarginSeconds ?? DEFAULTS.refreshMarginSeconds;
    if (!Number.isFinite(margin) || margin < 0) throw new AccessTokenError('WECHAT_TOKEN_CONFIG_INVALID', 'refreshMarginSeconds must be a non-negative number');
    this.refreshMarginMs = margin * 1000;
    this.lockTtlMs = positive('lockTtlMs', options.lockTtlMs ?? DEFAULTS.lockTtlMs);
    this.refreshTimeoutMs = positive('refreshTimeoutMs', options.refreshTimeoutMs ?? DEFAULTS.refreshTimeoutMs);
    if (this.lockTtlMs <= this.refreshTimeoutMs) {
      throw new AccessTokenError('WECHAT_TOKEN_CONFIG_INVALID', 'lockTtlMs must exceed refreshTimeoutMs, or the lock could lapse while its holder still fetches');
    }
    this.waitTimeoutMs = positive('waitTimeoutMs', options.waitTimeoutMs ?? this.lockTtlMs);
    this.pollIntervalMs = positive('pollIntervalMs', options.pollIntervalMs ?? DEFAULTS.pollIntervalMs);
    this.failureBackoffMs = positive('failureBackoffMs', options.failureBackoffMs ?? DEFAULTS.failureBackoffMs);
    this.#rt = new TokenRuntime(options.appid, mode, options.now ?? Date.now, options.onEvent);
    const store = options.store ?? new MemoryTokenStore();
    if (options.http instanceof WechatHttp) {
      this.#http = options.http;
      this.#ownsHttp = false;
    } else {
      this.#http = new WechatHttp(options.http ?? {});
      this.#ownsHttp = true;
    }
    const fetcher = new TokenFetcher(this.#rt, {
      secret: options.secret,
      http: this.#http,
      refreshMarginMs: this.refreshMarginMs,
      refreshTimeoutMs: this.refreshTimeoutMs,
      retry: options.retry,
    });
    this.#shared = new SharedRefresh(this.#rt, store, this.#cache, fetcher, {
      lockTtlMs: this.lockTtlMs,
      waitTimeoutMs: this.waitTimeoutMs,
      pollIntervalMs: this.pollIntervalMs,
      failureBackoffMs: this.failureBackoffMs,
    });
  }

  /** Snapshot of the counters. */
  stats(): AccessTokenStats {
    return { ...this.#rt.stats };
  }

  /** Expiry (manager clock, epoch ms) of the token held in memory, if any; for health checks. */
  get currentExpiresAt(): number | undefined {
    return this.#cache.current?.expiresAt;
  }

  async getAccessToken(options: { signal?: AbortSignal } = {}): Promise<string> {
    this.#rt.assertOpen();
    const signal = options.signal;
    if (signal?.aborted) throw new AccessTokenError('WECHAT_TOKEN_ABORTED', 'aborted by the caller', { cause: signal.reason });
    const now = this.#rt.now();
    const cur = this.#cache.current;
    if (cur && now < cur.expiresAt) {
      if (now >= cur.refreshAt && now >= this.#cache.notBefore) this.#refreshInBackground();
      return cur.token;
    }
    const rec = await this.#withSignal(this.#refresh(), signal);
    return rec.token;
  }

  /**
   * WeChat rejected `token`: drop it from memory and from the store, each only if it still holds
   * exactly that token (so a late invalidation never wipes a newer token).
   */
  async invalidate(token: string): Promise<void> {
    if (typeof token !== 'string' || token.length === 0) return;
    this.#rt.stats.invalidations++;
    const memory = this.#cache.reject(token);
    const store = await this.#shared.dropFromStore(token);
    this.#rt.emit({ type: 'invalidated', memory, store });
  }

  /**
   * Explicitly replaces the token (e.g. it leaked). Stable mode sends `force_refresh: true`, which
   * invalidates the previous token at once for every instance and is limited by WeChat (20 a day,
   * 30 s apart): never called by the manager itself. Refused with
   * WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON within 30 s of the previous one (this process, and all
   * instances when the store is shared). Not retried: a retry inside 30 s would not refresh.
   */
  async forceRefresh(options: { signal?: AbortSignal } = {}): Promise<string> {
    this.#rt.assertOpen();
    const now = this.#rt.now();
    if (this.#lastForcedAt !== undefined && now - this.#lastForcedAt < FORCE_REFRESH_MIN_INTERVAL_MS) {
      const retryAfterMs = FORCE_REFRESH_MIN_INTERVAL_MS - (now - this.#lastForcedAt);
      throw new AccessTokenError('WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON', `a forced refresh was made less than 30 s ago; retry in ${retryAfterMs} ms`, { retryAfterMs });
    }
    this.#lastForcedAt = now;
    const previous = this.#inflight;
    const run = (async (): Promise<StoredAccessToken> => {
      if (previous) await previous.catch(() => undefined);
      return this.#shared.forced();
    })();
    const p = run.finally(() => {
      if (this.#inflight === p) this.#inflight = undefined;
    });
    this.#inflight = p;
    const rec = await this.#withSignal(p, options.signal);
    return rec.token;
  }

  /**
   * Keeps the token fresh without traffic: loads it now, then refreshes at each `refreshAt`.
   * The timer never keeps the process alive (unref). Idempotent.
   */
  start(): void {
    this.#rt.assertOpen();
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Stops the timer, aborts any refresh in progress, closes a privately owned WechatHttp. Idempotent. */
  async close(): Promise<void> {
    if (this.#rt.closed) return;
    this.#rt.close();
    this.stop();
    const inflight = this.#inflight;
    if (inflight) await inflight.catch(() => undefined);
    this.#cache.current = undefined;
    if (this.#ownsHttp) await this.#http.close();
  }

  // ---------------------------------------------------------------------------------------------

  #withSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    if (!signal) return p;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new AccessTokenError('WECHAT_TOKEN_ABORTED', 'aborted by the caller', { cause: signal.reason }));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  /** Single-flight: every caller in this process shares one refresh. */
  #refresh(): Promise<StoredAccessToken> {
    if (this.#inflight) return this.#inflight;
    const p = this.#shared.refresh().finally(() => {
      if (this.#inflight === p) this.#inflight = undefined;
    });
    this.#inflight = p;
    return p;
  }

  #refreshInBackground(): void {
    if (this.#inflight || this.#rt.closed) return;
    this.#refresh().catch(() => {
      // The refresh already counted and reported the failure and served any still-valid token;
      // here none was left, so the next caller tries again in the foreground.
      this.#cache.notBefore = this.#rt.now() + this.failureBackoffMs;
    });
  }

  #schedule(delayMs: number): void {
    if (!this.#running || this.#rt.closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS));
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (!this.#running || this.#rt.closed) return;
    let failed = false;
    if (!this.#cache.fresh(this.#cache.current, this.#rt.now())) {
      try {
        await this.#refresh();
      } catch {
        // Already counted and reported by the refresh itself.
        failed = true;
        if (this.#rt.closed) return;
        this.#cache.notBefore = this.#rt.now() + this.failureBackoffMs;
      }
    }
    const now = this.#rt.now();
    const cur = this.#cache.current;
    let delay: number;
    if (this.#cache.fresh(cur, now)) delay = cur.refreshAt - now;
    else if (failed) delay = this.failureBackoffMs;
    else delay = Math.max(this.pollIntervalMs, this.#cache.notBefore - now);
    this.#schedule(delay);
  }
}
