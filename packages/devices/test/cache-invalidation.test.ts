// DeviceKeyResolver against a REAL Redis at 127.0.0.1:6379 (start it with `npm run services`):
// invalidation across instances, reconnects, and outages of Redis and of the source.
// Fails, never skips, when Redis is not reachable.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { isWxsealError } from '@wxseal/protocol';
import type { DeviceKeyResolver } from '../src/cache/index.js';
import {
  MemorySource,
  TestClock,
  cacheKey,
  closeResolvers,
  deleteKeys,
  disconnectAll,
  freePort,
  makeResolver,
  redisClient,
  requireRedis,
  secretOf,
  silentServer,
  uniquePrefix,
  within,
  type ResolverSetup,
} from './cache-helpers.js';

let admin: Redis;
const prefixes: string[] = [];
const l2Key = (prefix: string, serial: string): string => `${prefix}{${serial}}`;
const unavailable = (e: unknown): boolean => isWxsealError(e, 'WXSEAL_KEY_STORE_UNAVAILABLE');

/** Resolvers sharing one prefix, channel and cache key: gateway instances of one deployment. */
function cluster(source: MemorySource, extra: Partial<ResolverSetup> = {}) {
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  const key = cacheKey();
  return {
    prefix,
    make: (options: Partial<ResolverSetup> = {}): DeviceKeyResolver =>
      makeResolver({ source, redis: redisClient(), cacheKey: key, prefix, ...extra, ...options }),
  };
}

before(async () => {
  admin = await requireRedis();
});

after(async () => {
  await closeResolvers();
  for (const p of prefixes) await deleteKeys(admin, p);
  await disconnectAll();
});

