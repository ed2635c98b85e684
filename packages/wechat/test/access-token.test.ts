// AccessTokenManager against a fake WeChat token server, one process (memory store):
// fetch formats, single-flight, proactive refresh, invalidation, retries, breaker, stale serving,
// forced refresh guard, timer and shutdown.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { WechatApiError, WechatHttp, WechatTransportError } from '../src/index.js';
import {
  AccessTokenError,
  AccessTokenManager,
  MemoryTokenStore,
  type AccessTokenManagerOptions,
} from '../src/access-token/index.js';
import { APPID, SECRET, fetchCount, startFakeWechat, type FakeWechat } from './access-token-helpers/fake-wechat.js';
import { describeForLeakCheck, eventLog, eventually, fakeClock, sleep } from './access-token-helpers/common.js';

let wx: FakeWechat;
const managers: AccessTokenManager[] = [];

function manager(options: Partial<AccessTokenManagerOptions> = {}): AccessTokenManager {
  const m = new AccessTokenManager({
    appid: APPID,
    secret: SECRET,
    http: { baseUrl: wx.url, timeoutMs: 2000, breaker: false },
    retry: { maxRetries: 3, initialDelayMs: 5, maxDelayMs: 20 },
    refreshTimeoutMs: 5000,
    lockTtlMs: 6000,
    ...options,
  });
  managers.push(m);
  return m;
}

before(async () => {
  wx = await startFakeWechat();
});
after(async () => {
  await wx.close();
});
beforeEach(() => {
  wx.reset();
});
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

describe('fetching', () => {
  test('stable mode (default) POSTs stable_token without force_refresh and caches the token', async () => {
    const m = manager();
    const t1 = await m.getAccessToken();
    assert.equal(t1, wx.issued[0]);
    assert.equal(wx.requests.length, 1);
    const r = wx.requests[0]!;
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/cgi-bin/stable_token');
    assert.deepEqual(r.body, { grant_type: 'client_credential', appid: APPID, secret: SECRET });
    assert.equal(await m.getAccessToken(), t1);
    assert.equal(await m.getAccessToken(), t1);
    assert.equal(wx.requests.length, 1, 'served from memory');
    assert.equal(m.stats().fetches, 1);
  });

  test('classic mode GETs /cgi-bin/token with the credentials in the query', async () => {
    const m = manager({ mode: 'classic' });
    const t = await m.getAccessToken();
    assert.match(t, /classic/);
    const r = wx.requests[0]!;
    assert.equal(r.method, 'GET');
    assert.equal(r.path, '/cgi-bin/token');
    assert.deepEqual(r.query, { grant_type: 'client_credential', appid: APPID, secret: SECRET });
  });

  test('an answer without a usable access_token is WECHAT_BAD_RESPONSE, not a cached garbage token', async () => {
    const m = manager({ retry: false });
    wx.expiresIn = -5;
    await assert.rejects(m.getAccessToken(), (e: unknown) => e instanceof WechatTransportError && e.code === 'WECHAT_BAD_RESPONSE');
  });

  test('rejects bad options with WECHAT_TOKEN_CONFIG_INVALID', () => {
    const bad: Partial<AccessTokenManagerOptions>[] = [{ appid: '' }, { secret: '' }, { lockTtlMs: 1000, refreshTimeoutMs: 1000 }, { refreshMarginSeconds: -1 }, { pollIntervalMs: 0 }];
    for (const o of bad) {
      assert.throws(
        () => new AccessTokenManager({ appid: APPID, secret: SECRET, http: { baseUrl: wx.url }, ...o }),
        (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_CONFIG_INVALID' && !e.message.includes(SECRET),
      );
    }
  });
});

describe('single-flight', () => {
  test('300 concurrent getAccessToken calls cause one fetch', async () => {
    wx.delayMs = 50;
    const m = manager();
    const tokens = await Promise.all(Array.from({ length: 300 }, () => m.getAccessToken()));
    assert.equal(wx.requests.length, 1);
    assert.equal(new Set(tokens).size, 1);
    assert.equal(tokens[0], wx.issued[0]);
  });

  test('concurrent callers share one failure too (one request, every caller sees the error)', async () => {
    wx.reply = { errcode: 40125, errmsg: 'invalid appsecret' };
    const m = manager();
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => m.getAccessToken()));
    assert.equal(wx.requests.length, 1);
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof WechatApiError && r.reason.errcode === 40125), 'results.every((r) => r.status === "rejected" && r.reason instanceof WechatApiError && r.re…');
  });
});

