// The behaviour suite of the device store, run unchanged against SQLite, PostgreSQL and MariaDB by
// store-sqlite.test.ts, store-postgres.test.ts and store-mariadb.test.ts. Each test gets its own
// empty database (a file, a schema, a database), so tests and parallel runs never share rows.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
export { freePort, silentServer } from './net-helpers.js';
import { sql, type Kysely } from 'kysely';
import { isWxsealError } from '@wxseal/protocol';
import {
  DeviceRepository,
  MasterKeyRing,
  TABLES,
  isDeviceStoreError,
  migrateDeviceDatabase,
  openDeviceDatabase,
  type DeviceChangeKind,
  type DeviceDatabase,
  type DeviceRepositoryOptions,
  type DeviceStoreErrorCode,
  type OpenDeviceDatabaseOptions,
} from '../src/store/index.js';

export interface FreshDatabase {
  url: string;
  /** PostgreSQL: the schema of this database (introspection there lists every schema). */
  schema?: string;
  db: Kysely<DeviceDatabase>;
  /** Every byte an attacker with a copy of the database would get. */
  dump(): Promise<Buffer>;
}

export interface StoreTarget {
  name: string;
  /** A new, empty database (nothing migrated), opened with openDeviceDatabase(url, options). */
  fresh(options?: OpenDeviceDatabaseOptions): Promise<FreshDatabase>;
  /** URLs of this kind that cannot answer: a closed port, a server that never speaks, a missing directory. */
  unreachable(): Promise<string[]>;
  /**
   * A statement that runs for seconds and that the server's own statement timeout does not stop,
   * run on `db`, so the client-side timeout is what ends it. Absent for SQLite (in-process).
   */
  stalledQuery?(db: Kysely<DeviceDatabase>): Promise<unknown>;
  /** Drops whatever fresh() created. */
  cleanup(): Promise<void>;
}

export const T0 = 1_700_000_000_000; // Unix ms, a fixed start for the injected clock

export function newRing(ids: string[] = ['m1']): { ring: MasterKeyRing; keys: Record<string, string> } {
  const keys = Object.fromEntries(ids.map((id) => [id, MasterKeyRing.generateKey()]));
  return { ring: new MasterKeyRing({ active: ids[0] ?? 'm1', keys }), keys };
}

export async function rejectsWith(promise: Promise<unknown>, code: DeviceStoreErrorCode | 'WXSEAL_KEY_STORE_UNAVAILABLE'): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    if (code === 'WXSEAL_KEY_STORE_UNAVAILABLE') assert.ok(isWxsealError(err, code), `expected ${code}, got ${String(err)}`);
    else assert.ok(isDeviceStoreError(err, code), `expected ${code}, got ${(err as { code?: string }).code ?? ''} ${String(err)}`);
    return true;
  });
}

/** The forms a leaked key would take in a dump: raw bytes, hex (both cases), base64, base64url. */
export function secretForms(secret: Buffer): Buffer[] {
  return [
    secret,
    Buffer.from(secret.toString('hex')),
    Buffer.from(secret.toString('hex').toUpperCase()),
    Buffer.from(secret.toString('base64')),
    Buffer.from(secret.toString('base64url')),
  ];
}

export function assertNotInDump(dump: Buffer, secret: Buffer, what: string): void {
  for (const form of secretForms(secret)) assert.equal(dump.indexOf(form), -1, `${what} found in clear in the database dump`);
}

/** Every value of every row of the given tables, as bytes (strings as UTF-8, numbers as decimal). */
export async function dumpTables(db: Kysely<DeviceDatabase>, tables: { schema?: string; name: string }[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const t of tables) {
    const ref = t.schema ? sql.table(`${t.schema}.${t.name}`) : sql.table(t.name);
    const rows = await sql<Record<string, unknown>>`select * from ${ref}`.execute(db);
    for (const row of rows.rows) {
      for (const value of Object.values(row)) {
        if (value === null || value === undefined) continue;
        parts.push(Buffer.isBuffer(value) ? value : value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(String(value)), Buffer.of(0));
      }
    }
  }
  return Buffer.concat(parts);
}

