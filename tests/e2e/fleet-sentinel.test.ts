// Issue 13: a Redis Sentinel failover under load. Real processes, all on free ports with their own
// temp dirs: a master, a replica and three Sentinels (`redis-server <conf> --sentinel`, the binary
// Debian's redis-sentinel package runs), five in all. A gateway uses the Sentinel form of the
// nonce store; a client sends valid requests through a recording proxy while `SENTINEL FAILOVER`
// promotes the replica. Then: 0 replays accepted (every request sent before the failover, replayed
// after it, is refused), 0 requests accepted unchecked (the nonce of every request accepted after
// the failover and before it is in the new master, and every accepted request replayed at the end is refused),
// and traffic recovered without restarting the gateway. Fails, never skips, without redis-server.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { RedisNonceStore } from '@wxseal/server/redis';
import { makeKeys } from '../support/gateway.js';
import { freePort } from '../support/net.js';
import { RedisFleetRun, accepted, countCodes, redisNode, replayAllRefused, until } from './fleet-redis-support.js';

const MASTER = 'wxseal-e2e';
const run = new RedisFleetRun(makeKeys('bff-sentinel'));
const { nodes, admins } = run;
after(() => run.close());

const admin = (port: number) => admins.connect(port);

test('Sentinel failover under load: 0 replays accepted, 0 requests accepted unchecked, recovery without a gateway restart', { timeout: 180_000 }, async (t) => {
  const [masterPort, replicaPort, ...sentinelPorts] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const master = redisNode(masterPort!, []);
  // One replica, minReplicaAcks 1 (the Sentinel default): once it is promoted the old master has no
  // replica left to acknowledge, so it accepts nothing (docs/redis-fleet.md explains the choice).
  const replica = redisNode(replicaPort!, [`replicaof 127.0.0.1 ${masterPort}`]);
  nodes.push(master, replica);
  await master.start();
  await replica.start();
  for (const port of sentinelPorts) {
    const sentinel = redisNode(
      port,
      [
        `sentinel monitor ${MASTER} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${MASTER} 1000`,
        `sentinel failover-timeout ${MASTER} 10000`,
        `sentinel parallel-syncs ${MASTER} 1`,
      ],
      { sentinel: true },
    );
    nodes.push(sentinel);
    await sentinel.start();
  }
  assert.ok(nodes.length <= 6, 'at most six processes');
  const replicaAdmin = admin(replicaPort!);
  await until(async () => (await replicaAdmin.info('replication')).includes('master_link_status:up'), 30_000, 'the replica in sync');
  const sentinel = admin(sentinelPorts[0]!);
  // A manual failover needs a replica the Sentinel knows and considers healthy.
  await until(
    async () => {
      const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', MASTER)) as string[][];
      return replicas.some((r) => r.includes(String(replicaPort)) && !r.join(' ').includes('_down') && r.join(' ').includes('master-link-status ok'));
    },
    30_000,
    'the Sentinels to know the replica',
  );

  const prefix = `wxseal-e2e-sentinel:${randomUUID()}:`;
  // run.close() (after) stops the load, the client and everything else, also on a failure.
  const { gateway, gatewayPort, proxy, client, load } = await run.start({
    type: 'redis',
    sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
    name: MASTER,
    prefix,
    commandTimeoutMs: 300,
    connectTimeoutMs: 1000,
    reconnectMaxDelayMs: 100,
  });
  await until(() => proxy.records.filter(accepted).length >= 30, 30_000, '30 accepted requests');

  const failoverAt = Date.now();
  assert.equal(await sentinel.call('SENTINEL', 'FAILOVER', MASTER), 'OK');
  await until(
    async () => ((await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER)) as string[])[1] === String(replicaPort),
    30_000,
    'the Sentinels to name the replica as master',
  );
  const switchedAt = Date.now();
  // Traffic recovers by itself: requests sent after the switch are accepted again.
  await until(() => proxy.records.some((r) => accepted(r) && r.sentAt > switchedAt), 30_000, 'a request accepted after the failover');
  const recoveredAt = Date.now();
  await until(() => proxy.records.filter((r) => accepted(r) && r.sentAt > switchedAt).length >= 10, 30_000, '10 accepted after the failover');
  await load.stop();

  const records = [...proxy.records];
  const sentBefore = records.filter((r) => r.sentAt < failoverAt);
  const acceptedAll = records.filter(accepted);
  const acceptedAfter = acceptedAll.filter((r) => r.sentAt > switchedAt);

  // 0 unchecked: every accepted request, before or after the switch, has its nonce in the new
  // master (the store waits for a replica's acknowledgement, minReplicaAcks 1 by default with
  // Sentinel: the old master, cut off from its replica during the failover, accepts nothing).
  const newMaster = admin(replicaPort!);
  assert.match(await newMaster.info('replication'), /role:master/);
  const layout = new RedisNonceStore({ client: newMaster, prefix });
  layout.detach();
  const missing: string[] = [];
  for (const r of acceptedAll) if ((await newMaster.exists(layout.keyFor(r.keyId, r.nonce))) !== 1) missing.push(r.nonce);
  assert.deepEqual(missing, [], 'nonces of accepted requests missing from the new master');

  // 0 replays: every request sent before the failover, and every accepted one, replayed now.
  const replayed = [...new Set([...sentBefore, ...acceptedAll])];
  // What the clients saw between the switch and the recovery (the codes a failover answers with).
  const gap = countCodes(records.filter((x) => x.sentAt >= failoverAt && x.sentAt <= recoveredAt && !accepted(x)));
  const summary =
    `failover: ${records.length} requests, ${acceptedAll.length} accepted (${acceptedAfter.length} after the switch), refused during it ${gap || 'none'}; ` +
    `recovered ${recoveredAt - switchedAt} ms after the Sentinels switched (${switchedAt - failoverAt} ms after SENTINEL FAILOVER); ` +
    `${sentBefore.length} sent before the failover and every accepted one ${await replayAllRefused(gatewayPort, replayed)}`;
  console.log(summary);
  t.diagnostic(summary);
  // And a request sent now, on the same gateway, is accepted.
  assert.equal((await client.post('/api/orders', { json: { after: true } })).status, 200);
  assert.equal((await fetch(`${gateway.adminUrl}/readyz`)).status, 200);
});
