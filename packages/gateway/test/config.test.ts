// Config validation: every mistake is reported with the path of its field; secrets and keys from
// the environment and from files (relative to the config file); defaults; secrets never printed.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isWxsealError } from '@wxseal/client';
import { GatewayConfigError, loadGatewayConfig, startGateway, type GatewayConfigInput } from '@wxseal/gateway';
import { baseConfig, captureLogger, clientFor, makeKeys, newSecret, startUpstream, tempDir, writeYaml } from '../../../tests/support/gateway.js';

const keys = makeKeys('bff-config');
const valid = (): Record<string, unknown> => baseConfig(keys, 'http://127.0.0.1:9');

/** The issues of a config that must not load, as `path: message` lines. */
function issuesOf(input: unknown, env: Record<string, string> = {}): string[] {
  try {
    loadGatewayConfig(input as GatewayConfigInput, { env });
  } catch (err) {
    assert.ok(err instanceof GatewayConfigError, `expected a GatewayConfigError, got ${String(err)}`);
    assert.ok(isWxsealError(err, 'WXSEAL_CONFIG_INVALID'));
    return err.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  }
  assert.fail('the config loaded but should not have');
}

// A config to break one field at a time: the patches reach into nested objects of every shape, and
// the config must be free to be wrong (that is what is tested), so its fields are untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type AnyConfig = Record<string, any>;

function withPatch(patch: (c: AnyConfig) => void): Record<string, unknown> {
  const c = structuredClone(valid()) as AnyConfig;
  patch(c);
  return c;
}

