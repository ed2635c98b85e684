// Callback notifications: the framework-free core, the Fastify plugin and the Express middleware,
// the latter two over real HTTP. Valid callbacks reach the typed handler and get 2xx without
// body; tampered, unsigned, stale or probe callbacks get 401 {code:FAIL} and never reach it;
// a throwing handler gets 500 so that WeChat Pay sends the callback again.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { request } from 'undici';
import { buildNotification, type BuiltNotification, type JsonObject } from '../src/index.js';
import { wechatPayExpress } from '../src/express.js';
import { wechatPayNotifications } from '../src/fastify.js';
import { handleNotification, notificationRouter, type NotificationEvent, type VerifiedNotification } from '../src/notify/index.js';
import type { RefundResource, TransactionResource } from '../src/index.js';
import { REFUND, TRANSACTION, makeWorld, staticSource, type SignerFixture, type World } from './client-helpers.js';

let world: World;
before(async () => {
  world = await makeWorld();
});

function transactionCallback(opts: { signer?: SignerFixture; apiV3Key?: string; timestamp?: number; resource?: JsonObject } = {}): BuiltNotification {
  const signer = opts.signer ?? world.platform;
  return buildNotification({
    event_type: 'TRANSACTION.SUCCESS',
    resource: opts.resource ?? { ...TRANSACTION, mchid: world.a.mchid },
    original_type: 'transaction',
    summary: '支付成功',
    apiV3Key: opts.apiV3Key ?? world.a.apiV3Key,
    privateKey: signer.keys.privateKey,
    serial: signer.serial,
    timestamp: opts.timestamp,
  });
}

function refundCallback(): BuiltNotification {
  return buildNotification({
    event_type: 'REFUND.SUCCESS',
    resource: { mchid: world.a.mchid, out_trade_no: REFUND.out_trade_no, transaction_id: REFUND.transaction_id, out_refund_no: REFUND.out_refund_no, refund_id: REFUND.refund_id, refund_status: 'SUCCESS', success_time: '2020-12-01T16:19:12+08:00', user_received_account: '招商银行信用卡0403', amount: { total: 100, refund: 100, payer_total: 100, payer_refund: 100 } },
    original_type: 'refund',
    summary: '退款成功',
    apiV3Key: world.a.apiV3Key,
    privateKey: world.pub.keys.privateKey,
    serial: world.pub.serial,
  });
}

function tamper(body: string): string {
  const i = body.indexOf('"summary":"') + '"summary":"'.length;
  return `${body.slice(0, i)}X${body.slice(i + 1)}`;
}

const failBody = (text: string | undefined) => JSON.parse(text ?? '') as { code: string; message: string };

