// The Java library (java/: dev.wxseal Verifier, nonce stores, servlet filter, Client) built with
// java/build.sh and checked three ways: its own test runner (every case of the vector files it
// covers, sm.json included, RFC 9180 A.1.1, unit tests, RedisNonceStore against the real Redis at
// 127.0.0.1:6379); the library's SM primitives against the OpenSSL CLI (an OpenSSL SM2 key and
// ciphertext decrypted in Java and back, SM3, HMAC-SM3, HKDF-SM3); the Node client calling the Java
// servlet-filter example server (sealed with identity for RSA, X25519 and SM2, sign-only, replay,
// forgery without unwrap); and the Java Client calling the Node gateway with RSA, X25519 and SM2
// server keys (and sign-only). A missing JDK, Bouncy Castle, OpenSSL or Redis is a FAILURE, never a skip.
//
//   cd /work/main && node --conditions=wxseal-source --import tsx --test tests/e2e/java-library.test.ts

import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as gm from '@wxseal/gm';
import { buildRequest, formatSm2PublicKey, isAuthenticRejection, parseRejection, sm2ServerKeyId } from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, clientFor, makeKeys, makeSm2Keys, plainRequest, startUpstream, tempDir, type TestKeys, type Upstream } from '../support/gateway.js';
import { exitOf, spawnTracked, stopAllProcesses, stopProcess } from '../support/processes.js';
import { libraryVectorCases } from '../../interop/java-vector-cases.js';

const root = new URL('../../', import.meta.url).pathname;
const javaDir = join(root, 'java');
const buildDir = join(javaDir, 'build');
const servletJar = '/usr/share/java/jakarta-servlet-api.jar';
const bcprovJar = process.env.BCPROV_JAR ?? '/usr/share/java/bcprov.jar';
const classpath = [join(buildDir, 'wxseal.jar'), join(buildDir, 'examples.jar'), join(buildDir, 'tests.jar'), servletJar, bcprovJar].join(':');


/** Runs the OpenSSL CLI; its stdout. */
function openssl(args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'pipe'] });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped parsed vector JSON
type Vector = any;
const vector = (file: string): Vector => JSON.parse(readFileSync(join(root, 'spec/vectors', file), 'utf8'));

