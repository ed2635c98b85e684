/**
 * The device side of a gateway (SPEC.md section 15): the registry (SQL), the key lookup
 * (Bloom → L1 → Redis → SQL) and the key resolver the verifier sees, which puts the configured
 * clients first and the devices second.
 */
import { Redis } from 'ioredis';
import type { Mode } from '@wxseal/protocol';
import { withTimeout } from '@wxseal/support';
import type { ClientCredential, KeyResolver } from '@wxseal/server';
import {
  DeviceChangeFeed,
  DeviceKeyResolver,
  DeviceRepository,
  deviceDatabaseInfo,
  migrateDeviceDatabase,
  openDeviceDatabase,
  type DeviceChangeFeedStats,
  type DeviceChangeLog,
  type DeviceKeyCacheComponent,
  type DeviceKeyCacheStats,
} from '@wxseal/devices';
import type { DevicesConfig } from './devices-config.js';

/**
 * Resolves the configured clients first and asks the device lookup only for other key ids, so a
 * client's key id never costs a Bloom probe, a Redis command or a query, and no device row can
 * shadow a client (SPEC.md 15.1: no client key id equals a serial).
 */
export class CompositeKeyResolver implements KeyResolver {
  constructor(
    private readonly clients: KeyResolver,
    private readonly devices: KeyResolver,
    private readonly deviceModes: readonly Mode[] | undefined,
  ) {}

  async resolve(keyId: string): Promise<ClientCredential | undefined> {
    const client = await this.clients.resolve(keyId);
    if (client) return client;
    const device = await this.devices.resolve(keyId);
    if (device && this.deviceModes && !device.revoked) return { ...device, allowedModes: this.deviceModes };
    return device;
  }
}

export interface GatewayDevicesStats {
  /** SQL statements this gateway sent to the device database (lookups, activations, rotations). */
  readonly sqlQueries: number;
  /** Commands sent on the cache's Redis connection (the subscriber connection is not counted). */
  readonly redisCommands: number;
  readonly resolver: DeviceKeyCacheStats;
  /** The change feed: checks, applied, errors, open gaps, last audit id, staleness. */
  readonly changeFeed: DeviceChangeFeedStats;
}

/** What a running gateway exposes of its devices: for operations (and tests), never key material by itself. */
export interface GatewayDevices {
  readonly repository: DeviceRepository;
  readonly resolver: DeviceKeyResolver;
  /** Reads the audit log every `devices.changeFeed.pollIntervalMs`; see DeviceChangeFeed. */
  readonly changeFeed: DeviceChangeFeed;
  /** Ms since this instance last confirmed its device view with the database (for metrics and /readyz). */
  feedStaleness(): number;
  stats(): GatewayDevicesStats;
}

export interface DeviceRuntimeHooks {
  /** Unix ms; the registry's and the cache's clock. */
  now: () => number;
  onError: (error: unknown, component: DeviceKeyCacheComponent | 'database' | 'feed') => void;
}

export class DeviceRuntime implements GatewayDevices {
  readonly repository: DeviceRepository;
  readonly resolver: DeviceKeyResolver;
  readonly changeFeed: DeviceChangeFeed;
  readonly #db: ReturnType<typeof openDeviceDatabase>;
  readonly #redis: Redis | undefined;
  readonly #config: DevicesConfig;
  readonly #hooks: DeviceRuntimeHooks;
  #sqlQueries = 0;
  #redisCommands = 0;
  #unsubscribe: (() => void) | undefined;
  #migrated = false;

