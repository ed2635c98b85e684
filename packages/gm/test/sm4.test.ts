// SM4-GCM against RFC 8998's vector, its keystream against node:crypto's sm4-ctr (OpenSSL), and the
// SM4 block cipher of sm-crypto-v2 against node:crypto's sm4-ecb on GB/T 32907's example.
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { sm4 } from 'sm-crypto-v2';
import { isGmError, sm4GcmDecrypt, sm4GcmEncrypt } from '../src/index.js';

const h = (s: string): Buffer => Buffer.from(s, 'hex');

// RFC 8998, appendix A.1 (SM4-GCM).
const RFC8998 = {
  key: h('0123456789ABCDEFFEDCBA9876543210'),
  iv: h('00001234567800000000ABCD'),
  aad: h('FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2'),
  plaintext: h('AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA'),
  ciphertext: h('17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D'),
  tag: h('83DE3541E4C2B58177E065A9BF7B62EC'),
};

const flip = (b: Buffer, i: number): Buffer => {
  const c = Buffer.from(b);
  c[i]! ^= 0x01;
  return c;
};
const decryptFails = (fn: () => unknown): void => assert.throws(fn, (e) => isGmError(e, 'GM_DECRYPT_FAILED'));

describe('SM4-GCM (RFC 8998 appendix A.1)', () => {
  it('encrypts to the RFC\'s ciphertext and tag', () => {
    const { ciphertext, tag } = sm4GcmEncrypt(RFC8998.key, RFC8998.iv, RFC8998.plaintext, RFC8998.aad);
    assert.equal(ciphertext.toString('hex'), RFC8998.ciphertext.toString('hex'));
    assert.equal(tag.toString('hex'), RFC8998.tag.toString('hex'));
  });
  it('decrypts the RFC\'s ciphertext and tag', () => {
    assert.deepEqual(sm4GcmDecrypt(RFC8998.key, RFC8998.iv, RFC8998.ciphertext, RFC8998.tag, RFC8998.aad), RFC8998.plaintext);
  });
  it('a flipped bit in the ciphertext, the tag, the AAD or the IV, a missing AAD, a truncated ciphertext: GM_DECRYPT_FAILED', () => {
    const { key, iv, aad, ciphertext, tag } = RFC8998;
    for (const i of [0, 31, 63]) decryptFails(() => sm4GcmDecrypt(key, iv, flip(ciphertext, i), tag, aad));
    for (const i of [0, 15]) decryptFails(() => sm4GcmDecrypt(key, iv, ciphertext, flip(tag, i), aad));
    for (const i of [0, 19]) decryptFails(() => sm4GcmDecrypt(key, iv, ciphertext, tag, flip(aad, i)));
    decryptFails(() => sm4GcmDecrypt(key, flip(iv, 11), ciphertext, tag, aad));
    decryptFails(() => sm4GcmDecrypt(key, iv, ciphertext, tag));
    decryptFails(() => sm4GcmDecrypt(key, iv, ciphertext.subarray(0, 63), tag, aad));
    decryptFails(() => sm4GcmDecrypt(flip(key, 0), iv, ciphertext, tag, aad));
  });
  it('wrong lengths of key, IV and tag: GM_KEY_INVALID / GM_INPUT_INVALID', () => {
    const { key, iv, ciphertext, tag } = RFC8998;
    assert.throws(() => sm4GcmEncrypt(key.subarray(0, 15), iv, ciphertext), (e) => isGmError(e, 'GM_KEY_INVALID'));
    assert.throws(() => sm4GcmEncrypt(key, iv.subarray(0, 11), ciphertext), (e) => isGmError(e, 'GM_INPUT_INVALID'));
    assert.throws(() => sm4GcmDecrypt(key, iv, ciphertext, tag.subarray(0, 12)), (e) => isGmError(e, 'GM_INPUT_INVALID'));
  });
  it('the ciphertext of random inputs is SM4-CTR from counter IV‖00000002, as node:crypto (OpenSSL) sm4-ctr gives it; round trips', () => {
    for (const len of [0, 1, 15, 16, 17, 100, 1000]) {
      const key = randomBytes(16);
      const iv = randomBytes(12);
      const pt = randomBytes(len);
      const aad = randomBytes(len % 23);
      const { ciphertext, tag } = sm4GcmEncrypt(key, iv, pt, aad);
      const ctr = createCipheriv('sm4-ctr', key, Buffer.concat([iv, h('00000002')]));
      assert.equal(ciphertext.toString('hex'), Buffer.concat([ctr.update(pt), ctr.final()]).toString('hex'), `length ${len}`);
      assert.deepEqual(sm4GcmDecrypt(key, iv, ciphertext, tag, aad), pt);
    }
  });
});

describe('the SM4 block cipher (GB/T 32907)', () => {
  const key = h('0123456789abcdeffedcba9876543210');
  it('the standard\'s example: sm-crypto-v2 and node:crypto sm4-ecb both give 681edf34d206965e86b3e94f536e4246', () => {
    const lib = Buffer.from(sm4.encrypt(key, key, { mode: 'ecb', padding: 'none', output: 'array' }));
    const node = createCipheriv('sm4-ecb', key, null).setAutoPadding(false).update(key);
    assert.equal(lib.toString('hex'), '681edf34d206965e86b3e94f536e4246');
    assert.equal(node.toString('hex'), '681edf34d206965e86b3e94f536e4246');
  });
  it('random keys and blocks: sm-crypto-v2 = node:crypto sm4-ecb', () => {
    for (let i = 0; i < 20; i++) {
      const k = randomBytes(16);
      const blocks = randomBytes(16 * (1 + i));
      const lib = Buffer.from(sm4.encrypt(blocks, k, { mode: 'ecb', padding: 'none', output: 'array' }));
      const node = createCipheriv('sm4-ecb', k, null).setAutoPadding(false).update(blocks);
      assert.equal(lib.toString('hex'), node.toString('hex'));
    }
  });
});
