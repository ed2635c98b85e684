// URL parameters of a secured Mini Program call, client ↔ mock: the client moves them into the
// encrypted data (the guide: 原请求字段，包含URL参数、POST参数，不包含AccessToken) and the mock, like
// WeChat, reads a secured call's parameters only from there: anything left in the URL besides
// access_token is ignored (and named in the log).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMpClient, staticAccessToken, type MpClient } from '@wxseal/wechat';
import { createMockMpApp, startMockWechat, type MockMpApp, type MockWechat, type MockWechatLogEntry } from '@wxseal/mock-wechat';
import { decryptResponse, verifyResponseSignature } from '@wxseal/wechat';
import { securedCall, stableToken } from './helpers.js';

describe('secured calls: URL parameters only inside the encrypted data', () => {
  let mock: MockWechat;
  let app: MockMpApp;
  let token: string;
  let client: MpClient;
  const log: MockWechatLogEntry[] = [];

  before(async () => {
    app = await createMockMpApp({ mode: 'required' });
    mock = await startMockWechat({ apps: [app.config], logger: (e) => log.push(e) });
    token = (await stableToken(mock, app.client.appid, app.client.secret)).access_token as string;
    const cfg = app.clientConfig(mock);
    client = createMpClient({
      appid: cfg.appid,
      http: { baseUrl: mock.url, timeoutMs: 5000 },
      accessToken: staticAccessToken(token),
      apiSecurity: { symKey: cfg.symKey, symSn: cfg.symSn, privateKey: cfg.privateKeyPem, privateKeySn: cfg.privateKeySn, platformCertificates: cfg.platformCertificates },
    });
  });
  after(async () => {
    await client.close();
    await mock.close();
  });

  test('MpClient: query parameters reach the API (encrypted), beside the POST parameters', async () => {
    const echoed = await client.call<{ data: Record<string, unknown> }>('/wxa/some/api', { openid: 'o1', scene: 1 }, { query: { lang: 'zh_CN' } });
    assert.deepEqual(echoed.data, { openid: 'o1', scene: 1, lang: 'zh_CN' });
    assert.equal(log.at(-1)?.ignoredUrlParameters, undefined, 'nothing left in the URL but access_token');
  });

  test('MpClient: an API reading a URL parameter gets it from the plaintext (getuserriskrank with openid as a URL parameter)', async () => {
    const r = await client.call<{ risk_rank: number }>('/wxa/getuserriskrank', { scene: 0, client_ip: '127.0.0.1' }, { query: { openid: 'oEWzBfmdLqhFS2mTXCo2E4Y9gJAM' } });
    assert.ok(Number.isInteger(r.risk_rank));
  });

  test('a secured call that leaves a business parameter in the URL: the mock ignores it, as WeChat does, and logs its name only', async () => {
    log.length = 0;
    const call = await securedCall(mock, app, token, '/wxa/some/api', { params: { openid: 'o1' }, extraQuery: { lang: 'zh_CN', secretish: 'value-never-logged' } });
    assert.equal(call.answer.status, 200);
    const sig = verifyResponseSignature({ urlPath: call.urlPath, appid: app.client.appid, headers: call.answer.headers, body: call.answer.text, certificates: mock.platformCertificates() });
    const dec = decryptResponse({ urlPath: call.urlPath, appid: app.client.appid, timestamp: sig.timestamp, symKey: app.client.symKey, symSn: app.client.symSn, body: call.answer.text });
    assert.deepEqual(dec.data.data, { openid: 'o1' }, 'the URL parameters never reach the handler');
    const entry = log.find((e) => e.path === '/wxa/some/api');
    assert.deepEqual(entry?.ignoredUrlParameters, ['lang', 'secretish']);
    assert.doesNotMatch(JSON.stringify(log), /value-never-logged|zh_CN/);
  });

  test('getuserphonenumber with its code only in the URL is answered 41008 (sealed): the code was not in the plaintext', async () => {
    const [code] = Object.keys(app.phoneCodes);
    const call = await securedCall(mock, app, token, '/wxa/business/getuserphonenumber', { params: {}, extraQuery: { code: code! } });
    const sig = verifyResponseSignature({ urlPath: call.urlPath, appid: app.client.appid, headers: call.answer.headers, body: call.answer.text, certificates: mock.platformCertificates() });
    const dec = decryptResponse({ urlPath: call.urlPath, appid: app.client.appid, timestamp: sig.timestamp, symKey: app.client.symKey, symSn: app.client.symSn, body: call.answer.text });
    assert.equal(dec.data.errcode, 41008);
    // The code is still unused: the same code through the client (encrypted) works.
    const info = await client.getPhoneNumber(code!);
    assert.equal(info.phoneNumber, app.phoneCodes[code!]!.phoneNumber);
  });
});