  constructor(config: DevicesConfig, hooks: DeviceRuntimeHooks) {
    this.#config = config;
    this.#hooks = hooks;
    const d = config.database;
    this.#db = openDeviceDatabase(d.url, { connectTimeoutMs: d.connectTimeoutMs, queryTimeoutMs: d.queryTimeoutMs, poolSize: d.poolSize });
    const info = deviceDatabaseInfo(this.#db);
    // The counting plugin makes "an unknown serial costs no query" observable; it shares the pool.
    const counted = this.#db.withPlugin({
      transformQuery: (args) => {
        this.#sqlQueries++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    this.repository = new DeviceRepository({
      db: counted,
      masterKeys: config.masterKeys,
      now: hooks.now,
      // withPlugin returns another instance, unknown to deviceDatabaseInfo: keep the bound it would have derived.
      ...(info ? { readTimeoutMs: info.connectTimeoutMs + info.queryTimeoutMs + 250 } : {}),
    });
    if (config.redis) {
      const r = config.redis;
      this.#redis = new Redis(r.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        connectTimeout: r.connectTimeoutMs,
        retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), 2_000),
        disconnectTimeout: 200,
      });
      this.#redis.on('error', (err: unknown) => hooks.onError(err, 'redis'));
      const send = this.#redis.sendCommand.bind(this.#redis);
      this.#redis.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
        this.#redisCommands++;
        return send(...args);
      }) as Redis['sendCommand'];
    }
    this.resolver = new DeviceKeyResolver({
      source: this.repository,
      ...(this.#redis && config.redis ? { redis: this.#redis, cacheKey: config.redis.cacheKey, prefix: config.redis.prefix, redisTimeoutMs: config.redis.timeoutMs } : {}),
      expectedSerials: config.bloom.expectedSerials,
      bloomFalsePositiveRate: config.bloom.falsePositiveRate,
      bloomRebuildIntervalMs: config.bloom.rebuildIntervalMs,
      l1TtlMs: config.l1TtlMs,
      staleIfErrorMs: config.staleIfErrorMs,
      sourceTimeoutMs: config.sourceTimeoutMs,
      now: hooks.now,
      onError: hooks.onError,
    });
    // Not on hooks.now: staleness is elapsed time (monotonic), whatever clock the registry is given.
    // Its own repository on the uncounted database: sqlQueries counts what requests cost, not the polls.
    const feedRepo = new DeviceRepository({ db: this.#db, masterKeys: config.masterKeys, now: hooks.now });
    const log: DeviceChangeLog = {
      // The starting point is read once the tables exist: a database that was down at start was not migrated.
      latestChangeId: async () => {
        if (!this.#migrated) await this.#migrate();
        return feedRepo.latestChangeId();
      },
      changesAfter: (afterId, limit) => feedRepo.changesAfter(afterId, limit),
      changesWithin: (ranges, limit) => feedRepo.changesWithin(ranges, limit),
    };
    this.changeFeed = new DeviceChangeFeed({
      log,
      resolver: this.resolver,
      pollIntervalMs: config.changeFeed.pollIntervalMs,
      maxStalenessMs: config.changeFeed.maxStalenessMs,
      onError: (err) => hooks.onError(err, 'feed'),
    });
  }

  /**
   * Migrates (idempotent), starts the change feed (its starting point is read BEFORE the first
   * Bloom build, so nothing committed between the two is missed), starts the resolver (subscription,
   * first Bloom build) and publishes the changes made through this gateway. A database that is down
   * does not stop the gateway: device lookups then answer 503 (fail closed; WXSEAL_CREDENTIALS_STALE
   * past devices.changeFeed.maxStalenessMs) and the feed retries, rebuilding the Bloom filter when
   * the database is back.
   */
  async start(): Promise<void> {
    this.#unsubscribe = this.repository.subscribe(this.resolver.storeEvents((err) => this.#hooks.onError(err, 'redis')));
    await this.#migrate().catch((err: unknown) => this.#hooks.onError(err, 'database'));
    await this.changeFeed.start();
    try {
      await this.resolver.start();
    } catch (err) {
      this.#hooks.onError(err, 'bloom');
    }
  }

  /** Idempotent migration; remembered once it succeeded. */
  async #migrate(): Promise<void> {
    await migrateDeviceDatabase(this.#db);
    this.#migrated = true;
  }

  stats(): GatewayDevicesStats {
    return { sqlQueries: this.#sqlQueries, redisCommands: this.#redisCommands, resolver: this.resolver.stats(), changeFeed: this.changeFeed.stats() };
  }

  feedStaleness(): number {
    return this.changeFeed.staleness();
  }

  get databaseDisplayUrl(): string {
    return this.#config.database.displayUrl;
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    await this.changeFeed.close();
    await this.resolver.close().catch((err: unknown) => this.#hooks.onError(err, 'redis'));
    if (this.#redis) {
      try {
        const redis = this.#redis;
        if (redis.status === 'ready') await withTimeout(() => redis.quit(), 1000, () => new Error('QUIT timed out'), { unref: true });
      } catch {
        // already gone, or no answer in time; disconnect below ends it either way
      }
      this.#redis.disconnect();
    }
    await this.#db.destroy().catch((err: unknown) => this.#hooks.onError(err, 'database'));
  }
}

/**
 * In-memory token buckets keyed by serial or source address (one process; each gateway instance
 * counts on its own, so a fleet of N instances admits up to N times the rate). The map is bounded:
 * past `maxKeys` the least recently used bucket is dropped, which can only be generous.
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst: number,
    private readonly perMinute: number,
    private readonly maxKeys: number,
    private readonly now: () => number,
  ) {}

  /** Takes a token; returns 0 when granted, else the seconds until one is available. */
  take(key: string): number {
    const now = this.now();
    const b = this.#buckets.get(key) ?? { tokens: this.burst, at: now };
    this.#buckets.delete(key); // re-inserted below: Map order is the LRU order
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.perMinute) / 60_000);
    b.at = now;
    let wait = 0;
    if (b.tokens >= 1) b.tokens -= 1;
    else wait = Math.max(1, Math.ceil(((1 - b.tokens) * 60) / this.perMinute));
    this.#buckets.set(key, b);
    if (this.#buckets.size > this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    return wait;
  }
}
