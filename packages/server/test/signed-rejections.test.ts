// SPEC.md 10.1: rejections raised after the signature verified are signed for that request, so a
// client can trust them (and only them) before repeating a non-idempotent request.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HEADERS, isAuthenticRejection, parseRejection, type BuiltRequest, type WireResponse } from '@wxseal/protocol';
import type { NonceStore } from '@wxseal/server';
import { generateServerKey, makeFixture, sealedWithPlaintext, sendBuilt, startServer, type Fixture, type RunningServer } from './helpers.js';

const serverKey = generateServerKey();

async function rejectionFor(fx: Fixture, built: BuiltRequest, method = 'POST', target = '/echo'): Promise<WireResponse> {
  try {
    await fx.verifier.verify({ method, target, headers: built.headers, body: built.body });
  } catch (err) {
    return fx.verifier.rejection(err);
  }
  assert.fail('the request was accepted');
}

function read(wire: WireResponse) {
  const r = parseRejection(wire.status, (n) => wire.headers[n], wire.body);
  assert.ok(r, 'a rejection');
  return r;
}

describe('signed rejections', () => {
  test('a replayed nonce is rejected with a signature that verifies for that request only', async () => {
    const fx = makeFixture(serverKey);
    const built = fx.build({ mode: 'sealed', target: '/echo', body: Buffer.from('{}'), contentType: 'application/json' });
    await fx.verifier.verify({ method: 'POST', target: '/echo', headers: built.headers, body: built.body });
    const r = read(await rejectionFor(fx, built));
    assert.equal(r.code, 'WXSEAL_REPLAYED_NONCE');
    assert.equal(isAuthenticRejection(r, built.context), true);
    assert.equal(isAuthenticRejection(r, { ...built.context, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }), false);
    assert.equal(isAuthenticRejection({ ...r, status: 503 }, built.context), false);
    assert.equal(isAuthenticRejection(r, { ...built.context, secret: Buffer.alloc(32, 1) }), false);
  });

  test('nonce store down: the 503 is signed', async () => {
    const down: NonceStore = { checkAndSet: () => Promise.reject(new Error('ECONNREFUSED')) };
    const fx = makeFixture(serverKey, { nonceStore: down });
    const built = fx.build({ mode: 'signed', target: '/echo', body: Buffer.from('{}'), contentType: 'application/json' });
    const r = read(await rejectionFor(fx, built));
    assert.equal(r.code, 'WXSEAL_NONCE_STORE_UNAVAILABLE');
    assert.equal(r.status, 503);
    assert.equal(isAuthenticRejection(r, built.context), true);
  });

  test('payload failures of an authentic request are signed', async () => {
    const fx = makeFixture(serverKey);
    const built = sealedWithPlaintext(fx, '/echo', Buffer.from('no line feed'));
    const r = read(await rejectionFor(fx, built));
    assert.equal(r.code, 'WXSEAL_MALFORMED_PAYLOAD');
    assert.equal(isAuthenticRejection(r, built.context), true);
  });

  test('rejections before the signature verified carry no signature', async () => {
    const fx = makeFixture(serverKey);
    const built = fx.build({ mode: 'sealed', target: '/echo', body: Buffer.from('{}') });
    const forged = { ...built, headers: { ...built.headers, [HEADERS.signature]: 'A'.repeat(43) } };
    for (const [b, code] of [
      [forged, 'WXSEAL_BAD_SIGNATURE'],
      [{ ...built, headers: { ...built.headers, [HEADERS.keyId]: 'nobody' } }, 'WXSEAL_UNKNOWN_KEY_ID'],
      [{ ...built, headers: { ...built.headers, [HEADERS.timestamp]: '1000' } }, 'WXSEAL_TIMESTAMP_EXPIRED'],
    ] as const) {
      const wire = await rejectionFor(fx, b);
      assert.equal(read(wire).code, code);
      assert.equal(wire.headers[HEADERS.signature], undefined);
    }
  });

  describe('through the adapters', () => {
    let fx: Fixture;
    const servers: RunningServer[] = [];
    before(async () => {
      fx = makeFixture(serverKey);
      for (const a of ['fastify', 'express', 'koa'] as const) servers.push(await startServer(a, fx.verifier));
    });
    after(async () => {
      for (const s of servers) await s.close();
    });
    test('a replay answered by each adapter is signed', async () => {
      for (const s of servers) {
        const built = fx.build({ mode: 'sealed', target: '/echo', body: Buffer.from('{"a":1}'), contentType: 'application/json' });
        const first = await sendBuilt(s.port, 'POST', '/echo', built);
        assert.ok(first.status < 300, `accepted first (${first.status})`);
        const res = await sendBuilt(s.port, 'POST', '/echo', built);
        const r = parseRejection(res.status, (n) => res.headers[n], res.body);
        assert.equal(r?.code, 'WXSEAL_REPLAYED_NONCE');
        assert.equal(isAuthenticRejection(r!, built.context), true);
      }
    });
  });
});
