// DeviceKeyResolver against a REAL Redis at 127.0.0.1:6379 (start it with `npm run services`):
// the lookup paths, single-flight, the encrypted L2 values and the verifier's view of it all.
// Fails, never skips, when Redis is not reachable.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { buildRequest, isWxsealError, type WireErrorCode } from '@wxseal/protocol';
import { MemoryNonceStore, createVerifier, type ClientCredential, type Verifier } from '@wxseal/server';
import { DeviceKeyResolver, decodeCacheValue } from '../src/cache/index.js';
import {
  MemorySource,
  TestClock,
  cacheKey,
  closeResolvers,
  countCommands,
  deleteKeys,
  disconnectAll,
  makeResolver,
  redisClient,
  requireRedis,
  secretOf,
  uniquePrefix,
  within,
} from './cache-helpers.js';

let admin: Redis;
const prefixes: string[] = [];
const newPrefix = (): string => {
  const p = uniquePrefix();
  prefixes.push(p);
  return p;
};
const l2Key = (prefix: string, serial: string): string => `${prefix}{${serial}}`;
const l2Filled = (prefix: string, serial: string) => async () => (await admin.exists(l2Key(prefix, serial))) === 1;

before(async () => {
  admin = await requireRedis();
});

after(async () => {
  await closeResolvers();
  for (const p of prefixes) await deleteKeys(admin, p);
  await disconnectAll();
});

