// SM2 public-key encryption (GB/T 32918.4) both ways against `openssl pkeyutl -encrypt/-decrypt`,
// which speaks the ASN.1 form of GM/T 0009 (converted here), and the standard's example. The
// decryption runs on OpenSSL's curve arithmetic (sm2-decrypt.ts); it is also held against
// sm-crypto-v2's own decryption (sm2DecryptReference), an independent implementation.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  isGmError,
  opensslSm2Available,
  sm2CiphertextFromAsn1,
  sm2CiphertextToAsn1,
  sm2Decrypt,
  sm2DecryptReference,
  sm2Encrypt,
  sm2GenerateKeyPair,
  sm2PrivateKeyFromPem,
  sm2PrivateKeyToPem,
  sm2PublicKeyFromPrivate,
  sm2PublicKeyToPem,
} from '../src/index.js';
import { file, openssl, opensslStatus, outPath, read } from './openssl.js';

const decryptFails = (fn: () => unknown): void => assert.throws(fn, (e) => isGmError(e, 'GM_DECRYPT_FAILED'));
const inputInvalid = (fn: () => unknown): void => assert.throws(fn, (e) => isGmError(e, 'GM_INPUT_INVALID'));

function opensslEncrypt(publicPem: string, plaintext: Uint8Array): Buffer {
  const out = outPath('ct');
  openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', file(publicPem, 'pub.pem'), '-in', file(plaintext, 'pt'), '-out', out]);
  return read(out);
}

function opensslDecrypt(privatePem: string, asn1: Uint8Array): Buffer | undefined {
  const out = outPath('pt');
  const r = opensslStatus(['pkeyutl', '-decrypt', '-inkey', file(privatePem, 'key.pem'), '-in', file(asn1, 'ct'), '-out', out]);
  return r.status === 0 ? read(out) : undefined;
}

describe('SM2 encryption, @wxseal/gm → openssl pkeyutl -decrypt', () => {
  it('openssl decrypts ours (C1‖C3‖C2 turned into ASN.1) for lengths 1 to 1000', () => {
    const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
    const keyPem = sm2PrivateKeyToPem(privateKeyHex);
    for (const len of [1, 2, 31, 32, 33, 100, 1000]) {
      const pt = randomBytes(len);
      const c = sm2Encrypt(publicKeyHex, pt);
      assert.equal(c.length, 65 + 32 + len);
      assert.deepEqual(opensslDecrypt(keyPem, sm2CiphertextToAsn1(c)), pt, `length ${len}`);
    }
  });
  it('openssl refuses ours altered in C1, C3 or C2, or under another key', () => {
    const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
    const keyPem = sm2PrivateKeyToPem(privateKeyHex);
    const c = sm2Encrypt(publicKeyHex, randomBytes(50));
    for (const i of [40, 70, 120]) {
      const bad = Buffer.from(c);
      bad[i]! ^= 1;
      assert.equal(opensslDecrypt(keyPem, sm2CiphertextToAsn1(bad)), undefined, `byte ${i}`);
    }
    assert.equal(opensslDecrypt(sm2PrivateKeyToPem(sm2GenerateKeyPair().privateKeyHex), sm2CiphertextToAsn1(c)), undefined);
  });
});

describe('SM2 encryption, openssl pkeyutl -encrypt → @wxseal/gm', () => {
  it('ours decrypts openssl\'s (ASN.1 turned into C1‖C3‖C2), key from openssl genpkey', () => {
    const keyPem = openssl(['genpkey', '-algorithm', 'SM2']).toString();
    const pubPem = openssl(['pkey', '-pubout'], Buffer.from(keyPem)).toString();
    const priv = sm2PrivateKeyFromPem(keyPem);
    for (const len of [1, 32, 33, 257, 1000]) {
      const pt = randomBytes(len);
      const asn1 = opensslEncrypt(pubPem, pt);
      const c = sm2CiphertextFromAsn1(asn1);
      assert.deepEqual(sm2Decrypt(priv, c), pt, `length ${len}`);
      // Back to ASN.1: byte for byte what openssl wrote (both are DER).
      assert.equal(sm2CiphertextToAsn1(c).toString('hex'), asn1.toString('hex'));
    }
  });
  it('tampered: C3 or C2 altered, C1 moved off the curve, another key → GM_DECRYPT_FAILED', () => {
    const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
    const c = sm2CiphertextFromAsn1(opensslEncrypt(sm2PublicKeyToPem(publicKeyHex), Buffer.from('the quick brown fox')));
    assert.equal(sm2Decrypt(privateKeyHex, c).toString(), 'the quick brown fox');
    for (const i of [1, 64, 65, 96, 97, c.length - 1]) {
      const bad = Buffer.from(c);
      bad[i]! ^= 1;
      decryptFails(() => sm2Decrypt(privateKeyHex, bad));
    }
    decryptFails(() => sm2Decrypt(sm2GenerateKeyPair().privateKeyHex, c));
  });
  it('malformed: too short, C1 not uncompressed → GM_INPUT_INVALID', () => {
    const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
    const c = sm2Encrypt(publicKeyHex, Buffer.from('x'));
    inputInvalid(() => sm2Decrypt(privateKeyHex, c.subarray(0, 97)));
    inputInvalid(() => sm2Decrypt(privateKeyHex, Buffer.concat([Buffer.from([2]), c.subarray(1)])));
  });
});

