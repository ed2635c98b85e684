// Pay side, raw HTTP: Native/H5/App orders, bills (signed answer, unsigned download, SHA1 of the
// uncompressed file, tokens bound to their merchant) and media uploads (signature over the meta
// part only, file digest checked).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { chinaTime, requestTargetOf, signRequest, verifySignature } from '@wxseal/wechatpay';
import { createMockPayMerchant, startMockWechat, type MockPayMerchant, type MockWechat } from '@wxseal/mock-wechat';
import { payCall, payKeys, verifyAnswer } from './pay-helpers.js';

const DAY_MS = 86_400_000;

function multipart(meta: string, file: Buffer, filename: string): { body: Buffer; contentType: string } {
  const b = `b${randomBytes(8).toString('hex')}`;
  return {
    contentType: `multipart/form-data; boundary=${b}`,
    body: Buffer.concat([
      Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n${meta}\r\n--${b}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: image/png\r\n\r\n`),
      file,
      Buffer.from(`\r\n--${b}--\r\n`),
    ]),
  };
}

describe('WeChat Pay v3: Native/H5/App, bills, media', () => {
  let now = Date.now();
  let mock: MockWechat;
  let m: MockPayMerchant;
  let other: MockPayMerchant;

  before(async () => {
    [m, other] = await Promise.all([createMockPayMerchant(), createMockPayMerchant()]);
    mock = await startMockWechat({ payMerchants: [m.config, other.config], clock: () => now });
  });
  after(async () => {
    await mock.close();
  });

  const order = (no: string) => ({ appid: 'wx1234567890abcdef', mchid: m.client.mchid, description: 'd', out_trade_no: no, notify_url: 'https://example.com/n', amount: { total: 100 } });

  test('Native → code_url, App → prepay_id, H5 → h5_url (scene_info.h5_info required); trade_type kept', async () => {
    const ts = Date.now().toString(36);
    const n = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/native', { body: order(`N${ts}`) });
    assert.equal(n.status, 200, n.text);
    verifyAnswer(mock, n);
    assert.match(String(n.json().code_url), /^weixin:\/\/wxpay\/bizpayurl\?pr=/);
    const a = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/app', { body: order(`A${ts}`) });
    assert.match(String(a.json().prepay_id), /^wx/);
    const noH5 = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/h5', { body: { ...order(`H${ts}`), scene_info: { payer_client_ip: '1.2.3.4' } } });
    assert.equal(noH5.status, 400);
    assert.equal(noH5.json().code, 'PARAM_ERROR');
    const badType = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/h5', { body: { ...order(`H${ts}`), scene_info: { payer_client_ip: '1.2.3.4', h5_info: { type: 'Web' } } } });
    assert.equal(badType.status, 400);
    const h = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/h5', { body: { ...order(`H${ts}`), scene_info: { payer_client_ip: '1.2.3.4', h5_info: { type: 'Android' } } } });
    assert.equal(h.status, 200, h.text);
    assert.match(String(h.json().h5_url), /checkmweb\?prepay_id=wx/);
    assert.equal(mock.payOrder(`N${ts}`)?.trade_type, 'NATIVE');
    assert.equal(mock.payOrder(`H${ts}`)?.trade_type, 'MWEB');
    assert.equal(mock.payOrder(`A${ts}`)?.trade_type, 'APP');
    // The same out_trade_no through another order API is another body: OUT_TRADE_NO_USED.
    const cross = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/app', { body: order(`N${ts}`) });
    assert.equal(cross.status, 403);
    assert.equal(cross.json().code, 'OUT_TRADE_NO_USED');
  });

  test('bills: signed answer; download needs a signed request, is unsigned, gzip on request, bound to the merchant, 30 s', async () => {
    const no = `B${Date.now().toString(36)}`;
    await payCall(mock, m.client, 'POST', '/v3/pay/transactions/native', { body: order(no) });
    await mock.simulatePayment(no, { notify: false });
    const date = chinaTime(new Date(now)).slice(0, 10);
    now += DAY_MS;
    const at = () => ({ timestamp: Math.floor(now / 1000) });
    try {
      const bill = await payCall(mock, m.client, 'GET', `/v3/bill/tradebill?bill_date=${date}&tar_type=GZIP`, at());
      assert.equal(bill.status, 200, bill.text);
      verifySignature({ headers: bill.headers, body: bill.text, keys: payKeys(mock), nowSeconds: Math.floor(now / 1000) });
      const { hash_type, hash_value, download_url } = bill.json() as { hash_type: string; hash_value: string; download_url: string };
      assert.equal(hash_type, 'SHA1');
      const target = new URL(download_url);
      assert.equal(target.origin, mock.url);
      const file = await signedGetBytes(mock, m, `${target.pathname}${target.search}`, Math.floor(now / 1000));
      assert.equal(file.status, 200);
      assert.equal(file.headers.get('wechatpay-signature'), null, 'downloads are not signed');
      const csv = gunzipSync(file.bytes);
      assert.equal(createHash('sha1').update(csv).digest('hex'), hash_value);
      assert.ok(csv.toString('utf8').includes(`\`${no}`));
      const unsigned = await fetch(download_url);
      assert.equal(unsigned.status, 401);
      const foreign = await payCall(mock, other.client, 'GET', `${target.pathname}${target.search}`, at());
      assert.equal(foreign.status, 403);
      assert.equal(foreign.json().code, 'NO_AUTH');
      now += 31_000;
      const expired = await payCall(mock, m.client, 'GET', `${target.pathname}${target.search}`, at());
      assert.equal(expired.status, 400);
      const today = await payCall(mock, m.client, 'GET', `/v3/bill/fundflowbill?bill_date=${chinaTime(new Date(now)).slice(0, 10)}`, at());
      assert.equal(today.json().code, 'STATEMENT_CREATING');
      const badAccount = await payCall(mock, m.client, 'GET', `/v3/bill/fundflowbill?bill_date=${date}&account_type=CASH`, at());
      assert.equal(badAccount.json().code, 'PARAM_ERROR');
    } finally {
      now = Date.now();
    }
  });

  test('media: signed over meta (a signature over the whole body is refused), digest and type checked', async () => {
    const file = randomBytes(1000);
    const meta = JSON.stringify({ filename: 'x.png', sha256: createHash('sha256').update(file).digest('hex') });
    const ok = await upload(mock, m, meta, multipart(meta, file, 'x.png'), 'meta');
    assert.equal(ok.status, 200, ok.text);
    assert.match(String((JSON.parse(ok.text) as { media_id: string }).media_id), /^I1_/);
    const wrongSigned = await upload(mock, m, meta, multipart(meta, file, 'x.png'), 'whole');
    assert.equal(wrongSigned.status, 401);
    assert.equal((JSON.parse(wrongSigned.text) as { code: string }).code, 'SIGN_ERROR');
    const other = randomBytes(1000);
    const mismatch = await upload(mock, m, meta, multipart(meta, other, 'x.png'), 'meta');
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.text, /sha256/);
    const notMultipart = await payCall(mock, m.client, 'POST', '/v3/merchant/media/upload', { body: { filename: 'x.png' } });
    assert.equal(notMultipart.status, 400);
  });
});

async function signedGetBytes(mock: MockWechat, m: MockPayMerchant, target: string, timestamp: number): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const url = `${mock.url}${target}`;
  const s = signRequest({ mchid: m.client.mchid, serialNo: m.client.merchantSerialNo, privateKey: m.client.privateKeyPem, method: 'GET', url: requestTargetOf(url), body: '', timestamp });
  const res = await fetch(url, { headers: { Authorization: s.authorization } });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

async function upload(mock: MockWechat, m: MockPayMerchant, meta: string, mp: { body: Buffer; contentType: string }, signOver: 'meta' | 'whole'): Promise<{ status: number; text: string }> {
  const url = `${mock.url}/v3/merchant/media/upload`;
  const s = signRequest({ mchid: m.client.mchid, serialNo: m.client.merchantSerialNo, privateKey: m.client.privateKeyPem, method: 'POST', url: '/v3/merchant/media/upload', body: signOver === 'meta' ? meta : mp.body });
  const res = await fetch(url, { method: 'POST', headers: { Authorization: s.authorization, 'Content-Type': mp.contentType, Accept: 'application/json' }, body: new Uint8Array(mp.body) });
  return { status: res.status, text: await res.text() };
}
