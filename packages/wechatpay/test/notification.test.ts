// Notifications (payment and refund), platform certificate lists, Mini Program payment parameters.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  buildCertificateListBody,
  buildNotification,
  buildPaymentMessage,
  buildRequestPaymentParams,
  certificateSerialKey,
  certificateVerificationKey,
  chinaTime,
  decryptCertificateItem,
  decryptCertificateList,
  encryptAead,
  newestValidCertificate,
  parseNotification,
  parseNotificationEnvelope,
  signResponse,
  verifyMessage,
  verifyRequestPaymentParams,
  wechatPayPublicKey,
} from '@wxseal/wechatpay';
import { TEST_PUB_KEY_ID, code, javaAead, javaCerts, javaKeys } from './helpers.js';

const API_V3_KEY = javaAead.apiV3Key;
const NOW = 1_700_000_000;
const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const SERIAL = '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C';
const keys = [certificateSerialKey(SERIAL, platform.publicKey), wechatPayPublicKey(TEST_PUB_KEY_ID, javaKeys.wechatpay.publicKeyPem)];

const transaction = {
  mchid: '1230000109',
  appid: 'wxd678efh567hg6787',
  out_trade_no: '1217752501201407033233368018',
  transaction_id: '1217752501201407033233368018',
  trade_type: 'JSAPI',
  trade_state: 'SUCCESS',
  trade_state_desc: '支付成功',
  bank_type: 'CMC',
  attach: '自定义数据',
  success_time: '2018-06-08T10:34:56+08:00',
  payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
  amount: { total: 100, payer_total: 100, currency: 'CNY', payer_currency: 'CNY' },
};
const refund = {
  mchid: '1900000100',
  transaction_id: '1008450740201411110005820873',
  out_trade_no: '20150806125346',
  refund_id: '50200207182018070300011301001',
  out_refund_no: '7752501201407033233368018',
  refund_status: 'SUCCESS',
  success_time: '2018-06-08T10:34:56+08:00',
  user_received_account: '招商银行信用卡0403',
  amount: { total: 999, refund: 999, payer_total: 999, payer_refund: 999 },
};

function payment(over: Partial<Parameters<typeof buildNotification>[0]> = {}) {
  return buildNotification({
    event_type: 'TRANSACTION.SUCCESS',
    resource: transaction,
    original_type: 'transaction',
    summary: '支付成功',
    apiV3Key: API_V3_KEY,
    privateKey: platform.privateKey,
    serial: SERIAL,
    timestamp: NOW,
    ...over,
  });
}

