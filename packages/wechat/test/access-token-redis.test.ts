// AccessTokenManager with the shared Redis store: exactly one fetch per renewal across instances,
// the lock protocol (compare-and-delete, fencing, waiting, takeover), cross-instance
// invalidation, and the documented behaviour when Redis is down or hangs, per mode.
// Needs Redis on 127.0.0.1:6379 (fails, never skips, without it) and redis-server on PATH.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  AccessTokenError,
  AccessTokenManager,
  RedisTokenStore,
  type AccessTokenManagerOptions,
  type RedisTokenClient,
  type TokenStore,
} from '../src/access-token/index.js';
import { APPID, SECRET, fetchCount, startFakeWechat, type FakeWechat } from './access-token-helpers/fake-wechat.js';
import { eventLog, eventually, fakeClock, sleep } from './access-token-helpers/common.js';
import { deletePrefix, sharedRedis, startPrivateRedis, uniquePrefix } from './access-token-helpers/redis.js';
import { silentServer } from '../../../tests/support/net.js';

let wx: FakeWechat;
let redis: Redis;
let prefix: string;
const managers: AccessTokenManager[] = [];

// Compile-time check: an ioredis client is a RedisTokenClient.
const _clientCheck: (r: Redis) => RedisTokenClient = (r) => r;
void _clientCheck;

function manager(options: Partial<AccessTokenManagerOptions> = {}, client: RedisTokenClient = redis): AccessTokenManager {
  const m = new AccessTokenManager({
    appid: APPID,
    secret: SECRET,
    http: { baseUrl: wx.url, timeoutMs: 2000, breaker: false },
    store: new RedisTokenStore({ client, prefix, commandTimeoutMs: 200 }),
    retry: { maxRetries: 2, initialDelayMs: 5, maxDelayMs: 20 },
    refreshTimeoutMs: 3000,
    lockTtlMs: 4000,
    pollIntervalMs: 10,
    ...options,
  });
  managers.push(m);
  return m;
}

before(async () => {
  wx = await startFakeWechat();
  redis = await sharedRedis();
});
after(async () => {
  await wx.close();
  redis.disconnect();
});
beforeEach(() => {
  prefix = uniquePrefix();
  wx.reset();
});
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  await deletePrefix(redis, prefix);
});

