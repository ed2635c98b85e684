// How the instances sharing a store agree on one token: a refresh first reads the store, then takes
// the store's refresh lock, reads again (the previous holder may just have published), fetches and
// publishes under the lock (fenced: a holder whose lock lapsed never overwrites a newer token);
// whoever finds the lock taken serves a still-valid token or waits for the holder's. A forced
// refresh also takes the 30-second force lock. When the store fails the mode decides: stable
// fetches in-process (stable_token is idempotent), classic serves what it holds or fails (each
// classic fetch supersedes the token every other instance holds).
import { randomUUID } from 'node:crypto';
import type { TokenCache } from './cache.js';
import { AccessTokenError } from './errors.js';
import type { TokenFetcher } from './fetcher.js';
import { FORCE_REFRESH_MIN_INTERVAL_MS, type StoreOperation } from './options.js';
import { toError, type TokenRuntime } from './runtime.js';
import type { StoredAccessToken, TokenStore } from './store.js';

const REFRESH_LOCK = 'refresh';
const FORCE_LOCK = 'force';

interface Fence {
  lock: string;
  owner: string;
}

export interface CoordinationTimings {
  lockTtlMs: number;
  waitTimeoutMs: number;
  pollIntervalMs: number;
  failureBackoffMs: number;
}

export class SharedRefresh {
  readonly #rt: TokenRuntime;
  readonly #store: TokenStore;
  /** The store's record name: stable and classic tokens are separate credentials at WeChat. */
  readonly #name: string;
  readonly #cache: TokenCache;
  readonly #fetcher: TokenFetcher;
  readonly #t: CoordinationTimings;

  constructor(runtime: TokenRuntime, store: TokenStore, cache: TokenCache, fetcher: TokenFetcher, timings: CoordinationTimings) {
    this.#rt = runtime;
    this.#store = store;
    this.#name = `${runtime.mode}:${runtime.appid}`;
    this.#cache = cache;
    this.#fetcher = fetcher;
    this.#t = timings;
  }

