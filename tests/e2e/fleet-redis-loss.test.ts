// Issue 13: Redis restarted empty under load. A gateway on its own redis-server (no persistence, a
// free port), a client sending valid requests through a recording proxy; Redis is SIGKILLed and
// started again empty on the same port while the load runs. Every request sent before the restart,
// replayed byte for byte after it, is refused (WXSEAL_NONCE_STORE_RESET, or REPLAYED); new requests
// are accepted without restarting the gateway. Fails, never skips, without redis-server.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { makeKeys } from '../support/gateway.js';
import { freePort } from '../support/net.js';
import { RedisFleetRun, accepted, redisNode, replay, replayAllRefused, until } from './fleet-redis-support.js';

const run = new RedisFleetRun(makeKeys('bff-redis-loss'));
after(() => run.close());

async function readyz(adminUrl: string): Promise<number> {
  return (await fetch(`${adminUrl}/readyz`)).status;
}

test('Redis SIGKILLed and restarted empty under load: every request sent before the restart is refused when replayed; traffic recovers', { timeout: 120_000 }, async (t) => {
  const redis = redisNode(await freePort(), []);
  run.nodes.push(redis);
  await redis.start();
  // run.close() (after) stops the load, the client and everything else, also on a failure.
  const { gateway, gatewayPort, proxy, client, load } = await run.start({
    type: 'redis',
    url: `redis://127.0.0.1:${redis.port}`,
    prefix: `wxseal-e2e-loss:${randomUUID()}:`,
    commandTimeoutMs: 300,
    connectTimeoutMs: 500,
    reconnectMaxDelayMs: 100,
  });
  // Load runs until at least 30 requests have been accepted.
  await until(() => proxy.records.filter(accepted).length >= 30, 30_000, '30 accepted requests');

  await redis.stop('SIGKILL');
  const killedAt = Date.now();
  await redis.start(); // same port, empty: no persistence
  const restartedAt = Date.now();
  // The gateway is not restarted: ioredis reconnects by itself.
  await until(async () => (await readyz(gateway.adminUrl)) === 200, 20_000, '/readyz 200 after the restart');
  await until(() => proxy.records.some((r) => accepted(r) && r.sentAt > restartedAt), 20_000, 'a new request accepted after the restart');
  await load.stop();

  const before = proxy.records.filter((r) => r.answeredAt < restartedAt);
  const acceptedBefore = before.filter(accepted);
  assert.ok(acceptedBefore.length >= 30, `${acceptedBefore.length} accepted before the kill`);
  assert.ok(acceptedBefore.every((r) => r.answeredAt <= killedAt + 1000), 'none was accepted while Redis was down');

  const summary = `requests sent before the restart (${acceptedBefore.length} of them accepted before the kill) ${await replayAllRefused(gatewayPort, before, { resetExpected: true })}`;
  console.log(summary);
  t.diagnostic(summary);

  // New requests: accepted, without restarting the gateway; a replay of one is a plain replay.
  const fresh = await client.post('/api/orders', { json: { after: true } });
  assert.equal(fresh.status, 200);
  const last = proxy.records.at(-1)!;
  assert.deepEqual(await replay(gatewayPort, last.bytes), { status: 401, error: 'WXSEAL_REPLAYED_NONCE' });
  const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
  assert.match(metrics, /wxseal_gateway_rejections_total\{route="\/api",code="WXSEAL_NONCE_STORE_RESET"\} [1-9]/);
  // The operator's signals: losses counted (the first use of the prefix and the restart at least)
  // and the loss time applied, after the kill.
  assert.ok(Number(/^wxseal_gateway_nonce_store_losses (\d+)/m.exec(metrics)?.[1]) >= 2, 'losses counted');
  const lossTime = Number(/^wxseal_gateway_nonce_store_loss_time_seconds (\S+)/m.exec(metrics)?.[1]);
  assert.ok(lossTime * 1000 >= killedAt - 1000, `the loss time ${lossTime} is the restart's`);
  assert.ok(run.logs.lines.some((l) => l.includes('WXSEAL_NONCE_STORE_RESET') && l.includes('lost its records')), 'the loss was logged with its time');
});
