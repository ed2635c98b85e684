import { Redis } from 'ioredis';
import { withTimeout } from '@wxseal/support';
import { MemoryNonceStore, type NonceRecord, type NonceStore } from '@wxseal/server';
import { RedisNonceStore } from '@wxseal/server/redis';
import type { NonceStoreConfig } from './config.js';

/** The nonce store of a gateway and what operating it needs (readiness, shutdown). */
export interface NonceBackend {
  readonly store: NonceStore;
  /** How long the verifier waits for the store: a little more than the store's own timeout. */
  readonly verifierTimeoutMs: number | undefined;
  /** Readiness: true when the store can be used now (Redis: PING answered within `timeoutMs`). */
  ready(timeoutMs: number): Promise<boolean>;
  /** 1 when connected (memory: always). */
  up(): number;
  /** Waits for the first connection, at most `timeoutMs`; false if it did not come. */
  waitReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Counts failures as they pass: the verifier maps them to a wire code without telling anyone. */
class ObservedNonceStore implements NonceStore {
  constructor(
    private readonly inner: NonceStore,
    private readonly onError: (err: unknown) => void,
  ) {}

  async checkAndSet(record: NonceRecord): Promise<boolean> {
    try {
      return await this.inner.checkAndSet(record);
    } catch (err) {
      this.onError(err);
      throw err;
    }
  }
}

export function createNonceBackend(
  config: NonceStoreConfig,
  hooks: { onStoreError: (err: unknown) => void; onRedisError: (err: unknown) => void },
): NonceBackend {
  if (config.type === 'memory') {
    const store = new ObservedNonceStore(new MemoryNonceStore({ maxEntries: config.maxEntries }), hooks.onStoreError);
    return {
      store,
      verifierTimeoutMs: undefined,
      ready: async () => true,
      up: () => 1,
      waitReady: async () => true,
      close: async () => undefined,
    };
  }

  // Fail fast rather than queue: while Redis is down every command is refused at once (no
  // offline queue, no resend after a reconnect), so requests get WXSEAL_NONCE_STORE_UNAVAILABLE
  // quickly instead of hanging; ioredis keeps reconnecting in the background and traffic recovers
  // by itself when Redis is back.
  const redis = new Redis(config.url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), config.reconnectMaxDelayMs),
    disconnectTimeout: 200,
  });
  redis.on('error', hooks.onRedisError);
  const store = new ObservedNonceStore(
    new RedisNonceStore({ client: redis, prefix: config.prefix, commandTimeoutMs: config.commandTimeoutMs }),
    hooks.onStoreError,
  );

  // Readiness probes and shutdown wait a bounded time; no answer in time counts as "not ready".
  const timedOut = (): Error => new Error('Redis did not answer in time');

  return {
    store,
    verifierTimeoutMs: config.commandTimeoutMs + 250,
    async ready(timeoutMs) {
      if (redis.status !== 'ready') return false;
      try {
        return (await withTimeout(() => redis.ping(), timeoutMs, timedOut)) === 'PONG';
      } catch {
        return false;
      }
    },
    up: () => (redis.status === 'ready' ? 1 : 0),
    async waitReady(timeoutMs) {
      if (redis.status === 'ready') return true;
      let onReady: (() => void) | undefined;
      // Listening from now on, not from the next microtask: 'ready' must not be missed in between.
      const ready = new Promise<boolean>((resolve) => {
        onReady = () => resolve(true);
        redis.once('ready', onReady);
      });
      const ok = await withTimeout(() => ready, timeoutMs, timedOut).catch(() => false);
      if (onReady) redis.off('ready', onReady);
      return ok;
    },
    async close() {
      try {
        if (redis.status === 'ready') await withTimeout(() => redis.quit(), 1000, timedOut);
      } catch {
        // quit fails when the connection is already gone; disconnect below ends it either way.
      }
      redis.disconnect();
    },
  };
}