  /** One refresh: adopt the store's fresh token, or fetch under the lock, or wait for its holder. */
  async refresh(): Promise<StoredAccessToken> {
    this.#rt.assertOpen();
    const store = this.#store;
    let stored: StoredAccessToken | undefined;
    try {
      stored = await store.get(this.#name);
    } catch (e) {
      return this.#onStoreDown('get', e);
    }
    if (this.#cache.fresh(stored, this.#rt.now())) return this.#adopt(stored);

    const waitUntil = Date.now() + this.#t.waitTimeoutMs;
    let waited = false;
    for (;;) {
      this.#rt.assertOpen();
      const owner = randomUUID();
      let acquired: boolean;
      try {
        acquired = await store.acquireLock(this.#name, REFRESH_LOCK, owner, this.#t.lockTtlMs);
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
          if (this.#cache.fresh(stored, this.#rt.now())) return this.#adopt(stored);
          return await this.#fetchOrServeStale(stored, { lock: REFRESH_LOCK, owner });
        } finally {
          await this.#release(REFRESH_LOCK, owner);
        }
      }
      // Another instance is refreshing. A still-valid token (its old one, ours) is served meanwhile.
      const usable = this.#cache.bestUsable(stored, this.#rt.now());
      if (usable) {
        this.#cache.notBefore = this.#rt.now() + this.#t.pollIntervalMs;
        if (usable !== this.#cache.current) return this.#adopt(usable);
        return usable;
      }
      if (!waited) {
        waited = true;
        this.#rt.stats.lockWaits++;
        this.#rt.emit({ type: 'lock-wait' });
      }
      if (Date.now() >= waitUntil) {
        const error = new AccessTokenError('WECHAT_TOKEN_WAIT_TIMEOUT', `no access_token appeared within ${this.#t.waitTimeoutMs} ms while another instance held the refresh lock`);
        this.#rt.stats.failures++;
        this.#rt.emit({ type: 'refresh-failed', servingStale: false, error });
        throw error;
      }
      await this.#rt.sleep(Math.min(this.#t.pollIntervalMs, Math.max(1, waitUntil - Date.now())));
      try {
        stored = await store.get(this.#name);
      } catch (e) {
        return this.#onStoreDown('get', e);
      }
      if (this.#cache.usable(stored, this.#rt.now())) return this.#adopt(stored);
      // Still nothing: loop and try the lock again (its holder may have failed or died).
    }
  }

  /** A forced refresh: the 30-second force lock (shared stores), then the refresh lock, then a forced fetch. */
  async forced(): Promise<StoredAccessToken> {
    this.#rt.assertOpen();
    const store = this.#store;
    const owner = randomUUID();
    let fence: Fence | undefined;
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
    const waitUntil = Date.now() + this.#t.waitTimeoutMs;
    while (storeUp) {
      this.#rt.assertOpen();
      try {
        if (await store.acquireLock(this.#name, REFRESH_LOCK, owner, this.#t.lockTtlMs)) {
          fence = { lock: REFRESH_LOCK, owner };
          break;
        }
      } catch (e) {
        storeUp = false;
        this.#forcedStoreDown('lock', e);
        break;
      }
      if (Date.now() >= waitUntil) {
        throw new AccessTokenError('WECHAT_TOKEN_WAIT_TIMEOUT', `the refresh lock stayed busy for ${this.#t.waitTimeoutMs} ms`);
      }
      await this.#rt.sleep(this.#t.pollIntervalMs);
    }
    try {
      try {
        return await this.#fetchAndPublish(true, fence);
      } catch (e) {
        const error = this.#fetcher.mapAbort(e);
        this.#rt.stats.failures++;
        this.#rt.emit({ type: 'refresh-failed', servingStale: false, error });
        throw error;
      }
    } finally {
      if (fence) await this.#release(REFRESH_LOCK, owner);
    }
  }

  /** Deletes `token` from the store if it still holds exactly that token; 'unavailable' when the store failed. */
  async dropFromStore(token: string): Promise<boolean | 'unavailable'> {
    try {
      return await this.#store.deleteIfToken(this.#name, token);
    } catch (e) {
      this.#storeDown('delete', 'ignored', e);
      return 'unavailable';
    }
  }

  #adopt(rec: StoredAccessToken): StoredAccessToken {
    this.#cache.current = rec;
    this.#cache.notBefore = 0;
    this.#rt.stats.sharedReads++;
    this.#rt.emit({ type: 'shared-read', expiresAt: rec.expiresAt });
    return rec;
  }

  /** Fetches and publishes; on failure serves a still-valid token if there is one. */
  async #fetchOrServeStale(stored: StoredAccessToken | undefined, fence: Fence | undefined): Promise<StoredAccessToken> {
    try {
      return await this.#fetchAndPublish(false, fence);
    } catch (e) {
      return this.#afterFetchFailure(e, stored);
    }
  }

  #afterFetchFailure(e: unknown, stored: StoredAccessToken | undefined): StoredAccessToken {
    const error = this.#fetcher.mapAbort(e);
    if (error instanceof AccessTokenError && error.code === 'WECHAT_TOKEN_CLOSED') throw error;
    this.#rt.stats.failures++;
    this.#cache.notBefore = this.#rt.now() + this.#t.failureBackoffMs;
    const usable = this.#cache.bestUsable(stored, this.#rt.now());
    this.#rt.emit({ type: 'refresh-failed', servingStale: usable !== undefined, error });
    if (!usable) throw error;
    this.#cache.current = usable;
    this.#rt.stats.staleServed++;
    this.#rt.emit({ type: 'served-stale', expiresAt: usable.expiresAt, error });
    return usable;
  }

  /**
   * The store failed. Stable mode: fetch in-process (stable_token is idempotent, so this cannot
   * supersede any other instance's token). Classic mode: a local fetch would invalidate every
   * other instance's token, so serve a still-valid token if we hold one, else fail.
   */
  async #onStoreDown(operation: StoreOperation, e: unknown): Promise<StoredAccessToken> {
    this.#rt.assertOpen();
    const error = toError(e);
    this.#rt.stats.storeUnavailable++;
    if (this.#rt.mode === 'stable') {
      this.#rt.emit({ type: 'store-unavailable', operation, fallback: 'local-fetch', error });
      try {
        return await this.#fetchAndPublish(false, undefined);
      } catch (fetchErr) {
        return this.#afterFetchFailure(fetchErr, undefined);
      }
    }
    const usable = this.#cache.bestUsable(undefined, this.#rt.now());
    if (usable) {
      this.#rt.emit({ type: 'store-unavailable', operation, fallback: 'served-stale', error });
      this.#cache.notBefore = this.#rt.now() + this.#t.failureBackoffMs;
      this.#rt.stats.staleServed++;
      this.#rt.emit({ type: 'served-stale', expiresAt: usable.expiresAt, error });
      return usable;
    }
    this.#rt.emit({ type: 'store-unavailable', operation, fallback: 'fail', error });
    this.#rt.stats.failures++;
    throw new AccessTokenError(
      'WECHAT_TOKEN_STORE_UNAVAILABLE',
      'the shared token store is unavailable; classic mode does not fetch without it, since every fetch supersedes the token other instances hold',
      { cause: e },
    );
  }

  #storeDown(operation: StoreOperation, fallback: 'memory-only' | 'ignored', e: unknown): void {
    this.#rt.stats.storeUnavailable++;
    this.#rt.emit({ type: 'store-unavailable', operation, fallback, error: toError(e) });
  }

  #forcedStoreDown(operation: StoreOperation, e: unknown): void {
    this.#rt.stats.storeUnavailable++;
    const error = toError(e);
    if (this.#rt.mode === 'classic') {
      this.#rt.emit({ type: 'store-unavailable', operation, fallback: 'fail', error });
      throw new AccessTokenError('WECHAT_TOKEN_STORE_UNAVAILABLE', 'the shared token store is unavailable; classic mode does not fetch without it', { cause: e });
    }
    this.#rt.emit({ type: 'store-unavailable', operation, fallback: 'local-fetch', error });
  }

  async #release(lock: string, owner: string): Promise<void> {
    try {
      await this.#store.releaseLock(this.#name, lock, owner);
    } catch (e) {
      // The lock lapses by itself after lockTtlMs.
      this.#storeDown('unlock', 'ignored', e);
    }
  }

  async #fetchAndPublish(forced: boolean, fence: Fence | undefined): Promise<StoredAccessToken> {
    const rec = await this.#fetcher.fetch(forced);
    this.#cache.accept(rec);
    if (fence) {
      try {
        const written = await this.#store.set(this.#name, rec, { ttlMs: rec.expiresAt - this.#rt.now(), fence });
        if (!written) this.#rt.emit({ type: 'lock-lost' });
      } catch (e) {
        this.#storeDown('set', 'memory-only', e);
      }
    }
    return rec;
  }
}
