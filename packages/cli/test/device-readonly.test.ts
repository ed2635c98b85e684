// Commands that only read the device registry (`product list`, `list`, `show`) never create one:
// run where there is none, they say where they looked and which options choose the registry.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { list, productCreate, productList, show } from '../src/commands/device.js';
import { CliError } from '../src/errors.js';
import { runWxseal } from './cli-run.js';
import { assertBuildIsFresh, captureIo, ringLine } from './device-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wxseal-device-ro-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('product list, list and show without a registry: CLI_NOT_CONFIGURED naming --db, and no database file appears', async () => {
  const file = join(dir, 'nowhere.db');
  const env = { WXSEAL_DEVICE_DB: `sqlite:${file}` };
  for (const run of [() => productList({}, captureIo(), env), () => list({}, captureIo(), env), () => show('SN-1', {}, captureIo(), env), () => productList({ db: `sqlite://${file}` }, captureIo(), {})]) {
    await assert.rejects(run(), (e: CliError) => e instanceof CliError && e.code === 'CLI_NOT_CONFIGURED' && e.option === '--db' && e.message.includes(file));
  }
  assert.equal(existsSync(file), false);
  // Once a command that writes has made the registry, the same reads work.
  assert.equal(await productCreate('ro-1', {}, captureIo(), { ...env, WXSEAL_DEVICE_MASTER_KEYS: ringLine('m1') }), 0);
  const io = captureIo();
  assert.equal(await productList({ json: true }, io, env), 0);
  assert.deepEqual(JSON.parse(io.stdoutText), { products: ['ro-1'] });
});

test('`wxseal device product list` in a fresh folder: one line, exit 2, and no ./wxseal-devices.db left behind', async () => {
  assertBuildIsFresh();
  const cwd = mkdtempSync(join(dir, 'cwd-'));
  const r = await runWxseal(['device', 'product', 'list'], { cwd });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^wxseal: CLI_NOT_CONFIGURED: no device registry at \.\/wxseal-devices\.db \(the default\), .*--master-key-file.* \(--db\)\n$/);
  assert.deepEqual(readdirSync(cwd), []);
});
