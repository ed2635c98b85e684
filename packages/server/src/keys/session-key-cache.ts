import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { WxsealError } from '@wxseal/protocol';

export interface SessionKeyCacheOptions {
  /** Most session keys kept (default 10 000; a key is 32 bytes plus the entry). */
  maxEntries?: number;
  /** How long an unwrapped key is kept after its last use (default 300 s, at most 86 400). */
  ttlSeconds?: number;
}

/**
 * Unwrapped session keys by a digest of (key id, server key id, wrapped key): SPEC.md section 14.
 * A client that reuses a wrapped key for a bounded time saves the server one unwrap (RSA or X25519) per
 * request. Entries are only ever added for requests whose HMAC, nonce and AES-GCM tag all
 * verified, and the digest includes the key id, so one client can never use another's entry.
 */
export class SessionKeyCache {
  readonly #cache: LRUCache<string, Buffer>;
  hits = 0;
  misses = 0;

  constructor(options: SessionKeyCacheOptions = {}) {
    const maxEntries = options.maxEntries ?? 10_000;
    const ttlSeconds = options.ttlSeconds ?? 300;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'sessionKeyCache.maxEntries must be a positive integer');
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400) {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'sessionKeyCache.ttlSeconds must be an integer from 1 to 86400');
    }
    this.#cache = new LRUCache<string, Buffer>({ max: maxEntries, ttl: ttlSeconds * 1000, updateAgeOnGet: true });
  }

  static digest(keyId: string, serverKeyId: string, wrappedKey: Uint8Array): string {
    return createHash('sha256').update(`${keyId}\n${serverKeyId}\n`).update(wrappedKey).digest('base64url');
  }

  get(digest: string): Buffer | undefined {
    const key = this.#cache.get(digest);
    if (key) this.hits++;
    else this.misses++;
    return key;
  }

  set(digest: string, sessionKey: Buffer): void {
    this.#cache.set(digest, sessionKey);
  }

  /** Forgets every key (e.g. after a suspected compromise); a removed server key needs no clear: step 4 refuses its id first. */
  clear(): void {
    this.#cache.clear();
  }

  get size(): number {
    return this.#cache.size;
  }
}
