// `wxseal device`: the lifecycle through the real bin (compiled CLI, real SQLite file), exit codes
// of refusals and usage mistakes, list paging, master key generation and rewrap.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { b64uDecodeStrict } from '@wxseal/protocol/primitives';
import { Writable } from 'node:stream';
import { formatDuration, parseDuration } from '../src/commands/device-args.js';
import { Progress } from '../src/commands/device-progress.js';
import { activate, deviceImport, list, masterKeyGenerate, productCreate, revoke, rewrap, rotate, show } from '../src/commands/device.js';
import { assertBuildIsFresh, captureIo, ringLine, withRepository, wxseal } from './device-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wxseal-device-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('wxseal device (real bin, SQLite)', () => {
  const url = `sqlite:${join(dir, 'lifecycle.db')}`;
  let ring = '';
  let env: Record<string, string> = {};
  const secrets: string[] = [];

  before(async () => {
    assertBuildIsFresh();
    const gen = await wxseal(['device', 'master-key', 'generate', '--id', 'm1'], {});
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stdout, /^m1:[A-Za-z0-9_-]{43}\n$/);
    assert.match(gen.stderr, /rewrap --to m1/);
    ring = gen.stdout.trim();
    env = { WXSEAL_DEVICE_DB: url, WXSEAL_DEVICE_MASTER_KEYS: ring };
  });

  test('product create → activate → show → rotate → revoke → show', async () => {
    const created = await wxseal(['device', 'product', 'create', 'lamp-v1'], env);
    assert.equal(created.code, 0, created.stderr);
    const productSecret = /product secret: (\S+)/.exec(created.stdout)?.[1];
    assert.equal(b64uDecodeStrict(productSecret ?? '')?.length, 32);
    assert.match(created.stderr, /shown only once/);
    secrets.push(productSecret!);
    const products = await wxseal(['device', 'product', 'list', '--json'], env);
    assert.deepEqual(JSON.parse(products.stdout), { products: ['lamp-v1'] });

    const act = await wxseal(['device', 'activate', 'SN-0001', '--product', 'lamp-v1', '--reason', 'factory line 3', '--actor', 'ops:alice', '--json'], env);
    assert.equal(act.code, 0, act.stderr);
    const issued = JSON.parse(act.stdout) as { serial: string; keyVersion: number; key: string; reactivated: boolean };
    assert.equal(issued.serial, 'SN-0001');
    assert.equal(issued.keyVersion, 1);
    assert.equal(issued.reactivated, false);
    assert.match(act.stderr, /shown only once/);
    secrets.push(issued.key);
    // The printed key is the key the registry holds.
    const loaded = await withRepository(url, ring, (repo) => repo.load('SN-0001'));
    assert.equal(loaded?.currentKey.toString('base64url'), issued.key);

    const shown = await wxseal(['device', 'show', 'SN-0001'], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /status: +active/);
    assert.match(shown.stdout, /key version: +1/);
    assert.match(shown.stdout, /activate +v1 +by ops:alice +from cli@\S+ +reason: factory line 3/);

    const rot = await wxseal(['device', 'rotate', 'SN-0001', '--grace', '1h', '--reason', 'scheduled'], env);
    assert.equal(rot.code, 0, rot.stderr);
    assert.match(rot.stdout, /rotated, previous key kept for 1h/);
    assert.match(rot.stdout, /key version: 2/);
    const newKey = /device key: (\S+)/.exec(rot.stdout)?.[1];
    assert.equal(b64uDecodeStrict(newKey ?? '')?.length, 32);
    assert.notEqual(newKey, issued.key);
    secrets.push(newKey!);
    const afterRotate = await withRepository(url, ring, (repo) => repo.load('SN-0001'));
    assert.equal(afterRotate?.currentKey.toString('base64url'), newKey);
    assert.equal(afterRotate?.previousKey?.toString('base64url'), issued.key);
    const inAnHour = Math.floor(Date.now() / 1000) + 3600;
    assert.ok(Math.abs((afterRotate?.previousKeyNotAfter ?? 0) - inAnHour) <= 5);

    const rev = await wxseal(['device', 'revoke', 'SN-0001', '--reason', 'device stolen'], env);
    assert.equal(rev.code, 0, rev.stderr);
    assert.match(rev.stdout, /device SN-0001 revoked/);

    const final = await wxseal(['device', 'show', 'SN-0001', '--json'], env);
    assert.equal(final.code, 0, final.stderr);
    const doc = JSON.parse(final.stdout) as { device: { status: string; keyVersion: number; revokedAt?: number }; audit: Array<{ action: string; reason?: string; actor: string }> };
    assert.equal(doc.device.status, 'revoked');
    assert.equal(doc.device.keyVersion, 2);
    assert.ok(doc.device.revokedAt);
    assert.deepEqual(doc.audit.map((e) => e.action), ['activate', 'rotate', 'revoke']);
    assert.equal(doc.audit[2]?.reason, 'device stolen');
    assert.ok(doc.audit[2]?.actor, 'the default actor is the OS user');

    // show never prints key material: neither device key nor the product secret.
    for (const out of [shown, final]) {
      for (const secret of secrets) assert.ok(!(out.stdout + out.stderr).includes(secret), 'show printed a secret');
    }
    assert.ok(!final.stdout.includes('key_ct') && !/"(key|currentKey|previousKey)"/.test(final.stdout));
  });

  test('refused operations exit 1 with the code; usage and config mistakes exit 2', async () => {
    await wxseal(['device', 'product', 'create', 'refusals'], env);
    assert.equal((await wxseal(['device', 'activate', 'R-1', '--product', 'refusals'], env)).code, 0);

    const cases: Array<[string[], number, RegExp]> = [
      [['device', 'activate', 'R-1', '--product', 'refusals'], 1, /^wxseal device: DEVICE_ALREADY_ACTIVE: device R-1 is already active\n/],
      [['device', 'product', 'create', 'refusals'], 1, /DEVICE_PRODUCT_EXISTS/],
      [['device', 'activate', 'R-2', '--product', 'nope'], 1, /DEVICE_PRODUCT_NOT_FOUND/],
      [['device', 'rotate', 'R-404'], 1, /^wxseal device: DEVICE_NOT_FOUND: device R-404 does not exist\n/],
      [['device', 'show', 'R-404'], 1, /DEVICE_NOT_FOUND/],
      [['device', 'revoke', 'R-404', '--reason', 'x'], 1, /DEVICE_NOT_FOUND/],
      [['device', 'revoke', 'R-1'], 2, /^wxseal device: CLI_USAGE: required option '--reason <text>' not specified\n/],
      [['device', 'rotate', 'R-1', '--grace', '7x'], 2, /CLI_USAGE: .*not a duration/],
      [['device', 'rotate', 'R-1', '--grace', '400d'], 2, /CLI_USAGE: .*maximum grace/],
      [['device', 'show', 'not a serial'], 2, /DEVICE_INVALID_INPUT/],
      [['device', 'list', '--status', 'lost'], 2, /CLI_USAGE: .*choices/],
      [['device', 'list', '--limit', '5000'], 2, /DEVICE_INVALID_INPUT: limit/],
      [['device', 'frobnicate'], 2, /CLI_USAGE: unknown command/],
      [['device', 'rewrap', '--to', 'm9'], 2, /DEVICE_MASTER_KEY_UNKNOWN/],
    ];
    // None of these changes anything, so they run side by side.
    const results = await Promise.all(cases.map(([args]) => wxseal(args, env)));
    cases.forEach(([args, code, pattern], i) => {
      const r = results[i]!;
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern, args.join(' '));
    });

    // Without master keys: changes are refused as a config error, metadata stays readable.
    const noKeys = { WXSEAL_DEVICE_DB: url };
    const refused = await wxseal(['device', 'rotate', 'R-1'], noKeys);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /WXSEAL_CONFIG_INVALID: no master keys/);
    const listed = await wxseal(['device', 'list', '--product', 'refusals'], noKeys);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^R-1\trefusals\tactive\tv1\t/);
    // A wrong master key does not decrypt: exit 2, nothing changed.
    const wrong = await wxseal(['device', 'rotate', 'R-1'], { ...noKeys, WXSEAL_DEVICE_MASTER_KEYS: ring.replace(/:.*/, ':' + 'A'.repeat(43)) });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^wxseal device: DEVICE_KEY_DECRYPT_FAILED: master key m1 does not open .*nothing was changed\n/);
    assert.equal((await withRepository(url, ring, (repo) => repo.show('R-1')))?.keyVersion, 1);

    // Re-activation when asked for: a revoked device comes back with a new key.
    assert.equal((await wxseal(['device', 'revoke', 'R-1', '--reason', 'test'], env)).code, 0);
    const again = await wxseal(['device', 'rotate', 'R-1'], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /DEVICE_REVOKED/);
    const back = await wxseal(['device', 'activate', 'R-1', '--product', 'refusals', '--allow-reactivation', '--json'], env);
    assert.equal(back.code, 0, back.stderr);
    assert.equal((JSON.parse(back.stdout) as { reactivated: boolean; keyVersion: number }).keyVersion, 2);
  });

  test('the import, through the bin: progress on stderr as plain lines, keys file 0600, no overwrite', async () => {
    await wxseal(['device', 'product', 'create', 'bin-import'], env);
    const csv = join(dir, 'bin.csv');
    writeFileSync(csv, 'serial\n' + Array.from({ length: 1200 }, (_, i) => `B-${i}`).join('\n') + '\nB-7\n');
    const out = join(dir, 'bin-keys.csv');
    const r = await wxseal(['device', 'import', csv, '--product', 'bin-import', '--out', out, '--batch', '250'], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^line 1202: B-7: DEVICE_EXISTS: /m);
    assert.match(r.stdout, /import: 1200 stored, 1 failed \(1201 rows\)/);
    // Not a TTY: periodic plain lines (the first batch, then the final line), no escape codes.
    assert.match(r.stderr, /^import: 250 rows \(\d+%\), \d+ rows\/s, ETA \S+, 250 stored, 0 failed$/m);
    assert.match(r.stderr, /^import: 1201 rows in \S+, \d+ rows\/s, 1200 stored, 1 failed$/m);
    // eslint-disable-next-line no-control-regex -- ESC opens the progress bar's terminal sequences
    assert.doesNotMatch(r.stderr, /\x1b\[/);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const before = readFileSync(out, 'utf8');
    assert.equal(before.trim().split('\n').length, 1 + 1200);
    const again = await wxseal(['device', 'import', csv, '--product', 'bin-import', '--out', out], env);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /WXSEAL_CONFIG_INVALID: refusing to overwrite/);
    assert.equal(readFileSync(out, 'utf8'), before);
  });
});

