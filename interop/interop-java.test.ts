// Cross-checks SPEC.md with an independent Java 17 implementation (interop/java), written from
// SPEC.md and spec/vectors alone. It compiles the Java sources with javac and runs the vector check.
// A missing JDK is a FAILURE, never a skip: the point of this test is that it runs.
//
//   cd /work/main && node --import tsx --test interop/interop-java.test.ts

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const srcDir = join(here, 'java', 'src');
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

function readJson(file: string): Vector {
  return JSON.parse(readFileSync(join(vectorsDir, file), 'utf8'));
}

/** The number of vector cases the Java checker must report as passed: one per case, in every file. */
function expectedCaseCount(): number {
  const count = (a: unknown, what: string): number => {
    assert.ok(Array.isArray(a) && a.length > 0, `${what} must be a non-empty array`);
    return (a as unknown[]).length;
  };
  const one = (o: unknown, what: string): number => {
    assert.ok(o !== null && typeof o === 'object' && !Array.isArray(o), `${what} must be an object`);
    return 1;
  };
  const rsa = readJson('rsa-oaep.json');
  const response = readJson('response.json');
  const activation = readJson('device-activation.json');
  const deviceRequest = readJson('device-request.json');
  count(rsa.keys, 'rsa-oaep.json keys');
  return (
    count(readJson('canonical-query.json').cases, 'canonical-query.json cases') +
    count(readJson('sign.json').cases, 'sign.json cases') +
    (rsa.keys as Array<{ cases: unknown }>).reduce((n, k, i) => n + count(k.cases, `rsa-oaep.json keys[${i}].cases`), 0) +
    count(readJson('seal-request.json').cases, 'seal-request.json cases') +
    count(response.sealed, 'response.json sealed') +
    count(response.signed, 'response.json signed') +
    count(response.mustNotOpen, 'response.json mustNotOpen') +
    count(response.signedRejections, 'response.json signedRejections') +
    count(response.rejectionMustNotVerify, 'response.json rejectionMustNotVerify') +
    count(readJson('reject.json').cases, 'reject.json cases') +
    // SPEC section 15
    count(activation.activation, 'device-activation.json activation') +
    count(activation.delivery, 'device-activation.json delivery') +
    count(activation.verify?.cases, 'device-activation.json verify.cases') +
    count(activation.mustNotOpen, 'device-activation.json mustNotOpen') +
    count(deviceRequest.cases, 'device-request.json cases') +
    one(deviceRequest.rotation, 'device-request.json rotation') // one exchange, checked as one case
  );
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
    classes = mkdtempSync(join(tmpdir(), 'wxseal-java-classes-'));
    scratch = mkdtempSync(join(tmpdir(), 'wxseal-java-vectors-'));
    const c = run('javac', ['--release', '17', '-encoding', 'UTF-8', '-d', classes, ...sources]);
    assert.equal(c.status, 0, `javac failed (status ${c.status}):\n${c.stdout}\n${c.stderr}`);
  });

  after(() => {
    if (classes) rmSync(classes, { recursive: true, force: true });
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('reproduces every vector case with 0 failures', () => {
    const expected = expectedCaseCount();
    assert.ok(expected > 0);
    const r = run('java', ['-cp', classes, mainClass, 'check', vectorsDir]);
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
    const r = run('java', ['-cp', classes, mainClass, 'check', scratch]);
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
    const r = run('java', ['-cp', classes, mainClass, 'check', scratch]);
    const { passed, failed } = summary(r.stdout);
    assert.notEqual(r.status, 0, 'the Java checker must exit non-zero on a failure');
    assert.equal(failed, 1, r.stdout);
    assert.match(r.stdout, /FAIL response\.mustNotOpen\[0\]/);
    assert.equal(passed, expectedCaseCount() - 1, r.stdout);
  });

  // Each mutation of a vector must make exactly its own case fail (SPEC 10.1 and 7, then section 15).
  const deviceMutations: Array<{ name: string; file: string; unit: RegExp; mutate: (v: Vector) => void }> = [
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
  ];

  for (const m of deviceMutations) {
    it(`is not vacuous for ${m.file}: ${m.name} corrupted gives exactly one failure`, () => {
      mutatedCopy(scratch, m.file, m.mutate);
      const r = run('java', ['-cp', classes, mainClass, 'check', scratch]);
      const { passed, failed } = summary(r.stdout);
      assert.notEqual(r.status, 0, 'the Java checker must exit non-zero on a failure');
      assert.equal(failed, 1, r.stdout);
      assert.match(r.stdout, m.unit);
      assert.equal(passed, expectedCaseCount() - 1, r.stdout);
    });
  }

  it('device state machine self-test (SPEC 15.5, 15.7, 15.8 scenarios no vector covers) passes', () => {
    const r = run('java', ['-cp', classes, mainClass, 'device-selftest']);
    const { passed, failed } = summary(r.stdout);
    assert.equal(failed, 0, r.stdout);
    assert.equal(r.status, 0, r.stdout);
    assert.ok(passed > 0, r.stdout);
  });
});
