// Issue 14: a real gateway whose server key is X25519 (HPKE wraps the session key, no RSA on the
// server's hot path). A sealed call from @wxseal/client round-trips with its identity; forged and
// replayed requests are refused before the upstream; a gateway holding an RSA and an X25519 key
// serves clients of both suites (a rotation from one suite to the other), and a client that
// names one key but wraps for the other suite is refused.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient, isWxsealError, type WxsealClient } from '@wxseal/client';
import { GatewayConfigError, IDENTITY_HEADERS, loadGatewayConfig, startGateway, type GatewayConfigInput, type RunningGateway } from '@wxseal/gateway';
import { X25519_WRAPPED_KEY_BYTES, type WechatIdentity } from '@wxseal/protocol';
import { b64uDecodeStrict, b64uEncode } from '@wxseal/protocol/primitives';
import { baseConfig, captureLogger, makeKeys, newSecret, startUpstream, tempDir, writeYaml, type TestKeys, type Upstream } from '../../../tests/support/gateway.js';
import { buildWire, sendWire, verdictOf } from './wire-helpers.js';

const makeX25519Keys = (keyId: string): TestKeys => makeKeys(keyId, 'x25519');

const IDENTITY: WechatIdentity = { openid: 'o-x25519 中文', appid: 'wx1234567890abcdef', unionid: 'u+1%', env: 'prod-1', source: 'wx_client' };

describe('gateway config: serverKeys of either type', () => {
  const rsa = makeKeys('bff-cfg');
  const x = makeX25519Keys('bff-cfg');
  const issuesOf = (input: GatewayConfigInput): string[] => {
    try {
      loadGatewayConfig(input, { env: {} });
    } catch (err) {
      assert.ok(err instanceof GatewayConfigError, String(err));
      return err.issues.map((i) => `${i.path}: ${i.message}`);
    }
    return assert.fail('the config loaded but should not have');
  };
  const pkcs8 = (type: 'ed25519' | 'x448' | 'ec'): string =>
    (type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync(type as 'ed25519')).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

  test('an X25519 PKCS#8 key loads from the config, a file and the environment, beside an RSA key, under its sk- id', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'x.pem'), x.privateKeyPem, { mode: 0o600 });
    const path = writeYaml(dir, 'gateway.yaml', { ...baseConfig(rsa, 'http://127.0.0.1:9'), serverKeys: [{ privateKey: rsa.privateKeyPem }, { privateKeyFile: 'x.pem' }, { id: 'x-env', privateKeyEnv: 'GW_X25519_KEY' }] });
    const config = loadGatewayConfig(path, { env: { GW_X25519_KEY: x.privateKeyPem } });
    assert.deepEqual(
      config.serverKeys.map((k) => [k.id, (k.privateKey as { asymmetricKeyType?: string }).asymmetricKeyType]),
      [
        [rsa.serverKeyId, 'rsa'],
        [x.serverKeyId, 'x25519'],
        ['x-env', 'x25519'],
      ],
    );
  });

  test('other key types, a public key and a key id taken twice are refused with the path of the key', () => {
    const base = baseConfig(rsa, 'http://127.0.0.1:9');
    for (const type of ['ed25519', 'x448', 'ec'] as const) {
      const issues = issuesOf({ ...base, serverKeys: [{ privateKey: pkcs8(type) }] });
      assert.equal(issues.length, 1, issues.join('\n'));
      assert.match(issues[0]!, /^serverKeys\[0\]: not a usable server private key \(RSA, X25519 or SM2\): .*(RSA|X25519)/, type);
    }
    const pub = issuesOf({ ...base, serverKeys: [{ privateKey: x.publicKeyPem }] });
    assert.match(pub[0]!, /^serverKeys\[0\]: not a usable server private key/);
    const twice = issuesOf({ ...base, serverKeys: [{ privateKey: x.privateKeyPem }, { privateKey: x.privateKeyPem }] });
    assert.deepEqual(twice, [`serverKeys[1]: server key id ${x.serverKeyId} is already in the key ring`]);
  });
});