describe('notifications', () => {
  test('a payment notification verifies, decrypts and is typed', () => {
    const n = payment({ id: 'EV-2018022511223320873', create_time: '2015-05-20T13:29:35+08:00' });
    assert.equal(n.envelope.resource_type, 'encrypt-resource');
    assert.equal(n.envelope.resource.associated_data, 'transaction');
    const { verified, notification } = parseNotification({ headers: n.headers, body: n.body, keys, apiV3Key: API_V3_KEY, nowSeconds: NOW });
    assert.equal(verified.keyKind, 'certificate');
    assert.equal(notification.kind, 'transaction');
    if (notification.kind !== 'transaction') return;
    assert.equal(notification.envelope.id, 'EV-2018022511223320873');
    assert.equal(notification.resource.trade_state, 'SUCCESS');
    assert.equal(notification.resource.amount.total, 100);
    assert.equal(notification.resource.payer?.openid, transaction.payer.openid);
    assert.deepEqual(notification.resource.raw, transaction);
  });
  test('a refund notification signed in public key mode is typed as refund', () => {
    const n = buildNotification({
      event_type: 'REFUND.SUCCESS',
      resource: refund,
      original_type: 'refund',
      summary: '退款成功',
      associated_data: 'refund',
      apiV3Key: API_V3_KEY,
      privateKey: javaKeys.wechatpay.privateKeyPem,
      serial: TEST_PUB_KEY_ID,
      timestamp: NOW,
    });
    const { verified, notification } = parseNotification({ headers: n.headers, body: Buffer.from(n.body), keys, apiV3Key: API_V3_KEY, nowSeconds: NOW });
    assert.equal(verified.keyKind, 'public-key');
    assert.equal(notification.kind, 'refund');
    if (notification.kind !== 'refund') return;
    assert.equal(notification.resource.refund_status, 'SUCCESS');
    assert.equal(notification.resource.amount.refund, 999);
    assert.equal(notification.resource.user_received_account, refund.user_received_account);
  });
  test('empty associated_data is allowed', () => {
    const n = payment({ associated_data: '' });
    assert.equal(parseNotification({ headers: n.headers, body: n.body, keys, apiV3Key: API_V3_KEY, nowSeconds: NOW }).notification.kind, 'transaction');
  });
  test('the signature is checked before decryption; probes, tampering and stale notifications fail', () => {
    const n = payment();
    const opts = { headers: n.headers, body: n.body, keys, apiV3Key: API_V3_KEY, nowSeconds: NOW };
    assert.throws(() => parseNotification({ ...opts, headers: { ...n.headers, 'Wechatpay-Signature': 'WECHATPAY/SIGNTEST/abc' } }), code('WECHATPAY_PROBE_SIGNATURE'));
    assert.throws(() => parseNotification({ ...opts, body: n.body.replace('"summary":"支付成功"', '"summary":"支付失败"') }), code('WECHATPAY_BAD_SIGNATURE'));
    assert.throws(() => parseNotification({ ...opts, nowSeconds: NOW + 301 }), code('WECHATPAY_TIMESTAMP_EXPIRED'));
    assert.throws(() => parseNotification({ ...opts, keys: [] }), code('WECHATPAY_UNKNOWN_SERIAL'));
    assert.throws(() => parseNotification({ ...opts, apiV3Key: 'b'.repeat(32) }), code('WECHATPAY_DECRYPT_FAILED'));
    assert.throws(() => parseNotification({ ...opts, apiV3Key: undefined }), code('WECHATPAY_BAD_ARGUMENT'));
  });
  test('a resource whose associated_data was changed (and re-signed) fails decryption', () => {
    const n = payment();
    const env = JSON.parse(n.body) as { resource: { associated_data: string } };
    env.resource.associated_data = 'refund';
    const body = JSON.stringify(env);
    const headers = { ...n.headers, ...signedHeaders(body) };
    assert.throws(() => parseNotification({ headers, body, keys, apiV3Key: API_V3_KEY, nowSeconds: NOW }), code('WECHATPAY_DECRYPT_FAILED'));
  });
  test('envelope shape, algorithm and typed-resource checks', () => {
    assert.throws(() => parseNotificationEnvelope('[]'), code('WECHATPAY_MALFORMED'));
    assert.throws(() => parseNotificationEnvelope('{"id":"1"}'), code('WECHATPAY_MALFORMED'));
    assert.throws(() => parseNotificationEnvelope(Buffer.from([0xff])), code('WECHATPAY_MALFORMED'));
    const n = payment();
    const alg = n.body.replace('"AEAD_AES_256_GCM"', '"AEAD_SM4_GCM"');
    assert.throws(() => parseNotification({ headers: { ...n.headers, ...signedHeaders(alg) }, body: alg, keys, apiV3Key: API_V3_KEY, nowSeconds: NOW }), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
    const bad = payment({ resource: { ...transaction, amount: { total: '100' } } });
    assert.throws(() => parseNotification({ headers: bad.headers, body: bad.body, keys, apiV3Key: API_V3_KEY, nowSeconds: NOW }), code('WECHATPAY_MALFORMED'));
  });
  test('chinaTime writes RFC 3339 in UTC+8', () => {
    assert.equal(chinaTime(new Date('2021-06-24T08:37:26Z')), '2021-06-24T16:37:26+08:00');
  });
});

/** Re-signs an altered body with the platform key, to reach the checks behind the signature. */
function signedHeaders(body: string) {
  return signResponse({ body, privateKey: platform.privateKey, serial: SERIAL, timestamp: NOW });
}

describe('platform certificate lists', () => {
  test('a built list round-trips through decryptCertificateList (java test certificates)', () => {
    const body = buildCertificateListBody([javaKeys.wechatpay.certificatePem, javaKeys.merchant.certificatePem], API_V3_KEY);
    const certs = decryptCertificateList(body, API_V3_KEY);
    assert.deepEqual(certs.map((c) => c.serial), [javaKeys.wechatpay.certificateSerial, javaKeys.merchant.serial]);
    const item = (JSON.parse(body) as { data: { encrypt_certificate: { associated_data: string } }[] }).data[0];
    assert.equal(item?.encrypt_certificate.associated_data, 'certificate');
    assert.equal(certificateVerificationKey(certs[0]!).kind, 'certificate');
  });
  test('a serial_no that differs from the certificate inside is refused', () => {
    const item = (JSON.parse(javaCerts.responseBody) as { data: Record<string, unknown>[] }).data[0]!;
    assert.throws(() => decryptCertificateItem({ ...item, serial_no: '5DEA10EF55877E3CF6C33255C2E7DEFFF7E427ED' }, javaCerts.apiV3Key), code('WECHATPAY_SERIAL_MISMATCH'));
    assert.equal(decryptCertificateItem({ ...item, serial_no: javaCerts.serial.toLowerCase() }, javaCerts.apiV3Key).serial, javaCerts.serial);
  });
  test('wrong associated_data fails; non-certificate plaintext is malformed', () => {
    const item = (JSON.parse(javaCerts.responseBody) as { data: { encrypt_certificate: Record<string, unknown> }[] }).data[0]!;
    assert.throws(() => decryptCertificateItem({ ...item, encrypt_certificate: { ...item.encrypt_certificate, associated_data: 'certificatE' } }, javaCerts.apiV3Key), code('WECHATPAY_DECRYPT_FAILED'));
    const junk = { serial_no: '01', effective_time: '', expire_time: '', encrypt_certificate: { algorithm: 'AEAD_AES_256_GCM', ...encryptAead(API_V3_KEY, { plaintext: 'hello', associated_data: 'certificate' }) } };
    assert.throws(() => decryptCertificateItem(junk, API_V3_KEY), code('WECHATPAY_MALFORMED'));
  });
  test('public-key-only merchants: empty data gives no certificates', () => {
    assert.deepEqual(decryptCertificateList('{"data":[]}', API_V3_KEY), []);
    assert.deepEqual(decryptCertificateList({}, API_V3_KEY), []);
    assert.throws(() => decryptCertificateList('not json', API_V3_KEY), code('WECHATPAY_MALFORMED'));
    assert.throws(() => decryptCertificateList('{"data":{}}', API_V3_KEY), code('WECHATPAY_MALFORMED'));
  });
  test('newestValidCertificate picks by validity', () => {
    const certs = decryptCertificateList(javaCerts.responseBody, javaCerts.apiV3Key);
    assert.equal(newestValidCertificate(certs, Date.parse('2024-01-01T00:00:00Z') / 1000)?.serial, javaCerts.serial);
    assert.equal(newestValidCertificate(certs, Date.parse('2030-01-01T00:00:00Z') / 1000), undefined);
  });
});

describe('Mini Program / JSAPI wx.requestPayment parameters', () => {
  const m = javaKeys.merchant;
  test('paySign covers appId\\ntimeStamp\\nnonceStr\\npackage\\n and verifies with the merchant certificate', () => {
    const p = buildRequestPaymentParams({ appId: 'wx8888888888888888', prepayId: 'wx201410272009395522657a690389285100', privateKey: m.privateKeyPem, timeStamp: 1414561699, nonceStr: '5K8264ILTKCH16CQ2502SI8ZNMTM67VS' });
    assert.deepEqual({ ...p, paySign: '' }, { appId: 'wx8888888888888888', timeStamp: '1414561699', nonceStr: '5K8264ILTKCH16CQ2502SI8ZNMTM67VS', package: 'prepay_id=wx201410272009395522657a690389285100', signType: 'RSA', paySign: '' });
    const message = 'wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n';
    assert.equal(buildPaymentMessage(p.appId, p.timeStamp, p.nonceStr, p.package), message);
    assert.ok(verifyMessage(message, p.paySign, m.certificatePem));
    assert.ok(verifyRequestPaymentParams(p, m.certificatePem));
    assert.equal(verifyRequestPaymentParams({ ...p, package: 'prepay_id=wx2' }, m.certificatePem), false);
    assert.equal(verifyRequestPaymentParams({ ...p, timeStamp: '1414561700' }, m.certificatePem), false);
  });
  test('defaults and refusals', () => {
    const p = buildRequestPaymentParams({ appId: 'wx8888888888888888', prepayId: 'wx2014', privateKey: m.privateKeyPem });
    assert.match(p.nonceStr, /^[0-9A-Za-z]{32}$/);
    assert.match(p.timeStamp, /^[0-9]{10}$/);
    assert.throws(() => buildRequestPaymentParams({ appId: 'wx8888888888888888', prepayId: 'prepay_id=wx2014', privateKey: m.privateKeyPem }), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => buildRequestPaymentParams({ appId: 'wx\n1', prepayId: 'wx2014', privateKey: m.privateKeyPem }), code('WECHATPAY_BAD_ARGUMENT'));
  });
});
