import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WxsealError, loadServerPrivateKey, loadServerPublicKey, wrappedKeyLength } from '@wxseal/protocol';
import { b64uDecodeStrict, unwrapSessionKey, wrapSessionKey } from '@wxseal/protocol/primitives';
import { keygen, serverKeyIdOf, type KeygenOptions } from '../src/commands/keygen.js';
import { CliError } from '../src/errors.js';
import { loadClientConfig } from '../src/config.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'wxseal-keygen-'));

describe('wxseal keygen', () => {
  test('writes a matching key pair, a 32-byte secret and configs, private files 0600', () => {
    const out = fresh();
    const r = keygen({ out, bits: 2048, keyId: 'bff-test', baseUrl: 'http://127.0.0.1:9', force: false });
    const priv = createPrivateKey(readFileSync(join(out, 'server-private.pem')));
    const pub = createPublicKey(readFileSync(join(out, 'server-public.pem')));
    assert.equal(pub.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(r.serverKeyId, serverKeyIdOf(pub));
    assert.match(r.serverKeyId, /^sk-[0-9a-f]{16}$/);
    const session = Buffer.alloc(32, 9);
    assert.deepEqual(unwrapSessionKey(priv, wrapSessionKey(pub, session)), session);
    for (const f of ['server-private.pem', 'client-secret.txt', 'client.json', 'gateway.yaml', 'server.json']) {
      assert.equal(statSync(join(out, f)).mode & 0o777, 0o600, f);
    }
    const cfg = loadClientConfig(join(out, 'client.json'));
    assert.equal(cfg.keyId, 'bff-test');
    assert.equal(cfg.serverKeyId, r.serverKeyId);
    assert.equal(b64uDecodeStrict(cfg.secret)?.length, 32);
    assert.equal(cfg.serverPublicKey, readFileSync(join(out, 'server-public.pem'), 'utf8'));
  });

  test('two runs give different keys and secrets', () => {
    const a = fresh();
    const b = fresh();
    const ra = keygen({ out: a, bits: 2048, keyId: 'x', baseUrl: 'http://h', force: false });
    const rb = keygen({ out: b, bits: 2048, keyId: 'x', baseUrl: 'http://h', force: false });
    assert.notEqual(ra.serverKeyId, rb.serverKeyId);
    assert.notEqual(readFileSync(join(a, 'client-secret.txt'), 'utf8'), readFileSync(join(b, 'client-secret.txt'), 'utf8'));
  });

  test('refuses to overwrite without --force, and rejects bad options', () => {
    const out = fresh();
    keygen({ out, bits: 2048, keyId: 'x', baseUrl: 'http://h', force: false });
    const before = readFileSync(join(out, 'server-private.pem'), 'utf8');
    assert.throws(() => keygen({ out, bits: 2048, keyId: 'x', baseUrl: 'http://h', force: false }), (e: CliError) => e.code === 'CLI_FILE_EXISTS' && e.option === '--out');
    assert.equal(readFileSync(join(out, 'server-private.pem'), 'utf8'), before);
    const refused = (opts: Partial<KeygenOptions>, option: string) =>
      assert.throws(() => keygen({ out: fresh(), bits: 2048, keyId: 'x', baseUrl: 'http://h', force: false, ...opts }), (e: CliError) => e.code === 'CLI_INVALID_INPUT' && e.option === option, option);
    refused({ bits: 1024 }, '--bits');
    refused({ keyId: 'bad id' }, '--key-id');
    refused({ baseUrl: 'ftp://h' }, '--base-url');
    refused({ upstream: 'not a url' }, '--upstream');
    refused({ baseUrl: 'http://127.0.0.1:9090', adminPort: 9090 }, '--admin-port');
  });

  test('gateway.yaml: the port of --base-url, the upstream, the client credential and the server key; loads as a valid gateway config', async () => {
    const out = fresh();
    const r = keygen({ out, bits: 2048, keyId: 'bff-yaml', baseUrl: 'http://127.0.0.1:18080', force: false, upstream: 'http://10.0.0.7:8081/v1/', adminPort: 19090 });
    assert.ok(r.files.includes(join(out, 'gateway.yaml')));
    assert.equal(statSync(join(out, 'gateway.yaml')).mode & 0o777, 0o600);
    const { loadGatewayConfig } = await import('@wxseal/gateway');
    const config = loadGatewayConfig(join(out, 'gateway.yaml'));
    assert.equal(config.listeners.public.port, 18080);
    assert.equal(config.listeners.public.host, '127.0.0.1');
    assert.equal(config.listeners.admin.port, 19090);
    assert.equal(config.routes.length, 1);
    assert.equal(config.routes[0]!.prefix, '/api');
    assert.equal(config.routes[0]!.upstream.toString(), 'http://10.0.0.7:8081/v1');
    assert.deepEqual(config.clients.map((c) => c.keyId), ['bff-yaml']);
    assert.deepEqual(config.serverKeys.map((k) => k.id), [r.serverKeyId]);
    assert.equal(config.nonceStore.type, 'memory');
    assert.match(readFileSync(join(out, 'gateway.yaml'), 'utf8'), /^# /m, 'commented');
    // A public base URL: the gateway listens on every interface, on 8080 when the URL names no port.
    const pub = fresh();
    keygen({ out: pub, bits: 2048, keyId: 'x', baseUrl: 'https://api.example.com', force: false });
    const pubConfig = loadGatewayConfig(join(pub, 'gateway.yaml'));
    assert.equal(pubConfig.listeners.public.host, '0.0.0.0');
    assert.equal(pubConfig.listeners.public.port, 8080);
  });
});

describe('wxseal keygen --type x25519', () => {
  test('writes an X25519 key pair (PKCS#8 and SPKI PEM), the sk- id of its SPKI, and configs that load', async () => {
    const out = fresh();
    const r = keygen({ out, type: 'x25519', keyId: 'bff-x', baseUrl: 'http://127.0.0.1:18081', force: false, adminPort: 19091 });
    assert.equal(r.type, 'x25519');
    const privatePem = readFileSync(join(out, 'server-private.pem'), 'utf8');
    const publicPem = readFileSync(join(out, 'server-public.pem'), 'utf8');
    assert.match(privatePem, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8');
    assert.match(publicPem, /^-----BEGIN PUBLIC KEY-----\n/, 'SPKI');
    const priv = createPrivateKey(privatePem);
    const pub = createPublicKey(publicPem);
    assert.equal(priv.asymmetricKeyType, 'x25519');
    assert.equal(pub.asymmetricKeyType, 'x25519');
    assert.equal(createPublicKey(priv).export({ type: 'spki', format: 'pem' }).toString(), publicPem, 'the public key is the private key\'s');
    assert.equal(r.serverKeyId, serverKeyIdOf(pub));
    const spki = pub.export({ type: 'spki', format: 'der' });
    assert.equal(r.serverKeyId, `sk-${createHash('sha256').update(spki).digest('hex').slice(0, 16)}`, 'SPEC.md section 2: sk- + SHA-256(DER SPKI)');
    assert.match(r.serverKeyId, /^sk-[0-9a-f]{16}$/);
    for (const f of ['server-private.pem', 'client-secret.txt', 'client.json', 'gateway.yaml', 'server.json']) {
      assert.equal(statSync(join(out, f)).mode & 0o777, 0o600, f);
    }
    // The protocol loads both halves and a session key round-trips through them.
    const loadedPriv = loadServerPrivateKey(privatePem);
    const loadedPub = loadServerPublicKey(publicPem);
    const session = Buffer.alloc(32, 7);
    const wrapped = wrapSessionKey(loadedPub, session);
    assert.equal(wrapped.length, wrappedKeyLength(loadedPub));
    assert.deepEqual(unwrapSessionKey(loadedPriv, wrapped), session);
    // client.json for the SDK and `wxseal call`, gateway.yaml for the gateway.
    const cfg = loadClientConfig(join(out, 'client.json'));
    assert.equal(cfg.serverKeyId, r.serverKeyId);
    assert.equal(cfg.serverPublicKey, publicPem);
    assert.match(readFileSync(join(out, 'gateway.yaml'), 'utf8'), /# the X25519 key that opens sealed requests/);
    const { loadGatewayConfig } = await import('@wxseal/gateway');
    const config = loadGatewayConfig(join(out, 'gateway.yaml'));
    assert.deepEqual(config.serverKeys.map((k) => [k.id, (k.privateKey as { asymmetricKeyType?: string }).asymmetricKeyType]), [[r.serverKeyId, 'x25519']]);
  });

  test('--bits is refused with an X25519 key; an unknown type is refused', () => {
    assert.throws(() => keygen({ out: fresh(), type: 'x25519', bits: 2048, keyId: 'x', baseUrl: 'http://h', force: false }), (e: CliError) => e.code === 'CLI_INVALID_INPUT' && e.option === '--bits');
    assert.throws(
      () => keygen({ out: fresh(), type: 'ed25519' as never, keyId: 'x', baseUrl: 'http://h', force: false }),
      (e: CliError) => e.code === 'CLI_INVALID_INPUT' && e.option === '--type',
    );
    // The default stays RSA-2048.
    const out = fresh();
    const r = keygen({ out, keyId: 'x', baseUrl: 'http://h', force: false });
    assert.equal(r.type, 'rsa');
    assert.equal(createPublicKey(readFileSync(join(out, 'server-public.pem'))).asymmetricKeyDetails?.modulusLength, 2048);
  });
});

describe('client config', () => {
  const write = (obj: unknown) => {
    const dir = fresh();
    const p = join(dir, 'c.json');
    writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
    return p;
  };
  const secret = Buffer.alloc(32, 1).toString('base64url');
  test('reads the secret from an environment variable', () => {
    const p = write({ baseUrl: 'http://h', keyId: 'k', secretEnv: 'WXSEAL_TEST_SECRET', mode: 'signed' });
    assert.equal(loadClientConfig(p, { WXSEAL_TEST_SECRET: secret }).secret, secret);
  });
  for (const [name, cfg, pattern] of [
    ['not JSON', '{', /cannot read/],
    ['no baseUrl', { keyId: 'k', secret, mode: 'signed' }, /baseUrl/],
    ['ftp baseUrl', { baseUrl: 'ftp://h', keyId: 'k', secret, mode: 'signed' }, /http or https/],
    ['two secret sources', { baseUrl: 'http://h', keyId: 'k', secret, secretEnv: 'X', mode: 'signed' }, /exactly one/],
    ['short secret', { baseUrl: 'http://h', keyId: 'k', secret: 'AAAA', mode: 'signed' }, /at least 32 bytes/],
    ['unset env', { baseUrl: 'http://h', keyId: 'k', secretEnv: 'WXSEAL_NOPE', mode: 'signed' }, /WXSEAL_NOPE/],
    ['sealed without server key', { baseUrl: 'http://h', keyId: 'k', secret }, /serverKeyId/],
  ] as const) {
    test(`rejects a config with ${name}`, () => {
      assert.throws(() => loadClientConfig(write(cfg), {}), (e: WxsealError) => e.code === 'WXSEAL_CONFIG_INVALID' && (pattern as RegExp).test(e.message));
    });
  }
});
