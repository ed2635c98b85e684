import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import { MAX_SECRET_BYTES, MIN_SECRET_BYTES, WxsealError } from '@wxseal/protocol';
import type { ClientCredential, ClientSecret, KeyResolver } from '@wxseal/server';
import type { DeviceChangeKind, DeviceKeyRecord, DeviceKeySource, DeviceStoreEvents } from '../store/types.js';
import { SerialBloom, type BloomRebuildResult } from './bloom.js';
import { decodeCacheValue, encodeCacheValue, type CachedDeviceKey } from './codec.js';
import { withTimeout } from './timeout.js';

/** Where a background failure happened, for DeviceKeyResolverOptions.onError. */
export type DeviceKeyCacheComponent = 'redis' | 'subscriber' | 'source' | 'bloom';

export interface DeviceKeyResolverOptions {
  /** L3, the database (see store/types.ts). The resolver only reads it. */
  source: DeviceKeySource;
  /**
   * L2 and the invalidation bus: an ioredis client shared by every gateway instance. The resolver
   * never connects or quits it. Without it the resolver is L1 + L3 on one instance only.
   */
  redis?: Redis;
  /**
   * The connection that subscribes to the invalidation channel (a subscribed connection can run no
   * other command). Default: `redis.duplicate()`, owned and closed by the resolver.
   */
  subscriber?: Redis;
  /** 32-byte AES-256-GCM key the Redis values are encrypted under. Required with `redis`. */
  cacheKey?: Uint8Array;
  /** Prefix of every Redis key (default `wxseal:devkey:`). */
  prefix?: string;
  /** Pub/sub channel of invalidations (default `<prefix>events`). */
  channel?: string;
  /** Serials the Bloom filter is sized for (default 1 000 000); memory ≈ 1.2 bytes per serial at 1 %. */
  expectedSerials?: number;
  /** False-positive rate of the Bloom filter at expectedSerials (default 0.01). */
  bloomFalsePositiveRate?: number;
  /** Interval of the Bloom rebuild from `source.serials()` (default 600 000 ms, ±10 % jitter; 0 = never). */
  bloomRebuildIntervalMs?: number;
  /** Longest wait for the next serial during a rebuild (default 30 000 ms). */
  bloomStepTimeoutMs?: number;
  /** Upper bound of the random delay of the rebuild that follows a Redis reconnect (default 10 000 ms). */
  reconnectRebuildJitterMs?: number;
  /** Bound on L1 entries (default 100 000). */
  l1MaxEntries?: number;
  /** How long an L1 entry is used without asking again (default 60 000 ms); backstop for lost invalidations. */
  l1TtlMs?: number;
  /** How long "no such serial" is remembered in L1 (default 5 000 ms). */
  negativeTtlMs?: number;
  /** How long past its TTL a known key is still served while Redis and the source both fail (default 300 000 ms). */
  staleIfErrorMs?: number;
  /** After a failed refresh, how long a stale entry is served without retrying (default 1 000 ms). */
  staleRetryMs?: number;
  /** TTL of the Redis values (default 600 000 ms). */
  l2TtlMs?: number;
  /** Bound on each Redis command (default 500 ms); past it the lookup goes to the source. */
  redisTimeoutMs?: number;
  /** Bound on each source load (default 2 000 ms; keep it under the verifier's keyTimeoutMs). */
  sourceTimeoutMs?: number;
  /** Milliseconds clock for TTLs and grace periods (default Date.now); tests inject one. */
  now?: () => number;
  /** Told about background failures; lookups are answered regardless. */
  onError?: (error: unknown, component: DeviceKeyCacheComponent) => void;
}

/** Counters (monotonic) and gauges, as a plain object for any metrics system. */
export interface DeviceKeyCacheStats {
  lookups: number;
  bloomReject: number;
  l1Hit: number;
  negativeHit: number;
  l2Hit: number;
  l2Miss: number;
  l3Load: number;
  l3NotFound: number;
  /** Lookups that joined a load already in flight (single-flight). */
  coalesced: number;
  staleServed: number;
  /** Lookups that threw (→ WXSEAL_KEY_STORE_UNAVAILABLE). */
  errors: number;
  l2Errors: number;
  l3Errors: number;
  invalidationsSent: number;
  invalidationsReceived: number;
  l1Flushes: number;
  bloomRebuilds: number;
  bloomRebuildErrors: number;
  /** Gauges. */
  l1Entries: number;
  inFlight: number;
  invalidationsPending: number;
  bloomReady: boolean;
  bloomItems: number;
  bloomBytes: number;
  bloomEstimatedFalsePositiveRate: number;
  redisReady: boolean;
  subscribed: boolean;
}

