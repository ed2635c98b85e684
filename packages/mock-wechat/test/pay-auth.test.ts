// Pay side: request authentication exactly as WeChat Pay does, signed answers (certificate or public
// key), /v3/certificates, platform certificate rotation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decryptCertificateList, isPublicKeyId, isWechatPayError, normalizeCertificateSerial } from '@wxseal/wechatpay';
import { createMockPayMerchant, generateRsaKeyPair, startMockWechat, type MockPayMerchant, type MockWechat } from '@wxseal/mock-wechat';
import { payCall, payKeys, verifyAnswer } from './pay-helpers.js';

describe('WeChat Pay v3: authentication and signed answers', () => {
  let mock: MockWechat;
  let cert: MockPayMerchant;
  let pub: MockPayMerchant;
  let both: MockPayMerchant;

  before(async () => {
    [cert, pub, both] = await Promise.all([createMockPayMerchant(), createMockPayMerchant({ mode: 'public-key' }), createMockPayMerchant({ mode: 'both' })]);
    mock = await startMockWechat({ payMerchants: [cert.config, pub.config, both.config] });
  });
  after(async () => {
    await mock.close();
  });

  test('a correctly signed GET /v3/certificates is answered, signed with the platform certificate, and decrypts to the platform certificates', async () => {
    const a = await payCall(mock, cert.client, 'GET', '/v3/certificates');
    assert.equal(a.status, 200, a.text);
    const v = verifyAnswer(mock, a);
    assert.equal(v.keyKind, 'certificate');
    assert.equal(v.serial, mock.payPlatformSerial());
    assert.ok(a.headers['request-id'], 'Request-ID header present');
    assert.equal(a.headers['wechatpay-signature-type'], 'WECHATPAY2-SHA256-RSA2048');
    const certs = decryptCertificateList(a.text, cert.client.apiV3Key);
    assert.deepEqual(
      certs.map((c) => c.serial),
      Object.keys(mock.payPlatformCertificates()),
    );
    assert.equal(certs[0]?.pem, Object.values(mock.payPlatformCertificates())[0]);
  });

  test('the serial of the platform certificate is its X.509 serial', async () => {
    const [serial, pem] = Object.entries(mock.payPlatformCertificates())[0] ?? ['', ''];
    const { X509Certificate } = await import('node:crypto');
    assert.equal(normalizeCertificateSerial(new X509Certificate(pem).serialNumber), serial);
  });

  test('a wrong signature → 401 SIGN_ERROR (signed answer with sign_information)', async () => {
    const other = await generateRsaKeyPair();
    const a = await payCall(mock, cert.client, 'GET', `/v3/pay/transactions/out-trade-no/nope123?mchid=${cert.client.mchid}`, { privateKeyPem: other.privateKeyPem });
    assert.equal(a.status, 401);
    const body = a.json();
    assert.equal(body.code, 'SIGN_ERROR');
    assert.equal(body.message, '错误的签名，验签失败');
    const detail = body.detail as Record<string, unknown>;
    assert.equal((detail.detail as Record<string, unknown>).issue, 'sign not match');
    verifyAnswer(mock, a);
  });

  test('the body sent differs from the body signed → 401 SIGN_ERROR (raw body verified)', async () => {
    const body = { mchid: cert.client.mchid };
    const a = await payCall(mock, cert.client, 'POST', '/v3/pay/transactions/out-trade-no/order0001/close', { body, sendBody: JSON.stringify(body, null, 1) });
    assert.equal(a.status, 401);
    assert.equal(a.json().code, 'SIGN_ERROR');
  });

  test('a stale timestamp (6 minutes) → 401 SIGN_ERROR with the timestamp message', async () => {
    const a = await payCall(mock, cert.client, 'GET', '/v3/certificates', { timestamp: Math.floor(Date.now() / 1000) - 360 });
    assert.equal(a.status, 401);
    assert.equal(a.json().code, 'SIGN_ERROR');
    assert.equal(a.json().message, 'Http头Authorization中的timestamp与发起请求的时间不得超过5分钟');
    verifyAnswer(mock, a);
  });

  test('an unknown merchant serial → 401 SIGN_ERROR 商户证书序列号有误', async () => {
    const a = await payCall(mock, cert.client, 'GET', '/v3/certificates', { serialNo: '1234ABCD' });
    assert.equal(a.status, 401);
    assert.equal(a.json().code, 'SIGN_ERROR');
    assert.match(String(a.json().message), /^商户证书序列号有误/);
  });

  test('an unknown mchid → 401 SIGN_ERROR, still signed', async () => {
    const a = await payCall(mock, cert.client, 'GET', '/v3/certificates', { mchid: '1999999999' });
    assert.equal(a.status, 401);
    assert.equal(a.json().code, 'SIGN_ERROR');
    verifyAnswer(mock, a);
  });

  test('missing Authorization / another scheme / malformed → 401 SIGN_ERROR with the documented messages', async () => {
    const missing = await payCall(mock, cert.client, 'GET', '/v3/certificates', { authorization: null });
    assert.equal(missing.status, 401);
    assert.equal(missing.json().code, 'SIGN_ERROR');
    assert.match(String(missing.json().message), /^Http头Authorization值格式错误/);
    verifyAnswer(mock, missing);
    const scheme = await payCall(mock, cert.client, 'GET', '/v3/certificates', { authorization: 'WECHATPAY2-SM2-WITH-SM3 mchid="1",nonce_str="a",signature="AAAA",timestamp="1",serial_no="1"' });
    assert.equal(scheme.status, 401);
    assert.match(String(scheme.json().message), /^Http头Authorization认证类型不正确/);
    const malformed = await payCall(mock, cert.client, 'GET', '/v3/certificates', { authorization: 'WECHATPAY2-SHA256-RSA2048 mchid=1' });
    assert.equal(malformed.status, 401);
    assert.match(String(malformed.json().message), /^Http头Authorization值格式错误/);
  });

  test('public-key merchant: /v3/certificates → 404 RESOURCE_NOT_EXISTS, signed with the WeChat Pay public key', async () => {
    const a = await payCall(mock, pub.client, 'GET', '/v3/certificates');
    assert.equal(a.status, 404);
    assert.equal(a.json().code, 'RESOURCE_NOT_EXISTS');
    assert.match(String(a.json().message), /^无可用的平台证书/);
    const serial = a.headers['wechatpay-serial'] ?? '';
    assert.ok(isPublicKeyId(serial), `Wechatpay-Serial ${serial} is a PUB_KEY_ID_`);
    assert.match(serial, /^PUB_KEY_ID_[0-9]+$/);
    assert.equal(serial, mock.payPublicKey().id);
    const v = verifyAnswer(mock, a);
    assert.equal(v.keyKind, 'public-key');
    assert.deepEqual(mock.payPlatformCertificates(pub.client.mchid), {});
  });

  test("'both' merchant: Wechatpay-Serial PUB_KEY_ID_… selects public-key signed answers, otherwise the certificate", async () => {
    const plain = await payCall(mock, both.client, 'GET', '/v3/certificates');
    assert.equal(plain.status, 200);
    assert.equal(verifyAnswer(mock, plain).keyKind, 'certificate');
    const asked = await payCall(mock, both.client, 'GET', '/v3/certificates', { headers: { 'Wechatpay-Serial': mock.payPublicKey().id } });
    assert.equal(asked.status, 200);
    assert.equal(asked.headers['wechatpay-serial'], mock.payPublicKey().id);
    assert.equal(verifyAnswer(mock, asked).keyKind, 'public-key');
  });

  test('answers do not verify with a key set lacking the signer', async () => {
    const a = await payCall(mock, pub.client, 'GET', '/v3/certificates');
    const certsOnly = payKeys(mock).certificates.values();
    assert.throws(
      () => verifyAnswer(mock, a, { certificates: new Map([...certsOnly].map((k) => [k.serial, k])), publicKeys: new Map() }),
      (e: unknown) => isWechatPayError(e, 'WECHATPAY_UNKNOWN_SERIAL'),
    );
  });

  test('an unknown /v3/ path → 404 NOT_FOUND (signed)', async () => {
    const a = await payCall(mock, cert.client, 'GET', '/v3/nothing/here');
    assert.equal(a.status, 404);
    assert.equal(a.json().code, 'NOT_FOUND');
    verifyAnswer(mock, a);
  });
});

