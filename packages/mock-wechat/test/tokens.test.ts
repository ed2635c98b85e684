// access_token semantics: classic /cgi-bin/token, /cgi-bin/stable_token, checks on API calls.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startMockWechat, type MockAppConfig, type MockWechat } from '@wxseal/mock-wechat';
import { classicToken, http, postJson, stableToken } from './helpers.js';

const APP: MockAppConfig = { appid: 'wxaaaaaaaaaaaaaaaa', secret: '0123456789abcdef0123456789abcdef' };
const APP2: MockAppConfig = { appid: 'wxbbbbbbbbbbbbbbbb', secret: 'fedcba9876543210fedcba9876543210' };

describe('access_token', () => {
  let mock: MockWechat;
  let now = Date.UTC(2025, 0, 1, 4, 0, 0);
  const advance = (seconds: number) => {
    now += seconds * 1000;
  };
  const call = async (token: string | undefined, path = '/wxa/echo') =>
    (await postJson(`${mock.url}${path}${token === undefined ? '' : `?access_token=${encodeURIComponent(token)}`}`, { x: 1 })).json();

  before(async () => {
    mock = await startMockWechat({
      apps: [APP, APP2],
      clock: () => now,
      tokenTtlSeconds: 100,
      previousTokenGraceSeconds: 10,
      stableRenewWindowSeconds: 20,
      forceRefreshMinIntervalSeconds: 5,
      forceRefreshDailyLimit: 3,
    });
  });
  after(() => mock.close());
  beforeEach(() => {
    advance(1000); // every test starts with expired tokens from the previous one
    mock.invalidateTokens(APP.appid);
    mock.resetForceRefreshQuota(APP.appid);
  });

  test('classic: each fetch issues a new token; the previous one keeps working for the grace period, then 40001', async () => {
    const before = mock.tokenFetchCount(APP.appid, 'classic');
    const t1 = await classicToken(mock, APP.appid, APP.secret);
    assert.equal(t1.expires_in, 100);
    const t2 = await classicToken(mock, APP.appid, APP.secret);
    assert.notEqual(t1.access_token, t2.access_token);
    assert.equal(mock.tokenFetchCount(APP.appid, 'classic') - before, 2);
    assert.equal(mock.currentToken(APP.appid, 'classic'), t2.access_token);
    assert.equal((await call(t1.access_token as string)).errcode, 0);
    advance(9);
    assert.equal((await call(t1.access_token as string)).errcode, 0);
    advance(1);
    assert.equal((await call(t1.access_token as string)).errcode, 40001);
    assert.equal((await call(t2.access_token as string)).errcode, 0);
  });

  test('expiry → 42001', async () => {
    const t = (await classicToken(mock, APP.appid, APP.secret)).access_token as string;
    advance(99);
    assert.equal((await call(t)).errcode, 0);
    advance(1);
    assert.equal((await call(t)).errcode, 42001);
  });

  test('missing → 41001, malformed → 40014, unknown → 40001', async () => {
    assert.equal((await call(undefined)).errcode, 41001);
    assert.equal((await call('hello world')).errcode, 40014);
    assert.equal((await call(`81_${'A'.repeat(40)}`)).errcode, 40001);
  });

  test('stable: same token while valid (expires_in counting down), a new one inside the renewal window, the old one still valid until its expiry', async () => {
    const a = await stableToken(mock, APP.appid, APP.secret);
    assert.equal(a.expires_in, 100);
    advance(30);
    const b = await stableToken(mock, APP.appid, APP.secret);
    assert.equal(b.access_token, a.access_token);
    assert.equal(b.expires_in, 70);
    advance(50); // 20 s left: inside the window
    const c = await stableToken(mock, APP.appid, APP.secret);
    assert.notEqual(c.access_token, a.access_token);
    assert.equal(c.expires_in, 100);
    assert.equal((await call(a.access_token as string)).errcode, 0);
    advance(20);
    assert.equal((await call(a.access_token as string)).errcode, 42001);
    assert.equal((await call(c.access_token as string)).errcode, 0);
  });

  test('stable and classic tokens are isolated from each other', async () => {
    const s = await stableToken(mock, APP.appid, APP.secret);
    const c1 = await classicToken(mock, APP.appid, APP.secret);
    await classicToken(mock, APP.appid, APP.secret);
    advance(11);
    assert.equal((await call(c1.access_token as string)).errcode, 40001);
    assert.equal((await call(s.access_token as string)).errcode, 0);
    assert.equal((await stableToken(mock, APP.appid, APP.secret)).access_token, s.access_token);
  });

  test('force_refresh: new token at once, old one 40001; calls closer than the interval do not refresh; the daily limit → 45009', async () => {
    const a = await stableToken(mock, APP.appid, APP.secret);
    const b = await stableToken(mock, APP.appid, APP.secret, true);
    assert.notEqual(b.access_token, a.access_token);
    assert.equal((await call(a.access_token as string)).errcode, 40001);
    assert.equal((await call(b.access_token as string)).errcode, 0);
    advance(2);
    const c = await stableToken(mock, APP.appid, APP.secret, true);
    assert.equal(c.access_token, b.access_token, 'within the minimum interval: no refresh');
    advance(5);
    const d = await stableToken(mock, APP.appid, APP.secret, true);
    assert.notEqual(d.access_token, b.access_token);
    advance(5);
    const e = await stableToken(mock, APP.appid, APP.secret, true);
    assert.notEqual(e.access_token, d.access_token);
    advance(5);
    const f = await stableToken(mock, APP.appid, APP.secret, true);
    assert.equal(f.errcode, 45009);
    assert.match(String(f.errmsg), /^reach max api daily quota limit/);
    // Normal mode still answers the current token.
    assert.equal((await stableToken(mock, APP.appid, APP.secret)).access_token, e.access_token);
    assert.equal(mock.tokenStats(APP.appid).forceRefreshes >= 3, true);
    // The quota is per day (UTC+8).
    advance(86_400);
    assert.ok((await stableToken(mock, APP.appid, APP.secret, true)).access_token);
  });

  test('invalidateTokens → 40001 on every current token; the next fetch issues a new one', async () => {
    const s = await stableToken(mock, APP.appid, APP.secret);
    const c = await classicToken(mock, APP.appid, APP.secret);
    const other = await stableToken(mock, APP2.appid, APP2.secret);
    assert.equal(mock.invalidateTokens(APP.appid), 2);
    assert.equal((await call(s.access_token as string)).errcode, 40001);
    assert.equal((await call(c.access_token as string)).errcode, 40001);
    assert.equal((await call(other.access_token as string)).errcode, 0);
    assert.equal(mock.currentToken(APP.appid), undefined);
    const s2 = await stableToken(mock, APP.appid, APP.secret);
    assert.notEqual(s2.access_token, s.access_token);
    assert.equal((await call(s2.access_token as string)).errcode, 0);
  });

  test('invalidation over the control API', async () => {
    const s = await stableToken(mock, APP.appid, APP.secret);
    const r = await postJson(`${mock.url}/__mock/tokens/invalidate`, { appid: APP.appid });
    assert.deepEqual(r.json(), { invalidated: 1 });
    assert.equal((await call(s.access_token as string)).errcode, 40001);
    const info = (await http(`${mock.url}/__mock/tokens?appid=${APP.appid}`)).json() as { stats: { stableFetches: number }; current: { stable: string | null } };
    assert.equal(info.current.stable, null);
    assert.ok(info.stats.stableFetches >= 1);
  });

  test('credential errors: wrong secret, unknown appid, grant_type, missing fields, method, body', async () => {
    assert.equal((await classicToken(mock, APP.appid, 'wrong')).errcode, 40001);
    assert.equal((await classicToken(mock, 'wxnotthere', APP.secret)).errcode, 40013);
    assert.equal((await http(`${mock.url}/cgi-bin/token?grant_type=password&appid=${APP.appid}&secret=${APP.secret}`)).json().errcode, 40002);
    assert.equal((await http(`${mock.url}/cgi-bin/token?grant_type=client_credential&secret=${APP.secret}`)).json().errcode, 41002);
    assert.equal((await http(`${mock.url}/cgi-bin/token?grant_type=client_credential&appid=${APP.appid}`)).json().errcode, 41004);
    assert.equal((await stableToken(mock, APP.appid, 'wrong')).errcode, 40125);
    assert.equal((await stableToken(mock, 'wxnotthere', APP.secret)).errcode, 40013);
    assert.equal((await postJson(`${mock.url}/cgi-bin/stable_token`, { grant_type: 'x', appid: APP.appid, secret: APP.secret })).json().errcode, 40002);
    assert.equal((await postJson(`${mock.url}/cgi-bin/stable_token`, { grant_type: 'client_credential', appid: APP.appid, secret: APP.secret, force_refresh: 'yes' })).json().errcode, 47001);
    assert.equal((await postJson(`${mock.url}/cgi-bin/stable_token`, 'not json')).json().errcode, 47001);
    assert.equal((await postJson(`${mock.url}/cgi-bin/stable_token`, '')).json().errcode, 44002);
    assert.equal((await http(`${mock.url}/cgi-bin/stable_token`)).json().errcode, 43002);
    const stats = mock.stats;
    assert.ok((stats.requests['/cgi-bin/token'] ?? 0) >= 5);
    assert.ok((stats.rejections['40013'] ?? 0) >= 2);
  });
});