describe('proactive refresh', () => {
  test('inside the margin the current token is served at once while one background fetch renews it', async () => {
    const clock = fakeClock();
    const log = eventLog();
    const m = manager({ now: clock.now, onEvent: log.onEvent });
    const t1 = await m.getAccessToken();
    clock.advance((7200 - 181) * 1000);
    assert.equal(await m.getAccessToken(), t1);
    assert.equal(wx.requests.length, 1, 'no refresh before the margin');
    clock.advance(2000); // 179 s left: inside the default 180 s margin
    wx.delayMs = 30;
    const during = await Promise.all(Array.from({ length: 100 }, () => m.getAccessToken()));
    assert.ok(during.every((t) => t === t1), 'old token served while the refresh runs');
    await eventually(() => fetchCount(wx) === 2, 'background refresh');
    await eventually(async () => (await m.getAccessToken()) === wx.issued[1], 'new token served');
    assert.equal(wx.requests.length, 2, 'exactly one background fetch');
    assert.equal(log.of('fetched').length, 2);
  });

  test('a token whose life is shorter than twice the margin is renewed at half-life, not in a loop', async () => {
    const clock = fakeClock();
    wx.expiresIn = 200; // stable_token late in a token's life answers with the remaining seconds
    const m = manager({ now: clock.now });
    const t1 = await m.getAccessToken();
    clock.advance(99_000);
    assert.equal(await m.getAccessToken(), t1);
    await sleep(20);
    assert.equal(wx.requests.length, 1, 'no refresh before half-life although 101 s < 180 s margin');
    clock.advance(2000);
    assert.equal(await m.getAccessToken(), t1);
    await eventually(() => fetchCount(wx) === 2, 'refresh at half-life');
  });

  test('start() refreshes ahead of expiry without traffic; stop() and close() end it', async () => {
    wx.expiresIn = 2;
    const log = eventLog();
    const m = manager({ refreshMarginSeconds: 1, onEvent: log.onEvent });
    m.start();
    m.start(); // idempotent
    await eventually(() => fetchCount(wx) === 1, 'initial load by the timer');
    await eventually(() => fetchCount(wx) === 2, 'refresh ~1 s later, no getAccessToken call', 4000);
    m.stop();
    const n = wx.requests.length;
    await sleep(1300);
    assert.equal(wx.requests.length, n, 'no fetch after stop()');
    assert.equal(await m.getAccessToken(), wx.issued[1]);
    await m.close();
    await assert.rejects(m.getAccessToken(), (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_CLOSED');
    assert.throws(() => m.start(), (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_CLOSED');
  });
});

describe('invalidate', () => {
  test('drops only the matching token', async () => {
    const log = eventLog();
    const m = manager({ onEvent: log.onEvent });
    const t1 = await m.getAccessToken();
    await m.invalidate('some-other-token');
    assert.equal(await m.getAccessToken(), t1);
    assert.equal(wx.requests.length, 1, 'a non-matching invalidation changes nothing');
    await m.invalidate(t1);
    const t2 = await m.getAccessToken();
    assert.notEqual(t2, t1);
    assert.equal(wx.requests.length, 2);
    assert.equal(m.stats().invalidations, 2);
    assert.deepEqual(
      log.of('invalidated').map((e) => [e.memory, e.store]),
      [
        [false, false],
        [true, true],
      ],
    );
  });

  test('a late invalidation of an old token never wipes the newer one in a shared store', async () => {
    const store = new MemoryTokenStore();
    const a = manager({ store });
    const b = manager({ store });
    const t1 = await a.getAccessToken();
    assert.equal(await b.getAccessToken(), t1, 'b reads the shared token');
    assert.equal(wx.requests.length, 1);
    await a.invalidate(t1);
    const t2 = await a.getAccessToken();
    assert.notEqual(t2, t1);
    await b.invalidate(t1); // b saw 40001 on its own (stale) copy later
    assert.equal(await b.getAccessToken(), t2, 'b adopts a\'s new token');
    assert.equal(wx.requests.length, 2, 'no extra fetch');
    assert.equal(await a.getAccessToken(), t2);
    assert.equal(b.stats().sharedReads, 2);
  });

  test('40001 flow: the API client invalidates the rejected token and gets a new one', async () => {
    const m = manager();
    // The API client's loop: call, WeChat answers 40001, invalidate, get again, retry once.
    const t1 = await m.getAccessToken();
    const rejected = new WechatApiError(40001, 'invalid credential, access_token is invalid or not latest');
    assert.equal(rejected.tokenInvalid, true);
    await m.invalidate(t1);
    const t2 = await m.getAccessToken();
    assert.notEqual(t2, t1);
    assert.equal(t2, wx.issued[1]);
    assert.equal(wx.requests.length, 2);
    assert.ok(wx.requests.every((r) => r.body?.['force_refresh'] === undefined), 'an invalidation never forces a refresh');
  });
});

describe('retries', () => {
  test('transient failures (-1, 5xx, 45011, timeout) are retried with backoff, then succeed', async () => {
    const log = eventLog();
    wx.script = [{ errcode: -1, errmsg: 'system error' }, { status: 503 }, { errcode: 45011, errmsg: 'api freq out of limit' }, 'ok'];
    const m = manager({ onEvent: log.onEvent });
    const t = await m.getAccessToken();
    assert.equal(t, wx.issued[0]);
    assert.equal(wx.requests.length, 4);
    assert.equal(m.stats().retries, 3);
    assert.equal(log.of('retry').length, 3);
    assert.deepEqual(log.of('fetched').map((e) => e.attempts), [4]);

    wx.requests.length = 0;
    wx.script = ['hang', 'ok'];
    const m2 = manager({ http: { baseUrl: wx.url, timeoutMs: 150, breaker: false } });
    assert.equal(await m2.getAccessToken(), wx.issued[1]);
    assert.equal(wx.requests.length, 2, 'a timed-out attempt is retried');
  });

  test('retries are bounded: persistent transient failure surfaces after maxRetries + 1 attempts', async () => {
    wx.reply = { errcode: -1 };
    const m = manager({ retry: { maxRetries: 2, initialDelayMs: 5, maxDelayMs: 10 } });
    await assert.rejects(m.getAccessToken(), (e: unknown) => e instanceof WechatApiError && e.errcode === -1 && e.transient);
    assert.equal(wx.requests.length, 3);
    assert.equal(m.stats().failures, 1);
  });

  test('the total refresh time is bounded by refreshTimeoutMs (WECHAT_TOKEN_REFRESH_TIMEOUT)', async () => {
    wx.reply = 'hang';
    const m = manager({ http: { baseUrl: wx.url, timeoutMs: 5000, breaker: false }, refreshTimeoutMs: 200, lockTtlMs: 1000 });
    await assert.rejects(m.getAccessToken(), (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_REFRESH_TIMEOUT');
    assert.equal(wx.requests.length, 1, 'an abort by our own deadline is not retried');
  });

  for (const errcode of [40013, 40125, 40164, 41002, 41004, 40002]) {
    test(`permanent errcode ${errcode} is surfaced as WechatApiError and never retried`, async () => {
      wx.reply = { errcode, errmsg: `error ${errcode}` };
      const log = eventLog();
      const m = manager({ onEvent: log.onEvent });
      const err = await m.getAccessToken().then(
        () => assert.fail('should reject'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WechatApiError, 'err instanceof WechatApiError');
      assert.equal(err.errcode, errcode);
      assert.equal(err.transient, false);
      assert.equal(wx.requests.length, 1);
      assert.equal(m.stats().retries, 0);
      assert.equal(log.of('refresh-failed').length, 1);
      const text = describeForLeakCheck([err, ...log.events]);
      assert.ok(!text.includes(SECRET), 'secret never in errors or events');
    });
  }
});

describe('WeChat outage', () => {
  test('breaker opens, calls fail fast with WECHAT_CIRCUIT_OPEN without reaching WeChat, then recover', async () => {
    const states: string[] = [];
    const http = new WechatHttp({ baseUrl: wx.url, timeoutMs: 1000, breaker: { consecutiveFailures: 3, halfOpenAfterMs: 300 }, onBreakerStateChange: (s) => states.push(s) });
    try {
      const m = manager({ http, retry: { maxRetries: 5, initialDelayMs: 5, maxDelayMs: 10 } });
      wx.reply = { status: 502 };
      await assert.rejects(m.getAccessToken(), (e: unknown) => e instanceof WechatTransportError && e.code === 'WECHAT_CIRCUIT_OPEN');
      assert.equal(wx.requests.length, 3, 'the breaker stopped the retries after 3 consecutive failures');
      assert.equal(http.breakerState, 'open');
      const seen = wx.requests.length;
      const fast = await Promise.allSettled(Array.from({ length: 20 }, () => m.getAccessToken()));
      assert.ok(fast.every((r) => r.status === 'rejected' && r.reason instanceof WechatTransportError && r.reason.code === 'WECHAT_CIRCUIT_OPEN'), 'fast.every((r) => r.status === "rejected" && r.reason instanceof WechatTransportError && r…');
      assert.equal(wx.requests.length, seen, 'WeChat sees no request while the breaker is open');
      wx.reply = 'ok';
      await sleep(350);
      const t = await m.getAccessToken();
      assert.equal(t, wx.issued[0]);
      assert.equal(http.breakerState, 'closed');
      assert.deepEqual(states, ['open', 'half-open', 'closed']);
      await m.close();
      assert.equal(http.breakerState, 'closed', 'a shared WechatHttp is not closed by the manager');
    } finally {
      await http.close();
    }
  });

  test('served-stale: a refresh failure keeps the still-valid token in service, never beyond expiry', async () => {
    const clock = fakeClock();
    const log = eventLog();
    const m = manager({ now: clock.now, onEvent: log.onEvent, retry: { maxRetries: 1, initialDelayMs: 5, maxDelayMs: 5 }, failureBackoffMs: 10_000 });
    const t1 = await m.getAccessToken();
    wx.reply = { status: 503 };
    clock.advance((7200 - 100) * 1000); // inside the margin
    assert.equal(await m.getAccessToken(), t1);
    await eventually(() => log.of('served-stale').length === 1, 'served-stale event');
    const failed = log.of('refresh-failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.servingStale, true);
    assert.ok(failed[0]!.error instanceof WechatTransportError, 'failed[0]!.error instanceof WechatTransportError');
    assert.equal(wx.requests.length, 3, '1 initial + 2 attempts of the failed refresh');
    // Within failureBackoffMs no new attempt, the token keeps being served.
    clock.advance(5000);
    assert.equal(await m.getAccessToken(), t1);
    await sleep(20);
    assert.equal(wx.requests.length, 3, 'no refresh storm while backing off');
    // After the backoff, a retry; still failing, still served.
    clock.advance(6000);
    assert.equal(await m.getAccessToken(), t1);
    await eventually(() => log.of('served-stale').length === 2, 'second served-stale');
    assert.deepEqual([m.stats().failures, m.stats().staleServed], [2, 2]);
    // Past expiry a stale token is never served: the error surfaces.
    clock.advance(100_000);
    await assert.rejects(m.getAccessToken(), (e: unknown) => e instanceof WechatTransportError && e.code === 'WECHAT_UNAVAILABLE');
    wx.reply = 'ok';
    assert.equal(await m.getAccessToken(), wx.issued[1]);
  });
});

describe('forceRefresh', () => {
  test('sends force_refresh: true, only on request, and refuses within 30 s of the previous one', async () => {
    const clock = fakeClock();
    const m = manager({ now: clock.now });
    const t1 = await m.getAccessToken();
    const t2 = await m.forceRefresh();
    assert.notEqual(t2, t1);
    assert.equal(await m.getAccessToken(), t2);
    assert.deepEqual(
      wx.requests.map((r) => r.body?.['force_refresh']),
      [undefined, true],
    );
    clock.advance(29_000);
    const err = await m.forceRefresh().then(
      () => assert.fail('should be refused'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AccessTokenError, 'err instanceof AccessTokenError');
    assert.equal(err.code, 'WECHAT_TOKEN_FORCE_REFRESH_TOO_SOON');
    assert.equal(err.retryAfterMs, 1000);
    assert.equal(wx.requests.length, 2, 'a refused forced refresh sends nothing');
    clock.advance(1000);
    const t3 = await m.forceRefresh();
    assert.notEqual(t3, t2);
    assert.equal(m.stats().forcedFetches, 2);
  });

  test('a forced refresh is not retried (a second call inside 30 s would not refresh)', async () => {
    const m = manager();
    wx.script = [{ errcode: -1 }];
    await assert.rejects(m.forceRefresh(), (e: unknown) => e instanceof WechatApiError && e.errcode === -1);
    assert.equal(wx.requests.length, 1);
  });

  test('classic mode: forceRefresh is an ordinary fetch (every classic fetch issues a new token)', async () => {
    const m = manager({ mode: 'classic' });
    const t1 = await m.getAccessToken();
    const t2 = await m.forceRefresh();
    assert.notEqual(t1, t2);
    assert.ok(wx.requests.every((r) => r.method === 'GET' && r.query['force_refresh'] === undefined), 'wx.requests.every((r) => r.method === "GET" && r.query["force_refresh"] === undefined)');
  });
});

describe('cancellation and shutdown', () => {
  test('a caller\'s signal aborts only its own wait; close() aborts the refresh in progress', async () => {
    wx.reply = 'hang';
    const m = manager({ http: { baseUrl: wx.url, timeoutMs: 10_000, breaker: false } });
    const ac = new AbortController();
    const mine = m.getAccessToken({ signal: ac.signal });
    const other = m.getAccessToken().then(
      () => undefined,
      (e: unknown) => e,
    );
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(mine, (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_ABORTED');
    assert.equal(wx.requests.length, 1);
    let settled = false;
    void other.then(() => (settled = true));
    await sleep(20);
    assert.equal(settled, false, 'the other caller still waits for the shared refresh');
    await m.close();
    const otherErr = await other;
    assert.ok(otherErr instanceof AccessTokenError && otherErr.code === 'WECHAT_TOKEN_CLOSED', 'otherErr instanceof AccessTokenError && otherErr.code === "WECHAT_TOKEN_CLOSED"');
    await m.close(); // idempotent
  });

  test('an already aborted signal rejects at once', async () => {
    const m = manager();
    await assert.rejects(m.getAccessToken({ signal: AbortSignal.abort() }), (e: unknown) => e instanceof AccessTokenError && e.code === 'WECHAT_TOKEN_ABORTED');
    assert.equal(wx.requests.length, 0);
  });

  test('events and errors never carry the secret or a token; a throwing listener is harmless', async () => {
    const clock = fakeClock();
    const log = eventLog();
    const m = manager({
      now: clock.now,
      onEvent: (e) => {
        log.onEvent(e);
        throw new Error('listener bug');
      },
      retry: { maxRetries: 1, initialDelayMs: 5, maxDelayMs: 5 },
    });
    const t1 = await m.getAccessToken();
    await m.invalidate(t1);
    wx.script = [{ errcode: -1 }];
    const t2 = await m.getAccessToken();
    await m.forceRefresh();
    wx.reply = { errcode: 40164, errmsg: 'invalid ip 1.2.3.4' };
    clock.advance(8000 * 1000);
    const err = await m.getAccessToken().catch((e: unknown) => e);
    assert.ok(err instanceof WechatApiError, 'err instanceof WechatApiError');
    const text = describeForLeakCheck([err, ...log.events]);
    for (const secretish of [SECRET, ...wx.issued]) assert.ok(!text.includes(secretish), `leak of ${secretish === SECRET ? 'the secret' : 'a token'}`);
    assert.ok(log.events.length >= 5, 'log.events.length >= 5');
    assert.notEqual(t1, t2);
  });
});
