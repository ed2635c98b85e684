// The real client against the real server packages, with the Redis nonce store shared by two
// backend instances: what a deployment of two backends behind a load balancer looks like.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createClient, type WxsealClient } from '@wxseal/client';
import { HEADERS, WxsealError, buildRequest, loadServerPublicKey } from '@wxseal/protocol';
import { RedisNonceStore } from '@wxseal/server/redis';
import { makeKeys, startBackend } from './helpers.js';

const keys = makeKeys();
let redis: Redis;
const backends: Array<Awaited<ReturnType<typeof startBackend>>> = [];
let clients: WxsealClient[] = [];

before(async () => {
  redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
  } catch (err) {
    throw new Error(`Redis at 127.0.0.1:6379 is required (start it with npm run services): ${(err as Error).message}`);
  }
  const prefix = `wxseal:e2e:${process.pid}:${Date.now()}:`;
  const stores = [new RedisNonceStore({ client: redis, prefix }), new RedisNonceStore({ client: redis, prefix })];
  // The first use of the prefix creates its epochs like a loss (SPEC 8.1): requests signed in that
  // second are refused. Raw requests below are signed once the clock has left it.
  for (const store of stores) await store.prepare();
  const lossSecond = Math.max(...stores.map((s) => Math.floor((s.lossAtMs ?? 0) / 1000)));
  while (Math.floor(Date.now() / 1000) <= lossSecond) await new Promise((r) => setTimeout(r, 20));
  for (const store of stores) backends.push(await startBackend(keys, store));
  clients = backends.map((b) => createClient({ baseUrl: b.url, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem }));
});
after(async () => {
  for (const c of clients) c.close();
  for (const b of backends) await b.app.close();
  redis?.disconnect();
});

describe('client → Fastify backends sharing Redis', () => {
  test('sealed and sign-only calls round-trip with the identity', async () => {
    for (const mode of ['sealed', 'signed'] as const) {
      const res = await clients[0]!.post('/api/echo', { json: { n: 1 }, identity: { openid: 'o-1', appid: 'wx1', source: 'wx_client' }, mode });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { method: 'POST', identity: { openid: 'o-1', appid: 'wx1', source: 'wx_client' }, mode, body: { n: 1 } });
    }
    const get = await clients[1]!.get('/api/echo');
    assert.equal(get.json<{ method: string }>().method, 'GET');
  });

  test('a request accepted by one backend is a replay at the other', async () => {
    const built = buildRequest({
      mode: 'sealed', method: 'POST', target: '/api/echo', keyId: keys.keyId, secret: keys.secret,
      serverKey: { id: keys.serverKeyId, publicKey: loadServerPublicKey(keys.publicKeyPem) }, body: Buffer.from('{}'), contentType: 'application/json',
    });
    const first = await fetch(`${backends[0]!.url}/api/echo`, { method: 'POST', headers: built.headers, body: new Uint8Array(built.body) });
    assert.equal(first.status, 200);
    const second = await fetch(`${backends[1]!.url}/api/echo`, { method: 'POST', headers: built.headers, body: new Uint8Array(built.body) });
    assert.equal(second.status, 401);
    assert.equal(second.headers.get(HEADERS.error), 'WXSEAL_REPLAYED_NONCE');
  });

  test('a client with the wrong secret gets BAD_SIGNATURE, never data', async () => {
    const wrong = createClient({ baseUrl: backends[0]!.url, keyId: keys.keyId, secret: Buffer.alloc(32, 3), serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem });
    await assert.rejects(wrong.post('/api/echo', { json: {} }), (e: WxsealError) => e.code === 'WXSEAL_BAD_SIGNATURE' && e.status === 401);
    wrong.close();
  });

  test('a client holding another server key id gets UNKNOWN_SERVER_KEY', async () => {
    const other = makeKeys();
    const c = createClient({ baseUrl: backends[0]!.url, keyId: keys.keyId, secret: keys.secret, serverKeyId: other.serverKeyId, serverPublicKey: other.publicKeyPem });
    await assert.rejects(c.post('/api/echo', { json: {} }), (e: WxsealError) => e.code === 'WXSEAL_UNKNOWN_SERVER_KEY');
    c.close();
  });
});
