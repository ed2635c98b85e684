// The WeChat Pay HTTP client against a fake Pay server over real HTTP: request signatures verify
// on the server, answers are verified (tampering, staleness, probes, missing signatures rejected),
// unknown serials refresh once, both key modes work at once, retries re-sign and are limited to
// idempotent calls, the breaker fails fast and recovers, merchants keep their own keys.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { decryptSensitive, parseAuthorization, verifyRequestPaymentParams } from '../src/index.js';
import {
  WechatPayApiError,
  WechatPayResponseError,
  WechatPayTransportError,
  createWechatPayClient,
  type WechatPayClient,
  type WechatPayClientEvent,
  type WechatPayClientOptions,
} from '../src/client/index.js';
import { StaticMerchantMaterialSource } from '../src/merchant/static-source.js';
import { FakePayServer, configA, configB, makeWorld, staticSource, type World } from './client-helpers.js';

let world: World;
let server: FakePayServer;
const clients: WechatPayClient[] = [];

function newClient(overrides: Partial<WechatPayClientOptions> = {}): WechatPayClient {
  const c = createWechatPayClient({
    source: staticSource(world),
    baseUrl: server.url,
    timeoutMs: 2000,
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    ...overrides,
  });
  clients.push(c);
  return c;
}

/** assert.rejects matcher: class and code. */
function rejectsWith<T extends Error>(cls: new (...a: never[]) => T, code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal((e as unknown as { code: string }).code, code, String((e as Error).message));
    return true;
  };
}

before(async () => {
  world = await makeWorld();
  server = await new FakePayServer(world).start();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server.close();
});
beforeEach(() => server.reset());

