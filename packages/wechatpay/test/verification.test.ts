// Response/notification verification: key selection, probes, clock window, tampering.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  certificateSerialKey,
  createVerificationKeySet,
  normalizeCertificateSerial,
  platformCertificateKey,
  readSignatureHeaders,
  selectVerificationKey,
  signResponse,
  verifySignature,
  wechatPayPublicKey,
} from '@wxseal/wechatpay';
import { TEST_PUB_KEY_ID, code, goNotify, javaKeys } from './helpers.js';

const NOW = 1_700_000_000;
const certKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const CERT_SERIAL = '3775B6A45ACD588826D15E583A95F5DD2C5E0000';
const certEntry = certificateSerialKey(CERT_SERIAL, certKeys.publicKey);
// public-key mode: the java SDK's published WeChat Pay test key pair
const pubEntry = wechatPayPublicKey(TEST_PUB_KEY_ID, javaKeys.wechatpay.publicKeyPem);
const keys = createVerificationKeySet([certEntry, pubEntry]);
const body = '{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}';

function signedByCert(b = body, timestamp: number = NOW) {
  return signResponse({ body: b, privateKey: certKeys.privateKey, serial: CERT_SERIAL, timestamp, requestId: '08F78BB5AF0610D302A2AE8CE0E3C2FF' });
}
function signedByPubKey(b = body, timestamp: number = NOW) {
  return signResponse({ body: b, privateKey: javaKeys.wechatpay.privateKeyPem, serial: TEST_PUB_KEY_ID, timestamp });
}

describe('key selection by Wechatpay-Serial', () => {
  test('a certificate serial selects the certificate, PUB_KEY_ID_ the public key, both held at once', () => {
    assert.equal(verifySignature({ headers: signedByCert(), body, keys, nowSeconds: NOW }).keyKind, 'certificate');
    const v = verifySignature({ headers: signedByPubKey(), body, keys, nowSeconds: NOW });
    assert.equal(v.keyKind, 'public-key');
    assert.equal(v.serial, TEST_PUB_KEY_ID);
  });
  test('the request id is passed through', () => {
    assert.equal(verifySignature({ headers: signedByCert(), body, keys, nowSeconds: NOW }).requestId, '08F78BB5AF0610D302A2AE8CE0E3C2FF');
  });
  test('certificate serials compare case-insensitively and without leading zeros', () => {
    const h = { ...signedByCert(), 'Wechatpay-Serial': CERT_SERIAL.toLowerCase() };
    assert.equal(verifySignature({ headers: h, body, keys, nowSeconds: NOW }).keyKind, 'certificate');
    assert.equal(normalizeCertificateSerial('00ab'), 'AB');
    assert.equal(selectVerificationKey(keys, `00${CERT_SERIAL}`), certEntry);
  });
  test('PUB_KEY_ID_ ids are exact (not case-folded) and never match a certificate', () => {
    assert.throws(() => selectVerificationKey(keys, TEST_PUB_KEY_ID.replace('PUB_KEY_ID_', 'PUB_KEY_ID_9')), code('WECHATPAY_UNKNOWN_SERIAL'));
    assert.throws(() => selectVerificationKey(keys, TEST_PUB_KEY_ID.toLowerCase()), code('WECHATPAY_MALFORMED'));
    assert.throws(() => selectVerificationKey([pubEntry], CERT_SERIAL), code('WECHATPAY_UNKNOWN_SERIAL'));
    assert.throws(() => selectVerificationKey([certEntry], TEST_PUB_KEY_ID), code('WECHATPAY_UNKNOWN_SERIAL'));
  });
  test('a signature made with the public-key-mode key but labelled with the certificate serial fails', () => {
    const h = { ...signedByPubKey(), 'Wechatpay-Serial': CERT_SERIAL };
    assert.throws(() => verifySignature({ headers: h, body, keys, nowSeconds: NOW }), code('WECHATPAY_BAD_SIGNATURE'));
    const h2 = { ...signedByCert(), 'Wechatpay-Serial': TEST_PUB_KEY_ID };
    assert.throws(() => verifySignature({ headers: h2, body, keys, nowSeconds: NOW }), code('WECHATPAY_BAD_SIGNATURE'));
  });
  test('an unknown serial has its own code (refresh certificates once, then retry)', () => {
    const h = { ...signedByCert(), 'Wechatpay-Serial': '5157F09EFDC096DE15EBE81A47057A7232F1B8E1' };
    assert.throws(() => verifySignature({ headers: h, body, keys, nowSeconds: NOW }), code('WECHATPAY_UNKNOWN_SERIAL'));
    assert.throws(() => verifySignature({ headers: signedByCert(), body, keys: [], nowSeconds: NOW }), code('WECHATPAY_UNKNOWN_SERIAL'));
  });
  test('duplicate keys are refused', () => {
    assert.throws(() => createVerificationKeySet([certEntry, certificateSerialKey(CERT_SERIAL.toLowerCase(), certKeys.publicKey)]), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => createVerificationKeySet([pubEntry, pubEntry]), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => wechatPayPublicKey('PUB_KEY_0001', javaKeys.wechatpay.publicKeyPem), code('WECHATPAY_BAD_ARGUMENT'));
  });
  test('weak keys are refused', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    assert.throws(() => certificateSerialKey('01', weak.publicKey), code('WECHATPAY_BAD_ARGUMENT'));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(() => certificateSerialKey('01', ec.publicKey), code('WECHATPAY_BAD_ARGUMENT'));
  });
});

