// SM2 keys as PEM/DER against what OpenSSL 3 writes and reads: PKCS#8 and SubjectPublicKeyInfo
// (`openssl genpkey -algorithm SM2`, `openssl pkey -pubout`), SEC1 (`openssl ec`), and the key of an
// X.509 certificate signed with SM2/SM3 (`openssl req -x509`, as a WeChat Pay SM platform certificate).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isGmError,
  sm2GenerateKeyPair,
  sm2PrivateKeyFromDer,
  sm2PrivateKeyFromPem,
  sm2PrivateKeyToDer,
  sm2PrivateKeyToPem,
  sm2PublicKeyFromCertificate,
  sm2PublicKeyFromDer,
  sm2PublicKeyFromPem,
  sm2PublicKeyFromPrivate,
  sm2PublicKeyToDer,
  sm2PublicKeyToPem,
} from '../src/index.js';
import { file, openssl } from './openssl.js';

const keyInvalid = (fn: () => unknown): void => assert.throws(fn, (e) => isGmError(e, 'GM_KEY_INVALID'));

/** openssl's own view of an SM2 key: the private scalar and the public point, from `openssl pkey -text`. */
function opensslText(pem: string, pub = false): { priv?: string; pub: string } {
  const text = openssl(['pkey', ...(pub ? ['-pubin'] : []), '-noout', '-text'], Buffer.from(pem)).toString();
  assert.match(text, /ASN1 OID: SM2/);
  const block = (name: string): string | undefined => {
    const m = new RegExp(`${name}:\\n((?:\\s+[0-9a-f:]+\\n)+)`).exec(text);
    return m?.[1]!.replace(/[\s:]/g, '');
  };
  const privHex = block('priv');
  return { priv: privHex === undefined ? undefined : privHex.replace(/^00/, '').padStart(64, '0'), pub: block('pub')! };
}

describe('SM2 keys from OpenSSL', () => {
  const keyPem = openssl(['genpkey', '-algorithm', 'SM2']).toString();
  const pubPem = openssl(['pkey', '-pubout'], Buffer.from(keyPem)).toString();
  const seen = opensslText(keyPem);

  it('openssl genpkey -algorithm SM2 writes PKCS#8 with id-ecPublicKey and the SM2 curve OID; ours reads the scalar openssl prints', () => {
    const asn1 = openssl(['asn1parse'], Buffer.from(keyPem)).toString();
    assert.match(asn1, /OBJECT\s+:id-ecPublicKey/);
    assert.match(asn1, /OBJECT\s+:sm2/);
    assert.equal(sm2PrivateKeyFromPem(keyPem), seen.priv);
    assert.equal(sm2PublicKeyFromPrivate(sm2PrivateKeyFromPem(keyPem)), seen.pub);
  });
  it('the public key PEM (openssl pkey -pubout) gives the point openssl prints', () => {
    assert.equal(sm2PublicKeyFromPem(pubPem), seen.pub);
    assert.equal(opensslText(pubPem, true).pub, seen.pub);
  });
  it('ours writes back byte for byte what openssl wrote (PKCS#8 and SubjectPublicKeyInfo)', () => {
    assert.equal(sm2PrivateKeyToPem(sm2PrivateKeyFromPem(keyPem)), keyPem);
    assert.equal(sm2PublicKeyToPem(sm2PublicKeyFromPem(pubPem)), pubPem);
  });
  it('SEC1 from openssl ec ("SM2 PRIVATE KEY" on OpenSSL 3), also under the "EC PRIVATE KEY" label, and without the public key', () => {
    const sec1 = openssl(['ec'], Buffer.from(keyPem)).toString();
    assert.match(sec1, /-----BEGIN SM2 PRIVATE KEY-----/);
    assert.equal(sm2PrivateKeyFromPem(sec1), seen.priv);
    assert.equal(sm2PrivateKeyFromPem(sec1.replace(/SM2 PRIVATE KEY/g, 'EC PRIVATE KEY')), seen.priv);
    const noPub = openssl(['ec', '-no_public'], Buffer.from(keyPem)).toString();
    assert.equal(sm2PrivateKeyFromPem(noPub), seen.priv);
  });
  it('DER in and out: PKCS#8 (openssl pkcs8 -topk8), SEC1 (what openssl pkey -outform DER writes for SM2), SubjectPublicKeyInfo', () => {
    const pkcs8 = openssl(['pkcs8', '-topk8', '-nocrypt', '-outform', 'DER'], Buffer.from(keyPem));
    assert.equal(sm2PrivateKeyFromDer(pkcs8), seen.priv);
    assert.deepEqual(sm2PrivateKeyToDer(seen.priv!), pkcs8);
    const sec1 = openssl(['pkey', '-outform', 'DER'], Buffer.from(keyPem));
    assert.match(openssl(['asn1parse', '-inform', 'DER'], sec1).toString(), /^\s*0:d=0.*SEQUENCE\s+2:d=1.*INTEGER\s+:01\s+5:d=1.*OCTET STRING/s);
    assert.equal(sm2PrivateKeyFromDer(sec1), seen.priv);
    const pubDer = openssl(['pkey', '-pubout', '-outform', 'DER'], Buffer.from(keyPem));
    assert.equal(sm2PublicKeyFromDer(pubDer), seen.pub);
    assert.deepEqual(sm2PublicKeyToDer(seen.pub), pubDer);
  });
});

