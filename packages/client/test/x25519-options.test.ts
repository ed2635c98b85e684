// Issue 14: the client takes the server's X25519 public key (SPKI PEM or KeyObject) as it
// takes an RSA one; keys of any other type are refused when the client is made.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { createClient, isWxsealError, type ClientOptions } from '../src/index.js';

const idOf = (publicKey: KeyObject): string => `sk-${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)}`;

function options(serverPublicKey: ClientOptions['serverPublicKey'], serverKeyId: string): ClientOptions {
  return { baseUrl: 'http://127.0.0.1:9', keyId: 'bff-x', secret: randomBytes(32).toString('base64url'), serverPublicKey, serverKeyId, mode: 'sealed' };
}

describe('client options: server public keys', () => {
  it('accepts an X25519 SPKI PEM (as text or bytes) and a KeyObject, for sealed mode', async () => {
    const { publicKey } = generateKeyPairSync('x25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    for (const key of [pem, Buffer.from(pem), publicKey]) {
      const c = createClient(options(key, idOf(publicKey)));
      await c.close?.();
    }
  });

  it('refuses other key types with WXSEAL_CONFIG_INVALID', () => {
    const keys = [generateKeyPairSync('ed25519').publicKey, generateKeyPairSync('x448').publicKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey];
    for (const k of keys) {
      const pem = k.export({ type: 'spki', format: 'pem' }).toString();
      assert.throws(() => createClient(options(pem, idOf(k))), (e: unknown) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'), k.asymmetricKeyType);
    }
    assert.throws(() => createClient(options('-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n', 'sk-0')), (e: unknown) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
  });
});