type Counter = Exclude<
  keyof DeviceKeyCacheStats,
  'l1Entries' | 'inFlight' | 'invalidationsPending' | 'bloomReady' | 'bloomItems' | 'bloomBytes' | 'bloomEstimatedFalsePositiveRate' | 'redisReady' | 'subscribed'
>;

export interface InvalidationResult {
  /** Redis confirmed the delete and the publication. False: only this instance knows yet; it retries when Redis is back. */
  propagated: boolean;
  /** Instances (subscribed connections) the message reached, this one included. */
  subscribers: number;
}

interface DeviceEntry {
  kind: 'device';
  credential: ClientCredential;
  /** The credential with the previous key too, used while its grace period runs. */
  withPrevious: ClientCredential | undefined;
  previousNotAfter: number;
  freshUntil: number;
  staleUntil: number;
  /** After a failed refresh: serve stale without retrying until then. */
  retryAt: number;
}
interface UnknownEntry {
  kind: 'unknown';
  freshUntil: number;
}
type L1Entry = DeviceEntry | UnknownEntry;

interface Flight {
  promise: Promise<L1Entry>;
  /** Set when an invalidation or flush happens during the load: its result must not be cached. */
  invalidated: boolean;
}

// Writes the L2 value unless an invalidation left a tombstone: a load that read the database
// before a revocation and writes after the invalidation's DEL cannot put the old state back.
const SET_UNLESS_TOMBSTONE = `if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const MAX_PENDING_INVALIDATIONS = 100_000;

const configError = (message: string): never => {
  throw new WxsealError('WXSEAL_CONFIG_INVALID', message);
};

function positive(value: number | undefined, fallback: number, name: string, allowZero = false): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) configError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  return v;
}

const validKey = (key: unknown): key is Uint8Array =>
  key instanceof Uint8Array && key.length >= MIN_SECRET_BYTES && key.length <= MAX_SECRET_BYTES;

/**
 * KeyResolver for per-device keys (一机一密), the device SERIAL being the key id. Lookup order:
 * Bloom filter of known serials (a serial not in it is unknown, with no I/O at all) → L1
 * in-process LRU → L2 Redis (encrypted, shared by all instances) → L3 source. Concurrent misses
 * of one serial share one load. Writers call invalidate() after changing the database (cache-aside);
 * every instance drops its L1 entry on the pub/sub message. When Redis fails the source is asked
 * directly; when the source fails too, known keys are served stale for a bounded time and anything
 * else throws (the verifier answers 503 WXSEAL_KEY_STORE_UNAVAILABLE).
 */
export class DeviceKeyResolver implements KeyResolver {
  readonly prefix: string;
  readonly channel: string;
  readonly l1TtlMs: number;
  readonly negativeTtlMs: number;
  readonly staleIfErrorMs: number;
  readonly staleRetryMs: number;
  readonly l2TtlMs: number;
  readonly redisTimeoutMs: number;
  readonly sourceTimeoutMs: number;
  readonly bloomRebuildIntervalMs: number;
  readonly reconnectRebuildJitterMs: number;
  /** How long an invalidation blocks L2 writes: longer than any load that could still be running. */
  readonly tombstoneMs: number;

  readonly #source: DeviceKeySource;
  readonly #redis: Redis | undefined;
  #subscriber: Redis | undefined;
  readonly #ownsSubscriber: boolean;
  readonly #cacheKey: Buffer | undefined;
  readonly #now: () => number;
  readonly #onError: ((error: unknown, component: DeviceKeyCacheComponent) => void) | undefined;
  readonly #bloom: SerialBloom;
  readonly #l1: LRUCache<string, L1Entry>;
  readonly #inflight = new Map<string, Flight>();
  readonly #pending = new Map<string, 'inv' | 'act'>();
  readonly #background = new Set<Promise<unknown>>();
  readonly #c: Record<Counter, number> = {
    lookups: 0, bloomReject: 0, l1Hit: 0, negativeHit: 0, l2Hit: 0, l2Miss: 0, l3Load: 0, l3NotFound: 0,
    coalesced: 0, staleServed: 0, errors: 0, l2Errors: 0, l3Errors: 0, invalidationsSent: 0,
    invalidationsReceived: 0, l1Flushes: 0, bloomRebuilds: 0, bloomRebuildErrors: 0,
  };
  #started: Promise<void> | undefined;
  #closed = false;
  #subscribed = false;
  #everSubscribed = false;
  /** A subscription attempt failed: messages may have been missed since. */
  #missed = false;
  /** Count of subscriber connection losses; a subscription belongs to one connection. */
  #generation = 0;
  #subscribedGeneration = -1;
  #rebuildTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #rebuildAgain = false;

  constructor(options: DeviceKeyResolverOptions) {
    if (!options || typeof options.source?.load !== 'function' || typeof options.source.serials !== 'function') {
      configError('DeviceKeyResolver needs a DeviceKeySource');
    }
    this.#source = options.source;
    this.#redis = options.redis;
    if (this.#redis) {
      if (!(options.cacheKey instanceof Uint8Array) || options.cacheKey.length !== 32) configError('cacheKey must be 32 bytes when redis is given');
      this.#cacheKey = Buffer.from(options.cacheKey!);
    }
    this.#subscriber = options.subscriber;
    this.#ownsSubscriber = options.subscriber === undefined && this.#redis !== undefined;
    this.prefix = options.prefix ?? 'wxseal:devkey:';
    this.channel = options.channel ?? `${this.prefix}events`;
    this.l1TtlMs = positive(options.l1TtlMs, 60_000, 'l1TtlMs');
    this.negativeTtlMs = positive(options.negativeTtlMs, 5_000, 'negativeTtlMs', true);
    this.staleIfErrorMs = positive(options.staleIfErrorMs, 300_000, 'staleIfErrorMs', true);
    this.staleRetryMs = positive(options.staleRetryMs, 1_000, 'staleRetryMs', true);
    this.l2TtlMs = Math.ceil(positive(options.l2TtlMs, 600_000, 'l2TtlMs'));
    this.redisTimeoutMs = positive(options.redisTimeoutMs, 500, 'redisTimeoutMs');
    this.sourceTimeoutMs = positive(options.sourceTimeoutMs, 2_000, 'sourceTimeoutMs');
    this.bloomRebuildIntervalMs = positive(options.bloomRebuildIntervalMs, 600_000, 'bloomRebuildIntervalMs', true);
    this.reconnectRebuildJitterMs = positive(options.reconnectRebuildJitterMs, 10_000, 'reconnectRebuildJitterMs', true);
    this.tombstoneMs = Math.ceil(Math.max(1_000, 2 * (this.sourceTimeoutMs + this.redisTimeoutMs)));
    const max = options.l1MaxEntries ?? 100_000;
    if (!Number.isSafeInteger(max) || max < 1) configError('l1MaxEntries must be a positive integer');
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError;
    try {
      this.#bloom = new SerialBloom({
        expectedItems: options.expectedSerials ?? 1_000_000,
        falsePositiveRate: options.bloomFalsePositiveRate ?? 0.01,
        stepTimeoutMs: positive(options.bloomStepTimeoutMs, 30_000, 'bloomStepTimeoutMs'),
      });
    } catch (err) {
      throw err instanceof WxsealError ? err : new WxsealError('WXSEAL_CONFIG_INVALID', (err as Error).message);
    }
    // Entries carry their own times (injected clock); the LRU's TTL, on the same clock, only frees
    // the memory of entries past any use.
    this.#l1 = new LRUCache<string, L1Entry>({
      max,
      ttl: this.l1TtlMs + this.staleIfErrorMs,
      ttlResolution: 0,
      updateAgeOnGet: false,
      perf: { now: this.#now },
    });
  }

  /**
   * Subscribes to invalidations, builds the Bloom filter from the source and arms the periodic
   * rebuild. Await it before taking traffic: until the first build, the Bloom gate is open and
   * every lookup reaches L1/L2/L3. Rejects if that first build fails (the periodic one retries).
   * A Redis that is down does not make it fail: the subscription is made when Redis comes back.
   */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    this.#redis?.on('ready', this.#onRedisReady);
    // Created here, not in the constructor: a resolver that is never started opens no connection.
    if (this.#ownsSubscriber) this.#subscriber = this.#redis!.duplicate();
    const sub = this.#subscriber;
    if (sub) {
      sub.on('message', this.#onMessage);
      sub.on('ready', this.#onSubscriberReady);
      sub.on('close', this.#onSubscriberClose);
      if (this.#ownsSubscriber) sub.on('error', this.#onSubscriberError);
    }
    this.#scheduleRebuild();
    await Promise.all([this.#redisReady(), this.#subscribe(), this.rebuildBloom()]);
  }

  /**
   * Lookups skip a Redis that is not ready (they never queue behind a connection attempt), so a
   * lazyConnect client would never be connected by them: connect it, and give it redisTimeoutMs.
   */
  async #redisReady(): Promise<void> {
    const redis = this.#redis;
    if (!redis || redis.status === 'ready') return;
    if (redis.status === 'wait') redis.connect().catch((err: unknown) => this.#report(err, 'redis'));
    let onReady: (() => void) | undefined;
    await withTimeout(() => new Promise<void>((resolve) => redis.once('ready', (onReady = resolve))), this.redisTimeoutMs, 'Redis')
      .catch(() => undefined) // not ready yet: the resolver works without L2 until it is
      .finally(() => onReady && redis.off('ready', onReady));
  }

  async resolve(serial: string): Promise<ClientCredential | undefined> {
    this.#c.lookups++;
    // The gate: an unknown serial costs one hash, never a Redis or SQL round trip.
    if (this.#bloom.ready && !this.#bloom.mightContain(serial)) {
      this.#c.bloomReject++;
      return undefined;
    }
    const now = this.#now();
    const entry = this.#l1.get(serial);
    if (entry !== undefined) {
      if (now < entry.freshUntil) {
        if (entry.kind === 'unknown') {
          this.#c.negativeHit++;
          return undefined;
        }
        this.#c.l1Hit++;
        return credentialAt(entry, now);
      }
      if (entry.kind === 'device' && now < entry.retryAt && now < entry.staleUntil) {
        // A refresh just failed: answer from L1 at once instead of waiting on a dead store again.
        this.#c.staleServed++;
        return credentialAt(entry, now);
      }
    }
    return this.#loadShared(serial);
  }

  /**
   * For writers, after the database changed (revocation, rotation, deletion): drops the entry here
   * at once, deletes the Redis value and tells every instance to drop theirs. If Redis cannot be
   * reached it is retried when Redis is back; meanwhile the L1 TTL bounds the staleness elsewhere.
   */
  async invalidate(serial: string): Promise<InvalidationResult> {
    this.#evict(serial);
    return this.#announce('inv', serial);
  }

  /** For the activation path, after the device is in the database: every instance adds it to its Bloom filter. */
  async onActivated(serial: string): Promise<InvalidationResult> {
    this.#bloom.add(serial);
    this.#evict(serial); // a lookup before activation may have left a negative entry
    return this.#announce('act', serial);
  }

  /**
   * Hooks for the device registry (`repository.subscribe(resolver.storeEvents())`): after each
   * committed change, a new or re-keyed serial goes through onActivated() (Bloom filter everywhere,
   * plus invalidation), a rotation or revocation through invalidate(). A change Redis did not take
   * is reported as an error (the registry passes it to onError) and retried when Redis is back.
   */
  storeEvents(onError?: (error: unknown, serial: string, kind: DeviceChangeKind) => void): DeviceStoreEvents {
    const events: DeviceStoreEvents = {
      onChange: async (serial, kind) => {
        const result = kind === 'rotate' || kind === 'revoke' ? await this.invalidate(serial) : await this.onActivated(serial);
        if (!result.propagated && this.#redis) {
          throw new Error(`the ${kind} of ${serial} did not reach Redis; it is sent again when Redis is back (other instances' L1 TTL bounds the delay)`);
        }
      },
    };
    events.onError = onError ?? ((error) => this.#report(error, 'redis'));
    return events;
  }

  /** Rebuilds the Bloom filter from `source.serials()` (joins a rebuild already running). */
  async rebuildBloom(): Promise<BloomRebuildResult> {
    try {
      const result = await this.#bloom.rebuild(this.#source.serials());
      this.#c.bloomRebuilds++;
      return result;
    } catch (err) {
      this.#c.bloomRebuildErrors++;
      this.#report(err, 'bloom');
      throw err;
    }
  }

  /** Empties L1 (all instances' invalidations may have been missed). Loads in flight are not cached. */
  flushL1(): void {
    this.#l1.clear();
    for (const flight of this.#inflight.values()) flight.invalidated = true;
    this.#inflight.clear();
    this.#c.l1Flushes++;
  }

  /** Whether the Bloom filter admits `serial` (false: the resolver answers unknown without I/O). */
  mightExist(serial: string): boolean {
    return !this.#bloom.ready || this.#bloom.mightContain(serial);
  }

  stats(): DeviceKeyCacheStats {
    const filter = this.#bloom.filter;
    return {
      ...this.#c,
      l1Entries: this.#l1.size,
      inFlight: this.#inflight.size,
      invalidationsPending: this.#pending.size,
      bloomReady: this.#bloom.ready,
      bloomItems: filter.count,
      bloomBytes: filter.byteLength,
      bloomEstimatedFalsePositiveRate: filter.estimatedFalsePositiveRate,
      redisReady: this.#redis?.status === 'ready',
      subscribed: this.#subscribed,
    };
  }

  /** Stops timers and listeners, closes the subscriber it created, waits for pending Redis writes. Never quits `redis`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#rebuildTimer);
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#retryTimer);
    this.#redis?.off('ready', this.#onRedisReady);
    const sub = this.#subscriber;
    if (sub) {
      sub.off('message', this.#onMessage);
      sub.off('ready', this.#onSubscriberReady);
      sub.off('close', this.#onSubscriberClose);
      if (this.#ownsSubscriber) {
        sub.disconnect(); // its 'error' listener stays: a late error event must not go unheard
      } else if (sub.status === 'ready') {
        await withTimeout(() => sub.unsubscribe(this.channel), this.redisTimeoutMs, 'Redis').catch(() => undefined);
      }
    }
    this.#subscribed = false;
    await Promise.allSettled([...this.#background]);
  }

  // ---- loading --------------------------------------------------------------------------------

  async #loadShared(serial: string): Promise<ClientCredential | undefined> {
    let flight = this.#inflight.get(serial);
    if (flight) this.#c.coalesced++;
    else flight = this.#startFlight(serial);
    try {
      const entry = await flight.promise;
      return entry.kind === 'unknown' ? undefined : credentialAt(entry, this.#now());
    } catch (err) {
      // stale-if-error: only an entry still in L1, so never one an invalidation or flush removed.
      const now = this.#now();
      const stale = this.#l1.peek(serial);
      if (stale?.kind === 'device' && now < stale.staleUntil) {
        this.#c.staleServed++;
        return credentialAt(stale, now);
      }
      this.#c.errors++;
      throw new WxsealError('WXSEAL_KEY_STORE_UNAVAILABLE', 'the device key store cannot be reached', { cause: err });
    }
  }

  #startFlight(serial: string): Flight {
    const flight: Flight = { invalidated: false, promise: undefined as unknown as Promise<L1Entry> };
    flight.promise = this.#fetch(serial, flight).then(
      (entry) => {
        this.#endFlight(serial, flight);
        return entry;
      },
      (err: unknown) => {
        this.#endFlight(serial, flight);
        const stale = this.#l1.peek(serial);
        if (stale?.kind === 'device') stale.retryAt = this.#now() + this.staleRetryMs;
        throw err;
      },
    );
    this.#inflight.set(serial, flight);
    return flight;
  }

  #endFlight(serial: string, flight: Flight): void {
    if (this.#inflight.get(serial) === flight) this.#inflight.delete(serial);
  }

  async #fetch(serial: string, flight: Flight): Promise<L1Entry> {
    const cached = await this.#readL2(serial);
    if (cached) {
      this.#c.l2Hit++;
      const entry = deviceEntry(serial, cached, this.#now(), this.l1TtlMs, this.staleIfErrorMs);
      if (!flight.invalidated) this.#l1.set(serial, entry);
      return entry;
    }

    this.#c.l3Load++;
    let record: DeviceKeyRecord | undefined;
    try {
      record = await withTimeout(() => this.#source.load(serial), this.sourceTimeoutMs, 'the device key source');
      record = checkRecord(serial, record);
    } catch (err) {
      this.#c.l3Errors++;
      this.#report(err, 'source');
      throw err;
    }
    const now = this.#now();
    if (record === undefined) {
      this.#c.l3NotFound++;
      const entry: UnknownEntry = { kind: 'unknown', freshUntil: now + this.negativeTtlMs };
      if (!flight.invalidated && this.negativeTtlMs > 0) this.#l1.set(serial, entry, { ttl: this.negativeTtlMs });
      return entry;
    }
    const value = cacheValueOf(record, this.#onError ? (e) => this.#report(e, 'source') : undefined);
    const entry = deviceEntry(serial, value, now, this.l1TtlMs, this.staleIfErrorMs);
    if (!flight.invalidated) {
      this.#l1.set(serial, entry);
      this.#writeL2(serial, value);
    }
    return entry;
  }

  /** The L2 value, or undefined on a miss, an error, a timeout or a Redis that is not ready (never throws). */
  async #readL2(serial: string): Promise<CachedDeviceKey | undefined> {
    const redis = this.#redis;
    // Not ready: skip at once rather than queue behind a reconnect.
    if (!redis || redis.status !== 'ready') return undefined;
    try {
      const blob = await withTimeout(() => redis.getBuffer(this.#valueKey(serial)), this.redisTimeoutMs, 'Redis');
      if (blob === null) {
        this.#c.l2Miss++;
        return undefined;
      }
      const value = decodeCacheValue(this.#cacheKey!, serial, blob);
      if (value === undefined) {
        // Another cache key (rotated) or tampering: treat as a miss; the next load overwrites it.
        this.#c.l2Errors++;
        this.#report(new Error(`the Redis value of ${serial} does not decrypt under the cache key`), 'redis');
      }
      return value;
    } catch (err) {
      this.#c.l2Errors++;
      this.#report(err, 'redis');
      return undefined;
    }
  }

  /** Fire and forget: the answer does not wait for the cache fill. */
  #writeL2(serial: string, value: CachedDeviceKey): void {
    const redis = this.#redis;
    if (!redis || redis.status !== 'ready') return;
    const blob = encodeCacheValue(this.#cacheKey!, serial, value);
    const write = withTimeout(
      () => redis.eval(SET_UNLESS_TOMBSTONE, 2, this.#valueKey(serial), this.#tombstoneKey(serial), blob, this.l2TtlMs),
      this.redisTimeoutMs,
      'Redis',
    ).then(
      () => undefined,
      (err: unknown) => {
        this.#c.l2Errors++;
        this.#report(err, 'redis');
      },
    );
    this.#background.add(write);
    void write.finally(() => this.#background.delete(write));
  }

  // The {serial} hash tag keeps a value and its tombstone in one Redis Cluster slot.
  #valueKey(serial: string): string {
    return `${this.prefix}{${serial}}`;
  }

  #tombstoneKey(serial: string): string {
    return `${this.prefix}{${serial}}:tomb`;
  }

  // ---- invalidation ---------------------------------------------------------------------------

  #evict(serial: string): void {
    this.#l1.delete(serial);
    const flight = this.#inflight.get(serial);
    if (flight) {
      // Its result may predate the change: let it answer its waiters but not fill the caches, and
      // let the next lookup start a fresh load.
      flight.invalidated = true;
      this.#inflight.delete(serial);
    }
  }

  async #announce(type: 'inv' | 'act', serial: string): Promise<InvalidationResult> {
    const redis = this.#redis;
    if (!redis) return { propagated: false, subscribers: 0 };
    if (redis.status !== 'ready') {
      this.#remember(type, serial);
      return { propagated: false, subscribers: 0 };
    }
    try {
      const results = await withTimeout(
        () =>
          redis
            .multi()
            .del(this.#valueKey(serial))
            .set(this.#tombstoneKey(serial), '1', 'PX', this.tombstoneMs)
            .publish(this.channel, `${type}:${serial}`)
            .exec(),
        this.redisTimeoutMs,
        'Redis',
      );
      if (!results) throw new Error('the invalidation transaction was aborted');
      for (const [err] of results) if (err) throw err;
      if (this.#pending.get(serial) === type || type === 'act') this.#pending.delete(serial);
      this.#c.invalidationsSent++;
      return { propagated: true, subscribers: Number(results[2]?.[1] ?? 0) };
    } catch (err) {
      this.#c.l2Errors++;
      this.#report(err, 'redis');
      this.#remember(type, serial);
      return { propagated: false, subscribers: 0 };
    }
  }

  #remember(type: 'inv' | 'act', serial: string): void {
    // 'act' implies 'inv', so it wins when both are pending.
    if (this.#pending.get(serial) === 'act') return;
    this.#pending.delete(serial);
    if (this.#pending.size >= MAX_PENDING_INVALIDATIONS) {
      const oldest = this.#pending.keys().next().value as string;
      this.#pending.delete(oldest);
      this.#report(new Error(`too many invalidations waiting for Redis; ${oldest} relies on the L1 TTL`), 'redis');
    }
    this.#pending.set(serial, type);
  }

  readonly #onRedisReady = (): void => {
    if (this.#pending.size === 0 || this.#closed) return;
    const job = (async () => {
      for (const [serial, type] of [...this.#pending]) {
        if (this.#closed || this.#redis?.status !== 'ready') return;
        if ((await this.#announce(type, serial)).propagated === false) return;
      }
    })();
    this.#background.add(job);
    void job.finally(() => this.#background.delete(job));
  };

  readonly #onMessage = (channel: string, message: string): void => {
    if (channel !== this.channel) return;
    const colon = message.indexOf(':');
    const type = message.slice(0, colon);
    const serial = message.slice(colon + 1);
    if (colon < 0 || serial.length === 0) return;
    if (type === 'act') this.#bloom.add(serial);
    else if (type !== 'inv') return;
    this.#c.invalidationsReceived++;
    this.#evict(serial);
  };

  /** Subscribes to the channel; after a (re)connection also flushes L1, since messages may have been missed. */
  async #subscribe(): Promise<void> {
    const sub = this.#subscriber;
    if (!sub || this.#closed) return;
    try {
      await withTimeout(() => sub.subscribe(this.channel), this.redisTimeoutMs, 'Redis');
    } catch (err) {
      this.#report(err, 'subscriber');
      this.#missed = true;
      // A reconnection emits 'ready' and tries again; a connection that is up but slow does not.
      if (sub.status === 'ready' && !this.#retryTimer) {
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          if (!this.#subscribed) void this.#subscribe();
        }, 1000);
        this.#retryTimer.unref();
      }
      return;
    }
    if (this.#closed || this.#subscribedGeneration === this.#generation) return; // already in place on this connection
    const gap = this.#everSubscribed || this.#missed;
    this.#subscribed = true;
    this.#everSubscribed = true;
    this.#missed = false;
    this.#subscribedGeneration = this.#generation;
    if (gap) {
      // Messages sent while no subscription was in place are lost: what L1 holds may predate a
      // revocation, and an activation may be missing from the Bloom filter (its device would get
      // WXSEAL_UNKNOWN_KEY_ID until a rebuild). Rebuild soon, at a random delay so instances do not
      // scan the database together.
      this.flushL1();
      this.#scheduleReconnectRebuild();
    }
  }

  readonly #onSubscriberReady = (): void => {
    // ioredis emits 'ready' before it resubscribes by itself: subscribe here and flush once confirmed.
    void this.#subscribe();
  };

  readonly #onSubscriberClose = (): void => {
    this.#generation++;
    this.#subscribed = false;
  };

  readonly #onSubscriberError = (err: unknown): void => {
    this.#report(err, 'subscriber');
  };

  // ---- Bloom maintenance ----------------------------------------------------------------------

  #scheduleRebuild(): void {
    if (this.bloomRebuildIntervalMs === 0 || this.#closed) return;
    // ±10 % jitter, so instances started together do not scan the database together.
    const delay = this.bloomRebuildIntervalMs * (0.9 + 0.2 * Math.random());
    this.#rebuildTimer = setTimeout(() => {
      void this.#backgroundRebuild().finally(() => this.#scheduleRebuild());
    }, delay);
    this.#rebuildTimer.unref();
  }

  #scheduleReconnectRebuild(): void {
    if (this.#closed || this.#reconnectTimer) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#backgroundRebuild();
    }, Math.random() * this.reconnectRebuildJitterMs);
    this.#reconnectTimer.unref();
  }

  async #backgroundRebuild(): Promise<void> {
    if (this.#closed) return;
    if (this.#bloom.rebuilding) {
      // The running one may have read past serials activated since: run once more after it.
      this.#rebuildAgain = true;
      return;
    }
    do {
      this.#rebuildAgain = false;
      await this.rebuildBloom().catch(() => undefined); // counted and reported; the old filter stays
    } while (this.#rebuildAgain && !this.#closed);
  }

  #report(error: unknown, component: DeviceKeyCacheComponent): void {
    try {
      this.#onError?.(error, component);
    } catch {
      // A failing logger must not change an answer.
    }
  }
}

