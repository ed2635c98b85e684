// Issue 13: the nonce store on a real Redis Cluster. Three private cluster nodes (no replicas, no
// persistence, own ports and temp dirs, created with `redis-cli --cluster create`), a gateway on
// the Cluster form of the nonce store, a client sending valid requests through a recording proxy.
// The nonce keys spread over the shards (hash tags per bucket); then one shard is SIGKILLed and
// started again empty (its nodes.conf keeps its slots): every request sent before, replayed byte
// for byte, is refused, and traffic recovers without restarting the gateway. Fails, never skips.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { makeKeys } from '../support/gateway.js';
import { runProcess } from '../support/processes.js';
import { RedisFleetRun, accepted, freeClusterPort, redisNode, replay, replayAllRefused, until } from './fleet-redis-support.js';

const run = new RedisFleetRun(makeKeys('bff-cluster'));
const { nodes, admins } = run;
after(() => run.close());

const clusterOk = (port: number): Promise<boolean> => admins.once(port, async (c) => (await c.cluster('INFO')).includes('cluster_state:ok'));

test('Redis Cluster: nonces spread over the shards; a shard restarted empty under load → 0 replays accepted, traffic recovers', { timeout: 180_000 }, async (t) => {
  const ports: number[] = [];
  while (ports.length < 3) {
    const p = await freeClusterPort();
    if (!ports.some((q) => Math.abs(q - p) % 10_000 === 0)) ports.push(p);
  }
  for (const port of ports) {
    nodes.push(redisNode(port, ['cluster-enabled yes', 'cluster-config-file nodes.conf', 'cluster-node-timeout 2000', 'cluster-require-full-coverage yes']));
  }
  await Promise.all(nodes.map((n) => n.start()));
  const created = await runProcess('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeoutMs: 60_000 });
  assert.equal(created.code, 0, `redis-cli --cluster create: ${created.stdout}${created.stderr}`);
  for (const port of ports) await until(() => clusterOk(port), 30_000, `cluster_state:ok on ${port}`);

  const prefix = `wxseal-e2e-cluster:${randomUUID()}:`;
  // run.close() (after) stops the load, the client and everything else, also on a failure.
  const { gateway, gatewayPort, proxy, client, load } = await run.start({
    type: 'redis',
    cluster: { nodes: ports.map((port) => ({ host: '127.0.0.1', port })) },
    prefix,
    commandTimeoutMs: 500,
    connectTimeoutMs: 2000,
    reconnectMaxDelayMs: 200,
  });
  await until(() => proxy.records.filter(accepted).length >= 30, 30_000, '30 accepted requests');
  // Every shard holds part of the nonces (and its buckets' epoch keys).
  const perShard = await Promise.all(ports.map((p) => admins.once(p, async (c) => (await c.keys(`${prefix}*`)).length)));
  assert.ok(perShard.every((n) => n > 0), `keys on every shard: ${perShard.join(', ')}`);

  const victim = nodes[0]!;
  await victim.stop('SIGKILL');
  await victim.start(); // empty: no persistence; nodes.conf brings its slots back
  const restartedAt = Date.now();
  for (const port of ports) await until(() => clusterOk(port), 30_000, `cluster_state:ok again on ${port}`);
  await until(() => proxy.records.some((r) => accepted(r) && r.sentAt > restartedAt), 30_000, 'a request accepted after the restart');
  await load.stop();

  const before = proxy.records.filter((r) => r.answeredAt < restartedAt);
  assert.ok(before.filter(accepted).length >= 30);
  const summary = `cluster: keys per shard before ${perShard.join('/')}; requests sent before the restart ${await replayAllRefused(gatewayPort, before, { resetExpected: true })}`;
  console.log(summary);
  t.diagnostic(summary);
  // A request sent now is accepted, on the same gateway; its replay is a plain replay.
  assert.equal((await client.post('/api/orders', { json: { after: true } })).status, 200);
  assert.deepEqual(await replay(gatewayPort, proxy.records.at(-1)!.bytes), { status: 401, error: 'WXSEAL_REPLAYED_NONCE' });
  assert.equal((await fetch(`${gateway.adminUrl}/readyz`)).status, 200);
});
