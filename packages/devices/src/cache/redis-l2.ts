import type { Redis } from 'ioredis';
import { decodeCacheValue, encodeCacheValue, type CachedDeviceKey } from './codec.js';
import { withTimeout } from './timeout.js';

// Writes the L2 value unless an invalidation left a tombstone: a load that read the database
// before a revocation and writes after the invalidation's DEL cannot put the old state back.
const SET_UNLESS_TOMBSTONE = `if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

// The {serial} hash tag keeps a value and its tombstone in one Redis Cluster slot.
export const valueKey = (prefix: string, serial: string): string => `${prefix}{${serial}}`;
/** Set by an invalidation (see invalidation-bus.ts); while it exists no load writes the value back. */
export const tombstoneKey = (prefix: string, serial: string): string => `${prefix}{${serial}}:tomb`;

export interface RedisL2Options {
  /** Shared with the invalidation bus; never connected by lookups, never quit. */
  redis: Redis;
  /** 32-byte AES-256-GCM key of the values. */
  cacheKey: Buffer;
  prefix: string;
  ttlMs: number;
  /** Bound on each command. */
  timeoutMs: number;
  /** Told about every failure (component 'redis'); a failure is a miss, never an error of the lookup. */
  report: (error: unknown) => void;
}

/**
 * L2: the device keys shared by every instance in Redis, encrypted under the cache key. Reads and
 * writes never throw and never wait for a Redis that is not ready (a lookup must not queue behind
 * a reconnect): the lookup then goes to the source.
 */
export class RedisL2 {
  /** Counters, read by DeviceKeyResolver.stats(). */
  readonly counts = { hits: 0, misses: 0, errors: 0 };
  readonly #redis: Redis;
  readonly #cacheKey: Buffer;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #timeoutMs: number;
  readonly #report: (error: unknown) => void;
  readonly #writes = new Set<Promise<void>>();

  constructor(options: RedisL2Options) {
    this.#redis = options.redis;
    this.#cacheKey = options.cacheKey;
    this.#prefix = options.prefix;
    this.#ttlMs = options.ttlMs;
    this.#timeoutMs = options.timeoutMs;
    this.#report = options.report;
  }

  /**
   * Lookups skip a Redis that is not ready, so a lazyConnect client would never be connected by
   * them: connect it, and give it timeoutMs. Never rejects; until Redis is ready, lookups do without L2.
   */
  async connect(): Promise<void> {
    const redis = this.#redis;
    if (redis.status === 'ready') return;
    if (redis.status === 'wait') redis.connect().catch((err: unknown) => this.#report(err));
    let onReady: (() => void) | undefined;
    await withTimeout(() => new Promise<void>((resolve) => redis.once('ready', (onReady = resolve))), this.#timeoutMs, 'Redis')
      .catch(() => undefined) // not ready yet: the resolver works without L2 until it is
      .finally(() => onReady && redis.off('ready', onReady));
  }

  /** The value of `serial`, or undefined on a miss, an error, a timeout or a Redis that is not ready. */
  async read(serial: string): Promise<CachedDeviceKey | undefined> {
    const redis = this.#redis;
    if (redis.status !== 'ready') return undefined;
    try {
      const blob = await withTimeout(() => redis.getBuffer(valueKey(this.#prefix, serial)), this.#timeoutMs, 'Redis');
      if (blob === null) {
        this.counts.misses++;
        return undefined;
      }
      const value = decodeCacheValue(this.#cacheKey, serial, blob);
      if (value === undefined) {
        // Another cache key (rotated) or tampering: treat as a miss; the next load overwrites it.
        this.counts.errors++;
        this.#report(new Error(`the Redis value of ${serial} does not decrypt under the cache key`));
      } else {
        this.counts.hits++;
      }
      return value;
    } catch (err) {
      this.counts.errors++;
      this.#report(err);
      return undefined;
    }
  }

  /** Fire and forget: the answer does not wait for the cache fill. Refused by Redis while a tombstone exists. */
  write(serial: string, value: CachedDeviceKey): void {
    const redis = this.#redis;
    if (redis.status !== 'ready') return;
    const blob = encodeCacheValue(this.#cacheKey, serial, value);
    const write = withTimeout(
      () => redis.eval(SET_UNLESS_TOMBSTONE, 2, valueKey(this.#prefix, serial), tombstoneKey(this.#prefix, serial), blob, this.#ttlMs),
      this.#timeoutMs,
      'Redis',
    ).then(
      () => undefined,
      (err: unknown) => {
        this.counts.errors++;
        this.#report(err);
      },
    );
    this.#writes.add(write);
    void write.finally(() => this.#writes.delete(write));
  }

  /** Resolves when the writes in flight are done (DeviceKeyResolver.close()). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#writes]);
  }
}
