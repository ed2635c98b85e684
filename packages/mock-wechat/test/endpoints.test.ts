// jscode2session, getuserphonenumber, plain / optional modes, custom routes, input bounds.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { decryptResponse, verifyResponseSignature } from '@wxseal/wechat';
import { createMockMpApp, startMockWechat, wxFail, type MockMpApp, type MockWechat } from '@wxseal/mock-wechat';
import { http, postJson, securedCall, stableToken } from './helpers.js';

describe('Mini Program endpoints', () => {
  let mock: MockWechat;
  let plain: MockMpApp; // API security off
  let optional: MockMpApp;
  let required: MockMpApp;
  let devApp: MockMpApp; // acceptAnyCode
  const logs: string[] = [];

  before(async () => {
    [plain, optional, required, devApp] = await Promise.all([
      createMockMpApp({ mode: 'off' }),
      createMockMpApp({ mode: 'optional' }),
      createMockMpApp({ mode: 'required' }),
      createMockMpApp({ mode: 'off', acceptAnyCode: true, fixtures: 0 }),
    ]);
    mock = await startMockWechat({
      apps: [plain.config, optional.config, required.config, devApp.config],
      maxBodyBytes: 4096,
      routes: {
        '/wxa/custom/thing': (ctx) => ({ seen: ctx.params.x, secured: ctx.secured }),
        '/wxa/custom/fail': () => wxFail(45011),
      },
      logger: (e) => logs.push(JSON.stringify(e)),
    });
  });
  after(() => mock.close());

  const session = (app: MockMpApp, code: string, overrides: Record<string, string> = {}) => {
    const q = new URLSearchParams({ appid: app.client.appid, secret: app.client.secret, js_code: code, grant_type: 'authorization_code', ...overrides });
    return http(`${mock.url}/sns/jscode2session?${q}`).then((r) => r.json());
  };

  test('jscode2session: fixture answered once, reuse → 40163, unknown → 40029', async () => {
    const [code, fixture] = Object.entries(plain.jsCodes)[0]!;
    const r = await session(plain, code);
    assert.deepEqual(r, { session_key: fixture.session_key, openid: fixture.openid, unionid: fixture.unionid });
    assert.equal((await session(plain, code)).errcode, 40163);
    assert.equal((await session(plain, 'never-issued')).errcode, 40029);
    // A code belongs to its app.
    const [code2] = Object.keys(plain.jsCodes).slice(1);
    assert.equal((await session(optional, code2!)).errcode, 40029);
  });

  test('jscode2session: credential and parameter errors', async () => {
    const code = Object.keys(plain.jsCodes)[2]!;
    assert.equal((await session(plain, code, { secret: 'nope' })).errcode, 40125);
    assert.equal((await session(plain, code, { appid: 'wxnotthere' })).errcode, 40013);
    assert.equal((await session(plain, code, { grant_type: 'client_credential' })).errcode, 40002);
    assert.equal((await session(plain, '', {})).errcode, 41008);
    // None of those consumed the code.
    assert.equal(typeof (await session(plain, code)).openid, 'string');
  });

  test('acceptAnyCode: any code once, with an openid derived from it; codes added at run time (API and HTTP)', async () => {
    const a = await session(devApp, 'whatever-1');
    assert.match(String(a.openid), /^o[A-Za-z0-9_-]{27}$/);
    assert.equal((await session(devApp, 'whatever-1')).errcode, 40163);
    mock.addJsCode(plain.client.appid, 'added-code', { openid: 'oADDED', session_key: 'c2Vzc2lvbmtleTEyMzQ1Ng==' });
    assert.equal((await session(plain, 'added-code')).openid, 'oADDED');
    const r = await postJson(`${mock.url}/__mock/fixtures/js-code`, { appid: plain.client.appid, code: 'http-code', openid: 'oHTTP' });
    assert.equal(r.status, 200);
    assert.equal((await session(plain, 'http-code')).openid, 'oHTTP');
  });

  test('getuserphonenumber (plain): phone_info with watermark; reuse → 40163; unknown → 40029; no code → 41008', async () => {
    const token = (await stableToken(mock, plain.client.appid, plain.client.secret)).access_token as string;
    const [code, fixture] = Object.entries(plain.phoneCodes)[0]!;
    const url = `${mock.url}/wxa/business/getuserphonenumber?access_token=${token}`;
    const r = (await postJson(url, { code })).json() as { errcode: number; phone_info: Record<string, unknown> & { watermark: { appid: string; timestamp: number } } };
    assert.equal(r.errcode, 0);
    assert.equal(r.phone_info.phoneNumber, fixture.phoneNumber);
    assert.equal(r.phone_info.purePhoneNumber, fixture.purePhoneNumber);
    assert.equal(r.phone_info.countryCode, '86');
    assert.equal(r.phone_info.watermark.appid, plain.client.appid);
    assert.ok(Math.abs(r.phone_info.watermark.timestamp - Date.now() / 1000) < 5);
    assert.equal((await postJson(url, { code })).json().errcode, 40163);
    assert.equal((await postJson(url, { code: 'nope' })).json().errcode, 40029);
    assert.equal((await postJson(url, {})).json().errcode, 41008);
    assert.equal((await postJson(`${mock.url}/wxa/business/getuserphonenumber`, { code })).json().errcode, 41001);
  });

  test('getuserphonenumber (required mode): sealed both ways', async () => {
    const token = (await stableToken(mock, required.client.appid, required.client.secret)).access_token as string;
    const [code, fixture] = Object.entries(required.phoneCodes)[0]!;
    const { urlPath, answer } = await securedCall(mock, required, token, '/wxa/business/getuserphonenumber', { params: { code } });
    const sig = verifyResponseSignature({ urlPath, appid: required.client.appid, headers: answer.headers, body: answer.text, certificates: mock.platformCertificates() });
    const dec = decryptResponse({ urlPath, appid: required.client.appid, timestamp: sig.timestamp, symKey: required.client.symKey, symSn: required.client.symSn, body: answer.text });
    assert.equal((dec.data.phone_info as { phoneNumber: string }).phoneNumber, fixture.phoneNumber);
    // A plain call to a required-mode app is refused (first missing header).
    const plainCall = await postJson(`${mock.url}/wxa/business/getuserphonenumber?access_token=${token}`, { code });
    assert.equal(plainCall.json().errcode, 40233);
  });

  test('optional mode: plain without Wechatmp-* headers, checked and sealed with them', async () => {
    const token = (await stableToken(mock, optional.client.appid, optional.client.secret)).access_token as string;
    const p = await postJson(`${mock.url}/wxa/custom/thing?access_token=${token}&x=fromquery`, {});
    assert.deepEqual(p.json(), { errcode: 0, errmsg: 'ok', seen: 'fromquery', secured: false });
    assert.equal(p.headers['wechatmp-signature'], undefined);
    const s = await securedCall(mock, optional, token, '/wxa/custom/thing', { params: { x: 'sealed' } });
    const sig = verifyResponseSignature({ urlPath: s.urlPath, appid: optional.client.appid, headers: s.answer.headers, body: s.answer.text, certificates: mock.platformCertificates() });
    const dec = decryptResponse({ urlPath: s.urlPath, appid: optional.client.appid, timestamp: sig.timestamp, symKey: optional.client.symKey, symSn: optional.client.symSn, body: s.answer.text });
    assert.deepEqual(dec.data, { errcode: 0, errmsg: 'ok', seen: 'sealed', secured: true });
    const bad = await securedCall(mock, optional, token, '/wxa/custom/thing', { sig: { saltLength: 20 } });
    assert.equal(bad.answer.json().errcode, 40234);
  });

  test('custom routes, generic echo, plain JSON errors, unknown endpoints', async () => {
    const token = (await stableToken(mock, plain.client.appid, plain.client.secret)).access_token as string;
    assert.equal((await postJson(`${mock.url}/wxa/custom/fail?access_token=${token}`, {})).json().errcode, 45011);
    assert.deepEqual((await postJson(`${mock.url}/cgi-bin/message/custom/send?access_token=${token}`, { touser: 'o', msgtype: 'text' })).json(), {
      errcode: 0,
      errmsg: 'ok',
      data: { touser: 'o', msgtype: 'text' },
    });
    assert.equal((await postJson(`${mock.url}/wxa/x?access_token=${token}`, '{oops')).json().errcode, 47001);
    assert.equal((await postJson(`${mock.url}/wxa/x?access_token=${token}`, '[1]')).json().errcode, 47001);
    assert.equal((await http(`${mock.url}/nowhere`)).status, 404);
  });

  test('bounded inputs: oversized body → 413, oversized headers → 431, garbage → no crash', async () => {
    const token = (await stableToken(mock, plain.client.appid, plain.client.secret)).access_token as string;
    const big = await postJson(`${mock.url}/wxa/x?access_token=${token}`, JSON.stringify({ a: 'x'.repeat(10_000) }));
    assert.equal(big.status, 413);
    const hdr = await new Promise<number>((resolve, reject) => {
      const req = request(`${mock.url}/wxa/x`, { method: 'GET', headers: { 'x-big': 'y'.repeat(20_000) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(hdr, 431);
    const junkSig = await postJson(`${mock.url}/wxa/x?access_token=${token}`, '{}', { 'Wechatmp-Signature': '\u00ff'.repeat(3) });
    assert.equal(junkSig.status, 200);
    assert.equal((await http(`${mock.url}/__mock/health`)).json().ok, true);
  });

  test('logs carry paths, never queries or secrets', () => {
    const all = logs.join('\n');
    assert.ok(all.includes('/sns/jscode2session'));
    assert.ok(!all.includes(plain.client.secret));
    assert.ok(!all.includes('access_token'));
    assert.ok(!all.includes('js_code'));
  });
});