describe('gateway config validation', () => {
  test('a valid config loads, with defaults filled in', () => {
    const c = loadGatewayConfig({
      listeners: { public: { port: 8080 } },
      routes: [{ prefix: '/api/', upstream: 'http://orders.internal:8080/v1/' }],
      clients: [{ keyId: 'bff', secrets: [{ secret: keys.secret }] }],
      serverKeys: [{ privateKey: keys.privateKeyPem }],
    });
    assert.equal(c.listeners.public.host, '0.0.0.0');
    assert.deepEqual(c.listeners.admin, { host: '127.0.0.1', port: 9090 });
    assert.deepEqual(c.routes[0], {
      name: '/api',
      prefix: '/api',
      upstream: 'http://orders.internal:8080/v1/',
      mode: 'sealed',
      stripPrefix: false,
      maxBodyBytes: 1024 * 1024,
      maxResponseBytes: 8 * 1024 * 1024,
      timeoutMs: 30_000,
      connectTimeoutMs: 5_000,
    });
    assert.deepEqual(c.nonceStore, { type: 'memory', maxEntries: 200_000 });
    assert.equal(c.limits.windowSeconds, 60);
    assert.equal(c.serverKeys[0]!.id, keys.serverKeyId, 'the reference server key id by default');
    assert.equal(c.sessionKeyCache, undefined);
    assert.equal(c.shutdown.drainTimeoutMs, 10_000);
  });

  test('each broken field is reported with its path', () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['ftp upstream', withPatch((c) => c.routes.push({ prefix: '/b', upstream: 'ftp://files.internal/' })), 'routes[1].upstream: must be an http(s) URL (no credentials, query or fragment)'],
      ['upstream with credentials', withPatch((c) => (c.routes[0].upstream = 'http://user:pw@h/')), 'routes[0].upstream: must be an http(s) URL (no credentials, query or fragment)'],
      ['relative prefix', withPatch((c) => (c.routes[0].prefix = 'api')), 'routes[0].prefix: must be a path starting with / (printable ASCII; no query, fragment, %, \\ or dot-segments)'],
      ['dot-segment prefix', withPatch((c) => (c.routes[0].prefix = '/a/../b')), 'routes[0].prefix: must be a path starting with / (printable ASCII; no query, fragment, %, \\ or dot-segments)'],
      ['unknown mode', withPatch((c) => (c.routes[0].mode = 'open')), 'routes[0].mode: must be one of "sealed", "signed", "sealed-or-signed", "passthrough"'],
      ['timeout not a number', withPatch((c) => (c.routes[0].timeoutMs = '5s')), 'routes[0].timeoutMs: must be a number'],
      ['misspelt field', withPatch((c) => (c.routes[0].upstreem = 'x')), 'routes[0].upstreem: unknown field'],
      ['port out of range', withPatch((c) => (c.listeners.public.port = 70000)), 'listeners.public.port: must be an integer from 0 to 65535'],
      ['port missing', withPatch((c) => delete c.listeners.public.port), 'listeners.public.port: is required'],
      ['no routes', withPatch((c) => (c.routes = [])), 'routes: must list at least one route'],
      ['secret without a source', withPatch((c) => (c.clients[0].secrets[0] = { id: 'x' })), 'clients[0].secrets[0]: needs one of secret, secretEnv, secretFile'],
      ['secret with two sources', withPatch((c) => (c.clients[0].secrets[0] = { secret: keys.secret, secretEnv: 'X' })), 'clients[0].secrets[0]: give only one of secret, secretEnv'],
      ['short secret', withPatch((c) => (c.clients[0].secrets[0] = { secret: 'c2hvcnQ' })), 'clients[0].secrets[0]: a client secret must be 32-64 bytes'],
      ['secret not b64u', withPatch((c) => (c.clients[0].secrets[0] = { secret: 'not base64url!' })), 'clients[0].secrets[0]: a client secret given as text must be canonical base64url'],
      ['five secrets', withPatch((c) => (c.clients[0].secrets = Array.from({ length: 5 }, () => ({ secret: newSecret() })))), 'clients[0].secrets: must list at most 4 secrets (SPEC.md section 11)'],
      ['bad key id', withPatch((c) => (c.clients[0].keyId = 'has space')), 'clients[0].keyId: must be 1-64 characters of A-Z a-z 0-9 . _ : -'],
      ['bad notBefore', withPatch((c) => (c.clients[0].secrets[0].notBefore = 'yesterday')), 'clients[0].secrets[0].notBefore: must be Unix seconds or an ISO 8601 date-time (e.g. 2025-01-01T00:00:00Z)'],
      ['notAfter before notBefore', withPatch((c) => Object.assign(c.clients[0].secrets[0], { notBefore: 2000, notAfter: 1000 })), 'clients[0].secrets[0].notAfter: must not be before notBefore'],
      ['duplicate key id', withPatch((c) => c.clients.push({ keyId: keys.keyId, secrets: [{ secret: newSecret() }] })), 'clients[1].keyId: duplicates clients[0].keyId'],
      ['duplicate prefix', withPatch((c) => c.routes.push({ prefix: '/api/', upstream: 'http://h/' })), 'routes[1].prefix: duplicates routes[0].prefix'],
      ['unknown store', withPatch((c) => (c.nonceStore = { type: 'memcached' })), 'nonceStore.type: must be one of "memory", "redis"'],
      ['redis without url', withPatch((c) => (c.nonceStore = { type: 'redis' })), 'nonceStore: needs one of url, urlEnv, sentinels, cluster'],
      ['redis url not redis', withPatch((c) => (c.nonceStore = { type: 'redis', url: 'http://h:6379' })), 'nonceStore.url: must be a redis:// or rediss:// URL'],
      ['window too long', withPatch((c) => (c.limits = { windowSeconds: 301 })), 'limits.windowSeconds: must be an integer from 1 to 300'],
      ['negative body limit', withPatch((c) => (c.limits = { maxBodyBytes: -1 })), 'limits.maxBodyBytes: must be an integer >= 0'],
      ['sealed without server keys', withPatch((c) => (c.serverKeys = [])), 'routes[0].mode: sealed-or-signed needs at least one entry in serverKeys'],
      ['garbage private key', withPatch((c) => (c.serverKeys = [{ privateKey: 'not a pem' }])), 'serverKeys[0]: not a usable server private key (RSA, X25519 or SM2): server private key could not be parsed'],
      ['same admin and public port', withPatch((c) => Object.assign(c.listeners, { public: { port: 8080 }, admin: { port: 8080 } })), 'listeners.admin.port: must differ from listeners.public.port'],
      ['session cache ttl', withPatch((c) => (c.sessionKeyCache = { ttlSeconds: 0 })), 'sessionKeyCache.ttlSeconds: must be an integer from 1 to 86400'],
    ];
    for (const [what, input, expected] of cases) {
      assert.deepEqual(issuesOf(input), [expected], what);
    }
  });

  test('limits.maxHeaderCount (default 100, 32-1000) and trustedProxies (addresses and CIDR blocks, default none)', () => {
    const c = loadGatewayConfig(valid() as GatewayConfigInput);
    assert.equal(c.limits.maxHeaderCount, 100);
    assert.deepEqual(c.trustedProxies, []);
    const set = loadGatewayConfig(withPatch((x) => {
      x.limits = { maxHeaderCount: 32 };
      x.trustedProxies = ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1', '::ffff:172.16.0.0/108'];
    }) as GatewayConfigInput);
    assert.equal(set.limits.maxHeaderCount, 32);
    assert.deepEqual(set.trustedProxies, ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1', '::ffff:172.16.0.0/108']);
    assert.deepEqual(issuesOf(withPatch((x) => (x.limits = { maxHeaderCount: 31 }))), ['limits.maxHeaderCount: must be an integer from 32 to 1000']);
    assert.deepEqual(issuesOf(withPatch((x) => (x.limits = { maxHeaderCount: 1001 }))), ['limits.maxHeaderCount: must be an integer from 32 to 1000']);
    const bad = ['10.0.0.0/33', 'fd00::/129', 'proxy.internal', '10.0.0.1/', '10.0.0.1/8x', ''];
    assert.deepEqual(
      issuesOf(withPatch((x) => (x.trustedProxies = bad))),
      bad.map((_, i) => `trustedProxies[${i}]: must be an IP address or a CIDR block (10.0.0.0/8, fd00::/8)`),
    );
  });

  test('every mistake of a config is listed at once, one per line in the message', () => {
    const input = withPatch((c) => {
      c.routes[0].upstream = 'nope';
      c.listeners.public.port = -1;
      c.clients[0].secrets[0] = {};
      c.extra = true;
    });
    const issues = issuesOf(input);
    assert.equal(issues.length, 4, issues.join('\n'));
    try {
      loadGatewayConfig(input as GatewayConfigInput);
    } catch (err) {
      const message = (err as Error).message;
      assert.match(message, /^invalid gateway config:\n/);
      assert.match(message, /\n {2}- routes\[0\]\.upstream: must be an http\(s\) URL/);
      assert.match(message, /\n {2}- extra: unknown field/);
    }
  });

  test('missing env variables and unreadable files are reported with the field that names them', () => {
    const dir = tempDir();
    const input = withPatch((c) => {
      c.clients[0].secrets = [{ secretEnv: 'GW_NOT_SET' }, { secretFile: 'nope.txt' }];
      c.serverKeys = [{ privateKeyFile: 'keys/none.pem' }, { privateKeyEnv: 'GW_KEY_NOT_SET' }];
    });
    const issues = issuesOf({ ...input }, {});
    assert.deepEqual(issues.slice(0, 1), ['clients[0].secrets[0].secretEnv: environment variable GW_NOT_SET is not set']);
    assert.match(issues[1]!, /^clients\[0\]\.secrets\[1\]\.secretFile: cannot read .*nope\.txt: ENOENT$/);
    assert.match(issues[2]!, /^serverKeys\[0\]\.privateKeyFile: cannot read .*keys\/none\.pem: ENOENT$/);
    assert.equal(issues[3], 'serverKeys[1].privateKeyEnv: environment variable GW_KEY_NOT_SET is not set');
    void dir;
  });

  test('file errors: missing file, YAML syntax, not a mapping', () => {
    const dir = tempDir();
    assert.match(issuesOf(join(dir, 'absent.yaml'))[0]!, /^cannot read .*absent\.yaml: ENOENT$/);
    writeFileSync(join(dir, 'bad.yaml'), 'routes: [\n  - prefix: /a\n');
    assert.match(issuesOf(join(dir, 'bad.yaml'))[0]!, /^cannot parse: /);
    writeFileSync(join(dir, 'list.yaml'), '- 1\n- 2\n');
    assert.deepEqual(issuesOf(join(dir, 'list.yaml')), ['the config must be an object (a YAML mapping)']);
    writeFileSync(join(dir, 'bad.json'), '{"routes": ');
    assert.match(issuesOf(join(dir, 'bad.json'))[0]!, /^cannot parse: /);
  });

  test('secrets are never enumerable: printing the config shows no secret, key or Redis password', () => {
    const c = loadGatewayConfig(withPatch((x) => (x.nonceStore = { type: 'redis', url: 'redis://:hunter2@127.0.0.1:6379/0' })) as GatewayConfigInput);
    const printed = JSON.stringify(c);
    assert.ok(!printed.includes(keys.secret));
    assert.ok(!printed.includes('hunter2'));
    assert.ok(!printed.includes('PRIVATE KEY'));
    assert.equal(c.nonceStore.type === 'redis' && c.nonceStore.displayUrl, 'redis://:***@127.0.0.1:6379/0');
    assert.equal(c.nonceStore.type === 'redis' && c.nonceStore.url, 'redis://:hunter2@127.0.0.1:6379/0');
    assert.equal(c.clients[0]!.secrets[0]!.secret.length, 32);
  });
});

