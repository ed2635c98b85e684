// Known-answer tests from the official SDKs' own test suites (fixtures/*.json name each source).
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  buildAuthorization,
  certificateVerificationKey,
  decryptAead,
  decryptAesGcmAnyKeyLength,
  decryptCertificateList,
  decryptSensitive,
  encryptAead,
  encryptAesGcmAnyKeyLength,
  parseAuthorization,
  parseNotification,
  platformCertificateKey,
  signMessage,
  signRequest,
  verifyMessage,
  verifySignature,
  wechatPayPublicKey,
  x509Serial,
} from '@wxseal/wechatpay';
import { TEST_PUB_KEY_ID, code, goNotify, goSigner, javaAead, javaCerts, javaKeys } from './helpers.js';

describe('wechatpay-go core/auth/signers/sha256withrsa_signer_test.go', () => {
  test('SHA256withRSA over "source" with the test key gives the published signature', () => {
    assert.equal(signMessage(goSigner.message, goSigner.privateKeyPem), goSigner.signature);
  });
  test('the published signature verifies with the public key; the go notify certificate carries that key', () => {
    const pub = createPublicKey(createPrivateKey(goSigner.privateKeyPem));
    assert.ok(verifyMessage(goSigner.message, goSigner.signature, pub));
    assert.ok(verifyMessage(goSigner.message, goSigner.signature, goNotify.certificatePem));
    assert.ok(new X509Certificate(goNotify.certificatePem).publicKey.equals(pub));
  });
  test('a request signed with the test key carries mchid and serial in the Authorization header', () => {
    const r = signRequest({
      mchid: goSigner.mchid,
      serialNo: goSigner.serialNo,
      privateKey: goSigner.privateKeyPem,
      method: 'GET',
      url: '/v3/certificates',
      timestamp: 1554208460,
      nonce: '593BEC0C930BF1AFEB40B4A08C8FB242',
    });
    assert.equal(r.message, 'GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n');
    assert.equal(
      r.authorization,
      `WECHATPAY2-SHA256-RSA2048 mchid="${goSigner.mchid}",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="${r.signature}",timestamp="1554208460",serial_no="${goSigner.serialNo}"`,
    );
    assert.deepEqual(parseAuthorization(r.authorization), { mchid: goSigner.mchid, nonce_str: '593BEC0C930BF1AFEB40B4A08C8FB242', signature: r.signature, timestamp: '1554208460', serial_no: goSigner.serialNo });
    assert.equal(buildAuthorization(parseAuthorization(r.authorization)), r.authorization);
  });
});

describe('wechatpay-go core/notify/notify_test.go (16-byte key: AES-128-GCM)', () => {
  const cert = platformCertificateKey(goNotify.certificatePem);
  const key16 = Buffer.from(goNotify.apiV3Key, 'utf8');

  test('the certificate serial is the Wechatpay-Serial of the vector', () => {
    assert.equal(cert.serial, goNotify.certificateSerial);
    assert.equal(goNotify.headers['Wechatpay-Serial'], goNotify.certificateSerial);
  });
  test('the notification signature verifies over the raw body at the patched clock', () => {
    const v = verifySignature({ headers: goNotify.headers, body: goNotify.body, keys: [cert], nowSeconds: goNotify.nowSeconds });
    assert.deepEqual(v, { timestamp: 1624523846, nonce: goNotify.headers['Wechatpay-Nonce'], serial: 'D7CE59D1F522D701', keyKind: 'certificate' });
    // also as bytes, and with lower-cased header names
    const lower = Object.fromEntries(Object.entries(goNotify.headers).map(([k, v2]) => [k.toLowerCase(), v2]));
    verifySignature({ headers: lower, body: Buffer.from(goNotify.body, 'utf8'), keys: [cert], nowSeconds: goNotify.nowSeconds });
  });
  test('the resource decrypts through the explicit any-key-length path, not the production one', () => {
    const resource = (JSON.parse(goNotify.body) as { resource: { ciphertext: string; nonce: string; associated_data: string } }).resource;
    assert.equal(decryptAesGcmAnyKeyLength(key16, resource), goNotify.plaintext);
    assert.throws(() => decryptAead(goNotify.apiV3Key, resource), code('WECHATPAY_BAD_ARGUMENT'));
    assert.deepEqual(encryptAesGcmAnyKeyLength(key16, { plaintext: goNotify.plaintext, nonce: resource.nonce, associated_data: resource.associated_data }), {
      ciphertext: resource.ciphertext,
      nonce: resource.nonce,
      associated_data: resource.associated_data,
    });
  });
  test('parseNotification with that decryptor returns the published envelope and plaintext', () => {
    const { verified, notification } = parseNotification({
      headers: goNotify.headers,
      body: goNotify.body,
      keys: [cert],
      decrypt: (r) => decryptAesGcmAnyKeyLength(key16, r),
      nowSeconds: goNotify.nowSeconds,
    });
    assert.equal(verified.serial, 'D7CE59D1F522D701');
    assert.equal(notification.kind, 'other');
    const e = notification.envelope;
    const x = goNotify.expected;
    assert.deepEqual(
      { id: e.id, create_time: e.create_time, resource_type: e.resource_type, event_type: e.event_type, summary: e.summary, associated_data: e.resource.associated_data, original_type: e.resource.original_type },
      x,
    );
    assert.equal(notification.plaintext, goNotify.plaintext);
    assert.deepEqual(notification.resource, JSON.parse(goNotify.plaintext));
  });
  test('a clock one day later rejects the same notification', () => {
    assert.throws(
      () => verifySignature({ headers: goNotify.headers, body: goNotify.body, keys: [cert], nowSeconds: goNotify.nowSeconds + 86_400 }),
      code('WECHATPAY_TIMESTAMP_EXPIRED'),
    );
  });
});

