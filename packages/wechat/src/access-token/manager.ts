// The access_token manager: one token per appid shared by every instance of a deployment,
// fetched from WeChat by exactly one of them per renewal, refreshed ahead of expiry, retried on
// transient failures, and served stale (while still valid) when WeChat or the store is in trouble.
import { randomUUID } from 'node:crypto';
import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from 'cockatiel';
import { WechatApiError, WechatTransportError, wechatErrorOf } from '../errors.js';
import { WechatHttp, type WechatHttpOptions } from '../http.js';
import type { AccessTokenSource } from '../token-source.js';
import { AccessTokenError } from './errors.js';
import { MemoryTokenStore, type StoredAccessToken, type TokenStore } from './store.js';

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

const DEFAULTS = {
  refreshMarginSeconds: 180,
  lockTtlMs: 30_000,
  refreshTimeoutMs: 20_000,
  pollIntervalMs: 100,
  failureBackoffMs: 5000,
  maxRetries: 3,
  initialDelayMs: 200,
  maxDelayMs: 2000,
} as const;

const REFRESH_LOCK = 'refresh';
const FORCE_LOCK = 'force';
const MAX_TOKEN_LENGTH = 2048;
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function isTransient(err: unknown): boolean {
  return (err instanceof WechatTransportError || err instanceof WechatApiError) && err.transient;
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new AccessTokenError('WECHAT_TOKEN_CONFIG_INVALID', `${name} must be a positive number`);
  return v;
}

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
  readonly #secret: string;
  readonly #http: WechatHttp;
  readonly #ownsHttp: boolean;
  readonly #store: TokenStore;
  readonly #name: string;
  readonly #now: () => number;
  readonly #onEvent: ((event: AccessTokenEvent) => void) | undefined;
  readonly #retry: RetryPolicy | undefined;
  readonly #abort = new AbortController();
  readonly #stats: AccessTokenStats = {
    fetches: 0,
    forcedFetches: 0,
    sharedReads: 0,
    invalidations: 0,
    failures: 0,
    retries: 0,
    staleServed: 0,
    storeUnavailable: 0,
    lockWaits: 0,
  };
  /** Tokens recently rejected through invalidate(): never adopted again from the store. */
  readonly #rejected: string[] = [];
  #current: StoredAccessToken | undefined;
  #inflight: Promise<StoredAccessToken> | undefined;
  /** No background refresh before this time (manager clock): set after a failure or a busy lock. */
  #notBefore = 0;
  #lastForcedAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #closed = false;

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
    this.#secret = options.secret;
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
    this.#now = options.now ?? Date.now;
    this.#onEvent = options.onEvent;
    this.#store = options.store ?? new MemoryTokenStore();
    // Stable and classic tokens are separate credentials at WeChat: separate records.
    this.#name = `${mode}:${options.appid}`;
    if (options.http instanceof WechatHttp) {
      this.#http = options.http;
      this.#ownsHttp = false;
    } else {
      this.#http = new WechatHttp(options.http ?? {});
      this.#ownsHttp = true;
    }
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
          this.#stats.retries++;
          this.#emit({ type: 'retry', attempt: e.attempt, delayMs: e.delay, error: 'error' in e ? toError(e.error) : new Error('retry') });
        });
      }
    }
  }

  /** Snapshot of the counters. */
  stats(): AccessTokenStats {
    return { ...this.#stats };
  }

  /** Expiry (manager clock, epoch ms) of the token held in memory, if any; for health checks. */
  get currentExpiresAt(): number | undefined {
    return this.#current?.expiresAt;
  }

  async getAccessToken(options: { signal?: AbortSignal } = {}): Promise<string> {
    this.#assertOpen();
    const signal = options.signal;
    if (signal?.aborted) throw new AccessTokenError('WECHAT_TOKEN_ABORTED', 'aborted by the caller', { cause: signal.reason });
    const now = this.#now();
    const cur = this.#current;
    if (cur && now < cur.expiresAt) {
      if (now >= cur.refreshAt && now >= this.#notBefore) this.#refreshInBackground();
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
    this.#stats.invalidations++;
    this.#rejected.push(token);
    if (this.#rejected.length > 8) this.#rejected.shift();
    let memory = false;
    if (this.#current?.token === token) {
      this.#current = undefined;
      this.#notBefore = 0;
      memory = true;
    }
    let store: boolean | 'unavailable';
    try {
      store = await this.#store.deleteIfToken(this.#name, token);
    } catch (e) {
      store = 'unavailable';
      this.#storeDown('delete', 'ignored', e);
    }
    this.#emit({ type: 'invalidated', memory, store });
  }

  /**
   * Explicitly replaces the token (e.g. it leaked). Stable mode sends `force_refresh: true`, which
   * invalidates the previous token at once for every instance and is limited by WeChat (20 a day,
   * 30 s apart): never called by the manager itself. Refused with
   * WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON within 30 s of the previous one (this process, and all
   * instances when the store is shared). Not retried: a retry inside 30 s would not refresh.
   */
  async forceRefresh(options: { signal?: AbortSignal } = {}): Promise<string> {
    this.#assertOpen();
    const now = this.#now();
    if (this.#lastForcedAt !== undefined && now - this.#lastForcedAt < FORCE_REFRESH_MIN_INTERVAL_MS) {
      const retryAfterMs = FORCE_REFRESH_MIN_INTERVAL_MS - (now - this.#lastForcedAt);
      throw new AccessTokenError('WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON', `a forced refresh was made less than 30 s ago; retry in ${retryAfterMs} ms`, { retryAfterMs });
    }
    this.#lastForcedAt = now;
    const previous = this.#inflight;
    const run = (async (): Promise<StoredAccessToken> => {
      if (previous) await previous.catch(() => undefined);
      return this.#forced();
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
    this.#assertOpen();
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
    if (this.#closed) return;
    this.#closed = true;
    this.stop();
    this.#abort.abort(new AccessTokenError('WECHAT_TOKEN_CLOSED', 'the access_token manager was closed'));
    const inflight = this.#inflight;
    if (inflight) await inflight.catch(() => undefined);
    this.#current = undefined;
    if (this.#ownsHttp) await this.#http.close();
  }

  // ---------------------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) throw new AccessTokenError('WECHAT_TOKEN_CLOSED', 'the access_token manager was closed');
  }

  #emit(event: DistributiveOmit<AccessTokenEvent, 'at' | 'appid' | 'mode'>): void {
    if (!this.#onEvent) return;
    try {
      this.#onEvent({ ...event, at: this.#now(), appid: this.appid, mode: this.mode } as AccessTokenEvent);
    } catch {
      // A faulty listener must not break token delivery.
    }
  }

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
    const p = this.#doRefresh().finally(() => {
      if (this.#inflight === p) this.#inflight = undefined;
    });
    this.#inflight = p;
    return p;
  }

  #refreshInBackground(): void {
    if (this.#inflight || this.#closed) return;
    this.#refresh().catch(() => {
      // #doRefresh already counted and reported the failure and served any still-valid token;
      // here none was left, so the next caller tries again in the foreground.
      this.#notBefore = this.#now() + this.failureBackoffMs;
    });
  }

  #usable(rec: StoredAccessToken | undefined, now: number): rec is StoredAccessToken {
    return rec !== undefined && now < rec.expiresAt && !this.#rejected.includes(rec.token);
  }

  #fresh(rec: StoredAccessToken | undefined, now: number): rec is StoredAccessToken {
    return this.#usable(rec, now) && now < rec.refreshAt;
  }

  #adopt(rec: StoredAccessToken): StoredAccessToken {
    this.#current = rec;
    this.#notBefore = 0;
    this.#stats.sharedReads++;
    this.#emit({ type: 'shared-read', expiresAt: rec.expiresAt });
    return rec;
  }

  /** The best still-valid token known (store or memory), for serving while someone else refreshes. */
  #bestUsable(stored: StoredAccessToken | undefined): StoredAccessToken | undefined {
    const now = this.#now();
    const candidates = [stored, this.#current].filter((r): r is StoredAccessToken => this.#usable(r, now));
    candidates.sort((a, b) => b.expiresAt - a.expiresAt);
    return candidates[0];
  }

  async #doRefresh(): Promise<StoredAccessToken> {
    this.#assertOpen();
    const store = this.#store;
    let stored: StoredAccessToken | undefined;
    try {
      stored = await store.get(this.#name);
    } catch (e) {
      return this.#onStoreDown('get', e);
    }
    if (this.#fresh(stored, this.#now())) return this.#adopt(stored);

    const waitUntil = Date.now() + this.waitTimeoutMs;
    let waited = false;
    for (;;) {
      this.#assertOpen();
      const owner = randomUUID();
      let acquired: boolean;
      try {
        acquired = await store.acquireLock(this.#name, REFRESH_LOCK, owner, this.lockTtlMs);
      } catch (e) {
        return this.#onStoreDown('lock', e);
      }
      if (acquired) {
        try {
          // Double-check: the previous holder may have published while we were acquiring.
          try {
            stored = await store.get(this.#name);
          } catch (e) {
            return await this.#onStoreDown('get', e);
          }
          if (this.#fresh(stored, this.#now())) return this.#adopt(stored);
          return await this.#fetchOrServeStale(stored, { lock: REFRESH_LOCK, owner });
        } finally {
          await this.#release(REFRESH_LOCK, owner);
        }
      }
      // Another instance is refreshing. A still-valid token (its old one, ours) is served meanwhile.
      const usable = this.#bestUsable(stored);
      if (usable) {
        this.#notBefore = this.#now() + this.pollIntervalMs;
        if (usable !== this.#current) return this.#adopt(usable);
        return usable;
      }
      if (!waited) {
        waited = true;
        this.#stats.lockWaits++;
        this.#emit({ type: 'lock-wait' });
      }
      if (Date.now() >= waitUntil) {
        const error = new AccessTokenError('WECHAT_TOKEN_WAIT_TIMEOUT', `no access_token appeared within ${this.waitTimeoutMs} ms while another instance held the refresh lock`);
        this.#stats.failures++;
        this.#emit({ type: 'refresh-failed', servingStale: false, error });
        throw error;
      }
      await this.#sleep(Math.min(this.pollIntervalMs, Math.max(1, waitUntil - Date.now())));
      try {
        stored = await store.get(this.#name);
      } catch (e) {
        return this.#onStoreDown('get', e);
      }
      if (this.#usable(stored, this.#now())) return this.#adopt(stored);
      // Still nothing: loop and try the lock again (its holder may have failed or died).
    }
  }

  /** Fetches and publishes; on failure serves a still-valid token if there is one. */
  async #fetchOrServeStale(stored: StoredAccessToken | undefined, fence: { lock: string; owner: string } | undefined): Promise<StoredAccessToken> {
    try {
      return await this.#fetchAndPublish(false, fence);
    } catch (e) {
      return this.#afterFetchFailure(e, stored);
    }
  }

  #afterFetchFailure(e: unknown, stored: StoredAccessToken | undefined): StoredAccessToken {
    const error = this.#mapAbort(e);
    if (error instanceof AccessTokenError && error.code === 'WECHAT_TOKEN_CLOSED') throw error;
    this.#stats.failures++;
    this.#notBefore = this.#now() + this.failureBackoffMs;
    const usable = this.#bestUsable(stored);
    this.#emit({ type: 'refresh-failed', servingStale: usable !== undefined, error });
    if (!usable) throw error;
    this.#current = usable;
    this.#stats.staleServed++;
    this.#emit({ type: 'served-stale', expiresAt: usable.expiresAt, error });
    return usable;
  }

  /**
   * The store failed. Stable mode: fetch in-process (stable_token is idempotent, so this cannot
   * supersede any other instance's token). Classic mode: a local fetch would invalidate every
   * other instance's token, so serve a still-valid token if we hold one, else fail.
   */
  async #onStoreDown(operation: StoreOperation, e: unknown): Promise<StoredAccessToken> {
    this.#assertOpen();
    const error = toError(e);
    this.#stats.storeUnavailable++;
    if (this.mode === 'stable') {
      this.#emit({ type: 'store-unavailable', operation, fallback: 'local-fetch', error });
      try {
        return await this.#fetchAndPublish(false, undefined);
      } catch (fetchErr) {
        return this.#afterFetchFailure(fetchErr, undefined);
      }
    }
    const usable = this.#bestUsable(undefined);
    if (usable) {
      this.#emit({ type: 'store-unavailable', operation, fallback: 'served-stale', error });
      this.#notBefore = this.#now() + this.failureBackoffMs;
      this.#stats.staleServed++;
      this.#emit({ type: 'served-stale', expiresAt: usable.expiresAt, error });
      return usable;
    }
    this.#emit({ type: 'store-unavailable', operation, fallback: 'fail', error });
    this.#stats.failures++;
    throw new AccessTokenError(
      'WECHAT_TOKEN_STORE_UNAVAILABLE',
      'the shared token store is unavailable; classic mode does not fetch without it, since every fetch supersedes the token other instances hold',
      { cause: e },
    );
  }

  #storeDown(operation: StoreOperation, fallback: 'memory-only' | 'ignored', e: unknown): void {
    this.#stats.storeUnavailable++;
    this.#emit({ type: 'store-unavailable', operation, fallback, error: toError(e) });
  }

  async #release(lock: string, owner: string): Promise<void> {
    try {
      await this.#store.releaseLock(this.#name, lock, owner);
    } catch (e) {
      // The lock lapses by itself after lockTtlMs.
      this.#storeDown('unlock', 'ignored', e);
    }
  }

  async #fetchAndPublish(forced: boolean, fence: { lock: string; owner: string } | undefined): Promise<StoredAccessToken> {
    const rec = await this.#fetch(forced);
    // WeChat just vouched for it (stable_token may hand back a token we were told was rejected).
    const i = this.#rejected.indexOf(rec.token);
    if (i >= 0) this.#rejected.splice(i, 1);
    this.#current = rec;
    this.#notBefore = 0;
    if (fence) {
      try {
        const written = await this.#store.set(this.#name, rec, { ttlMs: rec.expiresAt - this.#now(), fence });
        if (!written) this.#emit({ type: 'lock-lost' });
      } catch (e) {
        this.#storeDown('set', 'memory-only', e);
      }
    }
    return rec;
  }

  async #fetch(forced: boolean): Promise<StoredAccessToken> {
    const deadline = AbortSignal.timeout(this.refreshTimeoutMs);
    const signal = AbortSignal.any([this.#abort.signal, deadline]);
    let attempts = 0;
    const once = async (s: AbortSignal): Promise<StoredAccessToken> => {
      attempts++;
      if (s.aborted) throw this.#mapAbort(new WechatTransportError('WECHAT_ABORTED', 'refresh aborted'));
      return this.#fetchOnce(forced, s);
    };
    let rec: StoredAccessToken;
    try {
      rec = this.#retry && !forced ? await this.#retry.execute(({ signal: s }) => once(s), signal) : await once(signal);
    } catch (e) {
      throw this.#mapAbort(e);
    }
    this.#stats.fetches++;
    if (forced) this.#stats.forcedFetches++;
    this.#emit({ type: 'fetched', forced, expiresInSeconds: Math.round((rec.expiresAt - rec.fetchedAt) / 1000), attempts });
    return rec;
  }

  /** WECHAT_ABORTED caused by our own deadline or by close() becomes the manager's own error. */
  #mapAbort(e: unknown): Error {
    const err = toError(e);
    if (!(err instanceof WechatTransportError && err.code === 'WECHAT_ABORTED')) return err;
    if (this.#closed) return new AccessTokenError('WECHAT_TOKEN_CLOSED', 'the access_token manager was closed during a refresh', { cause: err });
    return new AccessTokenError('WECHAT_TOKEN_REFRESH_TIMEOUT', `refresh did not finish within ${this.refreshTimeoutMs} ms`, { cause: err });
  }

  async #fetchOnce(forced: boolean, signal: AbortSignal): Promise<StoredAccessToken> {
    const startedAt = this.#now();
    const path = this.mode === 'stable' ? STABLE_TOKEN_PATH : CLASSIC_TOKEN_PATH;
    const res =
      this.mode === 'stable'
        ? await this.#http.request({
            method: 'POST',
            path,
            body: JSON.stringify({ grant_type: 'client_credential', appid: this.appid, secret: this.#secret, ...(forced ? { force_refresh: true } : {}) }),
            signal,
          })
        : await this.#http.request({
            method: 'GET',
            path,
            query: { grant_type: 'client_credential', appid: this.appid, secret: this.#secret },
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
    const refreshAt = expiresAt - Math.min(this.refreshMarginMs, lifetimeMs / 2);
    return { token, expiresAt, refreshAt, fetchedAt: startedAt };
  }

  async #forced(): Promise<StoredAccessToken> {
    this.#assertOpen();
    const store = this.#store;
    const owner = randomUUID();
    let fence: { lock: string; owner: string } | undefined;
    let storeUp = true;
    // The cross-instance guard: one forced refresh per 30 s for everybody sharing the store
    // (a per-process store relies on the in-process guard of forceRefresh()).
    try {
      if (store.shared && !(await store.acquireLock(this.#name, FORCE_LOCK, owner, FORCE_REFRESH_MIN_INTERVAL_MS))) {
        throw new AccessTokenError('WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON', 'another instance made a forced refresh less than 30 s ago');
      }
    } catch (e) {
      if (e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON') throw e;
      storeUp = false;
      this.#forcedStoreDown('lock', e);
    }
    // Then the refresh lock, so that no ordinary refresh runs concurrently.
    const waitUntil = Date.now() + this.waitTimeoutMs;
    while (storeUp) {
      this.#assertOpen();
      try {
        if (await store.acquireLock(this.#name, REFRESH_LOCK, owner, this.lockTtlMs)) {
          fence = { lock: REFRESH_LOCK, owner };
          break;
        }
      } catch (e) {
        storeUp = false;
        this.#forcedStoreDown('lock', e);
        break;
      }
      if (Date.now() >= waitUntil) {
        throw new AccessTokenError('WECHAT_TOKEN_WAIT_TIMEOUT', `the refresh lock stayed busy for ${this.waitTimeoutMs} ms`);
      }
      await this.#sleep(this.pollIntervalMs);
    }
    try {
      try {
        return await this.#fetchAndPublish(true, fence);
      } catch (e) {
        const error = this.#mapAbort(e);
        this.#stats.failures++;
        this.#emit({ type: 'refresh-failed', servingStale: false, error });
        throw error;
      }
    } finally {
      if (fence) await this.#release(REFRESH_LOCK, owner);
    }
  }

  #forcedStoreDown(operation: StoreOperation, e: unknown): void {
    this.#stats.storeUnavailable++;
    const error = toError(e);
    if (this.mode === 'classic') {
      this.#emit({ type: 'store-unavailable', operation, fallback: 'fail', error });
      throw new AccessTokenError('WECHAT_TOKEN_STORE_UNAVAILABLE', 'the shared token store is unavailable; classic mode does not fetch without it', { cause: e });
    }
    this.#emit({ type: 'store-unavailable', operation, fallback: 'local-fetch', error });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const signal = this.#abort.signal;
      if (signal.aborted) return reject(new AccessTokenError('WECHAT_TOKEN_CLOSED', 'the access_token manager was closed'));
      const onAbort = () => {
        clearTimeout(t);
        reject(new AccessTokenError('WECHAT_TOKEN_CLOSED', 'the access_token manager was closed'));
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #schedule(delayMs: number): void {
    if (!this.#running || this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS));
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (!this.#running || this.#closed) return;
    let failed = false;
    if (!this.#fresh(this.#current, this.#now())) {
      try {
        await this.#refresh();
      } catch {
        // Already counted and reported by the refresh itself.
        failed = true;
        if (this.#closed) return;
        this.#notBefore = this.#now() + this.failureBackoffMs;
      }
    }
    const now = this.#now();
    const cur = this.#current;
    let delay: number;
    if (this.#fresh(cur, now)) delay = cur.refreshAt - now;
    else if (failed) delay = this.failureBackoffMs;
    else delay = Math.max(this.pollIntervalMs, this.#notBefore - now);
    this.#schedule(delay);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
