// createMpClient against the offline WeChat mock over real HTTP: API security end to end, typed
// helpers, certificate rotation, tampered answers, 40001 recovery, the circuit breaker, and three
// token managers sharing real Redis.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createMockMpApp, startMockWechat, type MockMpApp, type MockWechat } from '@wxseal/mock-wechat';
import { apiSecurityOf } from '../support/wechat.js';
import {
  AccessTokenManager,
  RedisTokenStore,
  WechatApiError,
  WechatApiSecurityError,
  WechatHttp,
  WechatTransportError,
  createMpClient,
  type MpClient,
  type MpClientEvent,
  type MpClientOptions,
} from '@wxseal/wechat';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function clientFor(mock: MockWechat, app: MockMpApp, extra: Partial<MpClientOptions> = {}): { client: MpClient; tokens: AccessTokenManager; http: WechatHttp } {
  const cfg = app.clientConfig(mock);
  const http = new WechatHttp({ baseUrl: mock.url, timeoutMs: 3000, breaker: { consecutiveFailures: 3, halfOpenAfterMs: 500 } });
  const tokens = new AccessTokenManager({ appid: cfg.appid, secret: cfg.secret, http, retry: false });
  const client = createMpClient({
    appid: cfg.appid,
    secret: cfg.secret,
    http,
    accessToken: tokens,
    // 国密 apps (SM4_GCM + SM2withSM3): clientConfig carries the algorithms and the SM2 platform certificates.
    apiSecurity: apiSecurityOf(cfg),
    ...extra,
  });
  return { client, tokens, http };
}

describe('MpClient ↔ mock WeChat with API security required', () => {
  let mock: MockWechat;
  let app: MockMpApp;
  let c: ReturnType<typeof clientFor>;
  before(async () => {
    app = await createMockMpApp({ mode: 'required', requireRequestSerial: true, fixtures: 5 });
    mock = await startMockWechat({ apps: [app.config] });
    c = clientFor(mock, app);
  });
  after(async () => {
    await c.client.close();
    await c.tokens.close();
    await c.http.close();
    await mock.close();
  });

  test('getPhoneNumber: encrypted, signed, verified and decrypted; the code is single-use', async () => {
    const [code, fixture] = Object.entries(app.phoneCodes)[0]!;
    const info = await c.client.getPhoneNumber(code);
    assert.equal(info.phoneNumber, fixture.phoneNumber);
    assert.equal(info.countryCode, '86');
    assert.equal(info.watermark.appid, app.config.appid);
    const second = await c.client.getPhoneNumber(code).catch((e: unknown) => e);
    assert.ok(second instanceof WechatApiError, String(second));
    assert.equal(second.errcode, 40163);
    assert.equal(second.code, 'WECHAT_CODE_BEEN_USED');
    const unknown = await c.client.getPhoneNumber('no-such-code').catch((e: unknown) => e);
    assert.ok(unknown instanceof WechatApiError && unknown.errcode === 40029, String(unknown));
    assert.ok(mock.stats.securedRequests >= 3);
  });

  test('code2Session returns the fixture session (no access_token, no API security)', async () => {
    const [code, fixture] = Object.entries(app.jsCodes)[0]!;
    const s = await c.client.code2Session(code);
    assert.equal(s.openid, fixture.openid);
    assert.equal(s.session_key, fixture.session_key);
    assert.equal(s.unionid, fixture.unionid);
    const again = await c.client.code2Session(code).catch((e: unknown) => e);
    assert.ok(again instanceof WechatApiError && again.errcode === 40163);
  });

  test('every request the client builds is accepted: 40 generic calls with varied parameters', async () => {
    mock.resetStats();
    for (let i = 0; i < 40; i++) {
      const params = { i, text: 'é✓'.repeat(i % 5) + String(i), nested: { list: Array.from({ length: i % 7 }, (_, k) => k) }, flag: i % 2 === 0 };
      const out = await c.client.call<{ data: unknown }>('/wxa/anything/echo', params);
      assert.deepEqual(out.data, params);
    }
    assert.deepEqual(mock.stats.rejections, {});
    assert.equal(mock.stats.securedRequests, 40);
  });

  test('a call without API security to a required-mode app is refused by the mock with an unsigned error', async () => {
    const err = await c.client.call('/wxa/anything/echo', { a: 1 }, { security: false }).catch((e: unknown) => e);
    assert.ok(err instanceof WechatApiError, String(err));
    assert.ok(err.errcode >= 40230 && err.errcode <= 40240, `errcode ${err.errcode}`);
    assert.equal(err.authenticated, false);
  });

  test('40001: the invalidated token is dropped and the call retried once with a fresh one', async () => {
    const before = c.client.stats().tokenRetries;
    const fetches = mock.tokenFetchCount(app.config.appid);
    assert.ok(mock.invalidateTokens(app.config.appid) >= 1);
    const out = await c.client.call<{ data: unknown }>('/wxa/anything/echo', { after: 'invalidation' });
    assert.deepEqual(out.data, { after: 'invalidation' });
    assert.equal(c.client.stats().tokenRetries, before + 1);
    assert.equal(mock.tokenFetchCount(app.config.appid), fetches + 1);
  });
});

