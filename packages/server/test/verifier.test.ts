// The verifier on its own: SPEC.md section 9 order, fail-fast, fail-closed, rotation, response sealing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, mock, test } from 'node:test';
import {
  HEADERS,
  SEALED_CONTENT_TYPE,
  WxsealError,
  isWxsealError,
  openResponse,
  type BuiltRequest,
  type WireErrorCode,
} from '@wxseal/protocol';
import { wrapSessionKey } from '@wxseal/protocol/primitives';
import {
  MemoryNonceStore,
  ServerKeyRing,
  StaticKeyResolver,
  createVerifier,
  type ClientCredential,
  type KeyResolver,
  type NonceRecord,
  type NonceStore,
  type VerifiedRequest,
  type Verifier,
} from '@wxseal/server';
import { generateServerKey, makeFixture, newSecret, resign, sealedWithPlaintext, unixNow, type Fixture } from './helpers.js';

const keyA = generateServerKey();
const keyB = generateServerKey();

const inputOf = (built: BuiltRequest, method = 'POST', target = '/orders?id=7') => ({
  method,
  target,
  headers: built.headers,
  body: built.body,
});

async function codeOf(verifier: Verifier, input: Parameters<Verifier['verify']>[0]): Promise<WireErrorCode | 'accepted'> {
  try {
    await verifier.verify(input);
    return 'accepted';
  } catch (err) {
    assert.ok(isWxsealError(err), `expected a WxsealError, got ${String(err)}`);
    return err.code as WireErrorCode;
  }
}

