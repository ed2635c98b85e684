// MasterKeyRing (encryption at rest) and openDeviceDatabase's configuration checks: no database needed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import { isWxsealError } from '@wxseal/protocol';
import {
  MASTER_KEYS_ENV,
  MASTER_KEY_FILE_ENV,
  MasterKeyRing,
  detectDialect,
  deviceDatabaseInfo,
  isDeviceStoreError,
  openDeviceDatabase,
  type SealContext,
} from '../src/store/index.js';

const k1 = MasterKeyRing.generateKey();
const k2 = MasterKeyRing.generateKey();
const config = (fn: () => unknown): void => {
  assert.throws(fn, (err: unknown) => isWxsealError(err, 'WXSEAL_CONFIG_INVALID'));
};

describe('MasterKeyRing', () => {
  test('generated keys are 32 random bytes in base64url', () => {
    assert.match(k1, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(k1, 'base64url').length, 32);
    assert.notEqual(k1, k2);
  });

  test('compact form: the first entry is active; JSON form names it', () => {
    const compact = MasterKeyRing.parse(`# rotated 2025-01\nm2:${k2}\nm1:${k1}\n`);
    assert.equal(compact.activeId, 'm2');
    assert.deepEqual(compact.ids, ['m2', 'm1']);
    assert.equal(MasterKeyRing.parse(`m1:${k1},m2:${k2}`).activeId, 'm1');
    const json = MasterKeyRing.parse(JSON.stringify({ active: 'm2', keys: { m1: k1, m2: k2 } }));
    assert.equal(json.activeId, 'm2');
    assert.ok(json.has('m1') && json.has('m2') && !json.has('m3'));
  });

  test('fromEnv reads the inline variable or the key file, not both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxseal-mk-'));
    try {
      const file = join(dir, 'master.keys');
      writeFileSync(file, `m9:${k1}\n`, { mode: 0o600 });
      assert.equal(MasterKeyRing.fromEnv({ [MASTER_KEYS_ENV]: `m1:${k1}` }).activeId, 'm1');
      assert.equal(MasterKeyRing.fromEnv({ [MASTER_KEY_FILE_ENV]: file }).activeId, 'm9');
      config(() => MasterKeyRing.fromEnv({}));
      config(() => MasterKeyRing.fromEnv({ [MASTER_KEYS_ENV]: `m1:${k1}`, [MASTER_KEY_FILE_ENV]: file }));
      config(() => MasterKeyRing.fromFile(join(dir, 'missing')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad rings are refused', () => {
    config(() => MasterKeyRing.parse(''));
    config(() => MasterKeyRing.parse(`m1:${k1.slice(0, 40)}`)); // not 32 bytes
    config(() => MasterKeyRing.parse(`m1:${k1}=`)); // padding: not canonical base64url
    config(() => MasterKeyRing.parse(`m1:${k1},m1:${k2}`)); // id twice
    config(() => MasterKeyRing.parse(`m1:${k1},m2:${k1}`)); // same key twice
    config(() => MasterKeyRing.parse(`bad id:${k1}`));
    config(() => MasterKeyRing.parse(k1)); // no id
    config(() => MasterKeyRing.parse('{"active":"m3","keys":{}}'));
    config(() => new MasterKeyRing({ active: 'm3', keys: { m1: k1 } }));
    config(() => new MasterKeyRing({ active: 'm1', keys: { m1: randomBytes(16) } }));
  });

  test('the keys never show in inspect() or JSON', () => {
    const ring = new MasterKeyRing({ active: 'm1', keys: { m1: k1, m2: k2 } });
    const shown = inspect(ring, { depth: 5, showHidden: true }) + JSON.stringify(ring);
    for (const k of [k1, k2]) {
      assert.ok(!shown.includes(k));
      assert.ok(!shown.includes(Buffer.from(k, 'base64url').toString('hex')));
    }
  });

  test('a sealed value opens only in its own context (purpose, subject, version, master key id)', () => {
    const ring = new MasterKeyRing({ active: 'm1', keys: { m1: k1, m2: k2 } });
    const secret = randomBytes(32);
    const ctx: SealContext = { purpose: 'device-key-current', subject: 'SN-1', version: 3 };
    const sealed = ring.seal(secret, ctx);
    assert.equal(sealed.length, 1 + 12 + 32 + 16);
    assert.equal(sealed.indexOf(secret), -1);
    assert.deepEqual(ring.open('m1', sealed, ctx), secret);
    assert.notDeepEqual(ring.seal(secret, ctx), sealed, 'a fresh IV every time');
    const wrong: Array<[string, SealContext]> = [
      ['m1', { ...ctx, subject: 'SN-2' }],
      ['m1', { ...ctx, version: 4 }],
      ['m1', { ...ctx, purpose: 'device-key-previous' }],
      ['m1', { ...ctx, purpose: 'product-secret' }],
      ['m2', ctx],
    ];
    for (const [id, other] of wrong) {
      assert.throws(() => ring.open(id, sealed, other), (err: unknown) => isDeviceStoreError(err, 'DEVICE_KEY_DECRYPT_FAILED'));
    }
    const flipped = Buffer.from(sealed);
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    assert.throws(() => ring.open('m1', flipped, ctx), (err: unknown) => isDeviceStoreError(err, 'DEVICE_KEY_DECRYPT_FAILED'));
    assert.throws(() => ring.open('m1', sealed.subarray(0, 20), ctx), (err: unknown) => isDeviceStoreError(err, 'DEVICE_KEY_DECRYPT_FAILED'));
    assert.throws(() => ring.open('m7', sealed, ctx), (err: unknown) => isDeviceStoreError(err, 'DEVICE_MASTER_KEY_UNKNOWN'));
    // Sealed under a named (non-active) key, as rewrapAll does.
    assert.deepEqual(ring.open('m2', ring.seal(secret, ctx, 'm2'), ctx), secret);
    assert.equal(ring.withActive('m2').activeId, 'm2');
    config(() => ring.withActive('m7'));
  });
});