describe('wechatpay-java AeadAesCipherTest (AEAD_AES_256_GCM)', () => {
  test('encryption gives the published ciphertext', () => {
    assert.deepEqual(encryptAead(javaAead.apiV3Key, { plaintext: javaAead.plaintext, nonce: javaAead.nonce, associated_data: javaAead.associated_data }), {
      ciphertext: javaAead.ciphertext,
      nonce: javaAead.nonce,
      associated_data: javaAead.associated_data,
    });
  });
  test('decryption gives the published plaintext', () => {
    assert.equal(decryptAead(javaAead.apiV3Key, javaAead), javaAead.plaintext);
    assert.equal(decryptAead(Buffer.from(javaAead.apiV3Key), javaAead), javaAead.plaintext);
  });
});

describe('wechatpay-java TestConfig DOWNLOAD_CERTIFICATE_RESPONSE (platform certificate download)', () => {
  test('decrypts to a certificate whose serial is the announced serial_no', () => {
    const [c, ...rest] = decryptCertificateList(javaCerts.responseBody, javaCerts.apiV3Key);
    assert.equal(rest.length, 0);
    assert.ok(c);
    assert.equal(c.serial, javaCerts.serial);
    assert.equal(x509Serial(c.x509), javaCerts.serial);
    assert.equal(c.validFrom.toISOString(), javaCerts.validFrom);
    assert.equal(c.validTo.toISOString(), javaCerts.validTo);
    assert.equal(c.effectiveTime, '2023-09-19T23:15:58+08:00');
    assert.equal(c.expireTime, '2028-09-17T23:15:58+08:00');
    assert.ok(c.pem.startsWith('-----BEGIN CERTIFICATE-----'));
    assert.equal(certificateVerificationKey(c).serial, javaCerts.serial);
  });
  test('the parsed object form gives the same result', () => {
    const parsed = JSON.parse(javaCerts.responseBody) as { data: unknown[] };
    assert.equal(decryptCertificateList(parsed, javaCerts.apiV3Key)[0]?.serial, javaCerts.serial);
  });
  test('a wrong APIv3 key fails authentication', () => {
    assert.throws(() => decryptCertificateList(javaCerts.responseBody, javaAead.apiV3Key.replace(/^a/, 'b')), code('WECHATPAY_DECRYPT_FAILED'));
  });
});

describe('wechatpay-java RSAVerifierTest / RSAPrivacyDecryptorTest / test keys', () => {
  test('the published signature of "message" is reproduced and verifies with the merchant certificate', () => {
    assert.equal(signMessage(javaKeys.signature.message, javaKeys.merchant.privateKeyPem), javaKeys.signature.signature);
    assert.ok(verifyMessage(javaKeys.signature.message, javaKeys.signature.signature, javaKeys.merchant.certificatePem));
    assert.equal(verifyMessage(javaKeys.signature.message, javaKeys.signature.signature, javaKeys.wechatpay.publicKeyPem), false);
  });
  test('the published RSA-OAEP(SHA-1) ciphertext decrypts to "plaintext"', () => {
    assert.equal(decryptSensitive(javaKeys.oaep.ciphertext, javaKeys.merchant.privateKeyPem), javaKeys.oaep.plaintext);
    assert.throws(() => decryptSensitive('MTIzNA==', javaKeys.merchant.privateKeyPem), code('WECHATPAY_DECRYPT_FAILED'));
  });
  test('certificate serials are the ones TestConfig names', () => {
    assert.equal(platformCertificateKey(javaKeys.merchant.certificatePem).serial, javaKeys.merchant.serial);
    assert.equal(platformCertificateKey(javaKeys.wechatpay.certificatePem).serial, javaKeys.wechatpay.certificateSerial);
  });
  test('the WeChat Pay public key PEM is the key of the WeChat Pay certificate (public key mode)', () => {
    const pk = wechatPayPublicKey(TEST_PUB_KEY_ID, javaKeys.wechatpay.publicKeyPem);
    assert.ok(pk.publicKey.equals(new X509Certificate(javaKeys.wechatpay.certificatePem).publicKey));
  });
});
