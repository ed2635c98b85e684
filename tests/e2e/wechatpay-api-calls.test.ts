// The everyday WeChat Pay v3 calls, typed, against the offline mock over real HTTP: Native / H5 /
// App / JSAPI orders and their payment parameters, queries and close, refund and its query, trade
// and fund-flow bills with their (unsigned, digest-checked) download, image and video uploads.
// Every request is signed and checked by the mock; every JSON answer is verified by the client.
// (In tests/e2e because @wxseal/mock-wechat depends on @wxseal/wechatpay: a package test of
// wechatpay may not import it.)
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { createMockPayMerchant, startMockWechat, type MockPayMerchant, type MockWechat } from '@wxseal/mock-wechat';
import {
  StaticMerchantMaterialSource,
  WechatPayApiError,
  WechatPayDownloadError,
  WechatPayError,
  WechatPayResponseError,
  appPrepay,
  buildAppPaymentMessage,
  chinaTime,
  createWechatPayClient,
  downloadBill,
  fundFlowBill,
  h5Prepay,
  mediaMeta,
  nativePrepay,
  tradeBill,
  uploadImage,
  uploadVideo,
  verifyAppPaymentParams,
  verifyRequestPaymentParams,
  type WechatPayClient,
  type WechatPayMerchantClient,
} from '@wxseal/wechatpay';

const DAY_MS = 86_400_000;
const APPID = 'wx1234567890abcdef';
const NOTIFY = 'https://example.com/wechatpay/notify';

/** assert.rejects matcher: class and code. */
function rejectsWith<T extends Error>(cls: new (...a: never[]) => T, code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal((e as unknown as { code: string }).code, code, String((e as Error).message));
    return true;
  };
}

let seq = 0;
const orderNo = (tag: string): string => `${tag}${Date.now().toString(36)}${(seq++).toString(36)}`;

