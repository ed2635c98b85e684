// The store over Redis. Leadership: `<prefix><subject>:leader` SET NX PX, renewed while alive by a
// compare-and-PEXPIRE script, released by compare-and-DEL. Payload: SET `<prefix><subject>:list`,
// then PUBLISH on `<prefix>events`. Signals: PUBLISH only. The names and the message fields
// (`type: "certs" | "refresh"`, `mchid`, `payload`, `serial`) are WeChat Pay's, the store's first
// user: they stay byte for byte so that instances of different versions interoperate.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { OutageReporter, StoreSettings, safely, type CommonStoreOptions, type SyncMessage, type SyncStore } from './common.js';
import { fleetSyncErrors } from './errors.js';

export interface RedisStoreOptions extends CommonStoreOptions {
  kind: 'redis';
  /** An ioredis client; the subscription runs on a duplicate of it. */
  client: Redis;
  /** Leader lock lifetime (ms, default 15000): a leader that stops renewing loses it after this. */
  lockTtlMs?: number;
  /** Disconnect `client` on close() (when the store was given a client it created for itself). */
  ownsClient?: boolean;
}

const RENEW_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export class RedisSyncStore implements SyncStore {
  readonly kind = 'redis' as const;
  readonly instanceId = randomBytes(8).toString('hex');
  readonly #client: Redis;
  readonly #settings: StoreSettings;
  readonly #ttl: number;
  readonly #ownsClient: boolean;
  #sub: Redis | undefined;
  #closed = false;

  constructor(opts: RedisStoreOptions) {
    this.#settings = new StoreSettings(opts, fleetSyncErrors);
    if (typeof opts.client?.set !== 'function' || typeof opts.client.duplicate !== 'function') {
      throw this.#settings.errors('config', 'client must be an ioredis client');
    }
    const ttl = opts.lockTtlMs ?? 15_000;
    if (!Number.isInteger(ttl) || ttl < 100) throw this.#settings.errors('config', 'lockTtlMs must be an integer of at least 100');
    this.#client = opts.client;
    this.#ttl = ttl;
    this.#ownsClient = opts.ownsClient ?? false;
  }

  get #channel(): string {
    return `${this.#settings.prefix}events`;
  }

  #key(subject: string, leaf: 'leader' | 'list'): string {
    return `${this.#settings.prefix}${this.#settings.subject(subject)}:${leaf}`;
  }

  async start(onMessage: (msg: SyncMessage) => void, onError: (err: unknown) => void): Promise<void> {
    const s = this.#settings;
    if (this.#sub !== undefined || this.#closed) throw s.errors('config', 'start() called twice or after close()');
    // No retry limit on the subscriber: SUBSCRIBE waits for the connection however long it takes
    // (the caller's wait is bounded below), so a store that comes back late is still subscribed to.
    const sub = this.#client.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });
    this.#sub = sub;
    const outage = new OutageReporter(onError);
    sub.on('error', (err: unknown) => outage.error(s.errors('unavailable', 'Redis subscription connection failed', { cause: err })));
    sub.on('ready', () => outage.recovered());
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      if (!s.fits(message)) {
        safely(() => onError(s.errors('rejected', `a message on ${channel} is larger than ${s.maxPayloadBytes} bytes`)), () => undefined);
        return;
      }
      let m: { type?: unknown; mchid?: unknown; payload?: unknown; serial?: unknown };
      try {
        m = JSON.parse(message) as typeof m;
      } catch {
        return; // not one of ours
      }
      if (typeof m !== 'object' || m === null || typeof m.mchid !== 'string') return;
      const subject = m.mchid;
      if (m.type === 'certs' && typeof m.payload === 'string') {
        const payload = m.payload;
        safely(() => onMessage({ type: 'payload', subject, payload }), onError);
      } else if (m.type === 'refresh' && typeof m.serial === 'string') {
        const data = m.serial;
        safely(() => onMessage({ type: 'signal', subject, data }), onError);
      }
    });
    // Subscribing also connects (lazyConnect); when it times out, ioredis goes on trying, and
    // resubscribes by itself after every reconnection.
    await s.run(
      'Redis SUBSCRIBE',
      async () => {
        await sub.subscribe(this.#channel);
      },
      s.timeoutMs * 2,
    );
  }

  async campaign(subject: string): Promise<boolean> {
    const key = this.#key(subject, 'leader');
    return this.#settings.run('Redis leader lock', async () => {
      const set = await this.#client.set(key, this.instanceId, 'PX', this.#ttl, 'NX');
      if (set === 'OK') return true;
      const renewed = await this.#client.eval(RENEW_SCRIPT, 1, key, this.instanceId, String(this.#ttl));
      return renewed === 1;
    });
  }

  async resign(subject: string): Promise<void> {
    const key = this.#key(subject, 'leader');
    await this.#settings.run('Redis leader release', () => this.#client.eval(RELEASE_SCRIPT, 1, key, this.instanceId));
  }

  async publish(subject: string, payload: string): Promise<void> {
    const key = this.#key(subject, 'list');
    this.#settings.outgoing('payload', payload);
    const message = JSON.stringify({ type: 'certs', mchid: subject, payload });
    await this.#settings.run('Redis publish', async () => {
      await this.#client.set(key, payload);
      await this.#client.publish(this.#channel, message);
    });
  }

  async read(subject: string): Promise<string | undefined> {
    const key = this.#key(subject, 'list');
    const v = await this.#settings.run('Redis GET', () => this.#client.get(key));
    if (v === null) return undefined;
    if (!this.#settings.fits(v)) throw this.#settings.errors('rejected', `${key} is larger than ${this.#settings.maxPayloadBytes} bytes`);
    return v;
  }

  async signal(subject: string, data: string): Promise<void> {
    this.#settings.subject(subject);
    this.#settings.outgoing('signal', data);
    const message = JSON.stringify({ type: 'refresh', mchid: subject, serial: data });
    await this.#settings.run('Redis publish', () => this.#client.publish(this.#channel, message));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub?.disconnect();
    if (this.#ownsClient) this.#client.disconnect();
  }
}