describe('wxseal device (command functions)', () => {
  const url = `sqlite:${join(dir, 'functions.db')}`;
  const m1 = ringLine('m1');
  const env = { WXSEAL_DEVICE_DB: url, WXSEAL_DEVICE_MASTER_KEYS: m1 };

  test('list pages through every device with --limit and --cursor, and filters', async () => {
    assert.equal(await productCreate('pager', { json: true }, captureIo(), env), 0);
    assert.equal(await productCreate('other', {}, captureIo(), env), 0);
    for (let i = 0; i < 23; i++) assert.equal(await activate(`P-${String(i).padStart(2, '0')}`, { product: 'pager' }, captureIo(), env), 0);
    assert.equal(await activate('O-1', { product: 'other' }, captureIo(), env), 0);
    for (const s of ['P-03', 'P-17']) assert.equal(await revoke(s, { reason: 'paging test' }, captureIo(), env), 0);

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const io = captureIo();
      assert.equal(await list({ product: 'pager', limit: 10, ...(cursor ? { cursor } : {}) }, io, env), 0);
      seen.push(...io.stdoutText.trim().split('\n').map((l) => l.split('\t')[0]!));
      cursor = /--cursor (\S+)/.exec(io.stderrText)?.[1];
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen, Array.from({ length: 23 }, (_, i) => `P-${String(i).padStart(2, '0')}`));

    const json = captureIo();
    assert.equal(await list({ status: 'revoked', json: true }, json, env), 0);
    const page = JSON.parse(json.stdoutText) as { devices: Array<{ serial: string; status: string }>; nextCursor?: string };
    assert.deepEqual(page.devices.map((d) => d.serial), ['P-03', 'P-17']);
    assert.equal(page.nextCursor, undefined);

    const first = captureIo();
    assert.equal(await list({ limit: 1, json: true }, first, env), 0);
    const p1 = JSON.parse(first.stdoutText) as { devices: Array<{ serial: string }>; nextCursor: string };
    assert.equal(p1.devices[0]?.serial, 'O-1');
    const second = captureIo();
    assert.equal(await list({ limit: 1, cursor: p1.nextCursor, json: true }, second, env), 0);
    assert.equal((JSON.parse(second.stdoutText) as { devices: Array<{ serial: string }> }).devices[0]?.serial, 'P-00');

    const bad = captureIo();
    assert.equal(await list({ cursor: 'not-a-cursor!' }, bad, env), 2);
    assert.match(bad.stderrText, /DEVICE_INVALID_INPUT/);
  });

  test('master-key generate + rewrap: every row moves to the new key, the old one can go', async () => {
    const gen = captureIo();
    assert.equal(await masterKeyGenerate({ id: 'm2' }, gen), 0);
    const m2 = gen.stdoutText.trim();
    assert.match(m2, /^m2:[A-Za-z0-9_-]{43}$/);
    const defaultId = captureIo();
    assert.equal(await masterKeyGenerate({ json: true }, defaultId), 0);
    assert.match((JSON.parse(defaultId.stdoutText) as { id: string }).id, /^mk-\d{8}-[0-9a-f]{4}$/);
    assert.equal(await masterKeyGenerate({ id: 'bad:id' }, captureIo()), 2);

    // Some rows under m1 first (this test may run alone).
    await productCreate('rewrap-p', {}, captureIo(), env);
    const csv = join(dir, 'rewrap.csv');
    writeFileSync(csv, 'serial\n' + Array.from({ length: 300 }, (_, i) => `W-${i}`).join('\n') + '\n');
    assert.equal(await deviceImport(csv, { product: 'rewrap-p', out: join(dir, 'rewrap-keys.csv') }, captureIo(), env), 0);
    const before = await withRepository(url, m1, (repo) => repo.load('W-42'));

    const both = { ...env, WXSEAL_DEVICE_MASTER_KEYS: `${m2},${m1}` };
    const io = captureIo();
    assert.equal(await rewrap({ to: 'm2', batch: 100 }, io, both), 0, io.stderrText);
    assert.match(io.stdoutText, /rewrap to m2: \d+ product secrets and \d+ devices re-encrypted, 0 failed/);
    assert.match(io.stderrText, /^rewrap: \d+ rows \(\d+%\), \d+ rows\/s, ETA \S+, \d+ re-encrypted, 0 failed$/m);
    assert.match(io.stderrText, /^rewrap: \d+ rows in \S+, \d+ rows\/s, \d+ re-encrypted, 0 failed$/m);

    // m1 is no longer needed: with m2 alone every key still opens, and new changes work.
    const after = await withRepository(url, m2, (repo) => repo.load('W-42'));
    assert.deepEqual(after?.currentKey, before?.currentKey);
    const m2only = { ...env, WXSEAL_DEVICE_MASTER_KEYS: m2 };
    const rot = captureIo();
    assert.equal(await rotate('W-42', { grace: 60, json: true }, rot, m2only), 0, rot.stderrText);
    const shown = captureIo();
    assert.equal(await show('W-42', { json: true }, shown, m2only), 0);
    assert.equal((JSON.parse(shown.stdoutText) as { device: { masterKeyId: string } }).device.masterKeyId, 'm2');

    // Idempotent; an id outside the ring is a usage error; the active key is checked.
    const again = captureIo();
    assert.equal(await rewrap({ to: 'm2' }, again, both), 0);
    assert.match(again.stdoutText, /0 product secrets and 0 devices re-encrypted/);
    const unknown = captureIo();
    assert.equal(await rewrap({ to: 'm3' }, unknown, both), 2);
    assert.match(unknown.stderrText, /DEVICE_MASTER_KEY_UNKNOWN: master key m3 is not in the ring/);
    const notActive = captureIo();
    assert.equal(await rewrap({ to: 'm1' }, notActive, both), 0);
    assert.match(notActive.stderrText, /warning: the ring's active key is m2, not m1/);
  });
});