describe('probe signatures (WECHATPAY/SIGNTEST/)', () => {
  test('fail with the probe code, whatever the key set', () => {
    for (const h of [signedByCert(), signedByPubKey()]) {
      const probe = { ...h, 'Wechatpay-Signature': `WECHATPAY/SIGNTEST/${h['Wechatpay-Signature']}` };
      assert.throws(() => verifySignature({ headers: probe, body, keys, nowSeconds: NOW }), code('WECHATPAY_PROBE_SIGNATURE'));
    }
    const bare = { ...signedByCert(), 'Wechatpay-Signature': 'WECHATPAY/SIGNTEST/' };
    assert.throws(() => verifySignature({ headers: bare, body, keys, nowSeconds: NOW }), code('WECHATPAY_PROBE_SIGNATURE'));
  });
});

describe('timestamp window (±300 s, injectable clock)', () => {
  test('±300 s is accepted, 301 s either way is not', () => {
    const h = signedByCert();
    for (const d of [-300, -1, 0, 1, 300]) verifySignature({ headers: h, body, keys, nowSeconds: NOW + d });
    for (const d of [-301, 301, 86_400]) assert.throws(() => verifySignature({ headers: h, body, keys, nowSeconds: NOW + d }), code('WECHATPAY_TIMESTAMP_EXPIRED'));
  });
  test('the window is configurable', () => {
    assert.throws(() => verifySignature({ headers: signedByCert(), body, keys, nowSeconds: NOW + 61, windowSeconds: 60 }), code('WECHATPAY_TIMESTAMP_EXPIRED'));
  });
  test('the expiry check runs before key lookup (a stale message never triggers a certificate refresh)', () => {
    const h = { ...signedByCert(), 'Wechatpay-Serial': 'ABCDEF' };
    assert.throws(() => verifySignature({ headers: h, body, keys, nowSeconds: NOW + 1000 }), code('WECHATPAY_TIMESTAMP_EXPIRED'));
  });
  test('a platform certificate outside its validity fails even with a good signature', () => {
    const cert = platformCertificateKey(goNotify.certificatePem); // valid 2021-04-27 .. 2031-04-25
    assert.ok(cert.validTo);
    const late = Math.floor(cert.validTo.getTime() / 1000) + 3600;
    assert.throws(
      () => verifySignature({ headers: { ...goNotify.headers, 'Wechatpay-Timestamp': String(late) }, body: goNotify.body, keys: [cert], nowSeconds: late }),
      code('WECHATPAY_CERTIFICATE_EXPIRED'),
    );
  });
});

