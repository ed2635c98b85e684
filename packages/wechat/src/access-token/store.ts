// Where access_tokens live between fetches. The manager keeps the current token in memory and,
// with a shared store, publishes it there so that every instance serves the same token and only
// one of them (the holder of the refresh lock) ever asks WeChat for a new one.

/** One token as the manager stores it. Times are epoch milliseconds of the manager's clock. */
export interface StoredAccessToken {
  token: string;
  /** When WeChat stops accepting it: fetch start + expires_in (so never later than WeChat's own count). */
  expiresAt: number;
  /** From when it should be replaced (proactive refresh): expiresAt − refresh margin. */
  refreshAt: number;
  /** When the fetch that produced it started. */
  fetchedAt: number;
}

export interface TokenStoreSetOptions {
  /** How long the store may keep the record (ms); the manager passes the token's remaining life. */
  ttlMs: number;
  /** Write only while `owner` still holds lock `lock` of the same name (fencing); otherwise return false. */
  fence?: { lock: string; owner: string };
}

/**
 * Storage of the current token per name (`<mode>:<appid>`) and of short named locks. Every
 * method either settles promptly or rejects (implementations bound their own I/O with a timeout);
 * a rejection means "store unavailable" to the manager.
 */
export interface TokenStore {
  /** True when several processes see the same data (Redis); false for a per-process store. */
  readonly shared: boolean;
  get(name: string): Promise<StoredAccessToken | undefined>;
  /** Stores the record; false if a fence was given and the lock is no longer held by its owner. */
  set(name: string, record: StoredAccessToken, options: TokenStoreSetOptions): Promise<boolean>;
  /** Deletes the record only if it still holds `token` (compare-and-delete); true if deleted. */
  deleteIfToken(name: string, token: string): Promise<boolean>;
  /** Takes lock `lock` of `name` for `ttlMs` if nobody holds it (SET NX PX); true if taken. */
  acquireLock(name: string, lock: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock only if `owner` still holds it (compare-and-delete); true if released. */
  releaseLock(name: string, lock: string, owner: string): Promise<boolean>;
}

interface MemoryEntry<T> {
  value: T;
  until: number;
}

/**
 * The default store: a Map in this process. Enough for a single instance; several instances each
 * with their own memory store each fetch their own token, which stable_token tolerates (it returns
 * the same token) but classic /cgi-bin/token does not (each fetch supersedes the others' token).
 * Expiry of entries uses the real clock (`Date.now`).
 */
export class MemoryTokenStore implements TokenStore {
  readonly shared = false;
  readonly #records = new Map<string, MemoryEntry<StoredAccessToken>>();
  readonly #locks = new Map<string, MemoryEntry<string>>();

  async get(name: string): Promise<StoredAccessToken | undefined> {
    const e = this.#records.get(name);
    if (!e) return undefined;
    if (Date.now() >= e.until) {
      this.#records.delete(name);
      return undefined;
    }
    return { ...e.value };
  }

  async set(name: string, record: StoredAccessToken, options: TokenStoreSetOptions): Promise<boolean> {
    if (options.fence && this.#lockOwner(name, options.fence.lock) !== options.fence.owner) return false;
    if (!(options.ttlMs > 0)) return false;
    this.#records.set(name, { value: { ...record }, until: Date.now() + options.ttlMs });
    return true;
  }

  async deleteIfToken(name: string, token: string): Promise<boolean> {
    const current = await this.get(name);
    if (!current || current.token !== token) return false;
    this.#records.delete(name);
    return true;
  }

  async acquireLock(name: string, lock: string, owner: string, ttlMs: number): Promise<boolean> {
    if (this.#lockOwner(name, lock) !== undefined) return false;
    this.#locks.set(`${name}\u0000${lock}`, { value: owner, until: Date.now() + ttlMs });
    return true;
  }

  async releaseLock(name: string, lock: string, owner: string): Promise<boolean> {
    if (this.#lockOwner(name, lock) !== owner) return false;
    this.#locks.delete(`${name}\u0000${lock}`);
    return true;
  }

  #lockOwner(name: string, lock: string): string | undefined {
    const key = `${name}\u0000${lock}`;
    const e = this.#locks.get(key);
    if (!e) return undefined;
    if (Date.now() >= e.until) {
      this.#locks.delete(key);
      return undefined;
    }
    return e.value;
  }
}