describe('lookup paths', () => {
  test('L3 load, then L1 hit; a second instance with an empty L1 is served by L2 (no second load)', async () => {
    const source = new MemorySource();
    const record = source.put('SN-PATH-1');
    const prefix = newPrefix();
    const key = cacheKey();
    const clock = new TestClock();
    const a = makeResolver({ source, redis: redisClient(), cacheKey: key, prefix, now: clock.now });
    await a.start();

    const expected: ClientCredential = { keyId: 'SN-PATH-1', secrets: [{ id: 'current', secret: record.currentKey }] };
    assert.deepEqual(await a.resolve('SN-PATH-1'), expected);
    assert.equal(source.loads, 1);
    assert.equal(a.stats().l3Load, 1);
    assert.equal(a.stats().l2Miss, 1);

    assert.deepEqual(await a.resolve('SN-PATH-1'), expected);
    assert.equal(a.stats().l1Hit, 1);
    assert.equal(source.loads, 1, 'an L1 hit asks nobody');

    await within(1000, l2Filled(prefix, 'SN-PATH-1'), 'the L2 fill');
    const b = makeResolver({ source, redis: redisClient(), cacheKey: key, prefix, now: clock.now });
    await b.start();
    assert.deepEqual(await b.resolve('SN-PATH-1'), expected);
    assert.equal(b.stats().l2Hit, 1);
    assert.equal(b.stats().l3Load, 0);
    assert.equal(source.loads, 1, 'the second instance did not reach the database');
    assert.deepEqual(await b.resolve('SN-PATH-1'), expected);
    assert.equal(b.stats().l1Hit, 1, 'and keeps it in its own L1');
  });

  test('an L1 entry is used for its TTL, then refreshed', async () => {
    const source = new MemorySource();
    source.put('SN-TTL');
    const clock = new TestClock();
    const a = makeResolver({ source, redis: redisClient(), cacheKey: cacheKey(), prefix: newPrefix(), now: clock.now, l1TtlMs: 60_000 });
    await a.start();
    await a.resolve('SN-TTL');
    clock.advance(59_999);
    await a.resolve('SN-TTL');
    assert.equal(a.stats().l1Hit, 1);
    clock.advance(1);
    await a.resolve('SN-TTL');
    assert.equal(a.stats().l1Hit, 1, 'expired: not an L1 hit');
    assert.equal(a.stats().l2Hit + a.stats().l3Load, 2);
  });

  test('a serial not in the Bloom filter is unknown with zero Redis commands and zero source loads', async () => {
    const source = new MemorySource();
    for (let i = 0; i < 1000; i++) source.put(`SN-KNOWN-${i}`);
    const redis = redisClient();
    const subscriber = redisClient();
    const prefix = newPrefix();
    const a = makeResolver({ source, redis, subscriber, cacheKey: cacheKey(), prefix });
    await a.start();

    // A server-side witness too: MONITOR sees every command any client sends.
    const monitor = await admin.monitor();
    try {
      const seen: string[] = [];
      monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ')));
      const warmup = `warmup-${randomUUID()}`;
      await redis.echo(warmup);
      await within(2000, () => seen.some((l) => l.includes(warmup)), 'MONITOR running');

      const commands = countCommands(redis);
      const subscriberCommands = countCommands(subscriber);
      const ghost = `GHOST-${randomUUID().slice(0, 8)}-`;
      // With p = 1e-6 a false positive is very unlikely; mightExist() drops one if it happens.
      const unknown = Array.from({ length: 2000 }, (_, i) => `${ghost}${i}`).filter((s) => !a.mightExist(s));
      assert.ok(unknown.length >= 1990);
      for (const serial of unknown) assert.equal(await a.resolve(serial), undefined);

      assert.equal(a.stats().bloomReject, unknown.length);
      assert.equal(source.loads, 0, 'no source load');
      assert.deepEqual(commands.names, [], 'no command on the Redis connection');
      assert.deepEqual(subscriberCommands.names, [], 'no command on the subscriber');
      const sentinel = `sentinel-${randomUUID()}`;
      await redis.echo(sentinel); // after the lookups, on the same connection: everything before it has been seen
      await within(2000, () => seen.some((l) => l.includes(sentinel)), 'the sentinel');
      assert.deepEqual(seen.filter((l) => l.includes(ghost) || l.includes(prefix)), [], 'Redis saw nothing of the lookups');
    } finally {
      monitor.disconnect(); // a failed assertion must not leave the process held open
    }
  });

  test('a serial that passes the filter but is not in the store is cached negatively for 5 s, in L1 only', async () => {
    const source = new MemorySource();
    source.put('SN-GONE');
    const clock = new TestClock();
    const prefix = newPrefix();
    const a = makeResolver({ source, redis: redisClient(), cacheKey: cacheKey(), prefix, now: clock.now });
    await a.start();
    source.records.delete('SN-GONE'); // deleted after the filter was built: a Bloom filter cannot forget

    assert.equal(await a.resolve('SN-GONE'), undefined);
    assert.equal(source.loads, 1);
    assert.equal(a.stats().l3NotFound, 1);
    for (let i = 0; i < 100; i++) assert.equal(await a.resolve('SN-GONE'), undefined);
    assert.equal(source.loads, 1, 'answered from the negative entry');
    assert.equal(a.stats().negativeHit, 100);
    assert.equal(await admin.exists(l2Key(prefix, 'SN-GONE')), 0, 'no negative entry in Redis');

    clock.advance(4_999);
    await a.resolve('SN-GONE');
    assert.equal(source.loads, 1);
    clock.advance(1);
    await a.resolve('SN-GONE');
    assert.equal(source.loads, 2, 'asked again after 5 s');

    // Activation drops the negative entry at once.
    const record = source.put('SN-GONE');
    await a.onActivated('SN-GONE');
    assert.deepEqual((await a.resolve('SN-GONE'))?.secrets[0]?.secret, record.currentKey);
  });

  test('L1 holds at most l1MaxEntries serials', async () => {
    const source = new MemorySource();
    for (let i = 0; i < 50; i++) source.put(`SN-LRU-${i}`);
    const a = makeResolver({ source, l1MaxEntries: 10 });
    await a.start();
    for (let i = 0; i < 50; i++) await a.resolve(`SN-LRU-${i}`);
    assert.equal(a.stats().l1Entries, 10);
    await a.resolve('SN-LRU-49');
    assert.equal(a.stats().l1Hit, 1, 'the most recent ones stay');
  });
});

