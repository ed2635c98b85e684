// Server-side API security of the mock, driven by the CLIENT functions of @wxseal/wechat.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { decryptResponse, verifyResponseSignature } from '@wxseal/wechat';
import { createMockMpApp, startMockWechat, type MockMpApp, type MockWechat } from '@wxseal/mock-wechat';
import { headersOf, securedCall, stableToken, type SecuredCall } from './helpers.js';

function verifyAndDecrypt(mock: MockWechat, app: MockMpApp, call: SecuredCall, certificates = mock.platformCertificates()) {
  const sig = verifyResponseSignature({ urlPath: call.urlPath, appid: app.client.appid, headers: call.answer.headers, body: call.answer.text, certificates });
  const dec = decryptResponse({ urlPath: call.urlPath, appid: app.client.appid, timestamp: sig.timestamp, symKey: app.client.symKey, symSn: app.client.symSn, body: call.answer.text });
  return { sig, dec };
}

const errcodeOf = (call: SecuredCall) => call.answer.json().errcode;

describe('Mini Program API security (mock server side)', () => {
  let mock: MockWechat;
  let app: MockMpApp;
  let serialApp: MockMpApp;
  let noSym: MockMpApp;
  let noPub: MockMpApp;
  let other: MockMpApp;
  let token: string;

  before(async () => {
    [app, serialApp, noSym, noPub, other] = await Promise.all([
      createMockMpApp(),
      createMockMpApp({ requireRequestSerial: true }),
      createMockMpApp({ omitSymKey: true }),
      createMockMpApp({ omitPublicKey: true }),
      createMockMpApp(),
    ]);
    mock = await startMockWechat({ apps: [app.config, serialApp.config, noSym.config, noPub.config, other.config] });
    token = (await stableToken(mock, app.client.appid, app.client.secret)).access_token as string;
  });
  after(() => mock.close());

  test('a correct request is accepted; the answer verifies and decrypts with the client functions', async () => {
    const call = await securedCall(mock, app, token, '/wxa/some/api', { params: { openid: 'o1', scene: 1, nested: { a: [1, 2] } } });
    assert.equal(call.answer.status, 200);
    assert.equal(call.answer.headers['wechatmp-appid'], app.client.appid);
    assert.equal(call.answer.headers['wechatmp-serial'], mock.platformSerial());
    assert.equal(call.answer.headers['wechatmp-serial-deprecated'], undefined);
    const { sig, dec } = verifyAndDecrypt(mock, app, call);
    assert.equal(sig.deprecated, false);
    assert.deepEqual(dec.data, { errcode: 0, errmsg: 'ok', data: { openid: 'o1', scene: 1, nested: { a: [1, 2] } } });
    assert.equal(mock.stats.securedRequests >= 1, true);
  });

  test('Wechatmp-Serial is optional unless the app requires it (requestHeaders sends none)', async () => {
    const call = await securedCall(mock, app, token, '/wxa/some/api', { omitHeaders: ['Wechatmp-Serial'] });
    verifyAndDecrypt(mock, app, call);
  });

  test('the manual signing path of the helpers is sound (PSS salt 32 by hand is accepted)', async () => {
    const call = await securedCall(mock, app, token, '/wxa/some/api', { sig: { saltLength: 32 }, aad: {} });
    verifyAndDecrypt(mock, app, call);
  });

  test('getuserriskrank answers a plausible risk rank, sealed', async () => {
    const call = await securedCall(mock, app, token, '/wxa/getuserriskrank', { params: { appid: app.client.appid, openid: 'oEWzBfmdLqhFS2mTXCo2E4Y9gJAM', scene: 0, client_ip: '127.0.0.1' } });
    const { dec } = verifyAndDecrypt(mock, app, call);
    assert.equal(dec.data.errcode, 0);
    assert.equal(dec.data.errmsg, 'getuserriskrank succ');
    assert.ok(Number.isInteger(dec.data.risk_rank) && (dec.data.risk_rank as number) >= 0 && (dec.data.risk_rank as number) <= 4);
    assert.equal(typeof dec.data.unoin_id, 'number');
  });

  test('business errors of a verified call come back sealed and signed', async () => {
    const call = await securedCall(mock, app, token, '/wxa/getuserriskrank', { params: { scene: 0 } });
    const { dec } = verifyAndDecrypt(mock, app, call);
    assert.equal(dec.data.errcode, 40003);
  });

  describe('each single-field corruption gets its exact errcode (plain, unsigned answer)', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: Array<[string, () => Parameters<typeof securedCall>[4], number]> = [
      ['Wechatmp-Appid missing', () => ({ omitHeaders: ['Wechatmp-Appid'] }), 40233],
      ['Wechatmp-TimeStamp missing', () => ({ omitHeaders: ['Wechatmp-TimeStamp'] }), 40231],
      ['Wechatmp-Signature missing', () => ({ omitHeaders: ['Wechatmp-Signature'] }), 40232],
      ['Wechatmp-Appid of an unknown app', () => ({ headerAppid: 'wx0000000000000000' }), 40236],
      ['Wechatmp-Appid of another app than the token', () => ({ headerAppid: other.client.appid }), 40237],
      ['timestamp stale (330 s old)', () => ({ timestamp: now() - 330 }), 40240],
      ['timestamp in the future (330 s)', () => ({ timestamp: now() + 330 }), 40240],
      ['Wechatmp-Serial names another key', () => ({ extraHeaders: { 'Wechatmp-Serial': 'ffffffffffffffffffffffffffffffff' } }), 40234],
      ['signature: PSS salt length 0', () => ({ sig: { saltLength: 0 } }), 40234],
      ['signature: PSS salt length 20', () => ({ sig: { saltLength: 20 } }), 40234],
      ['signature: PKCS#1 v1.5 instead of PSS', () => ({ sig: { pkcs1: true } }), 40234],
      ['signature: wrong urlpath in the signed string', () => ({ sig: { urlPath: 'https://api.weixin.qq.com/wxa/some/api' } }), 40234],
      ['signature: wrong appid in the signed string', () => ({ sig: { appid: other.client.appid } }), 40234],
      ['signature: wrong timestamp in the signed string', () => ({ sig: { timestamp: now() - 1 } }), 40234],
      ['signature: body changed after signing', () => ({ bodyAfterSigning: (b: string) => b.replace('"iv"', '"iv" ') }), 40234],
      ['signature: another private key', () => ({ sig: { privateKeyPem: other.client.privateKeyPem } }), 40234],
      ['signature: not base64', () => ({ extraHeaders: { 'Wechatmp-Signature': 'not*base64' } }), 40234],
      ['AAD: wrong urlpath', () => ({ aad: { urlPath: 'https://api.weixin.qq.com/wxa/some/api' } }), 40235],
      ['AAD: wrong appid', () => ({ aad: { appid: other.client.appid } }), 40235],
      ['AAD: wrong timestamp', () => ({ aad: { timestamp: now() - 1 } }), 40235],
      ['AAD: wrong SN', () => ({ aad: { sn: 'ffffffffffffffffffffffffffffffff' } }), 40235],
      ['wrong symmetric key', () => ({ symKey: other.client.symKey }), 40235],
      ['IV replaced (signed)', () => ({ bodyBeforeSigning: (b: string) => JSON.stringify({ ...JSON.parse(b), iv: 'AAAAAAAAAAAAAAAA' }) }), 40235],
      ['tag tampered (signed)', () => ({ bodyBeforeSigning: (b: string) => { const o = JSON.parse(b); const t = Buffer.from(o.authtag, 'base64'); t[0]! ^= 1; return JSON.stringify({ ...o, authtag: t.toString('base64') }); } }), 40235],
      ['ciphertext tampered (signed)', () => ({ bodyBeforeSigning: (b: string) => { const o = JSON.parse(b); const t = Buffer.from(o.data, 'base64'); t[3]! ^= 1; return JSON.stringify({ ...o, data: t.toString('base64') }); } }), 40235],
      ['IV of 16 bytes (signed)', () => ({ bodyBeforeSigning: (b: string) => JSON.stringify({ ...JSON.parse(b), iv: Buffer.alloc(16).toString('base64') }) }), 40235],
      ['body not an envelope (signed)', () => ({ bodyBeforeSigning: () => '{"hello":"world"}' }), 40235],
      ['inner _n missing', () => ({ inner: { dropNonce: true } }), 40235],
      ['inner _appid wrong', () => ({ inner: { _appid: other.client.appid } }), 40236],
      ['inner _timestamp wrong', () => ({ inner: { _timestamp: now() - 5 } }), 40240],
      ['inner _timestamp as a string', () => ({ inner: { _timestamp: String(now()) } }), 40240],
    ];
    for (const [name, opts, errcode] of cases) {
      test(`${name} → ${errcode}`, async () => {
        const call = await securedCall(mock, app, token, '/wxa/some/api', opts());
        assert.equal(call.answer.status, 200);
        assert.equal(errcodeOf(call), errcode, call.answer.text);
        assert.match(String(call.answer.json().errmsg), / rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/);
        assert.equal(call.answer.headers['wechatmp-signature'], undefined, 'error answers are not signed');
      });
    }

    test('Wechatmp-Serial missing when the app requires it → 40230', async () => {
      const t = (await stableToken(mock, serialApp.client.appid, serialApp.client.secret)).access_token as string;
      const missing = await securedCall(mock, serialApp, t, '/wxa/x', { omitHeaders: ['Wechatmp-Serial'] });
      assert.equal(errcodeOf(missing), 40230);
      const ok = await securedCall(mock, serialApp, t, '/wxa/x');
      assert.equal(ok.answer.headers['wechatmp-appid'], serialApp.client.appid);
      verifyAndDecrypt(mock, serialApp, ok);
    });

    test('no symmetric key configured → 40238; no public key configured → 40239', async () => {
      const t1 = (await stableToken(mock, noSym.client.appid, noSym.client.secret)).access_token as string;
      assert.equal(errcodeOf(await securedCall(mock, noSym, t1, '/wxa/x')), 40238);
      const t2 = (await stableToken(mock, noPub.client.appid, noPub.client.secret)).access_token as string;
      assert.equal(errcodeOf(await securedCall(mock, noPub, t2, '/wxa/x')), 40239);
    });

    test('rejections are counted by errcode', () => {
      const r = mock.stats.rejections;
      assert.ok((r['40234'] ?? 0) >= 9);
      assert.ok((r['40235'] ?? 0) >= 8);
    });
  });

  test('any tampered byte of a response fails verification on the client side', async () => {
    const call = await securedCall(mock, app, token, '/wxa/some/api');
    verifyAndDecrypt(mock, app, call);
    const body = call.answer.text;
    // Every byte position of the body, and the timestamp / appid headers.
    for (let i = 0; i < body.length; i++) {
      const ch = body[i] === 'A' ? 'B' : 'A';
      const tampered = body.slice(0, i) + ch + body.slice(i + 1);
      if (tampered === body) continue;
      assert.throws(() => verifyAndDecrypt(mock, app, { ...call, answer: { ...call.answer, text: tampered } }), Error, `byte ${i}`);
    }
    const ts = Number(call.answer.headers['wechatmp-timestamp']);
    assert.throws(() => verifyAndDecrypt(mock, app, { ...call, answer: { ...call.answer, headers: { ...call.answer.headers, 'wechatmp-timestamp': String(ts - 1) } } }));
    assert.throws(() => verifyAndDecrypt(mock, app, { ...call, answer: { ...call.answer, headers: { ...call.answer.headers, 'wechatmp-appid': other.client.appid } } }));
    const sig = Buffer.from(call.answer.headers['wechatmp-signature']!, 'base64');
    sig[sig.length - 1]! ^= 1;
    assert.throws(() => verifyAndDecrypt(mock, app, { ...call, answer: { ...call.answer, headers: { ...call.answer.headers, 'wechatmp-signature': sig.toString('base64') } } }));
  });

  test('rotation: responses carry the new pair and the deprecated pair; finishRotation drops the old one', async () => {
    const oldCerts = mock.platformCertificates();
    const oldSerial = mock.platformSerial();
    const newSerial = await mock.rotatePlatformKey();
    try {
      assert.notEqual(newSerial, oldSerial);
      assert.deepEqual(Object.keys(mock.platformCertificates()).sort(), [oldSerial, newSerial].sort());
      assert.equal(mock.deprecatedPlatformSerial(), oldSerial);
      const call = await securedCall(mock, app, token, '/wxa/some/api');
      assert.equal(call.answer.headers['wechatmp-serial'], newSerial);
      assert.equal(call.answer.headers['wechatmp-serial-deprecated'], oldSerial);
      assert.ok(call.answer.headers['wechatmp-signature-deprecated']);
      // A client holding only the new certificate verifies the current pair.
      const withNew = verifyAndDecrypt(mock, app, call, { [newSerial]: mock.platformCertificates()[newSerial]! });
      assert.deepEqual(withNew.sig, { timestamp: withNew.sig.timestamp, serial: newSerial, deprecated: false });
      // A client still holding only the old certificate verifies the deprecated pair.
      const withOld = verifyAndDecrypt(mock, app, call, oldCerts);
      assert.equal(withOld.sig.serial, oldSerial);
      assert.equal(withOld.sig.deprecated, true);
      mock.finishRotation();
      const after = await securedCall(mock, app, token, '/wxa/some/api');
      assert.equal(after.answer.headers['wechatmp-serial'], newSerial);
      assert.equal(after.answer.headers['wechatmp-serial-deprecated'], undefined);
      assert.deepEqual(Object.keys(mock.platformCertificates()), [newSerial]);
      assert.throws(() => verifyAndDecrypt(mock, app, after, oldCerts), /WXMP_UNKNOWN_SERIAL/);
    } finally {
      mock.finishRotation();
    }
  });

  test('publicBaseUrl lets a client use https://api.weixin.qq.com urlpaths', async () => {
    const m2 = await startMockWechat({ apps: [app.config], publicBaseUrl: 'https://api.weixin.qq.com' });
    try {
      const t = (await stableToken(m2, app.client.appid, app.client.secret)).access_token as string;
      const ok = await securedCall(m2, app, t, '/wxa/getuserriskrank', { urlBase: 'https://api.weixin.qq.com', params: { openid: 'o', scene: 0 } });
      verifyAndDecrypt(m2, app, ok);
      assert.equal(ok.urlPath, 'https://api.weixin.qq.com/wxa/getuserriskrank');
      const wrong = await securedCall(m2, app, t, '/wxa/getuserriskrank', { params: { openid: 'o', scene: 0 } });
      assert.equal(errcodeOf(wrong), 40234);
    } finally {
      await m2.close();
    }
  });

  test("accepts the official guide's worked example request (independent check of the server side)", async () => {
    const g = JSON.parse(readFileSync(new URL('../../../tests/support/fixtures/api-signature-guide.json', import.meta.url), 'utf8')) as {
      appid: string;
      symmetric: { sn: string; keyBase64: string };
      appKey: { sn: string; privateKeyPem: string };
      request: { timestamp: number; body: string; signature: string; params: Record<string, unknown> };
    };
    const { createPublicKey } = await import('node:crypto');
    const publicKeyPem = createPublicKey(g.appKey.privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
    const m3 = await startMockWechat({
      apps: [{ appid: g.appid, secret: '0123456789abcdef0123456789abcdef', apiSecurity: { mode: 'required', symKey: g.symmetric.keyBase64, symSn: g.symmetric.sn, publicKeyPem, publicKeySn: g.appKey.sn } }],
      publicBaseUrl: 'https://api.weixin.qq.com',
      clock: () => g.request.timestamp * 1000,
    });
    try {
      const t = (await stableToken(m3, g.appid, '0123456789abcdef0123456789abcdef')).access_token as string;
      const res = await fetch(`${m3.url}/wxa/getuserriskrank?access_token=${t}`, {
        method: 'POST',
        headers: { 'Wechatmp-Appid': g.appid, 'Wechatmp-TimeStamp': String(g.request.timestamp), 'Wechatmp-Signature': g.request.signature },
        body: g.request.body,
      });
      const text = await res.text();
      const headers = headersOf(res);
      assert.equal(headers['wechatmp-timestamp'], String(g.request.timestamp));
      const urlPath = 'https://api.weixin.qq.com/wxa/getuserriskrank';
      verifyResponseSignature({ urlPath, appid: g.appid, headers, body: text, certificates: m3.platformCertificates() });
      const dec = decryptResponse({ urlPath, appid: g.appid, timestamp: g.request.timestamp, symKey: g.symmetric.keyBase64, symSn: g.symmetric.sn, body: text, nowSeconds: g.request.timestamp });
      assert.equal(dec.data.errmsg, 'getuserriskrank succ');
    } finally {
      await m3.close();
    }
  });
});
