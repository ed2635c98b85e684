// Fail closed against a REAL Redis that goes away and comes back: this test runs its own
// redis-server on a free port (never the shared one on 6379), stops it while the gateway runs and
// starts it again on the same port. Fails, never skips, without redis-server.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { isWxsealError } from '@wxseal/client';
import { startGateway, type GatewayConfigInput } from '@wxseal/gateway';
import { baseConfig, captureLogger, clientFor, eventually, makeKeys, startUpstream } from '../../../tests/support/gateway.js';
import { freePort, redisServerProcess } from './helpers.js';

const keys = makeKeys('bff-redis');

async function readyz(adminUrl: string): Promise<{ status: number; body: { checks: { nonceStore: string } } }> {
  const res = await fetch(`${adminUrl}/readyz`);
  return { status: res.status, body: (await res.json()) as { checks: { nonceStore: string } } };
}

function redisConfig(port: number): GatewayConfigInput['nonceStore'] {
  return {
    type: 'redis',
    url: `redis://127.0.0.1:${port}`,
    prefix: `wxseal-gw-test:${randomUUID()}:`,
    commandTimeoutMs: 300,
    connectTimeoutMs: 500,
    reconnectMaxDelayMs: 200,
  };
}

describe('Redis nonce store: fail closed, recover by itself', () => {
  test('Redis stopped → prompt 503 WXSEAL_NONCE_STORE_UNAVAILABLE and /readyz 503; Redis back → traffic and readiness recover', async () => {
    const port = await freePort();
    const redis = await redisServerProcess(port);
    await redis.start();
    const upstream = await startUpstream();
    const logs = captureLogger();
    const gw = await startGateway(baseConfig(keys, upstream.url, { nonceStore: redisConfig(port) }), { logger: logs.logger });
    const client = clientFor(keys, gw.url); // one attempt: the client would otherwise retry 503s
    try {
      assert.equal((await client.post('/api/orders', { json: { n: 1 } })).status, 200);
      assert.equal((await readyz(gw.adminUrl)).status, 200);

      await redis.stop();
      const seenBefore = upstream.seen.length;
      for (const mode of ['sealed', 'signed', 'sealed'] as const) {
        const started = Date.now();
        await assert.rejects(
          client.post('/api/orders', { json: { n: 2 }, mode }),
          (e) => isWxsealError(e, 'WXSEAL_NONCE_STORE_UNAVAILABLE') && e.status === 503,
          `${mode} request while Redis is down`,
        );
        // Refused at once (no offline queue), at worst after the command timeout: never hanging.
        assert.ok(Date.now() - started < 2000, `refused promptly (${Date.now() - started} ms)`);
      }
      assert.equal(upstream.seen.length, seenBefore, 'nothing was forwarded unchecked');
      const down = await readyz(gw.adminUrl);
      assert.equal(down.status, 503);
      assert.equal(down.body.checks.nonceStore, 'unreachable');
      const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      assert.match(metrics, /wxseal_gateway_nonce_store_errors_total\{code="WXSEAL_NONCE_STORE_UNAVAILABLE"\} [3-9]/);
      assert.match(metrics, /wxseal_gateway_rejections_total\{route="\/api",code="WXSEAL_NONCE_STORE_UNAVAILABLE"\} 3/);
      assert.match(metrics, /wxseal_gateway_nonce_store_up 0/);
      assert.equal((await fetch(`${gw.adminUrl}/healthz`)).status, 200, 'the process is still healthy, only not ready');

      await redis.start(); // same port; the gateway is not restarted
      await eventually(async () => (await client.post('/api/orders', { json: { n: 3 } })).status === 200, 10_000, 'a request to succeed after Redis came back');
      await eventually(async () => (await readyz(gw.adminUrl)).status === 200, 5_000, '/readyz to be 200 again');
      assert.equal(upstream.seen.at(-1)!.body.toString(), '{"n":3}');
      assert.ok(logs.lines.some((l) => l.includes('nonce store failed')), 'the failure was logged');
    } finally {
      client.close();
      await gw.close();
      await upstream.close();
      await redis.stop();
    }
  });

  test('Redis down at start: the gateway starts, refuses wxseal requests, is not ready; it serves once Redis appears', async () => {
    const port = await freePort();
    const redis = await redisServerProcess(port);
    const upstream = await startUpstream();
    const gw = await startGateway(baseConfig(keys, upstream.url, { nonceStore: redisConfig(port) }), { logger: captureLogger().logger });
    const client = clientFor(keys, gw.url);
    try {
      await assert.rejects(client.post('/api/x', { json: {} }), (e) => isWxsealError(e, 'WXSEAL_NONCE_STORE_UNAVAILABLE'));
      assert.equal((await readyz(gw.adminUrl)).status, 503);
      await redis.start();
      await eventually(async () => (await client.post('/api/x', { json: {} })).status === 200, 10_000, 'the first request after Redis started');
      assert.equal((await readyz(gw.adminUrl)).status, 200);
    } finally {
      client.close();
      await gw.close();
      await upstream.close();
      await redis.stop();
    }
  });
});
