// The path a new user takes, through the real bin: `wxseal keygen`, then `wxseal gateway` started
// from exactly the gateway.yaml keygen wrote, then `wxseal call` with the client.json next to it —
// and every way that path can fail answered by one line with a code and the option it concerns.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rejectionResponse } from '@wxseal/protocol';
import { freePort } from '../../../tests/support/net.js';
import { exitOf, spawnTracked, stopProcess } from '../../../tests/support/processes.js';
import { bin, lines, root, runWxseal } from './cli-run.js';
import { assertBuildIsFresh } from './device-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wxseal-newcomer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An upstream that answers with what it was sent; counts the requests that reached it. */
async function startEcho(): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url, openid: req.headers['x-wxseal-openid'] ?? null, contentType: req.headers['content-type'] ?? null, body: Buffer.concat(chunks).toString('utf8') }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Waits until the admin listener says ready, or fails with what the gateway printed. */
async function waitReady(adminUrl: string, child: ReturnType<typeof spawnTracked>, output: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  let exited = false;
  void exitOf(child).then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the gateway exited: ${output()}`);
    try {
      if ((await fetch(`${adminUrl}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the gateway did not become ready within 90 s: ${output()}`);
}

describe('keygen → gateway from its gateway.yaml → call with its client.json', () => {
  const out = join(dir, 'wxseal');
  let upstream: Awaited<ReturnType<typeof startEcho>>;
  let gateway: ReturnType<typeof spawnTracked> | undefined;
  let gatewayPort: number;
  let secret: string;

  before(async () => {
    assertBuildIsFresh();
    upstream = await startEcho();
    gatewayPort = await freePort();
    const adminPort = await freePort();
    const gen = await runWxseal(['keygen', '--out', out, '--base-url', `http://127.0.0.1:${gatewayPort}`, '--upstream', upstream.url, '--admin-port', String(adminPort)]);
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stdout, /wrote .*gateway\.yaml/);
    assert.match(gen.stdout, /npx wxseal gateway --config .*gateway\.yaml/);
    secret = readFileSync(join(out, 'client-secret.txt'), 'utf8').trim();

    let printed = '';
    gateway = spawnTracked(process.execPath, [bin, 'gateway', '--config', join(out, 'gateway.yaml')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    gateway.stdout!.on('data', (c: Buffer) => (printed += c.toString()));
    gateway.stderr!.on('data', (c: Buffer) => (printed += c.toString()));
    await waitReady(`http://127.0.0.1:${adminPort}`, gateway, () => printed);
  });
  after(async () => {
    if (gateway) await stopProcess(gateway, 'SIGTERM');
    await upstream?.close();
  });

  const call = (args: string[]) => runWxseal(['call', '-c', join(out, 'client.json'), ...args], { cwd: dir });

  test('a sealed call with an identity reaches the upstream and comes back decrypted; sign-only works too', async () => {
    const r = await call(['-d', '{"sku":"A-1"}', '--openid', 'o-new', '--source', 'wx_client', '/api/orders']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { path: '/api/orders', openid: 'o-new', contentType: 'application/json', body: '{"sku":"A-1"}' });
    const signed = await call(['--mode', 'signed', '/api/orders/7']);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(JSON.parse(signed.stdout).path, '/api/orders/7');
  });

  test('an unrouted path is reported with the gateway\'s code, not as an unsealed response', async () => {
    const r = await call(['/nowhere']);
    assert.equal(r.code, 2);
    assert.deepEqual(lines(r.stderr), [r.stderr.trimEnd()], 'one line');
    assert.match(r.stderr, /^wxseal: WXSEAL_ROUTE_NOT_FOUND \(HTTP 404\): /);
  });

  test('--verbose shows the request (method, URL, wxseal headers shortened, body size) and the response, never the secret', async () => {
    const r = await call(['--verbose', '-d', '{"sku":"V-1"}', '/api/verbose']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^> POST http://127\\.0\\.0\\.1:${gatewayPort}/api/verbose$`, 'm'));
    assert.match(r.stderr, /^> wxseal-key-id: bff-1$/m);
    assert.match(r.stderr, /^> wxseal-signature: \S{12}…\(43 chars\)$/m);
    assert.match(r.stderr, /^> wxseal-wrapped-key: \S{12}…\(\d+ chars\)$/m);
    assert.match(r.stderr, /^> \(body: \d+ bytes, sealed; inside: application\/json\)$/m);
    assert.match(r.stderr, /^< 200 \(sealed, response authenticated\)$/m);
    assert.ok(!(r.stdout + r.stderr).includes(secret), 'the client secret was printed');
  });

  test('-d that is not JSON is refused before anything is sent, unless a content type is given', async () => {
    const before = upstream.hits();
    const r = await call(['-d', '{"sku": A-1}', '/api/orders']);
    assert.equal(r.code, 2);
    assert.deepEqual(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^wxseal: CLI_INVALID_INPUT: the body is not valid JSON .*-t\/--content-type.* \(--data\)$/m);
    assert.equal(upstream.hits(), before, 'nothing reached the upstream');
    const text = await call(['-t', 'text/plain', '-d', 'sku=A-1', '/api/orders']);
    assert.equal(text.code, 0, text.stderr);
    assert.deepEqual(JSON.parse(text.stdout), { path: '/api/orders', openid: null, contentType: 'text/plain', body: 'sku=A-1' });
  });

  test('-d @file: a missing file is one line naming the option', async () => {
    const r = await call(['-d', '@/missing.json', '/api/orders']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'wxseal: CLI_FILE_NOT_FOUND: no such file: /missing.json (--data)\n');
    writeFileSync(join(dir, 'body.json'), '{"from":"file"}');
    const ok = await call(['-d', `@${join(dir, 'body.json')}`, '/api/orders']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).body, '{"from":"file"}');
  });

  test('a second gateway on the same ports: one line with CLI_PORT_IN_USE naming the port and the config', async () => {
    const r = await runWxseal(['gateway', '--config', join(out, 'gateway.yaml')], { cwd: dir });
    assert.equal(r.code, 2);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^wxseal: CLI_PORT_IN_USE: 127\\.0\\.0\\.1:\\d+ is already in use: .*listeners\\.(public|admin)\\.port .*gateway\\.yaml \\(--config\\)$`, 'm'));
  });
});

test('a rejection with Wxseal-Error is reported by its code (a stand-in gateway answering 404 WXSEAL_ROUTE_NOT_FOUND)', async () => {
  const rejection = rejectionResponse('WXSEAL_ROUTE_NOT_FOUND', 'no route matches this path', Math.floor(Date.now() / 1000));
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(rejection.status, rejection.headers).end(rejection.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const out = join(dir, 'standin');
    assert.equal((await runWxseal(['keygen', '--out', out])).code, 0);
    const r = await runWxseal(['call', '-c', join(out, 'client.json'), '--base-url', `http://127.0.0.1:${(server.address() as AddressInfo).port}`, '/nowhere']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'wxseal: WXSEAL_ROUTE_NOT_FOUND (HTTP 404): the server rejected the request: no route matches this path\n');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('usage mistakes and config problems: one line with a code and the option, exit 2', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['keygen'], /^wxseal: CLI_USAGE: required option '--out <dir>' not specified/],
    [['keygen', '--out', join(dir, 'k'), '--bits', '1024'], /^wxseal: CLI_INVALID_INPUT: .*2048, 3072 or 4096 bits \(--bits\)$/],
    [['keygen', '--out', join(dir, 'k'), '--upstream', 'ftp://x'], /^wxseal: CLI_INVALID_INPUT: .* \(--upstream\)$/],
    [['call', '--mode', 'both', '/x'], /^wxseal: CLI_USAGE: option '--mode <mode>' argument 'both' is invalid/],
    [['call', '-c', join(dir, 'missing.json'), '/x'], /^wxseal: WXSEAL_CONFIG_INVALID: config: cannot read .*missing\.json.* \(--config\)$/],
    [['gateway', '--config', join(dir, 'missing.yaml')], /^wxseal: CLI_FILE_NOT_FOUND: no such file: .*missing\.yaml \(--config\)$/],
    [['frobnicate'], /^wxseal: CLI_USAGE: unknown command 'frobnicate'/],
  ];
  const results = await Promise.all(cases.map(([args]) => runWxseal(args, { cwd: dir })));
  cases.forEach(([args, pattern], i) => {
    const r = results[i]!;
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(lines(r.stderr).length, 1, `${args.join(' ')} printed more than one line:\n${r.stderr}`);
    assert.match(r.stderr.trimEnd(), pattern, args.join(' '));
  });
  const empty = await runWxseal(['admin', 'hash-password'], { input: '\n' });
  assert.equal(empty.code, 2);
  assert.equal(empty.stderr, 'wxseal: CLI_INVALID_INPUT: the password must not be empty (the first line of stdin, or typed at the prompt)\n');
  // A port someone else holds, for the WeChat mock.
  const busy = createNetServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  try {
    const port = (busy.address() as AddressInfo).port;
    const mock = await runWxseal(['mock-wechat', '--state-dir', join(dir, 'mock'), '--port', String(port)]);
    assert.equal(mock.code, 2, mock.stderr);
    assert.equal(mock.stderr, `wxseal: CLI_PORT_IN_USE: 127.0.0.1:${port} is already in use: stop what listens there, or choose another port (0 = any free port) (--port)\n`);
  } finally {
    await new Promise<void>((r) => busy.close(() => r()));
  }
  // A client.json whose secret file is gone: the config error, not a bare ENOENT.
  const out = join(dir, 'nosecret');
  assert.equal((await runWxseal(['keygen', '--out', out])).code, 0);
  rmSync(join(out, 'client-secret.txt'));
  const r = await runWxseal(['call', '-c', join(out, 'client.json'), '/x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^wxseal: WXSEAL_CONFIG_INVALID: config: cannot read secretFile client-secret\.txt \(ENOENT\) \(--config\)\n$/);
});

test('an unexpected failure is one line with CLI_INTERNAL_ERROR; the stack only with --debug or WXSEAL_DEBUG', async () => {
  // A preload that breaks key generation: an error no command anticipates.
  const preload = join(dir, 'break-keygen.cjs');
  writeFileSync(preload, "const c = require('node:crypto'); c.generateKeyPairSync = () => { throw new Error('entropy pool on fire'); }; require('node:module').syncBuiltinESMExports();\n");
  const plain = await runWxseal(['keygen', '--out', join(dir, 'broken')], { nodeArgs: ['-r', preload] });
  assert.equal(plain.code, 2);
  assert.equal(plain.stderr, 'wxseal: CLI_INTERNAL_ERROR: entropy pool on fire (--debug or WXSEAL_DEBUG=1 prints the stack)\n');
  for (const run of [
    runWxseal(['keygen', '--out', join(dir, 'broken'), '--debug'], { nodeArgs: ['-r', preload] }),
    runWxseal(['keygen', '--out', join(dir, 'broken')], { nodeArgs: ['-r', preload], env: { WXSEAL_DEBUG: '1' } }),
  ]) {
    const r = await run;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^wxseal: CLI_INTERNAL_ERROR: entropy pool on fire\nError: entropy pool on fire\n\s+at /);
  }
});

test('.gitignore keeps the README\'s `keygen --out ./wxseal` files and the default device database out of git', () => {
  const files = ['server-private.pem', 'server-public.pem', 'client-secret.txt', 'client.json', 'gateway.yaml', 'server.json'].map((f) => `wxseal/${f}`);
  const ignored = (path: string): boolean => {
    try {
      execFileSync('git', ['check-ignore', '-q', '--no-index', path], { cwd: root });
      return true;
    } catch {
      return false;
    }
  };
  for (const f of [...files, 'wxseal-devices.db', 'wxseal-devices.db-wal', 'wxseal-devices.db-shm', 'packages/cli/wxseal-devices.db']) {
    assert.ok(ignored(f), `${f} is not ignored`);
  }
  // The pattern is anchored: sources under a directory that happens to be called wxseal stay visible.
  assert.ok(!ignored(relative(root, join(root, 'interop/java/src/dev/wxseal/interop/New.java'))));
});
