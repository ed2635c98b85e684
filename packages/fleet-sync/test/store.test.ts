// The fleet store over real Redis and real etcd: two instances exchange payloads and signals, the
// wire format is WeChat Pay's byte for byte (an upgraded instance talks to an older one), one
// leader per subject with take-over after resign and after expiry, bounded payloads, and a store
// that is down or hung fails every operation quickly with the coded (or the injected) error.
// Needs Redis at 127.0.0.1:6379 and etcd at 127.0.0.1:2379: fails (never skips) without them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { CodedError } from '@wxseal/protocol';
import { connectSyncStore, isFleetSyncError, type SyncErrorFactory, type SyncStore } from '../src/index.js';
import { freePort, silentServer } from '../../../tests/support/net.js';
import { spawnTracked, stopProcess } from '../../../tests/support/processes.js';
import { REDIS_PORT, harness, recorder, until } from './harness.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const TSX = ['--conditions=wxseal-source', '--import', 'tsx'];
const LEADER_FIXTURE = fileURLToPath(new URL('./fixtures/leader.ts', import.meta.url));

for (const kind of ['redis', 'etcd'] as const) {
  describe(`${kind} store`, () => {
    test('publish / read / watch and signals between two instances', async (t) => {
      const h = await harness(t, kind);
      const a = h.store();
      const b = h.store();
      const got = recorder();
      await b.start(got.onMessage, got.onError);

      assert.equal(await b.read('1900000109'), undefined, 'nothing published yet');
      await a.publish('1900000109', '{"body":"one"}');
      await until(() => got.messages.some((m) => m.type === 'payload' && m.payload === '{"body":"one"}'), 5_000, 'the payload at b');
      assert.deepEqual(got.messages.at(-1), { type: 'payload', subject: '1900000109', payload: '{"body":"one"}' });
      assert.equal(await b.read('1900000109'), '{"body":"one"}');

      await a.publish('edge:public', 'two');
      await until(() => got.messages.some((m) => m.type === 'payload' && m.subject === 'edge:public'), 5_000, 'the second subject at b');
      assert.equal(await a.read('edge:public'), 'two');
      assert.equal(await a.read('1900000109'), '{"body":"one"}', 'subjects are kept apart');

      await a.signal('1900000109', 'SERIAL-42');
      await until(() => got.messages.some((m) => m.type === 'signal'), 5_000, 'the signal at b');
      assert.deepEqual(
        got.messages.filter((m) => m.type === 'signal'),
        [{ type: 'signal', subject: '1900000109', data: 'SERIAL-42' }],
      );
      assert.deepEqual(got.errors, []);
    });

    test('wire format: the keys, channel and messages WeChat Pay instances of earlier versions use', async (t) => {
      const h = await harness(t, kind);
      const a = h.store();
      const b = h.store();
      const got = recorder();
      await b.start(got.onMessage, got.onError);
      const sub = '1900000109';
      assert.equal(await a.campaign(sub), true);
      assert.equal(await h.rawGet(h.key(sub, 'leader')), a.instanceId, 'the leader key holds the instance id');
      await a.publish(sub, 'PAYLOAD');
      assert.equal(await h.rawGet(h.key(sub, 'list')), 'PAYLOAD', 'the payload is stored as given');

      if (kind === 'redis') {
        // What an older instance subscribes to and parses.
        const listener = new Redis({ host: '127.0.0.1', port: REDIS_PORT });
        t.after(() => listener.disconnect());
        const heard: string[] = [];
        listener.on('message', (_c: string, m: string) => heard.push(m));
        await listener.subscribe(`${h.prefix}events`);
        await a.publish(sub, 'P2');
        await a.signal(sub, 'S1');
        await until(() => heard.length >= 2, 5_000, 'the raw messages');
        assert.deepEqual(heard, ['{"type":"certs","mchid":"1900000109","payload":"P2"}', '{"type":"refresh","mchid":"1900000109","serial":"S1"}']);
      } else {
        await a.signal(sub, 'S1');
        const raw = JSON.parse((await h.rawGet(`${h.prefix}${sub}/refresh`)) ?? '{}') as Record<string, unknown>;
        assert.deepEqual(Object.keys(raw), ['serial', 'at', 'from']);
        assert.equal(raw.serial, 'S1');
        assert.equal(raw.from, a.instanceId);
      }
      // And what an older instance writes reaches a new one.
      await h.rawPublish(sub, 'FROM-AN-OLDER-INSTANCE');
      await until(() => got.messages.some((m) => m.type === 'payload' && m.payload === 'FROM-AN-OLDER-INSTANCE'), 5_000, 'the older writer\'s payload');
    });

    test('one leader per subject; take-over after resign', async (t) => {
      const h = await harness(t, kind);
      const a = h.store();
      const b = h.store();
      assert.equal(await a.campaign('m1'), true);
      assert.equal(await b.campaign('m1'), false, 'b cannot take a held lead');
      assert.equal(await a.campaign('m1'), true, 'the leader renews');
      assert.equal(await b.campaign('m2'), true, 'another subject has its own leader');
      await b.resign('m1'); // not b's: changes nothing
      assert.equal(await b.campaign('m1'), false);
      await a.resign('m1');
      assert.equal(await b.campaign('m1'), true, 'b leads once a resigned');
      assert.equal(await a.campaign('m1'), false);
      assert.equal(await h.rawGet(h.key('m1', 'leader')), b.instanceId);
    });

    test('a live leader keeps the lead; killed without resigning, it loses it when the lock / lease expires', async (t) => {
      const h = await harness(t, kind);
      const ttl = kind === 'redis' ? 600 : 2; // ms / s
      const ttlMs = kind === 'redis' ? ttl : ttl * 1000;
      const child = spawnTracked(process.execPath, [...TSX, LEADER_FIXTURE, kind, h.prefix, 'm1', String(ttl)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      t.after(() => stopProcess(child, 'SIGKILL'));
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      await until(() => /LEADER [0-9a-f]{16}\n/.test(out) || child.exitCode !== null, 30_000, 'the leader process');
      const leaderId = /LEADER ([0-9a-f]{16})/.exec(out)?.[1];
      assert.ok(leaderId, `the child leads: ${out}`);
      assert.equal(await h.rawGet(h.key('m1', 'leader')), leaderId);

      const b = h.store(kind === 'redis' ? { lockTtlMs: ttl } : { leaseTtlSeconds: ttl });
      // For longer than the lifetime, b never gets the lead from a leader that is alive.
      const watchUntil = Date.now() + ttlMs * 1.5;
      while (Date.now() < watchUntil) {
        assert.equal(await b.campaign('m1'), false, 'b took the lead from a live leader');
        await new Promise((r) => setTimeout(r, 100));
      }
      await stopProcess(child, 'SIGKILL');
      const t0 = Date.now();
      await until(async () => b.campaign('m1'), ttlMs + 8_000, 'b to take over after the lock / lease expired');
      assert.equal(await h.rawGet(h.key('m1', 'leader')), b.instanceId);
      assert.ok(Date.now() - t0 < ttlMs + 8_000);
    });

    test('payloads are bounded both ways; subjects are checked', async (t) => {
      const h = await harness(t, kind);
      const a = h.store({ maxPayloadBytes: 1024 });
      const got = recorder();
      await a.start(got.onMessage, got.onError);
      await assert.rejects(a.publish('m1', 'x'.repeat(1025)), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_REJECTED'));
      await assert.rejects(a.signal('m1', 'x'.repeat(1025)), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_REJECTED'));
      await h.rawPublish('m1', 'y'.repeat(2000));
      await until(() => got.errors.length > 0, 5_000, 'the oversized value reported');
      assert.ok(isFleetSyncError(got.errors[0], 'FLEET_SYNC_REJECTED'));
      await assert.rejects(a.read('m1'), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_REJECTED'));
      assert.deepEqual(got.messages, [], 'an oversized value is never delivered');
      for (const bad of ['', 'a b', 'a/b', 'x'.repeat(129)]) {
        await assert.rejects(a.publish(bad, 'v'), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_CONFIG'), JSON.stringify(bad));
      }
    });
  });
}

/** Every operation of a store that cannot answer: each fails with `check` within `boundMs`. */
async function assertAllFailFast(store: SyncStore, check: (e: unknown) => boolean, boundMs: number): Promise<void> {
  const ops: Array<[string, () => Promise<unknown>]> = [
    ['start', () => store.start(() => undefined, () => undefined)],
    ['campaign', () => store.campaign('m1')],
    ['publish', () => store.publish('m1', 'v')],
    ['read', () => store.read('m1')],
    ['signal', () => store.signal('m1', 's')],
    ['resign', () => store.resign('m1')],
  ];
  for (const [name, op] of ops) {
    const t0 = Date.now();
    await assert.rejects(op(), (e: unknown) => check(e), `${name} fails with the coded error`);
    const took = Date.now() - t0;
    assert.ok(took < boundMs, `${name} failed after ${took} ms (bound ${boundMs} ms)`);
  }
  const t0 = Date.now();
  await store.close();
  assert.ok(Date.now() - t0 < boundMs * 2, `close took ${Date.now() - t0} ms`);
}

describe('a store that is down or hung', () => {
  for (const kind of ['redis', 'etcd'] as const) {
    test(`${kind}: closed port → FLEET_SYNC_UNAVAILABLE quickly, no hang`, async (t) => {
      const port = await freePort();
      const store =
        kind === 'redis'
          ? connectSyncStore({ kind, url: `redis://127.0.0.1:${port}`, prefix: 'wxseal:test:down:', opTimeoutMs: 300 })
          : connectSyncStore({ kind, endpoints: [`127.0.0.1:${port}`], prefix: 'wxseal-test/down/', opTimeoutMs: 300 });
      t.after(() => store.close());
      // start() waits twice the deadline; each of the others once.
      await assertAllFailFast(store, (e) => isFleetSyncError(e, 'FLEET_SYNC_UNAVAILABLE'), 1_500);
    });

    test(`${kind}: a server that accepts and never answers → the deadline, with the injected error factory`, async (t) => {
      const silent = await silentServer();
      t.after(() => silent.close());
      class MyError extends CodedError<'MY_UNAVAILABLE' | 'MY_OTHER'> {}
      const errors: SyncErrorFactory = (k, message, options) => new MyError(k === 'unavailable' ? 'MY_UNAVAILABLE' : 'MY_OTHER', message, options);
      const store =
        kind === 'redis'
          ? connectSyncStore({ kind, url: `redis://127.0.0.1:${silent.port}`, prefix: 'wxseal:test:hung:', opTimeoutMs: 300, errors })
          : connectSyncStore({ kind, endpoints: [`127.0.0.1:${silent.port}`], prefix: 'wxseal-test/hung/', opTimeoutMs: 300, errors });
      t.after(() => store.close());
      await assertAllFailFast(store, (e) => e instanceof MyError && e.code === 'MY_UNAVAILABLE' && /did not answer within (300|600) ms|failed/.test(e.message), 1_500);
    });
  }

  test('bad options fail at construction with FLEET_SYNC_CONFIG', () => {
    const config = (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_CONFIG');
    assert.throws(() => connectSyncStore({ kind: 'etcd', endpoints: [], prefix: 'p/' }), config);
    assert.throws(() => connectSyncStore({ kind: 'etcd', endpoints: ['not a host'], prefix: 'p/' }), config);
    assert.throws(() => connectSyncStore({ kind: 'redis', url: 'http://127.0.0.1:6379', prefix: 'p:' }), config);
    assert.throws(() => connectSyncStore({ kind: 'redis', url: 'redis://127.0.0.1:6379', prefix: '' }), config);
    assert.throws(() => connectSyncStore({ kind: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'p:', opTimeoutMs: -1 }), config);
  });
});
