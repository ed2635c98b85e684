import { WxsealError } from '@wxseal/protocol';
import type { NonceRecord, NonceStore } from './nonce-store.js';

export interface MemoryNonceStoreOptions {
  /** Most pairs held at once (default 200 000). When that many are live, new ones are refused. */
  maxEntries?: number;
}

interface HeapEntry {
  expiresAt: number;
  key: string;
}

/**
 * A nonce store for a single process. Bounded: it holds at most `maxEntries` pairs, and when all of
 * them are still inside their window it refuses new requests (WXSEAL_NONCE_STORE_FULL) instead of
 * forgetting a nonce that could still be replayed. Expired pairs are evicted from a min-heap ordered
 * by expiry, so each request costs O(log n) plus the evictions it triggers.
 *
 * Several server instances need a shared store (RedisNonceStore): this one only sees its own traffic.
 */
export class MemoryNonceStore implements NonceStore {
  readonly maxEntries: number;
  readonly #expiry = new Map<string, number>();
  readonly #heap: HeapEntry[] = [];

  constructor(options: MemoryNonceStoreOptions = {}) {
    const max = options.maxEntries ?? 200_000;
    if (!Number.isSafeInteger(max) || max < 1) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'maxEntries must be a positive integer');
    this.maxEntries = max;
  }

  /** Number of pairs currently held (live, or expired but not yet evicted). */
  get size(): number {
    return this.#expiry.size;
  }

  async checkAndSet(record: NonceRecord): Promise<boolean> {
    // Synchronous from here on: no other request can interleave, so check-and-set is atomic.
    this.evictExpired(record.now);
    const key = `${record.keyId} ${record.nonce}`; // a space occurs in neither a key id nor a nonce
    if (this.#expiry.has(key)) return false;
    if (this.#expiry.size >= this.maxEntries) {
      throw new WxsealError('WXSEAL_NONCE_STORE_FULL', 'the nonce store is full of nonces still inside their window');
    }
    this.#expiry.set(key, record.expiresAt);
    this.push({ expiresAt: record.expiresAt, key });
    return true;
  }

  /** Drops every pair whose window ended before `now` (Unix seconds). */
  evictExpired(now: number): void {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!.expiresAt < now) {
      const top = this.pop();
      this.#expiry.delete(top.key);
    }
  }

  private push(entry: HeapEntry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.expiresAt <= entry.expiresAt) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): HeapEntry {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && heap[right]!.expiresAt < heap[left]!.expiresAt ? right : left;
        if (heap[child]!.expiresAt >= last.expiresAt) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}
