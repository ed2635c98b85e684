// RedisNonceStore against a real Redis at 127.0.0.1:6379 (start it with `npm run services`).
// These tests FAIL, never skip, when Redis is not reachable.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis, type RedisOptions } from 'ioredis';
import { isWxsealError } from '@wxseal/protocol';
import { createVerifier, type Verifier } from '@wxseal/server';
import { RedisNonceStore, type RedisNonceClient } from '@wxseal/server/redis';
import { generateServerKey, makeFixture, open, rejectionOf, sendBuilt, startServer, unixNow, type RunningServer } from './helpers.js';

const REDIS = { host: '127.0.0.1', port: 6379 };
const prefix = `wxseal-test:${randomUUID()}:`;
const clients: Redis[] = [];

function client(options: RedisOptions = {}): Redis {
  // disconnectTimeout: a client whose peer never closes would otherwise keep the process up 2 s.
  const c = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 1, disconnectTimeout: 50, ...options });
  c.on('error', () => undefined); // connection errors are what some tests are about
  clients.push(c);
  return c;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const serverKey = generateServerKey();

/** Resolves once the wall clock is in a later second than `ms` (a wait on the clock, not a fixed sleep). */
async function untilClockPasses(ms: number): Promise<void> {
  while (Math.floor(Date.now() / 1000) <= Math.floor(ms / 1000)) await new Promise((r) => setTimeout(r, 20));
}

