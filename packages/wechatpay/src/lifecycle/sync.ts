// Cluster synchronisation of platform certificates. One instance per merchant is the leader (a
// Redis key SET NX PX renewed while alive, or an etcd key bound to a lease kept alive by the
// client); only the leader downloads. It publishes the verified list (public PEMs) with an
// HMAC-SHA256 keyed by HKDF(APIv3 key, mchid): Redis SET + PUBLISH, or etcd PUT (followers watch).
// Followers re-validate what they receive (MAC, freshness, PEMs parse, unexpired) and swap.
// Every store operation is bounded by a timeout; a failing store never takes material away.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Etcd3, Lease, Watcher } from 'etcd3';
import { withTimeout as deadline } from '@wxseal/support';
import { CertificateLifecycleError } from './errors.js';

export type SyncOptions =
  | { kind: 'redis'; client: Redis; prefix?: string; lockTtlMs?: number; opTimeoutMs?: number }
  | { kind: 'etcd'; client: Etcd3; prefix?: string; leaseTtlSeconds?: number; opTimeoutMs?: number };

export type SyncMessage =
  | { type: 'certs'; mchid: string; payload: string }
  | { type: 'refresh'; mchid: string; serial: string };

/** What a leader publishes (inside the MACed envelope). */
export interface SyncPayload {
  v: 1;
  mchid: string;
  /** Unix ms when the leader published; followers refuse anything older than what they accepted. */
  issuedAt: number;
  /** Instance id of the publisher (diagnostics). */
  origin: string;
  /** The verified platform certificates (PEM; public). */
  certificates: string[];
}

const MAC_SALT = Buffer.from('wxseal/wechatpay/certificate-sync');

/**
 * The deadline of every store operation: WECHATPAY_LIFECYCLE_SYNC_UNAVAILABLE, "<what> did not
 * answer within <ms> ms". Unref'd: background sync must not hold a closing process open.
 */
function withTimeout<T>(op: () => PromiseLike<T> | T, ms: number, what: string): Promise<T> {
  return deadline(op, ms, () => new CertificateLifecycleError('WECHATPAY_LIFECYCLE_SYNC_UNAVAILABLE', `${what} did not answer within ${ms} ms`), { unref: true });
}

/** HMAC key of a merchant's sync payloads: HKDF-SHA256(APIv3 key, salt, "v1|" + mchid). */
export function syncMacKey(apiV3Key: string, mchid: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(apiV3Key, 'utf8'), MAC_SALT, Buffer.from(`v1|${mchid}`, 'utf8'), 32));
}

/** Serialises and MACs a payload (`{"body": "...", "mac": "..."}`). */
export function sealSyncPayload(payload: SyncPayload, macKey: Buffer | undefined): string {
  const body = JSON.stringify(payload);
  return JSON.stringify(macKey === undefined ? { body } : { body, mac: createHmac('sha256', macKey).update(body).digest('base64url') });
}

/** Checks the MAC (when a key is given) and the shape; throws WECHATPAY_LIFECYCLE_SYNC_REJECTED. */
export function openSyncPayload(text: string, mchid: string, macKey: Buffer | undefined): SyncPayload {
  const reject = (m: string): never => {
    throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_SYNC_REJECTED', `sync payload for ${mchid} rejected: ${m}`);
  };
  if (typeof text !== 'string' || text.length > 512 * 1024) reject('not a bounded string');
  let env: unknown;
  try {
    env = JSON.parse(text);
  } catch {
    reject('not JSON');
  }
  const e = env as { body?: unknown; mac?: unknown };
  if (typeof e !== 'object' || e === null || typeof e.body !== 'string') reject('no body');
  const body = e.body as string;
  if (macKey !== undefined) {
    if (typeof e.mac !== 'string') reject('no MAC');
    const want = createHmac('sha256', macKey).update(body).digest();
    const got = Buffer.from(e.mac as string, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) reject('MAC does not verify (written without the APIv3 key?)');
  }
  let p: unknown;
  try {
    p = JSON.parse(body);
  } catch {
    reject('body is not JSON');
  }
  const q = p as Partial<SyncPayload>;
  if (typeof q !== 'object' || q === null || q.v !== 1) reject('unknown version');
  if (q.mchid !== mchid) reject('payload names another merchant');
  if (typeof q.issuedAt !== 'number' || !Number.isFinite(q.issuedAt)) reject('issuedAt missing');
  if (!Array.isArray(q.certificates) || q.certificates.length > 64 || !q.certificates.every((c) => typeof c === 'string')) reject('certificates must be a list of PEM strings');
  return { v: 1, mchid, issuedAt: q.issuedAt as number, origin: typeof q.origin === 'string' ? q.origin : '', certificates: q.certificates as string[] };
}

