// The behaviour suite of DeviceChangeFeed, run against SQLite, PostgreSQL and MariaDB by
// feed-sqlite.test.ts, feed-postgres.test.ts and feed-mariadb.test.ts. A "writer" repository on its
// own connection pool stands for another process (the CLI, another gateway): it publishes nothing;
// the gateway side (its own pool, a DeviceKeyResolver without Redis and the feed) learns about
// the writer's changes only by reading the audit log.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { isWxsealError } from '@wxseal/protocol';
import {
  DeviceChangeFeed,
  DeviceKeyResolver,
  DeviceRepository,
  MasterKeyRing,
  migrateDeviceDatabase,
  openDeviceDatabase,
  type DeviceChangeLog,
  type DeviceDatabase,
  type OpenDeviceDatabaseOptions,
} from '../src/index.js';
import { deleteKeys, disconnectAll, redisClient, requireRedis, uniquePrefix, within } from './cache-helpers.js';

export interface FeedTarget {
  name: string;
  /** URL of a new, empty database (a file, a schema, a database), dropped by cleanup(). */
  freshUrl(): Promise<string>;
  /** host:port of the server (for the proxy that makes it unreachable); absent for SQLite. */
  server?: { host: string; port: number; urlVia(url: string, port: number): string };
  /** Whether two write transactions can be held open at once (not SQLite: one writer). */
  concurrentWriters: boolean;
  cleanup(): Promise<void>;
}

const ring = new MasterKeyRing({ active: 'm1', keys: { m1: MasterKeyRing.generateKey() } });
const NEVER = 3_600_000; // a poll interval that never fires within a test: checks are run with checkNow()

