import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import { WxsealError } from '@wxseal/protocol';
import type { ClientCredential, KeyResolver } from '@wxseal/server';
import type { DeviceChangeKind, DeviceKeyRecord, DeviceKeySource, DeviceStoreEvents } from '../store/types.js';
import { SerialBloom, type BloomRebuildResult } from './bloom.js';
import { BloomUpkeep } from './bloom-upkeep.js';
import { cacheValueOf, checkRecord, credentialAt, deviceEntry, type L1Entry, type UnknownEntry } from './cache-entries.js';
import { InvalidationBus, type InvalidationKind, type InvalidationResult } from './invalidation-bus.js';
import { RedisL2 } from './redis-l2.js';
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
  /** Changes applied through applyChange() (the change feed). */
  changesApplied: number;
  /** Lookups refused with WXSEAL_CREDENTIALS_STALE (the view was too stale and the source could not confirm). */
  staleRefused: number;
  /** Lookups answered while stale from a fresh source read (confirmed), bypassing L1 and L2. */
  confirmedLoads: number;
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
  /** True while the freshness guard says the view is too stale (lookups must be confirmed by the source). */
  credentialsStale: boolean;
}

/** The resolver's own counters; the others are kept by its parts (L2, invalidation bus, Bloom upkeep). */
interface LookupCounters {
  lookups: number;
  bloomReject: number;
  l1Hit: number;
  negativeHit: number;
  l3Load: number;
  l3NotFound: number;
  coalesced: number;
  staleServed: number;
  errors: number;
  l3Errors: number;
  l1Flushes: number;
  changesApplied: number;
  staleRefused: number;
  confirmedLoads: number;
}

interface Flight {
  promise: Promise<L1Entry>;
  /** A load for a lookup made while stale: straight from the source, never from L2. */
  confirming: boolean;
  /** Set when an invalidation or flush happens during the load: its result must not be cached. */
  invalidated: boolean;
}

/** Bound on the serials whose L2 value is being deleted by applyChange(); past it the oldest is trusted again. */
const MAX_L2_DISTRUST = 100_000;

const configError = (message: string): never => {
  throw new WxsealError('WXSEAL_CONFIG_INVALID', message);
};

function positive(value: number | undefined, fallback: number, name: string, allowZero = false): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) configError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  return v;
}

