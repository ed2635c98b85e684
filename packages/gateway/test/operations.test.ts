// Operations: /healthz, /readyz and /metrics on the admin listener; structured logs that hold no
// secret, body, identity or wxseal header; reload of credentials without dropping anything; and
// graceful, bounded shutdown.
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { isWxsealError } from '@wxseal/client';
import { GatewayConfigError, startGateway, type RunningGateway } from '@wxseal/gateway';
import { buildRequest } from '@wxseal/protocol';
import { baseConfig, captureLogger, clientFor, makeKeys, newSecret, plainRequest, sleep, startUpstream, tempDir, writeYaml, type Upstream } from '../../../tests/support/gateway.js';

const keys = makeKeys('bff-ops');

async function metricsText(gw: RunningGateway): Promise<string> {
  const res = await fetch(`${gw.adminUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return res.text();
}

/** The value of one sample, e.g. metric('wxseal_gateway_requests_total{route="/api",outcome="forwarded"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('admin listener, metrics and logs', () => {
  let upstream: Upstream;
  let gw: RunningGateway;
  const logs = captureLogger();

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(baseConfig(keys, upstream.url), { logger: logs.logger });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('/healthz and /readyz answer 200 (memory nonce store), on 127.0.0.1 by default', async () => {
    assert.match(gw.adminUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${gw.adminUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${gw.adminUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { nonceStore: 'ok', draining: false } });
    assert.equal((await fetch(`${gw.adminUrl}/nope`)).status, 404);
    assert.equal((await fetch(`${gw.adminUrl}/healthz`, { method: 'POST' })).status, 405);
    // The admin endpoints are not on the public listener.
    assert.equal((await plainRequest(gw.url, '/metrics')).status, 404);
  });

  test('/metrics counts requests by route and outcome, rejections by code, latencies and nonce-store errors', async () => {
    const client = clientFor(keys, gw.url);
    const stranger = clientFor({ ...keys, secret: newSecret() }, gw.url);
    try {
      await client.post('/api/a', { json: {} });
      await client.post('/api/b', { json: {}, mode: 'signed' });
      await assert.rejects(stranger.post('/api/c', { json: {} }), (e) => isWxsealError(e, 'WXSEAL_BAD_SIGNATURE'));
      await plainRequest(gw.url, '/elsewhere');
    } finally {
      client.close();
      stranger.close();
    }
    const text = await metricsText(gw);
    assert.equal(sample(text, 'wxseal_gateway_requests_total{route="/api",outcome="forwarded"}'), 2);
    assert.equal(sample(text, 'wxseal_gateway_requests_total{route="/api",outcome="rejected"}'), 1);
    // Two: /elsewhere here and /metrics asked of the public listener in the previous test.
    assert.equal(sample(text, 'wxseal_gateway_requests_total{route="-",outcome="not_found"}'), 2);
    assert.equal(sample(text, 'wxseal_gateway_rejections_total{route="/api",code="WXSEAL_BAD_SIGNATURE"}'), 1);
    assert.equal(sample(text, 'wxseal_gateway_verification_duration_seconds_count{route="/api"}'), 3);
    assert.equal(sample(text, 'wxseal_gateway_upstream_duration_seconds_count{route="/api",outcome="ok"}'), 2);
    assert.match(text, /# TYPE wxseal_gateway_nonce_store_errors_total counter/);
    assert.equal(sample(text, 'wxseal_gateway_nonce_store_up'), 1);
    assert.equal(sample(text, 'wxseal_gateway_in_flight_requests'), 0);
    assert.match(text, /wxseal_gateway_process_cpu_seconds_total/, 'process metrics too');
  });

  test('logs: one structured line per request, and no secret, body, identity or wxseal header value anywhere', async () => {
    const marker = 'BODY-MARKER-7f3a';
    const openid = 'o-LOGCHECK-openid';
    const unionid = 'u-LOGCHECK-unionid';
    const built = buildRequest({
      mode: 'sealed',
      method: 'POST',
      target: '/api/logs?token=QUERY-SECRET',
      keyId: keys.keyId,
      secret: Buffer.from(keys.secret, 'base64url'),
      body: Buffer.from(JSON.stringify({ marker })),
      contentType: 'application/json',
      identity: { openid, unionid },
      serverKey: { id: keys.serverKeyId, publicKey: createPublicKey(keys.publicKeyPem) },
    });
    const first = await plainRequest(gw.url, '/api/logs?token=QUERY-SECRET', { method: 'POST', headers: built.headers, body: built.body });
    assert.equal(first.status, 200);
    const replay = await plainRequest(gw.url, '/api/logs?token=QUERY-SECRET', { method: 'POST', headers: built.headers, body: built.body });
    assert.equal(replay.headers['wxseal-error'], 'WXSEAL_REPLAYED_NONCE');
    const signed = clientFor(keys, gw.url);
    await signed.post('/api/logs', { mode: 'signed', body: marker, identity: { openid } });
    signed.close();
    await sleep(20);

    const text = logs.text();
    const forbidden = [
      keys.secret,
      marker,
      openid,
      unionid,
      'QUERY-SECRET',
      built.headers['wxseal-signature']!,
      built.headers['wxseal-wrapped-key']!,
      built.headers['wxseal-iv']!,
      'PRIVATE KEY',
    ];
    for (const f of forbidden) assert.ok(!text.includes(f), `the logs must not contain ${f.slice(0, 20)}…`);

    const requests = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request' && l.path === '/api/logs');
    assert.equal(requests.length, 3);
    assert.deepEqual(
      requests.map((r) => [r.status, r.outcome, r.keyId ?? null, r.code ?? null]),
      [
        [200, 'forwarded', keys.keyId, null],
        [401, 'rejected', null, 'WXSEAL_REPLAYED_NONCE'],
        [200, 'forwarded', keys.keyId, null],
      ],
    );
    assert.equal(typeof requests[0]!.durationMs, 'number');
    assert.equal(requests[0]!.route, '/api');
  });
});

describe('reload', () => {
  test('a new client secret works after reload(); a broken config on reload keeps the old one', async () => {
    const dir = tempDir();
    const upstream = await startUpstream();
    const config = baseConfig(keys, upstream.url);
    const path = writeYaml(dir, 'gateway.yaml', config);
    const logs = captureLogger();
    const gw = await startGateway(path, { logger: logs.logger });
    const rotated = { ...keys, secret: newSecret() };
    const oldClient = clientFor(keys, gw.url);
    const newClient = clientFor(rotated, gw.url);
    try {
      await assert.rejects(newClient.post('/api/x', { json: {} }), (e) => isWxsealError(e, 'WXSEAL_BAD_SIGNATURE'));

      config.clients![0]!.secrets.push({ id: 's2', secret: rotated.secret });
      writeYaml(dir, 'gateway.yaml', config);
      await gw.reload();
      assert.equal((await newClient.post('/api/x', { json: {} })).status, 200);
      assert.equal((await oldClient.post('/api/x', { json: {} })).status, 200);

      // Sections that need a restart are reported and keep their running values.
      writeYaml(dir, 'gateway.yaml', { ...config, log: { level: 'debug' } });
      await gw.reload();
      assert.ok(logs.lines.some((l) => l.includes('need a restart') && l.includes('"sections":["log"]')));
      assert.equal(gw.config.log.level, 'info');

      writeYaml(dir, 'gateway.yaml', { ...config, routes: [{ prefix: 'no-slash', upstream: 'ftp://x' }] });
      await assert.rejects(gw.reload(), (e) => e instanceof GatewayConfigError && /routes\[0\]\.prefix/.test(e.message));
      assert.equal((await newClient.post('/api/x', { json: {} })).status, 200, 'the previous config stays in force');
      assert.ok(logs.lines.some((l) => l.includes('config reload failed')));

      const text = await metricsText(gw);
      assert.equal(sample(text, 'wxseal_gateway_config_reloads_total{result="success"}'), 2);
      assert.equal(sample(text, 'wxseal_gateway_config_reloads_total{result="failure"}'), 1);
    } finally {
      oldClient.close();
      newClient.close();
      await gw.close();
      await upstream.close();
    }
  });

  test('a gateway started from an object reloads from an object; without one it says why', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway(baseConfig(keys, upstream.url), { logger: captureLogger().logger });
    try {
      await assert.rejects(gw.reload(), /started from an object/);
      const rotated = { ...keys, secret: newSecret() };
      await gw.reload(baseConfig(rotated, upstream.url));
      const client = clientFor(rotated, gw.url);
      assert.equal((await client.post('/api/x', { json: {} })).status, 200);
      client.close();
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe('graceful shutdown', () => {
  test('close() stops accepting, reports not ready, and lets an in-flight request finish', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway(baseConfig(keys, upstream.url), { logger: captureLogger().logger });
    const client = clientFor(keys, gw.url);
    try {
      const inFlight = client.post('/api/slow/400', { json: { keep: 'me' } });
      await sleep(100);
      const closing = gw.close();
      const ready = await fetch(`${gw.adminUrl}/readyz`);
      assert.equal(ready.status, 503);
      assert.deepEqual(await ready.json(), { status: 'not ready', checks: { nonceStore: 'ok', draining: true } });
      const res = await inFlight;
      assert.equal(res.status, 200, 'the in-flight request was answered');
      assert.equal(res.headers.connection, 'close', 'and told its connection is closing');
      await closing;
      await assert.rejects(plainRequest(gw.url, '/api/x'), /ECONNREFUSED/);
    } finally {
      client.close();
      await upstream.close();
    }
  });

  test('the drain is bounded: a request still running after drainTimeoutMs is cut', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway(baseConfig(keys, upstream.url, { shutdown: { drainTimeoutMs: 200 } }), { logger: captureLogger().logger });
    const client = clientFor(keys, gw.url);
    try {
      const stuck = client.post('/api/slow/5000', { json: {} }).then(
        () => undefined,
        (e: unknown) => e,
      );
      await sleep(100);
      const started = Date.now();
      await gw.close();
      assert.ok(Date.now() - started < 3000, 'close() returned near the drain bound, not after the upstream');
      assert.ok(isWxsealError(await stuck, 'WXSEAL_NETWORK'), 'the cut request fails on the client, it does not hang');
    } finally {
      client.close();
      await upstream.close();
    }
  });
});
