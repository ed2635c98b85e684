// Issue 11, item 1: no request dies with an unsigned 5xx after its nonce was spent. Every failure
// after verification is answered sealed (or signed) with the request's keys: 500
// WXSEAL_GATEWAY_INTERNAL_ERROR. The failures are real ones: an identity with a lone surrogate
// (encodeURIComponent threw), an upstream answer that cannot be sealed (a Content-Type too long for
// the sealed meta), and a dependency of the gateway (its logger) throwing midway.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { isWxsealError, type WxsealClient } from '@wxseal/client';
import { GATEWAY_ERROR_STATUS, encodeIdentityValue, startGateway, type RunningGateway } from '@wxseal/gateway';
import { WIRE_ERROR_STATUS } from '@wxseal/protocol';
import { baseConfig, captureLogger, clientFor, makeKeys, plainRequest, startUpstream, type Upstream } from '../../../tests/support/gateway.js';
import { deadPort } from './helpers.js';
import { buildWire, sendWire, verdictOf } from './wire-helpers.js';

const keys = makeKeys('bff-internal');
const INTERNAL = { error: { code: 'WXSEAL_GATEWAY_INTERNAL_ERROR', message: 'the gateway failed to handle this request' } };

describe('encodeIdentityValue', () => {
  test('lone surrogates become U+FFFD (percent-encoded UTF-8 EF BF BD) instead of throwing', () => {
    assert.equal(encodeIdentityValue('\ud800'), '%EF%BF%BD');
    assert.equal(encodeIdentityValue('a\udc00b'), 'a%EF%BF%BDb');
    assert.equal(encodeIdentityValue('\udbff\ud800'), '%EF%BF%BD%EF%BF%BD', 'two high halves are two lone ones');
    assert.equal(encodeIdentityValue('x\ud83d\ude00\ud83d'), 'x%F0%9F%98%80%EF%BF%BD', 'a pair stays one code point');
    assert.equal(encodeIdentityValue('oAbC-12_x'), 'oAbC-12_x');
    assert.equal(encodeIdentityValue('é +%'), '%C3%A9%20%2B%25');
  });
});

describe('WXSEAL_GATEWAY_INTERNAL_ERROR', () => {
  test('is a gateway code (500, authenticated body), not a section-10 rejection', () => {
    assert.equal(GATEWAY_ERROR_STATUS.WXSEAL_GATEWAY_INTERNAL_ERROR, 500);
    for (const code of Object.keys(GATEWAY_ERROR_STATUS)) assert.ok(!(code in WIRE_ERROR_STATUS), `${code} must not be a wire code`);
    assert.ok(!('WXSEAL_ROUTE_NOT_FOUND' in GATEWAY_ERROR_STATUS), 'ROUTE_NOT_FOUND is a section-10 rejection now');
  });
});

