// Issue 11, item 15: Node's server keeps at most maxHeadersCount header fields (2,000 by default)
// and drops the rest without a word, so a repeated Wxseal-Nonce after 2,100 junk fields used to be
// accepted. The gateway now refuses a request over `limits.maxHeaderCount` with the section-10
// rejection 431 WXSEAL_TOO_MANY_HEADERS, and puts its identity headers first towards the upstream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, clientFor, makeKeys, plainRequest, startUpstream, type Upstream } from '../../../tests/support/gateway.js';
import { buildWire, sendWire, verdictOf } from './wire-helpers.js';

const keys = makeKeys('bff-headers');

/** `n` junk fields as short as they come (the whole head must stay under Node's 16 KiB). */
const junk = (n: number): [string, string][] => Array.from({ length: n }, () => ['a', '1'] as [string, string]);

describe('header count limit', () => {
  let upstream: Upstream;
  let gw: RunningGateway; // default limit (100)
  let tight: RunningGateway; // limit 40
  const logs = captureLogger();

  before(async () => {
    upstream = await startUpstream();
    const routes = [
      { prefix: '/api', upstream: upstream.url, mode: 'sealed-or-signed' as const },
      { prefix: '/public', upstream: upstream.url, mode: 'passthrough' as const },
    ];
    gw = await startGateway(baseConfig(keys, upstream.url, { routes }), { logger: logs.logger });
    tight = await startGateway(baseConfig(keys, upstream.url, { routes, limits: { maxHeaderCount: 40 } }), { logger: logs.logger });
  });
  after(async () => {
    await gw?.close();
    await tight?.close();
    await upstream?.close();
  });

  test('a repeated Wxseal-Nonce after 2,100 junk fields is refused: 431 WXSEAL_TOO_MANY_HEADERS, unsigned, nothing forwarded', async () => {
    assert.equal(gw.config.limits.maxHeaderCount, 100, 'the default');
    const built = buildWire(keys, { mode: 'signed', method: 'POST', target: '/api/pay', body: Buffer.from('{"amount":1}'), contentType: 'application/json' });
    const before = upstream.seen.length;
    const res = await sendWire(gw.url, built, 'POST', '/api/pay', [...junk(2100), ['Wxseal-Nonce', 'AAAAAAAAAAAAAAAAAAAAAA']]);
    assert.equal(res.status, 431);
    assert.equal(res.headers['wxseal-error'], 'WXSEAL_TOO_MANY_HEADERS');
    assert.match(String(res.headers['wxseal-server-time']), /^[0-9]+$/);
    assert.equal(res.headers['wxseal-signature'], undefined);
    assert.equal(res.headers.connection, 'close', 'its body is unread: the connection closes');
    assert.equal(JSON.parse(res.body.toString('utf8')).error.code, 'WXSEAL_TOO_MANY_HEADERS');
    assert.equal(verdictOf(built, res).kind, 'unsigned-rejection');
    assert.equal(upstream.seen.length, before, 'nothing reached the upstream');
    // The request itself was never verified: without the junk it goes through (its nonce is unspent).
    const clean = await sendWire(gw.url, built, 'POST', '/api/pay');
    assert.equal(verdictOf(built, clean).kind, 'authentic');
  });

  test('exactly maxHeaderCount fields pass, one more is refused (wxseal and passthrough routes alike)', async () => {
    const built = buildWire(keys, { mode: 'signed', method: 'GET', target: '/api/edge' });
    // host, the wxseal fields, content-length and the connection field Node adds without an
    // agent, then junk up to the limit.
    const own = 3 + Object.keys(built.headers).length;
    const atLimit = await sendWire(tight.url, built, 'GET', '/api/edge', junk(40 - own));
    assert.equal(verdictOf(built, atLimit).kind, 'authentic', `${40} fields`);
    const again = buildWire(keys, { mode: 'signed', method: 'GET', target: '/api/edge' });
    const over = await sendWire(tight.url, again, 'GET', '/api/edge', junk(41 - own));
    assert.equal(over.status, 431);
    assert.equal(over.headers['wxseal-error'], 'WXSEAL_TOO_MANY_HEADERS');

    // host + connection + junk: the same count on a passthrough route.
    assert.equal((await plainRequest(tight.url, '/public/x', { headers: junk(38) })).status, 200);
    const refused = await plainRequest(tight.url, '/public/x', { headers: junk(39) });
    assert.equal(refused.status, 431);
    assert.equal(refused.headers['wxseal-error'], 'WXSEAL_TOO_MANY_HEADERS');
  });
});

describe('identity headers first towards the upstream', () => {
  test('an upstream that keeps only its first 20 header fields still receives the identity, the trace context and the request id', async () => {
    const upstream = await startUpstream();
    // What a capped upstream (Node with maxHeadersCount, a proxy with a field limit) keeps.
    upstream.server.maxHeadersCount = 20;
    let gw: RunningGateway | undefined;
    const client = { close: () => undefined } as { close(): void };
    try {
      gw = await startGateway(baseConfig(keys, upstream.url, { limits: { maxHeaderCount: 200 } }), { logger: captureLogger().logger });
      const c = clientFor(keys, gw.url);
      client.close = () => c.close();
      const extra: Record<string, string> = {};
      for (let i = 0; i < 100; i++) extra[`x-extra-${i}`] = String(i);
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      for (const mode of ['sealed', 'signed'] as const) {
        const res = await c.post('/api/capped', { mode, json: {}, identity: { openid: 'o-capped', appid: 'wx-capped' }, headers: { ...extra, 'x-request-id': 'req-capped-1' }, traceparent });
        assert.equal(res.status, 200, mode);
        const seen = upstream.seen[upstream.seen.length - 1]!;
        assert.ok(seen.rawHeaders.length < 200, 'the upstream really dropped fields');
        assert.equal(seen.headers['x-wxseal-key-id'], keys.keyId, mode);
        assert.equal(seen.headers['x-wxseal-mode'], mode);
        assert.equal(seen.headers['x-wxseal-openid'], 'o-capped');
        assert.equal(seen.headers['x-wxseal-appid'], 'wx-capped');
        assert.equal(seen.headers.traceparent, traceparent);
        assert.equal(seen.headers['x-request-id'], 'req-capped-1');
        const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        // undici writes Host and Connection first; the gateway's own fields come right after them.
        assert.ok(names.indexOf('x-wxseal-key-id') <= 2, names.slice(0, 4).join());
        assert.ok(names.indexOf('x-wxseal-key-id') < names.indexOf('x-extra-0'));
      }
    } finally {
      client.close();
      await gw?.close();
      await upstream.close();
    }
  });
});
