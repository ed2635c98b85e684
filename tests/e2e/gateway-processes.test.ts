// Gateway PROCESSES run through the real CLI (`wxseal gateway --config FILE`): three of them share
// the Redis on 127.0.0.1:6379 (own key prefix), so a request accepted by one is a replay for the
// others; SIGHUP reloads the config file without a restart or a dropped request; SIGTERM drains.
// Every wait is on a condition (a log line, a request the upstream holds), never on a sleep, and
// each process is registered for cleanup when spawned, so a slow start on a busy machine neither
// fails the file nor leaves a gateway running.
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { isWxsealError } from '@wxseal/client';
import type { GatewayConfigInput } from '@wxseal/gateway';
import { buildRequest, openResponse } from '@wxseal/protocol';
import { headersFromRaw } from '@wxseal/server';
import { baseConfig, clientFor, eventually, makeKeys, newSecret, plainRequest, startUpstream, tempDir, writeYaml, type Upstream, connectSharedRedis, dropRedisPrefix, HoldingUpstream } from '../support/gateway.js';
import { spawnGateway, type GatewayProcess } from '../support/gateway-process.js';
import { liveProcessCount, stopAllProcesses } from '../support/processes.js';

const keys = makeKeys('bff-procs');
const prefix = `wxseal-gw-test:${randomUUID()}:`;

/** Requests to `/api/hold/<name>` wait in the upstream until the test releases `<name>`. */
const holding = new HoldingUpstream();
const hold = (name: string): (() => void) => holding.hold(name);

describe('three gateway processes sharing Redis', () => {
  let upstream: Upstream;
  let redis: Redis;
  let dir: string;
  let configPath: string;
  let config: GatewayConfigInput & { clients: NonNullable<GatewayConfigInput['clients']> };
  let gws: GatewayProcess[] = [];

  before(async () => {
    redis = await connectSharedRedis();
    upstream = await startUpstream(holding.handler);
    dir = tempDir();
    config = baseConfig(keys, upstream.url, {
      nonceStore: { type: 'redis', url: 'redis://127.0.0.1:6379', prefix },
    }) as typeof config; // baseConfig always lists clients
    configPath = writeYaml(dir, 'gateway.yaml', config);
    // Each child is registered for cleanup when spawned: even if one of them never gets ready,
    // after() stops all three.
    gws = await Promise.all([spawnGateway(configPath), spawnGateway(configPath), spawnGateway(configPath)]);
  });

  after(async () => {
    holding.releaseAll();
    await stopAllProcesses('SIGKILL');
    await upstream?.close();
    await dropRedisPrefix(redis, prefix);
  });

  test('a gateway that is not ready in time is killed, not left running', async () => {
    const before = liveProcessCount();
    await assert.rejects(spawnGateway(configPath, {}, 1), /no log line matching|exited before logging/);
    assert.equal(liveProcessCount(), before, 'the process that never got ready was stopped');
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
    // Generous timeouts: a guard against a hang, not a performance bound.
    const oldClient = clientFor(keys, gw.url, { timeoutMs: 120_000 });
    const newClient = clientFor(rotated, gw.url, { timeoutMs: 60_000 });
    const release = hold('hup');
    try {
      await assert.rejects(newClient.post('/api/x', { json: {} }), (e) => isWxsealError(e, 'WXSEAL_BAD_SIGNATURE'));

      // In flight for the whole reload: the upstream holds it until the reload is done.
      const inFlight = oldClient.post('/api/hold/hup', { json: { long: true } });
      await eventually(async () => upstream.seen.some((s) => s.url.endsWith('/hold/hup')), 60_000, 'the upstream holds the request');
      config.clients[0]!.secrets.push({ id: 'rotated', secret: rotated.secret });
      writeYaml(dir, 'gateway.yaml', config);
      gw.child.kill('SIGHUP');
      await gw.waitForLog(/^config reloaded$/);
      assert.equal((await newClient.post('/api/x', { json: { after: 'reload' } })).status, 200, 'the new secret works');
      release();
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
      release();
      oldClient.close();
      newClient.close();
    }
  });

  test('SIGTERM drains: the in-flight request is answered, then the process exits 0', async () => {
    const gw = gws[2]!;
    const client = clientFor(keys, gw.url, { timeoutMs: 120_000 });
    const release = hold('term');
    try {
      const inFlight = client.post('/api/hold/term', { json: {} });
      await eventually(async () => upstream.seen.some((s) => s.url.endsWith('/hold/term')), 60_000, 'the upstream holds the request');
      gw.child.kill('SIGTERM');
      await gw.waitForLog(/^draining$/);
      release();
      assert.equal((await inFlight).status, 200);
      assert.equal(await gw.exited, 0);
      // stdout may deliver its last lines after the exit event.
      await gw.waitForLog(/^gateway stopped$/);
      assert.equal(gw.stderr(), '');
    } finally {
      release();
      client.close();
    }
  });
});