/** A TCP proxy that can be cut (every connection dropped, new ones refused) and restored: a database gone away. */
export async function cuttableProxy(host: string, port: number): Promise<{ port: number; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((client) => {
    if (cut) return client.destroy();
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    port: address.port,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Side {
  db: Kysely<DeviceDatabase>;
  repo: DeviceRepository;
}

export function defineFeedSuite(target: FeedTarget): void {
  const closers: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await target.cleanup();
  });

  function side(url: string, options: OpenDeviceDatabaseOptions = {}): Side {
    const db = openDeviceDatabase(url, { connectTimeoutMs: 1000, queryTimeoutMs: 2000, ...options });
    closers.push(() => db.destroy());
    return { db, repo: new DeviceRepository({ db, masterKeys: ring }) };
  }

  /** A migrated database with product p1, its writer ("another process") and the URL for the gateway side. */
  async function setup(): Promise<{ url: string; writer: Side }> {
    const url = await target.freshUrl();
    const writer = side(url);
    await migrateDeviceDatabase(writer.db);
    await writer.repo.createProduct('p1', { actor: 'test' });
    return { url, writer };
  }

  function gateway(repo: DeviceRepository, feedOptions: { pollIntervalMs?: number; maxStalenessMs?: number; log?: DeviceChangeLog } = {}) {
    const resolver = new DeviceKeyResolver({ source: repo, expectedSerials: 10_000, bloomFalsePositiveRate: 1e-6, bloomRebuildIntervalMs: 0, sourceTimeoutMs: 1500 });
    const errors: unknown[] = [];
    const feed = new DeviceChangeFeed({ log: feedOptions.log ?? repo, resolver, pollIntervalMs: feedOptions.pollIntervalMs ?? NEVER, maxStalenessMs: feedOptions.maxStalenessMs ?? 60_000, onError: (e) => errors.push(e) });
    closers.push(() => resolver.close(), () => feed.close());
    return { resolver, feed, errors };
  }

  const key = (credential: { secrets: readonly { secret: Uint8Array }[] } | undefined): string | undefined => {
    const s = credential?.secrets[0]?.secret;
    return s && Buffer.from(s).toString('hex');
  };

  describe(`DeviceChangeFeed on ${target.name}`, () => {
    test('300 devices imported by another repository are all accepted after ONE check, without a Bloom rebuild', async () => {
      const { url, writer } = await setup();
      const gw = side(url);
      const { resolver, feed, errors } = gateway(gw.repo);
      assert.equal(await feed.start(), true);
      await resolver.start();
      const serials = Array.from({ length: 300 }, (_, i) => `IMP-${i.toString().padStart(4, '0')}`);
      assert.equal(await resolver.resolve(serials[0]!), undefined, 'unknown before the import');

      const summary = await writer.repo.importMany(serials.map((serial) => ({ serial, productId: 'p1' })), { actor: 'cli:test', batchSize: 100 });
      assert.equal(summary.imported, 300);
      assert.equal(await resolver.resolve(serials[1]!), undefined, 'the Bloom filter still rejects it: nothing was published');

      await feed.checkNow();
      for (const r of summary.results) {
        assert.ok(r.ok && r.key);
        assert.equal(key(await resolver.resolve(r.serial)), r.key.toString('hex'), `${r.serial} accepted with its key`);
      }
      const stats = feed.stats();
      assert.equal(stats.applied, 300);
      assert.equal(stats.errors, 0, String(errors[0]));
      assert.equal(resolver.stats().bloomRebuilds, 1, 'only the start-up build');
    });

    test('a revocation and a rotation by another repository drop the L1 entry at the next check', async () => {
      const { url, writer } = await setup();
      const issued = await writer.repo.activate('REV-1', 'p1', { actor: 'test' });
      const other = await writer.repo.activate('ROT-1', 'p1', { actor: 'test' });
      const gw = side(url);
      const { resolver, feed } = gateway(gw.repo);
      await feed.start();
      await resolver.start();
      assert.equal(key(await resolver.resolve('REV-1')), issued.key.toString('hex'));
      assert.equal(key(await resolver.resolve('ROT-1')), other.key.toString('hex'));

      await writer.repo.revoke('REV-1', { actor: 'cli:test', reason: 'lost' });
      const rotated = await writer.repo.rotate('ROT-1', { actor: 'cli:test', graceSeconds: 0 });
      // L1 still holds the old state: this is what the feed is for.
      assert.equal((await resolver.resolve('REV-1'))?.revoked, undefined);
      await feed.checkNow();
      assert.equal((await resolver.resolve('REV-1'))?.revoked, true);
      assert.equal(key(await resolver.resolve('ROT-1')), rotated.key.toString('hex'));
      assert.equal(feed.stats().applied, 2);
    });

    // SQLite has one writer at a time: its ids commit in order.
    if (target.concurrentWriters) test('a change committed with a LOWER id after a higher one was seen is applied (gap tracking)', async () => {
      const { url, writer } = await setup();
      const gw = side(url);
      const { resolver, feed } = gateway(gw.repo);
      await feed.start();
      await resolver.start();

      // Transaction 1 takes the lower id and stays open; transaction 2 takes the next one and commits.
      let inserted!: () => void;
      const insertedLow = new Promise<void>((r) => (inserted = r));
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const low = writer.db.transaction().execute(async (trx) => {
        await provisionRaw(trx, 'LOW-1');
        inserted();
        await held;
      });
      await insertedLow;
      const other = side(url);
      await other.db.transaction().execute((trx) => provisionRaw(trx, 'HIGH-1'));

      await feed.checkNow();
      assert.ok(key(await resolver.resolve('HIGH-1')), 'the higher id is applied');
      assert.equal(await resolver.resolve('LOW-1'), undefined, 'the lower id is not committed yet');
      assert.ok(feed.stats().openGaps >= 1, 'the missing id is an open gap');

      release();
      await low;
      const [lowId, highId] = [(await writer.repo.audit('LOW-1'))[0]!.id, (await writer.repo.audit('HIGH-1'))[0]!.id];
      assert.ok(lowId < highId, `the held transaction got the lower id (${lowId} < ${highId})`);
      await feed.checkNow();
      assert.ok(key(await resolver.resolve('LOW-1')), 'the lower id, committed last, is applied too');
      assert.equal(feed.stats().gapsFilled, 1);
    });

    test('with Redis (L2): a change by a writer without Redis also deletes the shared value', async () => {
      const admin = await requireRedis();
      const prefix = uniquePrefix();
      closers.push(() => deleteKeys(admin, prefix), () => disconnectAll());
      const { url, writer } = await setup();
      await writer.repo.activate('L2-1', 'p1', { actor: 'test' });
      const gw = side(url);
      const redis = redisClient();
      const resolver = new DeviceKeyResolver({ source: gw.repo, redis, cacheKey: randomBytes(32), prefix, expectedSerials: 10_000, bloomRebuildIntervalMs: 0 });
      const feed = new DeviceChangeFeed({ log: gw.repo, resolver, pollIntervalMs: NEVER });
      closers.push(() => resolver.close(), () => feed.close());
      await feed.start();
      await resolver.start();
      assert.equal((await resolver.resolve('L2-1'))?.revoked, undefined);
      await within(2_000, async () => (await admin.exists(`${prefix}{L2-1}`)) === 1, 'the value reaches L2');

      await writer.repo.revoke('L2-1', { actor: 'cli:test' });
      await feed.checkNow();
      // At once, even before Redis confirmed the delete: the old value is not read back from L2.
      assert.equal((await resolver.resolve('L2-1'))?.revoked, true);
      await within(2_000, async () => (await admin.exists(`${prefix}{L2-1}:tomb`)) === 1, 'the tombstone is set');
    });

    // SQLite is in-process: it cannot be unreachable (the wrapped log below stands for it).
    if (target.server) test('staleness: lookups fail closed while the database is away, and recover by themselves', async () => {
      const { url, writer } = await setup();
      const issued = await writer.repo.activate('ST-1', 'p1', { actor: 'test' });
      const proxy = await cuttableProxy(target.server!.host, target.server!.port);
      closers.push(() => proxy.close());
      const gw = side(target.server!.urlVia(url, proxy.port), { connectTimeoutMs: 300, queryTimeoutMs: 500 });
      const { resolver, feed } = gateway(gw.repo, { pollIntervalMs: 50, maxStalenessMs: 400 });
      assert.equal(await feed.start(), true);
      await resolver.start();
      assert.equal(key(await resolver.resolve('ST-1')), issued.key.toString('hex'));
      assert.ok(feed.staleness() < 400);

      proxy.cut();
      await within(5_000, () => feed.stale, 'the feed goes stale');
      assert.equal(resolver.credentialsStale, true);
      for (const serial of ['ST-1', 'NEVER-SEEN']) {
        await assert.rejects(resolver.resolve(serial), (err: unknown) => isWxsealError(err, 'WXSEAL_CREDENTIALS_STALE'), `${serial} refused while stale`);
      }
      assert.ok(feed.stats().errors > 0);

      proxy.restore();
      await within(5_000, () => !feed.stale, 'the feed recovers by itself');
      assert.equal(key(await resolver.resolve('ST-1')), issued.key.toString('hex'));
      assert.ok(resolver.stats().staleRefused >= 2);
    });

    test('a feed that cannot read the log makes lookups go to the source (confirmed): a revocation the feed has not seen is honoured', async () => {
      const { url, writer } = await setup();
      const issued = await writer.repo.activate('CF-1', 'p1', { actor: 'test' });
      const gw = side(url);
      let down = false;
      const guard = <T>(f: () => Promise<T>): Promise<T> => (down ? Promise.reject(new Error('database is away')) : f());
      const log: DeviceChangeLog = {
        latestChangeId: () => guard(() => gw.repo.latestChangeId()),
        changesAfter: (a, n) => guard(() => gw.repo.changesAfter(a, n)),
        changesWithin: (r, n) => guard(() => gw.repo.changesWithin(r, n)),
      };
      const { resolver, feed } = gateway(gw.repo, { pollIntervalMs: 20, maxStalenessMs: 200, log });
      await feed.start();
      await resolver.start();
      assert.ok(key(await resolver.resolve('CF-1')));
      down = true;
      await within(5_000, () => feed.stale, 'stale');
      // The log is away but the source answers: the lookup is confirmed by a fresh read, L1 not trusted.
      const loads = resolver.stats().l3Load;
      assert.equal(key(await resolver.resolve('CF-1')), issued.key.toString('hex'));
      assert.equal(resolver.stats().l3Load, loads + 1, 'read from the source, not from L1');
      await writer.repo.revoke('CF-1', { actor: 'test' });
      assert.equal((await resolver.resolve('CF-1'))?.revoked, true, 'a revocation the feed has not seen is still honoured');
      down = false;
      await within(5_000, () => !feed.stale, 'fresh again');
      assert.equal(resolver.credentialsStale, false);
    });

    if (target.server) test('a database away at start: start() resolves false, lookups fail closed, the feed catches up when it is back', async () => {
      const { url, writer } = await setup();
      const proxy = await cuttableProxy(target.server!.host, target.server!.port);
      closers.push(() => proxy.close());
      proxy.cut();
      const gw = side(target.server!.urlVia(url, proxy.port), { connectTimeoutMs: 300, queryTimeoutMs: 500 });
      const { resolver, feed } = gateway(gw.repo, { pollIntervalMs: 50, maxStalenessMs: 300 });
      assert.equal(await feed.start(), false);
      await assert.rejects(resolver.start());
      const issued = await writer.repo.activate('LATE-1', 'p1', { actor: 'test' });
      await within(5_000, () => feed.stale, 'stale');
      await assert.rejects(resolver.resolve('LATE-1'), (err: unknown) => isWxsealError(err, 'WXSEAL_CREDENTIALS_STALE'));
      proxy.restore();
      await within(10_000, () => !feed.stale, 'the feed gets its starting point');
      assert.equal(key(await resolver.resolve('LATE-1')), issued.key.toString('hex'));
      assert.equal(resolver.stats().bloomReady, true, 'the Bloom filter was built once the database was back');
      assert.equal(await resolver.resolve('NEVER-SEEN'), undefined);
    });
  });

  async function provisionRaw(trx: Kysely<DeviceDatabase>, serial: string): Promise<void> {
    const now = Date.now();
    const k = randomBytes(32);
    await trx
      .insertInto('wxseal_devices')
      .values({
        serial,
        product_id: 'p1',
        status: 'active',
        key_version: 1,
        current_key_ct: ring.seal(k, { purpose: 'device-key-current', subject: serial, version: 1 }),
        previous_key_ct: null,
        previous_key_not_after: null,
        master_key_id: 'm1',
        activated_at: now,
        rotated_at: null,
        revoked_at: null,
        updated_at: now,
      })
      .execute();
    await trx
      .insertInto('wxseal_device_audit')
      .values({ serial, product_id: 'p1', action: 'activate', actor: 'test', reason: null, source: null, key_version: 1, at: now })
      .execute();
  }
}