export function defineStoreSuite(target: StoreTarget): void {
  describe(`device store on ${target.name}`, () => {
    const opened: Kysely<DeviceDatabase>[] = [];

    after(async () => {
      for (const db of opened) await db.destroy().catch(() => undefined);
      await target.cleanup();
    });

    interface Setup extends FreshDatabase {
      repo: DeviceRepository;
      ring: MasterKeyRing;
      /** The ring's keys as base64url, to build rings that add or drop keys. */
      ringKeys: Record<string, string>;
      clock: { now: number };
      events: Array<[string, DeviceChangeKind]>;
    }

    async function setup(overrides: Partial<DeviceRepositoryOptions> = {}, ringIds: string[] = ['m1']): Promise<Setup> {
      const fresh = await target.fresh();
      opened.push(fresh.db);
      await migrateDeviceDatabase(fresh.db);
      const { ring, keys: ringKeys } = newRing(ringIds);
      const clock = { now: T0 };
      const events: Array<[string, DeviceChangeKind]> = [];
      const repo = new DeviceRepository({
        db: fresh.db,
        masterKeys: ring,
        now: () => clock.now,
        events: { onChange: (serial, kind) => void events.push([serial, kind]) },
        ...overrides,
      });
      return { ...fresh, repo, ring, ringKeys, clock, events };
    }

    const who = { actor: 'ops:alice', source: '10.0.0.7', reason: 'test' };

    test('migrations run up from an empty database, and a second run applies nothing', async () => {
      const { db, schema } = await target.fresh();
      opened.push(db);
      const ours = async () =>
        (await db.introspection.getTables({ withInternalKyselyTables: true })).filter((t) => schema === undefined || t.schema === schema);
      const before = (await ours()).map((t) => t.name).filter((n) => n.startsWith('wxseal_'));
      assert.deepEqual(before, []);
      assert.deepEqual((await migrateDeviceDatabase(db)).applied, ['0001_initial']);
      const tables = await ours();
      const names = new Set(tables.map((t) => t.name));
      for (const name of [TABLES.products, TABLES.devices, TABLES.audit, TABLES.migration]) assert.ok(names.has(name), `${name} exists`);
      const devices = tables.find((t) => t.name === TABLES.devices);
      assert.deepEqual(
        devices?.columns.map((c) => c.name).sort(),
        ['activated_at', 'current_key_ct', 'key_version', 'master_key_id', 'previous_key_ct', 'previous_key_not_after', 'product_id', 'revoked_at', 'rotated_at', 'serial', 'status', 'updated_at'],
      );
      assert.deepEqual((await migrateDeviceDatabase(db)).applied, []);
      // Two instances starting at once: the migrator's lock makes that safe.
      const again = await Promise.all([migrateDeviceDatabase(db), migrateDeviceDatabase(db)]);
      assert.deepEqual(again.map((r) => r.applied), [[], []]);
    });

    test('products: the secret is returned once and read back decrypted; duplicates and unknown ids are refused', async () => {
      const { repo } = await setup();
      const secret = await repo.createProduct('lamp-v1', who);
      assert.equal(secret.length, 32);
      assert.deepEqual(await repo.getProductSecret('lamp-v1'), secret);
      await rejectsWith(repo.createProduct('lamp-v1', who), 'DEVICE_PRODUCT_EXISTS');
      await rejectsWith(repo.getProductSecret('nope'), 'DEVICE_PRODUCT_NOT_FOUND');
      await rejectsWith(repo.createProduct('bad id!', who), 'DEVICE_INVALID_INPUT');
      assert.deepEqual(await repo.listProducts(), ['lamp-v1']);
    });

    test('activate → load returns the key; unknown serials load as undefined', async () => {
      const { repo, events, clock } = await setup();
      await repo.createProduct('lamp-v1');
      const issued = await repo.activate('SN-0001', 'lamp-v1', who);
      assert.equal(issued.key.length, 32);
      assert.equal(issued.keyVersion, 1);
      assert.equal(issued.reactivated, false);
      const record = await repo.load('SN-0001');
      assert.ok(record);
      assert.deepEqual(record.currentKey, issued.key);
      assert.equal(record.status, 'active');
      assert.equal(record.keyVersion, 1);
      assert.equal(record.updatedAt, clock.now);
      assert.equal(record.previousKey, undefined);
      assert.equal(record.previousKeyNotAfter, undefined);
      assert.equal(await repo.load('SN-9999'), undefined);
      assert.equal(await repo.load('not a key id!'), undefined);
      await rejectsWith(repo.activate('SN-0002', 'no-such-product', who), 'DEVICE_PRODUCT_NOT_FOUND');
      await rejectsWith(repo.activate('bad serial', 'lamp-v1', who), 'DEVICE_INVALID_INPUT');
      await rejectsWith(repo.activate('SN-0003', 'lamp-v1', { actor: '' }), 'DEVICE_INVALID_INPUT');
      assert.deepEqual(events, [['SN-0001', 'activate']]);
      events.length = 0;
      // A key derived by the activation protocol can be given instead of drawn (32 bytes only).
      const derived = randomBytes(32);
      assert.deepEqual((await repo.activate('SN-DERIVED', 'lamp-v1', { ...who, key: derived })).key, derived);
      assert.deepEqual((await repo.load('SN-DERIVED'))?.currentKey, derived);
      await rejectsWith(repo.activate('SN-SHORT', 'lamp-v1', { ...who, key: randomBytes(16) }), 'DEVICE_INVALID_INPUT');
      const rotatedTo = randomBytes(32);
      await repo.rotate('SN-DERIVED', { ...who, graceSeconds: 0, key: rotatedTo });
      assert.deepEqual((await repo.load('SN-DERIVED'))?.currentKey, rotatedTo);
      // Serials are case-sensitive everywhere (MariaDB's default collation would not be).
      const other = await repo.activate('sn-0001', 'lamp-v1', who);
      assert.deepEqual((await repo.load('sn-0001'))?.currentKey, other.key);
      assert.deepEqual((await repo.load('SN-0001'))?.currentKey, issued.key);
    });

    test('re-activation is refused unless allowed, and then issues a new key like a rotation', async () => {
      const { repo, events, clock } = await setup();
      await repo.createProduct('lamp-v1');
      await repo.createProduct('fan-v1');
      const first = await repo.activate('SN-1', 'lamp-v1', who);
      await rejectsWith(repo.activate('SN-1', 'lamp-v1', who), 'DEVICE_ALREADY_ACTIVE');
      assert.deepEqual((await repo.load('SN-1'))?.currentKey, first.key, 'a refused activation changes nothing');
      await rejectsWith(repo.activate('SN-1', 'fan-v1', { ...who, allowReactivation: true }), 'DEVICE_PRODUCT_MISMATCH');

      clock.now += 1000;
      const second = await repo.activate('SN-1', 'lamp-v1', { ...who, allowReactivation: true });
      assert.equal(second.reactivated, true);
      assert.equal(second.keyVersion, 2);
      assert.notDeepEqual(second.key, first.key);
      const record = await repo.load('SN-1');
      assert.deepEqual(record?.currentKey, second.key);
      assert.equal(record?.previousKey, undefined, 'no grace by default: the old key stops at once');

      const third = await repo.activate('SN-1', 'lamp-v1', { ...who, allowReactivation: true, graceSeconds: 60 });
      assert.deepEqual((await repo.load('SN-1'))?.previousKey, second.key, 'with graceSeconds the old key is kept');
      assert.equal(third.previousKeyNotAfter, Math.floor(clock.now / 1000) + 60);

      await repo.revoke('SN-1', who);
      await rejectsWith(repo.activate('SN-1', 'lamp-v1', who), 'DEVICE_REVOKED');
      const revived = await repo.activate('SN-1', 'lamp-v1', { ...who, allowReactivation: true, graceSeconds: 60 });
      const after = await repo.load('SN-1');
      assert.equal(after?.status, 'active');
      assert.deepEqual(after?.currentKey, revived.key);
      assert.equal(after?.previousKey, undefined, 'a revoked key is never revived as a previous key');
      assert.equal((await repo.show('SN-1'))?.revokedAt, undefined);
      assert.deepEqual(
        events.map(([, kind]) => kind),
        ['activate', 'reactivate', 'reactivate', 'revoke', 'reactivate'],
      );
    });

    test('rotate: both keys during the grace period (inclusive), only the new one after', async () => {
      const { repo, clock, events } = await setup();
      await repo.createProduct('lamp-v1');
      const v1 = await repo.activate('SN-R', 'lamp-v1', who);
      clock.now = T0 + 5_500;
      const v2 = await repo.rotate('SN-R', { ...who, graceSeconds: 600 });
      const notAfter = Math.floor((T0 + 5_500) / 1000) + 600;
      assert.equal(v2.keyVersion, 2);
      assert.equal(v2.previousKeyNotAfter, notAfter);

      let record = await repo.load('SN-R');
      assert.deepEqual(record?.currentKey, v2.key);
      assert.deepEqual(record?.previousKey, v1.key);
      assert.equal(record?.previousKeyNotAfter, notAfter);
      assert.equal(record?.keyVersion, 2);

      clock.now = notAfter * 1000 + 999; // the last millisecond of the last valid second
      record = await repo.load('SN-R');
      assert.deepEqual(record?.previousKey, v1.key);

      clock.now = (notAfter + 1) * 1000;
      record = await repo.load('SN-R');
      assert.deepEqual(record?.currentKey, v2.key);
      assert.equal(record?.previousKey, undefined);
      assert.equal(record?.previousKeyNotAfter, undefined);

      // Another rotation replaces the previous key; graceSeconds 0 keeps none.
      const v3 = await repo.rotate('SN-R', { ...who, graceSeconds: 60 });
      assert.deepEqual((await repo.load('SN-R'))?.previousKey, v2.key);
      const v4 = await repo.rotate('SN-R', { ...who, graceSeconds: 0 });
      record = await repo.load('SN-R');
      assert.deepEqual(record?.currentKey, v4.key);
      assert.equal(record?.previousKey, undefined);
      assert.equal(record?.keyVersion, 4);
      assert.notDeepEqual(v3.key, v4.key);
      assert.equal((await repo.show('SN-R'))?.rotatedAt, clock.now);

      await rejectsWith(repo.rotate('SN-NONE', { ...who, graceSeconds: 60 }), 'DEVICE_NOT_FOUND');
      await rejectsWith(repo.rotate('SN-R', { ...who, graceSeconds: -1 }), 'DEVICE_INVALID_INPUT');
      await rejectsWith(repo.rotate('SN-R', { ...who, graceSeconds: 1.5 }), 'DEVICE_INVALID_INPUT');
      assert.deepEqual(events.filter(([, k]) => k === 'rotate').length, 3);
    });

    test('revoke: load reports revoked, the previous key is dropped, rotation and a second revoke are refused', async () => {
      const { repo, clock, events } = await setup();
      await repo.createProduct('lamp-v1');
      await repo.activate('SN-X', 'lamp-v1', who);
      await repo.rotate('SN-X', { ...who, graceSeconds: 3600 });
      clock.now += 1000;
      const info = await repo.revoke('SN-X', { actor: 'ops:bob', reason: 'key leaked' });
      assert.equal(info.status, 'revoked');
      assert.equal(info.revokedAt, clock.now);
      const record = await repo.load('SN-X');
      assert.equal(record?.status, 'revoked');
      assert.equal(record?.previousKey, undefined);
      await rejectsWith(repo.rotate('SN-X', { ...who, graceSeconds: 0 }), 'DEVICE_REVOKED');
      await rejectsWith(repo.revoke('SN-X', who), 'DEVICE_REVOKED');
      await rejectsWith(repo.revoke('SN-NONE', who), 'DEVICE_NOT_FOUND');
      assert.deepEqual(events.at(-1), ['SN-X', 'revoke']);
    });

    test('show and list return metadata only, never a key', async () => {
      const { repo, clock } = await setup();
      await repo.createProduct('lamp-v1');
      await repo.createProduct('fan-v1');
      const keys: Buffer[] = [];
      for (let i = 0; i < 7; i++) {
        keys.push((await repo.activate(`SN-L${i}`, i % 2 === 0 ? 'lamp-v1' : 'fan-v1', who)).key);
      }
      keys.push((await repo.rotate('SN-L0', { ...who, graceSeconds: 60 })).key);
      await repo.revoke('SN-L1', who);

      const shown = await repo.show('SN-L0');
      assert.deepEqual(shown, {
        serial: 'SN-L0',
        productId: 'lamp-v1',
        status: 'active',
        keyVersion: 2,
        masterKeyId: 'm1',
        previousKeyNotAfter: Math.floor(clock.now / 1000) + 60,
        activatedAt: T0,
        rotatedAt: T0,
        updatedAt: T0,
      });
      assert.equal(await repo.show('SN-NONE'), undefined);

      const all: string[] = [];
      let cursor: string | undefined;
      const pages = [];
      do {
        const page = await repo.list({ limit: 3, ...(cursor !== undefined ? { cursor } : {}) });
        pages.push(page);
        all.push(...page.devices.map((d) => d.serial));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      assert.deepEqual(all, ['SN-L0', 'SN-L1', 'SN-L2', 'SN-L3', 'SN-L4', 'SN-L5', 'SN-L6']);
      assert.equal(pages.length, 3);
      assert.deepEqual((await repo.list({ productId: 'fan-v1' })).devices.map((d) => d.serial), ['SN-L1', 'SN-L3', 'SN-L5']);
      assert.deepEqual((await repo.list({ status: 'revoked' })).devices.map((d) => d.serial), ['SN-L1']);
      assert.deepEqual((await repo.list({ productId: 'fan-v1', status: 'active' })).devices.map((d) => d.serial), ['SN-L3', 'SN-L5']);
      await rejectsWith(repo.list({ cursor: '!!' }), 'DEVICE_INVALID_INPUT');
      // A serial prefix is a range on the serial index, pageable with the cursor.
      await repo.activate('SN-L', 'lamp-v1', who);
      await repo.activate('SN-M0', 'lamp-v1', who);
      assert.deepEqual((await repo.list({ serialPrefix: 'SN-L' })).devices.map((d) => d.serial), ['SN-L', 'SN-L0', 'SN-L1', 'SN-L2', 'SN-L3', 'SN-L4', 'SN-L5', 'SN-L6']);
      assert.deepEqual((await repo.list({ serialPrefix: 'SN-L5' })).devices.map((d) => d.serial), ['SN-L5']);
      assert.deepEqual((await repo.list({ serialPrefix: 'sn-l' })).devices, []);
      const first = await repo.list({ serialPrefix: 'SN-L', status: 'active', limit: 4 });
      assert.deepEqual(first.devices.map((d) => d.serial), ['SN-L', 'SN-L0', 'SN-L2', 'SN-L3']);
      const second = await repo.list({ serialPrefix: 'SN-L', status: 'active', limit: 4, cursor: first.nextCursor! });
      assert.deepEqual(second.devices.map((d) => d.serial), ['SN-L4', 'SN-L5', 'SN-L6']);
      assert.equal(second.nextCursor, undefined);
      await rejectsWith(repo.list({ serialPrefix: 'SN L' }), 'DEVICE_INVALID_INPUT');

      const everything = JSON.stringify([shown, pages, await repo.audit('SN-L0'), await repo.auditLog()]);
      for (const key of keys) {
        for (const form of secretForms(key)) assert.ok(!everything.includes(form.toString('latin1')), 'no key form in show/list/audit');
      }
      for (const page of pages) {
        for (const device of page.devices) {
          for (const value of Object.values(device)) assert.ok(!Buffer.isBuffer(value), 'no bytes in metadata');
        }
      }
    });

    test('importMany: per-row results in input order, good rows stored, bad rows reported, progress per batch', async () => {
      const { repo, events } = await setup();
      await repo.createProduct('lamp-v1');
      await repo.activate('SN-EXISTING', 'lamp-v1', who);
      const given = randomBytes(32);
      const givenText = randomBytes(32);
      const progress: Array<{ processed: number; imported: number; failed: number; total?: number }> = [];
      const summary = await repo.importMany(
        [
          { serial: 'SN-I0', productId: 'lamp-v1' }, // 0 ok, generated
          { serial: 'SN-I1', productId: 'lamp-v1', key: given }, // 1 ok, given bytes
          { serial: 'bad serial', productId: 'lamp-v1' }, // 2 DEVICE_INVALID_INPUT
          { serial: 'SN-I3', productId: 'ghost' }, // 3 DEVICE_PRODUCT_NOT_FOUND
          { serial: 'SN-I0', productId: 'lamp-v1' }, // 4 DEVICE_EXISTS (twice in input)
          { serial: 'SN-EXISTING', productId: 'lamp-v1' }, // 5 DEVICE_EXISTS (already provisioned)
          { serial: 'SN-I6', productId: 'lamp-v1', key: randomBytes(16) }, // 6 DEVICE_INVALID_INPUT (key length)
          { serial: 'SN-I7', productId: 'lamp-v1', key: given }, // 7 DEVICE_DUPLICATE_KEY
          { serial: 'SN-I8', productId: 'lamp-v1', key: givenText.toString('base64url') }, // 8 ok, base64url
          { serial: 'SN-I9', productId: 'lamp-v1' }, // 9 ok
        ],
        { actor: 'factory:line-3', source: 'import.csv', batchSize: 2, onProgress: (p) => void progress.push(p) },
      );
      assert.equal(summary.imported, 4);
      assert.equal(summary.failed, 6);
      assert.deepEqual(
        summary.results.map((r) => (r.ok ? 'ok' : r.code)),
        ['ok', 'ok', 'DEVICE_INVALID_INPUT', 'DEVICE_PRODUCT_NOT_FOUND', 'DEVICE_EXISTS', 'DEVICE_EXISTS', 'DEVICE_INVALID_INPUT', 'DEVICE_DUPLICATE_KEY', 'ok', 'ok'],
      );
      assert.deepEqual(summary.results.map((r) => r.index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const r0 = summary.results[0];
      const r1 = summary.results[1];
      assert.ok(r0?.ok && r0.key && r0.key.length === 32, 'a generated key is returned');
      assert.ok(r1?.ok && r1.key === undefined, 'a given key is not echoed');
      assert.deepEqual((await repo.load('SN-I0'))?.currentKey, r0.key);
      assert.deepEqual((await repo.load('SN-I1'))?.currentKey, given);
      assert.deepEqual((await repo.load('SN-I8'))?.currentKey, givenText);
      assert.ok(await repo.load('SN-I9'));
      assert.equal(await repo.load('SN-I3'), undefined);
      assert.equal(await repo.load('SN-I7'), undefined);
      assert.ok(progress.length >= 2, 'progress after each batch');
      assert.deepEqual(progress.at(-1), { processed: 10, imported: 4, failed: 6, total: 10 });
      for (let i = 1; i < progress.length; i++) assert.ok((progress[i]?.processed ?? 0) >= (progress[i - 1]?.processed ?? 0));
      assert.deepEqual(
        events.filter(([, k]) => k === 'import').map(([s]) => s),
        ['SN-I0', 'SN-I1', 'SN-I8', 'SN-I9'],
      );
      // Async iterables work too (streamed CSV).
      async function* stream() {
        yield { serial: 'SN-S1', productId: 'lamp-v1' };
        yield { serial: 'SN-S2', productId: 'lamp-v1' };
      }
      const streamed = await repo.importMany(stream(), { actor: 'factory:line-3' });
      assert.equal(streamed.imported, 2);
      // The last report counts every row, even when the last rows are all bad.
      const last: number[] = [];
      await repo.importMany([{ serial: 'SN-T1', productId: 'lamp-v1' }, { serial: 'bad serial', productId: 'lamp-v1' }], {
        actor: 't',
        batchSize: 1,
        onProgress: (p) => void last.push(p.processed),
      });
      assert.deepEqual(last, [1, 2]);
    });

    test('importMany: when the database fails mid-way, stored rows are reported stored and the rest DEVICE_STORE_UNAVAILABLE', async () => {
      const { repo, url, ring } = await setup();
      await repo.createProduct('lamp-v1');
      // A second handle on the same database, closed after the first batch (the "outage").
      const doomed = openDeviceDatabase(url);
      opened.push(doomed);
      const importer = new DeviceRepository({ db: doomed, masterKeys: ring });
      const rows = Array.from({ length: 6 }, (_, i) => ({ serial: `SN-O${i}`, productId: 'lamp-v1' }));
      const summary = await importer.importMany(rows, {
        actor: 't',
        batchSize: 2,
        onProgress: (p) => {
          if (p.processed === 2) void doomed.destroy();
        },
      });
      assert.deepEqual(
        summary.results.map((r) => (r.ok ? 'ok' : r.code)),
        ['ok', 'ok', 'DEVICE_STORE_UNAVAILABLE', 'DEVICE_STORE_UNAVAILABLE', 'DEVICE_STORE_UNAVAILABLE', 'DEVICE_STORE_UNAVAILABLE'],
      );
      assert.equal(summary.imported + summary.failed, rows.length, 'every row has a result');
      // Exactly the rows reported stored are in the database, with the keys that were returned.
      for (const r of summary.results) {
        const record = await repo.load(r.serial);
        if (r.ok) assert.deepEqual(record?.currentKey, r.key);
        else assert.equal(record, undefined);
      }
      // Running the import again with the failed rows finishes the job.
      const retry = await repo.importMany(rows.filter((_, i) => !summary.results[i]?.ok), { actor: 't' });
      assert.equal(retry.imported, 4);
    });

    test('every change writes its audit row (action, actor, source, reason, key version)', async () => {
      const { repo, clock } = await setup();
      await repo.createProduct('lamp-v1', { actor: 'ops:carol', reason: 'new product line' });
      await repo.activate('SN-A', 'lamp-v1', { actor: 'activation-service', source: '203.0.113.9' });
      clock.now += 1;
      await repo.rotate('SN-A', { actor: 'ops:alice', source: '10.0.0.7', reason: 'scheduled', graceSeconds: 60 });
      clock.now += 1;
      await repo.activate('SN-A', 'lamp-v1', { actor: 'activation-service', allowReactivation: true, reason: 'factory reset' });
      clock.now += 1;
      await repo.revoke('SN-A', { actor: 'ops:bob', reason: '设备丢失' });
      await repo.importMany([{ serial: 'SN-B', productId: 'lamp-v1' }], { actor: 'factory', source: 'batch-7.csv' });
      // Refusals change nothing and write nothing.
      await rejectsWith(repo.rotate('SN-A', { actor: 'x', graceSeconds: 0 }), 'DEVICE_REVOKED');

      const trail = await repo.audit('SN-A');
      assert.deepEqual(
        trail.map(({ action, actor, source, reason, keyVersion, at }) => ({ action, actor, source, reason, keyVersion, at })),
        [
          { action: 'activate', actor: 'activation-service', source: '203.0.113.9', reason: undefined, keyVersion: 1, at: T0 },
          { action: 'rotate', actor: 'ops:alice', source: '10.0.0.7', reason: 'scheduled', keyVersion: 2, at: T0 + 1 },
          { action: 'reactivate', actor: 'activation-service', source: undefined, reason: 'factory reset', keyVersion: 3, at: T0 + 2 },
          { action: 'revoke', actor: 'ops:bob', source: undefined, reason: '设备丢失', keyVersion: 3, at: T0 + 3 },
        ],
      );
      assert.ok(trail.every((e) => e.productId === 'lamp-v1' && e.serial === 'SN-A'));
      assert.deepEqual((await repo.audit('SN-B')).map((e) => [e.action, e.actor, e.source]), [['import', 'factory', 'batch-7.csv']]);
      const log = await repo.auditLog({ limit: 100 });
      assert.deepEqual(log.map((e) => e.action), ['create_product', 'activate', 'rotate', 'reactivate', 'revoke', 'import']);
      assert.equal(log[0]?.productId, 'lamp-v1');
      assert.equal(log[0]?.reason, 'new product line');
      const page2 = await repo.auditLog({ afterId: log[2]?.id ?? 0, limit: 2 });
      assert.deepEqual(page2.map((e) => e.action), ['reactivate', 'revoke']);
    });

    test('serials() streams every provisioned serial in pages (active and revoked)', async () => {
      const { repo, db, ring } = await setup();
      await repo.createProduct('lamp-v1');
      const serials = Array.from({ length: 8 }, (_, i) => `SN-P${i}`);
      await repo.importMany(serials.map((serial) => ({ serial, productId: 'lamp-v1' })), { actor: 't' });
      await repo.revoke('SN-P3', who);
      const paged = new DeviceRepository({ db, masterKeys: ring, pageSize: 3 });
      const seen: string[] = [];
      for await (const s of paged.serials()) seen.push(s);
      assert.deepEqual(seen, serials);
      const empty = await setup();
      const none: string[] = [];
      for await (const s of empty.repo.serials()) none.push(s);
      assert.deepEqual(none, []);
    });

    test('a copy of the database holds no device key or product secret in clear', async () => {
      const { repo, dump, db } = await setup();
      const secrets: Array<[string, Buffer]> = [];
      secrets.push(['product secret', await repo.createProduct('lamp-v1')]);
      for (let i = 0; i < 5; i++) secrets.push([`key of SN-D${i}`, (await repo.activate(`SN-D${i}`, 'lamp-v1', who)).key]);
      secrets.push(['rotated key', (await repo.rotate('SN-D0', { ...who, graceSeconds: 3600 })).key]);
      const imported = await repo.importMany([{ serial: 'SN-D9', productId: 'lamp-v1', key: randomBytes(32) }, { serial: 'SN-D8', productId: 'lamp-v1' }], { actor: 't' });
      const generated = imported.results[1];
      assert.ok(generated?.ok && generated.key);
      secrets.push(['imported key', generated.key]);
      const given = (await repo.load('SN-D9'))?.currentKey;
      assert.ok(given);
      secrets.push(['given key', given]);
      await repo.revoke('SN-D1', who);

      const bytes = await dump();
      assert.ok(bytes.length > 0);
      assert.notEqual(bytes.indexOf(Buffer.from('SN-D0')), -1, 'the dump does hold the rows (serials are not secret)');
      for (const [what, secret] of secrets) assertNotInDump(bytes, secret, what);
      // And the search would have found a key stored in clear.
      await sql`update ${sql.table(TABLES.audit)} set reason = ${secrets[1]?.[1].toString('base64url')} where action = 'revoke'`.execute(db);
      const planted = await dump();
      assert.throws(() => assertNotInDump(planted, secrets[1]?.[1] ?? Buffer.alloc(0), 'planted'));
    });

    test('master key rotation: rewrapAll moves every row to the new key, resumably; the old key is then not needed', async () => {
      const { db, repo: r1, ringKeys, clock } = await setup({}, ['m1']);
      const m1 = ringKeys['m1'] ?? '';
      const m2 = MasterKeyRing.generateKey();
      const oldRing = new MasterKeyRing({ active: 'm1', keys: { m1 } });
      const productSecret = await r1.createProduct('lamp-v1');
      const second = await r1.createProduct('fan-v1');
      const keys = new Map<string, Buffer>();
      for (let i = 0; i < 7; i++) keys.set(`SN-M${i}`, (await r1.activate(`SN-M${i}`, i < 4 ? 'lamp-v1' : 'fan-v1', who)).key);
      const old0 = keys.get('SN-M0');
      keys.set('SN-M0', (await r1.rotate('SN-M0', { ...who, graceSeconds: 3600 })).key);
      await r1.revoke('SN-M6', who);

      const bothRing = new MasterKeyRing({ active: 'm2', keys: { m1, m2 } });
      const r2 = new DeviceRepository({ db, masterKeys: bothRing, now: () => clock.now });
      // Interrupted after the first device batch...
      let batches = 0;
      await assert.rejects(
        r2.rewrapAll('m2', {
          actor: 'ops:keys',
          batchSize: 3,
          onProgress: (p) => {
            if (p.devices > 0 && ++batches === 1) throw new Error('killed');
          },
        }),
        /killed/,
      );
      const partial = (await r2.list({ limit: 100 })).devices.filter((d) => d.masterKeyId === 'm2').length;
      assert.ok(partial > 0 && partial < 7, `some rows moved (${partial})`);
      // ...and resumed: only the rest is done.
      const summary = await r2.rewrapAll('m2', { actor: 'ops:keys', batchSize: 3 });
      assert.deepEqual(summary.failures, []);
      assert.equal(summary.products, 0);
      assert.equal(summary.devices, 7 - partial);
      assert.ok((await r2.list({ limit: 100 })).devices.every((d) => d.masterKeyId === 'm2'));
      // Idempotent.
      assert.deepEqual(await r2.rewrapAll('m2'), { masterKeyId: 'm2', products: 0, devices: 0, failures: [] });
      const rewraps = (await r2.auditLog({ limit: 100 })).filter((e) => e.action === 'rewrap');
      assert.ok(rewraps.length >= 3 && rewraps.every((e) => e.actor === 'ops:keys' && e.serial === undefined));

      // Only m2 is needed now: every key and secret decrypts without m1...
      const newOnly = new DeviceRepository({ db, masterKeys: new MasterKeyRing({ active: 'm2', keys: { m2 } }), now: () => clock.now });
      assert.deepEqual(await newOnly.getProductSecret('lamp-v1'), productSecret);
      assert.deepEqual(await newOnly.getProductSecret('fan-v1'), second);
      for (const [serial, key] of keys) assert.deepEqual((await newOnly.load(serial))?.currentKey, key, serial);
      assert.deepEqual((await newOnly.load('SN-M0'))?.previousKey, old0, 'the previous key is rewrapped too');
      assert.equal((await newOnly.load('SN-M6'))?.status, 'revoked');
      // ...and nothing decrypts with m1 alone any more.
      const oldOnly = new DeviceRepository({ db, masterKeys: oldRing, now: () => clock.now });
      await rejectsWith(oldOnly.load('SN-M1'), 'DEVICE_MASTER_KEY_UNKNOWN');
      await rejectsWith(oldOnly.getProductSecret('lamp-v1'), 'DEVICE_MASTER_KEY_UNKNOWN');
      // A row stays readable as long as its own master key is in the ring.
      await rejectsWith(r2.rewrapAll('m9'), 'DEVICE_MASTER_KEY_UNKNOWN');
    });

    test('a ciphertext moved to another row or column does not decrypt', async () => {
      const { repo, db, clock, ringKeys } = await setup();
      await repo.createProduct('lamp-v1');
      await repo.createProduct('fan-v1');
      await repo.activate('SN-A', 'lamp-v1', who);
      await repo.activate('SN-B', 'lamp-v1', who);
      await repo.activate('SN-C', 'lamp-v1', who);
      await repo.rotate('SN-C', { ...who, graceSeconds: 3600 });
      await repo.activate('SN-D', 'lamp-v1', who);

      const devices = sql.table(TABLES.devices);
      const a = await sql<{ current_key_ct: Buffer }>`select current_key_ct from ${devices} where serial = 'SN-A'`.execute(db);
      const aCt = a.rows[0]?.current_key_ct;
      assert.ok(aCt);
      // A's current key copied onto B (same key version, same master key): B does not load.
      await sql`update ${devices} set current_key_ct = ${aCt} where serial = 'SN-B'`.execute(db);
      await rejectsWith(repo.load('SN-B'), 'DEVICE_KEY_DECRYPT_FAILED');
      assert.ok(await repo.load('SN-A'), 'the original row still loads');
      // C's current key copied into its own previous-key column: does not load either.
      const c = await sql<{ current_key_ct: Buffer }>`select current_key_ct from ${devices} where serial = 'SN-C'`.execute(db);
      await sql`update ${devices} set previous_key_ct = ${c.rows[0]?.current_key_ct} where serial = 'SN-C'`.execute(db);
      await rejectsWith(repo.load('SN-C'), 'DEVICE_KEY_DECRYPT_FAILED');
      // A's row with its key version changed (an old ciphertext replayed at another version).
      await sql`update ${devices} set key_version = 5 where serial = 'SN-A'`.execute(db);
      await rejectsWith(repo.load('SN-A'), 'DEVICE_KEY_DECRYPT_FAILED');
      // One product's secret copied onto another product.
      const products = sql.table(TABLES.products);
      const p = await sql<{ secret_ct: Buffer }>`select secret_ct from ${products} where product_id = 'lamp-v1'`.execute(db);
      await sql`update ${products} set secret_ct = ${p.rows[0]?.secret_ct} where product_id = 'fan-v1'`.execute(db);
      await rejectsWith(repo.getProductSecret('fan-v1'), 'DEVICE_KEY_DECRYPT_FAILED');
      // A device key copied into the product table.
      await sql`update ${products} set secret_ct = ${aCt} where product_id = 'lamp-v1'`.execute(db);
      await rejectsWith(repo.getProductSecret('lamp-v1'), 'DEVICE_KEY_DECRYPT_FAILED');
      // Tampered rows are reported by rewrapAll and left as they are; the others move on.
      const both = new MasterKeyRing({ active: 'm2', keys: { ...ringKeys, m2: MasterKeyRing.generateKey() } });
      const r2 = new DeviceRepository({ db, masterKeys: both, now: () => clock.now });
      const summary = await r2.rewrapAll('m2');
      assert.deepEqual(
        summary.failures.map((f) => `${f.table}:${f.id}:${f.code}`).sort(),
        [
          'devices:SN-A:DEVICE_KEY_DECRYPT_FAILED',
          'devices:SN-B:DEVICE_KEY_DECRYPT_FAILED',
          'devices:SN-C:DEVICE_KEY_DECRYPT_FAILED',
          'products:fan-v1:DEVICE_KEY_DECRYPT_FAILED',
          'products:lamp-v1:DEVICE_KEY_DECRYPT_FAILED',
        ],
      );
      assert.equal(summary.devices, 1);
      assert.equal((await r2.show('SN-D'))?.masterKeyId, 'm2');
      assert.equal((await r2.show('SN-A'))?.masterKeyId, 'm1');
    });

    test('concurrent writers: one activation of a serial wins; concurrent rotations never lose an update', async () => {
      const { repo } = await setup();
      await repo.createProduct('lamp-v1');
      const racers = await Promise.allSettled(Array.from({ length: 5 }, () => repo.activate('SN-RACE', 'lamp-v1', who)));
      const won = racers.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1);
      for (const r of racers) {
        if (r.status === 'rejected') assert.ok(isDeviceStoreError(r.reason, 'DEVICE_ALREADY_ACTIVE'), String(r.reason));
      }
      const rotations = await Promise.allSettled(Array.from({ length: 4 }, () => repo.rotate('SN-RACE', { ...who, graceSeconds: 60 })));
      const done = rotations.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      for (const r of rotations) {
        if (r.status === 'rejected') assert.ok(isDeviceStoreError(r.reason, 'DEVICE_CONCURRENT_MODIFICATION'), String(r.reason));
      }
      assert.ok(done.length >= 1);
      const latest = done.reduce((a, b) => (a.keyVersion > b.keyVersion ? a : b));
      const record = await repo.load('SN-RACE');
      assert.equal(record?.keyVersion, 1 + done.length, 'every successful rotation counted once');
      assert.deepEqual(record?.currentKey, latest.key, 'the key of the last rotation is current');
      assert.equal((await repo.audit('SN-RACE')).length, 1 + done.length);
    });

    test('a failing change hook never fails a committed change', async () => {
      const errors: unknown[] = [];
      const { repo } = await setup({
        events: {
          onChange: async () => {
            throw new Error('redis down');
          },
          onError: (err) => void errors.push(err),
        },
      });
      await repo.createProduct('lamp-v1');
      const issued = await repo.activate('SN-H', 'lamp-v1', who);
      assert.deepEqual((await repo.load('SN-H'))?.currentKey, issued.key);
      assert.equal(errors.length, 1);
      const seen: string[] = [];
      const unsubscribe = repo.subscribe({ onChange: (serial, kind) => void seen.push(`${serial}:${kind}`) });
      await repo.rotate('SN-H', { ...who, graceSeconds: 0 });
      unsubscribe();
      await repo.revoke('SN-H', who);
      assert.deepEqual(seen, ['SN-H:rotate']);
    });

    test('an unreachable database rejects with WXSEAL_KEY_STORE_UNAVAILABLE within the timeout', async () => {
      const { ring } = newRing();
      for (const url of await target.unreachable()) {
        const db = openDeviceDatabase(url, { connectTimeoutMs: 250, queryTimeoutMs: 250 });
        opened.push(db);
        const repo = new DeviceRepository({ db, masterKeys: ring });
        const started = Date.now();
        await rejectsWith(repo.load('SN-1'), 'WXSEAL_KEY_STORE_UNAVAILABLE');
        await rejectsWith(repo.activate('SN-1', 'p', who), 'WXSEAL_KEY_STORE_UNAVAILABLE');
        await rejectsWith(migrateDeviceDatabase(db), 'WXSEAL_KEY_STORE_UNAVAILABLE');
        const iterator = repo.serials()[Symbol.asyncIterator]();
        await rejectsWith(iterator.next(), 'WXSEAL_KEY_STORE_UNAVAILABLE');
        // A bulk import reports every row instead of throwing, and stops after the first failure.
        const summary = await repo.importMany(
          [
            { serial: 'SN-1', productId: 'p' },
            { serial: 'SN-2', productId: 'p' },
          ],
          { actor: 't', batchSize: 1 },
        );
        assert.deepEqual(
          summary.results.map((r) => (r.ok ? 'ok' : r.code)),
          ['DEVICE_STORE_UNAVAILABLE', 'DEVICE_STORE_UNAVAILABLE'],
        );
        const second = summary.results[1];
        assert.ok(second && !second.ok && /not attempted/.test(second.message));
        const elapsed = Date.now() - started;
        // Five calls, each bounded by connect (250 ms) + query (250 ms) + 250 ms; a hang would never end.
        assert.ok(elapsed < 5 * 750 + 2000, `${url}: rejected after ${elapsed} ms`);
      }
    });

    if (target.stalledQuery) {
      const stalled = target.stalledQuery;
      test('a statement that does not return is cut off by the query timeout, and the pool recovers', async () => {
        const { db } = await target.fresh({ queryTimeoutMs: 500 });
        opened.push(db);
        await migrateDeviceDatabase(db);
        const started = Date.now();
        await rejectsWith(stalled(db), 'WXSEAL_KEY_STORE_UNAVAILABLE');
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 2500, `cut off after ${elapsed} ms`);
        const { ring } = newRing();
        const repo = new DeviceRepository({ db, masterKeys: ring });
        await repo.createProduct('lamp-v1');
        assert.ok((await repo.activate('SN-AFTER', 'lamp-v1', who)).key);
      });
    }
  });
}

/**
 * Checks a database server once; every test that needs it then FAILS with the same clear message
 * (a failing hook would only cancel them, and a missing service must never look like a skip).
 */
export function reachableOnce(name: string, url: string, check: () => Promise<unknown>): () => Promise<void> {
  let reachable: Promise<void> | undefined;
  return () =>
    (reachable ??= check().then(
      () => undefined,
      (err: unknown) => {
        throw new Error(
          `${name} is not reachable at ${url} (${(err as Error).message}). ` +
            `Start it with \`npm run services\`; the ${name} store tests fail rather than skip.`,
        );
      },
    ));
}