describe('platform certificate rotation', () => {
  test('deprecated pair accepted with an event, a log line and a metric; after the rotation ends the old certificate alone fails', async () => {
    const app = await createMockMpApp({ mode: 'required' });
    const mock = await startMockWechat({ apps: [app.config] });
    const events: MpClientEvent[] = [];
    const logs: Array<{ obj: Record<string, unknown>; msg: string }> = [];
    const registry = new Registry();
    const c = clientFor(mock, app, { onEvent: (e) => events.push(e), logger: { warn: (obj, msg) => logs.push({ obj, msg }) }, metricsRegistry: registry });
    try {
      const oldSerial = mock.platformSerial();
      await c.client.call('/wxa/anything/echo', { n: 1 });
      assert.equal(events.length, 0);

      const newSerial = await mock.rotatePlatformKey();
      assert.notEqual(newSerial, oldSerial);
      const out = await c.client.call<{ data: unknown }>('/wxa/anything/echo', { n: 2 });
      assert.deepEqual(out.data, { n: 2 });
      const dep = events.filter((e) => e.type === 'platform-certificate-deprecated');
      assert.equal(dep.length, 1);
      assert.deepEqual(dep[0], { type: 'platform-certificate-deprecated', path: '/wxa/anything/echo', deprecatedSerial: oldSerial, currentSerial: newSerial });
      assert.equal(logs.length, 1);
      assert.match(logs[0]!.msg, /download the new one/);
      assert.equal(c.client.stats().deprecatedCertificateResponses, 1);
      const metric = await registry.getSingleMetricAsString('wxseal_wechat_platform_certificate_deprecated_total');
      assert.match(metric, new RegExp(`serial="${oldSerial}"[^\\n]* 1`));

      // The operator installs the new certificate (no restart): no more deprecation events.
      c.client.setPlatformCertificates(mock.platformCertificates());
      await c.client.call('/wxa/anything/echo', { n: 3 });
      assert.equal(events.filter((e) => e.type === 'platform-certificate-deprecated').length, 1);

      // A client that never installed it fails closed once the deprecated pair stops.
      const stale = clientFor(mock, app);
      stale.client.setPlatformCertificates({ [oldSerial]: app.clientConfig(mock).platformCertificates[oldSerial]! });
      mock.finishRotation();
      const err = await stale.client.call('/wxa/anything/echo', { n: 4 }).catch((e: unknown) => e);
      assert.ok(err instanceof WechatApiSecurityError && err.code === 'WXMP_UNKNOWN_SERIAL', String(err));
      await stale.client.close();
      await stale.tokens.close();
      await stale.http.close();
    } finally {
      await c.tokens.close();
      await c.http.close();
      await mock.close();
    }
  });
});