describe('SM2 keys written by @wxseal/gm, read by OpenSSL', () => {
  it('openssl reads our PKCS#8 and SubjectPublicKeyInfo as the same SM2 key', () => {
    for (let i = 0; i < 5; i++) {
      const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
      const seen = opensslText(sm2PrivateKeyToPem(privateKeyHex));
      assert.equal(seen.priv, privateKeyHex);
      assert.equal(seen.pub, publicKeyHex);
      assert.equal(opensslText(sm2PublicKeyToPem(publicKeyHex), true).pub, publicKeyHex);
    }
  });
  it('a private scalar with leading zero bytes keeps its 32 bytes', () => {
    const d = `0000${'1'.repeat(60)}`;
    assert.equal(opensslText(sm2PrivateKeyToPem(d)).priv, d);
    assert.equal(sm2PrivateKeyFromPem(sm2PrivateKeyToPem(d)), d);
  });
});

describe('the SM2 public key of an X.509 certificate', () => {
  const keyPem = openssl(['genpkey', '-algorithm', 'SM2']).toString();
  const pub = sm2PublicKeyFromPrivate(sm2PrivateKeyFromPem(keyPem));
  const cert = openssl(['req', '-new', '-x509', '-key', file(keyPem, 'key.pem'), '-subj', '/CN=wxseal SM2 test/O=Tenpay.com', '-days', '2', '-sm3', '-sigopt', 'distid:1234567812345678']).toString();

  it('from a certificate signed with SM2-with-SM3 (openssl req -x509), PEM and DER', () => {
    assert.match(openssl(['x509', '-noout', '-text'], Buffer.from(cert)).toString(), /SM2-with-SM3/);
    assert.equal(sm2PublicKeyFromCertificate(cert), pub);
    assert.equal(sm2PublicKeyFromCertificate(openssl(['x509', '-outform', 'DER'], Buffer.from(cert))), pub);
  });
  it('an RSA or P-256 certificate, or no certificate: GM_KEY_INVALID', () => {
    for (const alg of [['-newkey', 'rsa:2048'], ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']]) {
      const other = openssl(['req', '-new', '-x509', ...alg, '-nodes', '-keyout', file('', 'k'), '-subj', '/CN=x', '-days', '1']).toString();
      keyInvalid(() => sm2PublicKeyFromCertificate(other));
    }
    keyInvalid(() => sm2PublicKeyFromCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'));
    keyInvalid(() => sm2PublicKeyFromCertificate(keyPem));
  });
});

describe('keys that are not SM2 keys, or not well formed: GM_KEY_INVALID', () => {
  it('P-256, secp256k1, RSA and Ed25519 keys', () => {
    for (const args of [['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], ['-algorithm', 'ED25519']]) {
      const pem = openssl(['genpkey', ...args]).toString();
      keyInvalid(() => sm2PrivateKeyFromPem(pem));
      keyInvalid(() => sm2PublicKeyFromPem(openssl(['pkey', '-pubout'], Buffer.from(pem)).toString()));
    }
    const p256sec1 = openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout']).toString();
    keyInvalid(() => sm2PrivateKeyFromPem(p256sec1));
  });
  it('an encrypted PKCS#8 key, a PEM of another kind, not PEM at all', () => {
    const keyPem = openssl(['genpkey', '-algorithm', 'SM2']).toString();
    const encrypted = openssl(['pkey', '-aes-128-cbc', '-passout', 'pass:secret'], Buffer.from(keyPem)).toString();
    assert.match(encrypted, /ENCRYPTED PRIVATE KEY/);
    assert.throws(() => sm2PrivateKeyFromPem(encrypted), (e) => isGmError(e, 'GM_KEY_INVALID') && /encrypted/.test((e as Error).message));
    keyInvalid(() => sm2PrivateKeyFromPem(openssl(['pkey', '-pubout'], Buffer.from(keyPem)).toString()));
    keyInvalid(() => sm2PublicKeyFromPem(keyPem));
    keyInvalid(() => sm2PrivateKeyFromPem('hello'));
  });
  it('altered DER: trailing data, a public key that is not the scalar\'s, a point off the curve, a scalar out of range', () => {
    const { privateKeyHex, publicKeyHex } = sm2GenerateKeyPair();
    const der = sm2PrivateKeyToDer(privateKeyHex);
    keyInvalid(() => sm2PrivateKeyFromDer(Buffer.concat([der, Buffer.from([0])])));
    keyInvalid(() => sm2PrivateKeyFromDer(der.subarray(0, der.length - 1)));
    const otherPub = Buffer.from(sm2GenerateKeyPair().publicKeyHex, 'hex');
    const mismatched = Buffer.concat([der.subarray(0, der.length - 65), otherPub]);
    keyInvalid(() => sm2PrivateKeyFromDer(mismatched));
    const spki = sm2PublicKeyToDer(publicKeyHex);
    const offCurve = Buffer.from(spki);
    offCurve[offCurve.length - 1]! ^= 1;
    keyInvalid(() => sm2PublicKeyFromDer(offCurve));
    keyInvalid(() => sm2PublicKeyToPem(`04${'00'.repeat(64)}`));
    keyInvalid(() => sm2PrivateKeyToPem('00'.repeat(32)));
    keyInvalid(() => sm2PrivateKeyToPem('fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54122'));
    keyInvalid(() => sm2PrivateKeyToPem('abc'));
  });
});
