// SM2 signatures with a distinguishing ID (GB/T 32918.2), both ways against the OpenSSL 3 command
// line (`openssl pkeyutl -rawin -digest sm3 -pkeyopt distid:…`), with keys written as PEM by this
// package, and the standard's example on the recommended curve.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SM2_DEFAULT_ID, isGmError, sm2GenerateKeyPair, sm2PrivateKeyFromPem, sm2PrivateKeyToPem, sm2PublicKeyFromPrivate, sm2PublicKeyToPem, sm2Sign, sm2Verify } from '../src/index.js';
import { OPENSSL_VERSION, file, openssl, opensslStatus, outPath, read } from './openssl.js';

function opensslSign(keyPem: string, message: Uint8Array, id?: string): Buffer {
  const out = outPath('sig');
  openssl(['pkeyutl', '-sign', '-rawin', '-digest', 'sm3', '-inkey', file(keyPem, 'key.pem'), '-in', file(message, 'msg'), ...(id === undefined ? [] : ['-pkeyopt', `distid:${id}`]), '-out', out]);
  return read(out);
}

function opensslVerifies(publicPem: string, message: Uint8Array, signature: Uint8Array, id?: string): boolean {
  const r = opensslStatus(['pkeyutl', '-verify', '-rawin', '-digest', 'sm3', '-pubin', '-inkey', file(publicPem, 'pub.pem'), '-in', file(message, 'msg'), '-sigfile', file(signature, 'sig'), ...(id === undefined ? [] : ['-pkeyopt', `distid:${id}`])]);
  if (r.status === 0) {
    assert.match(r.output, /Signature Verified Successfully/);
    return true;
  }
  assert.match(r.output, /Signature Verification Failure/, `openssl failed otherwise: ${r.output}`);
  return false;
}

const IDS = [SM2_DEFAULT_ID, 'ALICE123@YAHOO.COM', 'wxseal-merchant-1900000001'];

describe('SM2 signatures, @wxseal/gm → openssl pkeyutl -verify', () => {
  for (const id of IDS) {
    it(`ID ${id}: openssl verifies ours, and refuses it under another ID or for another message`, () => {
      const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
      const pub = sm2PublicKeyToPem(publicKeyHex);
      for (const len of [0, 1, 64, 1000]) {
        const msg = randomBytes(len);
        const sig = sm2Sign(privateKeyHex, msg, { userId: id });
        assert.equal(opensslVerifies(pub, msg, sig, id), true, `length ${len}`);
        assert.equal(opensslVerifies(pub, msg, sig, `${id}X`), false);
        assert.equal(opensslVerifies(pub, Buffer.concat([msg, Buffer.from([0])]), sig, id), false);
      }
    });
  }
  it('without an ID ours is over the default ID: openssl needs -pkeyopt distid:1234567812345678 for it (without distid it uses an empty ID)', () => {
    const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
    const msg = Buffer.from('GET\n/v3/certificates\n');
    const sig = sm2Sign(privateKeyHex, msg);
    assert.equal(opensslVerifies(sm2PublicKeyToPem(publicKeyHex), msg, sig, SM2_DEFAULT_ID), true);
    assert.equal(opensslVerifies(sm2PublicKeyToPem(publicKeyHex), msg, sig), false);
    assert.equal(opensslVerifies(sm2PublicKeyToPem(publicKeyHex), msg, sm2Sign(privateKeyHex, msg, { userId: '' })), true);
  });
});

