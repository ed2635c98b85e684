import { WxsealError } from '@wxseal/protocol';
import { withTimeout } from '@wxseal/support';
import type { NonceRecord, NonceStore } from './nonce-store.js';

/**
 * The one Redis command the store needs, as ioredis (Redis or Cluster) exposes it. Typed
 * structurally so this module never loads ioredis itself.
 */
export interface RedisSetNxClient {
  set(key: string, value: string, secondsToken: 'EX', seconds: number, nx: 'NX'): Promise<'OK' | null>;
}

export interface RedisNonceStoreOptions {
  /** An ioredis client (or anything with the same `set`); the store never connects or quits it. */
  client: RedisSetNxClient;
  /** Prefix of every key the store writes (default `wxseal:nonce:`). Give each deployment its own. */
  prefix?: string;
  /**
   * How long one SET may take before the request is refused with WXSEAL_NONCE_STORE_UNAVAILABLE
   * (default 1000 ms). Bounds the wait when Redis is down and ioredis queues commands offline.
   */
  commandTimeoutMs?: number;
  /**
   * Extra seconds every key lives beyond the request's window (default 5), covering clock
   * differences between the server instances that share the store.
   */
  ttlMarginSeconds?: number;
}

/**
 * A nonce store shared by every server instance: one `SET key 1 EX ttl NX` per request, a single
 * round trip that is atomic in Redis. If Redis errors or does not answer within the command timeout,
 * the request is refused (WXSEAL_NONCE_STORE_UNAVAILABLE): never accepted unchecked, never left hanging.
 */
export class RedisNonceStore implements NonceStore {
  readonly prefix: string;
  readonly commandTimeoutMs: number;
  readonly ttlMarginSeconds: number;
  readonly #client: RedisSetNxClient;

  constructor(options: RedisNonceStoreOptions) {
    if (!options || typeof options.client?.set !== 'function') {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'RedisNonceStore needs an ioredis client');
    }
    this.#client = options.client;
    this.prefix = options.prefix ?? 'wxseal:nonce:';
    this.commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    this.ttlMarginSeconds = options.ttlMarginSeconds ?? 5;
    if (!Number.isFinite(this.commandTimeoutMs) || this.commandTimeoutMs <= 0) {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'commandTimeoutMs must be a positive number');
    }
    if (!Number.isSafeInteger(this.ttlMarginSeconds) || this.ttlMarginSeconds < 0) {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'ttlMarginSeconds must be a non-negative integer');
    }
  }

  /** The Redis key of a pair. A nonce holds no `:`, so the key is unambiguous even though a key id may. */
  keyFor(keyId: string, nonce: string): string {
    return `${this.prefix}${keyId}:${nonce}`;
  }

  async checkAndSet(record: NonceRecord): Promise<boolean> {
    // +1: Redis counts whole seconds from the moment of the SET, and the pair must survive all of
    // second `expiresAt`, during which the timestamp check still accepts the request.
    const ttl = Math.max(1, Math.ceil(record.expiresAt - record.now) + 1 + this.ttlMarginSeconds);
    try {
      const reply = await withTimeout(
        () => this.#client.set(this.keyFor(record.keyId, record.nonce), '1', 'EX', ttl, 'NX'),
        this.commandTimeoutMs,
        () => new WxsealError('WXSEAL_NONCE_STORE_UNAVAILABLE', 'the nonce store did not answer in time'),
      );
      if (reply === 'OK') return true;
      if (reply === null) return false;
      throw new WxsealError('WXSEAL_NONCE_STORE_UNAVAILABLE', 'the nonce store gave an unexpected answer');
    } catch (cause) {
      if (cause instanceof WxsealError && cause.code === 'WXSEAL_NONCE_STORE_UNAVAILABLE') throw cause;
      throw new WxsealError('WXSEAL_NONCE_STORE_UNAVAILABLE', 'the nonce store cannot be reached', { cause });
    }
  }
}
