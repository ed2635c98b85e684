// The native Go library (go/, module wxseal.dev/go) on the wire against the Node packages:
// its own test suite (every vector file), the Node client calling a Go server built on
// wxseal.Middleware, and the Go client calling the Node gateway, with RSA, X25519 and SM2 server keys
// (the SM suite, SPEC.md 6.6: the Go side uses Debian's github.com/tjfoc/gmsm, the Node side
// @wxseal/gm; the Go test suite also checks it against the openssl command line).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createClient, type WxsealClient } from '@wxseal/client';
import * as gm from '@wxseal/gm';
import { formatSm2PublicKey, isWxsealError } from '@wxseal/protocol';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { randomBytes } from 'node:crypto';
import { baseConfig, connectSharedRedis, dropRedisPrefix, makeKeys, makeSm2Keys, newSecret, plainRequest, startUpstream, tempDir, type TestKeys, type Upstream } from '../support/gateway.js';
import { runProcess, spawnTracked, stopAllProcesses } from '../support/processes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const goDir = join(root, 'go');
const work = tempDir();
const bin = join(work, 'bin');
// Offline builds: no module proxy, the Debian x/crypto through go.mod's replace directives, and a
// build cache under /tmp (shared between runs, so a second run does not recompile everything).
const goEnv: NodeJS.ProcessEnv = {
  ...process.env,
  GOPROXY: 'off',
  GOFLAGS: '-mod=mod',
  GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'wxseal-go-cache'),
  GOPATH: process.env.GOPATH ?? join(tmpdir(), 'wxseal-gopath'),
};

const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await stopAllProcesses();
});

async function go(args: string[], timeoutMs = 300_000) {
  try {
    return await runProcess('go', args, { cwd: goDir, env: goEnv, timeoutMs });
  } catch (err) {
    throw new Error(`the Go toolchain is required for these tests (Debian: apt-get install golang-go golang-golang-x-crypto-dev): ${(err as Error).message}`);
  }
}


let built: Promise<void> | undefined;
/** Builds go/cmd/... once into a temporary bin directory. */
function buildCommands(): Promise<void> {
  built ??= (async () => {
    mkdirSync(bin, { recursive: true });
    const r = await go(['build', '-o', bin + '/', './cmd/...']);
    assert.equal(r.code, 0, `go build failed:\n${r.stderr}`);
  })();
  return built;
}

/** Resolves with the first stdout line matching `re`; rejects when the process exits first or after `ms`. */
function waitForLine(child: ChildProcess, re: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms waiting for ${re}; stdout: ${out}; stderr: ${err}`)), ms);
    const finish = (e: Error | undefined, m?: RegExpExecArray): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve(m!);
    };
    const onData = (d: Buffer): void => {
      out += d.toString('utf8');
      const m = re.exec(out);
      if (m) finish(undefined, m);
    };
    const onExit = (code: number | null): void => finish(new Error(`exited with ${code} before printing ${re}; stdout: ${out}; stderr: ${err}`));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.once('exit', onExit);
  });
}

test('go test ./... passes: every vector file, the verifier order, the middleware, the client, the Redis store', async () => {
  const r = await go(['test', '-count=1', './...'], 600_000);
  assert.equal(r.code, 0, `go test failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^ok\s+wxseal\.dev\/go\s/m);
  assert.match(r.stdout, /^ok\s+wxseal\.dev\/go\/redisnonce\s/m);
});

