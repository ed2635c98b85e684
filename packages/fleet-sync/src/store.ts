// Building a store: from a client the caller owns (createSyncStore), or from endpoints / a URL,
// with clients the store opens and closes itself (connectSyncStore: what a config file gives).
import { Redis } from 'ioredis';
import { createRequire } from 'node:module';
import type { Etcd3 } from 'etcd3';
import { DEFAULT_OP_TIMEOUT_MS, type CommonStoreOptions, type SyncStore } from './common.js';
import { fleetSyncErrors } from './errors.js';
import { EtcdSyncStore, type EtcdStoreOptions } from './etcd.js';
import { RedisSyncStore, type RedisStoreOptions } from './redis.js';

/**
 * etcd3 (gRPC) is an optional peer dependency, loaded only when a store over etcd is connected. It
 * is CommonJS: loaded with require so that connectSyncStore stays synchronous. Its absence is
 * FLEET_SYNC_CONFIG (or the caller's config error) naming the package to install.
 */
function loadEtcd3(errors: NonNullable<CommonStoreOptions['errors']>): typeof Etcd3 {
  try {
    return (createRequire(import.meta.url)('etcd3') as { Etcd3: typeof Etcd3 }).Etcd3;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown } | null;
    // etcd3 itself missing (not one of its own dependencies): "Cannot find module 'etcd3'".
    if ((e?.code === 'MODULE_NOT_FOUND' || e?.code === 'ERR_MODULE_NOT_FOUND') && typeof e.message === 'string' && e.message.includes("'etcd3'")) {
      throw errors('config', 'a store over etcd needs the etcd3 package, which is not installed: npm install etcd3', { cause: err });
    }
    throw err;
  }
}

export type SyncStoreOptions = RedisStoreOptions | EtcdStoreOptions;

/**
 * Delays between reconnections of an owned etcd client's watch: doubling up to 2 s. etcd3's default
 * grows to 30 s, which slows recovery and holds a closing process open until its timer fires.
 */
class CappedBackoff {
  constructor(readonly duration: number) {}
  next(): CappedBackoff {
    return new CappedBackoff(Math.min(this.duration * 2, 2_000));
  }
}

/** A store over a client the caller created (and closes, unless `ownsClient`). */
export function createSyncStore(opts: SyncStoreOptions): SyncStore {
  const errors = opts?.errors ?? fleetSyncErrors;
  if (opts?.kind === 'redis') return new RedisSyncStore(opts);
  if (opts?.kind === 'etcd') return new EtcdSyncStore(opts);
  throw errors('config', 'kind must be redis or etcd');
}

export type ConnectSyncStoreOptions = CommonStoreOptions &
  (
    | {
        kind: 'etcd';
        /** `host:port` or `http(s)://host:port`, one per member. */
        endpoints: readonly string[];
        leaseTtlSeconds?: number;
      }
    | {
        kind: 'redis';
        /** `redis://` or `rediss://` URL (it may carry a password: never logged). */
        url: string;
        lockTtlMs?: number;
      }
  );

/** A store with clients of its own, closed by its close(). Connects lazily: nothing waits here. */
export function connectSyncStore(opts: ConnectSyncStoreOptions): SyncStore {
  const errors = opts?.errors ?? fleetSyncErrors;
  const timeout = opts.opTimeoutMs ?? DEFAULT_OP_TIMEOUT_MS;
  if (opts?.kind === 'etcd') {
    const hosts = [...(opts.endpoints ?? [])];
    if (hosts.length === 0 || hosts.some((h) => typeof h !== 'string' || !/^(https?:\/\/)?[A-Za-z0-9.[\]:-]+(:\d{1,5})?\/?$/.test(h))) {
      throw errors('config', 'endpoints must be a non-empty list of host:port or http(s)://host:port');
    }
    const { endpoints: _e, ...rest } = opts;
    const Etcd3Client = loadEtcd3(errors);
    const client = new Etcd3Client({ hosts, dialTimeout: timeout, faultHandling: { watchBackoff: new CappedBackoff(125) } });
    try {
      return new EtcdSyncStore({ ...rest, client, ownsClient: true });
    } catch (err) {
      client.close();
      throw err;
    }
  }
  if (opts?.kind === 'redis') {
    if (typeof opts.url !== 'string' || !/^rediss?:\/\/[^/\s]/.test(opts.url)) throw errors('config', 'url must be a redis:// or rediss:// URL');
    const { url, ...rest } = opts;
    // One retry per command: the store's deadline, not ioredis' queue, decides how long a caller waits.
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: timeout });
    // The store reports failures of its own operations; connection errors here would only repeat them.
    client.on('error', () => undefined);
    try {
      return new RedisSyncStore({ ...rest, client, ownsClient: true });
    } catch (err) {
      client.disconnect();
      throw err;
    }
  }
  throw errors('config', 'kind must be redis or etcd');
}
