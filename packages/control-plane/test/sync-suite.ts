// ControlPlaneSync over a real database, run on SQLite, PostgreSQL and MariaDB by sync-*.test.ts:
// two instances (two pools, two syncs) over one database; a change made through one store is
// applied by the other. Propagation delays are measured and printed (t.diagnostic); the only
// timing assertions are the generous bounds the issue sets (< 1 s), never a race on a sleep.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import { sql, type Kysely } from 'kysely';
import {
  CP_TABLES,
  ControlPlaneStore,
  ControlPlaneSync,
  migrateControlPlaneDatabase,
  openControlPlaneDatabase,
  redisChangeNotifier,
  type ChangeNotifier,
  type ControlPlaneDatabase,
  type ControlPlaneSyncOptions,
  type CredentialOverlay,
} from '../src/index.js';
import { freePort } from '../../../tests/support/net.js';
import { newRing } from './store-suite.js';
import { percentile, tcpProxy, viaPort, waitFor, type Target } from './targets.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const CHANGES = 20;

export function defineSyncSuite(target: Target): void {
  describe(`control-plane sync on ${target.name}`, () => {
    const closers: (() => Promise<unknown>)[] = [];
    after(async () => {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      await target.cleanup();
    });

    const ring = newRing();

    function openDb(url: string, options: { connectTimeoutMs?: number; queryTimeoutMs?: number } = {}): Kysely<ControlPlaneDatabase> {
      const db = openControlPlaneDatabase(url, options);
      closers.push(() => db.destroy());
      return db;
    }

    /** An instance: its own pool, store and sync; `overlay` is what its last apply loaded. */
    function instance(url: string, name: string, options: { sync?: Partial<ControlPlaneSyncOptions>; notifier?: ChangeNotifier; pgChannel?: string; db?: { connectTimeoutMs?: number; queryTimeoutMs?: number } } = {}) {
      const db = openDb(url, options.db);
      const store = new ControlPlaneStore({
        db,
        masterKeys: ring,
        now: Date.now,
        origin: name,
        ...(options.notifier ? { notifier: options.notifier } : {}),
        ...(options.pgChannel ? { postgresNotifyChannel: options.pgChannel } : {}),
      });
      const errors: { err: unknown; component: string }[] = [];
      const state: { overlay: CredentialOverlay | undefined; applies: number; inApply: number; maxInApply: number; gate: Promise<void> | undefined } = {
        overlay: undefined,
        applies: 0,
        inApply: 0,
        maxInApply: 0,
        gate: undefined,
      };
      const sync = new ControlPlaneSync({
        db,
        pollIntervalMs: 250,
        now: Date.now,
        apply: async () => {
          state.inApply++;
          state.maxInApply = Math.max(state.maxInApply, state.inApply);
          try {
            await state.gate;
            state.overlay = await store.loadOverlay();
            state.applies++;
          } finally {
            state.inApply--;
          }
        },
        onError: (err, component) => errors.push({ err, component }),
        ...options.sync,
      });
      closers.push(() => sync.close());
      return { db, store, sync, state, errors };
    }

    const has = (overlay: CredentialOverlay | undefined, keyId: string, secretId: string): boolean => overlay?.clients.get(keyId)?.added.some((a) => a.secretId === secretId) ?? false;

    /** Makes CHANGES changes through `a` and measures, for each, commit → applied on `b`. */
    async function measure(t: TestContext, label: string, a: ReturnType<typeof instance>, b: ReturnType<typeof instance>): Promise<number[]> {
      const delays: number[] = [];
      for (let i = 0; i < CHANGES; i++) {
        const secretId = `s-${i}-${randomBytes(3).toString('hex')}`;
        await a.store.addSecret('app-1', secretId, randomBytes(32));
        const committed = performance.now();
        await waitFor(() => has(b.state.overlay, 'app-1', secretId), `${label}: change ${i} applied on the other instance`, 5_000);
        delays.push(performance.now() - committed);
      }
      t.diagnostic(`${target.name} ${label}: propagation over ${CHANGES} changes p50 ${percentile(delays, 0.5).toFixed(1)} ms, max ${Math.max(...delays).toFixed(1)} ms`);
      return delays;
    }

    async function migrated(): Promise<string> {
      const url = await target.fresh();
      const db = openControlPlaneDatabase(url);
      try {
        await migrateControlPlaneDatabase(db);
      } finally {
        await db.destroy();
      }
      return url;
    }

    test('before start: staleness Infinity, version 0; start applies the current state', async () => {
      const url = await migrated();
      const a = instance(url, 'gw-a');
      await a.store.addSecret('app-1', 'first', randomBytes(32));
      const b = instance(url, 'gw-b');
      assert.equal(b.sync.staleness(), Infinity);
      assert.equal(b.sync.appliedVersion, 0);
      await b.sync.start();
      assert.ok(has(b.state.overlay, 'app-1', 'first'));
      assert.equal(b.sync.appliedVersion, await a.store.version());
      assert.ok(b.sync.staleness() < 1000);
      assert.equal(b.state.applies, 1);
      // A check that finds nothing new confirms without applying again.
      await b.sync.checkNow();
      assert.equal(b.state.applies, 1);
      assert.equal(b.sync.counts.applied, 1);
    });

    test('Redis pub/sub: a change through one store is applied by the other well within 1 s (polling set to 10 s)', async (t) => {
      const url = await migrated();
      const channel = `wxseal:cp-test:${randomBytes(6).toString('hex')}`;
      const notifier = redisChangeNotifier({ url: REDIS_URL, channel });
      closers.push(() => notifier.close());
      const a = instance(url, 'gw-a', { notifier });
      const b = instance(url, 'gw-b', { sync: { pollIntervalMs: 10_000, redis: { url: REDIS_URL, channel } } });
      assert.deepEqual(b.sync.listening, { redis: false, postgres: undefined });
      await b.sync.start();
      await waitFor(() => b.sync.listening.redis === true, 'the Redis subscription');
      const delays = await measure(t, 'Redis pub/sub', a, b);
      assert.ok(Math.max(...delays) < 1000, `propagation took ${Math.max(...delays)} ms`);
      assert.ok(b.sync.counts.messages >= CHANGES);
      assert.deepEqual(b.errors, []);
    });

    test('polling only (no Redis): applied within pollIntervalMs + margin', async (t) => {
      const url = await migrated();
      const a = instance(url, 'gw-a');
      const b = instance(url, 'gw-b', { sync: { pollIntervalMs: 100 } });
      await b.sync.start();
      const delays = await measure(t, 'polling every 100 ms', a, b);
      // 100 ms of interval plus a check and a load on a machine shared with other suites.
      assert.ok(Math.max(...delays) < 100 + 600, `propagation took ${Math.max(...delays)} ms`);
      assert.equal(b.sync.counts.messages, 0);
    });

    test('a lost message is caught by polling (a store that announces nothing, a subscriber that hears nothing)', async () => {
      const url = await migrated();
      const channel = `wxseal:cp-test:${randomBytes(6).toString('hex')}`;
      const a = instance(url, 'gw-a'); // no notifier: every message is "lost"
      const b = instance(url, 'gw-b', { sync: { pollIntervalMs: 200, redis: { url: REDIS_URL, channel } } });
      await b.sync.start();
      await a.store.retireConfigSecret('app-9', 'cfg-1');
      const committed = performance.now();
      await waitFor(() => b.state.overlay?.clients.get('app-9')?.retiredConfigSecretIds.has('cfg-1') === true, 'the retirement, by polling', 5_000);
      assert.ok(performance.now() - committed < 200 + 800);
      assert.equal(b.sync.counts.messages, 0);
    });

    test('checks never overlap: triggers during a slow apply queue exactly one more check', async () => {
      const url = await migrated();
      const a = instance(url, 'gw-a');
      const b = instance(url, 'gw-b', { sync: { pollIntervalMs: 60_000 } });
      await b.sync.start();
      let open!: () => void;
      b.state.gate = new Promise<void>((r) => (open = r));
      await a.store.addSecret('app-1', 'x1', randomBytes(32));
      const first = b.sync.checkNow();
      await waitFor(() => b.state.inApply === 1, 'the apply to start');
      await a.store.addSecret('app-1', 'x2', randomBytes(32));
      const queued = [b.sync.checkNow(), b.sync.checkNow(), b.sync.checkNow()];
      const checksBefore = b.sync.counts.checks;
      b.state.gate = undefined;
      open();
      await Promise.all([first, ...queued]);
      assert.equal(b.state.maxInApply, 1);
      assert.equal(b.sync.counts.checks, checksBefore + 1, 'three triggers during a check: one more check');
      assert.ok(has(b.state.overlay, 'app-1', 'x2'), 'the queued check saw the second change');
    });

    test('start() rejects when the database cannot be reached; staleness stays Infinity', async () => {
      if (!target.hostPort) {
        // SQLite: a file in a directory that does not exist.
        const b = instance('sqlite:/nonexistent-dir-wxseal/cp.db', 'gw-b');
        await assert.rejects(b.sync.start());
        assert.equal(b.sync.staleness(), Infinity);
        assert.ok(b.errors.some((e) => e.component === 'database'));
        return;
      }
      const url = viaPort(await target.fresh(), await freePort());
      const b = instance(url, 'gw-b', { db: { connectTimeoutMs: 300, queryTimeoutMs: 500 } });
      await assert.rejects(b.sync.start());
      assert.equal(b.sync.staleness(), Infinity);
      assert.ok(b.errors.some((e) => e.component === 'database'));
    });

    if (target.hostPort) {
      const hostPort = target.hostPort;

      test('staleness grows while the database is unreachable and returns to ~0 when it is back', async (t) => {
        const url = await migrated();
        const proxy = await tcpProxy(hostPort);
        closers.push(() => proxy.close());
        const a = instance(url, 'gw-a');
        const b = instance(viaPort(url, proxy.port), 'gw-b', { sync: { pollIntervalMs: 50 }, db: { connectTimeoutMs: 300, queryTimeoutMs: 500 } });
        await b.sync.start();
        await waitFor(() => b.sync.staleness() < 200, 'a fresh view');
        proxy.cut();
        await waitFor(() => b.sync.staleness() > 1_000, 'the view to go stale', 10_000);
        assert.ok(b.sync.counts.errors > 0);
        assert.ok(b.errors.every((e) => e.component === 'database'));
        // A change made meanwhile is applied once the database is back.
        await a.store.addSecret('app-1', 'during-outage', randomBytes(32));
        const staleAt = b.sync.staleness();
        proxy.restore();
        const back = performance.now();
        await waitFor(() => b.sync.staleness() < 200 && has(b.state.overlay, 'app-1', 'during-outage'), 'the view to be confirmed again', 10_000);
        t.diagnostic(`${target.name}: stale ${Math.round(staleAt)} ms when restored; confirmed again ${Math.round(performance.now() - back)} ms after`);
      });

      test('a transaction that commits a lower seq after a higher one is visible is still applied', async () => {
        const url = await migrated();
        const a = instance(url, 'gw-a');
        const b = instance(url, 'gw-b', { sync: { pollIntervalMs: 30 } });
        await a.store.addSecret('app-1', 'base', randomBytes(32));
        await b.sync.start();
        const base = { count: b.sync.appliedChangeCount, version: b.sync.appliedVersion };

        // Transaction 1 takes seq n+1 and stays open; transaction 2 takes n+2 and commits.
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let seq1 = 0;
        let inserted!: () => void;
        const insertedP = new Promise<void>((r) => (inserted = r));
        const writer = openDb(url);
        const slow = writer.transaction().execute(async (trx) => {
          seq1 = await insertChange(trx, target, 'slow');
          await trx.insertInto(CP_TABLES.clientSecrets).values({ key_id: 'app-late', secret_id: 'cfg-late', source: 'config-retired', secret_ct: null, master_key_id: null, created_at: 1, retired_at: 1 }).execute();
          inserted();
          await held;
        });
        await insertedP;
        let seq2 = 0;
        await openDb(url)
          .transaction()
          .execute(async (trx) => {
            seq2 = await insertChange(trx, target, 'fast');
          });
        assert.ok(seq2 > seq1, `seq ${seq2} after ${seq1}`);
        await waitFor(() => b.sync.appliedChangeCount === base.count + 1, 'the higher seq to be applied');
        assert.equal(b.sync.appliedVersion, seq2);
        assert.equal(b.state.overlay?.clients.get('app-late'), undefined);
        const applies = b.state.applies;

        release();
        await slow;
        // MAX(seq) does not move; the count does, and the late row is applied.
        await waitFor(() => b.state.overlay?.clients.get('app-late')?.retiredConfigSecretIds.has('cfg-late') === true, 'the late commit to be applied');
        assert.equal(b.sync.appliedVersion, seq2);
        assert.equal(b.sync.appliedChangeCount, base.count + 2);
        assert.ok(b.state.applies > applies);
      });
    }

    if (target.dialect === 'postgres') {
      test('PostgreSQL LISTEN/NOTIFY: applied well within 1 s without Redis (polling set to 10 s), and again after the listening connection is killed', async (t) => {
        const url = await migrated();
        const channel = `wxseal_cp_t_${randomBytes(6).toString('hex')}`;
        const a = instance(url, 'gw-a', { pgChannel: channel });
        const b = instance(url, 'gw-b', { sync: { pollIntervalMs: 10_000, postgresNotify: { url, channel } } });
        await b.sync.start();
        await waitFor(() => b.sync.listening.postgres === true, 'the LISTEN connection');
        const delays = await measure(t, 'PostgreSQL LISTEN/NOTIFY', a, b);
        assert.ok(Math.max(...delays) < 1000, `propagation took ${Math.max(...delays)} ms`);
        assert.ok(b.sync.counts.messages >= CHANGES);

        // The listening session is terminated (a server restart, a failover): the sync listens again.
        await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'wxseal-control-plane-listen' and query like ${`LISTEN "${channel}"%`}`.execute(a.db);
        await waitFor(() => b.errors.some((e) => e.component === 'postgres'), 'the lost LISTEN connection to be reported');
        await waitFor(() => b.sync.listening.postgres === true, 'LISTEN again');
        const messages = b.sync.counts.messages;
        await waitFor(async () => {
          await a.store.addSecret('app-1', `after-${randomBytes(3).toString('hex')}`, randomBytes(32));
          return b.sync.counts.messages > messages;
        }, 'notifications again after the reconnect', 15_000);
      });
    }
  });
}

/** Inserts one change row by hand (as the store does), returning its seq. */
async function insertChange(trx: Kysely<ControlPlaneDatabase>, target: Target, subject: string): Promise<number> {
  const values = { kind: 'credentials', subject, at: Date.now(), origin: 'test' };
  if (target.dialect === 'postgres') {
    const row = await trx.insertInto(CP_TABLES.changes).values(values).returning('seq').executeTakeFirstOrThrow();
    return Number(row.seq);
  }
  const result = await trx.insertInto(CP_TABLES.changes).values(values).executeTakeFirstOrThrow();
  return Number(result.insertId);
}
