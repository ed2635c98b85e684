// The behaviour of ControlPlaneStore, run unchanged on SQLite, PostgreSQL and MariaDB by the
// store-*.test.ts files. Each test migrates a fresh database of its own.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { isCodedError, isWxsealError } from '@wxseal/protocol';
import { MasterKeyRing } from '@wxseal/devices';
import { sm2GenerateKeyPair, sm2PublicKeyFromPem } from '@wxseal/gm';
import {
  CP_TABLES,
  ControlPlaneStore,
  isControlPlaneError,
  migrateControlPlaneDatabase,
  migrateControlPlaneDatabaseWithResult,
  openControlPlane,
  openControlPlaneDatabase,
  redisChangeNotifier,
  type ControlErrorCode,
  type ControlPlaneDatabase,
} from '../src/index.js';
import { freePort } from '../../../tests/support/net.js';
import type { Target } from './targets.js';

export const T0 = 1_700_000_000_000;

export function newRing(id = 'm1'): MasterKeyRing {
  return new MasterKeyRing({ active: id, keys: { [id]: MasterKeyRing.generateKey() } });
}

export async function rejectsWith(promise: Promise<unknown>, code: ControlErrorCode | 'WXSEAL_KEY_STORE_UNAVAILABLE' | 'DEVICE_KEY_DECRYPT_FAILED'): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    if (code === 'WXSEAL_KEY_STORE_UNAVAILABLE') assert.ok(isWxsealError(err, code), `expected ${code}, got ${String(err)}`);
    else if (code === 'DEVICE_KEY_DECRYPT_FAILED') assert.ok(isCodedError(err, code), `expected ${code}, got ${String(err)}`);
    else assert.ok(isControlPlaneError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

/** Every form a leaked value would take in a raw column. */
function assertNotIn(raw: Buffer, secret: Buffer, what: string): void {
  for (const form of [secret, Buffer.from(secret.toString('hex')), Buffer.from(secret.toString('base64')), Buffer.from(secret.toString('base64url'))]) {
    assert.equal(raw.indexOf(form), -1, `${what} found in clear`);
  }
}

export function defineStoreSuite(target: Target): void {
  describe(`control-plane store on ${target.name}`, () => {
    const open: Kysely<ControlPlaneDatabase>[] = [];
    after(async () => {
      for (const db of open) await db.destroy().catch(() => undefined);
      await target.cleanup();
    });

    async function setup(options: { origin?: string; ring?: MasterKeyRing } = {}) {
      const url = await target.fresh();
      const db = openControlPlaneDatabase(url);
      open.push(db);
      await migrateControlPlaneDatabase(db);
      const clock = { now: T0 };
      const ring = options.ring ?? newRing();
      const store = new ControlPlaneStore({ db, masterKeys: ring, now: () => clock.now, origin: options.origin ?? 'gw-1' });
      return { url, db, store, clock, ring };
    }

    function second(url: string, ring: MasterKeyRing, clock: { now: number }, origin: string) {
      const db = openControlPlaneDatabase(url);
      open.push(db);
      return { db, store: new ControlPlaneStore({ db, masterKeys: ring, now: () => clock.now, origin }) };
    }

    test('migrations: idempotent, and two migrators at once on two connections both succeed', async () => {
      const url = await target.fresh();
      const a = openControlPlaneDatabase(url);
      const b = openControlPlaneDatabase(url);
      open.push(a, b);
      const results = await Promise.all([migrateControlPlaneDatabaseWithResult(a), migrateControlPlaneDatabaseWithResult(b)]);
      // Exactly one of them applied the migration (the other found it done), or on SQLite both ran the idempotent DDL.
      const applied = results.flatMap((r) => r.applied);
      assert.ok(applied.length >= 1 && applied.every((m) => m === '0001_initial'), JSON.stringify(results));
      assert.deepEqual((await migrateControlPlaneDatabaseWithResult(a)).applied, []);
      assert.deepEqual((await migrateControlPlaneDatabaseWithResult(b)).applied, []);
      const store = new ControlPlaneStore({ db: a, masterKeys: newRing(), now: () => T0, origin: 'gw-1' });
      assert.equal(await store.version(), 0);
      const overlay = await store.loadOverlay();
      assert.equal(overlay.version, 0);
      assert.equal(overlay.clients.size, 0);
      assert.equal(overlay.serverKeys.active, undefined);
    });

    test('client secrets: add, retire (ciphertext wiped), retire config secrets; each change in one transaction with its change row', async () => {
      const { db, store, clock } = await setup();
      const s1 = randomBytes(32);
      const s2 = randomBytes(32);
      await store.addSecret('app-1', 'adm-1', s1);
      clock.now += 10;
      await store.addSecret('app-1', 'adm-2', s2);
      const v2 = await store.version();
      assert.ok(v2 >= 2);
      let overlay = await store.loadOverlay();
      assert.equal(overlay.version, v2);
      assert.equal(overlay.changeCount, 2);
      const app = overlay.clients.get('app-1');
      assert.ok(app);
      assert.deepEqual(
        app.added.map((a) => [a.secretId, Buffer.from(a.secret ?? []).toString('hex'), a.createdAt, a.retiredAt]),
        [
          ['adm-1', s1.toString('hex'), T0, undefined],
          ['adm-2', s2.toString('hex'), T0 + 10, undefined],
        ],
      );
      await rejectsWith(store.addSecret('app-1', 'adm-1', randomBytes(32)), 'CONTROL_CONFLICT');

      clock.now += 10;
      await store.retireAddedSecret('app-1', 'adm-1');
      await rejectsWith(store.retireAddedSecret('app-1', 'adm-1'), 'CONTROL_CONFLICT');
      await rejectsWith(store.retireAddedSecret('app-1', 'nope'), 'CONTROL_NOT_FOUND');
      await store.retireConfigSecret('app-1', 'cfg-abc');
      await store.retireConfigSecret('app-2', 'primary');
      await rejectsWith(store.retireConfigSecret('app-2', 'primary'), 'CONTROL_CONFLICT');
      // A config retirement is not an added secret.
      await rejectsWith(store.retireAddedSecret('app-2', 'primary'), 'CONTROL_NOT_FOUND');

      overlay = await store.loadOverlay();
      const retired = overlay.clients.get('app-1')!.added.find((a) => a.secretId === 'adm-1')!;
      assert.equal(retired.secret, undefined);
      assert.equal(retired.retiredAt, T0 + 20);
      assert.deepEqual([...overlay.clients.get('app-1')!.retiredConfigSecretIds], ['cfg-abc']);
      assert.deepEqual([...overlay.clients.get('app-2')!.retiredConfigSecretIds], ['primary']);
      const raw = await db.selectFrom(CP_TABLES.clientSecrets).select(['secret_ct', 'master_key_id']).where('secret_id', '=', 'adm-1').executeTakeFirstOrThrow();
      assert.equal(raw.secret_ct, null, 'a retired secret keeps no ciphertext');

      // Five successful mutations, five change rows, all from this origin; refusals wrote none.
      const changes = await db.selectFrom(CP_TABLES.changes).selectAll().orderBy('seq').execute();
      assert.equal(changes.length, 5);
      assert.ok(changes.every((c) => c.kind === 'credentials' && c.origin === 'gw-1'));
      assert.deepEqual(
        changes.map((c) => c.subject),
        ['app-1', 'app-1', 'app-1', 'app-1', 'app-2'],
      );
      assert.equal(overlay.version, Math.max(...changes.map((c) => Number(c.seq))));

      await rejectsWith(store.addSecret('bad id', 'x', s1), 'CONTROL_INVALID_INPUT');
      await rejectsWith(store.addSecret('app-1', 'x', new Uint8Array(0)), 'CONTROL_INVALID_INPUT');
    });

    test('server keys: add and make active, rotate, retire (private key wiped), retire config keys, the active key is protected', async () => {
      const { db, store, clock } = await setup();
      const k1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const k2 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      await store.addServerKey('sk-1', k1, { makeActive: true });
      let overlay = await store.loadOverlay();
      assert.equal(overlay.serverKeys.active, 'sk-1');
      const added = overlay.serverKeys.added[0]!;
      assert.equal(added.kid, 'sk-1');
      assert.ok(added.privateKey);
      assert.deepEqual((added.privateKey as KeyObject).export({ type: 'pkcs8', format: 'der' }), k1.export({ type: 'pkcs8', format: 'der' }));
      assert.match(added.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
      await rejectsWith(store.retireAddedServerKey('sk-1'), 'CONTROL_CONFLICT'); // active

      clock.now += 5;
      await store.addServerKey('sk-2', k2, { makeActive: false });
      assert.equal((await store.loadOverlay()).serverKeys.active, 'sk-1');
      await store.setActiveServerKey('sk-2');
      await store.retireAddedServerKey('sk-1');
      await rejectsWith(store.retireAddedServerKey('sk-1'), 'CONTROL_CONFLICT');
      await rejectsWith(store.retireAddedServerKey('sk-x'), 'CONTROL_NOT_FOUND');
      await rejectsWith(store.setActiveServerKey('sk-1'), 'CONTROL_CONFLICT'); // retired
      await store.retireConfigServerKey('sk-config');
      await rejectsWith(store.retireConfigServerKey('sk-config'), 'CONTROL_CONFLICT');
      await rejectsWith(store.retireConfigServerKey('sk-2'), 'CONTROL_CONFLICT'); // active
      await rejectsWith(store.addServerKey('sk-2', k2, { makeActive: true }), 'CONTROL_CONFLICT');

      overlay = await store.loadOverlay();
      assert.equal(overlay.serverKeys.active, 'sk-2');
      assert.deepEqual([...overlay.serverKeys.retiredConfigKids], ['sk-config']);
      assert.deepEqual(
        overlay.serverKeys.added.map((k) => [k.kid, k.privateKey !== undefined, k.retiredAt]),
        [
          ['sk-1', false, T0 + 5],
          ['sk-2', true, undefined],
        ],
      );
      const raw = await db.selectFrom(CP_TABLES.serverKeys).select(['private_key_ct']).where('kid', '=', 'sk-1').executeTakeFirstOrThrow();
      assert.equal(raw.private_key_ct, null);
      const kinds = await db.selectFrom(CP_TABLES.changes).select('kind').execute();
      assert.ok(kinds.length === 5 && kinds.every((k) => k.kind === 'server-keys'));
    });

    test('an SM2 server key (the SM suite) is stored sealed, comes back as its scalar, survives a master key rewrap and is wiped when retired', async () => {
      const k1 = MasterKeyRing.generateKey();
      const k2 = MasterKeyRing.generateKey();
      const { url, db, store, clock } = await setup({ ring: new MasterKeyRing({ active: 'm1', keys: { m1: k1 } }) });
      const pair = sm2GenerateKeyPair();
      await store.addServerKey('sk-sm', { type: 'sm2', privateKeyHex: pair.privateKeyHex }, { makeActive: true });
      let added = (await store.loadOverlay()).serverKeys.added;
      assert.deepEqual(added[0]!.privateKey, { type: 'sm2', privateKeyHex: pair.privateKeyHex });
      assert.equal(sm2PublicKeyFromPem(added[0]!.publicKeyPem), pair.publicKeyHex, 'the public key is stored as SM2 SPKI PEM');
      const raw = await db.selectFrom(CP_TABLES.serverKeys).select(['private_key_ct']).where('kid', '=', 'sk-sm').executeTakeFirstOrThrow();
      assertNotIn(Buffer.from(raw.private_key_ct!), Buffer.from(pair.privateKeyHex, 'hex'), 'the SM2 scalar');
      await rejectsWith(store.addServerKey('sk-bad', { type: 'sm2', privateKeyHex: 'ff'.repeat(32) }, { makeActive: false }), 'CONTROL_INVALID_INPUT');

      // An RSA key beside it stays a KeyObject; a rewrap under a new master key keeps both.
      clock.now += 5;
      await store.addServerKey('sk-rsa', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, { makeActive: true });
      const rewrapped = second(url, new MasterKeyRing({ active: 'm2', keys: { m1: k1, m2: k2 } }), clock, 'cli').store;
      assert.deepEqual(await rewrapped.rewrapAll(), { rewrapped: 2 });
      added = (await second(url, new MasterKeyRing({ active: 'm2', keys: { m2: k2 } }), clock, 'gw-3').store.loadOverlay()).serverKeys.added;
      assert.deepEqual(added[0]!.privateKey, { type: 'sm2', privateKeyHex: pair.privateKeyHex });
      assert.equal((added[1]!.privateKey as KeyObject).asymmetricKeyType, 'rsa');

      await store.retireAddedServerKey('sk-sm');
      added = (await rewrapped.loadOverlay()).serverKeys.added;
      assert.equal(added[0]!.privateKey, undefined);
      assert.equal(sm2PublicKeyFromPem(added[0]!.publicKeyPem), pair.publicKeyHex, 'a retired key keeps its public key (and so its type)');
    });

    test('secrets and private keys are sealed at rest: the raw column holds no plaintext, and another master key cannot open it', async () => {
      const { url, db, store, clock } = await setup();
      const secret = randomBytes(32);
      const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const der = key.export({ type: 'pkcs8', format: 'der' });
      await store.addSecret('app-1', 'adm-1', secret);
      await store.addServerKey('sk-1', key, { makeActive: true });
      const s = await db.selectFrom(CP_TABLES.clientSecrets).select(['secret_ct', 'master_key_id']).executeTakeFirstOrThrow();
      const k = await db.selectFrom(CP_TABLES.serverKeys).select(['private_key_ct']).executeTakeFirstOrThrow();
      assert.ok(s.secret_ct && k.private_key_ct);
      assert.equal(s.master_key_id, 'm1');
      assertNotIn(Buffer.from(s.secret_ct), secret, 'the client secret');
      assertNotIn(Buffer.from(k.private_key_ct), der.subarray(-64), 'the private key');

      // Same master key id, another key: nothing opens (the overlay is refused, not partial).
      const other = second(url, newRing('m1'), clock, 'gw-2');
      await rejectsWith(other.store.loadOverlay(), 'DEVICE_KEY_DECRYPT_FAILED');

      // A ciphertext moved to another row does not open either (the AAD names the row).
      await store.addSecret('app-2', 'adm-9', randomBytes(32));
      await db.updateTable(CP_TABLES.clientSecrets).set({ secret_ct: s.secret_ct }).where('secret_id', '=', 'adm-9').execute();
      await rejectsWith(store.loadOverlay(), 'DEVICE_KEY_DECRYPT_FAILED');
    });

    test('master key rotation: rewrapAll moves every sealed value to the active key; the old key can then go', async () => {
      const k1 = MasterKeyRing.generateKey();
      const k2 = MasterKeyRing.generateKey();
      const oldRing = new MasterKeyRing({ active: 'm1', keys: { m1: k1 } });
      const { url, db, store, clock } = await setup({ ring: oldRing });
      const secret = randomBytes(32);
      const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      await store.addSecret('app-1', 'adm-1', secret);
      await store.addSecret('app-1', 'adm-2', randomBytes(32));
      await store.retireAddedSecret('app-1', 'adm-2');
      await store.addServerKey('sk-1', key, { makeActive: true });
      const version = await store.version();
      const both = second(url, new MasterKeyRing({ active: 'm2', keys: { m1: k1, m2: k2 } }), clock, 'cli').store;
      assert.deepEqual(await both.rewrapAll(), { rewrapped: 2 });
      assert.deepEqual(await both.rewrapAll(), { rewrapped: 0 });
      assert.equal(await store.version(), version, 'a rewrap is not a change');
      const ids = await db.selectFrom(CP_TABLES.clientSecrets).select(['secret_id', 'master_key_id']).orderBy('secret_id').execute();
      assert.deepEqual(ids, [
        { secret_id: 'adm-1', master_key_id: 'm2' },
        { secret_id: 'adm-2', master_key_id: null },
      ]);
      const onlyNew = second(url, new MasterKeyRing({ active: 'm2', keys: { m2: k2 } }), clock, 'gw-3').store;
      const overlay = await onlyNew.loadOverlay();
      assert.deepEqual(Buffer.from(overlay.clients.get('app-1')!.added[0]!.secret!), secret);
      assert.deepEqual((overlay.serverKeys.added[0]!.privateKey as KeyObject).export({ type: 'pkcs8', format: 'der' }), key.export({ type: 'pkcs8', format: 'der' }));
    });

    test('concurrent writers: the same secret added by two instances at once is stored once, the other gets CONTROL_CONFLICT', async () => {
      const { url, store, clock, ring } = await setup();
      const other = second(url, ring, clock, 'gw-2').store;
      const results = await Promise.allSettled([store.addSecret('app-1', 'same', randomBytes(32)), other.addSecret('app-1', 'same', randomBytes(32))]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const failed = results.find((r) => r.status === 'rejected');
      assert.ok(failed && isControlPlaneError(failed.reason, 'CONTROL_CONFLICT'), String(failed && (failed as PromiseRejectedResult).reason));
      assert.equal((await store.loadOverlay()).changeCount, 1, 'the refused one wrote no change row');
    });

    test('a notifier that fails or hangs never fails the mutation; it is told the seq after commit', async () => {
      const url = await target.fresh();
      const db = openControlPlaneDatabase(url);
      open.push(db);
      await migrateControlPlaneDatabase(db);
      const told: number[] = [];
      const failing = new ControlPlaneStore({
        db,
        masterKeys: newRing(),
        now: Date.now,
        origin: 'gw-1',
        notifier: {
          notify: async (v) => {
            told.push(v);
            throw new Error('redis down');
          },
          close: async () => undefined,
        },
      });
      await failing.addSecret('app-1', 'a', randomBytes(32));
      assert.deepEqual(told, [await failing.version()]);
      // A Redis that is not there: the publication gives up within its bound.
      const errors: unknown[] = [];
      const notifier = redisChangeNotifier({ url: `redis://127.0.0.1:${await freePort()}`, channel: 'x', timeoutMs: 300, onError: (e) => errors.push(e) });
      try {
        const store = new ControlPlaneStore({ db, masterKeys: newRing(), now: Date.now, origin: 'gw-2', notifier });
        const started = Date.now();
        await store.retireConfigSecret('app-1', 'cfg');
        assert.ok(Date.now() - started < 3000);
        assert.equal(errors.length, 1);
        assert.equal(await store.version(), 2);
      } finally {
        await notifier.close();
      }
    });

    test('openControlPlane (the CLI helper): migrates, writes changes with origin cli, closes', async () => {
      const url = await target.fresh();
      const cp = await openControlPlane({ url, masterKeys: newRing() });
      try {
        await cp.store.retireConfigSecret('app-1', 'cfg-1');
        const row = await cp.db.selectFrom(CP_TABLES.changes).select(['origin', 'kind']).executeTakeFirstOrThrow();
        assert.deepEqual(row, { origin: 'cli', kind: 'credentials' });
      } finally {
        await cp.close();
      }
    });

    test('admin users: seeded from the config, a change only when something changed; disabled when no longer configured', async () => {
      const { store } = await setup();
      await store.users.seed([
        { user: 'alice', passwordHash: 'scrypt$a' },
        { user: 'bob', passwordHash: 'scrypt$b' },
      ]);
      const v1 = await store.version();
      assert.ok(v1 > 0);
      assert.deepEqual(await store.users.get('alice'), { user: 'alice', passwordHash: 'scrypt$a' });
      await store.users.seed([
        { user: 'alice', passwordHash: 'scrypt$a' },
        { user: 'bob', passwordHash: 'scrypt$b' },
      ]);
      assert.equal(await store.version(), v1, 'the same seed again is no change');
      await store.users.seed([{ user: 'alice', passwordHash: 'scrypt$a2' }]);
      assert.ok((await store.version()) > v1);
      assert.deepEqual(await store.users.get('alice'), { user: 'alice', passwordHash: 'scrypt$a2' });
      assert.equal(await store.users.get('bob'), undefined);
      assert.equal(await store.users.get('nobody'), undefined);
      assert.equal(await store.users.get(''), undefined);
      assert.deepEqual(
        (await store.users.list()).map((u) => [u.user, u.disabledAt !== undefined]),
        [
          ['alice', false],
          ['bob', true],
        ],
      );
    });

    test('sessions: stored under the hash of the token, expire, are pruned and deleted', async () => {
      const { db, store, clock } = await setup();
      const token = randomBytes(32).toString('base64url');
      const csrf = randomBytes(32).toString('base64url');
      await store.sessions.create({ token, user: 'alice', csrf, expiresAt: T0 + 1000 });
      await store.sessions.create({ token: 'other-token', user: 'bob', csrf: 'c2', expiresAt: T0 + 5000 });
      assert.deepEqual(await store.sessions.get(token), { user: 'alice', csrf, expiresAt: T0 + 1000 });
      assert.equal(await store.sessions.get('wrong'), undefined);
      const rows = await db.selectFrom(CP_TABLES.adminSessions).select(['id_hash']).execute();
      assert.ok(rows.every((r) => r.id_hash !== token && /^[0-9a-f]{64}$/.test(r.id_hash)), 'only token hashes are stored');

      assert.equal(await store.sessions.touch(token, T0 + 2000), true);
      clock.now = T0 + 1500;
      assert.equal((await store.sessions.get(token))?.expiresAt, T0 + 2000);
      clock.now = T0 + 2000;
      assert.equal(await store.sessions.get(token), undefined, 'expired at expiresAt');
      assert.equal(await store.sessions.touch(token, T0 + 9000), false, 'an expired session is not revived');
      assert.equal(await store.sessions.prune(), 1);
      assert.equal(await store.sessions.prune(), 0);
      assert.equal((await store.sessions.get('other-token'))?.user, 'bob');
      await store.sessions.delete('other-token');
      assert.equal(await store.sessions.get('other-token'), undefined);
      // Sessions are not changes.
      assert.equal(await store.version(), 0);
    });

    test('login failures are counted across two stores (two instances) within the window, and cleared', async () => {
      const { url, store, clock, ring } = await setup();
      const other = second(url, ring, clock, 'gw-2').store;
      await store.loginFailures.record('10.0.0.1');
      clock.now += 1000;
      await other.loginFailures.record('10.0.0.1');
      await other.loginFailures.record('10.0.0.2');
      assert.equal(await store.loginFailures.count('10.0.0.1', 60_000), 2);
      assert.equal(await other.loginFailures.count('10.0.0.1', 60_000), 2);
      assert.deepEqual(await other.loginFailures.window('10.0.0.1', 60_000), { count: 2, oldestAt: T0 });
      clock.now = T0 + 60_500;
      assert.equal(await store.loginFailures.count('10.0.0.1', 60_000), 1, 'the first failure left the window');
      await other.loginFailures.clear('10.0.0.1');
      assert.equal(await store.loginFailures.count('10.0.0.1', 60_000), 0);
      assert.equal(await store.loginFailures.count('10.0.0.2', 120_000), 1);
      assert.equal(await store.version(), 0);
    });

    test('login failures older than the retention are deleted as new ones are recorded', async () => {
      const { url, db, ring, clock } = await setup();
      const store = new ControlPlaneStore({ db: second(url, ring, clock, 'x').db, masterKeys: ring, now: () => clock.now, origin: 'gw-1', loginFailureRetentionMs: 10_000 });
      await store.loginFailures.record('a');
      clock.now += 20_000;
      await store.loginFailures.record('b');
      const rows = await db.selectFrom(CP_TABLES.loginFailures).select('client').execute();
      assert.deepEqual(rows.map((r) => r.client), ['b']);
    });

    test('audit: one log for every instance, newest first, paged by cursor, filtered by actor and action', async () => {
      const { url, store, clock, ring } = await setup();
      const other = second(url, ring, clock, 'gw-2').store;
      const ids: number[] = [];
      for (let i = 0; i < 25; i++) {
        clock.now = T0 + i * 1000;
        const s = i % 2 === 0 ? store : other;
        ids.push(
          await s.audit.append({
            actor: i % 3 === 0 ? 'alice' : 'bob',
            action: i % 5 === 0 ? 'secret.retire' : 'login',
            outcome: i === 7 ? 'refused' : 'ok',
            client: '10.0.0.9',
            ...(i % 5 === 0 ? { target: `app-${i}`, reason: 'rotation' } : {}),
            ...(i === 10 ? { detail: { keyId: 'app-10', n: 3 } } : {}),
          }),
        );
      }
      assert.deepEqual([...ids].sort((a, b) => a - b), ids, 'ids grow');
      const pages: number[][] = [];
      let before: number | undefined;
      for (;;) {
        const page = await store.audit.query({ limit: 10, ...(before !== undefined ? { before } : {}) });
        pages.push(page.entries.map((e) => e.id));
        if (page.nextCursor === undefined) break;
        before = page.nextCursor;
      }
      assert.deepEqual(pages.map((p) => p.length), [10, 10, 5]);
      assert.deepEqual(pages.flat(), [...ids].reverse());

      const newest = (await store.audit.query({ limit: 1 })).entries[0]!;
      assert.equal(newest.at, new Date(T0 + 24_000).toISOString());
      assert.equal(newest.instance, 'gw-1');
      const ten = (await store.audit.query({ limit: 1, before: ids[11]! })).entries[0]!;
      assert.deepEqual(ten, {
        id: ids[10],
        at: new Date(T0 + 10_000).toISOString(),
        actor: 'bob',
        action: 'secret.retire',
        target: 'app-10',
        reason: 'rotation',
        outcome: 'ok',
        client: '10.0.0.9',
        detail: { keyId: 'app-10', n: 3 },
        instance: 'gw-1',
      });
      const seven = (await other.audit.query({ limit: 1, before: ids[8]! })).entries[0]!;
      assert.equal(seven.outcome, 'refused');
      assert.equal(seven.instance, 'gw-2');
      assert.equal('target' in seven, false);

      const alice = await store.audit.query({ limit: 100, actor: 'alice' });
      assert.deepEqual(alice.entries.map((e) => e.id), ids.filter((_, i) => i % 3 === 0).reverse());
      assert.equal(alice.nextCursor, undefined);
      const retire = await store.audit.query({ limit: 2, action: 'secret.retire' });
      assert.deepEqual(retire.entries.map((e) => e.id), [ids[20], ids[15]]);
      assert.equal(retire.nextCursor, ids[15]);
      const both = await store.audit.query({ limit: 100, actor: 'alice', action: 'secret.retire', before: retire.nextCursor! });
      assert.deepEqual(both.entries.map((e) => e.id), [ids[0]]);
      await rejectsWith(store.audit.query({ limit: 0 }), 'CONTROL_INVALID_INPUT');
      // Over-long text is cut, not refused.
      const id = await store.audit.append({ actor: 'a'.repeat(500), action: 'x', outcome: 'failed', client: 'c', reason: 'r'.repeat(5000) });
      const long = (await store.audit.query({ limit: 1 })).entries[0]!;
      assert.equal(long.id, id);
      assert.equal(long.actor.length, 128);
      assert.equal(long.reason?.length, 1024);
      assert.equal(await store.version(), 0, 'audit entries are not changes');
    });

    test('instances: heartbeats upsert, list honours maxAge, remove and prune', async () => {
      const { store, clock } = await setup();
      await store.instances.heartbeat({ instanceId: 'gw-1', startedAt: T0, version: 3, stalenessMs: 12, stats: { accepted: 5 } });
      clock.now += 4000;
      await store.instances.heartbeat({ instanceId: 'gw-2', startedAt: T0 + 100, version: 2, stalenessMs: -1, stats: { accepted: 1 } });
      assert.deepEqual((await store.instances.list(10_000)).map((i) => i.instanceId), ['gw-1', 'gw-2']);
      assert.deepEqual((await store.instances.list(3_000)).map((i) => i.instanceId), ['gw-2']);
      clock.now += 1000;
      await store.instances.heartbeat({ instanceId: 'gw-1', startedAt: T0, version: 4, stalenessMs: 7, stats: { accepted: 9 } });
      const list = await store.instances.list(3_000);
      assert.deepEqual(list, [
        { instanceId: 'gw-1', startedAt: T0, heartbeatAt: T0 + 5000, version: 4, stalenessMs: 7, stats: { accepted: 9 } },
        { instanceId: 'gw-2', startedAt: T0 + 100, heartbeatAt: T0 + 4000, version: 2, stalenessMs: -1, stats: { accepted: 1 } },
      ]);
      await store.instances.remove('gw-2');
      assert.deepEqual((await store.instances.list(60_000)).map((i) => i.instanceId), ['gw-1']);
      clock.now += 60_000;
      assert.equal(await store.instances.prune(30_000), 1);
      assert.deepEqual(await store.instances.list(10 ** 9), []);
    });

    if (target.hostPort) {
      test('a database that cannot be reached: WXSEAL_KEY_STORE_UNAVAILABLE, quickly', async () => {
        const url = new URL(await target.fresh());
        url.host = `127.0.0.1:${await freePort()}`;
        const db = openControlPlaneDatabase(url.toString(), { connectTimeoutMs: 300, queryTimeoutMs: 500 });
        open.push(db);
        const store = new ControlPlaneStore({ db, masterKeys: newRing(), now: Date.now, origin: 'gw-1' });
        const started = Date.now();
        await rejectsWith(store.version(), 'WXSEAL_KEY_STORE_UNAVAILABLE');
        await rejectsWith(store.addSecret('a', 'b', randomBytes(32)), 'WXSEAL_KEY_STORE_UNAVAILABLE');
        await rejectsWith(migrateControlPlaneDatabase(db), 'WXSEAL_KEY_STORE_UNAVAILABLE');
        assert.ok(Date.now() - started < 5000);
      });
    }

    test('raw SQL sanity: BIGINT columns come back as numbers through toInt', async () => {
      const { db, store } = await setup();
      await store.addSecret('k', 's', randomBytes(16));
      const row = await sql<{ n: unknown }>`select count(*) as n from ${sql.table(CP_TABLES.changes)}`.execute(db);
      assert.equal(Number(row.rows[0]?.n), 1);
    });
  });
}