describe('gateway with an X25519 server key', () => {
  const x = makeX25519Keys('bff-x25519');
  let upstream: Upstream;
  let gw: RunningGateway;
  const clients: WxsealClient[] = [];
  const client = (keys: TestKeys, extra: Partial<Parameters<typeof createClient>[0]> = {}): WxsealClient => {
    const c = createClient({
      baseUrl: gw.url,
      keyId: keys.keyId,
      secret: keys.secret,
      serverKeyId: keys.serverKeyId,
      serverPublicKey: keys.publicKeyPem,
      mode: 'sealed',
      retry: { maxAttempts: 1 },
      timeoutMs: 5000,
      ...extra,
    });
    clients.push(c);
    return c;
  };

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(baseConfig(x, upstream.url, { routes: [{ prefix: '/api', upstream: upstream.url, mode: 'sealed' }] }), { logger: captureLogger().logger });
  });

  after(async () => {
    for (const c of clients) await c.close?.();
    await gw?.close();
    await upstream?.close();
  });

  test('the config loads the X25519 PKCS#8 key under its sk- id', () => {
    const config = loadGatewayConfig(baseConfig(x, upstream.url));
    assert.deepEqual(config.serverKeys.map((k) => [k.id, (k.privateKey as { asymmetricKeyType?: string }).asymmetricKeyType]), [[x.serverKeyId, 'x25519']]);
  });

  test('a sealed call from @wxseal/client round-trips, with its identity, and the upstream sees the plaintext', async () => {
    const seen = upstream.seen.length;
    const res = await client(x).post('/api/orders?id=7', { json: { sku: 'A-1', qty: 2 }, identity: IDENTITY });
    assert.equal(res.status, 200);
    const echoed = res.json() as { method: string; url: string; body: string };
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.url, '/api/orders?id=7');
    assert.deepEqual(JSON.parse(echoed.body), { sku: 'A-1', qty: 2 });
    assert.equal(upstream.seen.length, seen + 1);
    const got = upstream.seen.at(-1)!;
    assert.equal(got.headers[IDENTITY_HEADERS.keyId], x.keyId);
    assert.equal(got.headers[IDENTITY_HEADERS.mode], 'sealed');
    for (const field of ['openid', 'appid', 'unionid', 'env', 'source'] as const) {
      assert.equal(decodeURIComponent(String(got.headers[IDENTITY_HEADERS[field]])), IDENTITY[field], field);
    }
    // Large bodies and reused wrapped keys too.
    const big = 'z'.repeat(200_000);
    const reuse = client(x, { sessionKeyReuse: true });
    for (let i = 0; i < 3; i++) {
      const r = await reuse.post('/api/big', { json: { big, i } });
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse((r.json() as { body: string }).body), { big, i });
    }
  });

  test('the wrapped key is 80 bytes; forged, replayed and mis-sized requests are refused before the upstream', async () => {
    const built = buildWire(x, { mode: 'sealed', method: 'POST', target: '/api/wire', body: Buffer.from('{"a":1}'), contentType: 'application/json', identity: IDENTITY });
    assert.equal(b64uDecodeStrict(built.headers['wxseal-wrapped-key']!)!.length, X25519_WRAPPED_KEY_BYTES);
    const seen = upstream.seen.length;
    const ok = verdictOf(built, await sendWire(gw.url, built, 'POST', '/api/wire'));
    assert.equal(ok.kind, 'authentic');
    assert.equal(upstream.seen.length, seen + 1);

    const refused = async (what: string, headers: Record<string, string>, body: Buffer, code: string): Promise<void> => {
      const before = upstream.seen.length;
      const forged = { ...built, headers, body };
      const v = verdictOf(forged, await sendWire(gw.url, forged, 'POST', '/api/wire'));
      assert.ok(v.kind === 'signed-rejection' || v.kind === 'unsigned-rejection', `${what}: ${JSON.stringify(v)}`);
      assert.equal(v.code, code, what);
      assert.equal(upstream.seen.length, before, `${what}: nothing reached the upstream`);
    };
    await refused('the same request again', built.headers, built.body, 'WXSEAL_REPLAYED_NONCE');

    // A request by someone without the client secret: the signature does not verify.
    const stranger = buildWire({ ...x, secret: newSecret() }, { mode: 'sealed', method: 'POST', target: '/api/wire', body: Buffer.from('{"a":2}'), contentType: 'application/json' });
    await refused('a stranger\'s request', stranger.headers, stranger.body, 'WXSEAL_BAD_SIGNATURE');

    // A fresh request with its ciphertext or its wrapped key changed in transit.
    const fresh = () => buildWire(x, { mode: 'sealed', method: 'POST', target: '/api/wire', body: Buffer.from('{"a":3}'), contentType: 'application/json' });
    const a = fresh();
    const flipped = Buffer.from(a.body);
    flipped[flipped.length - 1]! ^= 1;
    await refused('a flipped ciphertext byte', a.headers, flipped, 'WXSEAL_BAD_SIGNATURE');
    const b = fresh();
    const wrapped = b64uDecodeStrict(b.headers['wxseal-wrapped-key']!)!;
    wrapped[0]! ^= 1;
    await refused('a flipped byte of the encapsulated key', { ...b.headers, 'wxseal-wrapped-key': b64uEncode(wrapped) }, b.body, 'WXSEAL_BAD_SIGNATURE');
    const c = fresh();
    await refused('a wrapped key of RSA size for the X25519 key', { ...c.headers, 'wxseal-wrapped-key': b64uEncode(Buffer.alloc(256, 1)) }, c.body, 'WXSEAL_MALFORMED_HEADER');
    const d = fresh();
    await refused('an unknown server key id', { ...d.headers, 'wxseal-server-key-id': 'sk-0000000000000000' }, d.body, 'WXSEAL_UNKNOWN_SERVER_KEY');
  });
});