describe('WeChat Pay typed calls against the mock', () => {
  // One clock for the mock and the client: the bill tests move it forward a day.
  let now = Date.now();
  let mock: MockWechat;
  let merchant: MockPayMerchant;
  let pay: WechatPayClient;
  let m: WechatPayMerchantClient;

  before(async () => {
    merchant = await createMockPayMerchant();
    mock = await startMockWechat({ payMerchants: [merchant.config], clock: () => now });
    const c = merchant.client;
    const source = new StaticMerchantMaterialSource([
      { mchid: c.mchid, merchantSerialNo: c.merchantSerialNo, privateKey: c.privateKeyPem, apiV3Key: c.apiV3Key, platformCertificates: Object.values(mock.payPlatformCertificates()) },
    ]);
    pay = createWechatPayClient({ source, baseUrl: mock.url, retry: false, clock: () => now / 1000 });
    m = pay.merchant(c.mchid);
  });
  after(async () => {
    await pay.close();
    await mock.close();
  });

  const base = (no: string, total = 100) => ({ appid: APPID, description: 'wxseal typed call', out_trade_no: no, notify_url: NOTIFY, amount: { total, currency: 'CNY' } });

  describe('orders', () => {
    test('Native: code_url; query by out_trade_no (NOTPAY, NATIVE) then by transaction_id once paid', async () => {
      const no = orderNo('N');
      const { code_url } = await nativePrepay(m, base(no));
      assert.match(code_url, /^weixin:\/\/wxpay\/bizpayurl\?pr=/);
      const again = await nativePrepay(m, base(no));
      assert.equal(again.code_url, code_url, 'the same body for the same out_trade_no is the same order');
      const q = await m.queryOrderByOutTradeNo(no);
      assert.equal(q.trade_state, 'NOTPAY');
      assert.equal(q.trade_type, 'NATIVE');
      assert.equal(q.transaction_id, undefined);
      await mock.simulatePayment(no, { notify: false });
      const paid = await m.queryOrderByOutTradeNo(no);
      assert.equal(paid.trade_state, 'SUCCESS');
      assert.equal(typeof paid.transaction_id, 'string');
      assert.equal(typeof paid.payer?.openid, 'string');
      const byId = await m.queryOrderById(paid.transaction_id as string);
      assert.equal(byId.out_trade_no, no);
      assert.equal(byId.amount?.total, 100);
    });

    test('H5: h5_url; h5_info is required (checked by the client, and by the mock for raw requests)', async () => {
      const no = orderNo('H');
      const { h5_url } = await h5Prepay(m, { ...base(no), scene_info: { payer_client_ip: '203.0.113.7', h5_info: { type: 'Wap', app_name: 'shop', app_url: 'https://shop.example.com' } } });
      assert.match(h5_url, /^https:\/\/wx\.tenpay\.com\/cgi-bin\/mmpayweb-bin\/checkmweb\?prepay_id=wx/);
      assert.equal((await m.queryOrderByOutTradeNo(no)).trade_type, 'MWEB');
      await assert.rejects(
        // @ts-expect-error h5_info is required by the type too
        h5Prepay(m, { ...base(orderNo('H')), scene_info: { payer_client_ip: '203.0.113.7' } }),
        rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'),
      );
      await assert.rejects(
        m.request({ method: 'POST', path: '/v3/pay/transactions/h5', body: { ...base(orderNo('H')), mchid: m.mchid, scene_info: { payer_client_ip: '203.0.113.7' } } }),
        (e: unknown) => {
          assert.ok(e instanceof WechatPayApiError && e.code === 'PARAM_ERROR' && e.status === 400 && e.authenticated, String(e));
          assert.match(e.apiMessage, /h5_info/);
          return true;
        },
      );
    });

    test('App: prepay_id and the App SDK parameters (appid\\ntimestamp\\nnoncestr\\nprepayid\\n, Sign=WXPay)', async () => {
      const no = orderNo('A');
      const { prepay_id } = await appPrepay(m, base(no));
      assert.match(prepay_id, /^wx[0-9]{14}[0-9a-f]{20}$/);
      assert.equal((await m.queryOrderByOutTradeNo(no)).trade_type, 'APP');
      const params = m.appPaymentParams(APPID, prepay_id);
      assert.equal(params.partnerid, m.mchid);
      assert.equal(params.package, 'Sign=WXPay');
      assert.equal(params.prepayid, prepay_id);
      assert.match(params.timestamp, /^[0-9]{10}$/);
      assert.equal(buildAppPaymentMessage(params.appid, params.timestamp, params.noncestr, params.prepayid), `${APPID}\n${params.timestamp}\n${params.noncestr}\n${prepay_id}\n`);
      const merchantKey = createPublicKey(merchant.client.merchantCertificatePem);
      assert.equal(verifyAppPaymentParams(params, merchantKey), true);
      assert.equal(verifyAppPaymentParams({ ...params, prepayid: `${prepay_id}x` }, merchantKey), false);
    });

    test('JSAPI (kept): prepay_id and wx.requestPayment parameters (appId\\ntimeStamp\\nnonceStr\\npackage\\n)', async () => {
      const no = orderNo('J');
      const { prepay_id } = await m.jsapiPrepay({ ...base(no), payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' } });
      const params = m.requestPaymentParams(APPID, prepay_id);
      assert.equal(params.package, `prepay_id=${prepay_id}`);
      assert.equal(params.signType, 'RSA');
      assert.equal(verifyRequestPaymentParams(params, createPublicKey(merchant.client.merchantCertificatePem)), true);
      assert.equal((await m.queryOrderByOutTradeNo(no)).trade_type, 'JSAPI');
    });

    test('close: 204, then CLOSED; the same out_trade_no again → ORDER_CLOSED; unknown orders → ORDER_NOT_EXIST', async () => {
      const no = orderNo('C');
      await nativePrepay(m, base(no));
      assert.equal(await m.closeOrder(no), undefined);
      assert.equal((await m.queryOrderByOutTradeNo(no)).trade_state, 'CLOSED');
      await assert.rejects(nativePrepay(m, base(no)), rejectsWith(WechatPayApiError, 'ORDER_CLOSED'));
      await assert.rejects(m.queryOrderByOutTradeNo(orderNo('X')), rejectsWith(WechatPayApiError, 'ORDER_NOT_EXIST'));
      await assert.rejects(m.queryOrderById('4200000000000000000000000000'), rejectsWith(WechatPayApiError, 'ORDER_NOT_EXIST'));
      await assert.rejects(m.closeOrder(orderNo('X')), rejectsWith(WechatPayApiError, 'ORDER_NOT_EXIST'));
      // A paid order cannot be closed.
      const paidNo = orderNo('C');
      await appPrepay(m, base(paidNo));
      await mock.simulatePayment(paidNo, { notify: false });
      await assert.rejects(m.closeOrder(paidNo), rejectsWith(WechatPayApiError, 'INVALID_REQUEST'));
    });

    test('refund and its query stay consistent; an unpaid order cannot be refunded; unknown refund → RESOURCE_NOT_EXISTS', async () => {
      const no = orderNo('R');
      await appPrepay(m, base(no, 300));
      await assert.rejects(m.refund({ out_trade_no: no, out_refund_no: `RF${no}`, amount: { refund: 100, total: 300, currency: 'CNY' } }), rejectsWith(WechatPayApiError, 'INVALID_REQUEST'));
      await mock.simulatePayment(no, { notify: false });
      const r = await m.refund({ out_trade_no: no, out_refund_no: `RF${no}`, amount: { refund: 100, total: 300, currency: 'CNY' } });
      assert.equal(r.status, 'PROCESSING');
      assert.equal(r.out_trade_no, no);
      const again = await m.refund({ out_trade_no: no, out_refund_no: `RF${no}`, amount: { refund: 100, total: 300, currency: 'CNY' } });
      assert.equal(again.refund_id, r.refund_id, 'the same out_refund_no refunds once');
      assert.equal((await m.queryRefund(`RF${no}`)).refund_id, r.refund_id);
      await mock.completePayRefund(`RF${no}`, { notify: false });
      const done = await m.queryRefund(`RF${no}`);
      assert.equal(done.status, 'SUCCESS');
      assert.equal(done.amount?.refund, 100);
      assert.equal((await m.queryOrderByOutTradeNo(no)).trade_state, 'REFUND');
      await assert.rejects(m.queryRefund(orderNo('RX')), rejectsWith(WechatPayApiError, 'RESOURCE_NOT_EXISTS'));
    });
  });

  describe('bills', () => {
    let billDate = '';
    let paidNo = '';
    let refundNo = '';

    before(async () => {
      // Orders paid "yesterday": pay them, then move the shared clock a day on.
      paidNo = orderNo('B');
      await nativePrepay(m, base(paidNo, 1234));
      await mock.simulatePayment(paidNo, { notify: false });
      refundNo = `RF${paidNo}`;
      await m.refund({ out_trade_no: paidNo, out_refund_no: refundNo, amount: { refund: 234, total: 1234, currency: 'CNY' } });
      billDate = chinaTime(new Date(now)).slice(0, 10);
      now += DAY_MS;
    });
    after(() => {
      now = Date.now();
    });

    test('trade bill: download_url + SHA1; the download (unsigned) matches, lists the order and the refund', async () => {
      const info = await tradeBill(m, { bill_date: billDate });
      assert.equal(info.hash_type, 'SHA1');
      assert.match(info.hash_value, /^[0-9a-f]{40}$/);
      assert.match(info.download_url, /\/v3\/billdownload\/file\?token=/);
      const bill = (await downloadBill(m, info)).toString('utf8');
      assert.equal(createHash('sha1').update(bill).digest('hex'), info.hash_value);
      assert.match(bill, /^交易时间,公众账号ID,商户号/);
      assert.ok(bill.includes(`\`${paidNo}`), bill);
      assert.ok(bill.includes(`\`${refundNo}`), bill);
      assert.ok(bill.includes('`12.34'), bill);
      const successOnly = (await downloadBill(m, await tradeBill(m, { bill_date: billDate, bill_type: 'SUCCESS' }))).toString('utf8');
      assert.ok(successOnly.includes(paidNo) && !successOnly.includes(refundNo));
    });

    test('tar_type GZIP: the file is gzip, the digest is the uncompressed bill\'s', async () => {
      const info = await tradeBill(m, { bill_date: billDate, tar_type: 'GZIP' });
      const raw = await m.request<Buffer>({ method: 'GET', path: '/v3/billdownload/file', query: Object.fromEntries(new URL(info.download_url).searchParams), download: {} });
      assert.equal(raw.data[0], 0x1f);
      assert.equal(raw.data[1], 0x8b);
      assert.equal(createHash('sha1').update(gunzipSync(raw.data)).digest('hex'), info.hash_value);
      const bill = await downloadBill(m, await tradeBill(m, { bill_date: billDate, tar_type: 'GZIP' }), { tarType: 'GZIP' });
      assert.ok(bill.toString('utf8').includes(paidNo));
    });

    test('fund flow bill: income and refund lines of the BASIC account; OPERATION is empty', async () => {
      const info = await fundFlowBill(m, { bill_date: billDate, account_type: 'BASIC' });
      const bill = (await downloadBill(m, info)).toString('utf8');
      assert.match(bill, /^记账时间,微信支付业务单号/);
      assert.ok(bill.includes('`收入') && bill.includes('`支出') && bill.includes(paidNo), bill);
      const op = (await downloadBill(m, await fundFlowBill(m, { bill_date: billDate, account_type: 'OPERATION' }))).toString('utf8');
      assert.ok(!op.includes(paidNo));
    });

    test('a digest that does not match → WECHATPAY_BILL_HASH_MISMATCH; not SHA1 → WECHATPAY_BILL_HASH_UNSUPPORTED', async () => {
      const info = await tradeBill(m, { bill_date: billDate });
      const wrong = info.hash_value.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      await assert.rejects(downloadBill(m, { ...info, hash_value: wrong }), (e: unknown) => {
        assert.ok(e instanceof WechatPayDownloadError && e.code === 'WECHATPAY_BILL_HASH_MISMATCH', String(e));
        assert.equal(e.path, '/v3/billdownload/file');
        assert.ok(!e.message.includes('token='), 'the token is not in the message');
        return true;
      });
      await assert.rejects(downloadBill(m, { ...info, hash_type: 'MD5' }), rejectsWith(WechatPayDownloadError, 'WECHATPAY_BILL_HASH_UNSUPPORTED'));
    });

    test('the unsigned download is accepted only as a download: the same GET as a JSON call is refused', async () => {
      const info = await tradeBill(m, { bill_date: billDate });
      await assert.rejects(
        m.request({ method: 'GET', path: '/v3/billdownload/file', query: Object.fromEntries(new URL(info.download_url).searchParams) }),
        (e: unknown) => e instanceof WechatPayResponseError && e.code === 'WECHATPAY_MISSING_HEADER',
      );
    });

    test('WeChat Pay refusals: today\'s bill (STATEMENT_CREATING), a future one, an expired token, a bad date', async () => {
      const today = chinaTime(new Date(now)).slice(0, 10);
      await assert.rejects(tradeBill(m, { bill_date: today }), rejectsWith(WechatPayApiError, 'STATEMENT_CREATING'));
      await assert.rejects(fundFlowBill(m, { bill_date: chinaTime(new Date(now + 3 * DAY_MS)).slice(0, 10) }), rejectsWith(WechatPayApiError, 'NO_STATEMENT_EXIST'));
      const info = await tradeBill(m, { bill_date: billDate });
      now += 31_000;
      await assert.rejects(downloadBill(m, info), rejectsWith(WechatPayApiError, 'PARAM_ERROR'));
      await assert.rejects(tradeBill(m, { bill_date: '2024/01/01' }), rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'));
      // @ts-expect-error not a bill type
      await assert.rejects(tradeBill(m, { bill_date: billDate, bill_type: 'ANY' }), rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'));
    });
  });

  describe('media uploads', () => {
    // Any bytes do: the mock, like WeChat Pay's API, checks the digest, the extension and the size.
    const image = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(4096), Buffer.from([0xff, 0xd9])]);

    test('image and video: multipart meta + file, signed over meta; media_id back', async () => {
      const img = await uploadImage(m, { filename: 'shop-front.jpg', file: image });
      assert.match(img.media_id, /^[A-Za-z0-9_-]{20,}$/);
      const video = await uploadVideo(m, { filename: 'demo.mp4', file: randomBytes(300 * 1024) });
      assert.match(video.media_id, /^[A-Za-z0-9_-]{20,}$/);
      assert.notEqual(img.media_id, video.media_id);
    });

    test('a file that is not the one meta describes → PARAM_ERROR; wrong types and sizes are refused before sending', async () => {
      await assert.rejects(
        m.request({ method: 'POST', path: '/v3/merchant/media/upload', multipart: { meta: mediaMeta('a.png', image), file: Buffer.concat([image, Buffer.from([0])]), filename: 'a.png', contentType: 'image/png' } }),
        (e: unknown) => {
          assert.ok(e instanceof WechatPayApiError && e.code === 'PARAM_ERROR' && e.authenticated, String(e));
          assert.match(e.apiMessage, /sha256/);
          return true;
        },
      );
      await assert.rejects(uploadImage(m, { filename: 'a.gif', file: image }), rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'));
      await assert.rejects(uploadImage(m, { filename: 'big.png', file: Buffer.alloc(2 * 1024 * 1024 + 1) }), rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'));
      await assert.rejects(uploadVideo(m, { filename: 'clip.jpg', file: image }), rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'));
      // The mock refuses an extension the client would not send.
      await assert.rejects(
        m.request({ method: 'POST', path: '/v3/merchant/media/upload', multipart: { meta: mediaMeta('a.gif', image), file: image, filename: 'a.gif', contentType: 'image/gif' } }),
        rejectsWith(WechatPayApiError, 'PARAM_ERROR'),
      );
    });
  });
});