describe('handleNotification (framework-free)', () => {
  test('a valid payment callback reaches the handler typed and decrypted; the answer is 204 without body', async () => {
    const n = transactionCallback();
    const seen: VerifiedNotification[] = [];
    const events: NotificationEvent[] = [];
    const answer = await handleNotification({ headers: n.headers, rawBody: Buffer.from(n.body), source: staticSource(world), mchid: world.a.mchid, handler: (x) => void seen.push(x), onEvent: (e) => events.push(e) });
    assert.deepEqual(answer, { status: 204, body: undefined, headers: {} });
    assert.equal(seen.length, 1);
    const got = seen[0]!;
    assert.equal(got.kind, 'transaction');
    assert.equal(got.mchid, world.a.mchid);
    assert.equal(got.verified.keyKind, 'certificate');
    if (got.kind !== 'transaction') throw new Error('unreachable');
    assert.equal(got.resource.out_trade_no, TRANSACTION.out_trade_no);
    assert.equal(got.resource.amount.total, 100);
    assert.equal(got.envelope.event_type, 'TRANSACTION.SUCCESS');
    assert.equal(events[0]?.type, 'accepted');
  });

  test('tampered, unsigned, stale and probe callbacks get 401 FAIL and never reach the handler', async () => {
    const n = transactionCallback();
    const stale = transactionCallback({ timestamp: Math.floor(Date.now() / 1000) - 301 });
    const probe = { ...n.headers, 'Wechatpay-Signature': `WECHATPAY/SIGNTEST/${n.headers['Wechatpay-Signature']}` };
    const unsigned = { 'Content-Type': 'application/json' };
    const wrongKey = transactionCallback({ signer: { serial: world.platform.serial, keys: world.pub.keys } });
    let calls = 0;
    for (const [headers, body] of [[n.headers, tamper(n.body)], [unsigned, n.body], [stale.headers, stale.body], [probe, n.body], [wrongKey.headers, wrongKey.body]] as const) {
      const answer = await handleNotification({ headers, rawBody: body, source: staticSource(world), mchid: world.a.mchid, handler: () => void calls++ });
      assert.equal(answer.status, 401);
      assert.deepEqual(failBody(answer.body), { code: 'FAIL', message: 'signature verification failed' });
    }
    assert.equal(calls, 0);
  });

  test('a verified callback whose body was re-serialised is refused (raw bytes only)', async () => {
    const n = transactionCallback();
    const parsed = JSON.parse(n.body) as unknown;
    let calls = 0;
    const a1 = await handleNotification({ headers: n.headers, rawBody: parsed, source: staticSource(world), mchid: world.a.mchid, handler: () => void calls++ });
    assert.equal(a1.status, 500);
    const a2 = await handleNotification({ headers: n.headers, rawBody: JSON.stringify(parsed, null, 1), source: staticSource(world), mchid: world.a.mchid, handler: () => void calls++ });
    assert.equal(a2.status, 401);
    assert.equal(calls, 0);
  });

  test('a throwing handler gives 500 FAIL without its message; an unknown merchant gives 500', async () => {
    const n = transactionCallback();
    const events: NotificationEvent[] = [];
    const answer = await handleNotification({ headers: n.headers, rawBody: n.body, source: staticSource(world), mchid: world.a.mchid, handler: () => { throw new Error('db down: password=hunter2'); }, onEvent: (e) => events.push(e) });
    assert.equal(answer.status, 500);
    assert.equal(failBody(answer.body).code, 'FAIL');
    assert.ok(!answer.body?.includes('hunter2'));
    assert.ok(events.some((e) => e.type === 'handler-failed'));
    const other = await handleNotification({ headers: n.headers, rawBody: n.body, source: staticSource(world), mchid: '1999999999', handler: () => undefined });
    assert.equal(other.status, 500);
  });

  test('a resource encrypted under another APIv3 key is 500 (cannot decrypt) and the handler is not called', async () => {
    const n = transactionCallback({ apiV3Key: world.b.apiV3Key });
    let calls = 0;
    const answer = await handleNotification({ headers: n.headers, rawBody: n.body, source: staticSource(world), mchid: world.a.mchid, handler: () => void calls++ });
    assert.equal(answer.status, 500);
    assert.equal(calls, 0);
  });

  test('unknown serial → one refresh, then accepted; still unknown → 401', async () => {
    const n = transactionCallback({ signer: world.platform2 });
    let refreshes = 0;
    const source = staticSource(world, { refresh: () => { refreshes++; return { platformCertificates: [world.platform.certificatePem, world.platform2.certificatePem] }; } });
    let calls = 0;
    const ok = await handleNotification({ headers: n.headers, rawBody: n.body, source, mchid: world.a.mchid, handler: () => void calls++ });
    assert.equal(ok.status, 204);
    assert.equal(refreshes, 1);
    assert.equal(calls, 1);
    let refreshes2 = 0;
    const source2 = staticSource(world, { refresh: () => void refreshes2++ });
    const no = await handleNotification({ headers: n.headers, rawBody: n.body, source: source2, mchid: world.a.mchid, handler: () => void calls++ });
    assert.equal(no.status, 401);
    assert.equal(refreshes2, 1);
    assert.equal(calls, 1);
  });

  test('the router dispatches refunds (public-key signed) to onRefund; no handler for a kind → 500', async () => {
    const n = refundCallback();
    const refunds: RefundResource[] = [];
    const answer = await handleNotification({ headers: n.headers, rawBody: n.body, source: staticSource(world), mchid: world.a.mchid, handler: notificationRouter({ onRefund: (r) => void refunds.push(r) }) });
    assert.equal(answer.status, 204);
    assert.equal(refunds[0]?.refund_status, 'SUCCESS');
    assert.equal(refunds[0]?.amount.refund, 100);
    const none = await handleNotification({ headers: n.headers, rawBody: n.body, source: staticSource(world), mchid: world.a.mchid, handler: notificationRouter({ onTransaction: () => undefined }) });
    assert.equal(none.status, 500);
  });

  test('oversized bodies are refused with 413', async () => {
    const answer = await handleNotification({ headers: {}, rawBody: Buffer.alloc(70_000), source: staticSource(world), mchid: world.a.mchid, handler: () => undefined });
    assert.equal(answer.status, 413);
  });
});

