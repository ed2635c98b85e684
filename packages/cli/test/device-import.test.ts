// `wxseal device import`: bulk provisioning from CSV on SQLite and on a real PostgreSQL at
// 127.0.0.1:5432 (database `test`, `npm run services`; a unique schema per run, dropped at the
// end; the test fails, never skips, when PostgreSQL is down).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openDeviceDatabase } from '@wxseal/devices';
import { deviceImport, list, productCreate } from '../src/commands/device.js';
import { captureIo, ringLine, withRepository } from './device-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wxseal-device-import-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ring = ringLine('m1');
const b64u = (bytes: Buffer): string => bytes.toString('base64url');

/** Failure report lines of stdout: line number → code, in the order printed. */
function failures(stdout: string): Array<[number, string, string]> {
  return [...stdout.matchAll(/^line (\d+): (.*?): ([A-Z_]+): /gm)].map((m) => [Number(m[1]), m[2]!, m[3]!]);
}

function parseKeysFile(path: string): Map<string, string> {
  const [header, ...rows] = readFileSync(path, 'utf8').trim().split('\n');
  assert.equal(header, 'serial,product,key_version,key');
  return new Map(rows.map((r) => r.split(',')).map(([serial, , version, key]) => (assert.equal(version, '1'), [serial!, key!])));
}