describe('invalidation across instances', () => {
  test('a revocation invalidated by one instance evicts L1 on two others within 1 s; they then see revoked', async () => {
    const source = new MemorySource();
    source.put('SN-REV');
    const { make } = cluster(source);
    const [a, b, c] = [make(), make(), make()];
    await Promise.all([a.start(), b.start(), c.start()]);
    for (const r of [b, c]) assert.equal((await r.resolve('SN-REV'))?.revoked, undefined);

    source.put('SN-REV', { status: 'revoked' }); // the store writes the database...
    for (const r of [b, c]) assert.equal((await r.resolve('SN-REV'))?.revoked, undefined, 'L1 still holds the old state (60 s TTL)');

    const started = performance.now();
    const result = await a.invalidate('SN-REV'); // ...then invalidates
    assert.equal(result.propagated, true);
    assert.ok(result.subscribers >= 3, `${result.subscribers} subscribers`);
    for (const r of [b, c]) {
      await within(1000, async () => (await r.resolve('SN-REV'))?.revoked === true, 'revocation seen');
      assert.ok(r.stats().invalidationsReceived >= 1);
    }
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `seen by both within ${elapsed.toFixed(1)} ms`);
    assert.deepEqual((await a.resolve('SN-REV'))?.secrets, [], 'a revoked credential carries no key');
  });

  test('a rotation reaches the other instances the same way, with the previous key in grace', async () => {
    const source = new MemorySource();
    const first = source.put('SN-ROT-X');
    const { make } = cluster(source);
    const [a, b] = [make(), make()];
    await Promise.all([a.start(), b.start()]);
    assert.ok(secretOf(await b.resolve('SN-ROT-X'))?.equals(first.currentKey));

    const next = randomBytes(32);
    const notAfter = Math.floor(Date.now() / 1000) + 3600;
    source.put('SN-ROT-X', { currentKey: next, previousKey: first.currentKey, previousKeyNotAfter: notAfter, keyVersion: 2 });
    await a.invalidate('SN-ROT-X');
    await within(1000, async () => secretOf(await b.resolve('SN-ROT-X'))?.equals(next) === true, 'rotation seen');
    assert.deepEqual((await b.resolve('SN-ROT-X'))?.secrets[1], { id: 'previous', secret: first.currentKey, notAfter });
  });

  test('onActivated: a serial activated after the Bloom build is admitted here at once and on the others within 1 s', async () => {
    const source = new MemorySource();
    const { make } = cluster(source);
    const [a, b] = [make(), make()];
    await Promise.all([a.start(), b.start()]);
    const record = source.put('SN-NEW'); // activation writes the database first
    assert.equal(await b.resolve('SN-NEW'), undefined, 'not in the filter yet');
    assert.equal(b.stats().bloomReject, 1);
    assert.equal(source.loads, 0);

    const result = await a.onActivated('SN-NEW');
    assert.equal(result.propagated, true);
    assert.ok(secretOf(await a.resolve('SN-NEW'))?.equals(record.currentKey));
    await within(1000, async () => (await b.resolve('SN-NEW')) !== undefined, 'activation seen');
  });

  test("storeEvents(): the registry's committed changes become activations and invalidations", async () => {
    const source = new MemorySource();
    source.put('SN-EV-1');
    const { make } = cluster(source);
    const [a, b] = [make(), make()];
    await Promise.all([a.start(), b.start()]);
    const events = a.storeEvents();

    const record = source.put('SN-EV-2');
    await events.onChange!('SN-EV-2', 'activate');
    await within(1000, async () => secretOf(await b.resolve('SN-EV-2'))?.equals(record.currentKey) === true, 'activation seen');

    assert.equal((await b.resolve('SN-EV-1'))?.revoked, undefined);
    source.put('SN-EV-1', { status: 'revoked' });
    await events.onChange!('SN-EV-1', 'revoke');
    await within(1000, async () => (await b.resolve('SN-EV-1'))?.revoked === true, 'revocation seen');

    // Redis unreachable: the hook rejects, so the registry's onError hears of it.
    const reported: string[] = [];
    const offline = makeResolver({
      source,
      redis: redisClient({ port: await freePort(), retryStrategy: () => null }),
      cacheKey: cacheKey(),
      prefix: uniquePrefix(),
      onError: (_e, where) => reported.push(where),
    });
    const offlineEvents = offline.storeEvents();
    await assert.rejects(Promise.resolve(offlineEvents.onChange!('SN-EV-1', 'revoke')), /did not reach Redis/);
    offlineEvents.onError!(new Error('x'), 'SN-EV-1', 'revoke');
    assert.deepEqual(reported, ['redis']);
    assert.equal(offline.stats().invalidationsPending, 1);
  });

  test('an invalidation during a load in flight: the load answers its waiters but fills no cache', async () => {
    const source = new MemorySource();
    source.put('SN-FLIGHT');
    const { make, prefix } = cluster(source);
    const [a, b] = [make(), make()];
    await Promise.all([a.start(), b.start()]);
    let release!: () => void;
    source.gate = new Promise((r) => (release = r));
    const pending = a.resolve('SN-FLIGHT'); // reads "active", then waits
    await within(1000, () => source.loads === 1, 'the load started');
    source.gate = undefined;
    source.put('SN-FLIGHT', { status: 'revoked' });
    await b.invalidate('SN-FLIGHT');
    await within(1000, () => a.stats().invalidationsReceived >= 1, 'a heard it');
    release();
    assert.equal((await pending)?.revoked, undefined, 'the lookup that raced the revocation gets what was read');
    assert.equal((await a.resolve('SN-FLIGHT'))?.revoked, true, 'the next one loads again');
    assert.equal(source.loads, 2);
    await a.close();
    assert.equal(await admin.exists(l2Key(prefix, 'SN-FLIGHT')), 0, 'the raced load wrote nothing to L2');
  });

  test('an instance that missed the message cannot put the old state back into L2 (tombstone)', async () => {
    const source = new MemorySource();
    source.put('SN-RACE');
    const { make, prefix } = cluster(source);
    // a's subscriber points at a closed port: a hears no invalidation, like a message still in transit.
    const deaf = make({ subscriber: redisClient({ port: await freePort(), retryStrategy: () => null }) });
    const b = make();
    await Promise.all([deaf.start(), b.start()]);
    let release!: () => void;
    source.gate = new Promise((r) => (release = r));
    const pending = deaf.resolve('SN-RACE'); // read "active" before the revocation
    await within(1000, () => source.loads === 1, 'the load started');
    source.gate = undefined;
    source.put('SN-RACE', { status: 'revoked' });
    await b.invalidate('SN-RACE');
    release();
    await pending;
    await deaf.close(); // waits for its L2 write attempt
    assert.equal(await admin.exists(l2Key(prefix, 'SN-RACE')), 0, 'the late write was refused');
    const c = make();
    await c.start();
    assert.equal((await c.resolve('SN-RACE'))?.revoked, true, 'another instance loads the new state');
  });

  test('after a reconnect of the subscriber, L1 is flushed and the Bloom filter rebuilt; invalidations flow again', async () => {
    const source = new MemorySource();
    source.put('SN-RC');
    const clock = new TestClock();
    const { make } = cluster(source, { now: clock.now });
    const subscriber = redisClient();
    const id = String(await subscriber.client('ID'));
    const a = make({ subscriber });
    const b = make();
    await Promise.all([a.start(), b.start()]);
    await a.resolve('SN-RC');
    await a.resolve('SN-RC');
    assert.equal(a.stats().l1Hit, 1);
    const before = a.stats();

    await admin.client('KILL', 'ID', id); // the server drops the connection, as a network failure would
    await within(3000, () => a.stats().l1Flushes > before.l1Flushes && a.stats().subscribed, 'flush after resubscribe');
    assert.equal(a.stats().l1Entries, 0);
    await a.resolve('SN-RC');
    const afterFlush = a.stats();
    assert.equal(afterFlush.l1Hit, before.l1Hit, 'not served from the old L1');
    assert.equal(afterFlush.l2Hit + afterFlush.l3Load, before.l2Hit + before.l3Load + 1);
    await within(2000, () => a.stats().bloomRebuilds > before.bloomRebuilds, 'Bloom rebuild after the reconnect');

    source.put('SN-RC', { status: 'revoked' });
    await b.invalidate('SN-RC');
    await within(1000, async () => (await a.resolve('SN-RC'))?.revoked === true, 'invalidation after the reconnect');
  });

  test('an invalidation made while Redis is unreachable is kept and sent when Redis is back', async () => {
    const source = new MemorySource();
    source.put('SN-PENDING');
    const { make } = cluster(source);
    const writerRedis = redisClient();
    const writer = make({ redis: writerRedis });
    const reader = make();
    await Promise.all([writer.start(), reader.start()]);
    await reader.resolve('SN-PENDING');

    writerRedis.disconnect();
    await within(1000, () => writerRedis.status === 'end', 'writer disconnected');
    source.put('SN-PENDING', { status: 'revoked' });
    const result = await writer.invalidate('SN-PENDING');
    assert.deepEqual(result, { propagated: false, subscribers: 0 });
    assert.equal(writer.stats().invalidationsPending, 1);
    assert.equal(writer.stats().redisReady, false);
    assert.equal((await reader.resolve('SN-PENDING'))?.revoked, undefined, 'the reader has not heard yet');

    await writerRedis.connect();
    await within(1000, async () => (await reader.resolve('SN-PENDING'))?.revoked === true, 'replayed invalidation seen');
    assert.equal(writer.stats().invalidationsPending, 0);
  });
});

