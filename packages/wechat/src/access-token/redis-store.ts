// The shared store: one Redis hash per token and one plain key per lock, all keys of one name in
// the same hash slot (`{...}` tag) so the Lua scripts also run on Redis Cluster.
import { withTimeout } from '@wxseal/support';
import { AccessTokenError } from './errors.js';
import type { StoredAccessToken, TokenStore, TokenStoreSetOptions } from './store.js';

/**
 * The Redis commands the store needs, as ioredis (Redis or Cluster) exposes them. Typed
 * structurally so this module never loads ioredis itself.
 */
export interface RedisTokenClient {
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  set(key: string, value: string, pxToken: 'PX', milliseconds: number, nx: 'NX'): Promise<'OK' | null>;
  eval(script: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
}

export interface RedisTokenStoreOptions {
  /** An ioredis client (or anything with the same commands); the store never connects or quits it. */
  client: RedisTokenClient;
  /** Prefix of every key the store writes (default `wxseal:wechat:token:`). Give each deployment its own. */
  prefix?: string;
  /**
   * How long one Redis command may take before it counts as "store unavailable" (default 500 ms).
   * Bounds the wait when Redis is down and ioredis queues commands offline.
   */
  commandTimeoutMs?: number;
}

// KEYS[1] record, KEYS[2] lock; ARGV: token, expiresAt, refreshAt, fetchedAt, ttlMs, fenced(0/1), owner
const SET_SCRIPT = `
if ARGV[6] == '1' and redis.call('GET', KEYS[2]) ~= ARGV[7] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'expiresAt', ARGV[2], 'refreshAt', ARGV[3], 'fetchedAt', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

// KEYS[1] record; ARGV[1] token
const DELETE_IF_TOKEN_SCRIPT = `
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// KEYS[1] lock; ARGV[1] owner
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const FIELDS = ['token', 'expiresAt', 'refreshAt', 'fetchedAt'] as const;

/**
 * A token store shared by every instance through Redis. Every command is bounded by
 * `commandTimeoutMs`; an error or a late answer rejects with WECHAT_TOKEN_STORE_UNAVAILABLE,
 * which the manager turns into its documented degraded behaviour (never a hang).
 */
export class RedisTokenStore implements TokenStore {
  readonly shared = true;
  readonly prefix: string;
  readonly commandTimeoutMs: number;
  readonly #client: RedisTokenClient;

  constructor(options: RedisTokenStoreOptions) {
    if (!options || typeof options.client?.hmget !== 'function' || typeof options.client.eval !== 'function' || typeof options.client.set !== 'function') {
      throw new AccessTokenError('WECHAT_TOKEN_CONFIG_INVALID', 'RedisTokenStore needs an ioredis client');
    }
    this.#client = options.client;
    this.prefix = options.prefix ?? 'wxseal:wechat:token:';
    this.commandTimeoutMs = options.commandTimeoutMs ?? 500;
    if (!Number.isFinite(this.commandTimeoutMs) || this.commandTimeoutMs <= 0) {
      throw new AccessTokenError('WECHAT_TOKEN_CONFIG_INVALID', 'commandTimeoutMs must be a positive number');
    }
  }

  /** Redis key of the token record of `name`. */
  recordKey(name: string): string {
    return `${this.prefix}{${name}}`;
  }

  /** Redis key of lock `lock` of `name`. */
  lockKey(name: string, lock: string): string {
    return `${this.prefix}{${name}}:lock:${lock}`;
  }

  async get(name: string): Promise<StoredAccessToken | undefined> {
    const reply = await this.#bounded('get', () => this.#client.hmget(this.recordKey(name), ...FIELDS));
    if (!Array.isArray(reply)) throw new AccessTokenError('WECHAT_TOKEN_STORE_UNAVAILABLE', 'the token store gave an unexpected answer');
    const [token, expiresAt, refreshAt, fetchedAt] = reply;
    if (typeof token !== 'string' || token.length === 0) return undefined;
    const rec = { token, expiresAt: Number(expiresAt), refreshAt: Number(refreshAt), fetchedAt: Number(fetchedAt) };
    // A half-written or foreign record is treated as absent (the next refresh overwrites it).
    if (!Number.isFinite(rec.expiresAt) || !Number.isFinite(rec.refreshAt) || !Number.isFinite(rec.fetchedAt)) return undefined;
    return rec;
  }

  async set(name: string, record: StoredAccessToken, options: TokenStoreSetOptions): Promise<boolean> {
    const ttlMs = Math.ceil(options.ttlMs);
    if (!(ttlMs > 0)) return false;
    const fence = options.fence;
    const reply = await this.#bounded('set', () =>
      this.#client.eval(
        SET_SCRIPT,
        2,
        this.recordKey(name),
        this.lockKey(name, fence?.lock ?? 'refresh'),
        record.token,
        String(record.expiresAt),
        String(record.refreshAt),
        String(record.fetchedAt),
        ttlMs,
        fence ? '1' : '0',
        fence?.owner ?? '',
      ),
    );
    return reply === 1;
  }

  async deleteIfToken(name: string, token: string): Promise<boolean> {
    const reply = await this.#bounded('delete', () => this.#client.eval(DELETE_IF_TOKEN_SCRIPT, 1, this.recordKey(name), token));
    return reply === 1;
  }

  async acquireLock(name: string, lock: string, owner: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#bounded('lock', () => this.#client.set(this.lockKey(name, lock), owner, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'));
    if (reply === 'OK') return true;
    if (reply === null) return false;
    throw new AccessTokenError('WECHAT_TOKEN_STORE_UNAVAILABLE', 'the token store gave an unexpected answer');
  }

  async releaseLock(name: string, lock: string, owner: string): Promise<boolean> {
    const reply = await this.#bounded('unlock', () => this.#client.eval(RELEASE_SCRIPT, 1, this.lockKey(name, lock), owner));
    return reply === 1;
  }

  async #bounded<T>(op: string, run: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(
        run,
        this.commandTimeoutMs,
        () => new AccessTokenError('WECHAT_TOKEN_STORE_UNAVAILABLE', `the token store did not answer ${op} within ${this.commandTimeoutMs} ms`),
      );
    } catch (cause) {
      if (cause instanceof AccessTokenError) throw cause;
      throw new AccessTokenError('WECHAT_TOKEN_STORE_UNAVAILABLE', `the token store cannot be reached (${op})`, { cause });
    }
  }
}