describe('requests', () => {
  test('typed calls are signed (verified by the server), carry Wechatpay-Serial, and their answers are verified', async () => {
    const a = newClient().merchant(world.a.mchid);
    const prepay = await a.jsapiPrepay({
      appid: 'wxd678efh567hg6787',
      description: 'Image形象店-深圳腾大-QQ公仔',
      out_trade_no: '1217752501201407033233368018',
      notify_url: 'https://www.example.com/wechatpay/notify',
      amount: { total: 100, currency: 'CNY' },
      payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
    });
    assert.equal(prepay.prepay_id, 'wx201410272009395522657a690389285100');
    const byId = await a.queryOrderById('4200000000000000000000000001');
    assert.equal(byId.transaction_id, '4200000000000000000000000001');
    assert.equal(byId.trade_state, 'SUCCESS');
    const byNo = await a.queryOrderByOutTradeNo('ORDER_2024|01*x@y');
    assert.equal(byNo.out_trade_no, 'ORDER_2024|01*x@y');
    assert.equal(await a.closeOrder('ORDER_2024-02'), undefined);
    const refund = await a.refund({ out_trade_no: '1217752501201407033233368018', out_refund_no: 'R-1', amount: { refund: 100, total: 100, currency: 'CNY' } });
    assert.equal(refund.out_refund_no, 'R-1');
    assert.equal(refund.status, 'PROCESSING');
    const q = await a.queryRefund('R-1');
    assert.equal(q.status, 'SUCCESS');

    assert.equal(server.requests.length, 6);
    for (const r of server.requests) {
      assert.equal(r.authError, undefined, `${r.method} ${r.url}: ${r.authError}`);
      assert.equal(r.auth?.mchid, world.a.mchid);
      assert.equal(r.auth?.serial_no, world.a.serial);
      assert.equal(r.headers['wechatpay-serial'], world.pub.serial);
      assert.equal(r.headers.accept, 'application/json');
      assert.match(String(r.headers['user-agent']), /^wxseal-wechatpay\//);
    }
    const [jsapi, qid, qno, close, ref, qref] = server.requests;
    assert.equal(jsapi?.method, 'POST');
    assert.equal(jsapi?.url, '/v3/pay/transactions/jsapi');
    assert.equal(jsapi?.headers['content-type'], 'application/json');
    const jsapiBody = JSON.parse(jsapi?.body ?? '') as Record<string, unknown>;
    assert.equal(jsapiBody['mchid'], world.a.mchid);
    assert.deepEqual(jsapiBody['payer'], { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' });
    assert.equal(qid?.url, `/v3/pay/transactions/id/4200000000000000000000000001?mchid=${world.a.mchid}`);
    assert.equal(qno?.url, `/v3/pay/transactions/out-trade-no/ORDER_2024%7C01*x%40y?mchid=${world.a.mchid}`);
    assert.equal(close?.url, '/v3/pay/transactions/out-trade-no/ORDER_2024-02/close');
    assert.deepEqual(JSON.parse(close?.body ?? ''), { mchid: world.a.mchid });
    assert.equal(ref?.url, '/v3/refund/domestic/refunds');
    assert.equal(qref?.url, '/v3/refund/domestic/refunds/R-1');
    assert.equal(qref?.body, '');
  });

  test('request() returns status, headers, parsed data and the Request-ID', async () => {
    const res = await newClient().merchant(world.b.mchid).request<{ out_trade_no: string }>({ method: 'GET', path: '/v3/pay/transactions/out-trade-no/X1', query: { mchid: world.b.mchid } });
    assert.equal(res.status, 200);
    assert.equal(res.data.out_trade_no, 'X1');
    assert.equal(res.requestId, 'REQ-1');
    assert.equal(res.headers['content-type'], 'application/json');
    // certificate-only merchant: Wechatpay-Serial is the platform certificate's serial
    assert.equal(server.requests[0]?.headers['wechatpay-serial'], world.platform.serial);
  });

  test('two merchants in one client sign with their own keys', async () => {
    const client = newClient();
    await Promise.all([client.merchant(world.a.mchid).queryOrderById('1'), client.merchant(world.b.mchid).queryOrderById('2')]);
    const seen = server.requests.map((r) => `${r.auth?.mchid}/${r.auth?.serial_no}/${r.authError ?? 'ok'}`).sort();
    assert.deepEqual(seen, [`${world.a.mchid}/${world.a.serial}/ok`, `${world.b.mchid}/${world.b.serial}/ok`]);
    // B's key cannot pass for A: a source that swaps the keys is rejected by the server (401 SIGN_ERROR)
    const swapped = new StaticMerchantMaterialSource([configA(world, { privateKey: world.b.keys.privateKey })]);
    await assert.rejects(newClient({ source: swapped }).merchant(world.a.mchid).queryOrderById('3'), (e: unknown) => {
      assert.ok(e instanceof WechatPayApiError);
      assert.equal(e.status, 401);
      assert.equal(e.code, 'SIGN_ERROR');
      assert.equal(e.authenticated, true);
      assert.equal(e.retryable, false);
      return true;
    });
    assert.equal(server.requests.at(-1)?.authError, 'WECHATPAY_BAD_SIGNATURE');
  });

  test('requestPaymentParams verify with the merchant public key (and not with another merchant\'s)', () => {
    const client = newClient();
    const p = client.merchant(world.a.mchid).requestPaymentParams('wxd678efh567hg6787', 'wx201410272009395522657a690389285100');
    assert.equal(p.package, 'prepay_id=wx201410272009395522657a690389285100');
    assert.equal(p.signType, 'RSA');
    assert.equal(verifyRequestPaymentParams(p, world.a.keys.publicKey), true);
    assert.equal(verifyRequestPaymentParams(p, world.b.keys.publicKey), false);
    assert.equal(verifyRequestPaymentParams({ ...p, package: 'prepay_id=other' }, world.a.keys.publicKey), false);
  });

  test('encryptSensitive uses the key named by the serial it returns', () => {
    const client = newClient();
    const a = client.merchant(world.a.mchid).encryptSensitive('张三');
    assert.equal(a.wechatpaySerial, world.pub.serial);
    assert.equal(decryptSensitive(a.ciphertext, world.pub.keys.privateKey), '张三');
    const b = client.merchant(world.b.mchid).encryptSensitive('13800138000');
    assert.equal(b.wechatpaySerial, world.platform.serial);
    assert.equal(decryptSensitive(b.ciphertext, world.platform.keys.privateKey), '13800138000');
  });

  test('arguments are checked before anything is sent', async () => {
    const a = newClient().merchant(world.a.mchid);
    await assert.rejects(a.request({ method: 'GET', path: '/v3/x?y=1' }), /WECHATPAY_BAD_ARGUMENT/);
    await assert.rejects(a.request({ method: 'GET', path: '/v3/x', headers: { Authorization: 'x' } }), /WECHATPAY_BAD_ARGUMENT/);
    await assert.rejects(a.refund({ out_refund_no: 'R', out_trade_no: 'O', transaction_id: 'T', amount: { refund: 1, total: 1, currency: 'CNY' } }), /WECHATPAY_BAD_ARGUMENT/);
    await assert.rejects(a.queryOrderById(''), /WECHATPAY_BAD_ARGUMENT/);
    assert.throws(() => newClient().merchant('abc'), /WECHATPAY_BAD_ARGUMENT/);
    assert.equal(server.requests.length, 0);
  });
});

describe('answer verification', () => {
  const query = (c: WechatPayClient) => c.merchant(world.a.mchid).queryOrderById('1');

  test('a tampered body byte is rejected and not retried', async () => {
    server.route = () => ({ tamper: true, body: { out_trade_no: '1', trade_state: 'SUCCESS', amount: { total: 1 } } });
    await assert.rejects(query(newClient()), rejectsWith(WechatPayResponseError, 'WECHATPAY_BAD_SIGNATURE'));
    assert.equal(server.requests.length, 1);
  });

  test('a stale timestamp (> 5 min) is rejected; 4 min is accepted', async () => {
    server.route = () => ({ timestamp: Math.floor(Date.now() / 1000) - 301 });
    await assert.rejects(query(newClient()), rejectsWith(WechatPayResponseError, 'WECHATPAY_TIMESTAMP_EXPIRED'));
    server.route = () => ({ timestamp: Math.floor(Date.now() / 1000) + 301 });
    await assert.rejects(query(newClient()), rejectsWith(WechatPayResponseError, 'WECHATPAY_TIMESTAMP_EXPIRED'));
    server.route = () => ({ timestamp: Math.floor(Date.now() / 1000) - 240 });
    assert.equal((await query(newClient())).trade_state, 'SUCCESS');
  });

  test('a probe signature (WECHATPAY/SIGNTEST/) fails', async () => {
    server.route = () => ({ probe: true, body: { out_trade_no: '1', trade_state: 'SUCCESS' } });
    await assert.rejects(query(newClient()), rejectsWith(WechatPayResponseError, 'WECHATPAY_PROBE_SIGNATURE'));
  });

  test('an unsigned 200 (and an unsigned 204) is never returned', async () => {
    server.route = () => ({ signWith: 'none', body: { out_trade_no: '1', trade_state: 'SUCCESS' } });
    await assert.rejects(query(newClient()), rejectsWith(WechatPayResponseError, 'WECHATPAY_MISSING_HEADER'));
    server.route = () => ({ signWith: 'none', status: 204 });
    await assert.rejects(newClient().merchant(world.a.mchid).closeOrder('X'), rejectsWith(WechatPayResponseError, 'WECHATPAY_MISSING_HEADER'));
  });

  test('a signature by a key the merchant does not hold for that serial fails', async () => {
    // signed with the public-key-mode key but labelled with the certificate serial
    server.route = () => ({ signWith: { serial: world.platform.serial, keys: world.pub.keys } });
    await assert.rejects(query(newClient()), rejectsWith(WechatPayResponseError, 'WECHATPAY_BAD_SIGNATURE'));
  });

  test('public key mode and certificate mode at once: answers signed either way verify', async () => {
    const a = newClient().merchant(world.a.mchid);
    server.route = () => ({ signWith: 'cert' });
    assert.equal((await a.queryOrderById('1')).trade_state, 'SUCCESS');
    server.route = () => ({ signWith: 'pub' });
    assert.equal((await a.queryOrderById('2')).trade_state, 'SUCCESS');
    // merchant B holds no public key: a public-key-signed answer is an unknown serial for it
    await assert.rejects(newClient().merchant(world.b.mchid).queryOrderById('3'), rejectsWith(WechatPayResponseError, 'WECHATPAY_UNKNOWN_SERIAL'));
  });

  test('unknown serial → exactly one refresh, then success with the new snapshot', async () => {
    const calls: string[] = [];
    const source = staticSource(world, {
      refresh: (mchid, serial) => {
        calls.push(`${mchid}/${serial}`);
        return { platformCertificates: [world.platform.certificatePem, world.platform2.certificatePem] };
      },
    });
    const events: WechatPayClientEvent[] = [];
    const b = newClient({ source, onEvent: (e) => events.push(e) }).merchant(world.b.mchid);
    server.route = () => ({ signWith: world.platform2 });
    assert.equal((await b.queryOrderById('1')).trade_state, 'SUCCESS');
    assert.deepEqual(calls, [`${world.b.mchid}/${world.platform2.serial}`]);
    assert.ok(events.some((e) => e.type === 'serial-refresh' && e.known));
    // the new certificate is now held: no further refresh
    assert.equal((await b.queryOrderById('2')).trade_state, 'SUCCESS');
    assert.equal(calls.length, 1);
    assert.equal(server.requests.length, 2);
  });

  test('unknown serial that the refresh does not bring → WECHATPAY_UNKNOWN_SERIAL after one refresh, not retried', async () => {
    let refreshes = 0;
    const source = staticSource(world, { refresh: () => void refreshes++ });
    server.route = () => ({ signWith: world.platform2 });
    await assert.rejects(newClient({ source }).merchant(world.b.mchid).queryOrderById('1'), rejectsWith(WechatPayResponseError, 'WECHATPAY_UNKNOWN_SERIAL'));
    assert.equal(refreshes, 1);
    assert.equal(server.requests.length, 1);
  });

  test('oversized answers are refused', async () => {
    server.route = () => ({ body: { out_trade_no: '1', trade_state: 'SUCCESS', pad: 'x'.repeat(5000) } });
    await assert.rejects(newClient({ maxResponseBytes: 1024 }).merchant(world.a.mchid).queryOrderById('1'), rejectsWith(WechatPayTransportError, 'WECHATPAY_BAD_RESPONSE'));
  });
});

describe('error answers', () => {
  test('a signed 4xx becomes an authenticated WechatPayApiError and is not retried', async () => {
    server.route = () => ({ status: 400, body: { code: 'PARAM_ERROR', message: '参数错误', detail: { field: 'amount.total', location: 'body' } } });
    await assert.rejects(newClient().merchant(world.a.mchid).queryOrderById('1'), (e: unknown) => {
      assert.ok(e instanceof WechatPayApiError);
      assert.equal(e.status, 400);
      assert.equal(e.code, 'PARAM_ERROR');
      assert.equal(e.apiMessage, '参数错误');
      assert.deepEqual(e.detail, { field: 'amount.total', location: 'body' });
      assert.equal(e.requestId, 'REQ-1');
      assert.equal(e.authenticated, true);
      assert.equal(e.retryable, false);
      return true;
    });
    assert.equal(server.requests.length, 1);
  });

  test('a 4xx whose signature does not verify is a verification error, not an API error', async () => {
    server.route = () => ({ status: 404, tamper: true, body: { code: 'ORDER_NOT_EXIST', message: '订单不存在 1' } });
    await assert.rejects(newClient().merchant(world.a.mchid).queryOrderById('1'), rejectsWith(WechatPayResponseError, 'WECHATPAY_BAD_SIGNATURE'));
  });

  test('an unsigned 502 from a proxy is an unauthenticated, retryable error', async () => {
    server.route = () => ({ status: 502, signWith: 'none', body: '<html>Bad Gateway</html>', headers: { 'Content-Type': 'text/html' } });
    await assert.rejects(newClient({ retry: false }).merchant(world.a.mchid).queryOrderById('1'), (e: unknown) => {
      assert.ok(e instanceof WechatPayApiError);
      assert.equal(e.code, 'HTTP_502');
      assert.equal(e.authenticated, false);
      assert.equal(e.retryable, true);
      return true;
    });
  });
});

describe('retries', () => {
  test('idempotent GETs are retried after 5xx with a fresh signature each time', async () => {
    let n = 0;
    server.route = () => (++n <= 2 ? { status: 500, body: { code: 'SYSTEM_ERROR', message: '系统繁忙' } } : undefined);
    const events: WechatPayClientEvent[] = [];
    const res = await newClient({ onEvent: (e) => events.push(e) }).merchant(world.a.mchid).queryOrderById('1');
    assert.equal(res.trade_state, 'SUCCESS');
    assert.equal(server.requests.length, 3);
    const nonces = server.requests.map((r) => parseAuthorization(String(r.headers.authorization)).nonce_str);
    assert.equal(new Set(nonces).size, 3);
    assert.ok(server.requests.every((r) => r.authError === undefined));
    assert.equal(events.filter((e) => e.type === 'retry').length, 2);
  });

  test('429, FREQUENCY_LIMITED and dropped connections are retried for idempotent calls', async () => {
    let n = 0;
    server.route = () => (++n === 1 ? { status: 429, body: { code: 'FREQUENCY_LIMITED', message: '频率超限' } } : n === 2 ? { destroy: true } : undefined);
    const r = await newClient().merchant(world.a.mchid).refund({ transaction_id: '1', out_refund_no: 'R-9', amount: { refund: 1, total: 1, currency: 'CNY' } });
    assert.equal(r.out_refund_no, 'R-9');
    assert.equal(server.requests.length, 3);
    // the same out_refund_no and the same body bytes each time
    assert.equal(new Set(server.requests.map((q) => q.body)).size, 1);
  });

  test('non-idempotent POSTs are sent once, even after a 5xx or a dropped connection', async () => {
    server.route = () => ({ status: 500, body: { code: 'SYSTEM_ERROR', message: '系统繁忙' } });
    const a = newClient().merchant(world.a.mchid);
    await assert.rejects(a.request({ method: 'POST', path: '/v3/pay/transactions/jsapi', body: { x: 1 } }), (e: unknown) => e instanceof WechatPayApiError && e.retryable);
    assert.equal(server.requests.length, 1);
    server.reset();
    server.route = () => ({ destroy: true });
    await assert.rejects(a.jsapiPrepay({ appid: 'wx1', description: 'd', out_trade_no: 'O1', notify_url: 'https://e.x/n', amount: { total: 1 }, payer: { openid: 'o' } }, { idempotent: false }), rejectsWith(WechatPayTransportError, 'WECHATPAY_UNAVAILABLE'));
    assert.equal(server.requests.length, 1);
    server.reset();
    // prepay is idempotent by default (same out_trade_no, same body)
    let n = 0;
    server.route = () => (++n === 1 ? { destroy: true } : undefined);
    const p = await a.jsapiPrepay({ appid: 'wx1', description: 'd', out_trade_no: 'O2', notify_url: 'https://e.x/n', amount: { total: 1 }, payer: { openid: 'o' } });
    assert.equal(p.prepay_id, 'wx201410272009395522657a690389285100');
    assert.equal(server.requests.length, 2);
  });

  test('timeouts are typed and retried up to maxAttempts; the caller\'s signal aborts', async () => {
    server.route = () => ({ delayMs: 300 });
    await assert.rejects(newClient({ timeoutMs: 50 }).merchant(world.a.mchid).queryOrderById('1'), rejectsWith(WechatPayTransportError, 'WECHATPAY_TIMEOUT'));
    assert.equal(server.requests.length, 3);
    server.reset();
    server.route = () => ({ delayMs: 300 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(newClient().merchant(world.a.mchid).queryOrderById('1', { signal: ac.signal }), rejectsWith(WechatPayTransportError, 'WECHATPAY_ABORTED'));
    assert.equal(server.requests.length, 1);
  });
});

describe('circuit breaker', () => {
  test('opens after consecutive failures, fails fast without calling, recovers after halfOpenAfter', async () => {
    const events: WechatPayClientEvent[] = [];
    const opened: string[] = [];
    const client = newClient({ retry: false, breaker: { consecutiveFailures: 3, halfOpenAfterMs: 150 }, onEvent: (e) => events.push(e), onBreakerOpen: (i) => opened.push(i.mchid) });
    const a = client.merchant(world.a.mchid);
    server.route = () => ({ status: 503, signWith: 'none', body: 'overloaded' });
    for (let i = 0; i < 3; i++) await assert.rejects(a.queryOrderById('1'), WechatPayApiError);
    assert.equal(a.breakerState, 'open');
    assert.deepEqual(opened, [world.a.mchid]);
    const before = server.requests.length;
    const t0 = Date.now();
    await assert.rejects(a.queryOrderById('1'), rejectsWith(WechatPayTransportError, 'WECHATPAY_CIRCUIT_OPEN'));
    assert.ok(Date.now() - t0 < 50);
    assert.equal(server.requests.length, before, 'no request while open');
    // another merchant on the same client is unaffected
    server.route = (r) => (r.auth?.mchid === world.b.mchid ? undefined : { status: 503, signWith: 'none', body: 'overloaded' });
    assert.equal((await client.merchant(world.b.mchid).queryOrderById('1')).trade_state, 'SUCCESS');
    // WeChat recovers; after halfOpenAfter one probe goes through and closes the circuit
    server.route = () => undefined;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await a.queryOrderById('1')).trade_state, 'SUCCESS');
    assert.equal(a.breakerState, 'closed');
    assert.deepEqual(events.filter((e) => e.type === 'breaker' && e.mchid === world.a.mchid).map((e) => (e as { state: string }).state), ['open', 'half-open', 'closed']);
  });

  test('4xx answers do not open the breaker', async () => {
    const a = newClient({ retry: false, breaker: { consecutiveFailures: 2, halfOpenAfterMs: 1000 } }).merchant(world.a.mchid);
    server.route = () => ({ status: 404, body: { code: 'ORDER_NOT_EXIST', message: '订单不存在' } });
    for (let i = 0; i < 4; i++) await assert.rejects(a.queryOrderById('1'), WechatPayApiError);
    assert.equal(a.breakerState, 'closed');
  });

  test('the fallback hook answers while the circuit is open', async () => {
    const seen: Array<{ path: string; body: string | undefined; code: string }> = [];
    const client = newClient({
      retry: false,
      breaker: { consecutiveFailures: 1, halfOpenAfterMs: 10_000 },
      fallback: (req, err) => {
        seen.push({ path: req.path, body: req.body, code: err.code });
        return { status: 202, headers: {}, data: undefined, requestId: undefined };
      },
    });
    const a = client.merchant(world.a.mchid);
    server.route = () => ({ destroy: true });
    await assert.rejects(a.closeOrder('O1'), rejectsWith(WechatPayTransportError, 'WECHATPAY_UNAVAILABLE'));
    const r = await a.request({ method: 'POST', path: '/v3/pay/transactions/out-trade-no/O1/close', body: { mchid: world.a.mchid } });
    assert.equal(r.status, 202);
    assert.equal(r.fromFallback, true);
    assert.deepEqual(seen, [{ path: '/v3/pay/transactions/out-trade-no/O1/close', body: JSON.stringify({ mchid: world.a.mchid }), code: 'WECHATPAY_CIRCUIT_OPEN' }]);
    assert.equal(server.requests.length, 1);
  });
});

describe('no secrets leak', () => {
  test('errors and events carry neither the Authorization header, the signature nor keys', async () => {
    const events: WechatPayClientEvent[] = [];
    const errors: unknown[] = [];
    const c = newClient({ retry: { maxAttempts: 2, baseDelayMs: 1 }, onEvent: (e) => events.push(e) });
    const a = c.merchant(world.a.mchid);
    server.route = () => ({ status: 500, body: { code: 'SYSTEM_ERROR', message: 'x' } });
    await a.queryOrderById('1').catch((e) => errors.push(e));
    server.route = () => ({ tamper: true });
    await a.queryOrderById('1').catch((e) => errors.push(e));
    assert.equal(errors.length, 2);
    const text = JSON.stringify(events) + errors.map((e) => `${String(e)} ${JSON.stringify(e)} ${(e as Error).stack}`).join('\n');
    const pem = world.a.keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1] ?? '';
    assert.ok(!text.includes(pem));
    assert.ok(!text.includes(world.a.apiV3Key));
    for (const r of server.requests) {
      const sig = parseAuthorization(String(r.headers.authorization)).signature;
      assert.ok(!text.includes(sig.slice(0, 40)));
      assert.ok(!text.includes('WECHATPAY2-SHA256-RSA2048 mchid'));
    }
  });
});

describe('StaticMerchantMaterialSource', () => {
  test('snapshots are immutable, versioned and per merchant; unknown merchants are refused', () => {
    const s = new StaticMerchantMaterialSource([configA(world), configB(world)]);
    const a1 = s.current(world.a.mchid);
    assert.ok(Object.isFrozen(a1));
    assert.equal(a1.wechatpaySerial, world.pub.serial);
    assert.equal(s.current(world.b.mchid).wechatpaySerial, world.platform.serial);
    s.update(world.a.mchid, { publicKey: undefined });
    const a2 = s.current(world.a.mchid);
    assert.ok(a2.version > a1.version);
    assert.equal(a2.wechatpaySerial, world.platform.serial);
    assert.equal(a1.wechatpaySerial, world.pub.serial, 'old snapshot unchanged');
    assert.throws(() => s.current('1234'), /WECHATPAY_BAD_ARGUMENT/);
  });

  test('concurrent refreshes for one merchant run the callback once', async () => {
    let calls = 0;
    const s = new StaticMerchantMaterialSource([configB(world)], {
      refresh: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 20));
        return { platformCertificates: [world.platform.certificatePem, world.platform2.certificatePem] };
      },
    });
    const results = await Promise.all([1, 2, 3].map(() => s.refreshForUnknownSerial(world.b.mchid, world.platform2.serial)));
    assert.deepEqual(results, [true, true, true]);
    assert.equal(calls, 1);
  });
});
