// The gateway in front of a plain HTTP upstream: the real client calls it, the upstream records
// what it receives. Sealed and sign-only round trips, identity headers, routes and their modes,
// passthrough, spoofing, and the sealed errors for a failing upstream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isWxsealError, type WxsealClient } from '@wxseal/client';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { captureLogger, baseConfig, clientFor, makeKeys, plainRequest, startUpstream, type Seen, type Upstream } from '../../../tests/support/gateway.js';
import { deadPort } from './helpers.js';

const keys = makeKeys('bff-forward');
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function headerNames(seen: Seen): string[] {
  const out: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2) out.push(seen.rawHeaders[i]!.toLowerCase());
  return out;
}

/** Every header the upstream got whose name is in the gateway's namespace, in any spelling. */
function reservedHeaders(seen: Seen): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    const n = seen.rawHeaders[i]!.toLowerCase().replace(/_/g, '-');
    if (n.startsWith('x-wxseal-') || n.startsWith('wxseal-')) out[seen.rawHeaders[i]!] = seen.rawHeaders[i + 1]!;
  }
  return out;
}

describe('gateway forwarding', () => {
  let upstream: Upstream;
  let gw: RunningGateway;
  let client: WxsealClient;
  const logs = captureLogger();
  const last = (): Seen => upstream.seen[upstream.seen.length - 1]!;

  before(async () => {
    upstream = await startUpstream();
    const dead = await deadPort();
    gw = await startGateway(
      baseConfig(keys, upstream.url, {
        routes: [
          { prefix: '/api', upstream: upstream.url, mode: 'sealed-or-signed' },
          { prefix: '/sealed-only', upstream: upstream.url, mode: 'sealed' },
          { prefix: '/signed-only', upstream: upstream.url, mode: 'signed' },
          { prefix: '/strip', upstream: `${upstream.url}/base`, mode: 'sealed', stripPrefix: true },
          { prefix: '/public', upstream: upstream.url, mode: 'passthrough' },
          { prefix: '/down', upstream: `http://127.0.0.1:${dead}`, mode: 'sealed-or-signed' },
          { prefix: '/slow', upstream: upstream.url, mode: 'sealed-or-signed', timeoutMs: 300 },
          { prefix: '/big', upstream: upstream.url, mode: 'sealed', maxResponseBytes: 1000 },
          { prefix: '/small', upstream: upstream.url, mode: 'sealed-or-signed', maxBodyBytes: 300 },
          { prefix: '/public-small', upstream: upstream.url, mode: 'passthrough', maxBodyBytes: 300 },
        ],
      }),
      { logger: logs.logger },
    );
    client = clientFor(keys, gw.url);
  });

  after(async () => {
    client?.close();
    await gw?.close();
    await upstream?.close();
  });

  test('sealed POST: the upstream gets the plaintext, its content type, the identity and the traceparent; the client opens the answer', async () => {
    const identity = { openid: 'o-123', appid: 'wx-app', unionid: 'u-9', env: 'prod-1', source: 'wx_client' };
    const res = await client.post('/api/orders?b=2&a=1', { json: { sku: 'tea', qty: 2 }, identity, traceparent: TRACEPARENT });
    assert.equal(res.status, 200);
    assert.equal(res.contentType, 'application/json');
    assert.deepEqual(res.json(), { method: 'POST', url: '/api/orders?b=2&a=1', body: '{"sku":"tea","qty":2}', contentType: 'application/json' });
    assert.equal(res.headers['x-upstream'], 'yes', 'ordinary upstream headers pass through');
    assert.equal(res.headers.etag, undefined, 'a plaintext-derived ETag never accompanies a sealed body');

    const seen = last();
    assert.equal(seen.headers['x-wxseal-key-id'], keys.keyId);
    assert.equal(seen.headers['x-wxseal-mode'], 'sealed');
    assert.equal(seen.headers['x-wxseal-openid'], 'o-123');
    assert.equal(seen.headers['x-wxseal-appid'], 'wx-app');
    assert.equal(seen.headers['x-wxseal-unionid'], 'u-9');
    assert.equal(seen.headers['x-wxseal-env'], 'prod-1');
    assert.equal(seen.headers['x-wxseal-source'], 'wx_client');
    assert.equal(seen.headers.traceparent, TRACEPARENT);
    assert.equal(seen.headers['content-type'], 'application/json');
    assert.equal(seen.headers['content-length'], String(seen.body.length));
    // Nothing of the envelope reaches the upstream.
    for (const name of headerNames(seen)) assert.ok(!name.startsWith('wxseal-'), `${name} must not be forwarded`);
    assert.equal(seen.headers['accept-encoding'], 'identity');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  });

  test('sign-only round trip: the upstream gets the same body; the answer is signed and verified', async () => {
    const res = await client.post('/api/pay', { mode: 'signed', body: 'hello', contentType: 'text/plain', identity: { openid: 'o-signed' }, traceparent: TRACEPARENT });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { method: 'POST', url: '/api/pay', body: 'hello', contentType: 'text/plain' });
    const seen = last();
    assert.equal(seen.headers['x-wxseal-mode'], 'signed');
    assert.equal(seen.headers['x-wxseal-openid'], 'o-signed');
    assert.equal(seen.headers['x-wxseal-appid'], undefined, 'absent identity members give absent headers');
    assert.equal(seen.headers.traceparent, TRACEPARENT);
    assert.deepEqual(reservedHeaders(seen), { 'x-wxseal-key-id': keys.keyId, 'x-wxseal-mode': 'signed', 'x-wxseal-openid': 'o-signed' });
  });

  test('sealed GET with a query: method, path and query as received, no body', async () => {
    const res = await client.get('/api/items', { query: { q: 'green tea', page: 2 } });
    assert.equal(res.status, 200);
    const seen = last();
    assert.equal(seen.method, 'GET');
    assert.equal(seen.url, '/api/items?q=green%20tea&page=2');
    assert.equal(seen.body.length, 0);
    assert.equal(seen.headers['content-type'], undefined);
  });

  test('identity values are percent-encoded (UTF-8 survives, nothing breaks the header)', async () => {
    await client.post('/api/x', { identity: { openid: 'o-中文 id', env: 'e/1' } });
    assert.equal(last().headers['x-wxseal-openid'], encodeURIComponent('o-中文 id'));
    assert.equal(decodeURIComponent(String(last().headers['x-wxseal-openid'])), 'o-中文 id');
    assert.equal(last().headers['x-wxseal-env'], 'e%2F1');
  });

  test('per-route modes: a sealed-only route refuses sign-only requests and vice versa', async () => {
    assert.equal((await client.post('/sealed-only/a', { json: 1 })).status, 200);
    await assert.rejects(client.post('/sealed-only/a', { json: 1, mode: 'signed' }), (e) => isWxsealError(e, 'WXSEAL_MODE_NOT_ALLOWED') && e.status === 403);
    assert.equal((await client.post('/signed-only/a', { json: 1, mode: 'signed' })).status, 200);
    await assert.rejects(client.post('/signed-only/a', { json: 1 }), (e) => isWxsealError(e, 'WXSEAL_MODE_NOT_ALLOWED'));
  });

  test('prefix stripping and the upstream base path; the client still signs the path it sent', async () => {
    const res = await client.post('/strip/orders/7?x=1', { json: {} });
    assert.equal(res.status, 200);
    assert.equal(last().url, '/base/orders/7?x=1');
    await client.get('/strip');
    assert.equal(last().url, '/base/');
  });

  test('prefixes match whole segments; unknown paths are a section-10 rejection WXSEAL_ROUTE_NOT_FOUND 404', async () => {
    const before = upstream.seen.length;
    const r = await plainRequest(gw.url, `/apix/1`);
    assert.equal(r.status, 404);
    assert.deepEqual(JSON.parse(r.body), { error: { code: 'WXSEAL_ROUTE_NOT_FOUND', message: 'no route matches this path' } });
    assert.equal(r.headers['wxseal-error'], 'WXSEAL_ROUTE_NOT_FOUND');
    assert.match(String(r.headers['wxseal-server-time']), /^[0-9]+$/);
    assert.equal(r.headers['wxseal-signature'], undefined, 'nothing was verified: unsigned');
    assert.equal((await plainRequest(gw.url, `/`)).status, 404);
    // The client reports the gateway's code rather than "response is not sealed".
    await assert.rejects(client.get('/nowhere'), (e) => isWxsealError(e, 'WXSEAL_ROUTE_NOT_FOUND') && e.status === 404);
    await assert.rejects(client.post('/nowhere', { mode: 'signed', json: {} }), (e) => isWxsealError(e, 'WXSEAL_ROUTE_NOT_FOUND'));
    assert.equal(upstream.seen.length, before);
  });

  test('ambiguous paths (dot-segments, ..; , encoded dots/slashes/letters, backslash) are refused before routing', async () => {
    const before = upstream.seen.length;
    for (const path of ['/public/../api/x', '/public/%2e%2e/api/x', '/public/..;/api/x', '/public/a%2fb', '/%61pi/x', '/public/a\\..\\api']) {
      const r = await plainRequest(gw.url, path);
      assert.equal(r.status, 400, path);
      assert.equal(r.headers['wxseal-error'], 'WXSEAL_MALFORMED_HEADER', path);
    }
    assert.equal(upstream.seen.length, before, 'none of them reached the upstream');
  });

  test('passthrough: proxied as is (body, content type, status, headers), no wxseal needed', async () => {
    const r = await plainRequest(gw.url, `/public/status/201?z=1`, {
      method: 'PUT',
      headers: { 'content-type': 'text/csv', traceparent: TRACEPARENT },
      body: 'a,b\n1,2',
    });
    assert.equal(r.status, 201);
    assert.equal(r.headers.etag, '"plain-derived"');
    assert.deepEqual(JSON.parse(r.body), { method: 'PUT', url: '/public/status/201?z=1', body: 'a,b\n1,2', contentType: 'text/csv' });
    assert.equal(last().headers.traceparent, TRACEPARENT);
    assert.deepEqual(reservedHeaders(last()), {});
  });

  test('spoofed identity headers never reach the upstream: sealed route', async () => {
    await client.post('/api/spoof', {
      json: {},
      identity: { openid: 'o-real' },
      headers: { 'X-Wxseal-Openid': 'o-evil', 'x-wxseal-key-id': 'admin', x_wxseal_openid: 'o-evil2', 'x-wxseal-admin': 'true', 'X-WXSEAL-UNIONID': 'u-evil' },
    });
    assert.deepEqual(reservedHeaders(last()), { 'x-wxseal-key-id': keys.keyId, 'x-wxseal-mode': 'sealed', 'x-wxseal-openid': 'o-real' });
    // Without an asserted identity nothing of the caller's survives either.
    await client.post('/api/spoof', { json: {}, headers: { 'x-wxseal-openid': 'o-evil', 'x-wxseal-appid': 'wx-evil' } });
    assert.deepEqual(reservedHeaders(last()), { 'x-wxseal-key-id': keys.keyId, 'x-wxseal-mode': 'sealed' });
  });

  test('spoofed identity headers never reach the upstream: sign-only route', async () => {
    await client.post('/signed-only/spoof', { mode: 'signed', json: {}, headers: { 'x-wxseal-openid': 'o-evil', 'x-wxseal-mode': 'sealed', x_wxseal_env: 'prod' } });
    assert.deepEqual(reservedHeaders(last()), { 'x-wxseal-key-id': keys.keyId, 'x-wxseal-mode': 'signed' });
  });

  test('spoofed identity headers never reach the upstream: passthrough route (any spelling, wxseal-* too)', async () => {
    const r = await plainRequest(gw.url, `/public/spoof`, {
      method: 'POST',
      headers: [
        ['X-Wxseal-Openid', 'o-evil'],
        ['x-wxseal-key-id', 'admin'],
        ['x-wxseal-mode', 'sealed'],
        ['X_WXSEAL_OPENID', 'o-evil2'],
        ['wxseal-openid', 'o-evil3'],
        ['Wxseal-Key-Id', 'admin'],
        ['wxseal-signature', 'x'.repeat(43)],
        ['x-wxseal-openid', 'o-evil4'],
      ],
      body: '{}',
    });
    assert.equal(r.status, 200);
    assert.deepEqual(reservedHeaders(last()), {});
  });

  test('hop-by-hop headers (and those named in Connection) are not forwarded', async () => {
    await plainRequest(gw.url, `/public/hop`, {
      headers: { connection: 'x-hop-1, keep-alive', 'x-hop-1': 'a', 'keep-alive': 'timeout=5', 'proxy-authorization': 'Basic x', te: 'trailers', 'x-kept': 'b' },
    });
    const names = headerNames(last());
    for (const n of ['x-hop-1', 'keep-alive', 'proxy-authorization', 'te']) assert.ok(!names.includes(n), `${n} must not be forwarded`);
    assert.equal(last().headers['x-kept'], 'b');
  });

  test('upstream down: a sealed 502 WXSEAL_UPSTREAM_UNAVAILABLE the client authenticates (sealed and signed)', async () => {
    for (const mode of ['sealed', 'signed'] as const) {
      const res = await client.post('/down/orders', { json: { a: 1 }, mode });
      assert.equal(res.status, 502, mode);
      assert.deepEqual(res.json(), { error: { code: 'WXSEAL_UPSTREAM_UNAVAILABLE', message: 'the upstream service cannot be reached' } });
    }
  });

  test('upstream too slow: a sealed 504 WXSEAL_UPSTREAM_TIMEOUT within the route timeout, not the upstream delay', async () => {
    const started = Date.now();
    const res = await client.post('/slow/slow/5000', { json: {} });
    assert.equal(res.status, 504);
    assert.deepEqual(res.json(), { error: { code: 'WXSEAL_UPSTREAM_TIMEOUT', message: 'the upstream service did not answer in time' } });
    assert.ok(Date.now() - started < 4000, 'answered long before the upstream would have');
  });

  test('an upstream answer over maxResponseBytes is a sealed 502, never a partial body', async () => {
    assert.equal((await client.get('/big/bytes/900')).body.length, 900);
    const res = await client.get('/big/bytes/5000');
    assert.equal(res.status, 502);
    assert.equal(res.json<{ error: { code: string } }>().error.code, 'WXSEAL_UPSTREAM_RESPONSE_TOO_LARGE');
  });

  test('a compressed upstream answer is decoded before sealing', async () => {
    const res = await client.get('/api/gzip');
    assert.deepEqual(res.json(), { compressed: true });
    assert.equal(res.headers['content-encoding'], undefined);
  });

  test('upstream statuses are sealed as they are; 204 becomes 200 sealed, stays 204 signed', async () => {
    assert.equal((await client.post('/api/status/404', { json: {} })).status, 404);
    assert.equal((await client.post('/api/status/500', { json: {} })).status, 500);
    const sealed = await client.post('/api/status/204', { json: {} });
    assert.equal(sealed.status, 200);
    assert.equal(sealed.body.length, 0);
    const signed = await client.post('/api/status/204', { json: {}, mode: 'signed' });
    assert.equal(signed.status, 204);
  });

  test('an upstream cannot fake a verifier rejection: its wxseal-* response headers are dropped', async () => {
    for (const mode of ['sealed', 'signed'] as const) {
      const res = await client.post('/api/fake-rejection', { json: {}, mode });
      assert.equal(res.status, 401, mode);
      assert.equal(res.text(), '{"error":"upstream"}');
      assert.equal(res.headers['wxseal-error'], undefined);
    }
  });

  test("a body over the route's maxBodyBytes is refused with 413 before verification", async () => {
    assert.equal((await client.post('/small/ok', { body: 'x'.repeat(50) })).status, 200);
    const before = upstream.seen.length;
    await assert.rejects(client.post('/small/big', { body: 'x'.repeat(1000) }), (e) => isWxsealError(e, 'WXSEAL_BODY_TOO_LARGE') && e.status === 413);
    assert.equal(upstream.seen.length, before);
  });

  test("passthrough: a body over the route's limit is the section-10 rejection 413 WXSEAL_BODY_TOO_LARGE (Wxseal-Error included)", async () => {
    const before = upstream.seen.length;
    const r = await plainRequest(gw.url, '/public-small/upload', { method: 'POST', body: 'x'.repeat(1000) });
    assert.equal(r.status, 413);
    assert.equal(r.headers['wxseal-error'], 'WXSEAL_BODY_TOO_LARGE');
    assert.match(String(r.headers['wxseal-server-time']), /^[0-9]+$/);
    assert.equal(r.headers.connection, 'close', 'the unread body closes the connection');
    assert.equal(JSON.parse(r.body).error.code, 'WXSEAL_BODY_TOO_LARGE');
    assert.equal(upstream.seen.length, before);
    assert.equal((await plainRequest(gw.url, '/public-small/upload', { method: 'POST', body: 'x'.repeat(100) })).status, 200);
  });

  test('verifier rejections are answered as the spec says and never reach the upstream', async () => {
    const before = upstream.seen.length;
    const stranger = clientFor({ ...keys, secret: makeKeys().secret }, gw.url);
    try {
      await assert.rejects(stranger.post('/api/x', { json: {} }), (e) => isWxsealError(e, 'WXSEAL_BAD_SIGNATURE'));
    } finally {
      stranger.close();
    }
    const r = await plainRequest(gw.url, `/api/x`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 400);
    assert.equal(r.headers['wxseal-error'], 'WXSEAL_MISSING_HEADER');
    assert.equal(upstream.seen.length, before);
  });
});

describe('gateway with the session key cache', () => {
  test('a client that reuses its wrapped key skips RSA at the gateway (cache hits in /metrics)', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway(baseConfig(keys, upstream.url, { sessionKeyCache: { maxEntries: 100, ttlSeconds: 60 } }), { logger: captureLogger().logger });
    const client = clientFor(keys, gw.url, { sessionKeyReuse: true });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await client.post('/api/reuse', { json: { i }, identity: { openid: `o-${i}` } });
        assert.equal(res.status, 200);
        assert.equal(upstream.seen[i]!.headers['x-wxseal-openid'], `o-${i}`);
      }
      const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      assert.match(metrics, /wxseal_gateway_session_key_cache\{stat="hits"\} 2/);
      assert.match(metrics, /wxseal_gateway_session_key_cache\{stat="misses"\} 1/);
    } finally {
      client.close();
      await gw.close();
      await upstream.close();
    }
  });
});
