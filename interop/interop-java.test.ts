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

function readJson(file: string): any {
  return JSON.parse(readFileSync(join(vectorsDir, file), 'utf8'));
}

/** The number of vector cases the Java checker must report as passed: one per case, in every file. */
function expectedCaseCount(): number {
  const count = (a: unknown, what: string): number => {
    assert.ok(Array.isArray(a) && a.length > 0, `${what} must be a non-empty array`);
    return (a as unknown[]).length;
  };
  const rsa = readJson('rsa-oaep.json');
  const response = readJson('response.json');
  count(rsa.keys, 'rsa-oaep.json keys');
  return (
    count(readJson('canonical-query.json').cases, 'canonical-query.json cases') +
    count(readJson('sign.json').cases, 'sign.json cases') +
    (rsa.keys as Array<{ cases: unknown }>).reduce((n, k, i) => n + count(k.cases, `rsa-oaep.json keys[${i}].cases`), 0) +
    count(readJson('seal-request.json').cases, 'seal-request.json cases') +
    count(response.sealed, 'response.json sealed') +
    count(response.signed, 'response.json signed') +
    count(response.mustNotOpen, 'response.json mustNotOpen') +
    count(readJson('reject.json').cases, 'reject.json cases')
  );
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
});
