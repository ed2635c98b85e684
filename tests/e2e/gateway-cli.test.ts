// The gateway's commands of the CLI, run from the sources: `wxseal gateway --check` validates a
// config file without starting anything, `wxseal admin hash-password` hashes a password read from
// stdin. (Moved here from the gateway package's tests: the CLI depends on the gateway.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { parsePasswordHash, verifyPassword } from '@wxseal/gateway';
import { baseConfig, makeKeys, tempDir, writeYaml } from '../support/gateway.js';
import { WXSEAL_CLI, root } from '../support/gateway-process.js';

const keys = makeKeys('bff-config');
const valid = (): Record<string, unknown> => baseConfig(keys, 'http://127.0.0.1:9');

// A config to break one field at a time: the patches reach into nested objects of every shape, and
// the config must be free to be wrong (that is what is tested), so its fields are untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type AnyConfig = Record<string, any>;

function withPatch(patch: (c: AnyConfig) => void): Record<string, unknown> {
  const c = structuredClone(valid()) as AnyConfig;
  patch(c);
  return c;
}

describe('wxseal gateway --check', () => {
  function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [...WXSEAL_CLI, ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  }

  test('a valid config: exit 0; a broken one: exit 2 and every issue with its path on stderr', async () => {
    const dir = tempDir();
    const good = writeYaml(dir, 'good.yaml', valid());
    const bad = writeYaml(dir, 'bad.yaml', withPatch((c) => ((c.routes[0].upstream = 'nope'), (c.limits = { windowSeconds: 0 }))));
    const [ok, broken] = await Promise.all([run(['gateway', '--config', good, '--check']), run(['gateway', '--config', bad, '--check'])]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /config OK: 1 route\(s\), 1 client\(s\), 1 server key\(s\)/);
    assert.equal(broken.code, 2);
    // The CLI's failure format: the code, the file and the option first, then one issue per line.
    assert.match(broken.stderr, /^wxseal: WXSEAL_CONFIG_INVALID: .*bad\.yaml has 2 problems \(--config\):\n/);
    assert.match(broken.stderr, /- routes\[0\]\.upstream: must be an http\(s\) URL/);
    assert.match(broken.stderr, /- limits\.windowSeconds: must be an integer from 1 to 300/);
  });
});

describe('wxseal admin hash-password', () => {
  test('wxseal admin hash-password reads stdin and prints a scrypt hash', async () => {
    const child = spawn(process.execPath, [...WXSEAL_CLI, 'admin', 'hash-password'], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.end('a long enough password\n');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0, err);
    const parsed = parsePasswordHash(out.trim());
    assert.ok(parsed, `a scrypt hash: ${out}`);
    assert.ok(await verifyPassword('a long enough password', parsed), 'verifies');
    assert.ok(!(await verifyPassword('a long enough password\n', parsed)), 'the newline is not part of it');
    assert.ok(!out.includes('a long enough password') && !err.includes('a long enough password'), 'never echoed');
  });
});
