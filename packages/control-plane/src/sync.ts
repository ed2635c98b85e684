/**
 * Keeps one instance's view of the control plane current: a version check every pollIntervalMs
 * (the bound when every message is lost), and at once when Redis pub/sub or PostgreSQL
 * LISTEN/NOTIFY announces a change. The version compared is the pair (COUNT(*), MAX(seq)) of the
 * changes table, not MAX(seq) alone: sequence numbers are assigned at insert, so on PostgreSQL and
 * MariaDB a transaction holding seq 41 may commit after seq 42 is visible; MAX(seq) would not move
 * then, but the count does (change rows are never deleted).
 */
import type { Kysely } from 'kysely';
import type { Client as PgClient } from 'pg';
import { Redis } from 'ioredis';
import { WxsealError } from '@wxseal/protocol';
import { invalidInput } from './errors.js';
import { checkChannel, redisOptions } from './redis.js';
import type { ControlPlaneDatabase } from './schema.js';
import { PG_CHANNEL_PATTERN, readChangeVersion } from './store.js';

export type SyncComponent = 'database' | 'redis' | 'postgres';

export interface ControlPlaneSyncOptions {
  db: Kysely<ControlPlaneDatabase>;
  /** How often the version is checked (ms): the bound on the delay when a message is lost. */
  pollIntervalMs: number;
  now: () => number;
  /**
   * Called with the new version (MAX(seq)) when the changes table changed since the last applied
   * check (the version may be unchanged when only a late-committing lower seq appeared). The check
   * is confirmed only once it resolves; a rejection counts as a failed check.
   */
  apply: (version: number) => Promise<void>;
  /** SUBSCRIBE to this channel (what redisChangeNotifier publishes on): a message triggers a check at once. */
  redis?: { url: string; channel: string };
  /**
   * LISTEN on a dedicated PostgreSQL connection (PostgreSQL only); the stores send pg_notify in each
   * change's transaction when given the same channel (ControlPlaneStoreOptions.postgresNotifyChannel).
   */
  postgresNotify?: { url: string; channel: string };
  /** Every failure, by component; called synchronously, must not throw. Nothing else is thrown from timers. */
  onError?: (err: unknown, component: SyncComponent) => void;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const PG_RETRY_MIN_MS = 100;
const PG_RETRY_MAX_MS = 2_000;

export class ControlPlaneSync {
  /** checks: started; applied: checks that called apply successfully; messages: announcements received; errors: failed checks and channel errors. */
  readonly counts = { checks: 0, applied: 0, messages: 0, errors: 0 };
  readonly #db: Kysely<ControlPlaneDatabase>;
  readonly #pollIntervalMs: number;
  readonly #now: () => number;
  readonly #apply: (version: number) => Promise<void>;
  readonly #onError: (err: unknown, component: SyncComponent) => void;
  readonly #redisOptions: { url: string; channel: string } | undefined;
  readonly #pgOptions: { url: string; channel: string } | undefined;
  #applied: { count: number; version: number } | undefined;
  #confirmedAt: number | undefined;
  #inFlight: Promise<void> | undefined;
  #queued: Deferred | undefined;
  #timer: NodeJS.Timeout | undefined;
  #subscriber: Redis | undefined;
  #subscribed = false;
  #pg: PgClient | undefined;
  #pgGeneration = 0;
  #pgRetry: NodeJS.Timeout | undefined;
  #pgRetryMs = PG_RETRY_MIN_MS;
  #started = false;
  #closed = false;

