// Issue 14: the CLI's server-key commands take a key type. `wxseal keygen --type x25519` writes an
// X25519 key pair whose files the gateway and the client load; `wxseal credentials
// rotate-server-key --type x25519` adds an X25519 key to a gateway's control plane, which a
// running gateway then decrypts with beside its RSA key (a rotation across suites); --type sm2 the same. Runs the CLI
// from source in a process of its own.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient, isWxsealError, type WxsealClient } from '@wxseal/client';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, eventually, makeKeys, startUpstream, writeYaml, type TestKeys, type Upstream } from '../support/gateway.js';
import { WXSEAL_CLI, root } from '../support/gateway-process.js';
import { freePort } from '../support/net.js';

/** Runs `wxseal args…`: its exit code and output. */
function runWxseal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...WXSEAL_CLI, ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const fresh = () => mkdtempSync(join(tmpdir(), 'wxseal-key-types-'));

describe('wxseal keygen --type', () => {
  test('--type x25519 writes an X25519 pair and prints its id; --bits with it and an unknown type are usage errors', async () => {
    const out = fresh();
    const r = await runWxseal(['keygen', '--out', out, '--type', 'x25519', '--base-url', 'http://127.0.0.1:18082', '--admin-port', '19092']);
    assert.equal(r.code, 0, r.stderr);
    const id = /^server key id: (sk-[0-9a-f]{16}) \(x25519\)$/m.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    const pub = createPublicKey(readFileSync(join(out, 'server-public.pem')));
    assert.equal(pub.asymmetricKeyType, 'x25519');
    assert.equal(JSON.parse(readFileSync(join(out, 'client.json'), 'utf8')).serverKeyId, id);
    const check = await runWxseal(['gateway', '--config', join(out, 'gateway.yaml'), '--check']);
    assert.equal(check.code, 0, `the gateway config with the X25519 key checks: ${check.stdout}${check.stderr}`);

    const bits = await runWxseal(['keygen', '--out', fresh(), '--type', 'x25519', '--bits', '2048']);
    assert.equal(bits.code, 2);
    assert.match(bits.stderr, /CLI_INVALID_INPUT/);
    assert.match(bits.stderr, /--bits/);
    const unknown = await runWxseal(['keygen', '--out', fresh(), '--type', 'ed25519']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^wxseal: CLI_USAGE: .*'ed25519'.*(rsa|x25519)/m);
  });
});

