// Issue 17: the SM suite (SPEC.md 6.6) through a real gateway. A gateway whose server key is SM2
// takes sealed calls from a client given the SM2 public key (HMAC-SM3, SM2-wrapped 16-byte key,
// SM4-GCM both ways), refuses a forged SM request at the HMAC and a replay with a rejection signed
// under HMAC-SM3, lists the key as type sm2 in the admin API and rotates to a new SM2 key there. `wxseal keygen --type sm2` writes
// a pair whose files the gateway and `wxseal call` use as they are.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as gm from '@wxseal/gm';
import { HEADERS, buildRequest, formatSm2PrivateKey, isAuthenticRejection, parseRejection, sm2ServerKeyId } from '@wxseal/protocol';
import { b64uDecodeStrict } from '@wxseal/protocol/primitives';
import { createClient, type WxsealClient } from '@wxseal/client';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, makeSm2Keys, startUpstream, tempDir, writeYaml, type Upstream } from '../support/gateway.js';
import { login } from '../support/gateway-admin.js';
import { WXSEAL_CLI, root } from '../support/gateway-process.js';
import { freePort } from '../support/net.js';


async function send(url: string, target: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const res = await fetch(url + target, { method: 'POST', headers, body: new Uint8Array(body) });
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => (out[k] = v));
  return { status: res.status, headers: out, body: Buffer.from(await res.arrayBuffer()) };
}

describe('gateway with an SM2 server key (the SM suite)', () => {
  const keys = makeSm2Keys('bff-sm');
  const token = randomBytes(32).toString('base64url');
  let upstream: Upstream;
  let gw: RunningGateway;
  let client: WxsealClient;

  before(async () => {
    const dir = tempDir();
    upstream = await startUpstream();
    writeFileSync(join(dir, 'server-sm2.key'), keys.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'admin-token.txt'), `${token}\n`, { mode: 0o600 });
    const input = { ...baseConfig(keys, upstream.url, { admin: { auth: { tokenFile: 'admin-token.txt' }, stateDir: 'state' } }), serverKeys: [{ privateKeyFile: 'server-sm2.key' }] };
    gw = await startGateway(writeYaml(dir, 'gateway.yaml', input), { logger: captureLogger().logger });
    client = createClient({ baseUrl: gw.url, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, mode: 'sealed', retry: { maxAttempts: 1 }, timeoutMs: 5000 });
  });

  after(async () => {
    await client?.close?.();
    await gw?.close();
    await upstream?.close();
  });

  test('a sealed call round-trips with its identity, and the response authenticates', async () => {
    const res = await client.post('/api/orders?x=1', { json: { sku: 'SM-1' }, identity: { openid: 'o-sm', source: 'wx_client' } });
    assert.equal(res.status, 200);
    const echoed = res.json() as { method: string; url: string; body: string };
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.url, '/api/orders?x=1');
    assert.deepEqual(JSON.parse(echoed.body), { sku: 'SM-1' });
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.headers['x-wxseal-openid'], 'o-sm');
    assert.equal(seen.headers['x-wxseal-mode'], 'sealed');
  });

  test('a client reusing its SM2-wrapped session key (SPEC.md 14) gets verified answers each time', async () => {
    const reusing = createClient({ baseUrl: gw.url, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, mode: 'sealed', sessionKeyReuse: true, retry: { maxAttempts: 1 }, timeoutMs: 5000 });
    try {
      for (const n of [1, 2, 3]) {
        const res = await reusing.post('/api/reuse', { json: { n } });
        assert.equal(res.status, 200);
        assert.deepEqual(JSON.parse((res.json() as { body: string }).body), { n });
      }
      const wrapped = upstream.seen.filter((s) => s.url === '/api/reuse');
      assert.equal(wrapped.length, 3);
    } finally {
      await reusing.close?.();
    }
  });

  test('a forged SM request is refused at the HMAC; a replay is refused with a rejection signed under HMAC-SM3', async () => {
    const secret = b64uDecodeStrict(keys.secret)!;
    const sm2 = { type: 'sm2' as const, publicKeyHex: keys.publicKeyHex, primitives: gm };
    const built = buildRequest({ mode: 'sealed', method: 'POST', target: '/api/replay', keyId: keys.keyId, secret, body: Buffer.from('{"n":1}'), contentType: 'application/json', serverKey: { id: keys.serverKeyId, sm2 } });
    assert.ok(built.canonical.startsWith('WXSEAL1-HMAC-SM3\n'));

    // Forged: one byte of the SM4-GCM body changed (the SM3 body hash no longer matches the HMAC-SM3).
    const forged = Buffer.from(built.body);
    forged[0] = forged[0]! ^ 1;
    const f = await send(gw.url, '/api/replay', built.headers, forged);
    assert.equal(f.status, 401);
    assert.equal(f.headers['wxseal-error'], 'WXSEAL_BAD_SIGNATURE');
    assert.equal(f.headers[HEADERS.signature], undefined, 'a rejection before the HMAC verified is not signed');

    const first = await send(gw.url, '/api/replay', built.headers, built.body);
    assert.equal(first.status, 200);
    const replay = await send(gw.url, '/api/replay', built.headers, built.body);
    assert.equal(replay.status, 401);
    const rejection = parseRejection(replay.status, (n) => replay.headers[n], replay.body)!;
    assert.equal(rejection.code, 'WXSEAL_REPLAYED_NONCE');
    assert.equal(isAuthenticRejection(rejection, built.context), true, 'signed for this request under HMAC-SM3');
    assert.equal(isAuthenticRejection(rejection, { ...built.context, sm: undefined }), false, 'not under HMAC-SHA256');
    assert.equal(upstream.seen.filter((s) => s.url === '/api/replay').length, 1, 'the upstream saw the request once');
  });

  test('the admin API lists the key as sm2 / sm2-sm4-gcm; a rotation to sm2 makes a new SM2 key active, which sealed clients then use', async () => {
    const admin = await login(gw.adminUrl, { token });
    const listed = await admin.get('/server-keys');
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(
      listed.json.keys.map((k: { kid: string; type: string; suite: string; status: string; publicKeyPem: string }) => [k.kid, k.type, k.suite, k.status, k.publicKeyPem]),
      [[keys.serverKeyId, 'sm2', 'sm2-sm4-gcm', 'active', keys.publicKeyPem]],
    );

    const rotated = await admin.post('/server-keys/rotate', { type: 'sm2', reason: 'SM2 key rotation, ticket SEC-17' });
    assert.equal(rotated.status, 201, rotated.text);
    const { kid, type, suite, publicKeyPem } = rotated.json as { kid: string; type: string; suite: string; publicKeyPem: string };
    assert.deepEqual([type, suite], ['sm2', 'sm2-sm4-gcm']);
    const publicKeyHex = gm.sm2PublicKeyFromPem(publicKeyPem);
    assert.equal(kid, sm2ServerKeyId(publicKeyHex), 'the kid is the SPEC section 2 id of the new SM2 public key');
    assert.notEqual(kid, keys.serverKeyId);

    const after = await admin.get('/server-keys');
    assert.deepEqual(
      after.json.keys.map((k: { kid: string; type: string; status: string; source: string }) => [k.kid, k.type, k.status, k.source]),
      [
        [keys.serverKeyId, 'sm2', 'decrypt-only', 'config'],
        [kid, 'sm2', 'active', 'admin'],
      ],
    );

    // A client handed the new public key seals to it; the config key still decrypts.
    const next = createClient({ baseUrl: gw.url, keyId: keys.keyId, secret: keys.secret, serverKeyId: kid, serverPublicKey: publicKeyPem, mode: 'sealed', retry: { maxAttempts: 1 }, timeoutMs: 5000 });
    try {
      const res = await next.post('/api/rotated', { json: { sku: 'SM-2' } });
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(upstream.seen.find((r) => r.url === '/api/rotated')!.body.toString('utf8')), { sku: 'SM-2' });
    } finally {
      await next.close();
    }
    assert.equal((await client.post('/api/old-key', { json: { n: 1 } })).status, 200, 'the decrypt-only SM2 key still opens requests');
    assert.equal((await admin.post('/server-keys/rotate', { type: 'sm9', reason: 'x' })).status, 400, 'an unknown type is refused');
  });
});