describe('SM2 signatures, openssl pkeyutl -sign → @wxseal/gm', () => {
  for (const id of IDS) {
    it(`ID ${id}: ours verifies openssl's (key from openssl genpkey), and refuses another ID, message or key`, () => {
      const keyPem = openssl(['genpkey', '-algorithm', 'SM2']).toString();
      const priv = sm2PrivateKeyFromPem(keyPem);
      const pub = sm2PublicKeyFromPrivate(priv);
      const msg = randomBytes(200);
      const sig = opensslSign(keyPem, msg, id);
      assert.equal(sm2Verify(pub, msg, sig, { userId: id }), true);
      assert.equal(sm2Verify(pub, msg, sig, { userId: id === SM2_DEFAULT_ID ? 'other' : SM2_DEFAULT_ID }), false);
      assert.equal(sm2Verify(pub, msg.subarray(1), sig, { userId: id }), false);
      assert.equal(sm2Verify(sm2GenerateKeyPair().publicKeyHex, msg, sig, { userId: id }), false);
    });
  }
  it(`${OPENSSL_VERSION}: pkeyutl -sign without distid signs over an empty ID, not SM2_DEFAULT_ID`, () => {
    const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
    const sig = opensslSign(sm2PrivateKeyToPem(privateKeyHex), Buffer.from('abc'));
    assert.equal(sm2Verify(publicKeyHex, 'abc', sig, { userId: '' }), true);
    assert.equal(sm2Verify(publicKeyHex, 'abc', sig), false);
  });
  it('a malformed, altered or not strictly DER signature is false, not an exception', () => {
    const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
    const sig = opensslSign(sm2PrivateKeyToPem(privateKeyHex), Buffer.from('abc'), SM2_DEFAULT_ID);
    assert.equal(sm2Verify(publicKeyHex, 'abc', sig), true);
    const longForm = Buffer.concat([Buffer.from([0x30, 0x81, sig[1]!]), sig.subarray(2)]);
    const wrongLength = Buffer.concat([Buffer.from([0x30, sig[1]! - 1]), sig.subarray(2)]);
    for (const bad of [Buffer.alloc(0), sig.subarray(0, sig.length - 1), Buffer.concat([sig, Buffer.from([0])]), Buffer.from(sig).fill(0, 8, 12), longForm, wrongLength, Buffer.from('3006020100020101', 'hex')]) {
      assert.equal(sm2Verify(publicKeyHex, 'abc', bad), false, bad.toString('hex'));
    }
    // A public key off the curve is the caller's mistake, not a false signature.
    const offCurve = `${publicKeyHex.slice(0, -1)}${publicKeyHex.endsWith('0') ? '1' : '0'}`;
    assert.throws(() => sm2Verify(offCurve, 'abc', sig), (e) => isGmError(e, 'GM_KEY_INVALID'));
  });
});

describe('signatures whose r or s is shorter than 32 bytes', () => {
  it('are minimal DER, and openssl verifies them', () => {
    const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
    let found = 0;
    // About 1 in 400 signatures has r or s below 2^248 (31 bytes or fewer).
    for (let i = 0; i < 8000 && found < 1; i++) {
      const msg = Buffer.from(`message ${i}`);
      const sig = sm2Sign(privateKeyHex, msg);
      if (sig.length >= 70) continue;
      found++;
      assert.equal(sm2Verify(publicKeyHex, msg, sig), true);
      assert.equal(opensslVerifies(sm2PublicKeyToPem(publicKeyHex), msg, sig, SM2_DEFAULT_ID), true);
    }
    assert.equal(found, 1, 'no short signature in 8000 tries');
  });
});

describe('GB/T 32918 (GM/T 0003.5) example on the recommended curve', () => {
  // The signature example of GB/T 32918.5 / GM/T 0003.5 (recommended 256-bit curve): private key d,
  // public key P, ID "1234567812345678", M = "message digest", random k = 59276E27…, and (r, s).
  const d = '3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8';
  const P = '0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13';
  const r = 'f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3';
  const s = 'b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa';
  const der = Buffer.from(`3046022100${r}022100${s}`, 'hex');
  it('P is d·G', () => assert.equal(sm2PublicKeyFromPrivate(d), P));
  it('(r, s) verifies with ID 1234567812345678, by @wxseal/gm and by openssl; not under another ID or message', () => {
    assert.equal(sm2Verify(P, 'message digest', der, { userId: '1234567812345678' }), true);
    assert.equal(sm2Verify(P, 'message digest', der), true);
    assert.equal(opensslVerifies(sm2PublicKeyToPem(P), Buffer.from('message digest'), der, '1234567812345678'), true);
    assert.equal(sm2Verify(P, 'message digest', der, { userId: 'ALICE123@YAHOO.COM' }), false);
    assert.equal(sm2Verify(P, 'message digesT', der), false);
    // The same (r, s) under a wrong outer length (0x45 for 70 bytes): sm-crypto-v2 alone accepted it.
    assert.equal(sm2Verify(P, 'message digest', Buffer.concat([Buffer.from([0x30, 0x45]), der.subarray(2)])), false);
  });
});