/**
 * KeyResolver for per-device keys (一机一密), the device SERIAL being the key id. Lookup order:
 * Bloom filter of known serials (a serial not in it is unknown, with no I/O at all) → L1
 * in-process LRU → L2 Redis (encrypted, shared by all instances) → L3 source. Concurrent misses
 * of one serial share one load. Writers call invalidate() after changing the database (cache-aside);
 * every instance drops its L1 entry on the message of the invalidation bus. When Redis fails the
 * source is asked directly; when the source fails too, known keys are served stale for a bounded
 * time and anything else throws (the verifier answers 503 WXSEAL_KEY_STORE_UNAVAILABLE).
 *
 * Its parts: RedisL2 (redis-l2.ts), the InvalidationBus between instances (invalidation-bus.ts),
 * the BloomUpkeep that keeps the filter in step with the source (bloom-upkeep.ts), and what the
 * caches hold (cache-entries.ts). This class is the lookup path and the API.
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
  readonly #now: () => number;
  readonly #onError: ((error: unknown, component: DeviceKeyCacheComponent) => void) | undefined;
  readonly #bloom: SerialBloom;
  readonly #bloomUpkeep: BloomUpkeep;
  readonly #l1: LRUCache<string, L1Entry>;
  readonly #l2: RedisL2 | undefined;
  readonly #bus: InvalidationBus;
  readonly #inflight = new Map<string, Flight>();
  readonly #c: LookupCounters = {
    lookups: 0, bloomReject: 0, l1Hit: 0, negativeHit: 0, l3Load: 0, l3NotFound: 0,
    coalesced: 0, staleServed: 0, errors: 0, l3Errors: 0, l1Flushes: 0,
    changesApplied: 0, staleRefused: 0, confirmedLoads: 0,
  };
  /** Set by guardFreshness(): how stale the view is (ms), and the bound past which lookups must be confirmed. */
  #freshness: { staleness: () => number; maxStalenessMs: number } | undefined;
  /**
   * Serials whose L2 value applyChange() is deleting (serial → until, resolver clock): until Redis
   * confirms, a lookup here must not read the old value back from L2 into L1.
   */
  readonly #l2Distrust = new Map<string, number>();
  #started: Promise<void> | undefined;
  #closed = false;

  constructor(options: DeviceKeyResolverOptions) {
    if (!options || typeof options.source?.load !== 'function' || typeof options.source.serials !== 'function') {
      configError('DeviceKeyResolver needs a DeviceKeySource');
    }
    this.#source = options.source;
    this.#redis = options.redis;
    if (this.#redis && (!(options.cacheKey instanceof Uint8Array) || options.cacheKey.length !== 32)) {
      configError('cacheKey must be 32 bytes when redis is given');
    }
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
    this.#bloomUpkeep = new BloomUpkeep({
      bloom: this.#bloom,
      source: this.#source,
      intervalMs: this.bloomRebuildIntervalMs,
      soonJitterMs: this.reconnectRebuildJitterMs,
      report: (error) => this.#report(error, 'bloom'),
    });
    if (this.#redis) {
      this.#l2 = new RedisL2({
        redis: this.#redis,
        cacheKey: Buffer.from(options.cacheKey!),
        prefix: this.prefix,
        ttlMs: this.l2TtlMs,
        timeoutMs: this.redisTimeoutMs,
        report: (error) => this.#report(error, 'redis'),
      });
    }
    this.#bus = new InvalidationBus({
      redis: this.#redis,
      subscriber: options.subscriber,
      prefix: this.prefix,
      channel: this.channel,
      tombstoneMs: this.tombstoneMs,
      timeoutMs: this.redisTimeoutMs,
      listener: {
        changed: (kind, serial) => this.#changed(kind, serial),
        missed: () => {
          // What L1 holds may predate a revocation, and an activation may be missing from the Bloom
          // filter (its device would get WXSEAL_UNKNOWN_KEY_ID until a rebuild): flush, rebuild soon.
          this.flushL1();
          this.#bloomUpkeep.rebuildSoon();
        },
      },
      report: (error, component) => this.#report(error, component),
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
    this.#bus.attach();
    this.#bloomUpkeep.schedulePeriodic();
    await Promise.all([this.#l2?.connect(), this.#bus.subscribe(), this.rebuildBloom()]);
  }

  async resolve(serial: string): Promise<ClientCredential | undefined> {
    this.#c.lookups++;
    if (this.#isStale()) return this.#resolveConfirmed(serial);
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
    return this.#bus.announce('inv', serial);
  }

  /** For the activation path, after the device is in the database: every instance adds it to its Bloom filter. */
  async onActivated(serial: string): Promise<InvalidationResult> {
    this.#bloom.add(serial);
    this.#evict(serial); // a lookup before activation may have left a negative entry
    return this.#bus.announce('act', serial);
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

  /**
   * A committed change read from the change log (DeviceChangeFeed), whoever made it: `activate` and
   * `import` add the serial to the Bloom filter and drop any L1 entry (a negative one included);
   * `reactivate`, `rotate` and `revoke` also delete the shared L2 value (with its tombstone, so no
   * load in flight elsewhere writes the old state back; no message is published: every instance
   * runs its own feed). Synchronous for this instance; the Redis part is kept and retried when
   * Redis is away.
   */
  applyChange(kind: DeviceChangeKind, serial: string): void {
    this.#c.changesApplied++;
    if (kind === 'activate' || kind === 'import' || kind === 'reactivate') this.#bloom.add(serial);
    this.#evict(serial);
    // A new serial has nothing in L2 (negative answers are never written there).
    if (this.#redis && kind !== 'activate' && kind !== 'import') {
      this.#l2Distrust.delete(serial);
      this.#l2Distrust.set(serial, this.#now() + this.l2TtlMs);
      if (this.#l2Distrust.size > MAX_L2_DISTRUST) this.#l2Distrust.delete(this.#l2Distrust.keys().next().value!);
      void this.#bus.announce('inv', serial, false).then((result) => {
        if (result.propagated) this.#l2Distrust.delete(serial);
      });
    }
  }

  /** Whether L2 may hold a value older than a change applied here (see #l2Distrust). */
  #distrustsL2(serial: string): boolean {
    const until = this.#l2Distrust.get(serial);
    if (until === undefined) return false;
    if (this.#now() < until) return true;
    this.#l2Distrust.delete(serial); // the old value has expired from Redis by now
    return false;
  }

  /**
   * Makes lookups fail closed while the view may be stale: whenever `staleness()` exceeds
   * `maxStalenessMs`, a lookup answers only from a fresh read of the source (never L1, L2 or the
   * Bloom filter) and, when the source cannot answer, throws WxsealError('WXSEAL_CREDENTIALS_STALE')
   * (503). Set by DeviceChangeFeed; back to normal as soon as staleness drops.
   */
  guardFreshness(staleness: () => number, maxStalenessMs: number): void {
    if (!(maxStalenessMs > 0) || !Number.isFinite(maxStalenessMs)) configError('maxStalenessMs must be a positive number');
    this.#freshness = { staleness, maxStalenessMs };
  }

  /** Whether lookups are now answered only when the source confirms them (see guardFreshness). */
  get credentialsStale(): boolean {
    return this.#isStale();
  }

  /** Rebuilds the Bloom filter from `source.serials()` (joins a rebuild already running). */
  rebuildBloom(): Promise<BloomRebuildResult> {
    return this.#bloomUpkeep.rebuild();
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
    const l2 = this.#l2?.counts ?? { hits: 0, misses: 0, errors: 0 };
    const bus = this.#bus.counts;
    const c = this.#c;
    return {
      lookups: c.lookups,
      bloomReject: c.bloomReject,
      l1Hit: c.l1Hit,
      negativeHit: c.negativeHit,
      l2Hit: l2.hits,
      l2Miss: l2.misses,
      l3Load: c.l3Load,
      l3NotFound: c.l3NotFound,
      coalesced: c.coalesced,
      staleServed: c.staleServed,
      errors: c.errors,
      // The invalidation transaction is a Redis command too.
      l2Errors: l2.errors + bus.redisErrors,
      l3Errors: c.l3Errors,
      invalidationsSent: bus.sent,
      invalidationsReceived: bus.received,
      l1Flushes: c.l1Flushes,
      bloomRebuilds: this.#bloomUpkeep.counts.rebuilds,
      bloomRebuildErrors: this.#bloomUpkeep.counts.errors,
      changesApplied: c.changesApplied,
      staleRefused: c.staleRefused,
      confirmedLoads: c.confirmedLoads,
      l1Entries: this.#l1.size,
      inFlight: this.#inflight.size,
      invalidationsPending: this.#bus.pending,
      bloomReady: this.#bloom.ready,
      bloomItems: filter.count,
      bloomBytes: filter.byteLength,
      bloomEstimatedFalsePositiveRate: filter.estimatedFalsePositiveRate,
      redisReady: this.#redis?.status === 'ready',
      subscribed: this.#bus.subscribed,
      credentialsStale: this.#isStale(),
    };
  }

  /** Stops timers and listeners, closes the subscriber it created, waits for pending Redis writes. Never quits `redis`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#bloomUpkeep.close();
    await Promise.all([this.#bus.close(), this.#l2?.settle()]);
  }

  // ---- loading --------------------------------------------------------------------------------

  #isStale(): boolean {
    const f = this.#freshness;
    if (!f) return false;
    try {
      return !(f.staleness() <= f.maxStalenessMs);
    } catch {
      return true; // a probe that fails proves nothing: fail closed
    }
  }

  /**
   * A lookup while the view is too stale: nothing cached is trusted (L1 and L2 may predate a
   * revocation, the Bloom filter may miss an import), so the answer is a fresh read of the source
   * or a refusal.
   */
  async #resolveConfirmed(serial: string): Promise<ClientCredential | undefined> {
    if (this.#bloom.ready && !this.#bloom.mightContain(serial)) {
      // Maybe a device provisioned while the view was stale; asking the source for every unknown
      // serial would let anyone flood it exactly when it is in trouble. Refused, without I/O.
      this.#c.staleRefused++;
      throw new WxsealError('WXSEAL_CREDENTIALS_STALE', 'the device key view is stale and this serial cannot be confirmed now');
    }
    let flight = this.#inflight.get(serial);
    if (flight?.confirming) this.#c.coalesced++;
    else flight = this.#startFlight(serial, true);
    try {
      const entry = await flight.promise;
      this.#c.confirmedLoads++;
      return entry.kind === 'unknown' ? undefined : credentialAt(entry, this.#now());
    } catch (err) {
      this.#c.staleRefused++;
      this.#c.errors++;
      throw new WxsealError('WXSEAL_CREDENTIALS_STALE', 'the device key view is stale and the device key store cannot confirm it', { cause: err });
    }
  }

  async #loadShared(serial: string): Promise<ClientCredential | undefined> {
    let flight = this.#inflight.get(serial);
    if (flight) this.#c.coalesced++;
    else flight = this.#startFlight(serial, false);
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

  #startFlight(serial: string, confirming: boolean): Flight {
    const flight: Flight = { confirming, invalidated: false, promise: undefined as unknown as Promise<L1Entry> };
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
    const cached = flight.confirming || this.#distrustsL2(serial) ? undefined : await this.#l2?.read(serial);
    if (cached) {
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
      this.#l2?.write(serial, value);
    }
    return entry;
  }

  // ---- invalidation ---------------------------------------------------------------------------

  /** A message of the bus (this instance's own included). */
  #changed(kind: InvalidationKind, serial: string): void {
    if (kind === 'act') this.#bloom.add(serial);
    this.#evict(serial);
  }

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

  #report(error: unknown, component: DeviceKeyCacheComponent): void {
    try {
      this.#onError?.(error, component);
    } catch {
      // A failing logger must not change an answer.
    }
  }
}
