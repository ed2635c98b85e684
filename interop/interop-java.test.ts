// Cross-checks SPEC.md with the Java implementation: the interop harness (interop/java: the device
// client and server of SPEC 15, the verifier with device keys) runs on the Java library's protocol
// core (java/src: B64u, Crypto, Hpke, Json, Protocol), compiled together with it. Its vector check is
// the library's checker (java/test VectorTests, compiled with it: the shared files, sm.json included)
// followed by the device files, in one tally. It compiles the Java sources with javac and runs the
// vector check, then live sealed exchanges with the Node reference client and verifier (RSA and
// X25519 keys).
// A missing JDK (or Bouncy Castle, which the library's SM suite needs) is a FAILURE, never a skip.
//
//   cd /work/main && node --conditions=wxseal-source --import tsx --test interop/interop-java.test.ts

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildRequest, openResponse } from '@wxseal/protocol';
import { MemoryNonceStore, ServerKeyRing, StaticKeyResolver, createVerifier, sealVerifiedResponse, serverKeyIdFor } from '@wxseal/server';
import { deviceVectorCases, libraryVectorCases } from './java-vector-cases.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const srcDir = join(here, 'java', 'src');
const librarySrcDir = join(root, 'java', 'src');
// The one vector checker of the shared files (the library's); the harness's `check` runs it, then the device files.
const vectorTestsSrc = join(root, 'java', 'test', 'dev', 'wxseal', 'test', 'VectorTests.java');
const bcprovJar = process.env.BCPROV_JAR ?? '/usr/share/java/bcprov.jar';
const vectorsDir = join(root, 'spec', 'vectors');
const mainClass = 'dev.wxseal.interop.Main';

function javaSources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...javaSources(p));
    else if (e.name.endsWith('.java')) out.push(p);
  }
  return out;
}

// The vectors are JSON of a dozen shapes (SPEC section 15), read and mutated ad hoc by the checks
// below; typing each shape here would restate the vector formats in a test.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped parsed JSON, see above
type Vector = any;

/**
 * The number of vector cases `check` must report as passed: the library's checker (VectorTests, the
 * shared files, sm.json included) plus the device files (SPEC 15), each counted from the files.
 */
function expectedCaseCount(): number {
  return libraryVectorCases(vectorsDir) + deviceVectorCases(vectorsDir);
}

/** Copies the vectors to dir, lets mutate change one file's parsed JSON, and writes it back. */
function mutatedCopy(dir: string, file: string, mutate: (v: Vector) => void): void {
  rmSync(dir, { recursive: true, force: true });
  cpSync(vectorsDir, dir, { recursive: true });
  const p = join(dir, file);
  const v = JSON.parse(readFileSync(p, 'utf8'));
  mutate(v);
  writeFileSync(p, JSON.stringify(v));
}

const b64uEncode = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const b64uDecode = (s: string): Buffer => Buffer.from(s, 'base64url');

/** Changes the first digit of a hex value (0 <-> 1), keeping it hex of the same length. */
function flipHex(s: string): string {
  return (s[0] === '0' ? '1' : '0') + s.slice(1);
}

/** Flips the first character of a b64u value (A <-> B), keeping it valid b64u of the same length. */
function flip(s: string): string {
  return (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
}

function run(cmd: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 170_000 });
}

function summary(stdout: string): { passed: number; failed: number } {
  const lines = stdout.trimEnd().split('\n');
  const last = lines[lines.length - 1] ?? '';
  const m = /^(\d+) passed, (\d+) failed$/.exec(last);
  assert.ok(m, `the last line of the Java checker must be "N passed, M failed", got: ${JSON.stringify(last)}`);
  return { passed: Number(m[1]), failed: Number(m[2]) };
}

