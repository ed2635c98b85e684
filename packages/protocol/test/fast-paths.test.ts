// The cheaper per-request paths must compute exactly what the straightforward ones did.
import assert from 'node:assert/strict';
import { hkdfSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  LABELS,
  RESPONSE_NONCE_BYTES,
  parseRequestHeaders,
  buildRequest,
  requestSignatureIndex,
  verifyRequestSignature,
  WxsealError,
} from '../src/index.js';
import { aesGcmDecrypt, aesGcmEncrypt, deriveResponseKey, encodePayload, encodePayloadParts, generateResponseNonce } from '../src/primitives.js';

describe('deriveResponseKey', () => {
  test('deriveResponseKey is HKDF-SHA256(K, R, "WXSEAL1 response", 44) split 32 + 12', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(RESPONSE_NONCE_BYTES);
    const okm = Buffer.from(hkdfSync('sha256', key, nonce, LABELS.responseHkdfInfo, 44));
    const derived = deriveResponseKey(key, nonce);
    assert.deepEqual(derived.key, okm.subarray(0, 32));
    assert.deepEqual(derived.iv, okm.subarray(32));
  });
});

describe('generateResponseNonce', () => {
  test('gives distinct 32-byte nonces across pool refills, none overlapping another', () => {
    const seen = new Set<string>();
    const nonces: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      const n = generateResponseNonce();
      assert.equal(n.length, RESPONSE_NONCE_BYTES);
      seen.add(n.toString('hex'));
      nonces.push(n);
    }
    assert.equal(seen.size, 1000);
    // Writing into one nonce leaves every other one as it was.
    const before = nonces.map((n) => n.toString('hex'));
    nonces[5]!.fill(0);
    for (let i = 0; i < nonces.length; i++) if (i !== 5) assert.equal(nonces[i]!.toString('hex'), before[i]);
  });
});

describe('requestSignatureIndex', () => {
  test('agrees with verifyRequestSignature: the index, or -1 where it throws WXSEAL_BAD_SIGNATURE', () => {
    const secret = randomBytes(32);
    const other = randomBytes(32);
    const built = buildRequest({ mode: 'signed', method: 'POST', target: '/a?b=1', keyId: 'k1', secret, body: Buffer.from('{}'), contentType: 'application/json' });
    const header = (name: string): string | undefined => built.headers[name];
    const parsed = parseRequestHeaders({ method: 'POST', target: '/a?b=1', header });
    assert.equal(requestSignatureIndex(parsed, built.body, [other, secret]), 1);
    assert.equal(verifyRequestSignature(parsed, built.body, [other, secret]), 1);
    assert.equal(requestSignatureIndex(parsed, built.body, [other]), -1);
    assert.throws(
      () => verifyRequestSignature(parsed, built.body, [other]),
      (err: unknown) => err instanceof WxsealError && err.code === 'WXSEAL_BAD_SIGNATURE' && err.message === 'signature does not match',
    );
  });
});

describe('aesGcmEncrypt in parts', () => {
  test('encrypting the payload in parts gives the bytes of encrypting it whole, and it opens', () => {
    for (const size of [0, 1, 15, 16, 17, 4096, 65_537, 1_048_576]) {
      const key = randomBytes(32);
      const iv = randomBytes(12);
      const aad = randomBytes(40);
      const body = randomBytes(size);
      const meta = { contentType: 'application/octet-stream' };
      const whole = aesGcmEncrypt(key, iv, aad, encodePayload(meta, body));
      const parts = aesGcmEncrypt(key, iv, aad, encodePayloadParts(meta, body));
      assert.deepEqual(parts, whole, `${size} bytes`);
      assert.deepEqual(aesGcmDecrypt(key, iv, aad, parts), encodePayload(meta, body));
    }
  });

  test('a tampered tag still fails in final()', () => {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const sealed = aesGcmEncrypt(key, iv, Buffer.alloc(0), [Buffer.from('a'), Buffer.from('b')]);
    sealed[sealed.length - 1] = sealed[sealed.length - 1]! ^ 1;
    assert.throws(() => aesGcmDecrypt(key, iv, Buffer.alloc(0), sealed), (e) => e instanceof WxsealError && e.code === 'WXSEAL_DECRYPT_FAILED');
  });
});
