// The typed calls of src/api against the package's fake Pay server (the end-to-end tests against
// @wxseal/mock-wechat are tests/e2e/wechatpay-api-calls.test.ts): request shapes on the wire,
// answer checks, the App payment signature string, the multipart upload's exact framing and its
// signature over meta, the bill download's digest check, gzip and host pinning.
import assert from 'node:assert/strict';
import { createHash, verify } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  WechatPayDownloadError,
  WechatPayError,
  WechatPayTransportError,
  appPrepay,
  buildAppPaymentMessage,
  buildAppPaymentParams,
  createWechatPayClient,
  downloadBill,
  fundFlowBill,
  h5Prepay,
  mediaMeta,
  nativePrepay,
  signResponse,
  tradeBill,
  uploadImage,
  verifyAppPaymentParams,
  verifyRequest,
  type WechatPayClient,
} from '../src/index.js';
import { FakePayServer, makeWorld, staticSource, type World } from './client-helpers.js';

let world: World;
let server: FakePayServer;
const clients: WechatPayClient[] = [];

function client(baseUrl = server.url): WechatPayClient {
  const c = createWechatPayClient({ source: staticSource(world), baseUrl, timeoutMs: 2000, retry: false });
  clients.push(c);
  return c;
}

function rejectsWith<T extends Error>(cls: new (...a: never[]) => T, code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal((e as unknown as { code: string }).code, code, String((e as Error).message));
    return true;
  };
}

const order = { appid: 'wxd678efh567hg6787', description: 'Image形象店-深圳腾大-QQ公仔', out_trade_no: '1217752501201407033233368018', notify_url: 'https://www.example.com/notify', amount: { total: 100, currency: 'CNY' } };

before(async () => {
  world = await makeWorld();
  server = await new FakePayServer(world).start();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server.close();
});
beforeEach(() => server.reset());