describe('gateway config: an SM2 key in the armored hex form', () => {
  test('loads under the same id as its PEM', async () => {
    const { loadGatewayConfig } = await import('@wxseal/gateway');
    const pair = gm.sm2GenerateKeyPair();
    const keys = makeSm2Keys('bff-sm-armored');
    const config = loadGatewayConfig({ ...baseConfig(keys, 'http://127.0.0.1:9'), serverKeys: [{ privateKey: formatSm2PrivateKey(pair.privateKeyHex) }, { privateKey: keys.privateKeyPem }] });
    assert.deepEqual(config.serverKeys.map((k) => k.id), [sm2ServerKeyId(pair.publicKeyHex), keys.serverKeyId]);
  });
});

describe('wxseal keygen --type sm2, then wxseal gateway and wxseal call with what it wrote', () => {
  const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [...WXSEAL_CLI, ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      });
    });

  test('the written SM2 pair loads in the gateway and a sealed call round-trips', async () => {
    const upstream = await startUpstream();
    const out = mkdtempSync(join(tmpdir(), 'wxseal-sm2-'));
    const [port, adminPort] = [await freePort(), await freePort()];
    const gen = await run(['keygen', '--out', out, '--type', 'sm2', '--base-url', `http://127.0.0.1:${port}`, '--admin-port', String(adminPort), '--upstream', upstream.url]);
    assert.equal(gen.code, 0, gen.stderr);
    const id = /^server key id: (sk-[0-9a-f]{16}) \(sm2\)$/m.exec(gen.stdout)?.[1];
    assert.ok(id, gen.stdout);
    // PKCS#8 / SPKI PEM of an SM2 key, as OpenSSL writes them.
    const privateKeyHex = gm.sm2PrivateKeyFromPem(readFileSync(join(out, 'server-private.pem'), 'utf8'));
    assert.equal(gm.sm2PublicKeyFromPem(readFileSync(join(out, 'server-public.pem'), 'utf8')), gm.sm2PublicKeyFromPrivate(privateKeyHex));
    assert.equal(sm2ServerKeyId(gm.sm2PublicKeyFromPrivate(privateKeyHex)), id);
    assert.equal(JSON.parse(readFileSync(join(out, 'client.json'), 'utf8')).serverKeyId, id);
    const bits = await run(['keygen', '--out', mkdtempSync(join(tmpdir(), 'wxseal-sm2-')), '--type', 'sm2', '--bits', '2048']);
    assert.equal(bits.code, 2);
    assert.match(bits.stderr, /--bits/);

    const gw = await startGateway(join(out, 'gateway.yaml'), { logger: captureLogger().logger });
    try {
      assert.equal(gw.config.serverKeys[0]!.id, id);
      const r = await run(['call', '-c', join(out, 'client.json'), '-d', '{"sku":"A-1"}', '--openid', 'o-sm2', '--verbose', '/api/orders']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse((JSON.parse(r.stdout) as { body: string }).body), { sku: 'A-1' });
      assert.match(r.stderr, /< 200 \(sealed, response authenticated\)/);
      assert.equal(upstream.seen.at(-1)!.headers['x-wxseal-openid'], 'o-sm2');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
