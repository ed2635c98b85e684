// `wxseal keygen` then `wxseal call` against a backend built from the generated files: the path a
// new user takes. Runs the real bin (compiled by `npm ci` through `prepare`).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { b64uDecodeStrict } from '@wxseal/protocol/primitives';
import { makeKeys, startBackend, type Keys } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/wxseal.js');

function wxseal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('wxseal keygen + call', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wxseal-cli-'));
  let backend: Awaited<ReturnType<typeof startBackend>>;

  before(async () => {
    const gen = await wxseal(['keygen', '--out', dir, '--key-id', 'bff-cli']);
    assert.equal(gen.code, 0, gen.stderr);
    const priv = createPrivateKey(readFileSync(join(dir, 'server-private.pem')));
    const serverKeyId = /server key id: (sk-[0-9a-f]{16})/.exec(gen.stdout)?.[1];
    assert.ok(serverKeyId);
    const keys: Keys = {
      keyId: 'bff-cli',
      secret: b64uDecodeStrict(readFileSync(join(dir, 'client-secret.txt'), 'utf8').trim())!,
      serverKeyId,
      privateKey: priv,
      publicKeyPem: createPublicKey(priv).export({ type: 'spki', format: 'pem' }).toString(),
    };
    backend = await startBackend(keys);
  });
  after(() => backend?.app.close());

  test('call prints the decrypted answer and exits 0; --verbose shows the exchange on stderr', async () => {
    const r = await wxseal(['call', '-c', join(dir, 'client.json'), '--base-url', backend.url, '-d', '{"sku":"A-1"}', '--openid', 'o-cli', '--source', 'wx_client', '--verbose', '/api/echo']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { method: 'POST', identity: { openid: 'o-cli', source: 'wx_client' }, mode: 'sealed', body: { sku: 'A-1' } });
    assert.match(r.stderr, /< 200 \(sealed, response authenticated\)/);
    assert.doesNotMatch(r.stderr + r.stdout, new RegExp(readFileSync(join(dir, 'client-secret.txt'), 'utf8').trim()));
  });

  test('GET without data, and sign-only mode', async () => {
    const r = await wxseal(['call', '-c', join(dir, 'client.json'), '--base-url', backend.url, '--mode', 'signed', '/api/echo']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).method, 'GET');
    assert.equal(JSON.parse(r.stdout).mode, 'signed');
  });

  test('a rejection is printed with its code and exits 2', async () => {
    const other = makeKeys('bff-cli');
    const wrong = await startBackend(other);
    try {
      const r = await wxseal(['call', '-c', join(dir, 'client.json'), '--base-url', wrong.url, '/api/echo']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /WXSEAL_UNKNOWN_SERVER_KEY \(HTTP 400\)/);
    } finally {
      await wrong.app.close();
    }
  });

  test('a missing config is a clear error', async () => {
    const r = await wxseal(['call', '-c', join(dir, 'nope.json'), '/x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /WXSEAL_CONFIG_INVALID: config: cannot read/);
  });
});