describe('gateway with an RSA and an X25519 server key (rotation across suites)', () => {
  const rsa = makeKeys('bff-mixed');
  const x = { ...makeX25519Keys('bff-mixed'), secret: rsa.secret };
  let upstream: Upstream;
  let gw: RunningGateway;
  const clients: WxsealClient[] = [];
  const client = (keys: TestKeys, mode: 'sealed' | 'signed' = 'sealed'): WxsealClient => {
    const c = createClient({ baseUrl: gw.url, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, mode, retry: { maxAttempts: 1 }, timeoutMs: 5000 });
    clients.push(c);
    return c;
  };
  const outcome = async (c: WxsealClient): Promise<string> => {
    try {
      const res = await c.post('/api/mixed', { json: { n: 1 }, identity: { openid: 'o-mixed' } });
      return res.status === 200 && (res.json() as { body: string }).body === '{"n":1}' ? 'ok' : `status ${res.status}`;
    } catch (err) {
      if (isWxsealError(err)) return err.code;
      throw err;
    }
  };

  before(async () => {
    upstream = await startUpstream();
    const config = baseConfig(rsa, upstream.url, { serverKeys: [{ privateKey: rsa.privateKeyPem }, { privateKey: x.privateKeyPem }] });
    gw = await startGateway(config, { logger: captureLogger().logger });
  });

  after(async () => {
    for (const c of clients) await c.close?.();
    await gw?.close();
    await upstream?.close();
  });

  test('clients of both suites are served, one after the other and at once', async () => {
    const r = client(rsa);
    const xc = client(x);
    assert.equal(await outcome(r), 'ok', 'RSA client');
    assert.equal(await outcome(xc), 'ok', 'X25519 client');
    const both = await Promise.all(Array.from({ length: 20 }, (_, i) => outcome(i % 2 === 0 ? r : xc)));
    assert.deepEqual(both, Array.from({ length: 20 }, () => 'ok'));
    assert.equal(upstream.seen.at(-1)!.headers[IDENTITY_HEADERS.openid], 'o-mixed');
    assert.equal(await outcome(client(rsa, 'signed')), 'ok', 'sign-only requests need no server key');
  });

  test('a client naming one key but wrapping for the other suite is refused', async () => {
    const seen = upstream.seen.length;
    assert.equal(await outcome(client({ ...rsa, serverKeyId: x.serverKeyId })), 'WXSEAL_MALFORMED_HEADER', 'RSA-wrapped for the X25519 key id');
    assert.equal(await outcome(client({ ...x, serverKeyId: rsa.serverKeyId })), 'WXSEAL_MALFORMED_HEADER', 'X25519-wrapped for the RSA key id');
    assert.equal(upstream.seen.length, seen);
  });
});