describe('WeChat Pay v3: platform certificate rotation', () => {
  test('A → A+B (answers signed with B) → B', async () => {
    const m = await createMockPayMerchant();
    const mock = await startMockWechat({ payMerchants: [m.config] });
    try {
      const a = mock.payPlatformSerial();
      const list1 = decryptCertificateList((await payCall(mock, m.client, 'GET', '/v3/certificates')).text, m.client.apiV3Key).map((c) => c.serial);
      assert.deepEqual(list1, [a]);

      const b = await mock.rotatePayPlatformCertificate();
      assert.notEqual(a, b);
      const during = await payCall(mock, m.client, 'GET', '/v3/certificates');
      assert.deepEqual(decryptCertificateList(during.text, m.client.apiV3Key).map((c) => c.serial), [a, b]);
      assert.equal(during.headers['wechatpay-serial'], b);
      verifyAnswer(mock, during);

      assert.deepEqual(mock.withdrawOldPayPlatformCertificate(), [a]);
      const afterAnswer = await payCall(mock, m.client, 'GET', '/v3/certificates');
      assert.deepEqual(decryptCertificateList(afterAnswer.text, m.client.apiV3Key).map((c) => c.serial), [b]);
      assert.equal(afterAnswer.headers['wechatpay-serial'], b);
      assert.deepEqual(Object.keys(mock.payPlatformCertificates()), [b]);

      // signWith 'old': the new certificate is listed but the old one keeps signing.
      const c = await mock.rotatePayPlatformCertificate({ signWith: 'old' });
      const early = await payCall(mock, m.client, 'GET', '/v3/certificates');
      assert.equal(early.headers['wechatpay-serial'], b);
      assert.deepEqual(decryptCertificateList(early.text, m.client.apiV3Key).map((x) => x.serial), [b, c]);
    } finally {
      await mock.close();
    }
  });
});
