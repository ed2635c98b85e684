import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WxsealError } from '@wxseal/protocol';
import {
  DEFAULT_TRUSTED_SOURCES,
  WxsealRemoteError,
  cloudRequestOptions,
  createClient,
  deadlineBudgetMs,
  forwardEvent,
  readWechatIdentity,
  type ClientOptions,
  type CloudFunctionContext,
  type LogEntry,
  type WXContext,
  type WxsealClient,
} from '../src/index.js';
import { makeKeys, startFixture, startSilentServer, type Fixture, type TestKeys } from './fixture.js';

let keys: TestKeys;
const cleanups: Array<() => unknown> = [];
before(() => {
  keys = makeKeys();
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

function client(baseUrl: string, over: Partial<ClientOptions> = {}): WxsealClient {
  const c = createClient({
    baseUrl,
    keyId: keys.keyId,
    secret: keys.secret,
    serverPublicKey: keys.publicKeyPem,
    serverKeyId: keys.serverKeyId,
    ...over,
  });
  cleanups.push(() => c.close());
  return c;
}

async function fixture(handler?: Parameters<typeof startFixture>[0]['handler']): Promise<Fixture> {
  const f = await startFixture({ keys, ...(handler ? { handler } : {}) });
  cleanups.push(() => f.close());
  return f;
}

/** A context as a WeChat cloud function receives it: the environment is a JSON string. */
function wechatContext(env: Record<string, string>, extra: Partial<CloudFunctionContext> = {}): CloudFunctionContext {
  return {
    request_id: 'a1b2c3d4-req',
    time_limit_in_ms: 3000,
    environment: JSON.stringify({ SCF_NAMESPACE: 'env-1', ...env }),
    ...extra,
  };
}

const USER_ENV = { WX_OPENID: 'o-from-context', WX_APPID: 'wx-app', WX_UNIONID: 'u-from-context', TCB_ENV: 'env-1', TCB_SOURCE: 'wx_client' };

function spyWXContext(value: WXContext): { get: () => WXContext; calls: () => number } {
  let calls = 0;
  return {
    get: () => {
      calls += 1;
      return value;
    },
    calls: () => calls,
  };
}

describe('readWechatIdentity', () => {
  it('prefers the per-call context.environment to getWXContext', () => {
    const process = spyWXContext({ OPENID: 'o-from-process', APPID: 'wx-app', SOURCE: 'wx_client' });
    const r = readWechatIdentity(wechatContext(USER_ENV), { getWXContext: process.get });
    assert.equal(r.origin, 'context.environment');
    assert.deepEqual(r.identity, { openid: 'o-from-context', appid: 'wx-app', unionid: 'u-from-context', env: 'env-1', source: 'wx_client' });
    assert.equal(r.userTrusted, true);
    assert.equal(process.calls(), 0, 'process-wide state is not read when the context has it');
  });

  it("never lends the process-wide identity to a call whose own environment has none (e.g. a timer)", () => {
    const stale = spyWXContext({ OPENID: 'o-previous-caller', SOURCE: 'wx_client' });
    const r = readWechatIdentity(wechatContext({ TCB_SOURCE: 'wx_trigger', TCB_ENV: 'env-1' }), { getWXContext: stale.get });
    assert.deepEqual(r.identity, { env: 'env-1', source: 'wx_trigger' });
    assert.equal(stale.calls(), 0);
  });

  it('an unreadable environment yields no identity and no fallback', () => {
    const stale = spyWXContext({ OPENID: 'o-previous-caller', SOURCE: 'wx_client' });
    const r = readWechatIdentity({ environment: '{not json' }, { getWXContext: stale.get });
    assert.deepEqual(r.identity, {});
    assert.equal(stale.calls(), 0);
  });

  it('falls back to getWXContext only when the context carries no environment', () => {
    const r = readWechatIdentity({ request_id: 'x' }, { getWXContext: () => ({ OPENID: 'o-p', APPID: 'wx-app', SOURCE: 'wx_client', ENV: 'env-1' }) });
    assert.equal(r.origin, 'getWXContext');
    assert.deepEqual(r.identity, { openid: 'o-p', appid: 'wx-app', env: 'env-1', source: 'wx_client' });
    assert.deepEqual(readWechatIdentity(undefined).identity, {});
    assert.equal(readWechatIdentity(undefined).origin, 'none');
  });

  it('reads the legacy environ form', () => {
    const r = readWechatIdentity({ environ: 'SCF_NAMESPACE=env-1;WX_OPENID=o-1;WX_APPID=wx-app;TCB_SOURCE=wx_client,scf' });
    assert.equal(r.origin, 'context.environ');
    assert.deepEqual(r.identity, { openid: 'o-1', appid: 'wx-app', source: 'wx_client,scf' });
  });

  it('drops openid and unionid when SOURCE is not in the allow-list', () => {
    for (const source of ['wx_devtools', 'wx_http', 'wx_trigger', 'scf', 'wx_unknown', 'other']) {
      const r = readWechatIdentity(wechatContext({ ...USER_ENV, TCB_SOURCE: source }));
      assert.deepEqual(r.identity, { appid: 'wx-app', env: 'env-1', source }, source);
      assert.equal(r.userTrusted, false);
    }
    const noSource = readWechatIdentity(wechatContext({ WX_OPENID: 'o-1', WX_APPID: 'wx-app' }));
    assert.deepEqual(noSource.identity, { appid: 'wx-app' });
  });

  it("trusts 'wx_client' and 'wx_client,scf' by default, and follows a custom list", () => {
    assert.deepEqual([...DEFAULT_TRUSTED_SOURCES], ['wx_client', 'wx_client,scf']);
    for (const source of ['wx_client', 'wx_client,scf', 'wx_client, scf']) {
      assert.equal(readWechatIdentity(wechatContext({ ...USER_ENV, TCB_SOURCE: source })).identity.openid, 'o-from-context', source);
    }
    const strict = readWechatIdentity(wechatContext({ ...USER_ENV, TCB_SOURCE: 'wx_client,scf' }), { trustedSources: ['wx_client'] });
    assert.equal(strict.identity.openid, undefined);
    const devtools = readWechatIdentity(wechatContext({ ...USER_ENV, TCB_SOURCE: 'wx_devtools' }), { trustedSources: ['wx_devtools'] });
    assert.equal(devtools.identity.openid, 'o-from-context');
  });
});

describe('deadline budget', () => {
  const now = () => 1_000_000;
  it('is the time limit minus the time spent minus the margin, capped by the client timeout', () => {
    assert.equal(deadlineBudgetMs({ time_limit_in_ms: 3000 }, 10_000, { startedAt: now() - 1000, safetyMarginMs: 500, now }), 1500);
    assert.equal(deadlineBudgetMs({ time_limit_in_ms: 20_000 }, 10_000, { startedAt: now(), now }), 10_000);
    assert.equal(deadlineBudgetMs({ time_limit_in_ms: '5000' }, 10_000, { now }), 4500);
  });

  it('assumes the 3 s default when the context has no time limit', () => {
    assert.equal(deadlineBudgetMs({}, 10_000, { now }), 2500);
    assert.equal(deadlineBudgetMs(undefined, 10_000, { now, safetyMarginMs: 0 }), 3000);
  });

  it('refuses to start a call when no time is left', () => {
    const c = { timeoutMs: 10_000 };
    assert.throws(
      () => cloudRequestOptions(c, { time_limit_in_ms: 3000 }, { startedAt: now() - 2800, now }),
      (err: unknown) => err instanceof WxsealError && err.code === 'WXSEAL_TIMEOUT',
    );
    const ok = cloudRequestOptions(c, wechatContext(USER_ENV), { startedAt: now() - 1000, now });
    assert.deepEqual(ok, {
      timeoutMs: 1500,
      requestId: 'a1b2c3d4-req',
      identity: { openid: 'o-from-context', appid: 'wx-app', unionid: 'u-from-context', env: 'env-1', source: 'wx_client' },
    });
  });
});

describe('forwardEvent', () => {
  it('sends the event (minus userInfo) sealed with the identity, and returns the decrypted JSON', async () => {
    const f = await fixture((req) => ({
      status: 200,
      contentType: 'application/json',
      body: Buffer.from(JSON.stringify({ ok: true, got: JSON.parse(req.body.toString()), who: req.identity?.openid ?? null })),
    }));
    const entries: LogEntry[] = [];
    const c = client(f.url, { logger: (e) => entries.push(e) });
    const event = { action: 'buy', sku: 'tea', userInfo: { openId: 'o-injected', appId: 'wx-app' } };
    const process = spyWXContext({ OPENID: 'o-from-process', SOURCE: 'wx_client' });
    const answer = await forwardEvent<{ ok: boolean; got: unknown; who: string }>(c, event, wechatContext(USER_ENV), {
      path: '/orders',
      getWXContext: process.get,
    });

    assert.deepEqual(answer, { ok: true, got: { action: 'buy', sku: 'tea' }, who: 'o-from-context' });
    const got = f.received[0]!;
    assert.equal(got.mode, 'sealed');
    assert.equal(got.method, 'POST');
    assert.equal(got.contentType, 'application/json');
    assert.deepEqual(got.identity, { openid: 'o-from-context', appid: 'wx-app', unionid: 'u-from-context', env: 'env-1', source: 'wx_client' });
    assert.equal(process.calls(), 0);
    assert.ok(entries.length > 0 && entries.every((e) => e.requestId === 'a1b2c3d4-req'));
  });

  it('does not assert the openid of an untrusted source', async () => {
    const f = await fixture();
    await forwardEvent(client(f.url), { a: 1 }, wechatContext({ ...USER_ENV, TCB_SOURCE: 'wx_http' }), { path: '/x' });
    assert.deepEqual(f.received[0]!.identity, { appid: 'wx-app', env: 'env-1', source: 'wx_http' });
  });

  it("the call's deadline follows time_limit_in_ms, not the client's timeout", { timeout: 5000 }, async () => {
    const s = await startSilentServer();
    cleanups.push(() => s.close());
    const c = client(s.url, { timeoutMs: 60_000 });
    const ctx = wechatContext(USER_ENV, { time_limit_in_ms: 400 });
    await assert.rejects(
      forwardEvent(c, { a: 1 }, ctx, { path: '/slow', safetyMarginMs: 300 }),
      (err: unknown) => err instanceof WxsealError && err.code === 'WXSEAL_TIMEOUT',
    );
    assert.equal(s.hits(), 1);
  });

  it('a non-2xx answer is WXSEAL_REMOTE_ERROR carrying the authenticated response', async () => {
    const f = await fixture(() => ({ status: 409, contentType: 'application/json', body: Buffer.from('{"reason":"sold out"}') }));
    const err = await forwardEvent(client(f.url), {}, wechatContext(USER_ENV), { path: '/x' }).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WxsealRemoteError);
    assert.equal(err.code, 'WXSEAL_REMOTE_ERROR');
    assert.equal(err.status, 409);
    assert.deepEqual(err.response.json(), { reason: 'sold out' });
    assert.ok(!Object.keys(err).includes('response'), 'the body stays out of enumerable properties');
  });
});
