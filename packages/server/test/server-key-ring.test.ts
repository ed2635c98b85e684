// Issue 14: the server key ring holds RSA and X25519 keys side by side (a rotation may move
// clients from one suite to the other): each id knows its type, suite and wrapped-key length,
// and unwraps with its own suite.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { X25519_WRAPPED_KEY_BYTES, isWxsealError } from '@wxseal/protocol';
import { wrapSessionKey } from '@wxseal/protocol/primitives';
import { SERVER_KEY_TYPES, ServerKeyRing, serverKeyIdFor, serverKeyTypeOf } from '@wxseal/server';

describe('ServerKeyRing with RSA and X25519 keys', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const x = generateKeyPairSync('x25519');

  it('knows the type, suite and wrapped-key length of each key, and unwraps with it', () => {
    const ring = new ServerKeyRing([{ privateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }, { privateKey: x.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }]);
    const [rsaId, xId] = [serverKeyIdFor(rsa.publicKey), serverKeyIdFor(x.publicKey)];
    assert.deepEqual(ring.ids(), [rsaId, xId]);
    assert.deepEqual([ring.type(rsaId), ring.suite(rsaId), ring.wrappedKeyLength(rsaId)], ['rsa', 'rsa-oaep-256', 256]);
    assert.deepEqual([ring.type(xId), ring.suite(xId), ring.wrappedKeyLength(xId)], ['x25519', 'x25519-hpke', X25519_WRAPPED_KEY_BYTES]);
    assert.equal(ring.type('sk-unknown'), undefined);
    assert.equal(ring.publicKey(xId)!.asymmetricKeyType, 'x25519');
    const session = Buffer.alloc(32, 5);
    assert.deepEqual(ring.unwrap(rsaId, wrapSessionKey(rsa.publicKey, session)), session);
    assert.deepEqual(ring.unwrap(xId, wrapSessionKey(x.publicKey, session)), session);
    // A key wrapped for one suite, named as the other: refused on its length, before any cryptography.
    assert.throws(() => ring.check(xId, wrapSessionKey(rsa.publicKey, session)), (e: unknown) => isWxsealError(e, 'WXSEAL_MALFORMED_HEADER'));
    assert.throws(() => ring.check(rsaId, wrapSessionKey(x.publicKey, session)), (e: unknown) => isWxsealError(e, 'WXSEAL_MALFORMED_HEADER'));
    // Wrapped for another X25519 key: the right length, but it does not open.
    const other = generateKeyPairSync('x25519');
    assert.throws(() => ring.unwrap(xId, wrapSessionKey(other.publicKey, session)), (e: unknown) => isWxsealError(e, 'WXSEAL_UNWRAP_FAILED'));
  });

  it('serverKeyTypeOf names rsa and x25519 keys and refuses the others', () => {
    assert.deepEqual(SERVER_KEY_TYPES, ['rsa', 'x25519', 'sm2']);
    assert.equal(serverKeyTypeOf(rsa.privateKey), 'rsa');
    assert.equal(serverKeyTypeOf(x.publicKey), 'x25519');
    for (const k of [generateKeyPairSync('ed25519').publicKey, generateKeyPairSync('x448').privateKey]) {
      assert.throws(() => serverKeyTypeOf(k), (e: unknown) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
      assert.throws(() => new ServerKeyRing([{ privateKey: k }]), (e: unknown) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
    }
  });
});