describe('independent Java implementation (interop/java) against spec/vectors', { timeout: 300_000 }, () => {
  let classes = '';
  let scratch = '';

  before(() => {
    const probe = spawnSync('javac', ['-version'], { encoding: 'utf8' });
    if (probe.error) {
      assert.fail(
        `javac is not on PATH (${probe.error.message}). This interop test needs a JDK 17 or later ` +
          `(for example: apt-get install openjdk-17-jdk-headless); it never skips.`,
      );
    }
    const sources = javaSources(srcDir);
    assert.ok(sources.length > 0, `no Java sources under ${srcDir}`);
    // One protocol core: the harness has no copy of B64u, Crypto, Hpke, Json or Protocol; it compiles
    // against the library's (its servlet filter aside, which needs the Servlet API).
    for (const dup of ['B64u', 'Crypto', 'Hpke', 'Json', 'Protocol']) {
      assert.ok(!sources.some((f) => f.endsWith(`/${dup}.java`)), `interop/java must not hold its own ${dup}.java`);
    }
    const library = javaSources(librarySrcDir).filter((f) => !f.includes('/servlet/'));
    assert.ok(library.some((f) => f.endsWith('/Protocol.java')), `no library sources under ${librarySrcDir}`);
    classes = mkdtempSync(join(tmpdir(), 'wxseal-java-classes-'));
    scratch = mkdtempSync(join(tmpdir(), 'wxseal-java-vectors-'));
    const c = run('javac', ['--release', '17', '-encoding', 'UTF-8', '-cp', bcprovJar, '-d', classes, ...library, vectorTestsSrc, ...sources]);
    assert.equal(c.status, 0, `javac failed (status ${c.status}; ${bcprovJar} is needed by the library's SM suite):\n${c.stdout}\n${c.stderr}`);
  });

  after(() => {
    if (classes) rmSync(classes, { recursive: true, force: true });
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('reproduces every vector case with 0 failures', () => {
    const expected = expectedCaseCount();
    assert.ok(expected > 0);
    const r = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'check', vectorsDir]);
    assert.equal(r.error, undefined, `could not run java: ${r.error?.message}`);
    const { passed, failed } = summary(r.stdout);
    assert.equal(failed, 0, `Java checker reported failures:\n${r.stdout}\n${r.stderr}`);
    assert.equal(r.status, 0, `Java checker exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    assert.equal(passed, expected, `Java checker passed ${passed} cases, the vector files hold ${expected}`);
  });

  it('is not vacuous: one corrupted vector value gives exactly one failure and a non-zero exit', () => {
    rmSync(scratch, { recursive: true, force: true });
    cpSync(vectorsDir, scratch, { recursive: true });
    const file = join(scratch, 'sign.json');
    const sign = JSON.parse(readFileSync(file, 'utf8'));
    const sig: string = sign.cases[0].signature;
    sign.cases[0].signature = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    writeFileSync(file, JSON.stringify(sign));
    const r = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'check', scratch]);
    const { passed, failed } = summary(r.stdout);
    assert.notEqual(r.status, 0, 'the Java checker must exit non-zero on a failure');
    assert.equal(failed, 1, r.stdout);
    assert.equal(passed, expectedCaseCount() - 1, r.stdout);
  });

  it('is not vacuous for mustNotOpen: a response that does open there gives exactly one failure', () => {
    rmSync(scratch, { recursive: true, force: true });
    cpSync(vectorsDir, scratch, { recursive: true });
    const file = join(scratch, 'response.json');
    const response = JSON.parse(readFileSync(file, 'utf8'));
    const { input, expected } = response.sealed[0];
    // Replace mustNotOpen[0] by the untouched sealed[0] response: it opens, so the check must fail.
    response.mustNotOpen[0] = {
      description: 'mutation: an untouched response',
      sessionKey: input.sessionKey,
      keyId: input.keyId,
      requestNonce: input.requestNonce,
      status: expected.wireStatus,
      responseNonce: input.responseNonce,
      sealedBody: expected.sealedBody,
    };
    writeFileSync(file, JSON.stringify(response));
    const r = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'check', scratch]);
    const { passed, failed } = summary(r.stdout);
    assert.notEqual(r.status, 0, 'the Java checker must exit non-zero on a failure');
    assert.equal(failed, 1, r.stdout);
    assert.match(r.stdout, /FAIL response\.mustNotOpen\[0\]/);
    assert.equal(passed, expectedCaseCount() - 1, r.stdout);
  });

  // Each mutation of a vector must make exactly its own case fail (SPEC 10.1 and 7, then section 15, then 6.5 and 6.6).
  const mutations: Array<{ name: string; file: string; unit: RegExp; mutate: (v: Vector) => void }> = [
    {
      name: 'signed rejection signature',
      file: 'response.json',
      unit: /FAIL response\.signedRejections\[0\]/,
      mutate: (v) => { v.signedRejections[0].expected.signature = flip(v.signedRejections[0].expected.signature); },
    },
    {
      name: 'rejectionMustNotVerify replaced by a rejection that does verify',
      file: 'response.json',
      unit: /FAIL response\.rejectionMustNotVerify\[0\]/,
      mutate: (v) => { v.rejectionMustNotVerify[0] = { description: 'mutation: an untouched signed rejection', request: v.signedRejections[1].request, response: v.signedRejections[1].response }; },
    },
    {
      name: 'identity handed on (a lone surrogate kept instead of U+FFFD)',
      file: 'reject.json',
      unit: /FAIL reject\[\d+\] sign-only identity with lone surrogate escapes/,
      mutate: (v) => {
        const c = v.cases.find((x: Vector) => x.expectedIdentity?.openid === 'o-\ufffd-1');
        c.expectedIdentity.openid = 'o-?-1';
      },
    },
    {
      name: 'activation signature',
      file: 'device-activation.json',
      unit: /FAIL device-activation\.activation\[0\]/,
      mutate: (v) => { v.activation[0].expected.signature = flip(v.activation[0].expected.signature); },
    },
    {
      name: 'delivery sealedKey',
      file: 'device-activation.json',
      unit: /FAIL device-activation\.delivery\[0\]/,
      mutate: (v) => { v.delivery[0].expected.sealedKey = flip(v.delivery[0].expected.sealedKey); },
    },
    {
      name: 'delivery HKDF info',
      file: 'device-activation.json',
      unit: /FAIL device-activation\.delivery\[2\]/,
      mutate: (v) => { v.delivery[2].expected.hkdfInfo = 'WXSEAL1 device-key activate'; },
    },
    {
      name: 'activation verifier expected code',
      file: 'device-activation.json',
      unit: /FAIL device-activation\.verify\[0\]/,
      mutate: (v) => { v.verify.cases[0].expectedCode = 'WXSEAL_BAD_SIGNATURE'; },
    },
    {
      name: 'activation verifier: a rejected case expected to pass',
      file: 'device-activation.json',
      unit: /FAIL device-activation\.verify\[\d+\] timestamp 61 s old/,
      mutate: (v) => {
        const c = v.verify.cases.find((x: Vector) => x.expectedCode === 'WXSEAL_TIMESTAMP_EXPIRED');
        c.expectedCode = null;
        c.expectedSecretIndex = 0;
      },
    },
    {
      name: 'mustNotOpen replaced by a delivery that does open',
      file: 'device-activation.json',
      unit: /FAIL device-activation\.mustNotOpen\[0\]/,
      mutate: (v) => {
        const d = v.delivery[0].input;
        v.mustNotOpen[0] = {
          description: 'mutation: an untouched delivery',
          binding: { purpose: d.purpose, wrappingSecret: d.wrappingSecret, productId: d.productId, serial: d.serial, requestNonce: d.requestNonce },
          body: v.delivery[0].expected.body,
        };
      },
    },
    {
      name: 'device request signature',
      file: 'device-request.json',
      unit: /FAIL device-request\.cases\[0\]/,
      mutate: (v) => { v.cases[0].expected.headers['wxseal-signature'] = flip(v.cases[0].expected.headers['wxseal-signature']); },
    },
    {
      name: 'rotation response signature',
      file: 'device-request.json',
      unit: /FAIL device-request\.rotation/,
      mutate: (v) => { v.rotation.response.headers['wxseal-signature'] = flip(v.rotation.response.headers['wxseal-signature']); },
    },
    // SPEC 6.5 (x25519.json)
    {
      name: 'HPKE shared secret of a wrap',
      file: 'x25519.json',
      unit: /FAIL x25519\.wraps\[0\]/,
      mutate: (v) => { v.wraps[0].sharedSecretHex = flipHex(v.wraps[0].sharedSecretHex); },
    },
    {
      name: 'HPKE base nonce of a wrap',
      file: 'x25519.json',
      unit: /FAIL x25519\.wraps\[1\]/,
      mutate: (v) => { v.wraps[1].baseNonceHex = flipHex(v.wraps[1].baseNonceHex); },
    },
    {
      name: 'wrapped key of a sealed request (also signed, so the verifier refuses it)',
      file: 'x25519.json',
      unit: /FAIL x25519\.sealed\[0\]/,
      mutate: (v) => { v.sealed[0].expected.headers['wxseal-wrapped-key'] = flip(v.sealed[0].expected.headers['wxseal-wrapped-key']); },
    },
    {
      name: 'sealed response body',
      file: 'x25519.json',
      unit: /FAIL x25519\.sealed\[1\]/,
      mutate: (v) => { v.sealed[1].response.expected.sealedBody = flip(v.sealed[1].response.expected.sealedBody); },
    },
    {
      name: 'unwrapFailures replaced by a wrapped key that does unwrap',
      file: 'x25519.json',
      unit: /FAIL x25519\.unwrapFailures\[0\]/,
      mutate: (v) => { v.unwrapFailures[0] = { description: 'mutation: an untouched wrap', wrapped: v.wraps[0].wrapped }; },
    },
    // SPEC 6.6 (sm.json): checked by check through the library's checker, as the shared files are
    {
      name: 'signature of a sealed SM request',
      file: 'sm.json',
      unit: /FAIL sm\.sealed\[0\]/,
      mutate: (v) => { v.sealed[0].expected.headers['wxseal-signature'] = flip(v.sealed[0].expected.headers['wxseal-signature']); },
    },
  ];

  for (const m of mutations) {
    it(`is not vacuous for ${m.file}: ${m.name} corrupted gives exactly one failure`, () => {
      mutatedCopy(scratch, m.file, m.mutate);
      const r = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'check', scratch]);
      const { passed, failed } = summary(r.stdout);
      assert.notEqual(r.status, 0, 'the Java checker must exit non-zero on a failure');
      assert.equal(failed, 1, r.stdout);
      assert.match(r.stdout, m.unit);
      assert.equal(passed, expectedCaseCount() - 1, r.stdout);
    });
  }

  it('HPKE self-test against RFC 9180 appendix A.1.1 (the HPKE under SPEC 6.5) passes', () => {
    const r = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'hpke-selftest']);
    const { passed, failed } = summary(r.stdout);
    assert.equal(failed, 0, r.stdout);
    assert.equal(r.status, 0, r.stdout);
    assert.ok(passed > 0, r.stdout);
  });

  // Live exchanges with keys made here (never committed): the Node reference client (buildRequest,
  // openResponse) against the Java verifier, and the Java client against the Node verifier
  // (@wxseal/server), for an X25519 server key (SPEC 6.5) and, as the control, an RSA one.
  for (const type of ['x25519', 'rsa'] as const) {
    const makeKey = () =>
      type === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });

    it(`Node client -> Java verifier, sealed to a fresh ${type} server key, and the Java-sealed response opens in Node`, () => {
      const { privateKey, publicKey } = makeKey();
      const serverKeyId = serverKeyIdFor(publicKey);
      const keyId = 'interop-node-client';
      const secret = randomBytes(32);
      const dir = mkdtempSync(join(tmpdir(), 'wxseal-java-live-'));
      try {
        const pemFile = join(dir, 'server.pem');
        writeFileSync(pemFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
        const payload = '{"sku":"A-1","note":"中文"}';
        const built = buildRequest({
          mode: 'sealed',
          method: 'POST',
          target: '/api/orders?b=2&a=1',
          keyId,
          secret,
          serverKey: { id: serverKeyId, publicKey },
          body: Buffer.from(payload, 'utf8'),
          contentType: 'application/json',
          identity: { openid: 'o-interop-1', appid: 'wx-interop' },
        });
        const wrappedLength = built.headers['wxseal-wrapped-key']!.length;
        if (type === 'x25519') assert.equal(wrappedLength, 107);
        else assert.equal(wrappedLength, 342);
        const reqFile = join(dir, 'request.json');
        writeFileSync(reqFile, JSON.stringify({ method: 'POST', target: '/api/orders?b=2&a=1', headers: built.headers, body: b64uEncode(built.body) }));
        const r = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'verify-request', pemFile, serverKeyId, keyId, b64uEncode(secret), reqFile]);
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
        const out = JSON.parse(r.stdout);
        assert.equal(out.code, null, r.stdout);
        assert.equal(Buffer.from(b64uDecode(out.body)).toString('utf8'), payload);
        assert.equal(out.contentType, 'application/json');
        assert.deepEqual(out.identity, { openid: 'o-interop-1', appid: 'wx-interop' });
        const headers: Record<string, string> = out.response.headers;
        const opened = openResponse(built.context, {
          status: out.response.status,
          header: (name) => headers[name.toLowerCase()],
          body: b64uDecode(out.response.body),
        });
        assert.equal(opened.status, 201);
        assert.equal(opened.contentType, 'application/json');
        assert.deepEqual(JSON.parse(Buffer.from(opened.body).toString('utf8')), { echo: payload });

        // Not vacuous: the same request under another secret is refused by the Java verifier.
        const bad = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'verify-request', pemFile, serverKeyId, keyId, b64uEncode(randomBytes(32)), reqFile]);
        assert.equal(JSON.parse(bad.stdout).code, 'WXSEAL_BAD_SIGNATURE', bad.stdout);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it(`Java client -> Node verifier, sealed to a fresh ${type} server key, and the Node-sealed response opens in Java`, async () => {
      const { privateKey, publicKey } = makeKey();
      const other = type === 'x25519' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('x25519');
      const serverKeyId = serverKeyIdFor(publicKey);
      const keyId = 'interop-java-client';
      const secret = randomBytes(32);
      const verifier = createVerifier({
        keys: new StaticKeyResolver([{ keyId, secrets: [{ id: 's1', secret }] }]),
        nonceStore: new MemoryNonceStore(),
        // a ring holding both types: the named key decides the suite (SPEC 2)
        serverKeys: new ServerKeyRing([{ id: serverKeyId, privateKey }, { privateKey: other.privateKey }]),
      });
      const dir = mkdtempSync(join(tmpdir(), 'wxseal-java-live-'));
      try {
        const pemFile = join(dir, 'server.pub.pem');
        writeFileSync(pemFile, publicKey.export({ type: 'spki', format: 'pem' }));
        const payload = '{"qty":2,"note":"<&>"}';
        const r = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'seal-request', pemFile, serverKeyId, keyId, b64uEncode(secret), 'PUT',
          '/api/carts/7?z=1&a=%20', 'application/json', b64uEncode(Buffer.from(payload, 'utf8'))]);
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
        const sent = JSON.parse(r.stdout);
        assert.equal(sent.headers['wxseal-wrapped-key'].length, type === 'x25519' ? 107 : 342);
        const verified = await verifier.verify({ method: sent.method, target: sent.target, headers: sent.headers, body: b64uDecode(sent.body) });
        assert.equal(verified.mode, 'sealed');
        assert.equal(verified.serverKeyId, serverKeyId);
        assert.equal(verified.body.toString('utf8'), payload);
        assert.equal(verified.contentType, 'application/json');
        const wire = sealVerifiedResponse(verified, { status: 202, contentType: 'text/plain; charset=utf-8', body: 'accepted 中文' });
        const ctxFile = join(dir, 'sent.json');
        const resFile = join(dir, 'response.json');
        writeFileSync(ctxFile, r.stdout);
        writeFileSync(resFile, JSON.stringify({ status: wire.status, headers: wire.headers, body: b64uEncode(wire.body) }));
        const o = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'open-response', ctxFile, resFile]);
        assert.equal(o.status, 0, `${o.stdout}\n${o.stderr}`);
        const opened = JSON.parse(o.stdout);
        assert.equal(opened.status, 202);
        assert.equal(opened.contentType, 'text/plain; charset=utf-8');
        assert.equal(Buffer.from(b64uDecode(opened.body)).toString('utf8'), 'accepted 中文');

        // Not vacuous: the response under another status does not open in Java.
        writeFileSync(resFile, JSON.stringify({ status: 200, headers: wire.headers, body: b64uEncode(wire.body) }));
        const o2 = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'open-response', ctxFile, resFile]);
        assert.notEqual(o2.status, 0, o2.stdout);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('device state machine self-test (SPEC 15.5, 15.7, 15.8 scenarios no vector covers) passes', () => {
    const r = run('java', ['-cp', `${classes}:${bcprovJar}`, mainClass, 'device-selftest']);
    const { passed, failed } = summary(r.stdout);
    assert.equal(failed, 0, r.stdout);
    assert.equal(r.status, 0, r.stdout);
    assert.ok(passed > 0, r.stdout);
  });
});