/** The credential to answer with at `nowMs`: the previous key only while its grace period runs. */
function credentialAt(entry: DeviceEntry, nowMs: number): ClientCredential {
  return entry.withPrevious !== undefined && Math.floor(nowMs / 1000) <= entry.previousNotAfter ? entry.withPrevious : entry.credential;
}

function deviceEntry(serial: string, value: CachedDeviceKey, now: number, ttlMs: number, staleMs: number): DeviceEntry {
  const entry: DeviceEntry = {
    kind: 'device',
    credential: Object.freeze({ keyId: serial, secrets: Object.freeze([]), revoked: true }),
    withPrevious: undefined,
    previousNotAfter: 0,
    freshUntil: now + ttlMs,
    staleUntil: now + ttlMs + staleMs,
    retryAt: 0,
  };
  if (value.status === 'active' && value.currentKey) {
    const current: ClientSecret = Object.freeze({ id: 'current', secret: value.currentKey });
    entry.credential = Object.freeze({ keyId: serial, secrets: Object.freeze([current]) });
    if (value.previousKey && value.previousKeyNotAfter !== undefined) {
      const previous: ClientSecret = Object.freeze({ id: 'previous', secret: value.previousKey, notAfter: value.previousKeyNotAfter });
      entry.withPrevious = Object.freeze({ keyId: serial, secrets: Object.freeze([current, previous]) });
      entry.previousNotAfter = value.previousKeyNotAfter;
    }
  }
  return entry;
}