describe('secrets and keys from the environment and from files', () => {
  test('a YAML file with secretFile/secretEnv/privateKeyFile/privateKeyEnv (relative paths) runs a working gateway', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'secrets'));
    const fileKeys = makeKeys('bff-file');
    const envKeys = { ...makeKeys('bff-env'), privateKeyPem: fileKeys.privateKeyPem, serverKeyId: fileKeys.serverKeyId, publicKeyPem: fileKeys.publicKeyPem };
    const second = makeKeys('unused'); // a second server key, from the environment
    writeFileSync(join(dir, 'secrets/bff-file.txt'), `${fileKeys.secret}\n`);
    writeFileSync(join(dir, 'secrets/server.pem'), fileKeys.privateKeyPem);
    const upstream = await startUpstream();
    const path = writeYaml(dir, 'gateway.yaml', {
      listeners: { public: { host: '127.0.0.1', port: 0 }, admin: { port: 0 } },
      routes: [{ prefix: '/api', upstream: upstream.url, mode: 'sealed-or-signed' }],
      clients: [
        { keyId: 'bff-file', secrets: [{ id: 'file', secretFile: 'secrets/bff-file.txt' }] },
        { keyId: 'bff-env', secrets: [{ id: 'env', secretEnv: 'GW_TEST_SECRET' }, { id: 'later', secret: newSecret(), notBefore: '2999-01-01T00:00:00Z' }] },
      ],
      serverKeys: [{ privateKeyFile: 'secrets/server.pem' }, { id: 'sk-second', privateKeyEnv: 'GW_TEST_SERVER_KEY' }],
    });
    const config = loadGatewayConfig(path, { env: { GW_TEST_SECRET: envKeys.secret, GW_TEST_SERVER_KEY: second.privateKeyPem } });
    assert.equal(config.configPath, path);
    assert.deepEqual(config.serverKeys.map((k) => k.id), [fileKeys.serverKeyId, 'sk-second']);
    assert.equal(config.clients[1]!.secrets[1]!.notBefore, Date.UTC(2999, 0, 1) / 1000);

    const gw = await startGateway(config, { logger: captureLogger().logger });
    const a = clientFor(fileKeys, gw.url);
    const b = clientFor(envKeys, gw.url);
    try {
      assert.equal((await a.post('/api/x', { json: { from: 'file' } })).status, 200);
      assert.equal(upstream.seen.at(-1)!.headers['x-wxseal-key-id'], 'bff-file');
      assert.equal((await b.post('/api/x', { json: { from: 'env' }, mode: 'signed' })).status, 200);
      assert.equal(upstream.seen.at(-1)!.headers['x-wxseal-key-id'], 'bff-env');
    } finally {
      a.close();
      b.close();
      await gw.close();
      await upstream.close();
    }
  });

  test('a JSON config file loads the same way', () => {
    const dir = tempDir();
    const path = join(dir, 'gateway.json');
    writeFileSync(path, JSON.stringify(valid()));
    assert.equal(loadGatewayConfig(path).routes[0]!.prefix, '/api');
  });
});