describe('outages', () => {
  test('source down: a known key is served stale within the bound, then refused; an unknown one is refused at once', async () => {
    const source = new MemorySource();
    const record = source.put('SN-STALE');
    source.put('SN-NEVER-LOADED');
    const clock = new TestClock();
    const { make, prefix } = cluster(source, { now: clock.now, l1TtlMs: 60_000, staleIfErrorMs: 300_000, staleRetryMs: 1_000 });
    const a = make();
    await a.start();
    await a.resolve('SN-STALE');
    await within(1000, async () => (await admin.exists(l2Key(prefix, 'SN-STALE'))) === 1, 'the L2 fill');
    await admin.del(l2Key(prefix, 'SN-STALE')); // L2 cannot answer either

    source.mode = 'throw';
    clock.advance(60_001);
    assert.ok(secretOf(await a.resolve('SN-STALE'))?.equals(record.currentKey), 'stale-if-error');
    assert.equal(a.stats().staleServed, 1);
    assert.equal(a.stats().l3Errors, 1);

    const loads = source.loads;
    for (let i = 0; i < 10; i++) assert.ok(await a.resolve('SN-STALE'));
    assert.equal(source.loads, loads, 'no retry during the back-off: answered from L1 without waiting');
    clock.advance(1_000);
    assert.ok(await a.resolve('SN-STALE'));
    assert.equal(source.loads, loads + 1, 'retried after the back-off');

    await assert.rejects(a.resolve('SN-NEVER-LOADED'), unavailable, 'nothing unknown is accepted');

    clock.advance(300_000 - 1_000); // 60 s + 300 s after the load: past the staleness bound
    await assert.rejects(a.resolve('SN-STALE'), unavailable, 'past the bound');
    assert.ok(a.stats().errors >= 2);

    source.mode = 'up';
    assert.ok(await a.resolve('SN-STALE'), 'recovers with the source');
  });

  test('source hanging: every lookup is bounded by sourceTimeoutMs, never a hang', async () => {
    const source = new MemorySource();
    source.put('SN-HANG');
    const { make } = cluster(source, { sourceTimeoutMs: 150 });
    const a = make();
    await a.start();
    source.mode = 'hang';
    const started = performance.now();
    const outcomes = await Promise.allSettled([a.resolve('SN-HANG'), a.resolve('SN-HANG')]);
    const elapsed = performance.now() - started;
    assert.ok(outcomes.every((o) => o.status === 'rejected' && unavailable(o.reason)));
    assert.ok(elapsed >= 140 && elapsed < 1000, `${elapsed.toFixed(0)} ms`);
  });

  test('a revoked device is not served from stale L1 after a successful invalidation, even with the source down', async () => {
    const source = new MemorySource();
    source.put('SN-REV-DOWN');
    const clock = new TestClock();
    const { make } = cluster(source, { now: clock.now });
    const [a, b] = [make(), make()];
    await Promise.all([a.start(), b.start()]);
    await a.resolve('SN-REV-DOWN');
    await b.resolve('SN-REV-DOWN');
    source.put('SN-REV-DOWN', { status: 'revoked' });
    source.mode = 'throw'; // the revocation was committed, then the database became unreachable
    clock.advance(61_000);
    assert.ok((await b.resolve('SN-REV-DOWN')) !== undefined, 'before the invalidation b serves its stale entry (or L2)');

    const result = await a.invalidate('SN-REV-DOWN');
    assert.equal(result.propagated, true);
    await assert.rejects(a.resolve('SN-REV-DOWN'), unavailable, 'the invalidating instance refuses');
    await within(
      1000,
      () => b.resolve('SN-REV-DOWN').then(() => false, unavailable),
      'the other instance refuses instead of serving stale',
    );
  });

  test('an invalidation that arrives while a refresh is failing also stops stale serving', async () => {
    const source = new MemorySource();
    source.put('SN-REV-MID');
    const clock = new TestClock();
    const { make, prefix } = cluster(source, { now: clock.now });
    const [a, b] = [make(), make()];
    await Promise.all([a.start(), b.start()]);
    await b.resolve('SN-REV-MID');
    await within(1000, async () => (await admin.exists(l2Key(prefix, 'SN-REV-MID'))) === 1, 'the L2 fill');
    await admin.del(l2Key(prefix, 'SN-REV-MID'));
    clock.advance(61_000);

    let fail!: (err: Error) => void;
    source.gate = new Promise((_, reject) => (fail = reject));
    const refreshing = b.resolve('SN-REV-MID'); // stale entry: a refresh starts and waits
    await within(1000, () => source.loads === 2, 'the refresh started');
    source.gate = undefined;
    source.put('SN-REV-MID', { status: 'revoked' });
    await a.invalidate('SN-REV-MID');
    await within(1000, () => b.stats().invalidationsReceived >= 1, 'b heard it');
    source.mode = 'throw';
    fail(new Error('database is down'));
    await assert.rejects(refreshing, unavailable, 'the stale entry the lookup started from is not served');
    await assert.rejects(b.resolve('SN-REV-MID'), unavailable);
  });

  test('Redis down (closed port): start() and lookups fall back to the source at once, L1 keeps working', async () => {
    const source = new MemorySource();
    const record = source.put('SN-NOREDIS');
    const port = await freePort();
    const errors: string[] = [];
    const a = makeResolver({
      source,
      redis: redisClient({ port, retryStrategy: () => 100 }),
      cacheKey: cacheKey(),
      prefix: uniquePrefix(),
      redisTimeoutMs: 300,
      onError: (_e, where) => errors.push(where),
    });
    let started = performance.now();
    await a.start();
    assert.ok(performance.now() - started < 2000, 'start() is bounded');
    assert.equal(a.stats().redisReady, false);
    assert.equal(a.stats().subscribed, false);

    started = performance.now();
    assert.ok(secretOf(await a.resolve('SN-NOREDIS'))?.equals(record.currentKey));
    assert.ok(performance.now() - started < 100, `no wait on Redis (${(performance.now() - started).toFixed(1)} ms)`);
    assert.equal(a.stats().l3Load, 1);
    await a.resolve('SN-NOREDIS');
    assert.equal(a.stats().l1Hit, 1);
    assert.deepEqual(await a.invalidate('SN-NOREDIS'), { propagated: false, subscribers: 0 });
    assert.equal(a.stats().invalidationsPending, 1);
  });

  test('Redis accepting connections but never answering: each command is bounded, then the source answers', async () => {
    const silent = await silentServer();
    try {
      const source = new MemorySource();
      const record = source.put('SN-SILENT');
      // No ready check and no CLIENT SETINFO, so the client is ready on connect: commands go out, no answer comes.
      const redis = redisClient({ port: silent.port, enableReadyCheck: false, disableClientInfo: true });
      await within(1000, () => redis.status === 'ready', 'connected');
      const a = makeResolver({ source, redis, cacheKey: cacheKey(), prefix: uniquePrefix(), redisTimeoutMs: 150 });
      await a.start();
      const started = performance.now();
      assert.ok(secretOf(await a.resolve('SN-SILENT'))?.equals(record.currentKey));
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 140 && elapsed < 1000, `${elapsed.toFixed(0)} ms`);
      assert.ok(a.stats().l2Errors >= 1);
      const t = performance.now();
      const result = await a.invalidate('SN-SILENT');
      assert.equal(result.propagated, false);
      assert.ok(performance.now() - t < 1000, 'invalidate() is bounded too');
      await a.close();
    } finally {
      await silent.close();
    }
  });
});

describe('Bloom maintenance', () => {
  test('the periodic rebuild forgets deleted serials; a failed rebuild keeps the old filter', async () => {
    const source = new MemorySource();
    source.put('SN-DELETED');
    source.put('SN-KEPT');
    const a = makeResolver({ source, bloomRebuildIntervalMs: 30 });
    await a.start();
    assert.equal(a.mightExist('SN-DELETED'), true);
    source.records.delete('SN-DELETED');
    await within(2000, () => !a.mightExist('SN-DELETED'), 'forgotten by a rebuild');
    assert.ok(a.stats().bloomRebuilds >= 2);

    source.mode = 'throw';
    const failures = a.stats().bloomRebuildErrors;
    await within(2000, () => a.stats().bloomRebuildErrors > failures, 'a failed rebuild');
    assert.equal(a.mightExist('SN-KEPT'), true, 'the old filter stays');
  });
});
