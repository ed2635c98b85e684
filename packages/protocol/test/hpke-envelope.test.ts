// The X25519 suite of the envelope (SPEC.md 6.5): key loading, the suite chosen by the key's type,
// the 80-byte wrapped key, its header syntax, and a sealed request and response end to end through
// the protocol's own verifier functions.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  HEADERS,
  SESSION_KEY_HPKE_INFO,
  X25519_WRAPPED_KEY_BYTES,
  buildRequest,
  isWxsealError,
  loadServerPrivateKey,
  loadServerPublicKey,
  openResponse,
  openSealedRequest,
  parseRequestHeaders,
  sealResponse,
  serverKeySuite,
  verifyRequestSignature,
  wrappedKeyLength,
} from '@wxseal/protocol';
import { hpkeOpen, hpkeSeal, unwrapSessionKey, wrapSessionKey } from '@wxseal/protocol/primitives';

const codeOf = (fn: () => unknown): string | null => {
  try {
    fn();
    return null;
  } catch (e) {
    if (isWxsealError(e)) return e.code;
    throw e;
  }
};

const x = generateKeyPairSync('x25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const secret = randomBytes(32);
const serverKey = { id: 'sk-x25519', publicKey: loadServerPublicKey(x.publicKey.export({ type: 'spki', format: 'pem' })) };

describe('X25519 server keys', () => {
  test('load from SPKI / PKCS#8 PEM and KeyObjects; the suite follows the key type', () => {
    const pub = loadServerPublicKey(x.publicKey.export({ type: 'spki', format: 'pem' }));
    const priv = loadServerPrivateKey(x.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.equal(pub.type, 'public');
    assert.equal(priv.type, 'private');
    assert.equal(loadServerPublicKey(x.privateKey).type, 'public');
    assert.equal(loadServerPrivateKey(x.privateKey), x.privateKey);
    assert.equal(serverKeySuite(pub), 'x25519-hpke');
    assert.equal(serverKeySuite(priv), 'x25519-hpke');
    assert.equal(serverKeySuite(rsa.publicKey), 'rsa-oaep-256');
    assert.equal(wrappedKeyLength(pub), 80);
    assert.equal(wrappedKeyLength(priv), X25519_WRAPPED_KEY_BYTES);
    assert.equal(wrappedKeyLength(rsa.privateKey), 256);
  });

  test('other key types are refused as configuration errors; RSA keeps its modulus bounds', () => {
    for (const type of ['ed25519', 'x448', 'ed448'] as const) {
      const k = generateKeyPairSync(type as 'ed25519');
      assert.equal(codeOf(() => loadServerPublicKey(k.publicKey)), 'WXSEAL_CONFIG_INVALID', type);
      assert.equal(codeOf(() => loadServerPrivateKey(k.privateKey)), 'WXSEAL_CONFIG_INVALID', type);
    }
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.equal(codeOf(() => loadServerPublicKey(ec.publicKey)), 'WXSEAL_CONFIG_INVALID');
    assert.equal(codeOf(() => serverKeySuite(ec.publicKey)), 'WXSEAL_CONFIG_INVALID');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    assert.equal(codeOf(() => loadServerPublicKey(small.publicKey)), 'WXSEAL_CONFIG_INVALID');
    assert.equal(codeOf(() => loadServerPrivateKey(x.publicKey)), 'WXSEAL_CONFIG_INVALID');
  });

  test('the wrap is enc || HPKE ciphertext of K: 80 bytes, a fresh ephemeral key each time', () => {
    const k = randomBytes(32);
    const a = wrapSessionKey(x.publicKey, k);
    const b = wrapSessionKey(x.publicKey, k);
    assert.equal(a.length, 80);
    assert.notDeepEqual(a.subarray(0, 32), b.subarray(0, 32));
    assert.deepEqual(unwrapSessionKey(x.privateKey, a), k);
    assert.deepEqual(unwrapSessionKey(x.privateKey, b), k);
    // The construction of SPEC.md 6.5, checked with the HPKE functions directly.
    const info = Buffer.from(SESSION_KEY_HPKE_INFO, 'ascii');
    assert.equal(SESSION_KEY_HPKE_INFO, 'wxseal-v1 session key');
    const opened = hpkeOpen({ aead: 'aes-256-gcm', recipientPrivateKey: x.privateKey, enc: a.subarray(0, 32), info, aad: Buffer.alloc(0), ciphertext: a.subarray(32) });
    assert.deepEqual(opened, k);
    const sealed = hpkeSeal({ aead: 'aes-256-gcm', recipientPublicKey: x.publicKey, info, aad: Buffer.alloc(0), plaintext: k });
    assert.deepEqual(unwrapSessionKey(x.privateKey, Buffer.concat([sealed.enc, sealed.ciphertext])), k);
    // A private key given to wrap wraps to its public half.
    assert.deepEqual(unwrapSessionKey(x.privateKey, wrapSessionKey(x.privateKey, k)), k);
  });

  test('every unwrap failure is WXSEAL_UNWRAP_FAILED, as with RSA', () => {
    const w = wrapSessionKey(x.publicKey, randomBytes(32));
    assert.equal(codeOf(() => unwrapSessionKey(generateKeyPairSync('x25519').privateKey, w)), 'WXSEAL_UNWRAP_FAILED');
    for (const i of [0, 31, 32, 63, 64, 79]) {
      const bad = Buffer.from(w);
      bad[i]! ^= 0x40;
      assert.equal(codeOf(() => unwrapSessionKey(x.privateKey, bad)), 'WXSEAL_UNWRAP_FAILED', `byte ${i}`);
    }
    assert.equal(codeOf(() => unwrapSessionKey(x.privateKey, w.subarray(1))), 'WXSEAL_UNWRAP_FAILED');
    assert.equal(codeOf(() => unwrapSessionKey(x.privateKey, Buffer.concat([w, Buffer.of(0)]))), 'WXSEAL_UNWRAP_FAILED');
    assert.equal(codeOf(() => unwrapSessionKey(x.privateKey, Buffer.concat([Buffer.alloc(32), w.subarray(32)]))), 'WXSEAL_UNWRAP_FAILED');
    // A key of the wrong length under HPKE (a 16-byte K) is refused like an RSA one.
    const short = hpkeSeal({ aead: 'aes-256-gcm', recipientPublicKey: x.publicKey, info: Buffer.from(SESSION_KEY_HPKE_INFO), aad: Buffer.alloc(0), plaintext: randomBytes(16) });
    assert.equal(codeOf(() => unwrapSessionKey(x.privateKey, Buffer.concat([short.enc, short.ciphertext]))), 'WXSEAL_UNWRAP_FAILED');
    // Across suites: an RSA key does not open an X25519 wrap, nor the reverse.
    assert.equal(codeOf(() => unwrapSessionKey(rsa.privateKey, w)), 'WXSEAL_UNWRAP_FAILED');
    assert.equal(codeOf(() => unwrapSessionKey(x.privateKey, wrapSessionKey(rsa.publicKey, randomBytes(32)))), 'WXSEAL_UNWRAP_FAILED');
  });
});

describe('properties of the X25519 wrap', () => {
  test('any session key round-trips; any single flipped bit of the wrapped key is UNWRAP_FAILED', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(80 * 8 - 1), (k, bit) => {
        const w = wrapSessionKey(x.publicKey, k);
        assert.deepEqual(unwrapSessionKey(x.privateKey, w), Buffer.from(k));
        const bad = Buffer.from(w);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(codeOf(() => unwrapSessionKey(x.privateKey, bad)), 'WXSEAL_UNWRAP_FAILED');
      }),
      { numRuns: 200 },
    );
  });
});

