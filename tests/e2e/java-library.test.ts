// The Java library (java/: dev.wxseal Verifier, nonce stores, servlet filter, Client) built with
// java/build.sh and checked three ways: its own test runner (every case of the vector files it
// covers, RFC 9180 A.1.1, unit tests, RedisNonceStore against the real Redis at 127.0.0.1:6379);
// the Node client calling the Java servlet-filter example server (sealed with identity, sign-only,
// replay, forgery without unwrap); and the Java Client calling the Node gateway with RSA and X25519
// server keys (and sign-only). A missing JDK or Redis is a FAILURE, never a skip.
//
//   cd /work/main && node --conditions=wxseal-source --import tsx --test tests/e2e/java-library.test.ts

import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildRequest } from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, clientFor, makeKeys, plainRequest, startUpstream, tempDir, type TestKeys, type Upstream } from '../support/gateway.js';
import { exitOf, spawnTracked, stopAllProcesses, stopProcess } from '../support/processes.js';

const root = new URL('../../', import.meta.url).pathname;
const javaDir = join(root, 'java');
const buildDir = join(javaDir, 'build');
const servletJar = '/usr/share/java/jakarta-servlet-api.jar';
const classpath = [join(buildDir, 'wxseal.jar'), join(buildDir, 'examples.jar'), join(buildDir, 'tests.jar'), servletJar].join(':');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped parsed vector JSON
type Vector = any;
const vector = (file: string): Vector => JSON.parse(readFileSync(join(root, 'spec/vectors', file), 'utf8'));

/** One per case of the vector files the library covers (SPEC 13, devices excluded). */
function expectedVectorCases(): number {
  const rsa = vector('rsa-oaep.json');
  const response = vector('response.json');
  const x = vector('x25519.json');
  return (
    vector('canonical-query.json').cases.length +
    vector('sign.json').cases.length +
    (rsa.keys as Array<{ cases: unknown[] }>).reduce((n, k) => n + k.cases.length, 0) +
    vector('seal-request.json').cases.length +
    response.sealed.length +
    response.signed.length +
    response.mustNotOpen.length +
    response.signedRejections.length +
    response.rejectionMustNotVerify.length +
    vector('reject.json').cases.length +
    x.wraps.length +
    x.sealed.length +
    x.unwrapFailures.length
  );
}

