import type { Redis } from 'ioredis';
import { tombstoneKey, valueKey } from './redis-l2.js';
import { withTimeout } from './timeout.js';

/** What a message says about a serial: `inv` its keys changed, `act` it was provisioned (`act` implies `inv`). */
export type InvalidationKind = 'inv' | 'act';

export interface InvalidationResult {
  /** Redis confirmed the delete and the publication. False: only this instance knows yet; it retries when Redis is back. */
  propagated: boolean;
  /** Instances (subscribed connections) the message reached, this one included. */
  subscribers: number;
}

/** What the bus tells its owner (the resolver). Both are called synchronously and must not throw. */
export interface InvalidationListener {
  /** A message of any instance, this one included: drop what is held for `serial`. */
  changed(kind: InvalidationKind, serial: string): void;
  /** No subscription was in place for a while: messages may have been lost, so what is held may predate a change. */
  missed(): void;
}

export interface InvalidationBusOptions {
  /** Publishes (and deletes the L2 value). Without it nothing is announced beyond this instance. */
  redis: Redis | undefined;
  /** The subscribed connection; undefined with `redis`: a duplicate of it, created by attach() and owned by the bus. */
  subscriber: Redis | undefined;
  prefix: string;
  channel: string;
  /** How long an invalidation blocks L2 writes. */
  tombstoneMs: number;
  /** Bound on each Redis command. */
  timeoutMs: number;
  listener: InvalidationListener;
  report: (error: unknown, component: 'redis' | 'subscriber') => void;
}

const MAX_PENDING_INVALIDATIONS = 100_000;
/** A subscription attempt that failed on a connection that is up is tried again after this. */
const RESUBSCRIBE_DELAY_MS = 1000;

/**
 * The invalidation bus between instances, over Redis pub/sub. announce() deletes the shared L2
 * value, leaves a tombstone and publishes `<kind>:<serial>` in one transaction; what Redis does not
 * take is kept (one entry per serial, bounded) and sent again when Redis is ready. The subscriber
 * side hands each message to the listener; a subscription belongs to one connection, so after a
 * reconnect (or a failed attempt) it subscribes again and, once confirmed, tells the listener that
 * messages may have been missed.
 */