/** One per case of the vector files the library covers (SPEC 13, devices excluded), counted from the files. */
const expectedVectorCases = (): number => libraryVectorCases(join(root, 'spec/vectors'));

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
    throw new Error(`java/build.sh failed (a JDK 17, ${servletJar} and ${bcprovJar} are required): ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
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

  // Not vacuous for sm.json: each corrupted value makes exactly its own case fail.
  const flip = (v: string): string => (v[0] === 'A' ? 'B' : 'A') + v.slice(1);
  const flipHex = (v: string): string => (v[0] === '0' ? '1' : '0') + v.slice(1);
  const smMutations: Array<{ name: string; unit: string; mutate: (v: Vector) => void }> = [
    { name: 'an HMAC-SM3 known answer', unit: 'sm.primitives.hmacSm3[1]', mutate: (v) => { v.primitives.hmacSm3[1].macHex = flipHex(v.primitives.hmacSm3[1].macHex); } },
    { name: 'the session key of a fixed SM2 ciphertext', unit: 'sm.wraps[0]', mutate: (v) => { v.wraps[0].sessionKey = v.wraps[1].sessionKey; } },
    { name: 'the signature of a sealed request', unit: 'sm.sealed[0]', mutate: (v) => { v.sealed[0].expected.headers['wxseal-signature'] = flip(v.sealed[0].expected.headers['wxseal-signature']); } },
    { name: 'a sealed SM response body', unit: 'sm.sealed[1]', mutate: (v) => { v.sealed[1].response.expected.sealedBody = flip(v.sealed[1].response.expected.sealedBody); } },
    { name: 'the signed rejection', unit: 'sm.signedRejection', mutate: (v) => { v.signedRejection.signature = flip(v.signedRejection.signature); } },
    { name: 'an unwrap failure replaced by a wrap that unwraps', unit: 'sm.unwrapFailures[0]', mutate: (v) => { v.unwrapFailures[0].wrapped = v.wraps[0].wrapped; } },
    { name: 'a forged signature replaced by the genuine one', unit: 'sm.forgedSignatures[0]', mutate: (v) => { v.forgedSignatures[0].signature = v.sealed[0].expected.headers['wxseal-signature']; } },
  ];
  for (const m of smMutations) {
    it(`is not vacuous for sm.json: ${m.name} corrupted fails exactly ${m.unit}`, async () => {
      const copy = join(dir, `vectors-${m.unit.replace(/[^a-zA-Z0-9]/g, '_')}`);
      cpSync(join(root, 'spec/vectors'), copy, { recursive: true });
      const sm = vector('sm.json');
      m.mutate(sm);
      writeFileSync(join(copy, 'sm.json'), JSON.stringify(sm));
      const r = await runJava('dev.wxseal.test.TestRunner', [copy, '--vectors-only']);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stdout, new RegExp(`^vectors: ${expectedVectorCases() - 1} passed, 1 failed$`, 'm'), r.stdout);
      const failed = new Set([...r.stdout.matchAll(/^FAIL ([^\s:]+)/gm)].map((x) => x[1]));
      assert.deepEqual([...failed], [m.unit], r.stdout);
    });
  }
});

describe('the Java SM primitives against the OpenSSL CLI (SPEC 6.6)', () => {
  const tool = 'dev.wxseal.test.SmTool';
  const javaOut = async (args: string[]): Promise<string> => {
    const r = await runJava(tool, args);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return r.stdout.trim();
  };

  it('an OpenSSL SM2 key and OpenSSL SM2 ciphertexts of 16-byte keys: Java decrypts them, and OpenSSL decrypts Java\'s', async () => {
    const keyPem = join(dir, 'openssl-sm2.pem');
    const pubPem = join(dir, 'openssl-sm2.pub.pem');
    openssl(['genpkey', '-algorithm', 'SM2', '-out', keyPem]);
    openssl(['pkey', '-in', keyPem, '-pubout', '-out', pubPem]);
    const pubHex = gm.sm2PublicKeyFromPem(readFileSync(pubPem, 'utf8'));
    // the key id of SPEC 2, from the OpenSSL-written SPKI, as Node names it
    assert.equal(await javaOut(['server-key-id', pubPem]), sm2ServerKeyId(pubHex));
    for (let i = 0; i < 3; i++) {
      const sessionKey = randomBytes(16);
      const keyFile = join(dir, `sm2-key-${i}.bin`);
      const derFile = join(dir, `sm2-ct-${i}.der`);
      writeFileSync(keyFile, sessionKey);
      openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', pubPem, '-in', keyFile, '-out', derFile]);
      const out = JSON.parse(await javaOut(['sm2-decrypt-der', keyPem, derFile])) as { raw: string; plaintext: string; publicKeyHex: string };
      assert.equal(out.plaintext, sessionKey.toString('hex'), 'Java decrypts the OpenSSL ciphertext with the OpenSSL PEM key');
      assert.equal(out.publicKeyHex, pubHex, 'Java reads the OpenSSL PKCS#8 key (its public point)');
      const raw = Buffer.from(out.raw, 'hex');
      assert.equal(raw.length, 113, 'the wire form C1 || C3 || C2');
      assert.equal(raw[0], 0x04, 'C1 uncompressed');
      assert.equal(b64uEncode(raw).length, 151);
      // the raw form is also what the Node reference decrypts, and it is OpenSSL's DER re-encoded
      assert.deepEqual(gm.sm2Decrypt(gm.sm2PrivateKeyFromPem(readFileSync(keyPem, 'utf8')), raw), sessionKey);
      assert.deepEqual(gm.sm2CiphertextToAsn1(raw), readFileSync(derFile));
      // a changed ciphertext byte: Java refuses it
      const bad = Buffer.from(readFileSync(derFile));
      bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
      writeFileSync(derFile, bad);
      assert.notEqual((await runJava(tool, ['sm2-decrypt-der', keyPem, derFile])).code, 0, 'a tampered C2 must not decrypt');
      // the other way: Java encrypts to the OpenSSL public key, OpenSSL decrypts
      const back = join(dir, `sm2-java-${i}.der`);
      const rawJava = Buffer.from(await javaOut(['sm2-encrypt-der', pubPem, sessionKey.toString('hex'), back]), 'hex');
      assert.equal(rawJava.length, 113);
      assert.deepEqual(openssl(['pkeyutl', '-decrypt', '-inkey', keyPem, '-in', back]), sessionKey);
    }
  });

  it('SM3 and HMAC-SM3 agree with openssl dgst -sm3 and openssl mac HMAC (SM3), HKDF-SM3 with openssl kdf', async () => {
    for (const [i, data] of [Buffer.from('abc'), Buffer.alloc(0), randomBytes(1000), Buffer.from('订单 ✓ WXSEAL1-HMAC-SM3\n')].entries()) {
      const f = join(dir, `sm3-${i}.bin`);
      writeFileSync(f, data);
      const dgst = /([0-9a-f]{64})\s*$/i.exec(openssl(['dgst', '-sm3', f]).toString('utf8'))![1]!.toLowerCase();
      assert.equal(await javaOut(['sm3', f]), dgst, `SM3 of input ${i}`);
      const key = randomBytes(i === 0 ? 32 : 48).toString('hex');
      const mac = openssl(['mac', '-digest', 'SM3', '-macopt', `hexkey:${key}`, '-in', f, 'HMAC']).toString('utf8').trim().toLowerCase();
      assert.match(mac, /^[0-9a-f]{64}$/);
      assert.equal(await javaOut(['hmac-sm3', key, f]), mac, `HMAC-SM3 of input ${i}`);
    }
    const ikm = randomBytes(16).toString('hex');
    const salt = randomBytes(32).toString('hex');
    const kdf = openssl(['kdf', '-keylen', '28', '-kdfopt', 'digest:SM3', '-kdfopt', `hexkey:${ikm}`, '-kdfopt', `hexsalt:${salt}`, '-kdfopt', 'info:WXSEAL1-SM response', 'HKDF'])
      .toString('utf8').trim().replace(/:/g, '').toLowerCase();
    assert.equal(await javaOut(['hkdf-sm3', ikm, salt, 'WXSEAL1-SM response', '28']), kdf);
  });
});

describe('Node client -> Java servlet filter (example server)', () => {
  const rsa: TestKeys = makeKeys('bff-java-lib');
  const x: TestKeys = { ...makeKeys('bff-java-lib', 'x25519'), keyId: rsa.keyId, secret: rsa.secret };
  const sm = makeSm2Keys(rsa.keyId, rsa.secret);
  let base = '';

  before(async () => {
    const rsaPem = join(dir, 'server-rsa.pem');
    const xPem = join(dir, 'server-x25519.pem');
    const smPem = join(dir, 'server-sm2.pem');
    writeFileSync(rsaPem, rsa.privateKeyPem, { mode: 0o600 });
    writeFileSync(xPem, x.privateKeyPem, { mode: 0o600 });
    writeFileSync(smPem, sm.privateKeyPem, { mode: 0o600 });
    const server = startJavaServer('dev.wxseal.examples.ExampleServer', [
      '--port', '0',
      '--credential', `${rsa.keyId}:${rsa.secret}`,
      '--server-key', `${rsa.serverKeyId}:${rsaPem}`,
      '--server-key', `${x.serverKeyId}:${xPem}`,
      '--server-key', `${sm.serverKeyId}:${smPem}`,
      '--stats',
      '--session-key-cache', '1000',
    ]);
    base = `http://127.0.0.1:${await server.port}`;
  });

  const unwraps = async (): Promise<number> => JSON.parse((await plainRequest(base, '/_wxseal/stats')).body).unwraps as number;

  for (const [name, keys] of [['RSA-OAEP', rsa], ['X25519', x], ['SM2', sm]] as const) {
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

  const smBuild = (secret = Buffer.from(sm.secret, 'base64url')) =>
    buildRequest({
      mode: 'sealed', method: 'POST', target: '/api/pay?sm=1', keyId: sm.keyId, secret,
      serverKey: { id: sm.serverKeyId, sm2: { type: 'sm2', publicKeyHex: sm.publicKeyHex, primitives: gm } },
      body: Buffer.from('{"amount":2}'), contentType: 'application/json', identity: { openid: 'o-sm' },
    });

  it('SM2: a sealed SM request (HMAC-SM3, 151-character wrapped key) is answered; its replay is refused, signed under HMAC-SM3, without a second SM2 decryption', async () => {
    const built = smBuild();
    assert.ok(built.canonical.startsWith('WXSEAL1-HMAC-SM3\n'));
    assert.equal(built.headers['wxseal-wrapped-key']!.length, 151);
    const before = await unwraps();
    const first = await plainRequest(base, '/api/pay?sm=1', { method: 'POST', headers: built.headers, body: built.body });
    assert.equal(first.status, 200, first.body);
    assert.equal(first.headers['content-type'], 'application/vnd.wxseal.sealed');
    assert.equal(await unwraps(), before + 1);
    const again = await plainRequest(base, '/api/pay?sm=1', { method: 'POST', headers: built.headers, body: built.body });
    assert.equal(again.status, 401);
    assert.equal(again.headers['wxseal-error'], 'WXSEAL_REPLAYED_NONCE');
    const rejection = parseRejection(again.status, (n) => again.headers[n] as string | undefined, again.raw)!;
    assert.equal(rejection.code, 'WXSEAL_REPLAYED_NONCE');
    assert.equal(isAuthenticRejection(rejection, built.context), true, 'signed for this request under HMAC-SM3');
    assert.equal(isAuthenticRejection(rejection, { ...built.context, sm: undefined }), false, 'not under HMAC-SHA256');
    assert.equal(await unwraps(), before + 1, 'the replay never reached SM2');
  });

  it('SM2: forged SM requests are refused with WXSEAL_BAD_SIGNATURE and never reach SM2', async () => {
    const before = await unwraps();
    for (const tamper of ['body', 'wrapped', 'secret', 'sha256-mac'] as const) {
      const built = smBuild(tamper === 'secret' ? randomBytes(32) : undefined);
      const headers = { ...built.headers };
      const body = Buffer.from(built.body);
      if (tamper === 'body') body[0] = body[0]! ^ 1;
      if (tamper === 'wrapped') headers['wxseal-wrapped-key'] = b64uEncode(gm.sm2Encrypt(sm.publicKeyHex, randomBytes(16)));
      if (tamper === 'sha256-mac') {
        const { createHmac } = await import('node:crypto');
        headers['wxseal-signature'] = createHmac('sha256', Buffer.from(sm.secret, 'base64url')).update(built.canonical, 'utf8').digest('base64url');
      }
      const r = await plainRequest(base, '/api/pay?sm=1', { method: 'POST', headers, body });
      assert.equal(r.status, 401, `${tamper}: ${r.body}`);
      assert.equal(r.headers['wxseal-error'], 'WXSEAL_BAD_SIGNATURE', tamper);
      assert.equal(r.headers['wxseal-signature'], undefined, 'unsigned: the key was never known');
    }
    assert.equal(await unwraps(), before, 'no SM2 decryption for a forged request');
  });
});