describe('tampering and malformed headers', () => {
  test('any flipped body byte fails (raw bytes, not a re-serialisation)', () => {
    const h = signedByCert();
    const raw = Buffer.from(body);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: raw.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const t = Buffer.from(raw);
        t[i] = (t[i] ?? 0) ^ x;
        assert.throws(() => verifySignature({ headers: h, body: t, keys, nowSeconds: NOW }), code('WECHATPAY_BAD_SIGNATURE'));
      }),
      { numRuns: 50 },
    );
    const reserialised = JSON.stringify(JSON.parse(body), null, 1);
    assert.throws(() => verifySignature({ headers: h, body: reserialised, keys, nowSeconds: NOW }), code('WECHATPAY_BAD_SIGNATURE'));
  });
  test('tampered nonce, timestamp or signature fail', () => {
    const h = signedByCert();
    assert.throws(() => verifySignature({ headers: { ...h, 'Wechatpay-Nonce': `${h['Wechatpay-Nonce']}x` }, body, keys, nowSeconds: NOW }), code('WECHATPAY_BAD_SIGNATURE'));
    assert.throws(() => verifySignature({ headers: { ...h, 'Wechatpay-Timestamp': String(NOW + 1) }, body, keys, nowSeconds: NOW }), code('WECHATPAY_BAD_SIGNATURE'));
    const sig = Buffer.from(h['Wechatpay-Signature'], 'base64');
    sig[10] = (sig[10] ?? 0) ^ 1;
    assert.throws(() => verifySignature({ headers: { ...h, 'Wechatpay-Signature': sig.toString('base64') }, body, keys, nowSeconds: NOW }), code('WECHATPAY_BAD_SIGNATURE'));
  });
  test('header lookup is case-insensitive; fetch Headers work too', () => {
    const h = signedByCert();
    const upper = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toUpperCase(), v]));
    verifySignature({ headers: upper, body, keys, nowSeconds: NOW });
    verifySignature({ headers: new Headers(h), body, keys, nowSeconds: NOW });
  });
  test('missing, repeated, over-long and malformed headers', () => {
    const h: Record<string, string | string[]> = { ...signedByCert() };
    for (const name of ['Wechatpay-Timestamp', 'Wechatpay-Nonce', 'Wechatpay-Signature', 'Wechatpay-Serial']) {
      const { [name]: _omit, ...rest } = h;
      assert.throws(() => readSignatureHeaders(rest), code('WECHATPAY_MISSING_HEADER'));
    }
    assert.throws(() => readSignatureHeaders({ ...h, 'wechatpay-nonce': 'other' }), code('WECHATPAY_MISSING_HEADER'));
    assert.throws(() => readSignatureHeaders({ ...h, 'Wechatpay-Nonce': ['a', 'b'] }), code('WECHATPAY_MISSING_HEADER'));
    assert.throws(() => readSignatureHeaders({ ...h, 'Wechatpay-Signature': 'A'.repeat(4096) }), code('WECHATPAY_MALFORMED'));
    assert.throws(() => readSignatureHeaders({ ...h, 'Wechatpay-Timestamp': '-1' }), code('WECHATPAY_MALFORMED'));
    assert.throws(() => readSignatureHeaders({ ...h, 'Wechatpay-Timestamp': '1.5' }), code('WECHATPAY_MALFORMED'));
    assert.throws(() => readSignatureHeaders({ ...h, 'Wechatpay-Nonce': 'a\nb' }), code('WECHATPAY_MALFORMED'));
    assert.throws(() => readSignatureHeaders({ ...h, 'Wechatpay-Serial': 'AB CD' }), code('WECHATPAY_MALFORMED'));
    assert.throws(() => verifySignature({ headers: { ...h, 'Wechatpay-Signature': 'not base64!' }, body, keys, nowSeconds: NOW }), code('WECHATPAY_MALFORMED'));
    assert.throws(() => verifySignature({ headers: { ...h, 'Wechatpay-Serial': 'XYZ' }, body, keys, nowSeconds: NOW }), code('WECHATPAY_MALFORMED'));
  });
  test('an unexpected Wechatpay-Signature-Type is refused', () => {
    const h = { ...signedByCert(), 'Wechatpay-Signature-Type': 'WECHATPAY2-SM2-WITH-SM3' };
    assert.throws(() => verifySignature({ headers: h, body, keys, nowSeconds: NOW }), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
  });
  test('property: sign → verify round-trips for arbitrary bodies and both key kinds', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 300 })), fc.boolean(), (b, usePub) => {
        const h = usePub
          ? signResponse({ body: b, privateKey: javaKeys.wechatpay.privateKeyPem, serial: TEST_PUB_KEY_ID, timestamp: NOW })
          : signResponse({ body: b, privateKey: certKeys.privateKey, serial: CERT_SERIAL, timestamp: NOW });
        assert.equal(verifySignature({ headers: h, body: b, keys, nowSeconds: NOW }).keyKind, usePub ? 'public-key' : 'certificate');
      }),
      { numRuns: 30 },
    );
  });
});
