// WeChat Pay 国密 (SM) end to end against the offline mock: a merchant with an SM2 key signs with
// WECHATPAY2-SM2-WITH-SM3, the mock verifies and answers signed with its SM platform certificate
// (Wechatpay-Signature-Type WECHATPAY2-SM2-WITH-SM3), callbacks carry AEAD_SM4_GCM resources, and
// the SM platform certificates come from /v3/certificates?algorithm_type=SM2 (AEAD_SM4_GCM).
// (In tests/e2e because @wxseal/mock-wechat depends on @wxseal/wechatpay.)
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createMockPayMerchant, startMockWechat, type MockPayMerchant, type MockWechat } from '@wxseal/mock-wechat';
import {
  SM_AEAD_ALGORITHM,
  SM_SIGNATURE_SCHEME,
  CertificateManager,
  StaticMerchantMaterialSource,
  createVerificationKeySet,
  createWechatPayClient,
  decryptCertificateList,
  downloadPlatformCertificates,
  isWechatPayError,
  parseAuthorizationWithScheme,
  parseNotification,
  platformCertificateKey,
  requestTargetOf,
  signRequest,
  verifySignature,
  type WechatPayClient,
  type WechatPayMerchantClient,
} from '@wxseal/wechatpay';

const APPID = 'wx1234567890abcdef';
const code = (c: string) => (e: unknown) => isWechatPayError(e) && e.code === c;

let seq = 0;
const orderNo = (tag: string): string => `${tag}${Date.now().toString(36)}${(seq++).toString(36)}`;

interface Captured {
  headers: Record<string, string>;
  body: Buffer;
}