describe('Java Client -> Node gateway', () => {
  const rsa: TestKeys = makeKeys('bff-java-client');
  const x: TestKeys = { ...makeKeys('bff-java-client', 'x25519'), keyId: rsa.keyId, secret: rsa.secret };
  const sm = makeSm2Keys(rsa.keyId, rsa.secret);
  // the armored hex form of SPEC 6.6 for the same SM2 public key
  const smText: TestKeys = { ...sm, publicKeyPem: formatSm2PublicKey(sm.publicKeyHex) };
  let upstream: Upstream | undefined;
  let gateway: RunningGateway | undefined;

  before(async () => {
    upstream = await startUpstream();
    gateway = await startGateway(baseConfig(rsa, upstream.url, {
      serverKeys: [{ privateKey: rsa.privateKeyPem }, { privateKey: x.privateKeyPem }, { privateKey: sm.privateKeyPem }],
    }), {
      logger: captureLogger().logger,
    });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  for (const [name, keys] of [['RSA-OAEP', rsa], ['X25519', x], ['SM2', sm], ['SM2, armored hex public key', smText]] as const) {
    it(`a sealed request with identity (${name}) reaches the upstream and the sealed answer opens`, async () => {
      const pem = join(dir, `gw-${name.replace(/[^A-Za-z0-9]/g, '_')}.pub.pem`);
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
      assert.equal(seen.headers['x-wxseal-mode'], 'sealed');
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
