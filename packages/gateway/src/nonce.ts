import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { WxsealError } from '@wxseal/protocol';
import { withTimeout } from '@wxseal/support';
import { MemoryNonceStore, type NonceRecord, type NonceStore } from '@wxseal/server';
import { RedisNonceStore, type NonceStoreLoss } from '@wxseal/server/redis';
import type { NonceStoreConfig, RedisNonceStoreConfig } from './config.js';

export type { NonceStoreLoss } from '@wxseal/server/redis';

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
  /** Losses of the store's records detected so far (SPEC.md 8.1; memory: always 0). */
  losses(): number;
  /** The loss time applied now, Unix ms (undefined: none known). */
  lossAtMs(): number | undefined;
  close(): Promise<void>;
}

export interface NonceBackendHooks {
  onStoreError: (err: unknown) => void;
  onRedisError: (err: unknown) => void;
  /**
   * Told once per detected loss of the store's records. Without it the loss is reported through
   * `onRedisError` as a WxsealError WXSEAL_NONCE_STORE_RESET whose message gives the loss time.
   */
  onLoss?: (loss: NonceStoreLoss) => void;
}

/**
 * The ioredis client of a Redis nonce store, for each topology, with the same fail-fast options:
 * while Redis is down every command is refused at once (no offline queue, no resend after a
 * reconnect), so requests get WXSEAL_NONCE_STORE_UNAVAILABLE quickly instead of hanging; ioredis
 * keeps reconnecting in the background and traffic recovers by itself when Redis is back.
 */
export function createRedisClient(config: RedisNonceStoreConfig): Redis | Cluster {
  const options: RedisOptions = {
    lazyConnect: false,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), config.reconnectMaxDelayMs),
    disconnectTimeout: 200,
    // A write to a server that became a replica (a failover the client has not noticed yet) is
    // refused with READONLY: reconnect, which asks the Sentinels for the new master.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
  };
  const t = config.topology;
  if (t.kind === 'sentinel') {
    return new Redis({
      ...options,
      sentinels: t.sentinels.map((e) => ({ host: e.host, port: e.port })),
      name: t.name,
      role: 'master',
      ...(config.password !== undefined ? { password: config.password } : {}),
      ...(config.sentinelPassword !== undefined ? { sentinelPassword: config.sentinelPassword } : {}),
      sentinelRetryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), config.reconnectMaxDelayMs),
      // Ask the Sentinels again when the server we reach is not (or no longer) the master.
      failoverDetector: true,
    });
  }
  if (t.kind === 'cluster') {
    return new Cluster(
      t.nodes.map((e) => ({ host: e.host, port: e.port })),
      {
        enableOfflineQueue: false,
        lazyConnect: false,
        clusterRetryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), config.reconnectMaxDelayMs),
        redisOptions: { ...options, ...(config.password !== undefined ? { password: config.password } : {}) },
      },
    );
  }
  return new Redis(config.url, options);
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

/** How long start-up waits for the clock to leave a just-detected loss second (1 s and some slack). */
const LOSS_SECOND_WAIT_MS = 1_500;

export function createNonceBackend(config: NonceStoreConfig, hooks: NonceBackendHooks): NonceBackend {
  if (config.type === 'memory') {
    const store = new ObservedNonceStore(new MemoryNonceStore({ maxEntries: config.maxEntries }), hooks.onStoreError);
    return {
      store,
      verifierTimeoutMs: undefined,
      ready: async () => true,
      up: () => 1,
      waitReady: async () => true,
      losses: () => 0,
      lossAtMs: () => undefined,
      close: async () => undefined,
    };
  }

  const redis = createRedisClient(config);
  redis.on('error', hooks.onRedisError);
  let losses = 0;
  const onLoss = (loss: NonceStoreLoss): void => {
    losses++;
    if (hooks.onLoss) return hooks.onLoss(loss);
    const at = new Date(loss.atMs).toISOString();
    hooks.onRedisError(
      new WxsealError('WXSEAL_NONCE_STORE_RESET', `the nonce store lost its records (${loss.reason}); requests signed at or before ${at} are refused with WXSEAL_NONCE_STORE_RESET`),
    );
  };
  const redisStore = new RedisNonceStore({
    client: redis,
    prefix: config.prefix,
    commandTimeoutMs: config.commandTimeoutMs,
    resetMarginSeconds: config.resetMarginSeconds,
    minReplicaAcks: config.minReplicaAcks,
    onLoss,
  });
  const store = new ObservedNonceStore(redisStore, hooks.onStoreError);

  // Readiness probes and shutdown wait a bounded time; no answer in time counts as "not ready".
  const timedOut = (): Error => new Error('Redis did not answer in time');

  /**
   * Before serving: reads (or creates) the epochs, so a loss while this instance was away is known,
   * then lets the clock leave the loss second — on the first start against an empty Redis the
   * epochs are created now, and requests signed in this very second would otherwise be refused.
   */
  const prepare = async (deadline: number): Promise<boolean> => {
    try {
      await redisStore.prepare();
    } catch {
      return false; // requests are refused (fail closed) and the store tries again on each claim
    }
    // Its own bound, not the connect timeout's remainder: leaving the second takes up to 1 s (plus
    // the margin), and a short connect timeout must not cut it. A longer margin is not waited out.
    const lossSecond = Math.floor((redisStore.lossAtMs ?? 0) / 1000) + config.resetMarginSeconds;
    const waitUntil = Math.max(deadline, Date.now() + LOSS_SECOND_WAIT_MS);
    while (Math.floor(Date.now() / 1000) <= lossSecond && Date.now() < waitUntil) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, waitUntil - Date.now()))));
    }
    return true;
  };

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
      if (redis.status === 'ready') return prepare(Date.now() + timeoutMs);
      let onReady: (() => void) | undefined;
      // Listening from now on, not from the next microtask: 'ready' must not be missed in between.
      const ready = new Promise<boolean>((resolve) => {
        onReady = () => resolve(true);
        redis.once('ready', onReady);
      });
      const ok = await withTimeout(() => ready, timeoutMs, timedOut).catch(() => false);
      if (onReady) redis.off('ready', onReady);
      if (!ok) return false;
      return prepare(Date.now() + timeoutMs);
    },
    losses: () => losses,
    lossAtMs: () => redisStore.lossAtMs,
    async close() {
      redisStore.detach();
      try {
        if (redis.status === 'ready') await withTimeout(() => redis.quit(), 1000, timedOut);
      } catch {
        // quit fails when the connection is already gone; disconnect below ends it either way.
      }
      redis.disconnect();
    },
  };
}
