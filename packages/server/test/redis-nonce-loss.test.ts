// RedisNonceStore's loss rule (SPEC.md 8.1) against real Redis servers: the shared one at 6379
// (own prefix; its keys are deleted, never the whole server flushed) and a private redis-server on
// a free port, which this file may FLUSHALL and whose clients it may kill. Fails, never skips.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { isWxsealError } from '@wxseal/protocol';
import { createVerifier } from '@wxseal/server';
import { NONCE_BUCKETS, RedisNonceStore, type NonceStoreLoss } from '@wxseal/server/redis';
import { freePort, redisServerProcess, type RedisProcess } from '../../../tests/support/net.js';
import { generateServerKey, makeFixture, unixNow } from './helpers.js';

const clients: Redis[] = [];
function connect(port: number): Redis {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 50, disconnectTimeout: 50 });
  c.on('error', () => undefined); // reconnects are what some tests are about
  clients.push(c);
  return c;
}
/** A client whose connection is up (the offline queue is off: a command before that would fail). */
async function connected(port: number): Promise<Redis> {
  const c = connect(port);
  await ready(c);
  return c;
}
async function ready(c: Redis): Promise<void> {
  if (c.status !== 'ready') await new Promise<void>((resolve) => c.once('ready', () => resolve()));
}

/** Resolves once the wall clock is in a later second than `ms` (a wait on the clock, not a fixed sleep). */
async function untilClockPasses(ms: number): Promise<void> {
  while (Math.floor(Date.now() / 1000) <= Math.floor(ms / 1000)) await new Promise((r) => setTimeout(r, 20));
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let n = 0;
const nonce = (): string => `bG9zcy1ub25jZS0${(++n).toString().padStart(8, '0')}`;
const rec = (ts: number, keyId = 'k', value = nonce()) => ({ keyId, nonce: value, expiresAt: ts + 60, now: unixNow(), timestamp: ts });
const isReset = (e: unknown): boolean => isWxsealError(e, 'WXSEAL_NONCE_STORE_RESET');

/** CRC16/XMODEM mod 16384 with the hash-tag rule, written here as an independent check of the key layout. */
function clusterSlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

describe('RedisNonceStore: key layout', () => {
  test('every nonce key and its bucket epoch key hash to one Cluster slot; the buckets spread over several slots', () => {
    const store = new RedisNonceStore({ client: { evalsha: async () => 0, eval: async () => 0, set: async () => 'OK' }, prefix: 'p:' });
    assert.equal(clusterSlot('123456789'), 0x31c3 % 16384, 'the CRC16 of the Redis Cluster spec');
    const bucketsSeen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const keyId = i % 3 === 0 ? 'bff:{odd}:key' : `bff-${i % 7}`;
      const value = randomUUID().replaceAll('-', '');
      const bucket = store.bucketOf(keyId, value);
      bucketsSeen.add(bucket);
      assert.equal(clusterSlot(store.keyFor(keyId, value)), clusterSlot(store.epochKey(bucket)), store.keyFor(keyId, value));
    }
    assert.equal(bucketsSeen.size, NONCE_BUCKETS, 'every bucket is used');
    const slots = new Set(Array.from({ length: NONCE_BUCKETS }, (_, b) => clusterSlot(store.epochKey(b))));
    assert.equal(slots.size, NONCE_BUCKETS, 'one slot per bucket');
    // Spread over the three slot ranges a 3-master cluster gets from redis-cli --cluster create.
    const ranges = new Set([...slots].map((s) => (s <= 5460 ? 0 : s <= 10922 ? 1 : 2)));
    assert.equal(ranges.size, 3);
  });
});