  constructor(options: ControlPlaneSyncOptions) {
    if (!Number.isFinite(options.pollIntervalMs) || options.pollIntervalMs < 10) invalidInput('pollIntervalMs must be at least 10');
    this.#db = options.db;
    this.#pollIntervalMs = options.pollIntervalMs;
    this.#now = options.now;
    this.#apply = options.apply;
    const report = options.onError ?? (() => undefined);
    this.#onError = (err, component) => {
      try {
        report(err, component);
      } catch {
        // a throwing reporter must not break the sync
      }
    };
    if (options.redis) {
      checkChannel(options.redis.channel);
      this.#redisOptions = options.redis;
    }
    if (options.postgresNotify) {
      if (!/^postgres(ql)?:/i.test(options.postgresNotify.url)) invalidInput('postgresNotify needs a postgres:// URL');
      if (!PG_CHANNEL_PATTERN.test(options.postgresNotify.channel)) invalidInput('a PostgreSQL channel is 1-63 lowercase letters, digits and _');
      this.#pgOptions = options.postgresNotify;
    }
  }

  /** MAX(seq) at the last applied check (0 before the first). */
  get appliedVersion(): number {
    return this.#applied?.version ?? 0;
  }

  /** COUNT(*) of the changes table at the last applied check (0 before the first). */
  get appliedChangeCount(): number {
    return this.#applied?.count ?? 0;
  }