describe('openDeviceDatabase configuration', () => {
  test('the URL picks the dialect; nothing connects until the first query', async () => {
    const sqlite = openDeviceDatabase('sqlite::memory:');
    const pg = openDeviceDatabase('postgres://u:secret@127.0.0.1:5432/db?schema=tenant_1', { connectTimeoutMs: 100 });
    const pg2 = openDeviceDatabase('postgresql://u@127.0.0.1/db', { schema: 'devices' });
    const my = openDeviceDatabase('mariadb://root:pw@127.0.0.1:3306/db');
    try {
      assert.equal(detectDialect(sqlite), 'sqlite');
      assert.equal(detectDialect(pg), 'postgres');
      assert.equal(detectDialect(my), 'mysql');
      const info = deviceDatabaseInfo(pg);
      assert.equal(info?.schema, 'tenant_1');
      assert.equal(info?.connectTimeoutMs, 100);
      assert.equal(info?.queryTimeoutMs, 5000);
      assert.ok(info && !info.displayUrl.includes('secret') && !info.displayUrl.includes('schema='));
      assert.equal(deviceDatabaseInfo(pg2)?.schema, 'devices');
      assert.ok(!deviceDatabaseInfo(my)?.displayUrl.includes('pw'));
    } finally {
      await Promise.all([sqlite.destroy(), pg.destroy(), pg2.destroy(), my.destroy()]);
    }
  });

  test('bad URLs and options are refused at once with WXSEAL_CONFIG_INVALID', () => {
    config(() => openDeviceDatabase(''));
    config(() => openDeviceDatabase('redis://127.0.0.1'));
    config(() => openDeviceDatabase('sqlite:'));
    config(() => openDeviceDatabase('sqlite::memory:', { schema: 'x' }));
    config(() => openDeviceDatabase('postgres://h/db?schema=Bad-Name'));
    config(() => openDeviceDatabase('postgres://h/db?schema=a', { schema: 'b' }));
    config(() => openDeviceDatabase('mysql://h/db?ssl=maybe'));
    config(() => openDeviceDatabase('mysql://h/db', { schema: 'x' }));
    config(() => openDeviceDatabase('postgres://h/db', { queryTimeoutMs: 0 }));
    config(() => openDeviceDatabase('postgres://h/db', { poolSize: 0 }));
  });
});