describe('RedisNonceStore: shared Redis at 6379, own prefix', () => {
  const prefix = `wxseal-loss-test:${randomUUID()}:`;
  let redis: Redis;

  before(async () => {
    redis = connect(6379);
    await waitFor(() => redis.status === 'ready' || redis.status === 'end', 'Redis at 6379', 3000).catch(() => undefined);
    if (redis.status !== 'ready') throw new Error('Redis is not reachable at 127.0.0.1:6379: start it with `npm run services` (this test fails rather than skips)');
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  });

  test('first use creates one epoch per bucket (`<id>:<start ms>`), reported once as a loss at that time', async () => {
    const losses: NonceStoreLoss[] = [];
    const before = Date.now();
    const store = new RedisNonceStore({ client: redis, prefix, onLoss: (l) => losses.push(l) });
    await store.prepare();
    const epochs = await Promise.all(Array.from({ length: NONCE_BUCKETS }, (_, b) => redis.get(store.epochKey(b))));
    assert.equal(new Set(epochs).size, 1, 'one value, written by this instance');
    const [, start] = /^[0-9a-f]{24}:(\d+)$/.exec(epochs[0]!)!;
    assert.ok(Number(start) >= before && Number(start) <= Date.now());
    assert.deepEqual(losses, [{ atMs: Number(start), reason: 'epoch-missing' }]);
    assert.equal(store.lossAtMs, Number(start));

    // A second instance starting now adopts the epochs: it refuses the same second, reports nothing.
    const other = new RedisNonceStore({ client: redis, prefix, onLoss: (l) => losses.push(l) });
    await other.prepare();
    assert.equal(other.lossAtMs, Number(start));
    assert.equal(losses.length, 1);
    store.detach();
    other.detach();
  });

  test('keys deleted under the prefix (a flush of this deployment): old timestamps refused on both instances, new ones claimed', async () => {
    const a = new RedisNonceStore({ client: redis, prefix });
    const b = new RedisNonceStore({ client: await connected(6379), prefix });
    await a.prepare();
    await b.prepare();
    await untilClockPasses(Math.max(a.lossAtMs!, b.lossAtMs!));
    const accepted = [rec(unixNow()), rec(unixNow()), rec(unixNow())];
    for (const r of accepted) assert.equal(await a.checkAndSet(r), true);
    for (const r of accepted) assert.equal(await b.checkAndSet(r), false, 'a replay, as long as nothing is lost');

    const flushedAt = Date.now();
    const keys = await redis.keys(`${prefix}*`);
    assert.ok(keys.length >= NONCE_BUCKETS + 3);
    await redis.del(...keys);

    // Every accepted request replayed, to either instance: refused with the loss code.
    for (const r of accepted) await assert.rejects(b.checkAndSet(r), isReset);
    for (const r of accepted) await assert.rejects(a.checkAndSet(r), isReset, 'a learnt it from the epoch b created');
    assert.ok(a.lossAtMs! >= flushedAt && b.lossAtMs === a.lossAtMs);
    // A request signed before the loss but never seen: refused too (it may have been seen).
    await assert.rejects(a.checkAndSet(rec(Math.floor(flushedAt / 1000))), isReset);

    await untilClockPasses(a.lossAtMs!);
    const fresh = rec(unixNow());
    assert.equal(await a.checkAndSet(fresh), true, 'a request signed after the loss is claimed');
    assert.equal(await b.checkAndSet(fresh), false, 'and is a replay on the other instance');
    a.detach();
    b.detach();
  });
});