describe('SM2 decryption on OpenSSL\'s curve arithmetic against sm-crypto-v2\'s', () => {
  it('this runtime\'s OpenSSL has the SM2 curve, so sm2Decrypt takes the OpenSSL path', () => {
    assert.equal(opensslSm2Available(), true);
  });
  it('both decrypt the same 300 ciphertexts (sm-crypto-v2\'s and openssl\'s, lengths 1 to 300) to the plaintext', () => {
    const keys = Array.from({ length: 3 }, () => sm2GenerateKeyPair());
    const fromOpenssl = (k: { publicKeyHex: string }, pt: Buffer): Buffer => sm2CiphertextFromAsn1(opensslEncrypt(sm2PublicKeyToPem(k.publicKeyHex), pt));
    for (let i = 0; i < 300; i++) {
      const k = keys[i % keys.length]!;
      const pt = randomBytes(1 + (i % 300));
      const c = i % 10 === 0 ? fromOpenssl(k, pt) : sm2Encrypt(k.publicKeyHex, pt);
      assert.deepEqual(sm2Decrypt(k.privateKeyHex, c), pt, `case ${i}`);
      assert.deepEqual(sm2DecryptReference(k.privateKeyHex, c), pt, `case ${i} (reference)`);
    }
  });
  it('both refuse every single-bit change of C1, C3 and C2, a C1 off the curve and another key', () => {
    const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
    const c = sm2Encrypt(publicKeyHex, randomBytes(16));
    for (let i = 1; i < c.length; i += 3) {
      const bad = Buffer.from(c);
      bad[i]! ^= 1 << (i % 8);
      decryptFails(() => sm2Decrypt(privateKeyHex, bad));
      decryptFails(() => sm2DecryptReference(privateKeyHex, bad));
    }
    // x1 kept, y1 replaced: (x1, y1 + 1) is not a point of the curve.
    const offCurve = Buffer.from(c);
    let carry = 1;
    for (let i = 64; i >= 33 && carry; i--) {
      const v = offCurve[i]! + carry;
      offCurve[i] = v & 0xff;
      carry = v >> 8;
    }
    decryptFails(() => sm2Decrypt(privateKeyHex, offCurve));
    decryptFails(() => sm2DecryptReference(privateKeyHex, offCurve));
    const other = sm2GenerateKeyPair().privateKeyHex;
    decryptFails(() => sm2Decrypt(other, c));
    decryptFails(() => sm2DecryptReference(other, c));
  });
});

describe('the ASN.1 form (GM/T 0009)', () => {
  it('INTEGERs are minimal: a coordinate with leading zero bytes or its high bit set round-trips', () => {
    const c = Buffer.concat([Buffer.from([4]), Buffer.alloc(31), Buffer.from([0x7f]), Buffer.alloc(32, 0xff), Buffer.alloc(32, 0xab), Buffer.from('hi')]);
    const asn1 = sm2CiphertextToAsn1(c);
    assert.equal(asn1.toString('hex'), `304c${'02017f'}022100${'ff'.repeat(32)}0420${'ab'.repeat(32)}04026869`);
    assert.deepEqual(sm2CiphertextFromAsn1(asn1), c);
  });
  it('refuses what is not strict DER of that structure', () => {
    const { publicKeyHex } = sm2GenerateKeyPair();
    const asn1 = sm2CiphertextToAsn1(sm2Encrypt(publicKeyHex, Buffer.from('hello')));
    inputInvalid(() => sm2CiphertextFromAsn1(Buffer.concat([asn1, Buffer.from([0])])));
    inputInvalid(() => sm2CiphertextFromAsn1(asn1.subarray(0, asn1.length - 1)));
    inputInvalid(() => sm2CiphertextFromAsn1(Buffer.from('3000', 'hex')));
    // C3 of 31 bytes; a negative x; x with a superfluous leading zero.
    inputInvalid(() => sm2CiphertextFromAsn1(Buffer.from(`3029020101020101041f${'00'.repeat(31)}040101`, 'hex')));
    inputInvalid(() => sm2CiphertextFromAsn1(Buffer.from(`302a0201800201010420${'00'.repeat(32)}040101`, 'hex')));
    inputInvalid(() => sm2CiphertextFromAsn1(Buffer.from(`302b020200010201010420${'00'.repeat(32)}040101`, 'hex')));
    inputInvalid(() => sm2CiphertextToAsn1(Buffer.alloc(97, 4)));
  });
});

describe('GB/T 32918 (GM/T 0003.5) encryption example on the recommended curve', () => {
  // Private key d (the signature example's), M = "encryption standard", random k = 59276E27…;
  // C = C1‖C3‖C2 as the standard prints it.
  const d = '3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8';
  const C =
    '04' +
    '04ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73' +
    'e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0' +
    '59983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766' +
    '21886ca989ca9c7d58087307ca93092d651efa';
  it('decrypts to "encryption standard", with @wxseal/gm and with openssl (ASN.1 form)', () => {
    const c = Buffer.from(C, 'hex');
    assert.equal(sm2Decrypt(d, c).toString(), 'encryption standard');
    assert.equal(opensslDecrypt(sm2PrivateKeyToPem(d), sm2CiphertextToAsn1(c))?.toString(), 'encryption standard');
    assert.equal(sm2PublicKeyFromPrivate(d).slice(0, 10), '0409f9df31');
  });
});
