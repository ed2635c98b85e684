// The store over etcd. Leadership: `<prefix><subject>/leader` created in a transaction only when
// absent, bound to this instance's lease (kept alive by the client; a dead instance's key goes
// with its lease). Payload: PUT `<prefix><subject>/list`. Signals: PUT `<prefix><subject>/refresh`
// = {"serial","at","from"}. Subscribers watch the whole prefix. The names are WeChat Pay's, the
// store's first user, kept byte for byte so that instances of different versions interoperate.
import { randomBytes } from 'node:crypto';
import type { Etcd3, Lease, Watcher } from 'etcd3';
import { OutageReporter, StoreSettings, safely, type CommonStoreOptions, type SyncMessage, type SyncStore } from './common.js';
import { fleetSyncErrors } from './errors.js';

/**
 * An etcd3 client (`new Etcd3(…)` of the etcd3 package, an optional peer dependency), described by
 * the methods the store calls so that these declarations type-check where etcd3 is not installed.
 */
export interface EtcdClient {
  put(key: string): unknown;
  get(key: string): unknown;
  delete(): unknown;
  lease(ttl: number, options: { autoKeepAlive: boolean }): unknown;
  watch(): unknown;
  if(key: string, column: 'Value', cmp: '==', value: string): unknown;
  close(): void;
}

export interface EtcdStoreOptions extends CommonStoreOptions {
  kind: 'etcd';
  client: EtcdClient;
  /** Lease lifetime (s, default 10): a leader that dies loses its key after this. */
  leaseTtlSeconds?: number;
  /** Close `client` on close() (when the store was given a client it created for itself). */
  ownsClient?: boolean;
}

export class EtcdSyncStore implements SyncStore {
  readonly kind = 'etcd' as const;
  readonly instanceId = randomBytes(8).toString('hex');
  readonly #client: Etcd3;
  readonly #settings: StoreSettings;
  readonly #ttl: number;
  readonly #ownsClient: boolean;
  #lease: Lease | undefined;
  #watcher: Watcher | undefined;
  #started = false;
  #closed = false;

  constructor(opts: EtcdStoreOptions) {
    this.#settings = new StoreSettings(opts, fleetSyncErrors);
    if (typeof opts.client?.put !== 'function' || typeof opts.client.lease !== 'function') {
      throw this.#settings.errors('config', 'client must be an etcd3 client');
    }
    const ttl = opts.leaseTtlSeconds ?? 10;
    if (!Number.isInteger(ttl) || ttl < 1) throw this.#settings.errors('config', 'leaseTtlSeconds must be a positive integer');
    this.#client = opts.client as unknown as Etcd3;
    this.#ttl = ttl;
    this.#ownsClient = opts.ownsClient ?? false;
  }

