// Cluster sync over real Redis and real etcd: one leader downloads, followers converge on a rotated
// platform certificate within seconds, failover, forged payloads rejected, store down ≠ outage.
// Needs Redis at 127.0.0.1:6379 and etcd at 127.0.0.1:2379: fails (never skips) without them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Etcd3 } from 'etcd3';
import { CertificateManager, sealSyncPayload, syncMacKey, type SyncOptions } from '../src/lifecycle/index.js';
import { APIV3_KEY, makeCert } from './lifecycle-helpers/certs.js';
import { FakeWechatPay } from './lifecycle-helpers/fake-wechatpay.js';
import { MCHID, collect, until } from './lifecycle-helpers/setup.js';

const merchant = await makeCert({ cn: 'merchant' });
const A = await makeCert({ cn: 'platform A', daysLeft: 9 });
const B = await makeCert({ cn: 'platform B', daysLeft: 1825 });
const C = await makeCert({ cn: 'forged C', daysLeft: 3650 });

async function fakeServer(t: import('node:test').TestContext) {
  const fake = new FakeWechatPay(APIV3_KEY);
  await fake.start();
  fake.merchantKeys.set(merchant.serial, merchant.certPem);
  fake.serve([A]);
  t.after(() => fake.close());
  return fake;
}

function manager(fake: FakeWechatPay, sync: SyncOptions) {
  return new CertificateManager({
    merchants: [{ mchid: MCHID, privateKey: { value: merchant.keyPem }, certificate: { value: merchant.certPem }, apiV3Key: { value: APIV3_KEY } }],
    baseUrl: fake.url,
    sync,
    watchFiles: false,
    refreshIntervalMs: 400,
    refreshJitter: 0,
    electionIntervalMs: 150,
    syncPollIntervalMs: 1000,
    followerWaitMs: 4000,
  });
}

const serialsOf = (m: CertificateManager) => [...m.current(MCHID).verificationKeys.certificates.keys()].sort();

async function scenario(t: import('node:test').TestContext, makeSync: () => SyncOptions, forge?: (payload: string) => Promise<void>) {
  const fake = await fakeServer(t);
  const mgrs = [manager(fake, makeSync()), manager(fake, makeSync()), manager(fake, makeSync())];
  t.after(() => Promise.all(mgrs.map((m) => m.close())));
  const evs = mgrs.map((m) => collect((l) => m.onEvent(l)));
  await Promise.all(mgrs.map((m) => m.start()));
  for (const m of mgrs) assert.deepEqual(serialsOf(m), [A.serial]);
  const leaders = mgrs.filter((m) => m.isLeader(MCHID));
  assert.equal(leaders.length, 1, 'exactly one leader');
  assert.deepEqual(mgrs.map((m) => m.downloadCount > 0), mgrs.map((m) => m.isLeader(MCHID)), 'only the leader downloads');

  // Rotation: all instances converge within 5 s, no restart.
  const versions = mgrs.map((m) => m.current(MCHID).version);
  const t0 = Date.now();
  fake.serve([A, B], B);
  await until(() => mgrs.every((m) => serialsOf(m).join() === [A.serial, B.serial].sort().join()), 5_000, 'convergence on A+B');
  const converged = Date.now() - t0;
  assert.ok(converged < 5_000, `converged in ${converged} ms`);
  for (const [i, m] of mgrs.entries()) {
    assert.equal(m.current(MCHID).wechatpaySerial, B.serial);
    assert.ok(m.current(MCHID).version > versions[i]!);
  }
  assert.equal(mgrs.filter((m) => m.downloadCount > 0).length, 1, 'still only one instance downloaded');
  for (const [i, m] of mgrs.entries()) if (!m.isLeader(MCHID)) assert.ok(evs[i]!.of('sync-received').some((e) => e.accepted), 'follower received the list');

  // Forged list written by someone without the APIv3 key.
  if (forge) {
    const followers = mgrs.filter((m) => !m.isLeader(MCHID));
    const forged = sealSyncPayload({ v: 1, mchid: MCHID, issuedAt: Date.now() + 1e9, origin: 'attacker', certificates: [C.certPem] }, syncMacKey('Y'.repeat(32), MCHID));
    await forge(forged);
    await until(() => evs.some((e) => e.of('sync-received').some((x) => !x.accepted && /MAC/.test(x.reason ?? ''))), 3_000, 'forged list rejected');
    await new Promise((r) => setTimeout(r, 300));
    for (const m of followers) assert.ok(!serialsOf(m).includes(C.serial), 'forged certificate never held');
  }

  // Failover: the leader goes away; another takes over and downloads on the next change.
  const oldLeader = leaders[0]!;
  await oldLeader.close();
  const rest = mgrs.filter((m) => m !== oldLeader);
  await until(() => rest.some((m) => m.isLeader(MCHID)), 5_000, 'a new leader');
  const newLeader = rest.find((m) => m.isLeader(MCHID))!;
  const newEv = evs[mgrs.indexOf(newLeader)]!;
  // A new leader refreshes at once (its predecessor may have died before publishing); let that finish.
  await until(() => newEv.of('downloaded').some((e) => e.reason === 'leader-acquired'), 5_000, 'the take-over download');
  const before = newLeader.downloadCount;
  fake.serve([B], B);
  await until(() => rest.every((m) => serialsOf(m).join() === B.serial), 5_000, 'convergence on B after failover');
  assert.ok(newLeader.downloadCount > before, 'the new leader downloaded');
  assert.equal(rest.filter((m) => m.isLeader(MCHID)).length, 1);
}