describe('wxseal device import (SQLite)', () => {
  const url = `sqlite:${join(dir, 'import.db')}`;
  const env = { WXSEAL_DEVICE_DB: url, WXSEAL_DEVICE_MASTER_KEYS: ring };

  test('2,000 rows with bad ones: the good rows are stored, the bad ones reported by line, keys saved 0600', async () => {
    assert.equal(await productCreate('imp', {}, captureIo(), env), 0);
    const given1 = b64u(randomBytes(32));
    const given2 = b64u(randomBytes(32));
    const rows = Array.from({ length: 2000 }, (_, i) => `S-${String(i).padStart(4, '0')},imp,`);
    rows[100] = `S-0100,imp,${given1}`;
    rows[101] = `S-0101,imp,${given2}`;
    const bad: Record<number, [string, string]> = {
      250: ['S-0010,imp,', 'DEVICE_EXISTS'], // twice in one batch
      900: ['S-0005,imp,', 'DEVICE_EXISTS'], // stored by an earlier batch
      1200: ['bad serial!,imp,', 'DEVICE_INVALID_INPUT'],
      1300: [`S-${'x'.repeat(70)},imp,`, 'DEVICE_INVALID_INPUT'],
      1400: [`S-1400,imp,${given1}`, 'DEVICE_DUPLICATE_KEY'], // the key of row 100, in another batch
      1500: ['S-1500,imp,c2hvcnQ', 'DEVICE_INVALID_INPUT'], // a 5-byte key
      1600: ['S-1600,ghost,', 'DEVICE_PRODUCT_NOT_FOUND'],
      1700: ['S-1700,imp,,extra', 'DEVICE_INVALID_INPUT'], // one field too many
      1800: [',imp,', 'DEVICE_INVALID_INPUT'],
    };
    for (const [i, [row]] of Object.entries(bad)) rows[Number(i)] = row;
    const csv = join(dir, 'devices.csv');
    writeFileSync(csv, 'serial,product,key\n' + rows.join('\n') + '\n');
    const out = join(dir, 'keys.csv');

    const io = captureIo();
    const code = await deviceImport(csv, { out, batch: 500, progressIntervalMs: 0, actor: 'factory-import' }, io, env);
    assert.equal(code, 1, io.stderrText);
    // Every bad row, in file order, with its line number (header = line 1) and its code.
    const expected = Object.entries(bad).map(([i, [, c]]) => [Number(i) + 2, c] as const);
    assert.deepEqual(failures(io.stdoutText).map(([line, , c]) => [line, c]), expected);
    assert.match(io.stdoutText, /^line 252: S-0010: DEVICE_EXISTS: /m);
    assert.match(io.stdoutText, /^line 1802: \(no serial\): DEVICE_INVALID_INPUT: /m);
    assert.match(io.stdoutText, /^import: 1991 stored, 9 failed \(2000 rows\)$/m);
    assert.match(io.stdoutText, /^1989 generated keys written to .*keys\.csv \(mode 0600\)/m);

    // Progress on stderr (no TTY): one plain line per batch here, then the final line.
    const progress = io.stderrText.split('\n').filter((l) => l.startsWith('import: '));
    assert.ok(progress.length >= 5, io.stderrText);
    assert.match(progress[0]!, /^import: 500 rows \(\d+%\), \d+ rows\/s, ETA \S+, 499 stored, 1 failed$/);
    assert.match(progress.at(-1)!, /^import: 2000 rows in \S+, \d+ rows\/s, 1991 stored, 9 failed$/);

    // The keys file: mode 0600, every generated key and only those, equal to what the registry holds.
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const keys = parseKeysFile(out);
    assert.equal(keys.size, 1989);
    assert.ok(!keys.has('S-0100') && !keys.has('S-0101'), 'imported keys are not written again');
    assert.ok(!keys.has('S-1600') && !keys.has('S-1700'));
    await withRepository(url, ring, async (repo) => {
      for (const serial of ['S-0000', 'S-0499', 'S-0500', 'S-1999']) assert.equal(b64u((await repo.load(serial))!.currentKey), keys.get(serial), serial);
      assert.equal(b64u((await repo.load('S-0100'))!.currentKey), given1);
      assert.equal(b64u((await repo.load('S-0101'))!.currentKey), given2);
      for (const serial of ['S-1400', 'S-1500', 'S-1600', 'S-1700']) assert.equal(await repo.load(serial), undefined, serial);
      const audit = await repo.audit('S-0000');
      assert.deepEqual(audit.map((e) => [e.action, e.actor]), [['import', 'factory-import']]);
    });

    // Run again: the keys file is never overwritten, and nothing is stored.
    const before = readFileSync(out, 'utf8');
    const again = captureIo();
    assert.equal(await deviceImport(csv, { out }, again, env), 2);
    assert.match(again.stderrText, /^wxseal device: WXSEAL_CONFIG_INVALID: refusing to overwrite .*keys\.csv/m);
    assert.equal(readFileSync(out, 'utf8'), before);
    const page = captureIo();
    assert.equal(await list({ product: 'imp', limit: 1000, json: true }, page, env), 0);
    assert.equal((JSON.parse(page.stdoutText) as { devices: unknown[]; nextCursor?: string }).devices.length, 1000);
  });

  test('header and option mistakes exit 2 before anything is stored, and leave no keys file', async () => {
    assert.equal(await productCreate('hdr', {}, captureIo(), env), 0);
    const cases: Array<[string, string, Parameters<typeof deviceImport>[1], RegExp]> = [
      ['no-serial.csv', 'id,product\nH-1,hdr\n', { out: join(dir, 'k-no-serial.csv') }, /must name a "serial" column/],
      ['no-product.csv', 'serial\nH-1\n', { out: join(dir, 'k-no-product.csv') }, /no "product" column/],
      ['no-out.csv', 'serial,product\nH-1,hdr\n', {}, /give --out/],
      ['twice.csv', 'serial,serial\nH-1,H-2\n', { product: 'hdr', out: join(dir, 'k-twice.csv') }, /names column "serial" twice/],
      ['empty.csv', '', { product: 'hdr', out: join(dir, 'k-empty.csv') }, /is empty/],
      ['ok.csv', 'serial\nH-1\n', { product: 'hdr', out: join(dir, 'no-such-dir', 'k.csv') }, /cannot create/],
    ];
    for (const [name, text, opts, pattern] of cases) {
      const csv = join(dir, name);
      writeFileSync(csv, text);
      const io = captureIo();
      assert.equal(await deviceImport(csv, opts, io, env), 2, `${name}: ${io.stderrText}`);
      assert.match(io.stderrText, pattern, name);
      // The mistake is all that is printed: no progress line ("import: 0 rows in 0s") before it.
      assert.doesNotMatch(io.stderrText, /^import: /m, name);
      assert.equal(io.err.length, 1, `${name}: ${io.stderrText}`);
      if (opts.out) assert.equal(existsSync(opts.out), false, `${name} left ${opts.out}`);
    }
    const missing = captureIo();
    assert.equal(await deviceImport(join(dir, 'missing.csv'), { product: 'hdr', out: join(dir, 'k-missing.csv') }, missing, env), 2);
    assert.match(missing.stderrText, /cannot read .*missing\.csv \(ENOENT\)/);
    const batch = captureIo();
    assert.equal(await deviceImport(join(dir, 'ok.csv'), { product: 'hdr', batch: 5000 }, batch, env), 2);
    const noKeys = captureIo();
    assert.equal(await deviceImport(join(dir, 'ok.csv'), { product: 'hdr', out: join(dir, 'k-nokeys.csv') }, noKeys, { WXSEAL_DEVICE_DB: url }), 2);
    assert.match(noKeys.stderrText, /no master keys/);
    const listed = captureIo();
    assert.equal(await list({ product: 'hdr' }, listed, env), 0);
    assert.equal(listed.stdoutText, '');
  });

  test('keys given in the file need no --out; --product checks each row; unknown columns are ignored with a warning', async () => {
    assert.equal(await productCreate('given', {}, captureIo(), env), 0);
    const k1 = b64u(randomBytes(32));
    const k2 = b64u(randomBytes(32));
    const csv = join(dir, 'given.csv');
    writeFileSync(csv, `Serial,Key,MAC,Product\r\nG-1,${k1},aa:bb,given\r\nG-2,,cc:dd,given\r\nG-3,${k2},ee:ff,other\r\nG-4,${k2},,\r\n`);
    const io = captureIo();
    assert.equal(await deviceImport(csv, { product: 'given' }, io, env), 1);
    assert.deepEqual(failures(io.stdoutText).map(([line, serial, c]) => [line, serial, c]), [
      [3, 'G-2', 'DEVICE_INVALID_INPUT'], // no key and nowhere to save a generated one
      [4, 'G-3', 'DEVICE_INVALID_INPUT'], // product differs from --product
    ]);
    assert.match(io.stdoutText, /no key given and no --out/);
    assert.match(io.stdoutText, /product other differs from --product given/);
    assert.match(io.stdoutText, /^import: 2 stored, 2 failed \(4 rows\)$/m);
    assert.match(io.stderrText, /warning: ignoring column\(s\) mac/);
    await withRepository(url, ring, async (repo) => {
      assert.equal(b64u((await repo.load('G-1'))!.currentKey), k1);
      assert.equal(b64u((await repo.load('G-4'))!.currentKey), k2);
    });
  });
});