  /**
   * Starts polling and listening, then runs the first check (which applies the current version).
   * Resolves when it is done; rejects when it failed (database down): polling goes on regardless,
   * and staleness() stays Infinity until a check succeeds.
   */
  async start(): Promise<void> {
    if (this.#closed) throw new Error('the sync is closed');
    if (this.#started) return this.checkNow();
    this.#started = true;
    this.#timer = setInterval(() => this.#background(), this.#pollIntervalMs);
    this.#timer.unref();
    if (this.#redisOptions) this.#subscribe(this.#redisOptions);
    if (this.#pgOptions) void this.#listen(this.#pgOptions);
    await this.checkNow();
  }

  /**
   * Whether each announcement channel is in place now (undefined: not configured). While one is
   * not, changes still arrive within pollIntervalMs.
   */
  get listening(): { redis: boolean | undefined; postgres: boolean | undefined } {
    return {
      redis: this.#redisOptions === undefined ? undefined : this.#subscribed && this.#subscriber?.status === 'ready',
      postgres: this.#pgOptions === undefined ? undefined : this.#pg !== undefined,
    };
  }

  /** Milliseconds since the start of the last confirmed check; Infinity before the first. */
  staleness(): number {
    return this.#confirmedAt === undefined ? Infinity : Math.max(0, this.#now() - this.#confirmedAt);
  }

  /**
   * Checks now: resolves after a check that started after this call (and its apply) is done;
   * rejects when that check failed (the error also goes to onError). Never two checks at once: a
   * call during a check queues one more, shared by every caller meanwhile.
   */
  checkNow(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#inFlight === undefined) return this.#run();
    this.#queued ??= deferred();
    return this.#queued.promise;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#pgRetry) clearTimeout(this.#pgRetry);
    this.#pgGeneration++;
    await this.#inFlight?.catch(() => undefined);
    this.#queued?.resolve();
    this.#queued = undefined;
    const sub = this.#subscriber;
    this.#subscriber = undefined;
    if (sub) {
      sub.disconnect();
    }
    const pg = this.#pg;
    this.#pg = undefined;
    if (pg) await endPg(pg);
  }

  #run(): Promise<void> {
    const p = this.#check().finally(() => {
      this.#inFlight = undefined;
      const next = this.#queued;
      this.#queued = undefined;
      if (!next) return;
      if (this.#closed) next.resolve();
      else this.#run().then(next.resolve, next.reject);
    });
    this.#inFlight = p;
    return p;
  }

  #background(): void {
    this.checkNow().catch(() => undefined); // reported by #check
  }

  async #check(): Promise<void> {
    this.counts.checks++;
    const startedAt = this.#now();
    try {
      const pair = await readChangeVersion(this.#db);
      const last = this.#applied;
      if (last === undefined || pair.count !== last.count || pair.version !== last.version) {
        await this.#apply(pair.version);
        this.#applied = pair;
        this.counts.applied++;
      }
      // What was read is confirmed as of the moment the check started, not when it ended.
      if (this.#confirmedAt === undefined || startedAt > this.#confirmedAt) this.#confirmedAt = startedAt;
    } catch (err) {
      this.counts.errors++;
      this.#onError(err, 'database');
      throw err;
    }
  }

  #announced(): void {
    this.counts.messages++;
    this.#background();
  }

  // --- Redis pub/sub ----------------------------------------------------------------------------

  #subscribe(options: { url: string; channel: string }): void {
    // The subscription command waits for a connection (no retry limit): it is one command, and
    // ioredis subscribes again by itself after every reconnect once it has succeeded.
    const sub = new Redis(options.url, { ...redisOptions(2_000), maxRetriesPerRequest: null });
    this.#subscriber = sub;
    sub.on('error', (err: unknown) => {
      this.counts.errors++;
      this.#onError(err, 'redis');
    });
    sub.on('message', (channel: string) => {
      if (channel === options.channel) this.#announced();
    });
    // After a reconnect, messages may have been lost while no subscription was in place.
    sub.on('ready', () => {
      if (this.#subscribed) this.#background();
    });
    sub.subscribe(options.channel).then(
      () => {
        this.#subscribed = true;
      },
      (err: unknown) => {
        if (this.#closed) return;
        this.counts.errors++;
        this.#onError(err, 'redis');
      },
    );
  }

  // --- PostgreSQL LISTEN ------------------------------------------------------------------------

  async #listen(options: { url: string; channel: string }): Promise<void> {
    if (this.#closed) return;
    const generation = ++this.#pgGeneration;
    const url = new URL(options.url);
    url.searchParams.delete('schema'); // openControlPlaneDatabase's own parameter; notifications are database-wide
    let client: PgClient;
    try {
      // pg is an optional peer dependency; opening the PostgreSQL database already required it.
      const pg = (
        await import('pg').catch((err: unknown) => {
          throw new WxsealError('WXSEAL_CONFIG_INVALID', 'PostgreSQL LISTEN/NOTIFY needs the pg package, which is not installed: npm install pg', { cause: err });
        })
      ).default;
      client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 2_000, keepAlive: true, application_name: 'wxseal-control-plane-listen' });
    } catch (err) {
      this.#pgFailed(generation, err, options);
      return;
    }
    client.on('error', (err: unknown) => this.#pgFailed(generation, err, options, client));
    client.on('end', () => this.#pgFailed(generation, new Error('the PostgreSQL LISTEN connection ended'), options, client));
    client.on('notification', (n: { channel: string }) => {
      if (n.channel === options.channel) this.#announced();
    });
    try {
      await client.connect();
      // The channel matches PG_CHANNEL_PATTERN: safe to quote as an identifier.
      await client.query(`LISTEN "${options.channel}"`);
    } catch (err) {
      this.#pgFailed(generation, err, options, client);
      return;
    }
    if (generation !== this.#pgGeneration || this.#closed) {
      await endPg(client);
      return;
    }
    const reconnect = this.#pg !== undefined || this.#pgRetryMs !== PG_RETRY_MIN_MS;
    this.#pg = client;
    this.#pgRetryMs = PG_RETRY_MIN_MS;
    // Notifications sent while nobody listened are lost: check once listening again.
    if (reconnect) this.#background();
  }

  #pgFailed(generation: number, err: unknown, options: { url: string; channel: string }, client?: PgClient): void {
    if (generation !== this.#pgGeneration || this.#closed) return;
    this.#pgGeneration++; // later events of this client are ignored
    this.counts.errors++;
    this.#onError(err, 'postgres');
    if (client) void endPg(client);
    if (this.#pg === client) this.#pg = undefined;
    const delay = this.#pgRetryMs;
    this.#pgRetryMs = Math.min(this.#pgRetryMs * 2, PG_RETRY_MAX_MS);
    this.#pgRetry = setTimeout(() => {
      this.#pgRetry = undefined;
      void this.#listen(options);
    }, delay);
    this.#pgRetry.unref();
  }
}

async function endPg(client: PgClient): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      // A peer that is gone would keep end() waiting.
      (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
      resolve();
    }, 1_000);
    client.end().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}