describe('RedisNonceStore (real Redis)', () => {
  let redis: Redis;

  before(async () => {
    redis = client({ connectTimeout: 2000, retryStrategy: () => null });
    try {
      await redis.connect();
      assert.equal(await redis.ping(), 'PONG');
    } catch (err) {
      throw new Error(
        `Redis is not reachable at ${REDIS.host}:${REDIS.port} (${(err as Error).message}). ` +
          'Start it with `npm run services`; the Redis tests fail rather than skip.',
      );
    }
    // The prefix is new, so its epochs are created now, and a request signed in this very second
    // would count as signed before a loss (SPEC.md 8.1): wait for the clock to pass that second.
    const init = new RedisNonceStore({ client: redis, prefix });
    await init.prepare();
    init.detach();
    await untilClockPasses(init.lossAtMs!);
  });

  after(async () => {
    if (redis?.status === 'ready') {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
    for (const c of clients) c.disconnect();
  });

  test('check-and-set: first true, then false; the key lives until t + W (+ margin) under the prefix', async () => {
    const store = new RedisNonceStore({ client: redis, prefix, ttlMarginSeconds: 0 });
    await store.prepare(); // the epochs exist from here on; requests signed later are claimed
    const t = unixNow() + 1; // a second after the epochs were created (the loss rule refuses their own second)
    const record = { keyId: 'bff:prod', nonce: 'bm9uY2UtMDAwMDAwMDAwMDAx', expiresAt: t + 60, now: t, timestamp: t };
    assert.equal(await store.checkAndSet(record), true);
    assert.equal(await store.checkAndSet(record), false);
    assert.equal(await store.checkAndSet({ ...record, keyId: 'bff:other' }), true, 'another key id is another pair');
    const key = store.keyFor(record.keyId, record.nonce);
    assert.ok(key.startsWith(prefix));
    const ttl = await redis.ttl(key);
    assert.ok(ttl >= 60 && ttl <= 61, `ttl ${ttl} covers t + W (60 s from now) and one more second`);
  });

  test('one round trip per request once the epochs are known: a single EVALSHA and nothing else', async () => {
    const calls: unknown[][] = [];
    // The store gets an object with nothing but these three commands: anything else would throw.
    const counting: RedisNonceClient = {
      evalsha: (...args) => (calls.push(['evalsha', ...args]), redis.evalsha(...args)),
      eval: (...args) => (calls.push(['eval', ...args]), redis.eval(...args)),
      set: (...args) => (calls.push(['set', ...args]), redis.set(...args)),
    };
    const store = new RedisNonceStore({ client: counting, prefix, ttlMarginSeconds: 5 });
    await store.prepare();
    const t = unixNow() + 1;
    calls.length = 0;
    assert.equal(await store.checkAndSet({ keyId: 'k', nonce: 'cm91bmQtdHJpcC1ub25jZS0x', expiresAt: t + 100, now: t, timestamp: t }), true);
    assert.equal(calls.length, 1);
    const [command, , numKeys, epochKey, nonceKey, , ttl] = calls[0]!;
    assert.equal(command, 'evalsha');
    assert.equal(numKeys, 2);
    assert.equal(nonceKey, store.keyFor('k', 'cm91bmQtdHJpcC1ub25jZS0x'));
    assert.equal(epochKey, store.epochKey(store.bucketOf('k', 'cm91bmQtdHJpcC1ub25jZS0x')));
    assert.equal(ttl, '106');
    assert.equal(await redis.ttl(store.keyFor('k', 'cm91bmQtdHJpcC1ub25jZS0x')), 106);
  });

  test('concurrent claims of one pair from two clients: exactly one wins', async () => {
    const a = new RedisNonceStore({ client: client(), prefix });
    const b = new RedisNonceStore({ client: client(), prefix });
    await a.prepare();
    const t = unixNow() + 1;
    const record = { keyId: 'k', nonce: `race-${randomUUID()}`, expiresAt: t + 60, now: t, timestamp: t };
    const results = await Promise.all([...Array(10)].flatMap(() => [a.checkAndSet(record), b.checkAndSet(record)]));
    assert.equal(results.filter((r) => r).length, 1);
  });

  test('a replay is rejected by a second verifier instance sharing the store', async () => {
    const first = makeFixture(serverKey, { nonceStore: new RedisNonceStore({ client: client(), prefix }) });
    // Same credentials and server key, its own Redis connection: another server instance.
    const second: Verifier = createVerifier({
      keys: first.resolver,
      serverKeys: first.ring,
      nonceStore: new RedisNonceStore({ client: client(), prefix }),
    });
    const built = first.build({ mode: 'sealed', target: '/orders', body: Buffer.from('{"n":1}'), contentType: 'application/json' });
    const input = { method: 'POST', target: '/orders', headers: built.headers, body: built.body };
    assert.equal((await first.verifier.verify(input)).body.toString(), '{"n":1}');
    await assert.rejects(second.verify(input), (e) => isWxsealError(e, 'WXSEAL_REPLAYED_NONCE'));
    await assert.rejects(first.verifier.verify(input), (e) => isWxsealError(e, 'WXSEAL_REPLAYED_NONCE'));
  });

  test('over HTTP: two servers (Fastify and Express) sharing Redis; a request accepted by one is a replay at the other', async () => {
    const fx = makeFixture(serverKey, { nonceStore: new RedisNonceStore({ client: client(), prefix }) });
    const other = createVerifier({ keys: fx.resolver, serverKeys: fx.ring, nonceStore: new RedisNonceStore({ client: client(), prefix }) });
    const servers: RunningServer[] = [await startServer('fastify', fx.verifier), await startServer('express', other)];
    try {
      const built = fx.build({ mode: 'sealed', target: '/echo', body: Buffer.from('hello'), contentType: 'text/plain' });
      const ok = await sendBuilt(servers[0]!.port, 'POST', '/echo', built);
      assert.equal(ok.status, 201);
      assert.equal(JSON.parse(open(built, ok).body.toString()).body, 'hello');
      const replay = await sendBuilt(servers[1]!.port, 'POST', '/echo', built);
      assert.equal(replay.status, 401);
      assert.equal(rejectionOf(replay)?.code, 'WXSEAL_REPLAYED_NONCE');

      // Sent to both at once: one answer, one replay.
      const twin = fx.build({ mode: 'signed', target: '/echo', body: Buffer.from('twin') });
      const both = await Promise.all(servers.map((s) => sendBuilt(s.port, 'POST', '/echo', twin)));
      assert.deepEqual(both.map((r) => r.status).sort(), [201, 401]);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  test('Redis down (nothing listens): WXSEAL_NONCE_STORE_UNAVAILABLE within the command timeout, no hang', { timeout: 10_000 }, async () => {
    const port = await freePort();
    // Default ioredis behaviour: commands wait in the offline queue while it reconnects.
    const queued = new RedisNonceStore({ client: client({ port, maxRetriesPerRequest: 20 }), prefix, commandTimeoutMs: 200 });
    void (clients[clients.length - 1]!.connect().catch(() => undefined));
    await assert.rejects(queued.checkAndSet({ keyId: 'k', nonce: 'ZG93bi1ub25jZS0wMDAwMDAx', expiresAt: 200, now: 100, timestamp: 100 }), (e) =>
      isWxsealError(e, 'WXSEAL_NONCE_STORE_UNAVAILABLE'),
    );
    // Without an offline queue ioredis refuses at once; still UNAVAILABLE.
    const immediate = new RedisNonceStore({ client: client({ port, enableOfflineQueue: false }), prefix, commandTimeoutMs: 5000 });
    await assert.rejects(immediate.checkAndSet({ keyId: 'k', nonce: 'ZG93bi1ub25jZS0wMDAwMDAy', expiresAt: 200, now: 100, timestamp: 100 }), (e) =>
      isWxsealError(e, 'WXSEAL_NONCE_STORE_UNAVAILABLE'),
    );
    // Through the verifier and an adapter: a 503 with the code, the request never accepted.
    const fx = makeFixture(serverKey, { nonceStore: queued });
    const server = await startServer('koa', fx.verifier);
    try {
      const built = fx.build({ mode: 'sealed', target: '/echo', body: Buffer.from('x') });
      const res = await sendBuilt(server.port, 'POST', '/echo', built);
      assert.equal(res.status, 503);
      assert.equal(rejectionOf(res)?.code, 'WXSEAL_NONCE_STORE_UNAVAILABLE');
    } finally {
      await server.close();
    }
  });

  test('Redis slow (accepts the connection, never answers): WXSEAL_NONCE_STORE_UNAVAILABLE, no hang', { timeout: 10_000 }, async () => {
    const sockets: Socket[] = [];
    const blackHole = createServer((s) => {
      sockets.push(s);
      s.on('data', () => undefined);
    });
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
    try {
      const { port } = blackHole.address() as AddressInfo;
      const store = new RedisNonceStore({ client: client({ port }), prefix, commandTimeoutMs: 150 });
      await assert.rejects(store.checkAndSet({ keyId: 'k', nonce: 'c2xvdy1ub25jZS0wMDAwMDAx', expiresAt: 200, now: 100, timestamp: 100 }), (e) =>
        isWxsealError(e, 'WXSEAL_NONCE_STORE_UNAVAILABLE'),
      );
    } finally {
      for (const s of sockets) s.destroy();
      clients[clients.length - 1]!.disconnect();
      await new Promise<void>((r) => blackHole.close(() => r()));
    }
  });

  test('configuration errors', () => {
    assert.throws(() => new RedisNonceStore({ client: {} as RedisNonceClient }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
    assert.throws(() => new RedisNonceStore({ client: redis, commandTimeoutMs: 0 }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
    assert.throws(() => new RedisNonceStore({ client: redis, prefix: 'a{b}:' }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'), 'braces would break the Cluster hash tags');
    assert.throws(() => new RedisNonceStore({ client: redis, resetMarginSeconds: -1 }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
  });
});
