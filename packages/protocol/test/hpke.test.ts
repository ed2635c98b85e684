// HPKE (RFC 9180) base mode as the X25519 suite uses it (SPEC.md 6.5): the RFC's own vectors, and a
// cross-check against an independent implementation (@hpke/core with @hpke/dhkem-x25519, whose
// X25519 is JavaScript, not OpenSSL).
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Aes256Gcm, CipherSuite } from '@hpke/core';
import { DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/dhkem-x25519';
import {
  HPKE_IDS,
  hpkeContextOpen,
  hpkeContextSeal,
  hpkeDecap,
  hpkeDeriveKeyPair,
  hpkeEncap,
  hpkeExport,
  hpkeKeySchedule,
  hpkeNonce,
  hpkeOpen,
  hpkeSeal,
  x25519PrivateKeyFromRaw,
  x25519PublicKeyFromRaw,
  x25519RawPrivateKey,
  x25519RawPublicKey,
} from '@wxseal/protocol/primitives';

const hex = (s: string) => Buffer.from(s, 'hex');
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
// A copy in its own ArrayBuffer: Node's small Buffers share a pool, which @hpke reads whole.
const own = (b: Uint8Array) => new Uint8Array(b);

/**
 * RFC 9180 appendix A.1.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, mode_base),
 * https://www.rfc-editor.org/rfc/rfc9180#appendix-A.1.1: the published values, unchanged.
 */
const A11 = {
  mode: 0,
  kemId: 32,
  kdfId: 1,
  aeadId: 1,
  info: '4f6465206f6e2061204772656369616e2055726e',
  ikmE: '7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234',
  pkEm: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  skEm: '52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736',
  ikmR: '6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037',
  pkRm: '3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d',
  skRm: '4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8',
  enc: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  sharedSecret: 'fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc',
  keyScheduleContext:
    '00725611c9d98c07c03f60095cd32d400d8347d45ed67097bbad50fc56da742d07cb6cffde367bb0565ba28bb02c90744a20f5ef37f30523526106f637abb05449',
  secret: '12fff91991e93b48de37e7daddb52981084bd8aa64289c3788471d9a9712f397',
  key: '4531685d41d65f03dc48f6b8302c05b0',
  baseNonce: '56d890e5accaaf011cff4b7d',
  exporterSecret: '45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8',
  /** A.1.1.1 Encryptions: the same plaintext at several sequence numbers. */
  pt: '4265617574792069732074727574682c20747275746820626561757479',
  encryptions: [
    { seq: 0, aad: '436f756e742d30', nonce: '56d890e5accaaf011cff4b7d', ct: 'f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a' },
    { seq: 1, aad: '436f756e742d31', nonce: '56d890e5accaaf011cff4b7c', ct: 'af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84' },
    { seq: 2, aad: '436f756e742d32', nonce: '56d890e5accaaf011cff4b7f', ct: '498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180' },
    { seq: 4, aad: '436f756e742d34', nonce: '56d890e5accaaf011cff4b79', ct: '583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa251c0246d' },
    { seq: 255, aad: '436f756e742d323535', nonce: '56d890e5accaaf011cff4b82', ct: '7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9e0a' },
    { seq: 256, aad: '436f756e742d323536', nonce: '56d890e5accaaf011cff4a7d', ct: '957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df9f2' },
  ],
  /** A.1.1.2 Exported Values (L = 32). */
  exports: [
    { context: '', value: '3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee' },
    { context: '00', value: '2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5' },
    { context: '54657374436f6e74657874', value: 'e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931' },
  ],
};

describe('RFC 9180 appendix A.1.1 (X25519, HKDF-SHA256, AES-128-GCM, base mode)', () => {
  test('the suite identifiers', () => {
    assert.equal(HPKE_IDS.kemX25519HkdfSha256, A11.kemId);
    assert.equal(HPKE_IDS.kdfHkdfSha256, A11.kdfId);
    assert.equal(HPKE_IDS.aeadAes128Gcm, A11.aeadId);
    assert.equal(HPKE_IDS.aeadAes256Gcm, 2);
  });

  test('DeriveKeyPair gives both published key pairs', () => {
    const e = hpkeDeriveKeyPair(hex(A11.ikmE));
    assert.equal(toHex(x25519RawPrivateKey(e.privateKey)), A11.skEm);
    assert.equal(toHex(x25519RawPublicKey(e.publicKey)), A11.pkEm);
    const r = hpkeDeriveKeyPair(hex(A11.ikmR));
    assert.equal(toHex(x25519RawPrivateKey(r.privateKey)), A11.skRm);
    assert.equal(toHex(x25519RawPublicKey(r.publicKey)), A11.pkRm);
  });

  test('Encap with the published ephemeral key, and Decap, give enc and shared_secret', () => {
    const { enc, sharedSecret } = hpkeEncap(x25519PublicKeyFromRaw(hex(A11.pkRm)), x25519PrivateKeyFromRaw(hex(A11.skEm)));
    assert.equal(toHex(enc), A11.enc);
    assert.equal(toHex(sharedSecret), A11.sharedSecret);
    assert.equal(toHex(hpkeDecap(hex(A11.enc), x25519PrivateKeyFromRaw(hex(A11.skRm)))), A11.sharedSecret);
  });

  test('the key schedule gives key_schedule_context, secret, key, base_nonce, exporter_secret', () => {
    const c = hpkeKeySchedule('aes-128-gcm', hex(A11.sharedSecret), hex(A11.info));
    assert.equal(toHex(c.keyScheduleContext), A11.keyScheduleContext);
    assert.equal(toHex(c.secret), A11.secret);
    assert.equal(toHex(c.key), A11.key);
    assert.equal(toHex(c.baseNonce), A11.baseNonce);
    assert.equal(toHex(c.exporterSecret), A11.exporterSecret);
  });

  test('the encryptions at each published sequence number, and their opening', () => {
    const c = hpkeKeySchedule('aes-128-gcm', hex(A11.sharedSecret), hex(A11.info));
    for (const e of A11.encryptions) {
      assert.equal(toHex(hpkeNonce(c, e.seq)), e.nonce, `nonce ${e.seq}`);
      assert.equal(toHex(hpkeContextSeal(c, e.seq, hex(e.aad), hex(A11.pt))), e.ct, `ct ${e.seq}`);
      assert.equal(toHex(hpkeContextOpen(c, e.seq, hex(e.aad), hex(e.ct))), A11.pt);
    }
  });

  test('the single-shot Seal with the published ephemeral key is the first encryption; Open reverses it', () => {
    const first = A11.encryptions[0]!;
    const sealed = hpkeSeal({
      aead: 'aes-128-gcm',
      recipientPublicKey: x25519PublicKeyFromRaw(hex(A11.pkRm)),
      info: hex(A11.info),
      aad: hex(first.aad),
      plaintext: hex(A11.pt),
      ephemeralPrivateKey: hpkeDeriveKeyPair(hex(A11.ikmE)).privateKey,
    });
    assert.equal(toHex(sealed.enc), A11.enc);
    assert.equal(toHex(sealed.ciphertext), first.ct);
    const opened = hpkeOpen({ aead: 'aes-128-gcm', recipientPrivateKey: x25519PrivateKeyFromRaw(hex(A11.skRm)), enc: hex(A11.enc), info: hex(A11.info), aad: hex(first.aad), ciphertext: hex(first.ct) });
    assert.equal(toHex(opened), A11.pt);
  });

  test('the exported values', () => {
    const c = hpkeKeySchedule('aes-128-gcm', hex(A11.sharedSecret), hex(A11.info));
    for (const x of A11.exports) assert.equal(toHex(hpkeExport(c, hex(x.context), 32)), x.value);
  });
});

describe('HPKE failures', () => {
  const r = generateKeyPairSync('x25519');
  const sealed = hpkeSeal({ aead: 'aes-256-gcm', recipientPublicKey: r.publicKey, info: Buffer.from('i'), aad: Buffer.alloc(0), plaintext: randomBytes(32) });
  const open = (o: Partial<Parameters<typeof hpkeOpen>[0]>) =>
    hpkeOpen({ aead: 'aes-256-gcm', recipientPrivateKey: r.privateKey, enc: sealed.enc, info: Buffer.from('i'), aad: Buffer.alloc(0), ciphertext: sealed.ciphertext, ...o });

  test('opens with the right inputs, and with nothing else', () => {
    assert.equal(open({}).length, 32);
    assert.throws(() => open({ recipientPrivateKey: generateKeyPairSync('x25519').privateKey }));
    assert.throws(() => open({ info: Buffer.from('j') }));
    assert.throws(() => open({ aad: Buffer.from('a') }));
    assert.throws(() => open({ aead: 'aes-128-gcm' }));
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[0]! ^= 1;
    assert.throws(() => open({ ciphertext: flipped }));
    const enc = Buffer.from(sealed.enc);
    enc[5]! ^= 1;
    assert.throws(() => open({ enc }));
    assert.throws(() => open({ enc: sealed.enc.subarray(1) }));
    assert.throws(() => open({ ciphertext: sealed.ciphertext.subarray(0, 15) }));
  });

  test('a low-order public key (all-zero shared secret) is refused (RFC 9180 7.1.4)', () => {
    assert.throws(() => open({ enc: Buffer.alloc(32) }));
    assert.throws(() => hpkeEncap(x25519PublicKeyFromRaw(Buffer.alloc(32))));
  });

  test('only X25519 keys are accepted', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    assert.throws(() => hpkeEncap(rsa.publicKey), /X25519/);
    assert.throws(() => open({ recipientPrivateKey: rsa.privateKey }), /X25519/);
    assert.throws(() => hpkeEncap(r.publicKey, r.publicKey), /private key/);
  });
});