/** A callback receiver that records what the mock POSTs and answers 204. */
async function receiver(): Promise<{ url: string; server: Server; received: Captured[] }> {
  const received: Captured[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      received.push({ headers, body: Buffer.concat(chunks) });
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`, server, received };
}

async function signedGet(mock: MockWechat, merchant: MockPayMerchant, pathAndQuery: string, privateKeyPem?: string): Promise<{ status: number; headers: Record<string, string>; text: string }> {
  const url = `${mock.url}${pathAndQuery}`;
  const c = merchant.client;
  const signed = signRequest({ mchid: c.mchid, serialNo: c.merchantSerialNo, privateKey: privateKeyPem ?? c.privateKeyPem, method: 'GET', url: requestTargetOf(url) });
  const res = await fetch(url, { headers: { Authorization: signed.authorization, Accept: 'application/json' } });
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  return { status: res.status, headers, text: await res.text() };
}

describe('WeChat Pay SM (国密) against the mock', () => {
  let mock: MockWechat;
  let sm: MockPayMerchant;
  let rsa: MockPayMerchant;
  let pay: WechatPayClient;
  let m: WechatPayMerchantClient;
  let hook: Awaited<ReturnType<typeof receiver>>;

  before(async () => {
    sm = await createMockPayMerchant({ algorithm: 'SM2' });
    rsa = await createMockPayMerchant();
    mock = await startMockWechat({ payMerchants: [sm.config, rsa.config] });
    hook = await receiver();
    const c = sm.client;
    const source = new StaticMerchantMaterialSource([
      { mchid: c.mchid, merchantSerialNo: c.merchantSerialNo, privateKey: c.privateKeyPem, apiV3Key: c.apiV3Key, platformCertificates: Object.values(mock.paySmPlatformCertificates()) },
    ]);
    pay = createWechatPayClient({ source, baseUrl: mock.url, retry: false });
    m = pay.merchant(c.mchid);
  });
  after(async () => {
    await pay.close();
    await mock.close();
    await new Promise<void>((r) => hook.server.close(() => r()));
  });

  test('the merchant key and certificate are SM2; requests carry WECHATPAY2-SM2-WITH-SM3 with a DER signature', () => {
    assert.match(sm.client.merchantCertificatePem, /BEGIN CERTIFICATE/);
    const signed = signRequest({ mchid: sm.client.mchid, serialNo: sm.client.merchantSerialNo, privateKey: sm.client.privateKeyPem, method: 'GET', url: '/v3/certificates' });
    assert.ok(signed.authorization.startsWith(`${SM_SIGNATURE_SCHEME} mchid="${sm.client.mchid}"`));
    const { scheme, params } = parseAuthorizationWithScheme(signed.authorization);
    assert.equal(scheme, SM_SIGNATURE_SCHEME);
    const der = Buffer.from(params.signature, 'base64');
    assert.equal(der[0], 0x30, 'DER SEQUENCE{r, s}');
    assert.ok(der.length >= 8 && der.length <= 72);
  });

  test('JSAPI prepay signed with SM2: the mock verifies it, answers SM-signed, the client verifies; query too', async () => {
    const no = orderNo('SM');
    const { prepay_id } = await m.jsapiPrepay({ appid: APPID, description: 'wxseal SM', out_trade_no: no, notify_url: hook.url, amount: { total: 88 }, payer: { openid: 'o-sm' } });
    assert.match(prepay_id, /^wx/);
    const q = await m.queryOrderByOutTradeNo(no);
    assert.equal(q.out_trade_no, no);
    assert.equal(q.trade_state, 'NOTPAY');
    // The raw answer: SM signature type and the SM platform certificate's serial.
    const raw = await signedGet(mock, sm, `/v3/pay/transactions/out-trade-no/${no}?mchid=${sm.client.mchid}`);
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['wechatpay-signature-type'], SM_SIGNATURE_SCHEME);
    const smSerial = Object.keys(mock.paySmPlatformCertificates())[0] as string;
    assert.equal(raw.headers['wechatpay-serial'], smSerial);
    const keys = createVerificationKeySet(Object.values(mock.paySmPlatformCertificates()).map((p) => platformCertificateKey(p)));
    const v = verifySignature({ headers: raw.headers, body: raw.text, keys });
    assert.equal(v.scheme, SM_SIGNATURE_SCHEME);
    // Tampered answer body or signature: refused with typed codes.
    assert.throws(() => verifySignature({ headers: raw.headers, body: raw.text.replace('NOTPAY', 'SUCCESS'), keys }), code('WECHATPAY_BAD_SIGNATURE'));
    const sig = Buffer.from(raw.headers['wechatpay-signature'] as string, 'base64');
    sig[sig.length - 1] = (sig[sig.length - 1] ?? 0) ^ 1;
    assert.throws(() => verifySignature({ headers: { ...raw.headers, 'wechatpay-signature': sig.toString('base64') }, body: raw.text, keys }), code('WECHATPAY_BAD_SIGNATURE'));
    // The header naming RSA for an SM2 key: algorithm confusion refused.
    assert.throws(() => verifySignature({ headers: { ...raw.headers, 'wechatpay-signature-type': 'WECHATPAY2-SHA256-RSA2048' }, body: raw.text, keys }), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
  });

  test('the mock refuses a tampered SM request, and an RSA-signed request from the SM merchant', async () => {
    const url = `${mock.url}/v3/certificates?algorithm_type=SM2`;
    const signed = signRequest({ mchid: sm.client.mchid, serialNo: sm.client.merchantSerialNo, privateKey: sm.client.privateKeyPem, method: 'GET', url: '/v3/certificates?algorithm_type=RSA' });
    const res = await fetch(url, { headers: { Authorization: signed.authorization, Accept: 'application/json' } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { code: string }).code, 'SIGN_ERROR');
    const rsaSigned = await signedGet(mock, sm, '/v3/certificates?algorithm_type=SM2', rsa.client.privateKeyPem);
    assert.equal(rsaSigned.status, 401);
    assert.match(rsaSigned.text, /认证类型不正确/);
  });

  test('an SM notification (AEAD_SM4_GCM) is verified and decrypted; tampered ones are refused with typed codes', async () => {
    const no = orderNo('SN');
    await m.jsapiPrepay({ appid: APPID, description: 'wxseal SM notify', out_trade_no: no, notify_url: hook.url, amount: { total: 66 }, payer: { openid: 'o-sm' } });
    const before = hook.received.length;
    const result = await mock.simulatePayment(no, { mchid: sm.client.mchid });
    assert.equal(result?.acknowledged, true);
    const got = hook.received[before] as Captured;
    assert.equal(got.headers['wechatpay-signature-type'], SM_SIGNATURE_SCHEME);
    const envelope = JSON.parse(got.body.toString('utf8')) as { resource: { algorithm: string; ciphertext: string } };
    assert.equal(envelope.resource.algorithm, SM_AEAD_ALGORITHM);
    const keys = Object.values(mock.paySmPlatformCertificates()).map((p) => platformCertificateKey(p));
    const parsed = parseNotification({ headers: got.headers, body: got.body, keys, apiV3Key: sm.client.apiV3Key });
    assert.equal(parsed.verified.scheme, SM_SIGNATURE_SCHEME);
    assert.equal(parsed.notification.kind, 'transaction');
    assert.equal((parsed.notification.resource as { out_trade_no: string }).out_trade_no, no);
    assert.equal((parsed.notification.resource as { trade_state: string }).trade_state, 'SUCCESS');

    // Tampered ciphertext, re-signed by nobody: the signature fails first.
    const ct = Buffer.from(envelope.resource.ciphertext, 'base64');
    ct[0] = (ct[0] ?? 0) ^ 1;
    const tamperedBody = got.body.toString('utf8').replace(envelope.resource.ciphertext, ct.toString('base64'));
    assert.throws(() => parseNotification({ headers: got.headers, body: tamperedBody, keys, apiV3Key: sm.client.apiV3Key }), code('WECHATPAY_BAD_SIGNATURE'));
    // Signature intact, wrong APIv3 key (or altered ciphertext under a valid signature): SM4-GCM refuses.
    assert.throws(() => parseNotification({ headers: got.headers, body: got.body, keys, apiV3Key: 'X'.repeat(32) }), code('WECHATPAY_DECRYPT_FAILED'));
    // The mock's own tampering modes.
    for (const [tamper, expected] of [
      ['body', 'WECHATPAY_BAD_SIGNATURE'],
      ['signature', 'WECHATPAY_BAD_SIGNATURE'],
      ['serial', 'WECHATPAY_UNKNOWN_SERIAL'],
      ['probe', 'WECHATPAY_PROBE_SIGNATURE'],
    ] as const) {
      const n = hook.received.length;
      await mock.payNotify({ mchid: sm.client.mchid, event: 'TRANSACTION.SUCCESS', out_trade_no: no, url: hook.url, tamper });
      const t = hook.received[n] as Captured;
      assert.throws(() => parseNotification({ headers: t.headers, body: t.body, keys, apiV3Key: sm.client.apiV3Key }), code(expected), tamper);
    }
  });

  test('an RSA merchant on the same mock is unchanged (RSA answers, AES-GCM, no SM certificates listed)', async () => {
    const raw = await signedGet(mock, rsa, '/v3/certificates?algorithm_type=SM2');
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['wechatpay-signature-type'], 'WECHATPAY2-SHA256-RSA2048');
    assert.deepEqual(JSON.parse(raw.text), { data: [] });
  });

  test('SM platform certificates: download (algorithm_type=SM2, AEAD_SM4_GCM), rotation, withdrawal', async () => {
    const first = Object.keys(mock.paySmPlatformCertificates());
    assert.equal(first.length, 1);
    const raw = await signedGet(mock, sm, '/v3/certificates?algorithm_type=SM2');
    assert.equal(raw.status, 200);
    const doc = JSON.parse(raw.text) as { data: { serial_no: string; encrypt_certificate: { algorithm: string } }[] };
    assert.equal(doc.data[0]?.encrypt_certificate.algorithm, SM_AEAD_ALGORITHM);
    const certs = decryptCertificateList(raw.text, sm.client.apiV3Key);
    assert.deepEqual(certs.map((c) => c.serial), first);
    // A tampered encrypted certificate is refused.
    const bad = raw.text.replace(/"ciphertext":"(.)/, (_m, ch: string) => `"ciphertext":"${ch === 'A' ? 'B' : 'A'}`);
    assert.throws(() => decryptCertificateList(bad, sm.client.apiV3Key), code('WECHATPAY_DECRYPT_FAILED'));

    // The lifecycle download picks algorithm_type=SM2 from the SM2 merchant key.
    const dl = await downloadPlatformCertificates({ baseUrl: mock.url, mchid: sm.client.mchid, serialNo: sm.client.merchantSerialNo, privateKey: sm.client.privateKeyPem, apiV3Key: sm.client.apiV3Key });
    assert.deepEqual(dl.certificates.map((c) => c.serial), first);

    // Rotation: B listed and signing; the manager follows.
    const mgr = new CertificateManager({
      merchants: [{ mchid: sm.client.mchid, privateKey: { value: sm.client.privateKeyPem }, certificate: { value: sm.client.merchantCertificatePem }, apiV3Key: { value: sm.client.apiV3Key } }],
      baseUrl: mock.url,
      unknownSerialMinIntervalMs: 0,
      watchFiles: false,
    });
    await mgr.start();
    try {
      assert.deepEqual([...mgr.current(sm.client.mchid).verificationKeys.certificates.keys()], first);
      const serialB = await mock.rotatePaySmPlatformCertificate();
      assert.notEqual(serialB, first[0]);
      assert.equal(await mgr.refreshPlatformCertificates(sm.client.mchid), true);
      const both = mgr.current(sm.client.mchid).verificationKeys.certificates;
      assert.ok(both.has(first[0] as string) && both.has(serialB), [...both.keys()].join(','));
      // An answer signed by B verifies with what the manager holds.
      const ans = await signedGet(mock, sm, '/v3/certificates?algorithm_type=SM2');
      assert.equal(ans.headers['wechatpay-serial'], serialB);
      verifySignature({ headers: ans.headers, body: ans.text, keys: mgr.current(sm.client.mchid).verificationKeys });
      assert.deepEqual(mock.withdrawOldPaySmPlatformCertificate(), first);
      await mgr.refreshPlatformCertificates(sm.client.mchid);
      assert.deepEqual([...mgr.current(sm.client.mchid).verificationKeys.certificates.keys()], [serialB]);
    } finally {
      await mgr.close();
    }
  });
});