/** Runs a Java main to completion: exit status and output. */
async function runJava(mainClass: string, args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTracked('java', ['-cp', classpath, mainClass, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => void stopProcess(child, 'SIGKILL'), timeoutMs);
  const exit = await exitOf(child);
  clearTimeout(timer);
  return { code: exit.code, stdout, stderr };
}

/** Starts a Java main that prints `listening on PORT`; resolves with the port (rejects if it exits first or times out). */
function startJavaServer(mainClass: string, args: string[], timeoutMs = 60_000): { child: ChildProcess; port: Promise<number>; output: () => string } {
  const child = spawnTracked('java', ['-cp', classpath, mainClass, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const port = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening on" within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (c: Buffer): void => {
      out += c.toString('utf8');
      const m = /listening on (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    void exitOf(child).then((e) => {
      clearTimeout(timer);
      reject(new Error(`the Java server exited (${e.code ?? e.signal}) before listening:\n${out}`));
    });
  });
  return { child, port, output: () => out };
}

const dir = tempDir();
after(async () => {
  await stopAllProcesses();
  rmSync(dir, { recursive: true, force: true });
});

before(() => {
  try {
    execFileSync(join(javaDir, 'build.sh'), [], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; message: string };
    throw new Error(`java/build.sh failed (a JDK 17 and ${servletJar} are required): ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
});

describe('the Java test runner', () => {
  it('passes every vector case, RFC 9180 A.1.1 and the unit tests (Redis included)', async () => {
    const r = await runJava('dev.wxseal.test.TestRunner', [join(root, 'spec/vectors'), '--redis', '127.0.0.1:6379'], 300_000);
    const all = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.code, 0, all);
    assert.match(r.stdout, new RegExp(`^vectors: ${expectedVectorCases()} passed, 0 failed$`, 'm'), all);
    assert.match(r.stdout, /^rfc9180: 15 passed, 0 failed$/m, all);
    const unit = /^unit: (\d+) passed, 0 failed$/m.exec(r.stdout);
    assert.ok(unit && Number(unit[1]) >= 20, all);
    assert.match(r.stdout, /^ok {3}RedisNonceStore \(127\.0\.0\.1:6379\): SET NX EX/m, all);
    assert.match(r.stdout, /^ALL PASSED$/m, all);
  });
});

describe('Node client -> Java servlet filter (example server)', () => {
  const rsa: TestKeys = makeKeys('bff-java-lib');
  const x: TestKeys = { ...makeKeys('bff-java-lib', 'x25519'), keyId: rsa.keyId, secret: rsa.secret };
  let base = '';

  before(async () => {
    const rsaPem = join(dir, 'server-rsa.pem');
    const xPem = join(dir, 'server-x25519.pem');
    writeFileSync(rsaPem, rsa.privateKeyPem, { mode: 0o600 });
    writeFileSync(xPem, x.privateKeyPem, { mode: 0o600 });
    const server = startJavaServer('dev.wxseal.examples.ExampleServer', [
      '--port', '0',
      '--credential', `${rsa.keyId}:${rsa.secret}`,
      '--server-key', `${rsa.serverKeyId}:${rsaPem}`,
      '--server-key', `${x.serverKeyId}:${xPem}`,
      '--stats',
      '--session-key-cache', '1000',
    ]);
    base = `http://127.0.0.1:${await server.port}`;
  });

  const unwraps = async (): Promise<number> => JSON.parse((await plainRequest(base, '/_wxseal/stats')).body).unwraps as number;

  for (const [name, keys] of [['RSA-OAEP', rsa], ['X25519', x]] as const) {
    it(`sealed (${name}): the handler sees the key id, the identity and the plaintext; the answer is sealed`, async () => {
      const client = clientFor(keys, base);
      const r = await client.post('/api/echo?b=2&a=1', { json: { from: 'node', n: 7 }, identity: { openid: 'o-node-1', appid: 'wx-node' } });
      assert.equal(r.status, 200);
      assert.equal(r.contentType, 'application/json');
      assert.deepEqual(r.json(), {
        keyId: rsa.keyId,
        mode: 'sealed',
        identity: { openid: 'o-node-1', appid: 'wx-node' },
        contentType: 'application/json',
        method: 'POST',
        path: '/api/echo',
        body: '{"from":"node","n":7}',
      });
    });
  }

  it('sign-only: the Java filter verifies the signed identity and signs its answer (SPEC 12)', async () => {
    const client = clientFor(rsa, base, { mode: 'signed' });
    const r = await client.post('/api/echo', { body: 'plain text', contentType: 'text/plain', identity: { openid: 'o-signed' } });
    assert.equal(r.status, 200);
    const echo = r.json<{ mode: string; identity: unknown; body: string; contentType: string }>();
    assert.equal(echo.mode, 'signed');
    assert.deepEqual(echo.identity, { openid: 'o-signed' });
    assert.equal(echo.body, 'plain text');
    assert.equal(echo.contentType, 'text/plain');
  });

  it('session-key reuse (SPEC 14): a Node client reusing its key is unwrapped once by the Java server cache', async () => {
    const client = clientFor(x, base, { sessionKeyReuse: true });
    const before = await unwraps();
    for (let i = 0; i < 3; i++) {
      const r = await client.post('/api/echo', { json: { i } });
      assert.equal(r.json<{ body: string }>().body, JSON.stringify({ i }));
    }
    assert.equal(await unwraps(), before + 1);
  });

  it('a replayed request is refused with WXSEAL_REPLAYED_NONCE (signed), without a second unwrap', async () => {
    const built = buildRequest({
      mode: 'sealed', method: 'POST', target: '/api/pay', keyId: rsa.keyId, secret: Buffer.from(rsa.secret, 'base64url'),
      serverKey: { id: x.serverKeyId, publicKey: createPublicKey(x.publicKeyPem) }, body: Buffer.from('{"amount":1}'), contentType: 'application/json',
    });
    const first = await plainRequest(base, '/api/pay', { method: 'POST', headers: built.headers, body: built.body });
    assert.equal(first.status, 200, first.body);
    const before = await unwraps();
    const again = await plainRequest(base, '/api/pay', { method: 'POST', headers: built.headers, body: built.body });
    assert.equal(again.status, 401);
    assert.equal(again.headers['wxseal-error'], 'WXSEAL_REPLAYED_NONCE');
    assert.ok(again.headers['wxseal-signature'], 'a signed rejection (SPEC 10.1)');
    assert.equal(JSON.parse(again.body).error.code, 'WXSEAL_REPLAYED_NONCE');
    assert.equal(await unwraps(), before);
  });

  it('forged requests are refused with WXSEAL_BAD_SIGNATURE and never unwrapped', async () => {
    const before = await unwraps();
    for (const tamper of ['body', 'wrapped', 'secret'] as const) {
      const built = buildRequest({
        mode: 'sealed', method: 'POST', target: '/api/pay', keyId: rsa.keyId,
        secret: tamper === 'secret' ? randomBytes(32) : Buffer.from(rsa.secret, 'base64url'),
        serverKey: { id: rsa.serverKeyId, publicKey: createPublicKey(rsa.publicKeyPem) }, body: Buffer.from('{"amount":1000}'), contentType: 'application/json',
      });
      const headers = { ...built.headers };
      const body = Buffer.from(built.body);
      if (tamper === 'body') body[0] = body[0]! ^ 1;
      if (tamper === 'wrapped') {
        const w = headers['wxseal-wrapped-key']!;
        headers['wxseal-wrapped-key'] = w.slice(0, 10) + (w[10] === 'A' ? 'B' : 'A') + w.slice(11);
      }
      const r = await plainRequest(base, '/api/pay', { method: 'POST', headers, body });
      assert.equal(r.status, 401, `${tamper}: ${r.body}`);
      assert.equal(r.headers['wxseal-error'], 'WXSEAL_BAD_SIGNATURE', tamper);
      assert.equal(r.headers['wxseal-signature'], undefined, 'unsigned: the key was never known');
      assert.ok(/^\d+$/.test(String(r.headers['wxseal-server-time'])));
      assert.deepEqual(JSON.parse(r.body), { error: { code: 'WXSEAL_BAD_SIGNATURE', message: 'the signature does not match' } });
    }
    assert.equal(await unwraps(), before, 'no unwrap for a forged request');
  });
});

describe('Java Client -> Node gateway', () => {
  const rsa: TestKeys = makeKeys('bff-java-client');
  const x: TestKeys = { ...makeKeys('bff-java-client', 'x25519'), keyId: rsa.keyId, secret: rsa.secret };
  let upstream: Upstream | undefined;
  let gateway: RunningGateway | undefined;

  before(async () => {
    upstream = await startUpstream();
    gateway = await startGateway(baseConfig(rsa, upstream.url, { serverKeys: [{ privateKey: rsa.privateKeyPem }, { privateKey: x.privateKeyPem }] }), {
      logger: captureLogger().logger,
    });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  for (const [name, keys] of [['RSA-OAEP', rsa], ['X25519', x]] as const) {
    it(`a sealed request with identity (${name}) reaches the upstream and the sealed answer opens`, async () => {
      const pem = join(dir, `gw-${name}.pub.pem`);
      writeFileSync(pem, keys.publicKeyPem);
      const r = await runJava('dev.wxseal.examples.ExampleClient', [
        gateway!.url, keys.keyId, keys.secret, keys.serverKeyId, pem, 'POST', '/api/orders?b=2&a=1', '{"from":"java"}', 'openid=o-java', 'appid=wx-java',
      ]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /^HTTP 200 application\/json/m);
      const answer = JSON.parse(r.stdout);
      assert.equal(answer.method, 'POST');
      assert.equal(answer.url, '/api/orders?b=2&a=1');
      assert.equal(answer.body, '{"from":"java"}');
      assert.equal(answer.contentType, 'application/json');
      const seen = upstream!.seen.at(-1)!;
      assert.equal(seen.headers['x-wxseal-openid'], 'o-java');
    });
  }

  it('sign-only: the gateway verifies the Java request and the Java Client verifies the signed answer (SPEC 12)', async () => {
    const pem = join(dir, 'gw-signed.pub.pem');
    writeFileSync(pem, rsa.publicKeyPem);
    const r = await runJava('dev.wxseal.examples.ExampleClient', [
      '--signed', gateway!.url, rsa.keyId, rsa.secret, rsa.serverKeyId, pem, 'POST', '/api/signed?x=1', '{"clear":true}', 'openid=o-signed',
    ]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const answer = JSON.parse(r.stdout);
    assert.equal(answer.url, '/api/signed?x=1');
    assert.equal(answer.body, '{"clear":true}');
    assert.equal(upstream!.seen.at(-1)!.headers['x-wxseal-openid'], 'o-signed');
  });

  it('a rejection from the gateway is reported with its code', async () => {
    const pem = join(dir, 'gw-wrong.pub.pem');
    writeFileSync(pem, rsa.publicKeyPem);
    const r = await runJava('dev.wxseal.examples.ExampleClient', [
      gateway!.url, rsa.keyId, b64uEncode(randomBytes(32)), rsa.serverKeyId, pem, 'GET', '/api/x',
    ]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /^rejected: WXSEAL_BAD_SIGNATURE/m);
  });
});