  #key(subject: string, leaf: 'leader' | 'list' | 'refresh'): string {
    return `${this.#settings.prefix}${this.#settings.subject(subject)}/${leaf}`;
  }

  async start(onMessage: (msg: SyncMessage) => void, onError: (err: unknown) => void): Promise<void> {
    const s = this.#settings;
    if (this.#started || this.#closed) throw s.errors('config', 'start() called twice or after close()');
    this.#started = true;
    const prefix = s.prefix;
    // The watcher is kept even when connecting times out: etcd3 reconnects it with backoff (and
    // resumes from the last revision seen), so messages flow once etcd answers; close() cancels it.
    const watcher = this.#client.watch().prefix(prefix).watcher();
    this.#watcher = watcher;
    const outage = new OutageReporter(onError);
    const connected = new Promise<void>((resolve, reject) => {
      watcher.once('connected', () => resolve());
      watcher.once('error', (err: unknown) => reject(err));
    });
    connected.catch(() => undefined);
    watcher.on('connected', () => outage.recovered());
    watcher.on('disconnected', (err: unknown) => outage.error(s.errors('unavailable', 'etcd watch disconnected', { cause: err })));
    watcher.on('error', (err: unknown) => safely(() => onError(s.errors('unavailable', 'etcd watch failed', { cause: err })), () => undefined));
    watcher.on('put', (kv) => {
      // etcd3 rethrows a listener's exception outside any handler: nothing here may throw.
      const key = kv.key.toString('utf8').slice(prefix.length);
      const slash = key.lastIndexOf('/');
      if (slash <= 0) return;
      const subject = key.slice(0, slash);
      const leaf = key.slice(slash + 1);
      if (leaf !== 'list' && leaf !== 'refresh') return;
      if (kv.value.length > s.maxPayloadBytes) {
        safely(() => onError(s.errors('rejected', `${prefix}${key} is larger than ${s.maxPayloadBytes} bytes`)), () => undefined);
        return;
      }
      const value = kv.value.toString('utf8');
      if (leaf === 'list') {
        safely(() => onMessage({ type: 'payload', subject, payload: value }), onError);
        return;
      }
      let serial: unknown;
      try {
        serial = (JSON.parse(value) as { serial?: unknown }).serial;
      } catch {
        return; // not one of ours
      }
      if (typeof serial === 'string') {
        const data = serial;
        safely(() => onMessage({ type: 'signal', subject, data }), onError);
      }
    });
    await s.run('etcd watch', () => connected, s.timeoutMs * 2);
  }

  #ensureLease(): Lease {
    if (this.#lease === undefined || this.#lease.revoked()) {
      const lease = this.#client.lease(this.#ttl, { autoKeepAlive: true });
      lease.on('lost', () => {
        if (this.#lease === lease) this.#lease = undefined;
      });
      this.#lease = lease;
    }
    return this.#lease;
  }

  async campaign(subject: string): Promise<boolean> {
    const key = this.#key(subject, 'leader');
    if (this.#closed) return false;
    return this.#settings.run('etcd leader election', async () => {
      const lease = this.#ensureLease();
      const leaseId = await lease.grant();
      const txn = await this.#client
        .if(key, 'Create', '==', 0)
        .then(this.#client.put(key).value(this.instanceId).lease(leaseId))
        .else(this.#client.get(key))
        .commit();
      if (txn.succeeded) return true;
      const holder = await this.#client.get(key).string();
      return holder === this.instanceId;
    });
  }

  async resign(subject: string): Promise<void> {
    const key = this.#key(subject, 'leader');
    await this.#settings.run('etcd leader release', () => this.#client.if(key, 'Value', '==', this.instanceId).then(this.#client.delete().key(key)).commit());
  }

  async publish(subject: string, payload: string): Promise<void> {
    const key = this.#key(subject, 'list');
    this.#settings.outgoing('payload', payload);
    await this.#settings.run('etcd put', () => this.#client.put(key).value(payload));
  }

  async read(subject: string): Promise<string | undefined> {
    const key = this.#key(subject, 'list');
    const v = await this.#settings.run('etcd get', () => this.#client.get(key).string());
    if (v === null) return undefined;
    if (!this.#settings.fits(v)) throw this.#settings.errors('rejected', `${key} is larger than ${this.#settings.maxPayloadBytes} bytes`);
    return v;
  }

  async signal(subject: string, data: string): Promise<void> {
    const key = this.#key(subject, 'refresh');
    this.#settings.outgoing('signal', data);
    const value = JSON.stringify({ serial: data, at: Date.now(), from: this.instanceId });
    await this.#settings.run('etcd put', () => this.#client.put(key).value(value));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const w = this.#watcher;
    this.#watcher = undefined;
    const lease = this.#lease;
    this.#lease = undefined;
    const s = this.#settings;
    await Promise.allSettled([w ? s.run('etcd watch cancel', () => w.cancel()) : Promise.resolve(), lease ? s.run('etcd lease revoke', () => lease.revoke()) : Promise.resolve()]);
    if (this.#ownsClient) this.#client.close();
  }
}