describe('failures after verification are sealed or signed', () => {
  let upstream: Upstream;
  let gw: RunningGateway;
  let client: WxsealClient;
  const logs = captureLogger();
  // A logger that fails at one call, as a broken log destination would: the failure happens after
  // the request verified (in the upstream-failure path), so it reaches the gateway's last catch.
  const failing: string[] = [];
  const failingLogger = pino(
    {
      level: 'info',
      hooks: {
        logMethod(args, method) {
          if (args.some((a) => a === 'upstream failed')) throw new Error('log destination failed');
          return method.apply(this, args);
        },
      },
    },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        failing.push(chunk.toString('utf8'));
        cb();
      },
    }),
  );
  let failingGw: RunningGateway;
  let failingClient: WxsealClient;

  before(async () => {
    const longType = `application/json; p=${'x'.repeat(5000)}`;
    upstream = await startUpstream((seen, res) => {
      if (seen.url.includes('/long-type')) {
        res.writeHead(200, { 'content-type': longType }).end('{}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ openid: seen.headers['x-wxseal-openid'] ?? null }));
    });
    const dead = await deadPort();
    const routes = [
      { prefix: '/api', upstream: upstream.url, mode: 'sealed-or-signed' as const },
      { prefix: '/down', upstream: `http://127.0.0.1:${dead}`, mode: 'sealed-or-signed' as const },
      { prefix: '/public-down', upstream: `http://127.0.0.1:${dead}`, mode: 'passthrough' as const },
    ];
    gw = await startGateway(baseConfig(keys, upstream.url, { routes }), { logger: logs.logger });
    client = clientFor(keys, gw.url);
    failingGw = await startGateway(baseConfig(keys, upstream.url, { routes }), { logger: failingLogger });
    failingClient = clientFor(keys, failingGw.url);
  });

  after(async () => {
    client?.close();
    failingClient?.close();
    await gw?.close();
    await failingGw?.close();
    await upstream?.close();
  });

  test('an identity with lone surrogates reaches the upstream as U+FFFD (sealed and sign-only), never a 500', async () => {
    for (const mode of ['sealed', 'signed'] as const) {
      const res = await client.post('/api/lone', { mode, json: {}, identity: { openid: '\ud800', unionid: 'u-\udfff-x', appid: 'wx1' } });
      assert.equal(res.status, 200, mode);
      assert.deepEqual(res.json(), { openid: '%EF%BF%BD' }, mode);
      const seen = upstream.seen[upstream.seen.length - 1]!;
      assert.equal(seen.headers['x-wxseal-unionid'], 'u-%EF%BF%BD-x');
      assert.equal(seen.headers['x-wxseal-appid'], 'wx1');
    }
  });

  test('an upstream answer that cannot be sealed: a sealed 500 WXSEAL_GATEWAY_INTERNAL_ERROR, its nonce spent', async () => {
    const built = buildWire(keys, { mode: 'sealed', method: 'POST', target: '/api/long-type', body: Buffer.from('{}'), contentType: 'application/json' });
    const first = await sendWire(gw.url, built, 'POST', '/api/long-type');
    assert.equal(first.status, 500);
    assert.equal(first.headers['wxseal-error'], undefined, 'not a rejection');
    const verdict = verdictOf(built, first);
    assert.equal(verdict.kind, 'authentic', JSON.stringify(verdict));
    assert.ok(verdict.kind === 'authentic');
    assert.equal(verdict.status, 500);
    assert.equal(verdict.contentType, 'application/json');
    assert.deepEqual(JSON.parse(verdict.body.toString('utf8')), INTERNAL);
    // The nonce was claimed: the same request again is a (signed) replay.
    const again = verdictOf(built, await sendWire(gw.url, built, 'POST', '/api/long-type'));
    assert.deepEqual(again, { kind: 'signed-rejection', code: 'WXSEAL_REPLAYED_NONCE', status: 401 });
    // Sign-only answers carry the type in a header the signature covers: nothing to fail there.
    const signed = await client.post('/api/long-type', { mode: 'signed', json: {} });
    assert.equal(signed.status, 200);
  });

  test('the gateway failing midway (its logger throws): the last catch still seals/signs, with the code', async () => {
    for (const mode of ['sealed', 'signed'] as const) {
      const res = await failingClient.post('/down/orders', { mode, json: { a: 1 }, identity: { openid: 'o-secret-openid' } });
      assert.equal(res.status, 500, mode);
      assert.deepEqual(res.json(), INTERNAL, mode);
      assert.equal(res.headers['wxseal-error'], undefined);
      assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    }
    const text = failing.join('');
    const failed = failing.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request handling failed');
    assert.equal(failed.length, 2);
    assert.equal(failed[0]!.stage, 'upstream');
    assert.equal(failed[0]!.verified, true);
    const err = failed[0]!.err as Record<string, unknown>;
    assert.equal(err.name, 'Error');
    assert.equal(err.message, 'log destination failed');
    const access = failing.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    assert.deepEqual(
      access.map((l) => [l.status, l.outcome, l.code, l.mode]),
      [
        [500, 'internal_error', 'WXSEAL_GATEWAY_INTERNAL_ERROR', 'sealed'],
        [500, 'internal_error', 'WXSEAL_GATEWAY_INTERNAL_ERROR', 'signed'],
      ],
    );
    assert.ok(!text.includes('o-secret-openid'), 'no identity in the logs');
    assert.ok(!text.includes(keys.secret), 'no secret in the logs');
  });

  test('the same failure before any verification (passthrough): 500 with the code, plain JSON', async () => {
    const r = await plainRequest(failingGw.url, '/public-down/x');
    assert.equal(r.status, 500);
    assert.deepEqual(JSON.parse(r.body), INTERNAL);
    assert.equal(r.headers['wxseal-error'], undefined);
  });

  test('an ordinary upstream failure is unchanged: a sealed 502 with its own code', async () => {
    const res = await client.post('/down/x', { json: {} });
    assert.equal(res.status, 502);
    assert.equal(res.json<{ error: { code: string } }>().error.code, 'WXSEAL_UPSTREAM_UNAVAILABLE');
    await assert.rejects(client.post('/nowhere', { json: {} }), (e) => isWxsealError(e, 'WXSEAL_ROUTE_NOT_FOUND'));
  });
});