describe('durations', () => {
  test('--grace accepts seconds and unit sums, refuses the rest', () => {
    assert.equal(parseDuration('3600'), 3600);
    assert.equal(parseDuration('3600s'), 3600);
    assert.equal(parseDuration('90m'), 5400);
    assert.equal(parseDuration('7d'), 604_800);
    assert.equal(parseDuration('1d12h'), 129_600);
    assert.equal(parseDuration('2w'), 1_209_600);
    for (const bad of ['', '7x', '-1', '1.5h', 'd7', '367d']) assert.throws(() => parseDuration(bad), RangeError, bad);
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(129_600), '1d12h');
    assert.equal(formatDuration(3661), '1h1m1s');
  });
});

describe('progress', () => {
  test('plain lines when stderr is not a TTY: the first update, then one per interval, then the final line', () => {
    let now = 0;
    const lines: string[] = [];
    const p = new Progress({ write: (t) => void lines.push(t) }, { label: 'import', total: 1000, intervalMs: 2000, now: () => now });
    now = 500;
    p.update({ value: 100, rows: 10, detail: '10 stored, 0 failed' });
    now = 1000;
    p.update({ value: 200, rows: 20, detail: '20 stored, 0 failed' }); // within the interval: silent
    now = 3000;
    p.update({ value: 600, rows: 60, detail: '60 stored, 0 failed' });
    now = 4000;
    p.stop({ value: 1000, rows: 100, detail: '99 stored, 1 failed' });
    assert.deepEqual(lines, [
      'import: 10 rows (10%), 20 rows/s, ETA 5s, 10 stored, 0 failed\n',
      'import: 60 rows (60%), 20 rows/s, ETA 2s, 60 stored, 0 failed\n',
      'import: 100 rows in 4s, 25 rows/s, 99 stored, 1 failed\n',
    ]);
  });

  test('a cli-progress bar with rows/s and ETA on a TTY; report lines clear it first', () => {
    const chunks: string[] = [];
    const tty = Object.assign(
      new Writable({
        write(chunk: Buffer, _enc, done) {
          chunks.push(chunk.toString());
          done();
        },
      }),
      { isTTY: true, columns: 160, cursorTo: () => chunks.push('<cursorTo>'), clearLine: () => chunks.push('<clearLine>') },
    ) as unknown as NodeJS.WriteStream;
    const plain: string[] = [];
    const p = new Progress({ write: (t) => void plain.push(t), stream: tty }, { label: 'rewrap', total: 50 });
    p.update({ value: 25, rows: 25, detail: '25 re-encrypted, 0 failed' });
    p.print(() => chunks.push('REPORT\n'));
    p.stop({ value: 50, rows: 50, detail: '50 re-encrypted, 0 failed' });
    const text = chunks.join('');
    assert.deepEqual(plain, [], 'no plain lines on a TTY');
    assert.match(text, /rewrap \[[=-]+\] 100% \| 50 rows \| \d+ rows\/s \| ETA \S+ \| 50 re-encrypted, 0 failed/);
    assert.match(text, /<cursorTo><clearLine>REPORT\n/);
  });
});