export class InvalidationBus {
  /** Counters, read by DeviceKeyResolver.stats(). */
  readonly counts = { sent: 0, received: 0, redisErrors: 0 };
  readonly #redis: Redis | undefined;
  #subscriber: Redis | undefined;
  readonly #ownsSubscriber: boolean;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #tombstoneMs: number;
  readonly #timeoutMs: number;
  readonly #listener: InvalidationListener;
  readonly #report: (error: unknown, component: 'redis' | 'subscriber') => void;
  /** Announcements Redis has not confirmed, oldest first. */
  readonly #pending = new Map<string, InvalidationKind>();
  readonly #replays = new Set<Promise<void>>();
  #closed = false;
  #subscribed = false;
  #everSubscribed = false;
  /** A subscription attempt failed: messages may have been missed since. */
  #missed = false;
  /** Count of subscriber connection losses; a subscription belongs to one connection. */
  #generation = 0;
  #subscribedGeneration = -1;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(options: InvalidationBusOptions) {
    this.#redis = options.redis;
    this.#subscriber = options.subscriber;
    this.#ownsSubscriber = options.subscriber === undefined && options.redis !== undefined;
    this.#prefix = options.prefix;
    this.#channel = options.channel;
    this.#tombstoneMs = options.tombstoneMs;
    this.#timeoutMs = options.timeoutMs;
    this.#listener = options.listener;
    this.#report = options.report;
  }

  get subscribed(): boolean {
    return this.#subscribed;
  }

  /** Announcements waiting for Redis. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Listens to the connections (creating the owned subscriber here: a resolver never started opens no connection). */
  attach(): void {
    this.#redis?.on('ready', this.#onRedisReady);
    if (this.#ownsSubscriber) this.#subscriber = this.#redis!.duplicate();
    const sub = this.#subscriber;
    if (sub) {
      sub.on('message', this.#onMessage);
      sub.on('ready', this.#onSubscriberReady);
      sub.on('close', this.#onSubscriberClose);
      if (this.#ownsSubscriber) sub.on('error', this.#onSubscriberError);
    }
  }

  /** Subscribes to the channel; after a (re)connection also tells the listener that messages may have been missed. */
  async subscribe(): Promise<void> {
    const sub = this.#subscriber;
    if (!sub || this.#closed) return;
    try {
      await withTimeout(() => sub.subscribe(this.#channel), this.#timeoutMs, 'Redis');
    } catch (err) {
      this.#report(err, 'subscriber');
      this.#missed = true;
      // A reconnection emits 'ready' and tries again; a connection that is up but slow does not.
      if (sub.status === 'ready' && !this.#retryTimer) {
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          if (!this.#subscribed) void this.subscribe();
        }, RESUBSCRIBE_DELAY_MS);
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
    // Messages sent while no subscription was in place are lost.
    if (gap) this.#listener.missed();
  }

  /**
   * Deletes the L2 value of `serial`, sets its tombstone and publishes the change, in one MULTI.
   * When Redis is not ready or fails, the announcement is kept and sent again when Redis is ready.
   * `publish: false` (the change feed, which every instance runs on its own) only deletes and
   * tombstones the shared value; a kept one is sent again in full.
   */
  async announce(kind: InvalidationKind, serial: string, publish = true): Promise<InvalidationResult> {
    const redis = this.#redis;
    if (!redis) return { propagated: false, subscribers: 0 };
    if (redis.status !== 'ready') {
      this.#remember(kind, serial);
      return { propagated: false, subscribers: 0 };
    }
    try {
      const results = await withTimeout(
        () => {
          const multi = redis.multi().del(valueKey(this.#prefix, serial)).set(tombstoneKey(this.#prefix, serial), '1', 'PX', this.#tombstoneMs);
          return (publish ? multi.publish(this.#channel, `${kind}:${serial}`) : multi).exec();
        },
        this.#timeoutMs,
        'Redis',
      );
      if (!results) throw new Error('the invalidation transaction was aborted');
      for (const [err] of results) if (err) throw err;
      if (this.#pending.get(serial) === kind || kind === 'act') this.#pending.delete(serial);
      if (!publish) return { propagated: true, subscribers: 0 };
      this.counts.sent++;
      return { propagated: true, subscribers: Number(results[2]?.[1] ?? 0) };
    } catch (err) {
      this.counts.redisErrors++;
      this.#report(err, 'redis');
      this.#remember(kind, serial);
      return { propagated: false, subscribers: 0 };
    }
  }

  /** Stops listening and retrying, closes the owned subscriber (or unsubscribes a given one), waits for resends in flight. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
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
        await withTimeout(() => sub.unsubscribe(this.#channel), this.#timeoutMs, 'Redis').catch(() => undefined);
      }
    }
    this.#subscribed = false;
    await Promise.allSettled([...this.#replays]);
  }

  #remember(kind: InvalidationKind, serial: string): void {
    // 'act' implies 'inv', so it wins when both are pending.
    if (this.#pending.get(serial) === 'act') return;
    this.#pending.delete(serial);
    if (this.#pending.size >= MAX_PENDING_INVALIDATIONS) {
      const oldest = this.#pending.keys().next().value as string;
      this.#pending.delete(oldest);
      this.#report(new Error(`too many invalidations waiting for Redis; ${oldest} relies on the L1 TTL`), 'redis');
    }
    this.#pending.set(serial, kind);
  }

  /** Redis is back: send what it missed, in order, stopping at the first failure (kept for the next time). */
  readonly #onRedisReady = (): void => {
    if (this.#pending.size === 0 || this.#closed) return;
    const job = (async () => {
      for (const [serial, kind] of [...this.#pending]) {
        if (this.#closed || this.#redis?.status !== 'ready') return;
        if ((await this.announce(kind, serial)).propagated === false) return;
      }
    })();
    this.#replays.add(job);
    void job.finally(() => this.#replays.delete(job));
  };

  readonly #onMessage = (channel: string, message: string): void => {
    if (channel !== this.#channel) return;
    const colon = message.indexOf(':');
    const kind = message.slice(0, colon);
    const serial = message.slice(colon + 1);
    if (colon < 0 || serial.length === 0) return;
    if (kind !== 'act' && kind !== 'inv') return;
    this.counts.received++;
    this.#listener.changed(kind, serial);
  };

  readonly #onSubscriberReady = (): void => {
    // ioredis emits 'ready' before it resubscribes by itself: subscribe here and report the gap once confirmed.
    void this.subscribe();
  };

  readonly #onSubscriberClose = (): void => {
    this.#generation++;
    this.#subscribed = false;
  };

  readonly #onSubscriberError = (err: unknown): void => {
    this.#report(err, 'subscriber');
  };
}