test('go test: the SM suite against spec/vectors/sm.json and the openssl command line (OpenSSL 3; missing openssl fails)', async () => {
  const r = await go(['test', '-count=1', '-v', '-run', '^(TestVectorsSM|TestSMAgainstOpenSSL)$', '.'], 300_000);
  assert.equal(r.code, 0, `go test failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^--- PASS: TestVectorsSM /m);
  assert.match(r.stdout, /^--- PASS: TestSMAgainstOpenSSL /m);
  // every group of sm.json was reached (the counts the test logs)
  const counts = /sm\.json cases checked: map\[([^\]]*)\]/.exec(r.stdout)?.[1] ?? '';
  for (const group of ['sm3:2', 'hmacSm3:2', 'hkdfSm3:1', 'sm4Gcm:1', 'wraps:2', 'otherKeyWrap:1', 'sealed:2', 'signedRejection:1', 'unwrapFailures:5', 'forgedSignatures:1']) {
    assert.ok(counts.split(' ').includes(group), `${group} in ${counts}`);
  }
});

describe('the Node client calls a Go server (wxseal.Middleware)', () => {
  const rsa = makeKeys('bff-node-to-go', 'rsa');
  const x25519 = { ...makeKeys('bff-node-to-go', 'x25519'), secret: rsa.secret };
  const sm2 = makeSm2Keys('bff-node-to-go', rsa.secret);
  let goUrl = '';
  /** A recording proxy in front of the Go server: what the Node client sent, byte for byte. */
  let proxyUrl = '';
  const recorded: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }> = [];

  before(async () => {
    await buildCommands();
    const rsaPem = join(work, 'rsa.pem');
    const xPem = join(work, 'x25519.pem');
    const smPem = join(work, 'sm2.pem');
    writeFileSync(rsaPem, rsa.privateKeyPem);
    writeFileSync(xPem, x25519.privateKeyPem);
    writeFileSync(smPem, sm2.privateKeyPem);
    const child = spawnTracked(
      join(bin, 'wxseal-example-server'),
      ['-listen', '127.0.0.1:0', '-client', `${rsa.keyId}:${rsa.secret}`, '-server-key', rsaPem, '-server-key', xPem, '-server-key', smPem, '-session-cache'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const m = await waitForLine(child, /listening (http:\/\/\S+)\n/, 30_000);
    goUrl = m[1]!;
    // the Go side read the @wxseal/gm PKCS#8 key as SM2 and names it as Node does (sk- + SHA-256 of the SPKI)
    assert.ok(m.input.includes(`server-key ${sm2.serverKeyId} sm2-sm4-gcm\n`), m.input);
    const proxy: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        recorded.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const { hostname, port } = new URL(goUrl);
        const up = httpRequest({ hostname, port, method: req.method, path: req.url, headers: req.headers, agent: false }, (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        });
        up.on('error', () => res.writeHead(502).end());
        up.end(body);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    closers.push(
      () =>
        new Promise<void>((r) => {
          proxy.closeAllConnections();
          proxy.close(() => r());
        }),
    );
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });

  function client(keys: TestKeys, mode: 'sealed' | 'signed' = 'sealed'): WxsealClient {
    const c = createClient({ baseUrl: proxyUrl, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, mode, retry: { maxAttempts: 1 }, timeoutMs: 10_000 });
    closers.push(async () => c.close());
    return c;
  }

  async function unwraps(): Promise<number> {
    const r = await plainRequest(goUrl, '/debug/unwraps');
    return (JSON.parse(r.body) as { unwraps: number }).unwraps;
  }

  const identity = { openid: 'o-node-1', appid: 'wx-node', unionid: 'u-node', env: 'prod-1', source: 'wx_client' };

  for (const [suite, keys] of [
    ['rsa-oaep-256', rsa],
    ['x25519-hpke', x25519],
    ['sm2-sm4-gcm', sm2],
  ] as const) {
    test(`sealed (${suite}): the Go handler sees the identity and the plaintext; the Node client opens the sealed answer`, async () => {
      const before = await unwraps();
      const res = await client(keys).post('/api/echo?b=2&a=1', { json: { sku: 'A-1', qty: 2 }, identity });
      assert.equal(res.status, 200);
      assert.equal(res.contentType, 'application/json');
      const seen = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
      assert.deepEqual(seen, {
        server: 'go',
        method: 'POST',
        target: '/api/echo?b=2&a=1',
        mode: 'sealed',
        keyId: keys.keyId,
        identity,
        contentType: 'application/json',
        body: '{"sku":"A-1","qty":2}',
      });
      assert.equal(await unwraps(), before + 1);
      // and what went over the wire was sealed: no plaintext, no identity
      const wire = recorded.at(-1)!;
      assert.equal(wire.headers['content-type'], 'application/vnd.wxseal.sealed');
      assert.equal(wire.headers['wxseal-server-key-id'], keys.serverKeyId);
      assert.ok(!wire.body.includes('A-1') && !wire.body.includes('o-node-1'));
      // the wrapped key is the suite's: 256 bytes of RSA-OAEP, 80 of HPKE, 113 of SM2 (C1 || C3 || C2)
      const wrappedChars = { 'rsa-oaep-256': 342, 'x25519-hpke': 107, 'sm2-sm4-gcm': 151 }[suite];
      assert.equal(String(wire.headers['wxseal-wrapped-key']).length, wrappedChars);
    });
  }

  test('sign-only: identity header and plaintext body verified by Go, the signed answer verified by Node; a 204 stays 204', async () => {
    const c = client(rsa, 'signed');
    const res = await c.post('/api/echo', { json: { n: 1 }, identity: { openid: 'o-signed' } });
    assert.equal(res.status, 200);
    assert.deepEqual((JSON.parse(res.body.toString('utf8')) as { identity: unknown; mode: string }).identity, { openid: 'o-signed' });
    const empty = await c.get('/api/status/204');
    assert.equal(empty.status, 204);
    assert.equal(empty.body.length, 0);
  });

  test('a replayed SM request is refused by Go with WXSEAL_REPLAYED_NONCE, signed with HMAC-SM3 (6.6, 10.1), without a second unwrap', async () => {
    await client(sm2).post('/api/echo', { json: { once: 'sm' }, identity });
    const sent = recorded.at(-1)!;
    assert.equal(sent.headers['wxseal-server-key-id'], sm2.serverKeyId);
    const before = await unwraps();
    const headers = Object.entries(sent.headers).filter(([n]) => n !== 'connection') as [string, string][];
    const r = await plainRequest(goUrl, sent.url, { method: sent.method, headers, body: sent.body });
    assert.equal(r.status, 401);
    assert.equal(r.headers['wxseal-error'], 'WXSEAL_REPLAYED_NONCE');
    const serverTime = String(r.headers['wxseal-server-time']);
    assert.match(serverTime, /^\d+$/);
    // the signature, recomputed here with @wxseal/gm over the SM rejection string (first line WXSEAL1-HMAC-SM3-REJECTION)
    const lines = [String(sent.headers['wxseal-key-id']), String(sent.headers['wxseal-nonce']), '401', 'WXSEAL_REPLAYED_NONCE', serverTime];
    const secret = Buffer.from(sm2.secret, 'base64url');
    assert.equal(r.headers['wxseal-signature'], gm.hmacSm3(secret, ['WXSEAL1-HMAC-SM3-REJECTION', ...lines].join('\n')).toString('base64url'));
    assert.notEqual(r.headers['wxseal-signature'], gm.hmacSm3(secret, ['WXSEAL1-HMAC-SHA256-REJECTION', ...lines].join('\n')).toString('base64url'));
    assert.equal(await unwraps(), before, 'a replay must not reach the unwrap');
  });

  test('a replayed request is refused by Go with WXSEAL_REPLAYED_NONCE, signed (10.1), without a second unwrap', async () => {
    await client(x25519).post('/api/echo', { json: { once: true }, identity });
    const sent = recorded.at(-1)!;
    const before = await unwraps();
    const headers = Object.entries(sent.headers).filter(([n]) => n !== 'connection') as [string, string][];
    const r = await plainRequest(goUrl, sent.url, { method: sent.method, headers, body: sent.body });
    assert.equal(r.status, 401);
    assert.equal(r.headers['wxseal-error'], 'WXSEAL_REPLAYED_NONCE');
    assert.match(String(r.headers['wxseal-server-time']), /^\d+$/);
    assert.match(String(r.headers['wxseal-signature']), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'WXSEAL_REPLAYED_NONCE');
    assert.equal(await unwraps(), before, 'a replay must not reach the unwrap');
  });

  test('forged requests are refused by Go with WXSEAL_BAD_SIGNATURE before any unwrap (RSA, X25519 and SM2)', async () => {
    await client(rsa).post('/api/echo', { json: { a: 1 } });
    const rsaSent = recorded.at(-1)!;
    await client(x25519).post('/api/echo', { json: { a: 1 } });
    const xSent = recorded.at(-1)!;
    await client(sm2).post('/api/echo', { json: { a: 1 } });
    const smSent = recorded.at(-1)!;
    assert.equal(smSent.headers['wxseal-server-key-id'], sm2.serverKeyId);
    const before = await unwraps();
    for (const sent of [rsaSent, xSent, smSent]) {
      const flip = (s: string): string => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      const base = Object.entries(sent.headers).filter(([n]) => n !== 'connection' && n !== 'content-length') as [string, string][];
      const body = Buffer.from(sent.body);
      body[0] = body[0]! ^ 1;
      const forgeries: Array<{ headers: [string, string][]; body: Buffer }> = [
        { headers: base, body }, // a flipped ciphertext byte
        { headers: base.map(([n, v]) => [n, n === 'wxseal-wrapped-key' ? flip(v) : v]), body: sent.body },
        { headers: base.map(([n, v]) => [n, n === 'wxseal-iv' ? flip(v) : v]), body: sent.body },
        { headers: base.map(([n, v]) => [n, n === 'wxseal-signature' ? flip(v) : v]), body: sent.body },
      ];
      for (const f of forgeries) {
        const r = await plainRequest(goUrl, sent.url, { method: sent.method, headers: f.headers, body: f.body });
        assert.equal(r.status, 401, r.body);
        assert.equal(r.headers['wxseal-error'], 'WXSEAL_BAD_SIGNATURE');
        assert.equal(r.headers['wxseal-signature'], undefined, 'a rejection before the HMAC verified is unsigned');
      }
    }
    assert.equal(await unwraps(), before, 'forged requests must never reach the unwrap');
    // the forged copies burnt no nonce: they were copies of requests already answered, so only
    // their own replay code could tell otherwise; a fresh request still goes through
    for (const keys of [rsa, sm2]) {
      const res = await client(keys).post('/api/echo', { json: { after: 'forgeries' } });
      assert.equal(res.status, 200);
    }
  });

  for (const [suite, keys] of [
    ['rsa-oaep-256', rsa],
    ['sm2-sm4-gcm', sm2],
  ] as const) {
    test(`session-key reuse (SPEC 14, ${suite}): the Node client reuses one wrapped key, the Go server unwraps it once`, async () => {
      const c = createClient({ baseUrl: proxyUrl, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, retry: { maxAttempts: 1 }, sessionKeyReuse: { maxMessages: 100 } });
      closers.push(async () => c.close());
      const before = await unwraps();
      const first = recorded.length;
      for (let i = 0; i < 3; i++) {
        const res = await c.post('/api/echo', { json: { i } });
        assert.equal((JSON.parse(res.body.toString('utf8')) as { body: string }).body, JSON.stringify({ i }));
      }
      const sent = recorded.slice(first);
      assert.equal(new Set(sent.map((r) => r.headers['wxseal-wrapped-key'])).size, 1);
      assert.equal(new Set(sent.map((r) => r.headers['wxseal-iv'])).size, 3);
      assert.equal(await unwraps(), before + 1);
    });
  }

  test('the Node client reports the Go server\'s rejection code (wrong secret)', async () => {
    const wrong = { ...rsa, secret: makeKeys().secret };
    await assert.rejects(client(wrong).post('/api/echo', { json: {} }), (err: unknown) => isWxsealError(err, 'WXSEAL_BAD_SIGNATURE'));
  });
});

describe('two Go servers sharing the Redis nonce store (redisnonce)', () => {
  const keys = makeKeys('bff-go-redis', 'x25519');
  const prefix = `wxseal-go-interop:${randomBytes(6).toString('hex')}:`;
  const urls: string[] = [];
  let lossSecond = 0;

  before(async () => {
    await buildCommands();
    const redis = await connectSharedRedis(); // fails (never skips) without Redis
    closers.push(() => dropRedisPrefix(redis, prefix));
    const pem = join(work, 'redis-x25519.pem');
    writeFileSync(pem, keys.privateKeyPem);
    for (let i = 0; i < 2; i++) {
      const child = spawnTracked(
        join(bin, 'wxseal-example-server'),
        ['-listen', '127.0.0.1:0', '-client', `${keys.keyId}:${keys.secret}`, '-server-key', pem, '-nonce-store', 'redis', '-redis-addr', '127.0.0.1:6379', '-redis-prefix', prefix],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const m = await waitForLine(child, /loss-second (\d+)\n[^]*listening (http:\/\/\S+)\n/, 30_000);
      lossSecond = Math.max(lossSecond, Number(m[1]));
      urls.push(m[2]!);
    }
    // The first use of the empty prefix is a loss (SPEC 8.1): requests signed in that second are
    // refused with WXSEAL_NONCE_STORE_RESET. Wait for the clock to leave it.
    while (Math.floor(Date.now() / 1000) <= lossSecond) await new Promise((r) => setTimeout(r, 50));
  });

  test('a request accepted by one Go server is refused as a replay by the other', async () => {
    const c = createClient({ baseUrl: urls[0]!, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, retry: { maxAttempts: 1 } });
    closers.push(async () => c.close());
    // a proxy in front of the first server keeps the request as the Node client sent it
    const seen: Array<{ url: string; method: string; headers: [string, string][]; body: Buffer }> = [];
    const proxy: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const headers = Object.entries(req.headers).filter(([n]) => n !== 'connection' && n !== 'host') as [string, string][];
        seen.push({ url: req.url ?? '', method: req.method ?? '', headers, body });
        const { hostname, port } = new URL(urls[0]!);
        const up = httpRequest({ hostname, port, method: req.method, path: req.url, headers: req.headers, agent: false }, (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        });
        up.end(body);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    closers.push(
      () =>
        new Promise<void>((r) => {
          proxy.closeAllConnections();
          proxy.close(() => r());
        }),
    );
    const viaProxy = createClient({ baseUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, retry: { maxAttempts: 1 } });
    closers.push(async () => viaProxy.close());
    const first = await viaProxy.post('/api/echo', { json: { n: 1 }, identity: { openid: 'o-redis' } });
    assert.equal(first.status, 200);
    assert.deepEqual((JSON.parse(first.body.toString('utf8')) as { identity: unknown }).identity, { openid: 'o-redis' });
    const sent = seen[0]!;
    const replay = await plainRequest(urls[1]!, sent.url, { method: sent.method, headers: sent.headers, body: sent.body });
    assert.equal(replay.status, 401, replay.body);
    assert.equal(replay.headers['wxseal-error'], 'WXSEAL_REPLAYED_NONCE');
    // and both servers keep accepting fresh requests
    assert.equal((await c.post('/api/echo', { json: { n: 2 } })).status, 200);
  });
});

describe('the Go client (wxseal-call) calls the Node gateway', () => {
  let upstream: Upstream;
  before(async () => {
    await buildCommands();
    upstream = await startUpstream();
    closers.push(() => upstream.close());
  });

  async function goCall(gatewayUrl: string, keys: TestKeys, args: string[]) {
    const pub = join(work, `${keys.serverKeyId}.pub.pem`);
    writeFileSync(pub, keys.publicKeyPem);
    return runProcess(join(bin, 'wxseal-call'), ['-url', gatewayUrl, '-key-id', keys.keyId, '-secret', keys.secret, '-server-key-id', keys.serverKeyId, '-server-public-key', pub, ...args], { timeoutMs: 60_000 });
  }

  for (const type of ['rsa', 'x25519', 'sm2'] as const) {
    test(`${type} server key: sealed and sign-only calls are verified by the gateway and the answers authenticated by Go`, async () => {
      const keys: TestKeys & { publicKeyHex?: string } = type === 'sm2' ? makeSm2Keys('bff-go-sm2') : makeKeys(`bff-go-${type}`, type);
      const gateway: RunningGateway = await startGateway(baseConfig(keys, upstream.url), { logger: pino({ level: 'silent' }) });
      closers.push(() => gateway.close());

      const sealed = await goCall(gateway.url, keys, ['-method', 'POST', '-target', '/api/orders?x=1&a=2', '-content-type', 'application/json', '-identity', '{"openid":"o-go","source":"wx_client"}', '-body', '{"sku":"A-1"}']);
      assert.equal(sealed.code, 0, sealed.stdout + sealed.stderr);
      const got = JSON.parse(sealed.stdout) as { status: number; contentType: string; body: string };
      assert.equal(got.status, 200);
      assert.equal(got.contentType, 'application/json');
      assert.deepEqual(JSON.parse(got.body), { method: 'POST', url: '/api/orders?x=1&a=2', body: '{"sku":"A-1"}', contentType: 'application/json' });
      const seen = upstream.seen.at(-1)!;
      assert.equal(seen.headers['x-wxseal-openid'], 'o-go');
      assert.equal(seen.headers['x-wxseal-source'], 'wx_client');
      assert.equal(seen.headers['x-wxseal-mode'], 'sealed');
      assert.equal(seen.headers['x-wxseal-key-id'], keys.keyId);

      const signed = await goCall(gateway.url, keys, ['-mode', 'signed', '-method', 'GET', '-target', '/api/ping?q=1', '-identity', '{"openid":"o-go-signed"}']);
      assert.equal(signed.code, 0, signed.stdout + signed.stderr);
      assert.equal((JSON.parse(signed.stdout) as { status: number }).status, 200);
      assert.equal(upstream.seen.at(-1)!.headers['x-wxseal-openid'], 'o-go-signed');

      const empty = await goCall(gateway.url, keys, ['-method', 'GET', '-target', '/api/status/204']);
      assert.equal(empty.code, 0, empty.stdout + empty.stderr);
      assert.deepEqual(JSON.parse(empty.stdout), { status: 200, contentType: '', body: '' });

      const wrong = await goCall(gateway.url, { ...keys, secret: newSecret() }, ['-method', 'GET', '-target', '/api/x']);
      assert.equal(wrong.code, 3);
      assert.equal((JSON.parse(wrong.stdout) as { error: string }).error, 'WXSEAL_BAD_SIGNATURE');

      if (keys.publicKeyHex !== undefined) {
        // the armored hex form of SPEC 6.6 (WXSEAL SM2 PUBLIC KEY) works as the Go client's key file too
        const armored = await goCall(gateway.url, { ...keys, publicKeyPem: formatSm2PublicKey(keys.publicKeyHex) }, ['-method', 'PUT', '-target', '/api/armored', '-body', 'sm-armored']);
        assert.equal(armored.code, 0, armored.stdout + armored.stderr);
        assert.equal((JSON.parse((JSON.parse(armored.stdout) as { body: string }).body) as { body: string }).body, 'sm-armored');
        assert.equal(upstream.seen.at(-1)!.headers['x-wxseal-mode'], 'sealed');
      }
    });
  }
});