describe('single-flight', () => {
  test('1,000 concurrent lookups of one expired entry cause exactly one database load (and one Redis GET)', async () => {
    const source = new MemorySource();
    const record = source.put('SN-HOT');
    const clock = new TestClock();
    const prefix = newPrefix();
    const redis = redisClient();
    const a = makeResolver({ source, redis, cacheKey: cacheKey(), prefix, now: clock.now });
    await a.start();
    await a.resolve('SN-HOT');
    assert.equal(source.loads, 1);
    await within(1000, l2Filled(prefix, 'SN-HOT'), 'the L2 fill');
    await admin.del(l2Key(prefix, 'SN-HOT')); // so the refresh must reach the database
    clock.advance(60_001); // L1 entry expired

    source.delayMs = 20; // the lookups really overlap the load
    const commands = countCommands(redis);
    const results = await Promise.all(Array.from({ length: 1000 }, () => a.resolve('SN-HOT')));
    assert.equal(source.loads, 2, 'one load for 1,000 lookups');
    assert.equal(a.stats().coalesced, 999);
    assert.deepEqual(commands.names.filter((n) => n === 'get'), ['get'], 'one L2 read');
    for (const c of results) assert.ok(secretOf(c)?.equals(record.currentKey));
    await a.resolve('SN-HOT');
    assert.equal(source.loads, 2, 'the load filled L1');
  });

  test('the same for a serial never seen before, and a failed load fails all its waiters once', async () => {
    const source = new MemorySource();
    source.put('SN-COLD');
    source.put('SN-COLD-2');
    const a = makeResolver({ source, redis: redisClient(), cacheKey: cacheKey(), prefix: newPrefix() });
    await a.start();
    source.delayMs = 20;
    await Promise.all(Array.from({ length: 1000 }, () => a.resolve('SN-COLD')));
    assert.equal(source.loadsOf.get('SN-COLD'), 1);

    source.mode = 'throw';
    const outcomes = await Promise.allSettled(Array.from({ length: 100 }, () => a.resolve('SN-COLD-2')));
    assert.ok(outcomes.every((o) => o.status === 'rejected' && isWxsealError(o.reason, 'WXSEAL_KEY_STORE_UNAVAILABLE')));
    assert.equal(source.loadsOf.get('SN-COLD-2'), 1);
    assert.equal(a.stats().errors, 100);
    assert.equal(a.stats().inFlight, 0);
  });
});

describe('rotation', () => {
  test('the previous key is served with its notAfter during the grace period, through L1 and L2, and dropped after', async () => {
    const source = new MemorySource();
    const clock = new TestClock();
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const notAfter = clock.seconds + 10;
    source.put('SN-ROT', { currentKey: newKey, previousKey: oldKey, previousKeyNotAfter: notAfter, keyVersion: 2 });
    const prefix = newPrefix();
    const key = cacheKey();
    const a = makeResolver({ source, redis: redisClient(), cacheKey: key, prefix, now: clock.now });
    await a.start();
    const inGrace: ClientCredential = {
      keyId: 'SN-ROT',
      secrets: [
        { id: 'current', secret: newKey },
        { id: 'previous', secret: oldKey, notAfter },
      ],
    };
    assert.deepEqual(await a.resolve('SN-ROT'), inGrace);

    await within(1000, l2Filled(prefix, 'SN-ROT'), 'the L2 fill');
    const b = makeResolver({ source, redis: redisClient(), cacheKey: key, prefix, now: clock.now });
    await b.start();
    assert.deepEqual(await b.resolve('SN-ROT'), inGrace, 'L2 keeps the previous key and its notAfter');
    assert.equal(b.stats().l2Hit, 1);

    clock.advance(10_000); // now = notAfter: still valid (inclusive)
    assert.equal((await a.resolve('SN-ROT'))?.secrets.length, 2);
    clock.advance(1_000);
    assert.deepEqual(await a.resolve('SN-ROT'), { keyId: 'SN-ROT', secrets: [{ id: 'current', secret: newKey }] });
    assert.equal(source.loads, 1, 'from the same L1 entry');
  });

  test('a previous key without previousKeyNotAfter is never served (it would stay valid forever)', async () => {
    const source = new MemorySource();
    source.put('SN-ROT-BAD', { previousKey: randomBytes(32) });
    const reported: unknown[] = [];
    const a = makeResolver({ source, onError: (e) => reported.push(e) });
    await a.start();
    assert.equal((await a.resolve('SN-ROT-BAD'))?.secrets.length, 1);
    assert.equal(reported.length, 1);
  });
});

