import { createHash, randomBytes } from 'node:crypto';
import { WxsealError } from '@wxseal/protocol';
import { withTimeout } from '@wxseal/support';
import type { NonceRecord, NonceStore } from './nonce-store.js';

/**
 * What the store needs of an ioredis client (`Redis`, `Redis` in Sentinel mode, or `Cluster`).
 * Typed structurally so this module never loads ioredis itself.
 */
export interface RedisNonceClient {
  evalsha(sha1: string, numKeys: number, ...args: string[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  /** `WAIT numreplicas timeout`; needed only with `minReplicaAcks` (a Redis or Sentinel client, not a Cluster). */
  wait?(numReplicas: number, timeoutMs: number): Promise<number>;
  /**
   * Connection events. When present the store listens for `ready` (and, for a Cluster, `+node` and
   * `-node`) and starts a new epoch on every reconnect (see RedisNonceStore).
   */
  on?(event: 'ready' | '+node' | '-node', listener: () => void): unknown;
  off?(event: 'ready' | '+node' | '-node', listener: () => void): unknown;
  /** ioredis's connection status; `ready` when the store is created means the first connection is made. */
  readonly status?: string;
}

/** @deprecated the store no longer uses a bare SET; use RedisNonceClient. */
export type RedisSetNxClient = RedisNonceClient;

/** Why a store decided that the records of the nonce store may have been lost. */
export type NonceStoreLossReason =
  /** A bucket's epoch key was missing: Redis restarted without persistence, was flushed, or this is its first use. */
  | 'epoch-missing'
  /** A bucket's epoch differs from the one this instance used: another instance detected a loss. */
  | 'epoch-changed'
  /** This instance's connection was re-established (restart, failover): it cannot know what the new server kept. */
  | 'reconnect';

export interface NonceStoreLoss {
  /** The loss time this instance now applies, Unix milliseconds (the newest loss it knows). */
  readonly atMs: number;
  readonly reason: NonceStoreLossReason;
}

export interface RedisNonceStoreOptions {
  /** An ioredis client (or anything with the same commands); the store never connects or quits it. */
  client: RedisNonceClient;
  /** Prefix of every key the store writes (default `wxseal:nonce:`). Give each deployment its own. No `{` or `}`. */
  prefix?: string;
  /**
   * How long one claim may take before the request is refused with WXSEAL_NONCE_STORE_UNAVAILABLE
   * (default 1000 ms). Bounds the wait when Redis is down and ioredis queues commands offline.
   */
  commandTimeoutMs?: number;
  /**
   * Extra seconds every key lives beyond the request's window (default 5), covering clock
   * differences between the server instances that share the store.
   */
  ttlMarginSeconds?: number;
  /**
   * Seconds after a detected loss during which timestamps are still refused (default 0): a request
   * whose timestamp is at most (loss second + margin) gets WXSEAL_NONCE_STORE_RESET. 0 refuses exactly
   * the requests signed before the loss by a client whose clock is not ahead of the servers'; a
   * client whose clock runs d seconds ahead needs a margin of d (the window W covers every client the
   * timestamp check accepts, at the price of refusing everything for W seconds after a loss).
   */
  resetMarginSeconds?: number;
  /**
   * Replicas that must acknowledge a claim before the request is accepted (default 0): after the
   * script, `WAIT n timeout`; fewer acknowledgements refuse the request (WXSEAL_NONCE_STORE_UNAVAILABLE).
   * With 1, a failover to a replica cannot lose an accepted nonce, and a master cut off from its
   * replicas (the old one during a failover) can no longer accept anything. Not for a Cluster client.
   */
  minReplicaAcks?: number;
  /** Told once per newly known loss (the store refuses requests signed before it). */
  onLoss?: (loss: NonceStoreLoss) => void;
  /** Wall clock in milliseconds (default Date.now); the epoch start times are written with it. */
  clock?: () => number;
}

/** Fixed number of buckets; each has its own epoch key in the same Redis Cluster slot as its nonces. */
export const NONCE_BUCKETS = 16;

// One atomic step per claim (the epoch check and the SET NX must see the same data):
// KEYS[1] = the bucket's epoch key, KEYS[2] = the nonce key (same hash tag, so same slot);
// ARGV[1] = the epoch this instance expects, ARGV[2] = the TTL, ARGV[3] = the epoch to create if
// none exists. Answers {1} claimed, {0} already claimed, {2, epoch} the epoch is not the expected
// one (missing: created as ARGV[3]); then nothing was written for the nonce.
const CLAIM_SCRIPT = `local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[3])
  return {2, ARGV[3]}
end
if epoch ~= ARGV[1] then return {2, epoch} end
if redis.call('SET', KEYS[2], '1', 'EX', ARGV[2], 'NX') then return {1} end
return {0}`;
const CLAIM_SHA = createHash('sha1').update(CLAIM_SCRIPT).digest('hex');

// Reads a bucket's epoch, creating it (ARGV[1]) when missing.
const ENSURE_SCRIPT = `local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return epoch`;
const ENSURE_SHA = createHash('sha1').update(ENSURE_SCRIPT).digest('hex');

const EPOCH_VALUE = /^([0-9a-f]{8,64}):(\d{1,16})$/;

/** FNV-1a (32 bits): a cheap, stable spread of (key id, nonce) over the buckets. Not a security boundary. */
function bucketOf(keyId: string, nonce: string): number {
  let h = 0x811c9dc5;
  const s = `${keyId} ${nonce}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % NONCE_BUCKETS;
}

function tag(bucket: number): string {
  return `{b${bucket.toString().padStart(2, '0')}}`;
}

/**
 * A nonce store shared by every server instance. One Lua script per request (EVALSHA, EVAL when
 * the server does not know it yet) checks the bucket's epoch and does `SET key 1 EX ttl NX`,
 * atomically. If Redis errors or does not answer within the command timeout, the request is refused
 * (WXSEAL_NONCE_STORE_UNAVAILABLE): never accepted unchecked, never left hanging.
 *
 * Loss of the records (SPEC.md 8.1). The keys are spread over NONCE_BUCKETS buckets; each bucket has
 * an epoch key `<prefix>{bNN}:epoch` holding `<random id>:<start ms>`, in the same Cluster slot as its
 * nonce keys `<prefix>{bNN}:<keyId>:<nonce>`. A restart without persistence or a FLUSHALL removes
 * the epoch keys with the nonces: the next claim finds the epoch missing and creates a new one whose
 * start is now. A failover to a replica that missed the last writes keeps old epoch keys, so that
 * cannot be seen in the data: instead every reconnect of this instance's connection starts a new epoch
 * in every bucket (start = now), conservatively. Either way every instance that meets a new epoch
 * takes its start as the loss time and refuses with WXSEAL_NONCE_STORE_RESET every request whose
 * timestamp is at or before the loss second: exactly those that may have been accepted before the
 * loss. Requests signed later are claimed in the new data. One window after the loss the timestamp
 * check refuses the old requests anyway.
 */
export class RedisNonceStore implements NonceStore {
  readonly prefix: string;
  readonly commandTimeoutMs: number;
  readonly ttlMarginSeconds: number;
  readonly resetMarginSeconds: number;
  readonly minReplicaAcks: number;
  readonly #client: RedisNonceClient;
  readonly #clock: () => number;
  readonly #onLoss: ((loss: NonceStoreLoss) => void) | undefined;
  /** The epoch this instance expects per bucket (undefined: not seen yet). */
  readonly #epochs: (string | undefined)[] = new Array<string | undefined>(NONCE_BUCKETS).fill(undefined);
  #lossAtMs = -Infinity;
  // Reconnects asked for a new epoch (#renewWanted) and how many of those requests a completed renewal covers.
  #renewWanted = 0;
  #renewDone = 0;
  #renewal: Promise<void> | undefined;
  #connectedOnce: boolean;
  readonly #onReconnect = (): void => {
    if (!this.#connectedOnce) {
      this.#connectedOnce = true;
      return;
    }
    this.#renewWanted++;
    void this.#renew().catch(() => undefined); // retried by the next claim, which fails closed meanwhile
  };
  readonly #onTopology = (): void => {
    if (this.#connectedOnce) this.#onReconnect();
  };

  constructor(options: RedisNonceStoreOptions) {
    const c = options?.client;
    if (!c || typeof c.evalsha !== 'function' || typeof c.eval !== 'function' || typeof c.set !== 'function') {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'RedisNonceStore needs an ioredis client');
    }
    this.#client = c;
    this.prefix = options.prefix ?? 'wxseal:nonce:';
    this.commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    this.ttlMarginSeconds = options.ttlMarginSeconds ?? 5;
    this.resetMarginSeconds = options.resetMarginSeconds ?? 0;
    this.minReplicaAcks = options.minReplicaAcks ?? 0;
    this.#clock = options.clock ?? Date.now;
    this.#onLoss = options.onLoss;
    if (/[{}]/.test(this.prefix)) {
      // Redis Cluster hashes the first {...} of a key: braces in the prefix would move the keys out of their bucket's slot.
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'prefix must not contain { or }');
    }
    if (!Number.isFinite(this.commandTimeoutMs) || this.commandTimeoutMs <= 0) {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'commandTimeoutMs must be a positive number');
    }
    if (!Number.isSafeInteger(this.ttlMarginSeconds) || this.ttlMarginSeconds < 0) {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'ttlMarginSeconds must be a non-negative integer');
    }
    if (!Number.isSafeInteger(this.resetMarginSeconds) || this.resetMarginSeconds < 0 || this.resetMarginSeconds > 3600) {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'resetMarginSeconds must be an integer from 0 to 3600');
    }
    if (!Number.isSafeInteger(this.minReplicaAcks) || this.minReplicaAcks < 0 || this.minReplicaAcks > 16) {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'minReplicaAcks must be an integer from 0 to 16');
    }
    if (this.minReplicaAcks > 0 && typeof c.wait !== 'function') {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'minReplicaAcks needs a client with WAIT');
    }
    this.#connectedOnce = c.status === 'ready';
    if (typeof c.on === 'function') {
      c.on('ready', this.#onReconnect);
      c.on('+node', this.#onTopology);
      c.on('-node', this.#onTopology);
    }
  }

  /** Stops listening to the client's events (the client itself is left alone). */
  detach(): void {
    if (typeof this.#client.off !== 'function') return;
    this.#client.off('ready', this.#onReconnect);
    this.#client.off('+node', this.#onTopology);
    this.#client.off('-node', this.#onTopology);
  }

  /** The newest loss this instance knows, Unix ms (undefined: none). */
  get lossAtMs(): number | undefined {
    return Number.isFinite(this.#lossAtMs) ? this.#lossAtMs : undefined;
  }

  /** The bucket of a pair (0 … NONCE_BUCKETS − 1). */
  bucketOf(keyId: string, nonce: string): number {
    return bucketOf(keyId, nonce);
  }

  /** The Redis key of a pair. A nonce holds no `:`, so the key is unambiguous even though a key id may. */
  keyFor(keyId: string, nonce: string): string {
    return `${this.prefix}${tag(bucketOf(keyId, nonce))}:${keyId}:${nonce}`;
  }

  /** The epoch key of a bucket (same Cluster slot as the bucket's nonce keys). */
  epochKey(bucket: number): string {
    return `${this.prefix}${tag(bucket)}:epoch`;
  }

  /**
   * Reads (or creates) every bucket's epoch, so that the first requests need one round trip and a
   * loss that happened while this instance was away is known before it serves. Optional.
   */
  async prepare(): Promise<void> {
    await this.#bounded(async () => {
      await this.#renewIfWanted();
      await this.#ensureAll(this.#newEpoch());
    });
  }

  /** Reads every bucket's epoch, creating the missing ones as `candidate`, and adopts them. */
  async #ensureAll(candidate: string): Promise<void> {
    await Promise.all(
      this.#epochs.map(async (_, bucket) => {
        const reply = await this.#script(ENSURE_SHA, ENSURE_SCRIPT, [this.epochKey(bucket)], [candidate]);
        if (typeof reply !== 'string') throw new Error('the nonce store gave an unexpected answer');
        this.#adopt(bucket, reply, reply === candidate);
      }),
    );
  }

  async checkAndSet(record: NonceRecord): Promise<boolean> {
    if (!Number.isSafeInteger(record.timestamp)) {
      // Without the timestamp the loss rule cannot be applied: refuse rather than guess.
      throw new WxsealError('WXSEAL_NONCE_STORE_UNAVAILABLE', 'the nonce record has no timestamp');
    }
    return this.#bounded(() => this.#claim(record));
  }

  async #claim(record: NonceRecord): Promise<boolean> {
    await this.#renewIfWanted();
    this.#refuseIfBeforeLoss(record.timestamp);
    // +1: Redis counts whole seconds from the moment of the SET, and the pair must survive all of
    // second `expiresAt`, during which the timestamp check still accepts the request.
    const ttl = Math.max(1, Math.ceil(record.expiresAt - record.now) + 1 + this.ttlMarginSeconds);
    const bucket = bucketOf(record.keyId, record.nonce);
    const keys = [this.epochKey(bucket), `${this.prefix}${tag(bucket)}:${record.keyId}:${record.nonce}`];
    // A new epoch is adopted and the claim tried again; two changes in a row is a store in turmoil.
    for (let attempt = 0; attempt < 3; attempt++) {
      const candidate = this.#newEpoch();
      const reply = await this.#script(CLAIM_SHA, CLAIM_SCRIPT, keys, [this.#epochs[bucket] ?? '', String(ttl), candidate]);
      if (!Array.isArray(reply)) break;
      if (reply.length === 1 && reply[0] === 1) {
        await this.#replicated();
        return true;
      }
      if (reply.length === 1 && reply[0] === 0) return false;
      if (reply.length !== 2 || reply[0] !== 2 || typeof reply[1] !== 'string') break;
      const created = reply[1] === candidate;
      this.#adopt(bucket, reply[1], created);
      // The data went with the epoch keys of the other buckets too: create them now, with the same
      // start, rather than one by one as claims reach them (each would be a new, later loss time,
      // refusing the requests of its second again). No claim can have succeeded in a bucket whose
      // epoch is missing, so the earlier start refuses nothing that was accepted since the loss.
      if (created) await this.#ensureAll(candidate);
      this.#refuseIfBeforeLoss(record.timestamp);
    }
    throw new WxsealError('WXSEAL_NONCE_STORE_UNAVAILABLE', 'the nonce store gave an unexpected answer');
  }

  /** With `minReplicaAcks`: the claim (every write before it on this connection) reached enough replicas. */
  async #replicated(): Promise<void> {
    if (this.minReplicaAcks === 0) return;
    // Half the command timeout: the answer must still come back within it.
    const acks = await this.#client.wait!(this.minReplicaAcks, Math.max(1, Math.floor(this.commandTimeoutMs / 2)));
    if (typeof acks !== 'number' || acks < this.minReplicaAcks) {
      throw new WxsealError('WXSEAL_NONCE_STORE_UNAVAILABLE', 'too few replicas acknowledged the nonce in time');
    }
  }

  #refuseIfBeforeLoss(timestamp: number): void {
    if (timestamp <= Math.floor(this.#lossAtMs / 1000) + this.resetMarginSeconds) {
      throw new WxsealError('WXSEAL_NONCE_STORE_RESET', 'the nonce store lost its records after this request was signed; send a new request');
    }
  }

  /** Takes `epoch` as the bucket's epoch; its start is a loss time unless this is the first sight of an old epoch. */
  #adopt(bucket: number, epoch: string, created: boolean): void {
    const previous = this.#epochs[bucket];
    this.#epochs[bucket] = epoch;
    const match = EPOCH_VALUE.exec(epoch);
    // An epoch this store cannot read (written by something else): the loss is taken to be now.
    const startMs = match ? Number(match[2]) : this.#clock();
    const reason: NonceStoreLossReason | undefined = created ? 'epoch-missing' : previous !== undefined ? 'epoch-changed' : undefined;
    this.#noteLoss(startMs, reason);
  }

  #noteLoss(atMs: number, reason: NonceStoreLossReason | undefined): void {
    if (!(atMs > this.#lossAtMs)) return;
    this.#lossAtMs = atMs;
    // On first sight of an existing epoch its start still bounds what this instance accepts, but
    // it is no news: an instance starting against an epoch made by another is not a loss to report.
    if (reason !== undefined) this.#onLoss?.({ atMs, reason });
  }

  #newEpoch(): string {
    return `${randomBytes(12).toString('hex')}:${Math.floor(this.#clock())}`;
  }

  async #renewIfWanted(): Promise<void> {
    while (this.#renewDone < this.#renewWanted) await this.#renew();
  }

  /** After a reconnect: a new epoch in every bucket, start = now, before this instance claims again. */
  #renew(): Promise<void> {
    if (this.#renewal) return this.#renewal;
    const wanted = this.#renewWanted;
    const run = async (): Promise<void> => {
      const epoch = this.#newEpoch();
      // Separate SETs: the buckets live in different Cluster slots. Any bucket left on its old
      // epoch is retried by the next claim (the renewal is not marked done).
      await Promise.all(this.#epochs.map((_, bucket) => this.#client.set(this.epochKey(bucket), epoch)));
      this.#epochs.fill(epoch);
      this.#renewDone = Math.max(this.#renewDone, wanted);
      this.#noteLoss(Number(EPOCH_VALUE.exec(epoch)![2]), 'reconnect');
    };
    this.#renewal = run().finally(() => {
      this.#renewal = undefined;
    });
    return this.#renewal;
  }

  async #script(sha: string, source: string, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.#client.evalsha(sha, keys.length, ...keys, ...args);
    } catch (err) {
      // A server that restarted, failed over or was SCRIPT FLUSHed does not know the script yet.
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.#client.eval(source, keys.length, ...keys, ...args);
    }
  }

  /** Runs a store operation within the command timeout; any failure but a reset is WXSEAL_NONCE_STORE_UNAVAILABLE. */
  async #bounded<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(op, this.commandTimeoutMs, () => new WxsealError('WXSEAL_NONCE_STORE_UNAVAILABLE', 'the nonce store did not answer in time'));
    } catch (cause) {
      if (cause instanceof WxsealError && (cause.code === 'WXSEAL_NONCE_STORE_UNAVAILABLE' || cause.code === 'WXSEAL_NONCE_STORE_RESET')) throw cause;
      throw new WxsealError('WXSEAL_NONCE_STORE_UNAVAILABLE', 'the nonce store cannot be reached', { cause });
    }
  }
}