/** A record from the source, checked: one that is malformed or answers for another serial is a store failure (fail closed). */
function checkRecord(serial: string, record: DeviceKeyRecord | undefined): DeviceKeyRecord | undefined {
  if (record === undefined || record === null) return undefined;
  if (typeof record !== 'object' || record.serial !== serial) throw new Error('the device key source answered for another serial');
  if (record.status !== 'active' && record.status !== 'revoked') throw new Error(`the device key source gave an unknown status for ${serial}`);
  if (record.status === 'active' && !validKey(record.currentKey)) throw new Error(`the device key source gave an invalid key for ${serial}`);
  return record;
}

/** What L1 and L2 keep of a record: copies of the keys (the source may reuse its buffers), none when revoked. */
function cacheValueOf(record: DeviceKeyRecord, report: ((error: unknown) => void) | undefined): CachedDeviceKey {
  const value: CachedDeviceKey = {
    status: record.status,
    keyVersion: Number.isFinite(record.keyVersion) ? record.keyVersion : 0,
    updatedAt: Number.isFinite(record.updatedAt) ? record.updatedAt : 0,
  };
  if (record.status !== 'active') return value;
  value.currentKey = Buffer.from(record.currentKey);
  if (record.previousKey !== undefined && record.previousKey !== null) {
    if (validKey(record.previousKey) && Number.isFinite(record.previousKeyNotAfter)) {
      value.previousKey = Buffer.from(record.previousKey);
      value.previousKeyNotAfter = record.previousKeyNotAfter!;
    } else {
      // A previous key with no end to its grace period would stay valid forever: not served.
      report?.(new Error(`the previous key of ${record.serial} has no valid previousKeyNotAfter; it is not served`));
    }
  }
  return value;
}