export interface SyncBackend {
  readonly kind: 'redis' | 'etcd';
  readonly instanceId: string;
  /** Subscribes to certificate and refresh messages. */
  start(onMessage: (msg: SyncMessage) => void, onError: (err: unknown) => void): Promise<void>;
  /** Acquires or renews leadership for a merchant; true while this instance leads. */
  campaign(mchid: string): Promise<boolean>;
  resign(mchid: string): Promise<void>;
  publish(mchid: string, payload: string): Promise<void>;
  read(mchid: string): Promise<string | undefined>;
  requestRefresh(mchid: string, serial: string): Promise<void>;
  close(): Promise<void>;
}

export function createSyncBackend(opts: SyncOptions): SyncBackend {
  if (opts.kind === 'redis') return new RedisSyncBackend(opts);
  if (opts.kind === 'etcd') return new EtcdSyncBackend(opts);
  throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', 'sync.kind must be redis or etcd');
}

const RENEW_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

class RedisSyncBackend implements SyncBackend {
  readonly kind = 'redis' as const;
  readonly instanceId = randomBytes(8).toString('hex');
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #timeout: number;
  #sub: Redis | undefined;
  #closed = false;

  constructor(opts: Extract<SyncOptions, { kind: 'redis' }>) {
    if (typeof opts.client?.set !== 'function' || typeof opts.client.duplicate !== 'function') {
      throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', 'sync.client must be an ioredis client');
    }
    this.#client = opts.client;
    this.#prefix = opts.prefix ?? 'wxseal:wechatpay:certs:';
    this.#ttl = opts.lockTtlMs ?? 15_000;
    this.#timeout = opts.opTimeoutMs ?? 2_000;
  }