describe('what Redis holds', () => {
  test('values are AES-256-GCM under the cache key with the serial as AAD: no key in clear, not movable', async () => {
    const source = new MemorySource();
    const record = source.put('SN-ENC', { previousKey: randomBytes(32), previousKeyNotAfter: 2_000_000_000 });
    const other = source.put('SN-ENC-2');
    const revoked = source.put('SN-ENC-REV', { status: 'revoked' });
    const prefix = newPrefix();
    const key = cacheKey();
    const a = makeResolver({ source, redis: redisClient(), cacheKey: key, prefix, l2TtlMs: 600_000 });
    await a.start();
    await a.resolve('SN-ENC');
    await a.resolve('SN-ENC-REV');
    await within(1000, l2Filled(prefix, 'SN-ENC'), 'the L2 fill');
    await within(1000, l2Filled(prefix, 'SN-ENC-REV'), 'the L2 fill');

    const raw = (await admin.getBuffer(l2Key(prefix, 'SN-ENC')))!;
    for (const k of [record.currentKey, record.previousKey!]) {
      assert.equal(raw.includes(k), false, 'raw bytes');
      for (const enc of ['hex', 'base64', 'base64url'] as const) assert.equal(raw.toString('latin1').includes(k.toString(enc)), false, enc);
    }
    const ttl = await admin.pttl(l2Key(prefix, 'SN-ENC'));
    assert.ok(ttl > 590_000 && ttl <= 600_000, `pttl ${ttl}`);

    assert.ok(decodeCacheValue(key, 'SN-ENC', raw)?.currentKey?.equals(record.currentKey), 'decrypts with the key and serial');
    assert.equal(decodeCacheValue(key, 'SN-ENC-2', raw), undefined, 'another serial as AAD');
    assert.equal(decodeCacheValue(cacheKey(), 'SN-ENC', raw), undefined, 'another cache key');
    const tampered = Buffer.from(raw);
    tampered[20]! ^= 1;
    assert.equal(decodeCacheValue(key, 'SN-ENC', tampered), undefined, 'a flipped bit');

    const revokedRaw = (await admin.getBuffer(l2Key(prefix, 'SN-ENC-REV')))!;
    const revokedValue = decodeCacheValue(key, 'SN-ENC-REV', revokedRaw);
    assert.equal(revokedValue?.status, 'revoked');
    assert.equal(revokedValue?.currentKey, undefined, 'a revoked entry holds no key');
    assert.equal(revokedRaw.includes(revoked.currentKey), false);

    // Someone with write access to Redis copies SN-ENC's value under SN-ENC-2: it is not used.
    await admin.set(l2Key(prefix, 'SN-ENC-2'), raw);
    const errors: unknown[] = [];
    const b = makeResolver({ source, redis: redisClient(), cacheKey: key, prefix, onError: (e) => errors.push(e) });
    await b.start();
    const loadsBefore = source.loads;
    assert.ok(secretOf(await b.resolve('SN-ENC-2'))?.equals(other.currentKey));
    assert.equal(source.loads, loadsBefore + 1, 'treated as a miss and loaded');
    assert.equal(b.stats().l2Errors, 1);
    assert.equal(errors.length, 1);
  });
});

