// The two commands a new user runs after `npm ci`: `npm start` (then `npx wxseal call` through
// it) and `npm run demo`. Both must keep working from a clean clone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopProcess } from '../support/processes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsx = ['--conditions=wxseal-source', '--import', 'tsx'];

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, timeout: 120_000, env: { ...process.env, NO_COLOR: '1', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test('npm start serves, and `wxseal call` through it returns the upstream answer decrypted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wxseal-start-'));
  const child = spawnTracked(process.execPath, [...tsx, 'examples/demo/start.ts'], { cwd: root, env: { ...process.env, PORT: '0', ADMIN_PORT: '0', WXSEAL_DEV_DIR: dir } });
  try {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`npm start did not come up: ${out}`)), 120_000);
      child.stdout!.on('data', () => {
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m && out.includes('Stop with Ctrl-C')) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      child.on('exit', (code) => reject(new Error(`npm start exited ${code}: ${out}`)));
    });
    assert.match(out, /npx wxseal call -c .*client\.json/);
    const r = await run([join(root, 'packages/cli/bin/wxseal.js'), 'call', '-c', join(dir, 'client.json'), '-d', '{"sku":"A-1"}', '--openid', 'o-start', '--source', 'wx_client', '/api/orders']);
    assert.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as { service: string; caller: { openid: string }; received: unknown };
    assert.equal(answer.service, 'demo-upstream');
    assert.equal(answer.caller.openid, 'o-start');
    assert.deepEqual(answer.received, { sku: 'A-1' });
    assert.ok(url.startsWith('http://127.0.0.1:'));

    // The console on the admin listener, with the printed development login.
    const consoleUrl = /console\s+(http:\/\/127\.0\.0\.1:\d+\/console\/)/.exec(out)?.[1];
    const token = /development token (\S+)/.exec(out)?.[1];
    assert.ok(consoleUrl && token, `console URL and login hint printed: ${out}`);
    const page = await fetch(consoleUrl);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(await page.text(), /<script type="module"[^>]+src="\/console\/assets\//);
    const admin = new URL('/admin/api/v1/', consoleUrl);
    assert.equal((await fetch(new URL('devices', admin))).status, 401, 'nothing without a session');
    const login = await fetch(new URL('session', admin), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    assert.equal(login.status, 200, await login.clone().text());
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const session = (await fetch(new URL('session', admin), { headers: { cookie } })).status;
    assert.equal(session, 200);
  } finally {
    // Also when it already exited (waiting for an 'exit' that has fired would hang), and its group with it.
    await stopProcess(child, 'SIGTERM', 30_000);
  }
});

test('npm run demo plays the story and exits 0', async () => {
  const r = await run([...tsx, 'examples/demo/demo.ts'], { WXSEAL_DEV_DIR: mkdtempSync(join(tmpdir(), 'wxseal-demo-')) });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const expected of [/→ 401 WXSEAL_BAD_SIGNATURE/, /same bytes again → 401 WXSEAL_REPLAYED_NONCE/, /→ 401 WXSEAL_TIMESTAMP_EXPIRED/, /offset now 30\d s/, /demo complete/]) {
    assert.match(r.stdout, expected);
  }
  assert.doesNotMatch(r.stdout, /✘/);
});
