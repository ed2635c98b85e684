// WeChat Pay 国密 (SM) end to end against the offline mock: a merchant with an SM2 key signs with
// WECHATPAY2-SM2-WITH-SM3, the mock verifies and answers signed with its SM platform certificate
// (Wechatpay-Signature-Type WECHATPAY2-SM2-WITH-SM3), callbacks carry AEAD_SM4_GCM resources, and
// the SM platform certificates come from /v3/certificates?algorithm_type=SM2 (AEAD_SM4_GCM).
// (In tests/e2e because @wxseal/mock-wechat depends on @wxseal/wechatpay.)
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sm2GenerateKeyPair, sm2PrivateKeyToPem, sm2PublicKeyToPem } from '@wxseal/gm';
import { createMockPayMerchant, generateSmPayPlatformCertificate, startMockWechat, type MockPayMerchant, type MockWechat } from '@wxseal/mock-wechat';
import {
  SM_AEAD_ALGORITHM,
  SM_SIGNATURE_SCHEME,
  CertificateManager,
  WechatPayApiError,
  decryptSensitive,
  encryptSensitive,
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

let sm2Other: { privateKeyPem: string; publicKeyPem: string } | undefined;
function createSm2Other(): { privateKeyPem: string; publicKeyPem: string } {
  const kp = sm2GenerateKeyPair();
  return { privateKeyPem: sm2PrivateKeyToPem(kp.privateKeyHex), publicKeyPem: sm2PublicKeyToPem(kp.publicKeyHex) };
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

  test('sensitive fields (敏感信息加解密) under 国密: SM2 C1C3C2_ASN1 to the SM platform certificate, answers to the merchant SM2 key', async () => {
    // Up: the client encrypts to its snapshot's SM platform certificate and names it in Wechatpay-Serial.
    const smSerial = Object.keys(mock.paySmPlatformCertificates())[0] as string;
    const name = m.encryptSensitive('张三');
    const mobile = m.encryptSensitive('13800138000');
    assert.equal(name.wechatpaySerial, smSerial);
    assert.equal(Buffer.from(name.ciphertext, 'base64')[0], 0x30, 'C1C3C2_ASN1: a DER SEQUENCE');
    const guide = { corpid: 'wwcorp', store_id: 1234, userid: 'robert', qr_code: 'https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=x', avatar: 'https://wx.qlogo.cn/mmopen/x/0' };
    const reg = await m.request<{ guide_id: string }>({ method: 'POST', path: '/v3/smartguide/guides', body: { ...guide, name: name.ciphertext, mobile: mobile.ciphertext }, wechatpaySerial: name.wechatpaySerial });
    assert.equal(reg.status, 200);
    assert.match(reg.data.guide_id, /^LLA[0-9A-F]{24}$/);
    // The mock decrypted exactly what was sent, with the SM platform key.
    assert.deepEqual(
      mock.payGuides(sm.client.mchid).map((g) => [g.name, g.mobile]),
      [['张三', '13800138000']],
    );

    // Down: the query answer carries name / mobile encrypted to the merchant's SM2 key.
    const q = await m.request<{ data: { guide_id: string; name: string; mobile: string }[]; total_count: number }>({ method: 'GET', path: '/v3/smartguide/guides', query: { store_id: 1234 } });
    assert.equal(q.data.total_count, 1);
    const row = q.data.data[0]!;
    assert.equal(row.guide_id, reg.data.guide_id);
    assert.equal(Buffer.from(row.name, 'base64')[0], 0x30);
    assert.equal(m.decryptSensitive(row.name), '张三');
    assert.equal(m.decryptSensitive(row.mobile), '13800138000');
    assert.equal(decryptSensitive(row.mobile, sm.client.privateKeyPem), '13800138000');
    // Another merchant's key cannot read it.
    assert.throws(() => decryptSensitive(row.mobile, (sm2Other ??= createSm2Other()).privateKeyPem), code('WECHATPAY_DECRYPT_FAILED'));

    // Refusals by the mock, as WeChat Pay's PARAM_ERROR: no serial, a serial it does not hold for
    // this merchant (the RSA platform certificate), a field encrypted to another key.
    const rsaSerial = mock.payPlatformSerial();
    const send = (serial: string | undefined, n: string, mob: string) =>
      m.request({ method: 'POST', path: '/v3/smartguide/guides', body: { ...guide, userid: `u${seq++}`, name: n, mobile: mob }, ...(serial !== undefined ? { wechatpaySerial: serial } : {}) }).catch((e: unknown) => e);
    const unknownSerial = await send(rsaSerial, name.ciphertext, mobile.ciphertext);
    assert.ok(unknownSerial instanceof WechatPayApiError && unknownSerial.status === 400 && unknownSerial.code === 'PARAM_ERROR', String(unknownSerial));
    assert.match(unknownSerial.apiMessage, /Wechatpay-Serial/);
    const foreign = encryptSensitive('13800138000', (sm2Other ??= createSm2Other()).publicKeyPem);
    const wrongKey = await send(smSerial, name.ciphertext, foreign);
    assert.ok(wrongKey instanceof WechatPayApiError && wrongKey.status === 400 && wrongKey.code === 'PARAM_ERROR', String(wrongKey));
    assert.match(wrongKey.apiMessage, /加密后的密文/);
    // RSA-OAEP to the RSA platform certificate, from an SM merchant: not SM2, refused.
    const rsaCt = encryptSensitive('13800138000', mock.payPlatformCertificates()[rsaSerial] as string);
    const rsaToSm = await send(smSerial, name.ciphertext, rsaCt);
    assert.ok(rsaToSm instanceof WechatPayApiError && rsaToSm.code === 'PARAM_ERROR', String(rsaToSm));
    assert.equal(mock.payGuides(sm.client.mchid).length, 1, 'nothing refused was stored');

  });

  test('an RSA merchant on the same mock is unchanged (RSA answers, AES-GCM, no SM certificates listed)', async () => {
    const raw = await signedGet(mock, rsa, '/v3/certificates?algorithm_type=SM2');
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['wechatpay-signature-type'], 'WECHATPAY2-SHA256-RSA2048');
    assert.deepEqual(JSON.parse(raw.text), { data: [] });
    // Its sensitive fields stay RSA-OAEP both ways on the same endpoint.
    const c = rsa.client;
    const rsaPay = createWechatPayClient({
      source: new StaticMerchantMaterialSource([{ mchid: c.mchid, merchantSerialNo: c.merchantSerialNo, privateKey: c.privateKeyPem, apiV3Key: c.apiV3Key, platformCertificates: Object.values(mock.payPlatformCertificates()) }]),
      baseUrl: mock.url,
      retry: false,
    });
    try {
      const r = rsaPay.merchant(c.mchid);
      const n = r.encryptSensitive('王五');
      assert.equal(n.wechatpaySerial, mock.payPlatformSerial());
      assert.equal(Buffer.from(n.ciphertext, 'base64').length, 256, 'RSA-2048 OAEP');
      await r.request({ method: 'POST', path: '/v3/smartguide/guides', wechatpaySerial: n.wechatpaySerial, body: { corpid: 'wwcorp', store_id: 7, userid: 'wangwu', qr_code: 'q', avatar: 'a', name: n.ciphertext, mobile: r.encryptSensitive('13700137000').ciphertext } });
      assert.deepEqual(mock.payGuides(c.mchid).map((g) => [g.name, g.mobile]), [['王五', '13700137000']]);
      const q = await r.request<{ data: { name: string; mobile: string }[] }>({ method: 'GET', path: '/v3/smartguide/guides', query: { store_id: 7 } });
      assert.equal(Buffer.from(q.data.data[0]!.mobile, 'base64').length, 256);
      assert.equal(r.decryptSensitive(q.data.data[0]!.mobile), '13700137000');
      // An SM2 ciphertext sent by the RSA merchant is refused.
      const bad = await r
        .request({ method: 'POST', path: '/v3/smartguide/guides', wechatpaySerial: n.wechatpaySerial, body: { corpid: 'wwcorp', store_id: 7, userid: 'x', qr_code: 'q', avatar: 'a', name: n.ciphertext, mobile: encryptSensitive('13700137000', Object.values(mock.paySmPlatformCertificates())[0] as string) } })
        .catch((e: unknown) => e);
      assert.ok(bad instanceof WechatPayApiError && bad.code === 'PARAM_ERROR', String(bad));
    } finally {
      await rsaPay.close();
    }
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
      // B expires later than A (as a real successor does), so the manager makes it the encryption key.
      const serialB = await mock.rotatePaySmPlatformCertificate({ next: generateSmPayPlatformCertificate({ validityDays: 1830 }) });
      assert.notEqual(serialB, first[0]);
      assert.equal(await mgr.refreshPlatformCertificates(sm.client.mchid), true);
      const both = mgr.current(sm.client.mchid).verificationKeys.certificates;
      assert.ok(both.has(first[0] as string) && both.has(serialB), [...both.keys()].join(','));
      // An answer signed by B verifies with what the manager holds.
      const ans = await signedGet(mock, sm, '/v3/certificates?algorithm_type=SM2');
      assert.equal(ans.headers['wechatpay-serial'], serialB);
      verifySignature({ headers: ans.headers, body: ans.text, keys: mgr.current(sm.client.mchid).verificationKeys });
      // Sensitive fields follow too: a client on the manager encrypts to B and names B; the mock decrypts with B.
      const viaMgr = createWechatPayClient({ source: mgr, baseUrl: mock.url, retry: false });
      try {
        const mm = viaMgr.merchant(sm.client.mchid);
        const n = mm.encryptSensitive('李四');
        assert.equal(n.wechatpaySerial, serialB);
        const before = mock.payGuides(sm.client.mchid).length;
        await mm.request({ method: 'POST', path: '/v3/smartguide/guides', wechatpaySerial: n.wechatpaySerial, body: { corpid: 'wwcorp', store_id: 99, userid: 'lisi', qr_code: 'q', avatar: 'a', name: n.ciphertext, mobile: mm.encryptSensitive('13900139000').ciphertext } });
        assert.deepEqual(mock.payGuides(sm.client.mchid).slice(before).map((g) => [g.name, g.mobile]), [['李四', '13900139000']]);
        const q = await mm.request<{ data: { name: string }[] }>({ method: 'GET', path: '/v3/smartguide/guides', query: { store_id: 99 } });
        assert.equal(mm.decryptSensitive(q.data.data[0]!.name), '李四');
        // Encrypted to B but naming A (still listed): the mock decrypts with A and refuses.
        const crossed = await mm
          .request({ method: 'POST', path: '/v3/smartguide/guides', wechatpaySerial: first[0] as string, body: { corpid: 'wwcorp', store_id: 99, userid: 'x', qr_code: 'q', avatar: 'a', name: n.ciphertext, mobile: mm.encryptSensitive('13900139000').ciphertext } })
          .catch((e: unknown) => e);
        assert.ok(crossed instanceof WechatPayApiError && crossed.status === 400 && crossed.code === 'PARAM_ERROR', String(crossed));
      } finally {
        await viaMgr.close();
      }
      assert.deepEqual(mock.withdrawOldPaySmPlatformCertificate(), first);
      await mgr.refreshPlatformCertificates(sm.client.mchid);
      assert.deepEqual([...mgr.current(sm.client.mchid).verificationKeys.certificates.keys()], [serialB]);
    } finally {
      await mgr.close();
    }
  });
});