describe('through the verifier', () => {
  const identity = { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', appid: 'wx1234567890abcdef' };

  async function codeOf(verifier: Verifier, serial: string, secret: Uint8Array): Promise<WireErrorCode | string> {
    const built = buildRequest({ mode: 'signed', method: 'POST', target: '/telemetry', keyId: serial, secret, identity, body: Buffer.from('{}') });
    try {
      const v = await verifier.verify({ method: 'POST', target: '/telemetry', headers: built.headers, body: built.body });
      return `accepted:${v.secretId}`;
    } catch (err) {
      assert.ok(isWxsealError(err), String(err));
      return err.code;
    }
  }

  test('known, rotated, unknown, revoked and store-down devices get the SPEC.md answers', async () => {
    const source = new MemorySource();
    const active = source.put('SN-V-ACTIVE');
    const oldKey = randomBytes(32);
    const rotated = source.put('SN-V-ROTATED', { previousKey: oldKey, previousKeyNotAfter: Math.floor(Date.now() / 1000) + 300 });
    const revoked = source.put('SN-V-REVOKED', { status: 'revoked' });
    const cold = source.put('SN-V-COLD');
    const resolver = makeResolver({ source, redis: redisClient(), cacheKey: cacheKey(), prefix: newPrefix() });
    await resolver.start();
    const verifier = createVerifier({ keys: resolver, nonceStore: new MemoryNonceStore(), allowedModes: ['signed'] });

    assert.equal(await codeOf(verifier, 'SN-V-ACTIVE', active.currentKey), 'accepted:current');
    assert.equal(await codeOf(verifier, 'SN-V-ACTIVE', randomBytes(32)), 'WXSEAL_BAD_SIGNATURE');
    assert.equal(await codeOf(verifier, 'SN-V-ROTATED', rotated.currentKey), 'accepted:current');
    assert.equal(await codeOf(verifier, 'SN-V-ROTATED', oldKey), 'accepted:previous');
    assert.equal(await codeOf(verifier, 'SN-V-NOBODY', randomBytes(32)), 'WXSEAL_UNKNOWN_KEY_ID');
    assert.equal(await codeOf(verifier, 'SN-V-REVOKED', revoked.currentKey), 'WXSEAL_KEY_REVOKED');
    source.mode = 'throw';
    assert.equal(await codeOf(verifier, 'SN-V-COLD', cold.currentKey), 'WXSEAL_KEY_STORE_UNAVAILABLE');
    assert.equal(await codeOf(verifier, 'SN-V-ACTIVE', active.currentKey), 'accepted:current', 'cached keys keep working');
    assert.equal(await codeOf(verifier, 'SN-V-NOBODY-2', randomBytes(32)), 'WXSEAL_UNKNOWN_KEY_ID', 'the Bloom filter needs no store');
  });
});

describe('configuration and stats', () => {
  test('bad options are WXSEAL_CONFIG_INVALID', () => {
    const source = new MemorySource();
    const invalid = (e: unknown) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID');
    assert.throws(() => new DeviceKeyResolver({ source, redis: redisClient({ lazyConnect: true }) }), invalid);
    assert.throws(() => new DeviceKeyResolver({ source, redis: redisClient({ lazyConnect: true }), cacheKey: randomBytes(16) }), invalid);
    assert.throws(() => new DeviceKeyResolver({ source, l1TtlMs: 0 }), invalid);
    assert.throws(() => new DeviceKeyResolver({ source, redisTimeoutMs: Number.NaN }), invalid);
    assert.throws(() => new DeviceKeyResolver({ source, l1MaxEntries: 0 }), invalid);
    assert.throws(() => new DeviceKeyResolver({ source, bloomFalsePositiveRate: 2 }), invalid);
    assert.throws(() => new DeviceKeyResolver({ source: {} as MemorySource }), invalid);
  });

  test('stats() is a plain JSON-safe object of counters and gauges', async () => {
    const source = new MemorySource();
    source.put('SN-STATS');
    const a = makeResolver({ source, expectedSerials: 10_000_000, bloomFalsePositiveRate: 0.01 });
    await a.start();
    await a.resolve('SN-STATS');
    await a.resolve('SN-STATS');
    await a.resolve('SN-NOT-THERE');
    const s = a.stats();
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
    assert.equal(s.lookups, 3);
    assert.equal(s.l3Load, 1);
    assert.equal(s.l1Hit, 1);
    assert.ok(s.bloomReject === 1 || s.l3NotFound === 1);
    assert.equal(s.bloomReady, true);
    assert.equal(s.bloomItems, 1);
    assert.ok(s.bloomBytes > 11.9e6 && s.bloomBytes < 12.1e6, 'sized from expectedSerials');
    assert.equal(s.redisReady, false);
  });

  test('until the first Bloom build the gate is open; a failed first build rejects start() and keeps it open', async () => {
    const source = new MemorySource();
    const record = source.put('SN-EARLY');
    source.mode = 'throw';
    const a = makeResolver({ source });
    await assert.rejects(a.start(), /database is down/);
    assert.equal(a.stats().bloomReady, false);
    assert.equal(a.stats().bloomRebuildErrors, 1);
    assert.equal(a.mightExist('anything'), true);
    source.mode = 'up';
    assert.ok(secretOf(await a.resolve('SN-EARLY'))?.equals(record.currentKey));
    await a.rebuildBloom();
    assert.equal(a.mightExist('SN-EARLY'), true);
  });

  test('a source that answers for another serial or with a malformed key fails closed', async () => {
    const source = new MemorySource();
    source.put('SN-JUNK-1');
    source.put('SN-JUNK-2', { currentKey: Buffer.alloc(8) });
    const a = makeResolver({ source });
    await a.start();
    source.records.set('SN-JUNK-1', { ...source.records.get('SN-JUNK-1')!, serial: 'SN-SOMEONE-ELSE' });
    await assert.rejects(a.resolve('SN-JUNK-1'), (e) => isWxsealError(e, 'WXSEAL_KEY_STORE_UNAVAILABLE'));
    await assert.rejects(a.resolve('SN-JUNK-2'), (e) => isWxsealError(e, 'WXSEAL_KEY_STORE_UNAVAILABLE'));
  });
});
