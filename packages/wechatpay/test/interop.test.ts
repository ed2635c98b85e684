// Cross-verification against an independent implementation: wechatpay-axios-plugin 0.9.x
// (Rsa, Aes.AesGcm, Formatter). Its signatures verify with ours and ours with its; AEAD and
// RSA-OAEP ciphertexts decrypt both ways; request/response message strings agree.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Aes, Formatter, Rsa } from 'wechatpay-axios-plugin';
import {
  buildRequestMessage,
  buildResponseMessage,
  certificateSerialKey,
  decryptAead,
  decryptSensitive,
  encryptAead,
  encryptSensitive,
  parseAuthorization,
  signMessage,
  signRequest,
  signResponse,
  verifyMessage,
  verifyRequest,
  verifySignature,
} from '@wxseal/wechatpay';

const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const apiV3Key = randomBytes(16).toString('hex'); // 32 characters
const SERIAL = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';

const methods = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE');
const target = fc
  .tuple(fc.array(fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/), { minLength: 1, maxLength: 4 }), fc.option(fc.stringMatching(/^[a-z_]{1,8}=[A-Za-z0-9%]{0,10}$/)))
  .map(([segs, q]) => `/v3/${segs.join('/')}${q === null ? '' : `?${q}`}`);
const nonce = fc.stringMatching(/^[0-9A-Za-z]{32}$/);
const ts = fc.integer({ min: 1_500_000_000, max: 2_500_000_000 });
const body = fc.oneof(fc.constant(''), fc.string(), fc.json());

describe('message strings agree with Formatter', () => {
  test('request: METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n', () => {
    fc.assert(
      fc.property(methods, target, ts, nonce, body, (m, u, t, n, b) => {
        assert.equal(buildRequestMessage({ method: m, url: u, timestamp: t, nonce: n, body: b }), Formatter.request(m, u, t, n, b));
      }),
      { numRuns: 200 },
    );
  });
  test('GET with no body gives an empty body line', () => {
    assert.equal(buildRequestMessage({ method: 'GET', url: '/v3/certificates', timestamp: 1, nonce: 'n' }), Formatter.request('GET', '/v3/certificates', 1, 'n'));
  });
  test('response: timestamp\\nnonce\\nbody\\n', () => {
    fc.assert(
      fc.property(ts, nonce, body, (t, n, b) => {
        assert.equal(buildResponseMessage(t, n, b), Formatter.response(t, n, b));
      }),
      { numRuns: 200 },
    );
  });
  test('its Authorization header (different parameter order) parses and verifies', () => {
    const message = Formatter.request('POST', '/v3/pay/transactions/jsapi', 1700000000, 'abc', '{"a":1}');
    const signature = Rsa.sign(message, merchant.privateKey);
    const header = Formatter.authorization('1900000001', 'abc', signature, 1700000000, SERIAL);
    assert.deepEqual(parseAuthorization(header), { mchid: '1900000001', nonce_str: 'abc', signature, timestamp: '1700000000', serial_no: SERIAL });
    const params = verifyRequest({
      authorization: header,
      method: 'POST',
      url: '/v3/pay/transactions/jsapi',
      body: '{"a":1}',
      resolveKey: (mchid, serial) => (mchid === '1900000001' && serial === SERIAL ? merchant.publicKey : undefined),
      nowSeconds: 1700000100,
    });
    assert.equal(params.mchid, '1900000001');
  });
});

describe('SHA256withRSA both ways', () => {
  test('its signatures verify with ours, ours with its, and they are identical (PKCS#1 v1.5 is deterministic)', () => {
    fc.assert(
      fc.property(fc.string(), (msg) => {
        const theirs = Rsa.sign(msg, merchant.privateKey);
        const ours = signMessage(msg, merchant.privateKey);
        assert.equal(ours, theirs);
        assert.ok(verifyMessage(msg, theirs, merchant.publicKey));
        assert.ok(Rsa.verify(msg, ours, merchant.publicKey));
      }),
      { numRuns: 25 },
    );
  });
  test('a request we sign verifies with its Rsa.verify over its Formatter.request', () => {
    const r = signRequest({ mchid: '1900000001', serialNo: SERIAL, privateKey: merchant.privateKey, method: 'POST', url: '/v3/refund/domestic/refunds', body: '{"x":"退款"}' });
    assert.ok(Rsa.verify(Formatter.request('POST', '/v3/refund/domestic/refunds', r.timestamp, r.nonce, '{"x":"退款"}'), r.signature, merchant.publicKey));
  });
  test('a response it signs verifies with verifySignature; one we sign verifies with Rsa.verify', () => {
    const now = 1700000000;
    const b = '{"prepay_id":"wx201410272009395522657a690389285100"}';
    const n = Formatter.nonce();
    const headers = { 'Wechatpay-Timestamp': String(now), 'Wechatpay-Nonce': n, 'Wechatpay-Serial': SERIAL, 'Wechatpay-Signature': Rsa.sign(Formatter.response(now, n, b), platform.privateKey) };
    verifySignature({ headers, body: b, keys: [certificateSerialKey(SERIAL, platform.publicKey)], nowSeconds: now });
    const ours = signResponse({ body: b, privateKey: platform.privateKey, serial: SERIAL, timestamp: now });
    assert.ok(Rsa.verify(Formatter.response(now, ours['Wechatpay-Nonce'], b), ours['Wechatpay-Signature'], platform.publicKey));
  });
});

describe('AEAD_AES_256_GCM both ways (Aes.AesGcm)', () => {
  const key = Buffer.from(apiV3Key);
  test('its ciphertexts decrypt with ours and ours with its', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ maxLength: 40 }), fc.stringMatching(/^[0-9A-Za-z]{12}$/), (plain, aad, n) => {
        const theirs = Aes.AesGcm.encrypt(plain, key, n, aad);
        assert.equal(decryptAead(apiV3Key, { ciphertext: theirs, nonce: n, associated_data: aad }), plain);
        const ours = encryptAead(apiV3Key, { plaintext: plain, nonce: n, associated_data: aad });
        assert.equal(ours.ciphertext, theirs);
        assert.equal(Aes.AesGcm.decrypt(ours.ciphertext, key, n, aad), plain);
      }),
      { numRuns: 200 },
    );
  });
  test('empty associated_data', () => {
    const theirs = Aes.AesGcm.encrypt('{"a":1}', key, 'abcdefghijkl', '');
    assert.equal(decryptAead(apiV3Key, { ciphertext: theirs, nonce: 'abcdefghijkl', associated_data: '' }), '{"a":1}');
    assert.equal(decryptAead(apiV3Key, { ciphertext: theirs, nonce: 'abcdefghijkl' }), '{"a":1}');
  });
});

describe('RSA-OAEP (SHA-1) sensitive fields both ways (Rsa.encrypt / Rsa.decrypt)', () => {
  test('its ciphertexts decrypt with ours and ours with its', () => {
    for (const plain of ['张三', '13800138000', '110101199003071234', '', 'x'.repeat(214)]) {
      assert.equal(decryptSensitive(Rsa.encrypt(plain, platform.publicKey), platform.privateKey), plain);
      assert.equal(Rsa.decrypt(encryptSensitive(plain, platform.publicKey), platform.privateKey), plain);
    }
  });
});