describe('a sealed request and response under an X25519 server key', () => {
  test('builds, verifies, unwraps, opens; the response opens with the same session key', () => {
    const body = Buffer.from('{"order":42}');
    const built = buildRequest({
      mode: 'sealed', method: 'POST', target: '/api/orders?x=1', keyId: 'bff', secret, serverKey, body, contentType: 'application/json',
      identity: { openid: 'o-1', appid: 'wx1' },
    });
    assert.equal(built.headers[HEADERS.wrappedKey]!.length, 107);
    const parsed = parseRequestHeaders({ method: 'POST', target: '/api/orders?x=1', header: (n) => built.headers[n], allowedModes: ['sealed'] });
    assert.equal(parsed.wrappedKey.length, wrappedKeyLength(x.privateKey));
    assert.equal(verifyRequestSignature(parsed, built.body, [secret]), 0);
    const sessionKey = unwrapSessionKey(x.privateKey, parsed.wrappedKey);
    assert.deepEqual(sessionKey, built.context.sessionKey);
    const opened = openSealedRequest(parsed, sessionKey, built.body);
    assert.deepEqual(opened.body, body);
    assert.deepEqual(opened.meta, { contentType: 'application/json', identity: { openid: 'o-1', appid: 'wx1' } });

    const wire = sealResponse({ keyId: 'bff', nonce: parsed.nonce, sessionKey }, { status: 201, contentType: 'text/plain', body: Buffer.from('ok') });
    const res = openResponse(built.context, { status: wire.status, header: (n) => wire.headers[n], body: wire.body });
    assert.equal(res.status, 201);
    assert.equal(res.body.toString(), 'ok');
  });

  test('the wrapped key is signed: changing it is BAD_SIGNATURE before any unwrap', () => {
    const built = buildRequest({ mode: 'sealed', method: 'POST', target: '/x', keyId: 'bff', secret, serverKey });
    const other = wrapSessionKey(x.publicKey, built.context.sessionKey!).toString('base64url');
    const headers: Record<string, string> = { ...built.headers, [HEADERS.wrappedKey]: other };
    const parsed = parseRequestHeaders({ method: 'POST', target: '/x', header: (n) => headers[n] });
    assert.equal(codeOf(() => verifyRequestSignature(parsed, built.body, [secret])), 'WXSEAL_BAD_SIGNATURE');
  });

  test('header syntax: 107 characters or 342-683; strict decoding of the 107-character form', () => {
    const built = buildRequest({ mode: 'sealed', method: 'POST', target: '/x', keyId: 'bff', secret, serverKey, timestamp: 1000 });
    const w = built.headers[HEADERS.wrappedKey]!;
    const parse = (value: string) => {
      const headers: Record<string, string> = { ...built.headers, [HEADERS.wrappedKey]: value };
      return codeOf(() => parseRequestHeaders({ method: 'POST', target: '/x', header: (n) => headers[n] }));
    };
    assert.equal(parse(w), null);
    assert.equal(parse(w.slice(0, 106)), 'WXSEAL_MALFORMED_HEADER');
    assert.equal(parse(w + 'A'), 'WXSEAL_MALFORMED_HEADER');
    assert.equal(parse(w + '='), 'WXSEAL_MALFORMED_HEADER');
    for (const n of [100, 200, 341, 684]) assert.equal(parse('A'.repeat(n)), 'WXSEAL_MALFORMED_HEADER', String(n));
    assert.equal(parse('A'.repeat(342)), null);
    // 80 bytes leave 2 unused bits in the last character: a non-zero one is malformed at step 2.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(w[w.length - 1]!);
    assert.equal(last & 3, 0);
    const loose = w.slice(0, -1) + alphabet[last | 1]!;
    assert.deepEqual(Buffer.from(loose, 'base64url'), Buffer.from(w, 'base64url'));
    assert.equal(parse(loose), 'WXSEAL_MALFORMED_HEADER');
  });
});