describe('cross-check with @hpke/core and @hpke/dhkem-x25519 (AES-256-GCM)', () => {
  const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
  const info = Buffer.from('wxseal-v1 session key', 'latin1');

  test('@hpke seals to our key, we open', async () => {
    for (let i = 0; i < 8; i++) {
      const r = generateKeyPairSync('x25519');
      const pt = randomBytes(i * 7);
      const aad = randomBytes(i % 3 === 0 ? 0 : 11);
      const recipientPublicKey = await suite.kem.deserializePublicKey(own(x25519RawPublicKey(r.publicKey)));
      const { enc, ct } = await suite.seal({ recipientPublicKey, info: own(info) }, own(pt), own(aad));
      const opened = hpkeOpen({ aead: 'aes-256-gcm', recipientPrivateKey: r.privateKey, enc: new Uint8Array(enc), info, aad, ciphertext: new Uint8Array(ct) });
      assert.deepEqual(opened, pt);
    }
  });

  test('we seal, @hpke opens', async () => {
    for (let i = 0; i < 8; i++) {
      const r = generateKeyPairSync('x25519');
      const pt = randomBytes(32 + i);
      const aad = randomBytes(i % 2 === 0 ? 0 : 5);
      const { enc, ciphertext } = hpkeSeal({ aead: 'aes-256-gcm', recipientPublicKey: r.publicKey, info, aad, plaintext: pt });
      const recipientKey = await suite.kem.deserializePrivateKey(own(x25519RawPrivateKey(r.privateKey)));
      const opened = await suite.open({ recipientKey, enc: own(enc), info: own(info) }, own(ciphertext), own(aad));
      assert.deepEqual(Buffer.from(opened), pt);
    }
  });

  test('the same ephemeral key gives the same enc and ciphertext in both', async () => {
    const r = generateKeyPairSync('x25519');
    const ikm = randomBytes(32);
    const ephemeral = hpkeDeriveKeyPair(ikm);
    const pt = randomBytes(32);
    const ours = hpkeSeal({ aead: 'aes-256-gcm', recipientPublicKey: r.publicKey, info, aad: Buffer.alloc(0), plaintext: pt, ephemeralPrivateKey: ephemeral.privateKey });
    const ekm = await suite.kem.deriveKeyPair(ikm);
    const recipientPublicKey = await suite.kem.deserializePublicKey(own(x25519RawPublicKey(r.publicKey)));
    const theirs = await suite.seal({ recipientPublicKey, info: own(info), ekm }, own(pt));
    assert.equal(toHex(ours.enc), toHex(new Uint8Array(theirs.enc)));
    assert.equal(toHex(ours.ciphertext), toHex(new Uint8Array(theirs.ct)));
  });

  test('the exporter agrees', async () => {
    const r = generateKeyPairSync('x25519');
    const recipientPublicKey = await suite.kem.deserializePublicKey(own(x25519RawPublicKey(r.publicKey)));
    const sender = await suite.createSenderContext({ recipientPublicKey, info: own(info) });
    const theirs = await sender.export(Buffer.from('ctx'), 42);
    const ours = hpkeExport(hpkeKeySchedule('aes-256-gcm', hpkeDecap(new Uint8Array(sender.enc), r.privateKey), info), Buffer.from('ctx'), 42);
    assert.equal(toHex(ours), toHex(new Uint8Array(theirs)));
  });
});