describe('SM2 platform key rotation (国密 app: SM4_GCM + SM2withSM3)', () => {
  test('the SM2 key rotates like the RSA one: deprecated SM2 pair accepted with an event; the new SM2 certificate installed; the old one alone fails after the rotation', async () => {
    const app = await createMockMpApp({ mode: 'required', symmetricAlgorithm: 'SM4_GCM', asymmetricAlgorithm: 'SM2withSM3' });
    const mock = await startMockWechat({ apps: [app.config] });
    const events: MpClientEvent[] = [];
    const c = clientFor(mock, app, { onEvent: (e) => events.push(e) });
    const stale = clientFor(mock, app);
    try {
      const oldSerial = mock.sm2PlatformSerial();
      assert.deepEqual(Object.keys(app.clientConfig(mock).platformCertificates), [oldSerial], 'the SM app is given the SM2 certificate');
      assert.deepEqual(await c.client.call<{ data: unknown }>('/wxa/anything/echo', { n: 1 }).then((r) => r.data), { n: 1 });
      assert.equal(events.length, 0);

      const oldRsa = mock.platformSerial();
      await mock.rotatePlatformKey();
      const newSerial = mock.sm2PlatformSerial();
      assert.notEqual(newSerial, oldSerial);
      assert.notEqual(mock.platformSerial(), oldRsa, 'RSA and SM2 rotate together');
      assert.equal(mock.deprecatedSm2PlatformSerial(), oldSerial);
      assert.deepEqual(Object.keys(mock.sm2PlatformCertificates()).sort(), [oldSerial, newSerial].sort());

      // Still holding the old SM2 certificate only: the answer verifies through the deprecated pair.
      const out = await c.client.call<{ data: unknown }>('/wxa/anything/echo', { n: 2 });
      assert.deepEqual(out.data, { n: 2 });
      assert.deepEqual(
        events.filter((e) => e.type === 'platform-certificate-deprecated'),
        [{ type: 'platform-certificate-deprecated', path: '/wxa/anything/echo', deprecatedSerial: oldSerial, currentSerial: newSerial }],
      );
      assert.equal(c.client.stats().deprecatedCertificateResponses, 1);

      // The new SM2 certificate installed: answers verify with the NEW key (no more deprecation events).
      c.client.setPlatformCertificates({ [newSerial]: mock.sm2PlatformCertificates()[newSerial]! });
      assert.deepEqual(c.client.platformCertificateSerials(), [newSerial]);
      await c.client.call('/wxa/anything/echo', { n: 3 });
      assert.equal(events.filter((e) => e.type === 'platform-certificate-deprecated').length, 1);
      assert.equal(c.client.stats().deprecatedCertificateResponses, 1);

      // Rotation ends: the old SM2 key stops signing; a client with only the old certificate fails closed,
      // the updated one carries on.
      mock.finishRotation();
      assert.equal(mock.deprecatedSm2PlatformSerial(), undefined);
      assert.deepEqual(Object.keys(mock.sm2PlatformCertificates()), [newSerial]);
      const err = await stale.client.call('/wxa/anything/echo', { n: 4 }).catch((e: unknown) => e);
      assert.ok(err instanceof WechatApiSecurityError && err.code === 'WXMP_UNKNOWN_SERIAL', String(err));
      assert.deepEqual(await c.client.call<{ data: unknown }>('/wxa/anything/echo', { n: 5 }).then((r) => r.data), { n: 5 });
    } finally {
      for (const x of [c, stale]) {
        await x.client.close();
        await x.tokens.close();
        await x.http.close();
      }
      await mock.close();
    }
  });
});

/** A proxy in front of the mock that flips one byte of the answer (body or a header) when told to. */
async function tamperingProxy(target: string): Promise<{ url: string; server: Server; flip: { where: 'none' | 'body' | 'signature' | 'timestamp'; index: number } }> {
  const flip: { where: 'none' | 'body' | 'signature' | 'timestamp'; index: number } = { where: 'none', index: 0 };
  const t = new URL(target);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const up = httpRequest({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } }, (upRes) => {
        const out: Buffer[] = [];
        upRes.on('data', (c: Buffer) => out.push(c));
        upRes.on('end', () => {
          let body = Buffer.concat(out);
          const headers: IncomingHttpHeaders = { ...upRes.headers };
          delete headers['content-length'];
          if (flip.where === 'body') {
            body = Buffer.from(body);
            body[flip.index % body.length]! ^= 0x01;
          } else if (flip.where === 'signature') {
            const sig = Buffer.from(String(headers['wechatmp-signature']), 'base64');
            sig[flip.index % sig.length]! ^= 0x01;
            headers['wechatmp-signature'] = sig.toString('base64');
          } else if (flip.where === 'timestamp') {
            headers['wechatmp-timestamp'] = String(Number(headers['wechatmp-timestamp']) + 1);
          }
          res.writeHead(upRes.statusCode ?? 502, headers);
          res.end(body);
        });
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, flip };
}

describe('tampered answers', () => {
  test('a flipped byte anywhere in the body, the signature or the timestamp is refused', async () => {
    const app = await createMockMpApp({ mode: 'required' });
    // The client computes urlpath with the proxy's host; the mock must sign with the same one.
    const proxyHolder: { url?: string } = {};
    const mock = await startMockWechat({ apps: [app.config] });
    const proxy = await tamperingProxy(mock.url);
    proxyHolder.url = proxy.url;
    await mock.close();
    const mock2 = await startMockWechat({ apps: [app.config], publicBaseUrl: proxy.url, port: Number(new URL(mock.url).port) });
    const cfg = app.clientConfig(mock2);
    const http = new WechatHttp({ baseUrl: proxy.url, breaker: false });
    const tokens = new AccessTokenManager({ appid: cfg.appid, secret: cfg.secret, http, retry: false });
    const client = createMpClient({
      appid: cfg.appid,
      http,
      accessToken: tokens,
      apiSecurity: { symKey: cfg.symKey, symSn: cfg.symSn, privateKey: cfg.privateKeyPem, privateKeySn: cfg.privateKeySn, platformCertificates: cfg.platformCertificates },
    });
    try {
      await client.call('/wxa/anything/echo', { ok: true });
      let refused = 0;
      const positions = [0, 3, 10, 25, 40, 60, 90, 120];
      for (const index of positions) {
        proxy.flip.where = 'body';
        proxy.flip.index = index;
        const err = await client.call('/wxa/anything/echo', { ok: true }).catch((e: unknown) => e);
        assert.ok(err instanceof WechatApiSecurityError || err instanceof WechatTransportError, `body byte ${index}: ${String(err)}`);
        refused += 1;
      }
      for (const where of ['signature', 'timestamp'] as const) {
        proxy.flip.where = where;
        const err = await client.call('/wxa/anything/echo', { ok: true }).catch((e: unknown) => e);
        assert.ok(err instanceof WechatApiSecurityError && err.code === 'WXMP_BAD_SIGNATURE', `${where}: ${String(err)}`);
        refused += 1;
      }
      assert.equal(refused, positions.length + 2);
      assert.equal(client.stats().rejectedResponses >= positions.length, true);
      proxy.flip.where = 'none';
      await client.call('/wxa/anything/echo', { ok: true });
    } finally {
      await tokens.close();
      await http.close();
      await mock2.close();
      await new Promise<void>((r) => proxy.server.close(() => r()));
    }
  });
});

