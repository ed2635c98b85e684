// Pay side: JSAPI prepay → query → close, payment → refund → query refund, idempotency, callbacks,
// faults on Pay paths, control API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isWechatPayError, parseNotification } from '@wxseal/wechatpay';
import { createMockPayMerchant, startMockWechat, type MockPayMerchant, type MockWechat } from '@wxseal/mock-wechat';
import { callbackServer, payCall, payKeys, verifyAnswer } from './pay-helpers.js';

function prepayBody(m: MockPayMerchant, outTradeNo: string, notifyUrl: string, total = 100): Record<string, unknown> {
  return {
    appid: 'wx1234567890abcdef',
    mchid: m.client.mchid,
    description: 'wxseal test order',
    out_trade_no: outTradeNo,
    notify_url: notifyUrl,
    amount: { total, currency: 'CNY' },
    payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
  };
}

describe('WeChat Pay v3: orders, refunds, callbacks', () => {
  let mock: MockWechat;
  let m: MockPayMerchant;
  let pk: MockPayMerchant;
  let cb: Awaited<ReturnType<typeof callbackServer>>;

  before(async () => {
    [m, pk] = await Promise.all([createMockPayMerchant(), createMockPayMerchant({ mode: 'public-key' })]);
    mock = await startMockWechat({ payMerchants: [m.config] });
    await mock.addPayMerchant(pk.config);
    cb = await callbackServer();
  });
  after(async () => {
    await cb.close();
    await mock.close();
  });

  test('prepay → query → idempotent prepay → OUT_TRADE_NO_USED → close (204) → CLOSED → ORDER_CLOSED', async () => {
    const no = `T${Date.now()}a`;
    const first = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body: prepayBody(m, no, cb.url) });
    assert.equal(first.status, 200, first.text);
    verifyAnswer(mock, first);
    const prepayId = first.json().prepay_id;
    assert.match(String(prepayId), /^wx[0-9]{14}[0-9a-f]{20}$/);

    const q = await payCall(mock, m.client, 'GET', `/v3/pay/transactions/out-trade-no/${no}?mchid=${m.client.mchid}`);
    assert.equal(q.status, 200, q.text);
    verifyAnswer(mock, q);
    assert.equal(q.json().trade_state, 'NOTPAY');
    assert.equal(q.json().out_trade_no, no);
    assert.equal(q.json().transaction_id, undefined);

    const again = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body: prepayBody(m, no, cb.url) });
    assert.equal(again.status, 200);
    assert.equal(again.json().prepay_id, prepayId);

    const changed = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body: prepayBody(m, no, cb.url, 101) });
    assert.equal(changed.status, 403);
    assert.equal(changed.json().code, 'OUT_TRADE_NO_USED');
    verifyAnswer(mock, changed);

    const close = await payCall(mock, m.client, 'POST', `/v3/pay/transactions/out-trade-no/${no}/close`, { body: { mchid: m.client.mchid } });
    assert.equal(close.status, 204);
    assert.equal(close.text, '');
    verifyAnswer(mock, close);

    const closed = await payCall(mock, m.client, 'GET', `/v3/pay/transactions/out-trade-no/${no}?mchid=${m.client.mchid}`);
    assert.equal(closed.json().trade_state, 'CLOSED');
    const reopen = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body: prepayBody(m, no, cb.url) });
    assert.equal(reopen.status, 400);
    assert.equal(reopen.json().code, 'ORDER_CLOSED');
  });

  test('validation: PARAM_ERROR for a missing openid, mchid mismatch; 404 ORDER_NOT_EXIST', async () => {
    const body = prepayBody(m, `V${Date.now()}`, cb.url);
    body.payer = {};
    const a = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body });
    assert.equal(a.status, 400);
    assert.equal(a.json().code, 'PARAM_ERROR');
    assert.match(String(a.json().message), /\/body\/payer\/openid/);
    const wrongMchid = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body: { ...prepayBody(m, `W${Date.now()}`, cb.url), mchid: '1000000001' } });
    assert.equal(wrongMchid.status, 400);
    assert.equal(wrongMchid.json().code, 'PARAM_ERROR');
    const notJson = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body: '{not json' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json().code, 'PARAM_ERROR');
    const missing = await payCall(mock, m.client, 'GET', `/v3/pay/transactions/out-trade-no/absent0001?mchid=${m.client.mchid}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json().code, 'ORDER_NOT_EXIST');
    const noMchid = await payCall(mock, m.client, 'GET', '/v3/pay/transactions/out-trade-no/absent0001');
    assert.equal(noMchid.status, 400);
    assert.equal(noMchid.json().code, 'PARAM_ERROR');
  });

  test('simulatePayment → TRANSACTION.SUCCESS callback verifies and decrypts; query by transaction_id; refund → query → REFUND.SUCCESS', async () => {
    const no = `P${Date.now()}b`;
    const prepay = await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body: prepayBody(m, no, cb.url, 250) });
    assert.equal(prepay.status, 200, prepay.text);
    const before = cb.received.length;
    const result = await mock.simulatePayment(no);
    assert.ok(result, 'a notification was sent');
    assert.equal(result.status, 200);
    assert.equal(result.acknowledged, true);
    assert.equal(cb.received.length, before + 1);
    const got = cb.received[cb.received.length - 1];
    assert.ok(got, 'callback received');
    const parsed = parseNotification({ headers: got.headers as Record<string, string>, body: got.body, keys: payKeys(mock), apiV3Key: m.client.apiV3Key });
    assert.equal(parsed.verified.keyKind, 'certificate');
    assert.equal(parsed.notification.kind, 'transaction');
    assert.equal(parsed.notification.envelope.event_type, 'TRANSACTION.SUCCESS');
    if (parsed.notification.kind !== 'transaction') return;
    const tx = parsed.notification.resource;
    assert.equal(tx.out_trade_no, no);
    assert.equal(tx.trade_state, 'SUCCESS');
    assert.equal(tx.amount.total, 250);
    assert.match(tx.transaction_id, /^[0-9]{28}$/);

    const byId = await payCall(mock, m.client, 'GET', `/v3/pay/transactions/id/${tx.transaction_id}?mchid=${m.client.mchid}`);
    assert.equal(byId.status, 200, byId.text);
    verifyAnswer(mock, byId);
    assert.equal(byId.json().trade_state, 'SUCCESS');
    assert.equal(byId.json().out_trade_no, no);

    const closePaid = await payCall(mock, m.client, 'POST', `/v3/pay/transactions/out-trade-no/${no}/close`, { body: { mchid: m.client.mchid } });
    assert.equal(closePaid.status, 400);

    const refundNo = `R${Date.now()}`;
    const refundBody = { out_trade_no: no, out_refund_no: refundNo, reason: 'test', notify_url: cb.url, amount: { refund: 100, total: 250, currency: 'CNY' } };
    const r1 = await payCall(mock, m.client, 'POST', '/v3/refund/domestic/refunds', { body: refundBody });
    assert.equal(r1.status, 200, r1.text);
    verifyAnswer(mock, r1);
    assert.equal(r1.json().status, 'PROCESSING');
    assert.equal(r1.json().transaction_id, tx.transaction_id);
    const r2 = await payCall(mock, m.client, 'POST', '/v3/refund/domestic/refunds', { body: refundBody });
    assert.equal(r2.status, 200);
    assert.equal(r2.json().refund_id, r1.json().refund_id);
    const r3 = await payCall(mock, m.client, 'POST', '/v3/refund/domestic/refunds', { body: { ...refundBody, amount: { refund: 120, total: 250, currency: 'CNY' } } });
    assert.equal(r3.status, 400);
    assert.equal(r3.json().code, 'INVALID_REQUEST');
    const tooMuch = await payCall(mock, m.client, 'POST', '/v3/refund/domestic/refunds', { body: { ...refundBody, out_refund_no: `${refundNo}x`, amount: { refund: 151, total: 250, currency: 'CNY' } } });
    assert.equal(tooMuch.status, 400);

    const q = await payCall(mock, m.client, 'GET', `/v3/refund/domestic/refunds/${refundNo}`);
    assert.equal(q.status, 200);
    assert.equal(q.json().status, 'PROCESSING');
    const noRefund = await payCall(mock, m.client, 'GET', '/v3/refund/domestic/refunds/none');
    assert.equal(noRefund.status, 404);
    assert.equal(noRefund.json().code, 'RESOURCE_NOT_EXISTS');

    const done = await mock.completePayRefund(refundNo);
    assert.ok(done?.acknowledged, 'refund callback acknowledged');
    const last = cb.received[cb.received.length - 1];
    assert.ok(last, 'refund callback received');
    const refundParsed = parseNotification({ headers: last.headers as Record<string, string>, body: last.body, keys: payKeys(mock), apiV3Key: m.client.apiV3Key });
    assert.equal(refundParsed.notification.kind, 'refund');
    if (refundParsed.notification.kind === 'refund') {
      assert.equal(refundParsed.notification.resource.refund_status, 'SUCCESS');
      assert.equal(refundParsed.notification.resource.out_refund_no, refundNo);
    }
    const q2 = await payCall(mock, m.client, 'GET', `/v3/refund/domestic/refunds/${refundNo}`);
    assert.equal(q2.json().status, 'SUCCESS');
    const order = await payCall(mock, m.client, 'GET', `/v3/pay/transactions/out-trade-no/${no}?mchid=${m.client.mchid}`);
    assert.equal(order.json().trade_state, 'REFUND');
  });

  test('tampered callbacks fail verification: body, signature, timestamp, serial, probe', async () => {
    const no = `X${Date.now()}c`;
    await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body: prepayBody(m, no, cb.url) });
    await mock.simulatePayment(no, { notify: false });
    const expected = {
      body: 'WECHATPAY_BAD_SIGNATURE',
      signature: 'WECHATPAY_BAD_SIGNATURE',
      timestamp: 'WECHATPAY_TIMESTAMP_EXPIRED',
      serial: 'WECHATPAY_UNKNOWN_SERIAL',
      probe: 'WECHATPAY_PROBE_SIGNATURE',
    } as const;
    for (const [tamper, code] of Object.entries(expected) as [keyof typeof expected, (typeof expected)[keyof typeof expected]][]) {
      const res = await mock.payNotify({ event: 'TRANSACTION.SUCCESS', out_trade_no: no, tamper });
      assert.equal(res.status, 200, `${tamper}: delivered`);
      const got = cb.received[cb.received.length - 1];
      assert.ok(got, `${tamper}: received`);
      assert.throws(
        () => parseNotification({ headers: got.headers as Record<string, string>, body: got.body, keys: payKeys(mock), apiV3Key: m.client.apiV3Key }),
        (e: unknown) => isWechatPayError(e, code),
        `${tamper} → ${code}`,
      );
    }
    // Untampered, it verifies.
    await mock.payNotify({ event: 'TRANSACTION.SUCCESS', out_trade_no: no });
    const ok = cb.received[cb.received.length - 1];
    assert.ok(ok, 'received');
    assert.equal(parseNotification({ headers: ok.headers as Record<string, string>, body: ok.body, keys: payKeys(mock), apiV3Key: m.client.apiV3Key }).notification.kind, 'transaction');
  });

  test('public-key merchant: callbacks carry PUB_KEY_ID_ and verify with the public key', async () => {
    const no = `K${Date.now()}d`;
    const prepay = await payCall(mock, pk.client, 'POST', '/v3/pay/transactions/jsapi', { body: prepayBody(pk, no, cb.url) });
    assert.equal(prepay.status, 200, prepay.text);
    assert.equal(verifyAnswer(mock, prepay).keyKind, 'public-key');
    await mock.simulatePayment(no);
    const got = cb.received[cb.received.length - 1];
    assert.ok(got, 'received');
    assert.equal(got.headers['wechatpay-serial'], mock.payPublicKey().id);
    const parsed = parseNotification({ headers: got.headers as Record<string, string>, body: got.body, keys: payKeys(mock), apiV3Key: pk.client.apiV3Key });
    assert.equal(parsed.verified.keyKind, 'public-key');
  });

  test('a callback answering 500 is retried while retryDelaysMs last; unreachable → status 0', async () => {
    let calls = 0;
    const flaky = await callbackServer(() => (++calls < 3 ? 500 : 204));
    try {
      const no = `F${Date.now()}e`;
      await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body: prepayBody(m, no, flaky.url) });
      const res = await mock.simulatePayment(no, { retryDelaysMs: [10, 10, 10] });
      assert.ok(res, 'sent');
      assert.equal(res.attempts, 3);
      assert.equal(res.status, 204);
      assert.equal(res.acknowledged, true);
    } finally {
      await flaky.close();
    }
    const dead = await mock.payNotify({ event: 'TRANSACTION.SUCCESS', out_trade_no: (await lastPaid()) ?? '', url: 'http://127.0.0.1:1/notify', timeoutMs: 2000 });
    assert.equal(dead.status, 0);
    assert.equal(dead.acknowledged, false);
  });

  async function lastPaid(): Promise<string | undefined> {
    const no = `L${Date.now()}f`;
    await payCall(mock, m.client, 'POST', '/v3/pay/transactions/jsapi', { body: prepayBody(m, no, cb.url) });
    await mock.simulatePayment(no, { notify: false });
    return no;
  }
});

describe('WeChat Pay v3: faults and control API', () => {
  let mock: MockWechat;
  let m: MockPayMerchant;

  before(async () => {
    m = await createMockPayMerchant();
    mock = await startMockWechat({ payMerchants: [m.config] });
  });
  after(async () => {
    await mock.close();
  });

  test('429 FREQUENCY_LIMITED (http-status 429 or errcode 45011), 500 SYSTEM_ERROR, signed', async () => {
    mock.faults.add({ path: '/v3/certificates', kind: 'http-status', status: 429, times: 1 });
    const a = await payCall(mock, m.client, 'GET', '/v3/certificates');
    assert.equal(a.status, 429);
    assert.equal(a.json().code, 'FREQUENCY_LIMITED');
    verifyAnswer(mock, a);
    mock.faults.add({ path: /^\/v3\/pay\//, kind: 'errcode', errcode: 45011, times: 1 });
    const b = await payCall(mock, m.client, 'GET', `/v3/pay/transactions/out-trade-no/none0001?mchid=${m.client.mchid}`);
    assert.equal(b.status, 429);
    assert.equal(b.json().code, 'FREQUENCY_LIMITED');
    mock.faults.add({ path: '/v3/certificates', kind: 'http-status', status: 500, times: 1 });
    const c = await payCall(mock, m.client, 'GET', '/v3/certificates');
    assert.equal(c.status, 500);
    assert.equal(c.json().code, 'SYSTEM_ERROR');
    verifyAnswer(mock, c);
    const d = await payCall(mock, m.client, 'GET', '/v3/certificates');
    assert.equal(d.status, 200, 'faults used up');
  });

  test('drop and latency apply to Pay paths', async () => {
    mock.faults.add({ path: '/v3/certificates', kind: 'drop', times: 1 });
    await assert.rejects(payCall(mock, m.client, 'GET', '/v3/certificates'));
    mock.faults.add({ path: '/v3/certificates', kind: 'latency', latencyMs: 150, times: 1 });
    const t0 = Date.now();
    const a = await payCall(mock, m.client, 'GET', '/v3/certificates');
    assert.equal(a.status, 200);
    assert.ok(Date.now() - t0 >= 140, 'latency applied');
  });

  test('control API: rotate, withdraw, generate merchant, simulate payment', async () => {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${mock.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const before = mock.payPlatformSerial();
    const rotated = await post('/__mock/pay/platform/rotate', {});
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.json.rotatedTo, before);
    assert.equal(Object.keys(rotated.json.certificates as object).length, 2);
    const withdrawn = await post('/__mock/pay/platform/withdraw-old', {});
    assert.deepEqual(withdrawn.json.withdrawn, [before]);

    const gen = await post('/__mock/pay/merchants', { mode: 'both' });
    assert.equal(gen.status, 200);
    const client = gen.json.client as { mchid: string; merchantSerialNo: string; privateKeyPem: string; merchantCertificatePem: string; apiV3Key: string };
    assert.ok(mock.payMerchants().includes(client.mchid), 'merchant registered');
    const no = `C${Date.now()}g`;
    const prepay = await payCall(mock, client, 'POST', '/v3/pay/transactions/jsapi', { body: { ...prepayBody(m, no, 'https://example.invalid/notify'), mchid: client.mchid } });
    assert.equal(prepay.status, 200, prepay.text);
    const sim = await post('/__mock/pay/simulate-payment', { out_trade_no: no, notify: false });
    assert.equal(sim.status, 200);
    assert.equal((sim.json.order as Record<string, unknown>).trade_state, 'SUCCESS');
    const bad = await post('/__mock/pay/simulate-payment', { out_trade_no: 'unknown-order' });
    assert.equal(bad.status, 400);
  });
});