describe('wxseal device import (PostgreSQL)', () => {
  const base = 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `wxseal_cli_${randomBytes(6).toString('hex')}`;
  const url = `${base}?schema=${schema}`;
  const env = { WXSEAL_DEVICE_DB: url, WXSEAL_DEVICE_MASTER_KEYS: ring };

  after(async () => {
    const db = openDeviceDatabase(base);
    try {
      await db.schema.dropSchema(schema).ifExists().cascade().execute();
    } finally {
      await db.destroy();
    }
  });

  test('stores the good rows of a CSV with bad ones, in a schema of its own', async () => {
    const create = captureIo();
    const created = await productCreate('pg-lamp', {}, create, env);
    assert.equal(created, 0, `PostgreSQL must be reachable at ${base} (npm run services): ${create.stderrText}`);
    const rows = Array.from({ length: 1000 }, (_, i) => `PG-${i}`);
    rows[10] = 'PG-3';
    rows[600] = 'not valid';
    rows[999] = 'PG-3';
    const csv = join(dir, 'pg.csv');
    writeFileSync(csv, 'serial\n' + rows.join('\n') + '\n');
    const out = join(dir, 'pg-keys.csv');
    const io = captureIo();
    assert.equal(await deviceImport(csv, { product: 'pg-lamp', out, batch: 250 }, io, env), 1, io.stderrText);
    assert.deepEqual(failures(io.stdoutText).map(([line, , c]) => [line, c]), [
      [12, 'DEVICE_EXISTS'],
      [602, 'DEVICE_INVALID_INPUT'],
      [1001, 'DEVICE_EXISTS'],
    ]);
    assert.match(io.stdoutText, /^import: 997 stored, 3 failed \(1000 rows\)$/m);
    assert.match(io.stderrText, /^import: 1000 rows in \S+, \d+ rows\/s, 997 stored, 3 failed$/m);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const keys = parseKeysFile(out);
    assert.equal(keys.size, 997);
    await withRepository(url, ring, async (repo) => {
      assert.equal(b64u((await repo.load('PG-998'))!.currentKey), keys.get('PG-998'));
      assert.equal((await repo.list({ productId: 'pg-lamp', limit: 1000 })).devices.length, 997);
    });
  });
});