describe('RedisNonceStore: a private redis-server (FLUSHALL, restart, reconnect)', () => {
  let server: RedisProcess;
  let port: number;

  before(async () => {
    port = await freePort();
    server = redisServerProcess(port);
    await server.start();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await server?.stop('SIGKILL');
  });

  test('FLUSHALL: the next claim of a request signed before it is WXSEAL_NONCE_STORE_RESET; a fresh one passes', async () => {
    const losses: NonceStoreLoss[] = [];
    const admin = connect(port);
    await ready(admin);
    const store = new RedisNonceStore({ client: await connected(port), prefix: 'flush:', onLoss: (l) => losses.push(l) });
    await store.prepare();
    await untilClockPasses(store.lossAtMs!);
    const before = rec(unixNow());
    assert.equal(await store.checkAndSet(before), true);

    await admin.flushall();
    await assert.rejects(store.checkAndSet(before), isReset, 'the replay after the flush');
    assert.equal(losses.at(-1)!.reason, 'epoch-missing');
    await untilClockPasses(store.lossAtMs!);
    const after = rec(unixNow());
    assert.equal(await store.checkAndSet(after), true);
    assert.equal(await store.checkAndSet(after), false);
    store.detach();
  });

  test('minReplicaAcks: no replica acknowledges → refused (UNAVAILABLE); once a replica follows → accepted', async () => {
    // WAIT gets half the command timeout: 2 s, so a replica on a busy machine still answers in time.
    const store = new RedisNonceStore({ client: await connected(port), prefix: `acks:${randomUUID()}:`, minReplicaAcks: 1, commandTimeoutMs: 4000 });
    await store.prepare();
    await untilClockPasses(store.lossAtMs!);
    await assert.rejects(store.checkAndSet(rec(unixNow())), (e) => isWxsealError(e, 'WXSEAL_NONCE_STORE_UNAVAILABLE'));

    const replicaPort = await freePort();
    const replica = redisServerProcess(replicaPort);
    await replica.start();
    try {
      const replicaAdmin = await connected(replicaPort);
      await replicaAdmin.replicaof('127.0.0.1', port);
      await waitFor(async () => (await replicaAdmin.info('replication')).includes('master_link_status:up'), 'the replica in sync', 20_000);
      // The primary's side too: it counts the replica for WAIT once it lists it online.
      const primaryAdmin = await connected(port);
      await waitFor(async () => /slave\d+:[^\r\n]*state=online/.test(await primaryAdmin.info('replication')), 'the primary sees the replica online', 20_000);
      primaryAdmin.disconnect();
      const r = rec(unixNow());
      assert.equal(await store.checkAndSet(r), true);
      assert.equal(await replicaAdmin.exists(store.keyFor(r.keyId, r.nonce)), 1, 'the accepted nonce is on the replica');
      assert.equal(await store.checkAndSet(r), false);
    } finally {
      await replica.stop('SIGKILL');
    }
    store.detach();
  });

  test('minReplicaAcks needs a client with WAIT', () => {
    const client = { evalsha: async () => 1, eval: async () => 1, set: async () => 'OK' };
    assert.throws(() => new RedisNonceStore({ client, minReplicaAcks: 1 }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
  });

  test('SCRIPT FLUSH: the store loads its script again (EVAL after NOSCRIPT)', async () => {
    const admin = connect(port);
    await ready(admin);
    const store = new RedisNonceStore({ client: await connected(port), prefix: 'noscript:' });
    await store.prepare();
    await untilClockPasses(store.lossAtMs!);
    await admin.script('FLUSH');
    const r = rec(unixNow());
    assert.equal(await store.checkAndSet(r), true);
    assert.equal(await store.checkAndSet(r), false);
    store.detach();
  });

  test('a reconnect starts a new epoch everywhere: this instance and the others refuse requests signed before it', async () => {
    const losses: NonceStoreLoss[] = [];
    const conn = connect(port);
    await ready(conn);
    const a = new RedisNonceStore({ client: conn, prefix: 'reconnect:', onLoss: (l) => losses.push(l) });
    const b = new RedisNonceStore({ client: await connected(port), prefix: 'reconnect:' });
    await a.prepare();
    await b.prepare();
    await untilClockPasses(Math.max(a.lossAtMs!, b.lossAtMs!));
    const accepted = rec(unixNow());
    const unseen = rec(unixNow());
    assert.equal(await a.checkAndSet(accepted), true);
    const epochBefore = await conn.get(a.epochKey(0));

    // The server drops a's connection (as a failover does); ioredis reconnects by itself.
    const killedAt = Date.now();
    const admin = connect(port);
    await ready(admin);
    await admin.client('KILL', 'ID', String(await conn.client('ID')));
    await waitFor(async () => losses.some((l) => l.reason === 'reconnect'), 'the new epoch after the reconnect');
    assert.ok(a.lossAtMs! >= killedAt);
    const epochAfter = await admin.get(a.epochKey(0));
    assert.notEqual(epochAfter, epochBefore);
    for (let bucket = 0; bucket < NONCE_BUCKETS; bucket++) assert.equal(await admin.get(a.epochKey(bucket)), epochAfter);

    // The data is all there, but neither instance trusts it for requests signed before the reconnect.
    await assert.rejects(a.checkAndSet(unseen), isReset);
    await assert.rejects(b.checkAndSet({ ...unseen, nonce: nonce() }), isReset, 'b learns the new epoch on its next claim');
    await assert.rejects(b.checkAndSet(accepted), isReset);
    await untilClockPasses(a.lossAtMs!);
    assert.equal(await b.checkAndSet(rec(unixNow())), true);
    a.detach();
    b.detach();
  });

  test('restart without persistence (SIGKILL, start again): loss detected; through a verifier it is a signed 503 rejection', async () => {
    const serverKey = generateServerKey();
    const conn = connect(port);
    await ready(conn);
    const store = new RedisNonceStore({ client: conn, prefix: 'restart:', commandTimeoutMs: 500 });
    await store.prepare();
    await untilClockPasses(store.lossAtMs!);
    const fx = makeFixture(serverKey, { nonceStore: store });
    const built = fx.build({ mode: 'signed', target: '/orders', body: Buffer.from('{"n":1}') });
    const input = { method: 'POST', target: '/orders', headers: built.headers, body: built.body };
    await fx.verifier.verify(input);

    await server.stop('SIGKILL');
    await assert.rejects(fx.verifier.verify(input), (e) => isWxsealError(e, 'WXSEAL_NONCE_STORE_UNAVAILABLE'), 'down: fail closed');
    await server.start();
    await ready(conn);
    const other = createVerifier({ keys: fx.resolver, serverKeys: fx.ring, nonceStore: store });
    await assert.rejects(other.verify(input), isReset, 'the replay after the restart');
    const err = await fx.verifier.verify(input).then(
      () => assert.fail('a replay was accepted'),
      (e: unknown) => e,
    );
    const rejection = fx.verifier.rejection(err);
    assert.equal(rejection.status, 503);
    assert.equal(rejection.headers['wxseal-error'], 'WXSEAL_NONCE_STORE_RESET');
    assert.ok(rejection.headers['wxseal-signature'], 'signed: it is raised after the signature verified (SPEC.md 10.1)');
    store.detach();
  });
});