test('Redis: three instances, one downloads, converge on rotation within 5 s, forged list rejected, failover', async (t) => {
  const prefix = `wxseal:test:${randomBytes(6).toString('hex')}:`;
  const clients: Redis[] = [];
  const admin = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
  assert.equal(await admin.ping(), 'PONG', 'Redis must be running at 127.0.0.1:6379');
  t.after(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    admin.disconnect();
    for (const c of clients) c.disconnect();
  });
  await scenario(
    t,
    () => {
      const c = new Redis({ host: '127.0.0.1', port: 6379 });
      clients.push(c);
      return { kind: 'redis', client: c, prefix, lockTtlMs: 2000 };
    },
    async (forged) => {
      await admin.set(`${prefix}${MCHID}:list`, forged);
      await admin.publish(`${prefix}events`, JSON.stringify({ type: 'certs', mchid: MCHID, payload: forged }));
    },
  );
});

test('etcd: three instances, one downloads, converge on rotation within 5 s, forged list rejected, failover', async (t) => {
  const prefix = `wxseal-test/${randomBytes(6).toString('hex')}/`;
  const clients: Etcd3[] = [];
  const admin = new Etcd3({ hosts: '127.0.0.1:2379' });
  await admin.put(`${prefix}probe`).value('1'); // fails the test when etcd is not running
  t.after(async () => {
    await admin.delete().prefix(prefix);
    admin.close();
    for (const c of clients) c.close();
  });
  await scenario(
    t,
    () => {
      const c = new Etcd3({ hosts: '127.0.0.1:2379' });
      clients.push(c);
      return { kind: 'etcd', client: c, prefix, leaseTtlSeconds: 3 };
    },
    async (forged) => {
      await admin.put(`${prefix}${MCHID}/list`).value(forged);
    },
  );
});

test('Redis unreachable: start() neither hangs nor crashes, downloads locally, raises the alarm', async (t) => {
  const fake = await fakeServer(t);
  const dead = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 500 });
  dead.on('error', () => undefined);
  t.after(() => dead.disconnect());
  const mgr = manager(fake, { kind: 'redis', client: dead, prefix: 'wxseal:test:dead:', opTimeoutMs: 300 });
  t.after(() => mgr.close());
  const ev = collect((l) => mgr.onEvent(l));
  const t0 = Date.now();
  await mgr.start();
  assert.ok(Date.now() - t0 < 5_000, `start took ${Date.now() - t0} ms`);
  assert.deepEqual(serialsOf(mgr), [A.serial]);
  assert.ok(ev.of('sync-failed').length > 0);
  // The shared store raises the lifecycle's own code, not the store package's.
  assert.ok(
    ev.of('sync-failed').every((e) => e.error.startsWith('WECHATPAY_LIFECYCLE_SYNC_UNAVAILABLE: ')),
    ev.of('sync-failed').map((e) => e.error).join('; '),
  );
  // Rotation still reaches it (degraded: it downloads itself).
  fake.serve([A, B], B);
  await until(() => serialsOf(mgr).includes(B.serial), 5_000, 'B while Redis is down');
});

test('a follower that cannot ask the leader for an unknown serial downloads it itself instead of hanging', async (t) => {
  const fake = await fakeServer(t);
  const prefix = `wxseal:test:${randomBytes(6).toString('hex')}:`;
  const admin = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
  const leaderClient = new Redis({ host: '127.0.0.1', port: 6379 });
  const followerClient = new Redis({ host: '127.0.0.1', port: 6379 });
  t.after(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    for (const c of [admin, leaderClient, followerClient]) c.disconnect();
  });
  // The follower's store answers reads and the leader lock, but refuses PUBLISH (its refresh request).
  let refusePublish = false;
  const flaky = new Proxy(followerClient, {
    get(target, key) {
      if (key === 'publish' && refusePublish) return async () => Promise.reject(new Error('PUBLISH refused'));
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const make = (client: Redis) =>
    new CertificateManager({
      merchants: [{ mchid: MCHID, privateKey: { value: merchant.keyPem }, certificate: { value: merchant.certPem }, apiV3Key: { value: APIV3_KEY } }],
      baseUrl: fake.url,
      sync: { kind: 'redis', client, prefix, lockTtlMs: 2000 },
      watchFiles: false,
      refreshIntervalMs: 3 * 3600_000,
      electionIntervalMs: 150,
      followerWaitMs: 1000,
    });
  const leader = make(leaderClient);
  t.after(() => leader.close());
  await leader.start();
  const follower = make(flaky);
  t.after(() => follower.close());
  await follower.start();
  assert.ok(leader.isLeader(MCHID) && !follower.isLeader(MCHID));
  assert.equal(follower.downloadCount, 0);

  fake.serve([A, B], B);
  refusePublish = true;
  const outcome = await Promise.race([follower.refreshForUnknownSerial(MCHID, B.serial), new Promise((r) => setTimeout(() => r('hung'), 8_000).unref())]);
  assert.equal(outcome, true, 'the follower fetched B itself');
  assert.equal(follower.downloadCount, 1);
  assert.ok(serialsOf(follower).includes(B.serial));
});