describe('RedisTokenStore', () => {
  test('locks: SET NX PX, released only by their owner (compare-and-delete)', async () => {
    const store = new RedisTokenStore({ client: redis, prefix });
    assert.equal(await store.acquireLock('stable:wx1', 'refresh', 'owner-a', 5000), true);
    assert.equal(await store.acquireLock('stable:wx1', 'refresh', 'owner-b', 5000), false);
    assert.equal(await store.releaseLock('stable:wx1', 'refresh', 'owner-b'), false, 'b cannot delete a\'s lock');
    assert.equal(await redis.get(store.lockKey('stable:wx1', 'refresh')), 'owner-a');
    const pttl = await redis.pttl(store.lockKey('stable:wx1', 'refresh'));
    assert.ok(pttl > 0 && pttl <= 5000, `lock has a TTL (${pttl})`);
    assert.equal(await store.releaseLock('stable:wx1', 'refresh', 'owner-a'), true);
    assert.equal(await store.acquireLock('stable:wx1', 'refresh', 'owner-b', 5000), true);
  });

  test('records: fenced writes need the lock, compare-and-delete needs the same token, TTL set', async () => {
    const store = new RedisTokenStore({ client: redis, prefix });
    const rec = { token: 'T1', expiresAt: Date.now() + 60_000, refreshAt: Date.now() + 30_000, fetchedAt: Date.now() };
    assert.equal(await store.set('stable:wx1', rec, { ttlMs: 60_000, fence: { lock: 'refresh', owner: 'me' } }), false, 'no lock, no write');
    assert.equal(await store.get('stable:wx1'), undefined);
    await store.acquireLock('stable:wx1', 'refresh', 'me', 5000);
    assert.equal(await store.set('stable:wx1', rec, { ttlMs: 60_000, fence: { lock: 'refresh', owner: 'me' } }), true);
    assert.deepEqual(await store.get('stable:wx1'), rec);
    const pttl = await redis.pttl(store.recordKey('stable:wx1'));
    assert.ok(pttl > 50_000 && pttl <= 60_000, 'pttl > 50_000 && pttl <= 60_000');
    assert.equal(await store.deleteIfToken('stable:wx1', 'T0'), false);
    assert.deepEqual(await store.get('stable:wx1'), rec);
    assert.equal(await store.deleteIfToken('stable:wx1', 'T1'), true);
    assert.equal(await store.get('stable:wx1'), undefined);
  });

  test('a hung Redis makes every command fail within commandTimeoutMs with WECHAT_TOKEN_STORE_UNAVAILABLE', async () => {
    const silent = await silentRedis();
    try {
      const store = new RedisTokenStore({ client: silent.client, prefix, commandTimeoutMs: 100 });
      for (const op of [() => store.get('x'), () => store.acquireLock('x', 'refresh', 'o', 1000), () => store.deleteIfToken('x', 't')]) {
        await assert.rejects(op(), (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_STORE_UNAVAILABLE');
      }
    } finally {
      await silent.close();
    }
  });
});

describe('three instances sharing Redis', () => {
  test('hundreds of concurrent gets: exactly one WeChat fetch per expiry, over three renewals', async () => {
    const clock = fakeClock();
    const log = eventLog();
    wx.delayMs = 20;
    const ms = [0, 1, 2].map(() => manager({ now: clock.now, onEvent: log.onEvent }));
    const burst = async () => (await Promise.all(ms.flatMap((m) => Array.from({ length: 150 }, () => m.getAccessToken())))).filter((t, i, a) => a.indexOf(t) === i);

    // 1. Cold start: nobody has a token.
    assert.deepEqual(await burst(), [wx.issued[0]]);
    assert.equal(fetchCount(wx), 1);
    assert.ok(log.of('lock-wait').length >= 1, 'the instances without the lock waited for it');

    // 2. Everything expired (memory and store): the next burst fetches exactly once.
    clock.advance(7201 * 1000);
    assert.deepEqual(await burst(), [wx.issued[1]]);
    assert.equal(fetchCount(wx), 2);

    // 3. Proactive renewal inside the margin: the old token keeps being served by all while one
    //    lock holder renews it in the background; the others then read the shared value.
    clock.advance((7200 - 100) * 1000);
    assert.deepEqual(await burst(), [wx.issued[1]]);
    await eventually(() => fetchCount(wx) === 3, 'one background renewal');
    clock.advance(1000); // past the others' short re-check delay
    await eventually(async () => (await burst()).join() === wx.issued[2], 'every instance serves the renewed token');
    assert.equal(fetchCount(wx), 3, 'exactly one fetch per renewal');
    assert.equal(wx.requests.length, 3);
    const total = ms.reduce((n, m) => n + m.stats().fetches, 0);
    assert.equal(total, 3);
    assert.ok(ms.reduce((n, m) => n + m.stats().sharedReads, 0) >= 6, 'the others got their tokens from Redis');
  });

  test('real clock and real Redis TTLs: one fetch per expiry across two short expiries', async () => {
    wx.expiresIn = 1;
    const ms = [0, 1, 2].map(() => manager({ refreshMarginSeconds: 0 }));
    const burst = async () => new Set(await Promise.all(ms.flatMap((m) => Array.from({ length: 100 }, () => m.getAccessToken()))));
    assert.deepEqual([...(await burst())], [wx.issued[0]]);
    await sleep(1100);
    assert.deepEqual([...(await burst())], [wx.issued[1]]);
    assert.equal(fetchCount(wx), 2);
  });

  test('40001 across instances: a late invalidation of the old token keeps the new one', async () => {
    const a = manager();
    const b = manager();
    const t1 = await a.getAccessToken();
    assert.equal(await b.getAccessToken(), t1);
    await a.invalidate(t1);
    const t2 = await a.getAccessToken();
    assert.notEqual(t2, t1);
    await b.invalidate(t1);
    assert.equal(await b.getAccessToken(), t2);
    assert.equal(fetchCount(wx), 2);
  });

  test('waiters adopt the token the lock holder publishes instead of fetching themselves', async () => {
    const store = new RedisTokenStore({ client: redis, prefix });
    await store.acquireLock(`stable:${APPID}`, 'refresh', 'another-instance', 10_000);
    const log = eventLog();
    const m = manager({ onEvent: log.onEvent });
    const pending = Promise.all(Array.from({ length: 50 }, () => m.getAccessToken()));
    await eventually(() => log.of('lock-wait').length === 1, 'waiting for the holder');
    const now = Date.now();
    await store.set(`stable:${APPID}`, { token: 'FROM-OTHER-INSTANCE', expiresAt: now + 7_200_000, refreshAt: now + 7_000_000, fetchedAt: now }, { ttlMs: 7_200_000, fence: { lock: 'refresh', owner: 'another-instance' } });
    const tokens = await pending;
    assert.ok(tokens.every((t) => t === 'FROM-OTHER-INSTANCE'), 'tokens.every((t) => t === "FROM-OTHER-INSTANCE")');
    assert.equal(wx.requests.length, 0);
  });

  test('double-check after the lock: an instance that lost the race adopts the winner\'s token', async () => {
    const a = manager();
    const inner = new RedisTokenStore({ client: redis, prefix, commandTimeoutMs: 200 });
    let raced = false;
    // b read the store (empty), then, before b takes the lock, a completes a whole refresh.
    const racing: TokenStore = {
      shared: true,
      get: (n) => inner.get(n),
      set: (n, r, o) => inner.set(n, r, o),
      deleteIfToken: (n, t) => inner.deleteIfToken(n, t),
      releaseLock: (n, l, o) => inner.releaseLock(n, l, o),
      acquireLock: async (n, l, o, ttl) => {
        if (!raced) {
          raced = true;
          await a.getAccessToken();
        }
        return inner.acquireLock(n, l, o, ttl);
      },
    };
    const b = manager({ store: racing });
    const t = await b.getAccessToken();
    assert.equal(raced, true);
    assert.equal(t, wx.issued[0]);
    assert.equal(fetchCount(wx), 1, 'b found a\'s token after taking the lock and did not fetch');
  });

  test('a dead lock holder: waiters take over once its lock lapses; bounded by waitTimeoutMs', async () => {
    const store = new RedisTokenStore({ client: redis, prefix });
    await store.acquireLock(`stable:${APPID}`, 'refresh', 'crashed-instance', 300);
    const m = manager();
    assert.equal(await m.getAccessToken(), wx.issued[0]);
    assert.equal(fetchCount(wx), 1);

    await redis.del(store.recordKey(`stable:${APPID}`));
    await store.acquireLock(`stable:${APPID}`, 'refresh', 'slow-instance', 10_000);
    const m2 = manager({ waitTimeoutMs: 200 });
    await assert.rejects(m2.getAccessToken(), (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_WAIT_TIMEOUT');
    assert.equal(fetchCount(wx), 1, 'never fetched while another instance held the lock');
  });

  test('forceRefresh: one per 30 s across instances; the others move to the new token', async () => {
    const a = manager();
    const b = manager();
    const t1 = await a.getAccessToken();
    assert.equal(await b.getAccessToken(), t1);
    const t2 = await a.forceRefresh();
    assert.equal(wx.requests.at(-1)?.body?.['force_refresh'], true);
    await assert.rejects(b.forceRefresh(), (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON');
    assert.equal(wx.requests.length, 2);
    await b.invalidate(t1); // b's next call with t1 got 40001
    assert.equal(await b.getAccessToken(), t2);
    assert.equal(wx.requests.length, 2);
  });
});

describe('Redis down or hung', () => {
  test('stable mode: degrades to one in-process fetch (store-unavailable), never hangs', async () => {
    const priv = await startPrivateRedis();
    try {
      const clock = fakeClock();
      const log = eventLog();
      const m = manager({ now: clock.now, onEvent: log.onEvent }, priv.client);
      const t1 = await m.getAccessToken();
      await priv.kill();
      assert.equal(await m.getAccessToken(), t1, 'memory still serves');
      clock.advance(7201 * 1000);
      const tokens = await Promise.all(Array.from({ length: 100 }, () => m.getAccessToken()));
      assert.ok(tokens.every((t) => t === wx.issued[1]), 'tokens.every((t) => t === wx.issued[1])');
      assert.equal(fetchCount(wx), 2, 'single-flight holds without the store');
      const down = log.of('store-unavailable');
      assert.ok(down.length >= 1, 'down.length >= 1');
      assert.equal(down[0]!.fallback, 'local-fetch');
      assert.ok(down[0]!.error instanceof AccessTokenError && down[0]!.error.code === 'WECHAT_TOKEN_STORE_UNAVAILABLE', 'down[0]!.error instanceof AccessTokenError && down[0]!.error.code === "WECHAT_TOKEN_STORE_…');
      // A fresh instance with nothing in memory also gets a token.
      const fresh = manager({ now: clock.now }, priv.client);
      assert.equal(await fresh.getAccessToken(), wx.issued[2]);
      await m.invalidate(wx.issued[1]!); // must not throw either
    } finally {
      await priv.close();
    }
  });

  test('stable mode: a hung Redis (accepts, never answers) also degrades after commandTimeoutMs', async () => {
    const silent = await silentRedis();
    try {
      const log = eventLog();
      const m = manager({ onEvent: log.onEvent }, silent.client);
      assert.equal(await m.getAccessToken(), wx.issued[0]);
      assert.equal(log.of('store-unavailable')[0]?.fallback, 'local-fetch');
    } finally {
      await silent.close();
    }
  });

  test('classic mode: fails with WECHAT_TOKEN_STORE_UNAVAILABLE instead of fetching (a fetch would supersede every other instance\'s token)', async () => {
    const priv = await startPrivateRedis();
    try {
      const clock = fakeClock();
      const log = eventLog();
      const holder = manager({ mode: 'classic', now: clock.now, onEvent: log.onEvent }, priv.client);
      const t1 = await holder.getAccessToken();
      assert.match(t1, /classic/);
      await priv.kill();
      const requestsBefore = wx.requests.length;

      const cold = manager({ mode: 'classic', now: clock.now }, priv.client);
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => cold.getAccessToken()));
      assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof AccessTokenError && r.reason.code === 'WECHAT_TOKEN_STORE_UNAVAILABLE'), 'results.every((r) => r.status === "rejected" && r.reason instanceof AccessTokenError && r.…');

      // An instance holding a still-valid token keeps serving it (served-stale) and does not fetch.
      clock.advance((7200 - 60) * 1000);
      assert.equal(await holder.getAccessToken(), t1);
      await eventually(() => log.of('served-stale').length === 1, 'served-stale');
      assert.equal(log.of('store-unavailable')[0]?.fallback, 'served-stale');
      clock.advance(61 * 1000);
      await assert.rejects(holder.getAccessToken(), (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_STORE_UNAVAILABLE');
      await assert.rejects(holder.forceRefresh(), (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_STORE_UNAVAILABLE');
      assert.equal(wx.requests.length, requestsBefore, 'no classic fetch without the shared store');
    } finally {
      await priv.close();
    }
  });
});

/** A Redis that accepts connections and never answers, and an ioredis client pointed at it. */
async function silentRedis(): Promise<{ client: Redis; close(): Promise<void> }> {
  const server = await silentServer();
  const client = new Redis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on('error', () => undefined);
  return {
    client,
    close: async () => {
      client.disconnect();
      await server.close();
    },
  };
}
