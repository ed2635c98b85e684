// AEAD_AES_256_GCM and RSA-OAEP sensitive fields: round trips and refusals.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { apiV3KeyBytes, decryptAead, decryptAesGcmAnyKeyLength, decryptSensitive, encryptAead, encryptSensitive, maxSensitivePlaintextBytes } from '@wxseal/wechatpay';
import { code, javaAead, javaKeys } from './helpers.js';

const KEY = javaAead.apiV3Key;

describe('AEAD_AES_256_GCM', () => {
  test('property: encrypt → decrypt round-trips (UTF-8 text, any associated data)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme', maxLength: 30 }), (plain, aad) => {
        const c = encryptAead(KEY, { plaintext: plain, associated_data: aad });
        assert.match(c.nonce, /^[0-9A-Za-z]{12}$/);
        assert.equal(decryptAead(KEY, c), plain);
      }),
      { numRuns: 200 },
    );
  });
  test('wrong associated_data, nonce, key or any flipped ciphertext byte fails authentication', () => {
    const c = encryptAead(KEY, { plaintext: '{"trade_state":"SUCCESS"}', associated_data: 'transaction' });
    assert.throws(() => decryptAead(KEY, { ...c, associated_data: 'refund' }), code('WECHATPAY_DECRYPT_FAILED'));
    assert.throws(() => decryptAead(KEY, { ...c, associated_data: '' }), code('WECHATPAY_DECRYPT_FAILED'));
    assert.throws(() => decryptAead(KEY, { ...c, nonce: c.nonce.replace(/^./, (x) => (x === 'A' ? 'B' : 'A')) }), code('WECHATPAY_DECRYPT_FAILED'));
    assert.throws(() => decryptAead(KEY.replace(/^./, (x) => (x === 'A' ? 'B' : 'A')), c), code('WECHATPAY_DECRYPT_FAILED'));
    const raw = Buffer.from(c.ciphertext, 'base64');
    for (let i = 0; i < raw.length; i++) {
      const t = Buffer.from(raw);
      t[i] = (t[i] ?? 0) ^ 0x80;
      assert.throws(() => decryptAead(KEY, { ...c, ciphertext: t.toString('base64') }), code('WECHATPAY_DECRYPT_FAILED'));
    }
    // truncated tag
    assert.throws(() => decryptAead(KEY, { ...c, ciphertext: raw.subarray(0, raw.length - 1).toString('base64') }), code('WECHATPAY_DECRYPT_FAILED'));
  });
  test('malformed inputs', () => {
    const c = encryptAead(KEY, { plaintext: 'x', associated_data: '' });
    assert.throws(() => decryptAead(KEY, { ...c, ciphertext: 'not base64' }), code('WECHATPAY_MALFORMED'));
    assert.throws(() => decryptAead(KEY, { ...c, ciphertext: Buffer.alloc(15).toString('base64') }), code('WECHATPAY_MALFORMED'));
    assert.throws(() => decryptAead(KEY, { ...c, nonce: 'short' }), code('WECHATPAY_MALFORMED'));
    assert.throws(() => encryptAead(KEY, { plaintext: 'x', nonce: '0123456789abc' }), code('WECHATPAY_BAD_ARGUMENT'));
  });
  test('the production path takes exactly 32 bytes of key; the general path is explicit', () => {
    for (const k of ['', 'short', 'x'.repeat(31), 'x'.repeat(33), '密'.repeat(32)]) assert.throws(() => apiV3KeyBytes(k), code('WECHATPAY_BAD_ARGUMENT'));
    assert.equal(apiV3KeyBytes('x'.repeat(32)).length, 32);
    assert.throws(() => decryptAesGcmAnyKeyLength(Buffer.alloc(20), { ciphertext: 'AAAAAAAAAAAAAAAAAAAAAA==', nonce: '0123456789ab' }), code('WECHATPAY_BAD_ARGUMENT'));
  });
  test('a non-UTF-8 plaintext is refused', () => {
    const c = encryptAead(KEY, { plaintext: Buffer.from([0xff, 0xfe]) });
    assert.throws(() => decryptAead(KEY, c), code('WECHATPAY_DECRYPT_FAILED'));
  });
});

describe('sensitive fields (RSA-OAEP, SHA-1, MGF1-SHA-1)', () => {
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  test('round trip with the java test key pair (WeChat Pay public key / private key)', () => {
    for (const s of ['张三', '6222021234567890123', '']) {
      const c = encryptSensitive(s, javaKeys.wechatpay.publicKeyPem);
      assert.equal(Buffer.from(c, 'base64').length, 256);
      assert.equal(decryptSensitive(c, javaKeys.wechatpay.privateKeyPem), s);
    }
    // randomised
    assert.notEqual(encryptSensitive('x', javaKeys.wechatpay.certificatePem), encryptSensitive('x', javaKeys.wechatpay.certificatePem));
  });
  test('wrong key and tampering fail; too-long plaintext is refused', () => {
    const c = encryptSensitive('13800138000', other.publicKey);
    assert.throws(() => decryptSensitive(c, javaKeys.wechatpay.privateKeyPem), code('WECHATPAY_DECRYPT_FAILED'));
    const t = Buffer.from(c, 'base64');
    t[100] = (t[100] ?? 0) ^ 1;
    assert.throws(() => decryptSensitive(t.toString('base64'), other.privateKey), code('WECHATPAY_DECRYPT_FAILED'));
    assert.equal(maxSensitivePlaintextBytes(2048), 214);
    assert.throws(() => encryptSensitive('x'.repeat(215), other.publicKey), code('WECHATPAY_BAD_ARGUMENT'));
  });
});