async function post(url: string, headers: Record<string, string>, body: string | Buffer) {
  const res = await request(url, { method: 'POST', headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, text, headers: res.headers };
}

describe('Fastify plugin over HTTP', () => {
  const app = Fastify();
  let url = '';
  const transactions: TransactionResource[] = [];
  let throwNext = false;
  before(async () => {
    await app.register(wechatPayNotifications, {
      path: '/wechatpay/notify',
      mchid: world.a.mchid,
      source: staticSource(world),
      onTransaction: (t) => {
        if (throwNext) throw new Error('boom');
        transactions.push(t);
      },
    });
    // the rest of the app keeps the default JSON parser (the raw-body parser is scoped to the plugin)
    app.post('/echo', async (req) => ({ parsed: req.body }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(() => app.close());

  test('a valid callback reaches onTransaction typed; the answer is 204 without body', async () => {
    const n = transactionCallback();
    const r = await post(`${url}/wechatpay/notify`, n.headers, n.body);
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal(transactions.length, 1);
    assert.equal(transactions[0]?.transaction_id, TRANSACTION.transaction_id);
    assert.equal(transactions[0]?.trade_state, 'SUCCESS');
  });

  test('a tampered callback gets 401 {code: FAIL} and the handler is not called', async () => {
    const before = transactions.length;
    const n = transactionCallback();
    const r = await post(`${url}/wechatpay/notify`, n.headers, tamper(n.body));
    assert.equal(r.status, 401);
    assert.deepEqual(JSON.parse(r.text), { code: 'FAIL', message: 'signature verification failed' });
    const u = await post(`${url}/wechatpay/notify`, { 'content-type': 'application/json' }, n.body);
    assert.equal(u.status, 401);
    assert.equal(transactions.length, before);
  });

  test('a throwing handler gives 500 FAIL (WeChat retries)', async () => {
    throwNext = true;
    try {
      const n = transactionCallback();
      const r = await post(`${url}/wechatpay/notify`, n.headers, n.body);
      assert.equal(r.status, 500);
      assert.equal(JSON.parse(r.text).code, 'FAIL');
      assert.ok(!r.text.includes('boom'));
    } finally {
      throwNext = false;
    }
  });

  test('other routes still parse JSON', async () => {
    const r = await post(`${url}/echo`, { 'content-type': 'application/json' }, '{"a":1}');
    assert.deepEqual(JSON.parse(r.text), { parsed: { a: 1 } });
  });

  test('an oversized callback is refused with a FAIL body', async () => {
    const r = await post(`${url}/wechatpay/notify`, { 'content-type': 'application/json' }, Buffer.alloc(70_000, 0x20));
    assert.equal(r.status, 413);
    assert.equal(JSON.parse(r.text).code, 'FAIL');
  });
});

describe('Express middleware over HTTP', () => {
  const app = express();
  let server: ReturnType<typeof app.listen>;
  let url = '';
  const transactions: TransactionResource[] = [];
  let throwNext = false;
  const options = {
    onTransaction: (t: TransactionResource) => {
      if (throwNext) throw new Error('boom');
      transactions.push(t);
    },
  };
  before(async () => {
    const source = staticSource(world);
    // reads the stream itself
    app.post('/wechatpay/notify', wechatPayExpress({ ...options, mchid: world.a.mchid, source }));
    // after express.raw
    app.post('/raw/notify', express.raw({ type: '*/*' }), wechatPayExpress({ ...options, mchid: world.a.mchid, source }));
    // after express.json: the raw bytes are gone → refused
    app.post('/json/notify', express.json(), wechatPayExpress({ ...options, mchid: world.a.mchid, source }));
    await new Promise<void>((resolve) => {
      server = app.listen(0, '127.0.0.1', () => resolve());
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('a valid callback reaches onTransaction (stream read or express.raw); 204 without body', async () => {
    for (const path of ['/wechatpay/notify', '/raw/notify']) {
      const n = transactionCallback();
      const r = await post(`${url}${path}`, n.headers, n.body);
      assert.equal(r.status, 204, path);
      assert.equal(r.text, '');
    }
    assert.equal(transactions.length, 2);
    assert.equal(transactions[1]?.out_trade_no, TRANSACTION.out_trade_no);
  });

  test('tampered and stale callbacks get 401 FAIL; the handler is not called', async () => {
    const before = transactions.length;
    const n = transactionCallback();
    const r = await post(`${url}/wechatpay/notify`, n.headers, tamper(n.body));
    assert.equal(r.status, 401);
    assert.deepEqual(JSON.parse(r.text), { code: 'FAIL', message: 'signature verification failed' });
    const s = transactionCallback({ timestamp: Math.floor(Date.now() / 1000) - 600 });
    assert.equal((await post(`${url}/raw/notify`, s.headers, s.body)).status, 401);
    assert.equal(transactions.length, before);
  });

  test('a throwing handler gives 500 FAIL; a body parsed by express.json is refused (500)', async () => {
    throwNext = true;
    try {
      const n = transactionCallback();
      const r = await post(`${url}/wechatpay/notify`, n.headers, n.body);
      assert.equal(r.status, 500);
      assert.equal(JSON.parse(r.text).code, 'FAIL');
    } finally {
      throwNext = false;
    }
    const before = transactions.length;
    const n = transactionCallback();
    const j = await post(`${url}/json/notify`, n.headers, n.body);
    assert.equal(j.status, 500);
    assert.deepEqual(JSON.parse(j.text), { code: 'FAIL', message: 'raw request body unavailable' });
    assert.equal(transactions.length, before);
  });

  test('an oversized callback is refused with 413', async () => {
    const r = await post(`${url}/wechatpay/notify`, { 'content-type': 'application/json' }, Buffer.alloc(70_000, 0x20));
    assert.equal(r.status, 413);
  });
});
