// Fault injection, outages (down/up on the same port), the control API.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startMockWechat, type MockAppConfig, type MockWechat } from '@wxseal/mock-wechat';
import { classicToken, http, postJson, stableToken } from './helpers.js';

const APP: MockAppConfig = { appid: 'wxcccccccccccccccc', secret: '0123456789abcdef0123456789abcdef' };

describe('faults and outages', () => {
  let mock: MockWechat;
  let token: string;

  before(async () => {
    mock = await startMockWechat({ apps: [APP] });
    token = (await stableToken(mock, APP.appid, APP.secret)).access_token as string;
  });
  after(() => mock.close());
  beforeEach(() => mock.faults.clear());

  const api = (path = '/wxa/ping') => postJson(`${mock.url}${path}?access_token=${token}`, {});

  test('latency delays the answer, then the request is handled normally', async () => {
    mock.faults.add({ path: '/wxa/slow', kind: 'latency', latencyMs: 300, times: 1 });
    const t0 = Date.now();
    const r = await api('/wxa/slow');
    assert.ok(Date.now() - t0 >= 280);
    assert.equal(r.json().errcode, 0);
    const t1 = Date.now();
    await api('/wxa/slow');
    assert.ok(Date.now() - t1 < 250, 'times: 1 → applied once');
  });

  test('drop destroys the socket without an answer', async () => {
    mock.faults.add({ path: /^\/cgi-bin\/token$/, kind: 'drop', times: 1 });
    await assert.rejects(classicToken(mock, APP.appid, APP.secret));
    assert.equal(typeof (await classicToken(mock, APP.appid, APP.secret)).access_token, 'string');
  });

  test('http-status answers 5xx; times counts down and the fault disappears', async () => {
    const id = mock.faults.add({ path: '/wxa/ping', kind: 'http-status', status: 503, times: 2 });
    assert.equal(mock.faults.list().find((f) => f.id === id)?.remaining, 2);
    assert.equal((await api()).status, 503);
    assert.equal(mock.faults.list().find((f) => f.id === id)?.remaining, 1);
    assert.equal((await api()).status, 503);
    assert.equal((await api()).status, 200);
    assert.equal(mock.faults.list().length, 0);
  });

  test('errcode injects -1, 45009, 45011 (per path; other paths untouched)', async () => {
    mock.faults.add({ path: '/wxa/ping', kind: 'errcode', errcode: -1, times: 1 });
    mock.faults.add({ path: '/wxa/ping', kind: 'errcode', errcode: 45009, times: 1 });
    mock.faults.add({ path: '/cgi-bin/stable_token', kind: 'errcode', errcode: 45011, errmsg: 'slow down', times: 1 });
    assert.equal((await api('/wxa/other')).json().errcode, 0);
    assert.equal((await api()).json().errcode, -1);
    assert.equal((await api()).json().errcode, 45009);
    assert.deepEqual(await stableToken(mock, APP.appid, APP.secret), { errcode: 45011, errmsg: 'slow down' });
    assert.equal((await api()).json().errcode, 0);
    const s = mock.stats;
    assert.ok((s.rejections['-1'] ?? 0) >= 1 && (s.rejections['45009'] ?? 0) >= 1 && (s.rejections['45011'] ?? 0) >= 1);
    assert.ok(s.faultsApplied >= 3);
  });

  test('a fault without path applies everywhere except the control API', async () => {
    mock.faults.add({ kind: 'http-status', status: 502 });
    assert.equal((await api()).status, 502);
    assert.equal((await http(`${mock.url}/__mock/health`)).status, 200);
    mock.faults.clear();
    assert.equal((await api()).status, 200);
  });

  test('faults over the control API', async () => {
    const add = await postJson(`${mock.url}/__mock/faults`, { pathRegex: '^/wxa/', kind: 'errcode', errcode: 45011, times: 1 });
    assert.equal(add.status, 200);
    const list = (await http(`${mock.url}/__mock/faults`)).json() as { faults: Array<{ pathRegex: string; remaining: number }> };
    assert.equal(list.faults[0]?.pathRegex, new RegExp('^/wxa/').source);
    assert.equal((await api()).json().errcode, 45011);
    assert.equal((await postJson(`${mock.url}/__mock/faults`, { kind: 'nope' })).status, 400);
    assert.equal((await postJson(`${mock.url}/__mock/faults`, { kind: 'latency', latencyMs: -5 })).status, 400);
    await postJson(`${mock.url}/__mock/faults`, { kind: 'http-status', status: 500 });
    assert.equal((await http(`${mock.url}/__mock/faults`, { method: 'DELETE' })).status, 200);
    assert.equal((await api()).status, 200);
  });

  test('down() closes the listener (connections refused), up() reopens the same port with the state kept', async () => {
    const port = mock.port;
    await mock.down();
    assert.equal(mock.isUp, false);
    await assert.rejects(api());
    await mock.up();
    assert.equal(mock.port, port);
    assert.equal((await api()).json().errcode, 0, 'the token issued before the outage still works');
  });

  test('down() interrupts requests parked in a latency fault', async () => {
    mock.faults.add({ path: '/wxa/ping', kind: 'latency', latencyMs: 10_000, times: 1 });
    const pending = api();
    await new Promise((r) => setTimeout(r, 100));
    await mock.down();
    await assert.rejects(pending);
    await mock.up();
    assert.equal((await api()).json().errcode, 0);
  });

  test('outage over the control API: 202, down for the duration, then back', async () => {
    const r = await postJson(`${mock.url}/__mock/outage`, { durationMs: 300 });
    assert.equal(r.status, 202);
    await new Promise((res) => setTimeout(res, 80));
    await assert.rejects(api());
    await new Promise((res) => setTimeout(res, 400));
    assert.equal((await api()).json().errcode, 0);
  });

  test('stats: requests by path; reset', async () => {
    mock.resetStats();
    await api();
    await api();
    await api('/wxa/other');
    const s = mock.stats;
    assert.equal(s.requests['/wxa/ping'], 2);
    assert.equal(s.requests['/wxa/other'], 1);
    assert.equal(s.totalRequests, 3);
    const viaHttp = (await http(`${mock.url}/__mock/stats`)).json() as { totalRequests: number };
    assert.equal(viaHttp.totalRequests, 3, 'control API calls are not counted');
  });

  test('control token: required when configured', async () => {
    const m2 = await startMockWechat({ apps: [APP], controlToken: 'let-me-in-please' });
    try {
      assert.equal((await http(`${m2.url}/__mock/stats`)).status, 401);
      assert.equal((await http(`${m2.url}/__mock/stats`, { headers: { authorization: 'Bearer let-me-in-please' } })).status, 200);
      const certs = (await http(`${m2.url}/__mock/platform-certificates`, { headers: { authorization: 'Bearer let-me-in-please' } })).json() as { current: string; certificates: Record<string, string> };
      assert.match(certs.certificates[certs.current]!, /BEGIN CERTIFICATE/);
      const rot = (await postJson(`${m2.url}/__mock/platform/rotate`, {}, { authorization: 'Bearer let-me-in-please' })).json() as { current: string; deprecated: string };
      assert.equal(rot.deprecated, certs.current);
      assert.equal(m2.platformSerial(), rot.current);
    } finally {
      await m2.close();
    }
    const m3 = await startMockWechat({ apps: [APP], controlApi: false });
    try {
      assert.equal((await http(`${m3.url}/__mock/health`)).status, 404);
    } finally {
      await m3.close();
    }
  });
});