describe('wxseal keygen --type x25519, then wxseal gateway and wxseal call with what it wrote', () => {
  test('a sealed call through a gateway started from the written gateway.yaml round-trips with its identity', async () => {
    const upstream = await startUpstream();
    const out = fresh();
    const [port, adminPort] = [await freePort(), await freePort()];
    const gen = await runWxseal(['keygen', '--out', out, '--type', 'x25519', '--base-url', `http://127.0.0.1:${port}`, '--admin-port', String(adminPort), '--upstream', upstream.url]);
    assert.equal(gen.code, 0, gen.stderr);
    const gw = await startGateway(join(out, 'gateway.yaml'), { logger: captureLogger().logger });
    try {
      const r = await runWxseal(['call', '-c', join(out, 'client.json'), '-d', '{"sku":"A-1"}', '--openid', 'o-x25519', '--source', 'wx_client', '--verbose', '/api/orders']);
      assert.equal(r.code, 0, r.stderr);
      const echoed = JSON.parse(r.stdout) as { method: string; url: string; body: string };
      assert.equal(echoed.method, 'POST');
      assert.equal(echoed.url, '/api/orders');
      assert.deepEqual(JSON.parse(echoed.body), { sku: 'A-1' });
      assert.match(r.stderr, /< 200 \(sealed, response authenticated\)/);
      const seen = upstream.seen.at(-1)!;
      assert.equal(seen.headers['x-wxseal-openid'], 'o-x25519');
      assert.equal(seen.headers['x-wxseal-mode'], 'sealed');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe('wxseal credentials rotate-server-key --type', () => {
  const rsa = makeKeys('bff-cli-types');
  let dir: string;
  let configPath: string;
  let upstream: Upstream;
  let gw: RunningGateway;
  const clients: WxsealClient[] = [];
  const outcome = async (keys: TestKeys): Promise<string> => {
    const c = createClient({ baseUrl: gw.url, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, mode: 'sealed', retry: { maxAttempts: 1 }, timeoutMs: 5000 });
    clients.push(c);
    try {
      const res = await c.post('/api/cli', { json: { ok: true } });
      return res.status === 200 ? 'ok' : `status ${res.status}`;
    } catch (err) {
      if (isWxsealError(err)) return err.code;
      throw err;
    }
  };
  const credentials = (...args: string[]) => runWxseal(['credentials', ...args, '--config', configPath]);

  before(async () => {
    dir = fresh();
    upstream = await startUpstream();
    writeFileSync(join(dir, 'admin-token.txt'), `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    configPath = writeYaml(dir, 'gateway.yaml', baseConfig(rsa, upstream.url, { admin: { auth: { tokenFile: 'admin-token.txt' }, stateDir: 'state' } }));
    gw = await startGateway(configPath, { logger: captureLogger().logger });
  });

  after(async () => {
    for (const c of clients) await c.close?.();
    await gw?.close();
    await upstream?.close();
  });

  test('an X25519 key rotated in with the CLI is served by the running gateway, beside the RSA key; list shows the types', async () => {
    assert.equal(await outcome(rsa), 'ok');
    const r = await credentials('rotate-server-key', '--type', 'x25519', '--reason', 'move to X25519', '--json');
    assert.equal(r.code, 0, r.stderr);
    const rotated = JSON.parse(r.stdout) as { kid: string; type: string; suite: string; publicKeyPem: string };
    assert.equal(rotated.type, 'x25519');
    assert.equal(rotated.suite, 'x25519-hpke');
    assert.match(rotated.kid, /^sk-[0-9a-f]{16}$/);
    assert.equal(createPublicKey(rotated.publicKeyPem).asymmetricKeyType, 'x25519');
    const x = { ...rsa, serverKeyId: rotated.kid, publicKeyPem: rotated.publicKeyPem };
    await eventually(async () => (await outcome(x)) === 'ok', 10_000, 'the running gateway decrypts with the X25519 key');
    assert.equal(await outcome(rsa), 'ok', 'the RSA key still decrypts');

    const listed = await credentials('list', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const keys = (JSON.parse(listed.stdout) as { serverKeys: { kid: string; type: string; suite: string; status: string }[] }).serverKeys;
    assert.deepEqual(keys.map((k) => [k.kid, k.type, k.suite, k.status]), [
      [rsa.serverKeyId, 'rsa', 'rsa-oaep-256', 'decrypt-only'],
      [rotated.kid, 'x25519', 'x25519-hpke', 'active'],
    ]);
    const text = await credentials('list');
    assert.match(text.stdout, new RegExp(`^server key ${rotated.kid}  x25519  active  \\(admin\\)$`, 'm'));

    // Back to RSA, the default type.
    const back = await credentials('rotate-server-key', '--reason', 'back to RSA');
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /^server key sk-[0-9a-f]{16} \(rsa\) is now the active key\n-----BEGIN PUBLIC KEY-----/);

    // An SM2 key (the SM suite) written by another process reaches the running gateway the same way.
    const sm = await credentials('rotate-server-key', '--type', 'sm2', '--reason', 'move to the SM suite', '--json');
    assert.equal(sm.code, 0, sm.stderr);
    const smKey = JSON.parse(sm.stdout) as { kid: string; type: string; suite: string; publicKeyPem: string };
    assert.deepEqual([smKey.type, smKey.suite], ['sm2', 'sm2-sm4-gcm']);
    await eventually(async () => (await outcome({ ...rsa, serverKeyId: smKey.kid, publicKeyPem: smKey.publicKeyPem })) === 'ok', 10_000, 'the running gateway decrypts with the SM2 key');
    assert.match((await credentials('list')).stdout, new RegExp(`^server key ${smKey.kid}  sm2  active  \\(admin\\)$`, 'm'));
  });

  test('an unknown --type is a usage error and changes nothing', async () => {
    const before = (await credentials('list', '--json')).stdout;
    const r = await credentials('rotate-server-key', '--type', 'ec', '--reason', 'x');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^wxseal: CLI_USAGE: .*'ec'/m);
    assert.equal((await credentials('list', '--json')).stdout, before);
  });
});
