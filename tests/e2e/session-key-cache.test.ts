// SPEC.md section 14: opt-in session-key reuse (client) and cache (server). One RSA unwrap per
// wrapped key instead of per request, while IVs, nonces and signatures stay fresh per request.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, describe, mock, test } from 'node:test';
import Fastify from 'fastify';
import { createClient, type ClientOptions } from '@wxseal/client';
import { HEADERS, WxsealError } from '@wxseal/protocol';
import { MemoryNonceStore, ServerKeyRing, SessionKeyCache, StaticKeyResolver, createVerifier } from '@wxseal/server';
import { wxsealFastify } from '@wxseal/server/fastify';
import { makeKeys } from './helpers.js';

const keys = makeKeys('bff-reuse');
const other = makeKeys('bff-other');
const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of closers) await c();
});

async function backend(cache: boolean) {
  const ring = new ServerKeyRing([{ id: keys.serverKeyId, privateKey: keys.privateKey }]);
  const unwrap = mock.method(ring, 'unwrap');
  const verifier = createVerifier({
    keys: new StaticKeyResolver([
      { keyId: keys.keyId, secrets: [{ secret: keys.secret }] },
      { keyId: other.keyId, secrets: [{ secret: other.secret }] },
    ]),
    serverKeys: ring,
    nonceStore: new MemoryNonceStore(),
    ...(cache ? { sessionKeyCache: { maxEntries: 100, ttlSeconds: 60 } } : {}),
  });
  const seen: Array<{ wrapped: string; iv: string; nonce: string }> = [];
  const app = Fastify();
  app.addHook('onRequest', async (req) => {
    seen.push({ wrapped: String(req.headers[HEADERS.wrappedKey]), iv: String(req.headers[HEADERS.iv]), nonce: String(req.headers[HEADERS.nonce]) });
  });
  await app.register(wxsealFastify, { verifier });
  app.post('/api/echo', async (req) => ({ got: req.body }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => app.close());
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, unwrap, seen, verifier };
}

function client(url: string, extra: Partial<ClientOptions> = {}) {
  const c = createClient({ baseUrl: url, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, ...extra });
  closers.push(async () => c.close());
  return c;
}

describe('session-key reuse and cache', () => {
  test('five calls: one wrapped key, one RSA unwrap, five distinct IVs and nonces, all answered', async () => {
    const b = await backend(true);
    const c = client(b.url, { sessionKeyReuse: { maxMessages: 100 } });
    for (let i = 0; i < 5; i++) assert.deepEqual((await c.post('/api/echo', { json: { i } })).json(), { got: { i } });
    assert.equal(new Set(b.seen.map((s) => s.wrapped)).size, 1);
    assert.equal(new Set(b.seen.map((s) => s.iv)).size, 5);
    assert.equal(new Set(b.seen.map((s) => s.nonce)).size, 5);
    assert.equal(b.unwrap.mock.callCount(), 1);
    assert.equal(b.verifier.sessionKeyCache?.hits, 4);
  });

  test('maxMessages bounds the reuse: 5 calls at 2 per key use 3 wrapped keys', async () => {
    const b = await backend(true);
    const c = client(b.url, { sessionKeyReuse: { maxMessages: 2 } });
    for (let i = 0; i < 5; i++) await c.post('/api/echo', { json: { i } });
    assert.equal(new Set(b.seen.map((s) => s.wrapped)).size, 3);
    assert.equal(b.unwrap.mock.callCount(), 3);
  });

  test('maxAgeMs bounds the reuse in time', async () => {
    const b = await backend(true);
    let nowMs = Date.now();
    const c = client(b.url, { sessionKeyReuse: { maxAgeMs: 1000 }, now: () => nowMs });
    await c.post('/api/echo', { json: 1 });
    nowMs += 999;
    await c.post('/api/echo', { json: 2 });
    nowMs += 1;
    await c.post('/api/echo', { json: 3 });
    assert.deepEqual(b.seen.map((s) => s.wrapped).map((w, i, all) => all.indexOf(w)), [0, 0, 2]);
  });

  test('reuse without a server cache still works (the server just unwraps every time)', async () => {
    const b = await backend(false);
    const c = client(b.url, { sessionKeyReuse: true });
    for (let i = 0; i < 3; i++) await c.post('/api/echo', { json: { i } });
    assert.equal(new Set(b.seen.map((s) => s.wrapped)).size, 1);
    assert.equal(b.unwrap.mock.callCount(), 3);
  });

  test('off by default: a fresh wrapped key per request', async () => {
    const b = await backend(true);
    const c = client(b.url);
    for (let i = 0; i < 3; i++) await c.post('/api/echo', { json: { i } });
    assert.equal(new Set(b.seen.map((s) => s.wrapped)).size, 3);
    assert.equal(b.verifier.sessionKeyCache?.hits, 0);
  });

  test('cache entries are per key id: the same wrapped key under another client id is another entry', () => {
    const w = Buffer.alloc(256, 7);
    assert.notEqual(SessionKeyCache.digest('a', 'sk-1', w), SessionKeyCache.digest('b', 'sk-1', w));
    assert.notEqual(SessionKeyCache.digest('a', 'sk-1', w), SessionKeyCache.digest('a', 'sk-2', w));
  });

  test('bad options are refused up front', () => {
    assert.throws(() => client('http://127.0.0.1:9', { sessionKeyReuse: { maxMessages: 2 ** 21 } }), (e: WxsealError) => e.code === 'WXSEAL_CONFIG_INVALID');
    assert.throws(() => new SessionKeyCache({ ttlSeconds: 0 }), (e: WxsealError) => e.code === 'WXSEAL_CONFIG_INVALID');
  });
});