describe('orders', () => {
  test('Native, H5, App: path, mchid added, signed; answers checked for code_url / h5_url / prepay_id', async () => {
    server.route = (r) => {
      if (r.url === '/v3/pay/transactions/native') return { status: 200, body: { code_url: 'weixin://wxpay/bizpayurl?pr=p4lpSuKzz' } };
      if (r.url === '/v3/pay/transactions/h5') return { status: 200, body: { h5_url: 'https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx2016&package=1405458241' } };
      if (r.url === '/v3/pay/transactions/app') return { status: 200, body: { prepay_id: 'wx201410272009395522657a690389285100' } };
      return undefined;
    };
    const m = client().merchant(world.b.mchid);
    assert.equal((await nativePrepay(m, order)).code_url, 'weixin://wxpay/bizpayurl?pr=p4lpSuKzz');
    assert.match((await h5Prepay(m, { ...order, scene_info: { payer_client_ip: '14.23.150.211', h5_info: { type: 'iOS' } } })).h5_url, /^https:\/\/wx\.tenpay\.com\//);
    assert.equal((await appPrepay(m, order)).prepay_id, 'wx201410272009395522657a690389285100');
    assert.equal(server.requests.length, 3);
    for (const r of server.requests) {
      assert.equal(r.authError, undefined);
      assert.equal(r.method, 'POST');
      const body = JSON.parse(r.body) as Record<string, unknown>;
      assert.equal(body['mchid'], world.b.mchid);
      assert.equal(body['out_trade_no'], order.out_trade_no);
      assert.equal(body['payer'], undefined);
    }
    assert.deepEqual((JSON.parse(server.requests[1]?.body ?? '') as { scene_info: unknown }).scene_info, { payer_client_ip: '14.23.150.211', h5_info: { type: 'iOS' } });
  });

  test('an answer without the promised field is WECHATPAY_BAD_RESPONSE; bad arguments never leave', async () => {
    server.route = () => ({ status: 200, body: { prepay_id: 'x' } });
    const m = client().merchant(world.b.mchid);
    await assert.rejects(nativePrepay(m, order), rejectsWith(WechatPayTransportError, 'WECHATPAY_BAD_RESPONSE'));
    await assert.rejects(nativePrepay(m, { ...order, out_trade_no: 'x' }), rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'));
    await assert.rejects(appPrepay(m, { ...order, amount: { total: 0 } }), rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'));
    // @ts-expect-error h5_info.type must be iOS, Android or Wap
    await assert.rejects(h5Prepay(m, { ...order, scene_info: { payer_client_ip: '1.2.3.4', h5_info: { type: 5 } } }), rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'));
    assert.equal(server.requests.length, 1);
  });
});

describe('App payment parameters', () => {
  test('the signed string is appid\\ntimestamp\\nnoncestr\\nprepayid\\n (the documented example), SHA256withRSA', () => {
    assert.equal(
      buildAppPaymentMessage('wx8888888888888888', 1414561699, '5K8264ILTKCH16CQ2502SI8ZNMTM67VS', 'WX1217752501201407033233368018'),
      'wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nWX1217752501201407033233368018\n',
    );
    const p = buildAppPaymentParams({ appId: 'wx8888888888888888', partnerId: '1900000109', prepayId: 'WX1217752501201407033233368018', privateKey: world.a.keys.privateKey, timestamp: 1414561699, nonceStr: '5K8264ILTKCH16CQ2502SI8ZNMTM67VS' });
    assert.deepEqual({ ...p, sign: '' }, { appid: 'wx8888888888888888', partnerid: '1900000109', prepayid: 'WX1217752501201407033233368018', package: 'Sign=WXPay', noncestr: '5K8264ILTKCH16CQ2502SI8ZNMTM67VS', timestamp: '1414561699', sign: '' });
    const message = Buffer.from('wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nWX1217752501201407033233368018\n');
    assert.equal(verify('sha256', message, world.a.keys.publicKey, Buffer.from(p.sign, 'base64')), true);
    assert.equal(verifyAppPaymentParams(p, world.a.keys.publicKey), true);
    assert.equal(verifyAppPaymentParams(p, world.b.keys.publicKey), false);
    assert.equal(verifyAppPaymentParams({ ...p, timestamp: '1414561700' }, world.a.keys.publicKey), false);
  });

  test('merchant.appPaymentParams: partnerid is the mchid, signed with that merchant\'s key', () => {
    const p = client().merchant(world.a.mchid).appPaymentParams('wx8888888888888888', 'wx201410272009395522657a690389285100');
    assert.equal(p.partnerid, world.a.mchid);
    assert.equal(verifyAppPaymentParams(p, world.a.keys.publicKey), true);
    assert.throws(() => client().merchant(world.a.mchid).appPaymentParams('wx8888888888888888', 'bad id!'), rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'));
  });
});

describe('bills', () => {
  const csv = '交易时间,公众账号ID,商户号\r\n`2024-01-01T10:00:00+08:00,`wx1,`1900000002\r\n';
  const sha1 = createHash('sha1').update(csv).digest('hex');

  test('tradebill / fundflowbill query strings; the download goes to the client\'s host with the token, unsigned answer accepted', async () => {
    server.route = (r) => {
      if (r.url.startsWith('/v3/bill/')) return { status: 200, body: { hash_type: 'SHA1', hash_value: sha1, download_url: 'https://api.mch.weixin.qq.com/v3/billdownload/file?token=6XIv5TUPto7pByrTQKhd6kwvyKLG2uY2wMMR8cNXqaA_Cv_isgaUtBzp4QtiozLO' } };
      if (r.url.startsWith('/v3/billdownload/file')) return { status: 200, body: csv, signWith: 'none', headers: { 'Content-Type': 'text/plain' } };
      return undefined;
    };
    const m = client().merchant(world.b.mchid);
    const info = await tradeBill(m, { bill_date: '2024-01-01', bill_type: 'SUCCESS', tar_type: 'GZIP' });
    assert.equal(info.hash_value, sha1);
    await fundFlowBill(m, { bill_date: '2024-01-01', account_type: 'FEES' });
    assert.equal((await downloadBill(m, info)).toString('utf8'), csv);
    const [tb, ff, dl] = server.requests;
    assert.equal(tb?.url, '/v3/bill/tradebill?bill_date=2024-01-01&bill_type=SUCCESS&tar_type=GZIP');
    assert.equal(ff?.url, '/v3/bill/fundflowbill?bill_date=2024-01-01&account_type=FEES');
    // download_url names api.mch.weixin.qq.com; the signed request went to the client's own base URL.
    assert.equal(dl?.url, '/v3/billdownload/file?token=6XIv5TUPto7pByrTQKhd6kwvyKLG2uY2wMMR8cNXqaA_Cv_isgaUtBzp4QtiozLO');
    assert.equal(dl?.authError, undefined);
  });

  test('digest mismatch, truncated file, bad gzip: typed errors, nothing returned', async () => {
    server.route = (r) => (r.url.startsWith('/v3/billdownload/file') ? { status: 200, body: csv.slice(0, -3), signWith: 'none' } : undefined);
    const m = client().merchant(world.b.mchid);
    const info = { hash_type: 'SHA1', hash_value: sha1, download_url: `${server.url}/v3/billdownload/file?token=t` };
    await assert.rejects(downloadBill(m, info), rejectsWith(WechatPayDownloadError, 'WECHATPAY_BILL_HASH_MISMATCH'));
    await assert.rejects(downloadBill(m, info, { tarType: 'GZIP' }), rejectsWith(WechatPayDownloadError, 'WECHATPAY_BILL_GZIP_INVALID'));
    await assert.rejects(downloadBill(m, { ...info, hash_type: 'SM3' }), rejectsWith(WechatPayDownloadError, 'WECHATPAY_BILL_HASH_UNSUPPORTED'));
    await assert.rejects(downloadBill(m, { ...info, download_url: 'https://evil.example/other' }), rejectsWith(WechatPayError, 'WECHATPAY_BAD_ARGUMENT'));
    await assert.rejects(downloadBill(m, info, { maxBytes: 10 }), rejectsWith(WechatPayTransportError, 'WECHATPAY_BAD_RESPONSE'));
  });

  test('a gzip bill is decompressed before its digest is compared (also without tarType, by its magic bytes)', async () => {
    const gz = gzipSync(Buffer.from(csv));
    const local: Server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-gzip', 'Content-Length': String(gz.length) });
      res.end(gz);
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    try {
      const m = client(`http://127.0.0.1:${(local.address() as AddressInfo).port}`).merchant(world.b.mchid);
      const info = { hash_type: 'SHA1', hash_value: sha1, download_url: 'https://api.mch.weixin.qq.com/v3/billdownload/file?token=t' };
      assert.equal((await downloadBill(m, info)).toString('utf8'), csv);
      assert.equal((await downloadBill(m, info, { tarType: 'GZIP' })).toString('utf8'), csv);
    } finally {
      local.closeAllConnections();
      await new Promise<void>((r) => local.close(() => r()));
    }
  });
});

describe('media upload', () => {
  test('multipart/form-data: meta part (JSON filename + sha256) and file part; the signature covers the meta text', async () => {
    const file = Buffer.from('\x89PNG\r\n\x1a\n fake image bytes', 'latin1');
    let seen: { contentType: string; body: Buffer; authorization: string; url: string } | undefined;
    const local: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { contentType: String(req.headers['content-type']), body: Buffer.concat(chunks), authorization: String(req.headers.authorization), url: req.url ?? '' };
        const body = JSON.stringify({ media_id: 'H1ihR9JnkOJ6rKUx0Ds3tmm2Tmsk' });
        res.writeHead(200, { 'Content-Type': 'application/json', ...signResponse({ body, privateKey: world.platform.keys.privateKey, serial: world.platform.serial }) });
        res.end(body);
      });
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    try {
      const m = client(`http://127.0.0.1:${(local.address() as AddressInfo).port}`).merchant(world.b.mchid);
      const out = await uploadImage(m, { filename: 'logo.png', file });
      assert.equal(out.media_id, 'H1ihR9JnkOJ6rKUx0Ds3tmm2Tmsk');
      assert.ok(seen);
      assert.equal(seen.url, '/v3/merchant/media/upload');
      const boundary = /^multipart\/form-data; boundary=(wxseal-[0-9a-f]{32})$/.exec(seen.contentType)?.[1];
      assert.ok(boundary, seen.contentType);
      const meta = JSON.stringify({ filename: 'logo.png', sha256: createHash('sha256').update(file).digest('hex') });
      assert.equal(mediaMeta('logo.png', file), meta);
      const expected = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n${meta}\r\n`),
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="logo.png"\r\nContent-Type: image/png\r\n\r\n`),
        file,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      assert.deepEqual(seen.body, expected);
      const auth = verifyRequest({ authorization: seen.authorization, method: 'POST', url: seen.url, body: meta, resolveKey: () => world.b.keys.publicKey });
      assert.equal(auth.mchid, world.b.mchid);
      assert.throws(() => verifyRequest({ authorization: seen!.authorization, method: 'POST', url: seen!.url, body: seen!.body, resolveKey: () => world.b.keys.publicKey }));
    } finally {
      local.closeAllConnections();
      await new Promise<void>((r) => local.close(() => r()));
    }
  });
});