describe('WeChat down', () => {
  test('the breaker opens, calls fail fast with a typed error, and recover when the mock is back', async () => {
    const app = await createMockMpApp({ mode: 'required' });
    const mock = await startMockWechat({ apps: [app.config] });
    const c = clientFor(mock, app);
    try {
      await c.client.call('/wxa/anything/echo', { up: 1 });
      await mock.down();
      // The token is cached, so only the API calls hit the dead listener.
      const codes: string[] = [];
      for (let i = 0; i < 6; i++) {
        const err = await c.client.call('/wxa/anything/echo', { down: i }).catch((e: unknown) => e);
        assert.ok(err instanceof WechatTransportError, String(err));
        codes.push(err.code);
      }
      assert.deepEqual(codes.slice(0, 3), ['WECHAT_UNAVAILABLE', 'WECHAT_UNAVAILABLE', 'WECHAT_UNAVAILABLE']);
      assert.deepEqual(codes.slice(3), ['WECHAT_CIRCUIT_OPEN', 'WECHAT_CIRCUIT_OPEN', 'WECHAT_CIRCUIT_OPEN']);
      assert.equal(c.http.breakerState, 'open');
      await mock.up();
      await sleep(600);
      const out = await c.client.call<{ data: unknown }>('/wxa/anything/echo', { back: true });
      assert.deepEqual(out.data, { back: true });
      assert.equal(c.http.breakerState, 'closed');
    } finally {
      await c.tokens.close();
      await c.http.close();
      await mock.close();
    }
  });
});

describe('three instances sharing real Redis', () => {
  test('exactly one token fetch per expiry under concurrent load; all calls succeed', async () => {
    const app = await createMockMpApp({ mode: 'optional' });
    // 6 s tokens; WeChat hands out the successor during the last 3 s; managers renew at half-life.
    const mock = await startMockWechat({ apps: [app.config], tokenTtlSeconds: 6, stableRenewWindowSeconds: 3 });
    const prefix = `wxseal-test:e2e-token:${process.pid}:${Date.now()}:`;
    const redises = [0, 1, 2].map(() => new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false, maxRetriesPerRequest: 1 }));
    const instances = redises.map((redis) => {
      const http = new WechatHttp({ baseUrl: mock.url });
      const tokens = new AccessTokenManager({ appid: app.config.appid, secret: app.config.secret, http, store: new RedisTokenStore({ client: redis, prefix }), refreshMarginSeconds: 3 });
      const client = createMpClient({ appid: app.config.appid, http, accessToken: tokens });
      return { http, tokens, client };
    });
    try {
      await redises[0]!.ping();
      const deadline = Date.now() + 14_000;
      let calls = 0;
      while (Date.now() < deadline) {
        const wave = instances.flatMap((inst, k) => Array.from({ length: 20 }, (_, j) => inst.client.call<{ data: unknown }>('/wxa/anything/echo', { k, j }, { security: false })));
        const results = await Promise.all(wave);
        calls += results.length;
        await sleep(100);
      }
      const st = mock.tokenStats(app.config.appid);
      // Every fetch produced a new token (no instance fetched what another had already fetched),
      // and with 14 s of 6 s tokens there were at least three of them.
      assert.ok(st.stableFetches >= 3, `fetches ${st.stableFetches}`);
      assert.equal(st.stableFetches, st.issued, `fetches ${st.stableFetches} vs distinct tokens ${st.issued}`);
      assert.deepEqual(mock.stats.rejections, {}, 'no call ever carried an expired or superseded token');
      assert.ok(calls > 1000, `calls ${calls}`);
    } finally {
      for (const inst of instances) {
        await inst.tokens.close();
        await inst.http.close();
      }
      const keys = await redises[0]!.keys(`${prefix}*`);
      if (keys.length) await redises[0]!.del(...keys);
      for (const r of redises) r.disconnect();
      await mock.close();
    }
  });
});