const identity = { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', appid: 'wx1234567890abcdef', source: 'wx_client' };

describe('round trips', () => {
  test('sealed: identity, body, inner content type and traceparent reach the caller; the response opens', async () => {
    const fx = makeFixture(keyA);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const built = fx.build({ mode: 'sealed', target: '/orders?id=7', body: Buffer.from('{"item":"tea"}'), contentType: 'application/json', identity, traceparent });
    const v = await fx.verifier.verify(inputOf(built));
    assert.equal(v.mode, 'sealed');
    assert.equal(v.keyId, fx.keyId);
    assert.equal(v.secretId, 's1');
    assert.deepEqual(v.identity, identity);
    assert.equal(v.body.toString(), '{"item":"tea"}');
    assert.equal(v.contentType, 'application/json');
    assert.equal(v.traceparent, traceparent);
    assert.equal(v.serverKeyId, keyA.id);
    assert.equal(v.path, '/orders');
    assert.equal(v.rawQuery, 'id=7');

    const wire = fx.verifier.sealResponse(v, { status: 201, contentType: 'application/json', body: '{"ok":true}' });
    assert.equal(wire.status, 201);
    assert.equal(wire.headers[HEADERS.contentType], SEALED_CONTENT_TYPE);
    assert.ok(!wire.body.includes(Buffer.from('ok')), 'the response body is encrypted');
    const opened = openResponse(built.context, { status: wire.status, header: (n) => wire.headers[n], body: wire.body });
    assert.equal(opened.body.toString(), '{"ok":true}');
    assert.equal(opened.contentType, 'application/json');
    // The status is bound: the same bytes under another status do not open.
    assert.throws(() => openResponse(built.context, { status: 200, header: (n) => wire.headers[n], body: wire.body }), /RESPONSE_INVALID|does not|failed/);
  });

  test('sign-only: identity from the header, body as sent, signed response', async () => {
    const fx = makeFixture(keyA);
    const built = fx.build({ mode: 'signed', target: '/orders?id=7', body: Buffer.from('{"a":1}'), contentType: 'application/json', identity });
    const v = await fx.verifier.verify(inputOf(built));
    assert.equal(v.mode, 'signed');
    assert.deepEqual(v.identity, identity);
    assert.equal(v.body.toString(), '{"a":1}');
    assert.equal(v.contentType, 'application/json');
    assert.equal(v.serverKeyId, undefined);
    const wire = fx.verifier.sealResponse(v, { status: 200, contentType: 'text/plain', body: 'hi' });
    assert.equal(wire.body.toString(), 'hi');
    const opened = openResponse(built.context, { status: 200, header: (n) => wire.headers[n], body: wire.body });
    assert.equal(opened.body.toString(), 'hi');
    assert.throws(() => openResponse(built.context, { status: 200, header: (n) => wire.headers[n], body: Buffer.from('hj') }));
  });

  test('sealed 204/304/1xx are sent as 200 with an empty inner body, the content type kept in the meta', async () => {
    const fx = makeFixture(keyA);
    for (const status of [204, 304, 103]) {
      const built = fx.build({ mode: 'sealed', target: '/x' });
      const v = await fx.verifier.verify(inputOf(built, 'POST', '/x'));
      const wire = fx.verifier.sealResponse(v, { status, contentType: 'application/json', body: 'ignored' });
      assert.equal(wire.status, 200);
      const opened = openResponse(built.context, { status: 200, header: (n) => wire.headers[n], body: wire.body });
      assert.equal(opened.body.length, 0);
      assert.equal(opened.contentType, 'application/json');
    }
  });

  test('sign-only 204 and HEAD are signed over the empty body the client receives', async () => {
    const fx = makeFixture(keyA);
    const built = fx.build({ mode: 'signed', target: '/x' });
    const v = await fx.verifier.verify(inputOf(built, 'POST', '/x'));
    const wire = fx.verifier.sealResponse(v, { status: 204, contentType: 'application/json', body: 'ignored' });
    assert.equal(wire.status, 204);
    assert.equal(wire.headers[HEADERS.contentType], undefined);
    openResponse(built.context, { status: 204, header: (n) => wire.headers[n], body: Buffer.alloc(0) });

    const head = fx.build({ mode: 'signed', target: '/x', method: 'HEAD' });
    const hv = await fx.verifier.verify(inputOf(head, 'HEAD', '/x'));
    const hw = fx.verifier.sealResponse(hv, { status: 200, contentType: 'text/plain', body: 'body a GET would have' });
    openResponse(head.context, { status: 200, header: (n) => hw.headers[n], body: Buffer.alloc(0) });
  });

  test('the session key and secret never show in JSON or inspect output of a verified request', async () => {
    const fx = makeFixture(keyA);
    const built = fx.build({ mode: 'sealed', target: '/x', body: Buffer.from('b') });
    const v = await fx.verifier.verify(inputOf(built, 'POST', '/x'));
    const key = built.context.sessionKey!;
    const texts = [JSON.stringify(v), inspect(v, { depth: 10 }), JSON.stringify({ ...v })];
    for (const t of texts) {
      assert.ok(!t.includes(key.toString('hex')) && !t.includes(key.toString('base64')), 'no session key');
      assert.ok(!t.includes('responseContext'));
    }
    assert.ok(Buffer.from(v.responseContext.sessionKey!).equals(key), 'still reachable on purpose');

    const s = fx.build({ mode: 'signed', target: '/x' });
    const sv = await fx.verifier.verify(inputOf(s, 'POST', '/x'));
    assert.ok(!JSON.stringify(sv).includes(fx.secret.toString('base64url')));
    assert.ok(!inspect(sv).includes(fx.secret.toString('hex')));
  });
});

describe('verification order (SPEC.md section 9)', () => {
  test('verify before decrypt: a forged signature never reaches RSA; a replay does not either', async () => {
    const fx = makeFixture(keyA);
    const unwrap = mock.method(fx.ring, 'unwrap');
    const built = fx.build({ mode: 'sealed', target: '/orders?id=7', body: Buffer.from('x') });
    const forged = { ...built, headers: { ...built.headers, [HEADERS.signature]: randomBytes(32).toString('base64url') } };
    assert.equal(await codeOf(fx.verifier, inputOf(forged)), 'WXSEAL_BAD_SIGNATURE');
    assert.equal(unwrap.mock.callCount(), 0);

    // Signed by someone holding another secret: still no RSA.
    const other = resign(newSecret(), built, 'POST', '/orders?id=7');
    assert.equal(await codeOf(fx.verifier, inputOf(other)), 'WXSEAL_BAD_SIGNATURE');
    assert.equal(unwrap.mock.callCount(), 0);

    assert.equal(await codeOf(fx.verifier, inputOf(built)), 'accepted');
    assert.equal(unwrap.mock.callCount(), 1);
    assert.equal(await codeOf(fx.verifier, inputOf(built)), 'WXSEAL_REPLAYED_NONCE');
    assert.equal(unwrap.mock.callCount(), 1, 'the nonce check comes before the unwrap');
  });

  test('a forged copy does not burn the nonce of the real request', async () => {
    const fx = makeFixture(keyA);
    const store = mock.method(fx.nonceStore, 'checkAndSet');
    const built = fx.build({ mode: 'signed', target: '/orders?id=7', body: Buffer.from('x') });
    const forged = { ...built, body: Buffer.from('y') };
    assert.equal(await codeOf(fx.verifier, inputOf(forged)), 'WXSEAL_BAD_SIGNATURE');
    assert.equal(store.mock.callCount(), 0);
    assert.equal(await codeOf(fx.verifier, inputOf(built)), 'accepted');
  });

  test('no lookup for a stale or malformed request; no signature check for an unknown key', async () => {
    const fx = makeFixture(keyA);
    const resolve = mock.method(fx.resolver, 'resolve');
    const stale = fx.build({ mode: 'sealed', target: '/orders?id=7', timestamp: unixNow() - 61 });
    assert.equal(await codeOf(fx.verifier, inputOf(stale)), 'WXSEAL_TIMESTAMP_EXPIRED');
    const future = fx.build({ mode: 'sealed', target: '/orders?id=7', timestamp: unixNow() + 61 });
    assert.equal(await codeOf(fx.verifier, inputOf(future)), 'WXSEAL_TIMESTAMP_FUTURE');
    const built = fx.build({ mode: 'sealed', target: '/orders?id=7' });
    const noNonce = { ...built, headers: { ...built.headers } };
    delete noNonce.headers[HEADERS.nonce];
    assert.equal(await codeOf(fx.verifier, inputOf(noNonce)), 'WXSEAL_MISSING_HEADER');
    assert.equal(resolve.mock.callCount(), 0);
  });

  test('body size is step 1: Content-Length alone, and the bytes, are checked before the headers', async () => {
    const fx = makeFixture(keyA, { maxBodyBytes: 64 });
    assert.equal(await codeOf(fx.verifier, { method: 'POST', target: '/x', headers: { 'content-length': '65' }, body: Buffer.alloc(0) }), 'WXSEAL_BODY_TOO_LARGE');
    assert.equal(await codeOf(fx.verifier, { method: 'POST', target: '/x', headers: {}, body: Buffer.alloc(65) }), 'WXSEAL_BODY_TOO_LARGE');
    assert.equal(await codeOf(fx.verifier, { method: 'POST', target: '/x', headers: {}, body: Buffer.alloc(64) }), 'WXSEAL_MISSING_HEADER');
    assert.equal(fx.verifier.rejection(new WxsealError('WXSEAL_BODY_TOO_LARGE', 'x')).status, 413);
  });

  test('a repeated protocol header is malformed, even when spelled in another case or only visible in rawHeaders', async () => {
    const fx = makeFixture(keyA);
    const built = fx.build({ mode: 'signed', target: '/x', contentType: 'text/plain', body: Buffer.from('a') });
    const twice = { ...built.headers, 'Wxseal-Nonce': built.headers[HEADERS.nonce]! };
    assert.equal(await codeOf(fx.verifier, { method: 'POST', target: '/x', headers: twice, body: built.body }), 'WXSEAL_MALFORMED_HEADER');
    // Node's req.headers keeps only the first Content-Type; rawHeaders shows the second.
    const raw = [...Object.entries(built.headers).flat(), 'Content-Type', 'application/json'];
    assert.equal(await codeOf(fx.verifier, { method: 'POST', target: '/x', headers: built.headers, rawHeaders: raw, body: built.body }), 'WXSEAL_MALFORMED_HEADER');
  });

  test('route modes and credential modes', async () => {
    const fx = makeFixture(keyA);
    const signed = fx.build({ mode: 'signed', target: '/x' });
    assert.equal(await codeOf(fx.verifier, { ...inputOf(signed, 'POST', '/x'), allowedModes: ['sealed'] }), 'WXSEAL_MODE_NOT_ALLOWED');
    fx.resolver.set({ keyId: fx.keyId, secrets: [{ secret: fx.secret }], allowedModes: ['sealed'] });
    const signed2 = fx.build({ mode: 'signed', target: '/x' });
    assert.equal(await codeOf(fx.verifier, inputOf(signed2, 'POST', '/x')), 'WXSEAL_MODE_NOT_ALLOWED');
    const sealed = fx.build({ mode: 'sealed', target: '/x' });
    assert.equal(await codeOf(fx.verifier, inputOf(sealed, 'POST', '/x')), 'accepted');
  });

  test('a server without server keys accepts only sign-only requests', async () => {
    const resolver = new StaticKeyResolver([{ keyId: 'k', secrets: [{ secret: newSecret() }] }]);
    assert.throws(() => createVerifier({ keys: resolver, nonceStore: new MemoryNonceStore(), allowedModes: ['sealed'] }), /sealed mode needs serverKeys/);
    const v = createVerifier({ keys: resolver, nonceStore: new MemoryNonceStore() });
    assert.deepEqual(v.allowedModes, ['signed']);
    const fx = makeFixture(keyA);
    const sealed = fx.build({ mode: 'sealed', target: '/x' });
    assert.equal(await codeOf(v, inputOf(sealed, 'POST', '/x')), 'WXSEAL_MODE_NOT_ALLOWED');
  });
});

describe('authentic requests that still fail (steps 7-8)', () => {
  test('a wrapped key that does not decrypt → WXSEAL_UNWRAP_FAILED', async () => {
    const fx = makeFixture(keyA);
    const built = fx.build({ mode: 'sealed', target: '/x', wrappedKey: randomBytes(256) });
    assert.equal(await codeOf(fx.verifier, inputOf(built, 'POST', '/x')), 'WXSEAL_UNWRAP_FAILED');
  });

  test('a wrapped key of another session key → WXSEAL_DECRYPT_FAILED', async () => {
    const fx = makeFixture(keyA);
    const built = fx.build({ mode: 'sealed', target: '/x', body: Buffer.from('x'), wrappedKey: wrapSessionKey(keyA.publicKey, randomBytes(32)) });
    assert.equal(await codeOf(fx.verifier, inputOf(built, 'POST', '/x')), 'WXSEAL_DECRYPT_FAILED');
  });

  test('a plaintext without the meta line → WXSEAL_MALFORMED_PAYLOAD; a meta that is not an object too', async () => {
    const fx = makeFixture(keyA);
    assert.equal(await codeOf(fx.verifier, inputOf(sealedWithPlaintext(fx, '/x', Buffer.from('no newline')), 'POST', '/x')), 'WXSEAL_MALFORMED_PAYLOAD');
    assert.equal(await codeOf(fx.verifier, inputOf(sealedWithPlaintext(fx, '/x', Buffer.from('[1]\nbody')), 'POST', '/x')), 'WXSEAL_MALFORMED_PAYLOAD');
    assert.equal(await codeOf(fx.verifier, inputOf(sealedWithPlaintext(fx, '/x', Buffer.from('{}\nbody')), 'POST', '/x')), 'accepted');
  });

  test('a signed identity header that is not JSON → WXSEAL_MALFORMED_HEADER, after the signature', async () => {
    const fx = makeFixture(keyA);
    const built = fx.build({ mode: 'signed', target: '/x', identity: { openid: 'o' } });
    const bad = resign(fx.secret, { ...built, headers: { ...built.headers, [HEADERS.identity]: Buffer.from('not json').toString('base64url') } }, 'POST', '/x');
    assert.equal(await codeOf(fx.verifier, inputOf(bad, 'POST', '/x')), 'WXSEAL_MALFORMED_HEADER');
    const unsigned = { ...built, headers: { ...built.headers, [HEADERS.identity]: Buffer.from('not json').toString('base64url') } };
    assert.equal(await codeOf(fx.verifier, inputOf(unsigned, 'POST', '/x')), 'WXSEAL_BAD_SIGNATURE');
  });
});

describe('JSON inside the request (SPEC.md 6.1, 7): one rule for the meta and the identity', () => {
  const signedIdentity = (fx: Fixture, json: string) => {
    const built = fx.build({ mode: 'signed', target: '/x', identity: { openid: 'o' } });
    return resign(fx.secret, { ...built, headers: { ...built.headers, [HEADERS.identity]: Buffer.from(json, 'utf8').toString('base64url') } }, 'POST', '/x');
  };
  const rejectionOf = async (fx: Fixture, built: BuiltRequest) => {
    try {
      await fx.verifier.verify(inputOf(built, 'POST', '/x'));
    } catch (err) {
      return { err, wire: fx.verifier.rejection(err) };
    }
    return assert.fail('accepted');
  };

  test('a lone surrogate in an identity value reaches the handler as U+FFFD, in both modes', async () => {
    const fx = makeFixture(keyA);
    const signed = await fx.verifier.verify(inputOf(signedIdentity(fx, '{"openid":"o-\\ud800-1","source":"wx_client"}'), 'POST', '/x'));
    assert.deepEqual(signed.identity, { openid: 'o-\ufffd-1', source: 'wx_client' });
    const sealed = await fx.verifier.verify(inputOf(sealedWithPlaintext(fx, '/x', Buffer.from('{"identity":{"openid":"\\udc00"}}\n')), 'POST', '/x'));
    assert.deepEqual(sealed.identity, { openid: '\ufffd' });
    // What the gateway does with it towards the upstream: no URIError.
    for (const v of [signed.identity.openid!, sealed.identity.openid!]) assert.doesNotThrow(() => encodeURIComponent(v));
  });

  test('"contentType": null in the sealed meta counts as absent', async () => {
    const fx = makeFixture(keyA);
    const v = await fx.verifier.verify(inputOf(sealedWithPlaintext(fx, '/x', Buffer.from('{"contentType":null}\nhello')), 'POST', '/x'));
    assert.equal(v.contentType, undefined);
    assert.equal(v.body.toString(), 'hello');
  });

  test('a repeated member (at any depth, after unescaping) or a byte-order mark is refused with a signed rejection', async () => {
    const fx = makeFixture(keyA);
    for (const [plaintext, code] of [
      ['{"contentType":"a/b","contentType":"a/b"}\n', 'WXSEAL_MALFORMED_PAYLOAD'],
      ['{"identity":{"openid":"a","\\u006fpenid":"b"}}\n', 'WXSEAL_MALFORMED_PAYLOAD'],
      ['{"x":[{"k":1,"k":1}]}\n', 'WXSEAL_MALFORMED_PAYLOAD'],
      ['\ufeff{}\n', 'WXSEAL_MALFORMED_PAYLOAD'],
    ] as const) {
      const built = sealedWithPlaintext(fx, '/x', Buffer.from(plaintext, 'utf8'));
      const { err, wire } = await rejectionOf(fx, built);
      assert.ok(isWxsealError(err, code), plaintext);
      assert.ok(wire.headers[HEADERS.signature], 'signed: the nonce is spent');
    }
    for (const json of ['{"openid":"a","openid":"b"}', '{"openid":"a","\\u006fpenid":"a"}', '\ufeff{"openid":"a"}']) {
      const { err, wire } = await rejectionOf(fx, signedIdentity(fx, json));
      assert.ok(isWxsealError(err, 'WXSEAL_MALFORMED_HEADER'), json);
      assert.ok(wire.headers[HEADERS.signature], 'signed: raised at step 8, after the signature');
    }
  });
});

describe('key rotation', () => {
  test('two secrets valid at once: either verifies, and the matching one signs the response', async () => {
    const fx = makeFixture(keyA);
    const next = newSecret();
    fx.resolver.addSecret(fx.keyId, { id: 's2', secret: next.toString('base64url') });
    const old = fx.build({ mode: 'signed', target: '/x' });
    const v1 = await fx.verifier.verify(inputOf(old, 'POST', '/x'));
    assert.equal(v1.secretId, 's1');
    const fresh = fx.build({ mode: 'signed', target: '/x', secret: next });
    const v2 = await fx.verifier.verify(inputOf(fresh, 'POST', '/x'));
    assert.equal(v2.secretId, 's2');
    const wire = fx.verifier.sealResponse(v2, { status: 200, body: 'ok' });
    openResponse(fresh.context, { status: 200, header: (n) => wire.headers[n], body: wire.body });
    assert.throws(() => openResponse({ ...fresh.context, secret: fx.secret }, { status: 200, header: (n) => wire.headers[n], body: wire.body }));
  });

  test('a secret outside its validity is not tried; none valid → WXSEAL_KEY_REVOKED; bounds inclusive', async () => {
    let now = 1_800_000_000;
    const fx = makeFixture(keyA, { now: () => now });
    const expired = fx.secret;
    const current = newSecret();
    const future = newSecret();
    fx.resolver.set({
      keyId: fx.keyId,
      secrets: [
        { id: 'old', secret: expired, notAfter: now - 1 },
        { id: 'current', secret: current, notBefore: now - 100, notAfter: now },
        { id: 'next', secret: future, notBefore: now + 1 },
      ],
    });
    const build = (secret: Buffer) => fx.build({ mode: 'signed', target: '/x', secret, timestamp: now });
    assert.equal(await codeOf(fx.verifier, inputOf(build(expired), 'POST', '/x')), 'WXSEAL_BAD_SIGNATURE', 'expired secret not tried');
    assert.equal(await codeOf(fx.verifier, inputOf(build(future), 'POST', '/x')), 'WXSEAL_BAD_SIGNATURE', 'not-yet-valid secret not tried');
    assert.equal(await codeOf(fx.verifier, inputOf(build(current), 'POST', '/x')), 'accepted', 'notAfter is inclusive');
    now += 1;
    assert.equal(await codeOf(fx.verifier, inputOf(build(future), 'POST', '/x')), 'accepted', 'notBefore is inclusive');
    fx.resolver.set({ keyId: fx.keyId, secrets: [{ secret: expired, notAfter: now - 1 }] });
    assert.equal(await codeOf(fx.verifier, inputOf(build(expired), 'POST', '/x')), 'WXSEAL_KEY_REVOKED');
  });

  test('revoked key → WXSEAL_KEY_REVOKED; removing a secret at runtime; unknown key id', async () => {
    const fx = makeFixture(keyA);
    fx.resolver.setRevoked(fx.keyId);
    assert.equal(await codeOf(fx.verifier, inputOf(fx.build({ mode: 'sealed', target: '/x' }), 'POST', '/x')), 'WXSEAL_KEY_REVOKED');
    fx.resolver.setRevoked(fx.keyId, false);
    assert.equal(await codeOf(fx.verifier, inputOf(fx.build({ mode: 'sealed', target: '/x' }), 'POST', '/x')), 'accepted');
    const second = newSecret();
    fx.resolver.addSecret(fx.keyId, { secret: second });
    assert.equal(fx.resolver.removeSecret(fx.keyId, 's1'), 1);
    assert.equal(await codeOf(fx.verifier, inputOf(fx.build({ mode: 'sealed', target: '/x' }), 'POST', '/x')), 'WXSEAL_BAD_SIGNATURE');
    assert.equal(await codeOf(fx.verifier, inputOf(fx.build({ mode: 'sealed', target: '/x', secret: second }), 'POST', '/x')), 'accepted');
    assert.equal(fx.resolver.removeSecret(fx.keyId, second), 1);
    assert.equal(await codeOf(fx.verifier, inputOf(fx.build({ mode: 'sealed', target: '/x', secret: second }), 'POST', '/x')), 'WXSEAL_KEY_REVOKED');
    assert.equal(await codeOf(fx.verifier, inputOf(fx.build({ mode: 'sealed', target: '/x', keyId: 'nobody' }), 'POST', '/x')), 'WXSEAL_UNKNOWN_KEY_ID');
  });

  test('at most 4 secrets per key id', () => {
    const r = new StaticKeyResolver([{ keyId: 'k', secrets: [1, 2, 3, 4].map(() => ({ secret: newSecret() })) }]);
    assert.throws(() => r.addSecret('k', { secret: newSecret() }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
    assert.throws(() => r.set({ keyId: 'k', secrets: [{ secret: Buffer.alloc(16) }] }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
  });

  test('two server keys at once; a retired one → WXSEAL_UNKNOWN_SERVER_KEY', async () => {
    const fx = makeFixture(keyA);
    assert.equal(fx.ring.add({ privateKey: keyB.privateKey }), keyB.id);
    const toA = fx.build({ mode: 'sealed', target: '/x', body: Buffer.from('a') });
    const toB = fx.build({ mode: 'sealed', target: '/x', body: Buffer.from('b'), serverKey: { id: keyB.id, publicKey: keyB.publicKey } });
    assert.equal((await fx.verifier.verify(inputOf(toA, 'POST', '/x'))).serverKeyId, keyA.id);
    const vb = await fx.verifier.verify(inputOf(toB, 'POST', '/x'));
    assert.equal(vb.serverKeyId, keyB.id);
    assert.equal(vb.body.toString(), 'b');
    fx.ring.remove(keyA.id);
    const again = fx.build({ mode: 'sealed', target: '/x' });
    assert.equal(await codeOf(fx.verifier, inputOf(again, 'POST', '/x')), 'WXSEAL_UNKNOWN_SERVER_KEY');
    // A key wrapped for B relabelled A (both held, same modulus length): the label is signed.
    fx.ring.add({ privateKey: keyA.privateKey });
    const relabelled = { ...toB, headers: { ...toB.headers, [HEADERS.serverKeyId]: keyA.id } };
    assert.equal(await codeOf(fx.verifier, inputOf(relabelled, 'POST', '/x')), 'WXSEAL_BAD_SIGNATURE');
  });

  test('the key ring parses keys once, rejects duplicates and bad ids', () => {
    const ring = new ServerKeyRing([{ id: 'a', privateKey: keyA.privateKey.export({ type: 'pkcs8', format: 'pem' }) }]);
    assert.equal(ring.wrappedKeyLength('a'), 256);
    assert.throws(() => ring.add({ id: 'a', privateKey: keyB.privateKey }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
    assert.throws(() => ring.add({ id: 'bad id', privateKey: keyB.privateKey }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
    assert.throws(() => ring.unwrap('zzz', Buffer.alloc(256)), (e) => isWxsealError(e, 'WXSEAL_UNKNOWN_SERVER_KEY'));
    assert.throws(() => ring.unwrap('a', Buffer.alloc(255)), (e) => isWxsealError(e, 'WXSEAL_MALFORMED_HEADER'));
  });
});

describe('fail closed', () => {
  const failing = (fx: Fixture, keys: KeyResolver, extra: Record<string, unknown> = {}) =>
    createVerifier({ keys, nonceStore: fx.nonceStore, serverKeys: fx.ring, keyResolverTimeoutMs: 50, nonceStoreTimeoutMs: 50, ...extra });

  test('a resolver that throws, rejects, hangs or answers for another key → WXSEAL_KEY_STORE_UNAVAILABLE (503)', async () => {
    const fx = makeFixture(keyA);
    const reported: unknown[] = [];
    const resolvers: KeyResolver[] = [
      {
        resolve: () => {
          throw new Error('ECONNREFUSED 10.0.0.1:6379');
        },
      },
      { resolve: () => Promise.reject(new Error('sql down')) },
      { resolve: () => new Promise<ClientCredential | undefined>(() => undefined) },
      { resolve: async () => ({ keyId: 'someone-else', secrets: [{ secret: fx.secret }] }) },
      { resolve: async () => ({ keyId: fx.keyId }) as unknown as ClientCredential },
      { resolve: async () => ({ keyId: fx.keyId, secrets: [1, 2, 3, 4, 5].map(() => ({ secret: fx.secret })) }) },
      { resolve: async () => ({ keyId: fx.keyId, secrets: [{ secret: fx.secret }], allowedModes: 'sealed' }) as unknown as ClientCredential },
    ];
    for (const keys of resolvers) {
      const v = failing(fx, keys, { onDependencyError: (e: unknown) => reported.push(e) });
      const built = fx.build({ mode: 'sealed', target: '/x' });
      assert.equal(await codeOf(v, inputOf(built, 'POST', '/x')), 'WXSEAL_KEY_STORE_UNAVAILABLE');
      const wire = v.rejection(await v.verify(inputOf(built, 'POST', '/x')).catch((e: unknown) => e));
      assert.equal(wire.status, 503);
      assert.ok(!wire.body.toString().includes('10.0.0.1'), 'no internal detail in the message');
    }
    assert.ok(reported.length >= resolvers.length, 'every failure reported to onDependencyError');
  });

  test('junk secrets from a resolver are skipped, never tried (an empty HMAC key would accept forgeries)', async () => {
    const fx = makeFixture(keyA);
    const secrets = [null, { secret: 'not bytes' }, { secret: Buffer.alloc(0) }, { secret: fx.secret }] as unknown as ClientCredential['secrets'];
    const v = createVerifier({ keys: { resolve: async () => ({ keyId: fx.keyId, secrets }) }, nonceStore: fx.nonceStore, serverKeys: fx.ring });
    assert.equal(await codeOf(v, inputOf(fx.build({ mode: 'signed', target: '/x' }), 'POST', '/x')), 'accepted');
    const emptyKey = createVerifier({ keys: { resolve: async () => ({ keyId: fx.keyId, secrets: [{ secret: Buffer.alloc(0) }] }) }, nonceStore: fx.nonceStore });
    const forged = fx.build({ mode: 'signed', target: '/x', secret: Buffer.alloc(0) });
    assert.equal(await codeOf(emptyKey, inputOf(forged, 'POST', '/x')), 'WXSEAL_KEY_REVOKED');
  });

  test('a nonce store that throws, hangs or answers junk → WXSEAL_NONCE_STORE_UNAVAILABLE; FULL stays FULL', async () => {
    const fx = makeFixture(keyA);
    const stores: Array<[NonceStore, WireErrorCode]> = [
      [{ checkAndSet: () => Promise.reject(new Error('READONLY')) }, 'WXSEAL_NONCE_STORE_UNAVAILABLE'],
      [{ checkAndSet: () => new Promise<boolean>(() => undefined) }, 'WXSEAL_NONCE_STORE_UNAVAILABLE'],
      [{ checkAndSet: async () => undefined as unknown as boolean }, 'WXSEAL_NONCE_STORE_UNAVAILABLE'],
      [{ checkAndSet: async () => 'OK' as unknown as boolean }, 'WXSEAL_NONCE_STORE_UNAVAILABLE'],
      [{ checkAndSet: () => Promise.reject(new WxsealError('WXSEAL_BAD_SIGNATURE', 'nonsense')) }, 'WXSEAL_NONCE_STORE_UNAVAILABLE'],
      [{ checkAndSet: () => Promise.reject(new WxsealError('WXSEAL_NONCE_STORE_FULL', 'full')) }, 'WXSEAL_NONCE_STORE_FULL'],
    ];
    for (const [nonceStore, code] of stores) {
      const v = createVerifier({ keys: fx.resolver, nonceStore, serverKeys: fx.ring, nonceStoreTimeoutMs: 50 });
      assert.equal(await codeOf(v, inputOf(fx.build({ mode: 'signed', target: '/x' }), 'POST', '/x')), code);
    }
  });

  test('an unwrap that throws something unexpected → WXSEAL_UNWRAP_FAILED', async () => {
    const fx = makeFixture(keyA);
    mock.method(fx.ring, 'unwrap', () => {
      throw new TypeError('boom');
    });
    assert.equal(await codeOf(fx.verifier, inputOf(fx.build({ mode: 'sealed', target: '/x' }), 'POST', '/x')), 'WXSEAL_UNWRAP_FAILED');
  });

  test('rejection() of a foreign error is a 400, never a 5xx, and says nothing of it', () => {
    const fx = makeFixture(keyA);
    const wire = fx.verifier.rejection(new Error('secret detail'), 123);
    assert.equal(wire.status, 400);
    assert.equal(wire.headers['wxseal-error'], 'WXSEAL_MALFORMED_HEADER');
    assert.equal(wire.headers['wxseal-server-time'], '123');
    assert.ok(!wire.body.toString().includes('secret detail'));
  });
});

describe('configuration', () => {
  test('window: default 60, at most 300; nonces are kept until t + window', async () => {
    const fx = makeFixture(keyA);
    assert.equal(fx.verifier.windowSeconds, 60);
    for (const windowSeconds of [0, 301, 1.5, -1]) {
      assert.throws(() => createVerifier({ keys: fx.resolver, nonceStore: fx.nonceStore, windowSeconds }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
    }
    const now = 1_800_000_000;
    const records: NonceRecord[] = [];
    const store: NonceStore = { checkAndSet: async (r) => (records.push(r), true) };
    const v = createVerifier({ keys: fx.resolver, nonceStore: store, windowSeconds: 300, now: () => now });
    const t = now - 300;
    assert.equal(await codeOf(v, inputOf(fx.build({ mode: 'signed', target: '/x', timestamp: t }), 'POST', '/x')), 'accepted');
    assert.equal(await codeOf(v, inputOf(fx.build({ mode: 'signed', target: '/x', timestamp: t - 1 }), 'POST', '/x')), 'WXSEAL_TIMESTAMP_EXPIRED');
    assert.deepEqual(records.map((r) => [r.expiresAt, r.now]), [[t + 300, now]]);
  });

  test('verified requests are frozen', async () => {
    const fx = makeFixture(keyA);
    const v: VerifiedRequest = await fx.verifier.verify(inputOf(fx.build({ mode: 'signed', target: '/x' }), 'POST', '/x'));
    assert.throws(() => {
      (v as { keyId: string }).keyId = 'other';
    });
  });
});