  get #channel(): string {
    return `${this.#prefix}events`;
  }

  async start(onMessage: (msg: SyncMessage) => void, onError: (err: unknown) => void): Promise<void> {
    const sub = this.#client.duplicate({ lazyConnect: true });
    this.#sub = sub;
    sub.on('error', (err: unknown) => onError(err));
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      try {
        const m = JSON.parse(message) as Partial<SyncMessage> & { payload?: unknown; serial?: unknown };
        if (typeof m.mchid !== 'string') return;
        if (m.type === 'certs' && typeof m.payload === 'string') onMessage({ type: 'certs', mchid: m.mchid, payload: m.payload });
        else if (m.type === 'refresh' && typeof m.serial === 'string') onMessage({ type: 'refresh', mchid: m.mchid, serial: m.serial });
      } catch {
        /* not ours */
      }
    });
    await withTimeout(async () => {
      await sub.connect();
      await sub.subscribe(this.#channel);
    }, this.#timeout * 2, 'Redis SUBSCRIBE');
  }

  async campaign(mchid: string): Promise<boolean> {
    const key = `${this.#prefix}${mchid}:leader`;
    return withTimeout(async () => {
      const set = await this.#client.set(key, this.instanceId, 'PX', this.#ttl, 'NX');
      if (set === 'OK') return true;
      const renewed = await this.#client.eval(RENEW_SCRIPT, 1, key, this.instanceId, String(this.#ttl));
      return renewed === 1;
    }, this.#timeout, 'Redis leader lock');
  }

  async resign(mchid: string): Promise<void> {
    await withTimeout(() => this.#client.eval(RELEASE_SCRIPT, 1, `${this.#prefix}${mchid}:leader`, this.instanceId), this.#timeout, 'Redis leader release');
  }

  async publish(mchid: string, payload: string): Promise<void> {
    await withTimeout(async () => {
      await this.#client.set(`${this.#prefix}${mchid}:list`, payload);
      await this.#client.publish(this.#channel, JSON.stringify({ type: 'certs', mchid, payload }));
    }, this.#timeout, 'Redis publish');
  }

  async read(mchid: string): Promise<string | undefined> {
    const v = await withTimeout(() => this.#client.get(`${this.#prefix}${mchid}:list`), this.#timeout, 'Redis GET');
    return v ?? undefined;
  }

  async requestRefresh(mchid: string, serial: string): Promise<void> {
    await withTimeout(() => this.#client.publish(this.#channel, JSON.stringify({ type: 'refresh', mchid, serial })), this.#timeout, 'Redis publish');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub?.disconnect();
  }
}

class EtcdSyncBackend implements SyncBackend {
  readonly kind = 'etcd' as const;
  readonly instanceId = randomBytes(8).toString('hex');
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #timeout: number;
  #lease: Lease | undefined;
  #watcher: Watcher | undefined;
  #closed = false;

  constructor(opts: Extract<SyncOptions, { kind: 'etcd' }>) {
    if (typeof opts.client?.put !== 'function' || typeof opts.client.lease !== 'function') {
      throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', 'sync.client must be an etcd3 client');
    }
    this.#client = opts.client;
    this.#prefix = opts.prefix ?? 'wxseal/wechatpay/certs/';
    this.#ttl = opts.leaseTtlSeconds ?? 10;
    this.#timeout = opts.opTimeoutMs ?? 2_000;
  }

  async start(onMessage: (msg: SyncMessage) => void, onError: (err: unknown) => void): Promise<void> {
    const watcher = await withTimeout(() => this.#client.watch().prefix(this.#prefix).create(), this.#timeout * 2, 'etcd watch');
    if (this.#closed) {
      void watcher.cancel().catch(() => undefined);
      return;
    }
    this.#watcher = watcher;
    watcher.on('error', (err) => onError(err));
    watcher.on('put', (kv) => {
      const key = kv.key.toString('utf8').slice(this.#prefix.length);
      const value = kv.value.toString('utf8');
      const slash = key.lastIndexOf('/');
      if (slash <= 0) return;
      const mchid = key.slice(0, slash);
      const leaf = key.slice(slash + 1);
      if (leaf === 'list') onMessage({ type: 'certs', mchid, payload: value });
      else if (leaf === 'refresh') {
        try {
          const r = JSON.parse(value) as { serial?: unknown };
          if (typeof r.serial === 'string') onMessage({ type: 'refresh', mchid, serial: r.serial });
        } catch {
          /* ignore */
        }
      }
    });
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

  async campaign(mchid: string): Promise<boolean> {
    if (this.#closed) return false;
    const key = `${this.#prefix}${mchid}/leader`;
    return withTimeout(async () => {
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
    }, this.#timeout, 'etcd leader election');
  }

  async resign(mchid: string): Promise<void> {
    const key = `${this.#prefix}${mchid}/leader`;
    await withTimeout(
      () => this.#client.if(key, 'Value', '==', this.instanceId).then(this.#client.delete().key(key)).commit(),
      this.#timeout,
      'etcd leader release',
    );
  }

  async publish(mchid: string, payload: string): Promise<void> {
    await withTimeout(() => this.#client.put(`${this.#prefix}${mchid}/list`).value(payload), this.#timeout, 'etcd put');
  }

  async read(mchid: string): Promise<string | undefined> {
    const v = await withTimeout(() => this.#client.get(`${this.#prefix}${mchid}/list`).string(), this.#timeout, 'etcd get');
    return v ?? undefined;
  }

  async requestRefresh(mchid: string, serial: string): Promise<void> {
    await withTimeout(() => this.#client.put(`${this.#prefix}${mchid}/refresh`).value(JSON.stringify({ serial, at: Date.now(), from: this.instanceId })), this.#timeout, 'etcd put');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const w = this.#watcher;
    this.#watcher = undefined;
    const lease = this.#lease;
    this.#lease = undefined;
    await Promise.allSettled([
      w ? withTimeout(() => w.cancel(), this.#timeout, 'etcd watch cancel') : Promise.resolve(),
      lease ? withTimeout(() => lease.revoke(), this.#timeout, 'etcd lease revoke') : Promise.resolve(),
    ]);
  }
}

