// Gateway PROCESSES run through the real CLI (`wxseal gateway --config FILE`): three of them share
// the Redis on 127.0.0.1:6379 (own key prefix), so a request accepted by one is a replay for the
// others; SIGHUP reloads the config file without a restart or a dropped request; SIGTERM drains.
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { isWxsealError } from '@wxseal/client';
import type { GatewayConfigInput } from '@wxseal/gateway';
import { buildRequest, openResponse } from '@wxseal/protocol';
import { headersFromRaw } from '@wxseal/server';
import {
  baseConfig,
  clientFor,
  makeKeys,
  newSecret,
  plainRequest,
  sleep,
  spawnGateway,
  startUpstream,
  tempDir,
  writeYaml,
  type GatewayProcess,
  type Upstream,
} from './helpers.js';

const keys = makeKeys('bff-procs');
const prefix = `wxseal-gw-test:${randomUUID()}:`;

describe('three gateway processes sharing Redis', () => {
  let upstream: Upstream;
  let redis: Redis;
  let dir: string;
  let configPath: string;
  let config: GatewayConfigInput & { clients: NonNullable<GatewayConfigInput['clients']> };
  const gws: GatewayProcess[] = [];

  before(async () => {
    redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      assert.equal(await redis.ping(), 'PONG');
    } catch (err) {
      throw new Error(`Redis is not reachable at 127.0.0.1:6379 (${(err as Error).message}). Start it with \`npm run services\`; this test fails rather than skips.`);
    }
    upstream = await startUpstream();
    dir = tempDir();
    config = baseConfig(keys, upstream.url, {
      nonceStore: { type: 'redis', url: 'redis://127.0.0.1:6379', prefix },
    }) as typeof config; // baseConfig always lists clients
    configPath = writeYaml(dir, 'gateway.yaml', config);
    gws.push(...(await Promise.all([spawnGateway(configPath), spawnGateway(configPath), spawnGateway(configPath)])));
  });

  after(async () => {
    await Promise.all(gws.map((g) => g.kill('SIGKILL')));
    await upstream?.close();
    if (redis?.status === 'ready') {
      const found = await redis.keys(`${prefix}*`);
      if (found.length > 0) await redis.del(...found);
      redis.disconnect();
    }
  });

  function sealed(target: string, body: object) {
    return buildRequest({
      mode: 'sealed',
      method: 'POST',
      target,
      keyId: keys.keyId,
      secret: Buffer.from(keys.secret, 'base64url'),
      body: Buffer.from(JSON.stringify(body)),
      contentType: 'application/json',
      identity: { openid: 'o-replay' },
      serverKey: { id: keys.serverKeyId, publicKey: createPublicKey(keys.publicKeyPem) },
    });
  }

  test('a request accepted by one gateway is a replay for the other two (sequentially and concurrently)', async () => {
    assert.equal(new Set(gws.map((g) => g.child.pid)).size, 3);
    const built = sealed('/api/transfer', { amount: 100 });
    const first = await plainRequest(gws[0]!.url, '/api/transfer', { method: 'POST', headers: built.headers, body: built.body });
    assert.equal(first.status, 200);
    // The answer authenticates for this very request (the client's check).
    const opened = openResponse(built.context, {
      status: first.status,
      header: headersFromRaw(Object.entries(first.headers).flatMap(([k, v]) => [k, String(v)])),
      body: first.raw,
    });
    assert.equal(opened.status, 200);
    const forwarded = upstream.seen.length;
    for (const g of gws.slice(1)) {
      const again = await plainRequest(g.url, '/api/transfer', { method: 'POST', headers: built.headers, body: built.body });
      assert.equal(again.status, 401);
      assert.equal(again.headers['wxseal-error'], 'WXSEAL_REPLAYED_NONCE');
    }
    assert.equal(upstream.seen.length, forwarded, 'replays never reach the upstream');

    // The same request to all three at once: exactly one wins.
    const race = sealed('/api/transfer', { amount: 7 });
    const results = await Promise.all(gws.map((g) => plainRequest(g.url, '/api/transfer', { method: 'POST', headers: race.headers, body: race.body })));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 401, 401]);
    assert.equal(results.filter((r) => r.headers['wxseal-error'] === 'WXSEAL_REPLAYED_NONCE').length, 2);
  });

  test('SIGHUP: a new client secret works without a restart, an in-flight request is not dropped, a broken config keeps the old one', async () => {
    const gw = gws[0]!;
    const pid = gw.child.pid;
    const rotated = { ...keys, secret: newSecret() };
    const oldClient = clientFor(keys, gw.url, { timeoutMs: 10_000 });
    const newClient = clientFor(rotated, gw.url);
    try {
      await assert.rejects(newClient.post('/api/x', { json: {} }), (e) => isWxsealError(e, 'WXSEAL_BAD_SIGNATURE'));

      const inFlight = oldClient.post('/api/slow/800', { json: { long: true } });
      await sleep(150);
      config.clients[0]!.secrets.push({ id: 'rotated', secret: rotated.secret });
      writeYaml(dir, 'gateway.yaml', config);
      gw.child.kill('SIGHUP');
      await gw.waitForLog(/^config reloaded$/);
      assert.equal((await newClient.post('/api/x', { json: { after: 'reload' } })).status, 200, 'the new secret works');
      const slow = await inFlight;
      assert.equal(slow.status, 200, 'the request in flight during the reload was answered');

      writeYaml(dir, 'gateway.yaml', { ...config, routes: [{ prefix: '/api', upstream: 'not a url' }] });
      gw.child.kill('SIGHUP');
      const failed = await gw.waitForLog(/config reload failed/);
      assert.match(JSON.stringify(failed), /routes\[0\]\.upstream: must be an http\(s\) URL/);
      assert.equal((await newClient.post('/api/x', { json: {} })).status, 200, 'the last good config stays in force');
      assert.equal((await oldClient.post('/api/x', { json: {} })).status, 200);
      assert.equal(gw.child.pid, pid);
      assert.equal(gw.child.exitCode, null, 'never restarted');
      writeYaml(dir, 'gateway.yaml', config);
    } finally {
      oldClient.close();
      newClient.close();
    }
  });

  test('SIGTERM drains: the in-flight request is answered, then the process exits 0', async () => {
    const gw = gws[2]!;
    const client = clientFor(keys, gw.url);
    try {
      const inFlight = client.post('/api/slow/500', { json: {} });
      await sleep(150);
      gw.child.kill('SIGTERM');
      assert.equal((await inFlight).status, 200);
      assert.equal(await gw.exited, 0);
      await gw.waitForLog(/^gateway stopped$/, 1000);
      assert.equal(gw.stderr(), '');
    } finally {
      client.close();
    }
  });
});
