// Configuration profiles: the overlay merge, which profile is chosen, the refusals of the release
// profile (each named by its config path, all in one error), a release-fit config that loads, and a
// reload that applies the profile the gateway started with.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GatewayConfigError, loadGatewayConfig, startGateway, type GatewayConfigInput } from '@wxseal/gateway';
import { ProfileError, isDevelopmentPath, mergeOverlay, releaseProblems, selectProfile, type ReleaseCheckedConfig } from '@wxseal/gateway/profiles';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { captureLogger, clientFor, connectSharedRedis, dropRedisPrefix, makeKeys, newSecret, startUpstream, tempDir, writeYaml } from '../../../tests/support/gateway.js';

// The profile must come from the options and files of each test, never from the runner's shell.
delete process.env.WXSEAL_ENV;

const root = new URL('../../../', import.meta.url);
const keys = makeKeys('bff-profiles', 'x25519');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

/** The issues of the GatewayConfigError `run` throws, as `path: message` lines. */
function issuesOf(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof GatewayConfigError, `a GatewayConfigError, not ${String(err)}`);
    assert.equal(err.code, 'WXSEAL_CONFIG_INVALID');
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return assert.fail('the config loaded');
}
const pathsOf = (lines: string[]): string[] => lines.map((l) => l.slice(0, l.indexOf(': ')));

/** A config that is fine for development: loopback, secrets and keys in files of `d`, memory nonce store. */
function devBase(d: string): Record<string, unknown> {
  writeFileSync(join(d, 'client-secret.txt'), `${keys.secret}\n`, { mode: 0o600 });
  writeFileSync(join(d, 'server-private.pem'), keys.privateKeyPem, { mode: 0o600 });
  return {
    listeners: { public: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9', mode: 'sealed-or-signed' }],
    clients: [{ keyId: keys.keyId, secrets: [{ id: 's1', secretFile: 'client-secret.txt' }] }],
    serverKeys: [{ privateKeyFile: 'server-private.pem' }],
    nonceStore: { type: 'memory' },
    log: { level: 'warn' },
  };
}

describe('the overlay merge', () => {
  test('objects merge recursively, arrays and scalars replace, null deletes; the inputs stay as they were', () => {
    const base = { a: { b: 1, c: { d: 2, e: 3 } }, list: [1, 2, 3], s: 'x', gone: { deep: true }, kept: 7 };
    const overlay = { a: { c: { d: 20 }, f: 4 }, list: [9], s: 'y', gone: null, added: { z: null, y: 1 } };
    const before = JSON.stringify([base, overlay]);
    assert.deepEqual(mergeOverlay(base, overlay), { a: { b: 1, c: { d: 20, e: 3 }, f: 4 }, list: [9], s: 'y', kept: 7, added: { y: 1 } });
    assert.equal(JSON.stringify([base, overlay]), before, 'neither input is modified');
    // A scalar over an object and an object over a scalar both replace.
    assert.deepEqual(mergeOverlay({ a: { b: 1 } }, { a: 5 }), { a: 5 });
    assert.deepEqual(mergeOverlay({ a: 5 }, { a: { b: 1 } }), { a: { b: 1 } });
  });

  test('a __proto__ key stays a plain key (no prototype is changed), which the schema then refuses', () => {
    const overlay = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    const merged = mergeOverlay({ a: 1 }, overlay) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(merged), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.ok(Object.hasOwn(merged, '__proto__'));
    const d = dir();
    const file = join(d, 'gateway.json');
    writeFileSync(file, `{"routes": [], "profiles": {"test": {"__proto__": {"x": 1}}}}`);
    assert.ok(issuesOf(() => loadGatewayConfig(file, { profile: 'test' })).some((l) => l.startsWith('__proto__: unknown field')));
  });

  test('an overlay nested absurdly deep is refused, not a stack overflow', () => {
    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < 100; i++) deep = { n: deep };
    assert.throws(() => mergeOverlay({}, deep), (e) => e instanceof ProfileError && /nested deeper/.test(e.message));
  });
});

describe('which profile', () => {
  test('the option, else WXSEAL_ENV, else dev; an empty WXSEAL_ENV counts as unset', () => {
    assert.equal(selectProfile(undefined, {}), 'dev');
    assert.equal(selectProfile(undefined, { WXSEAL_ENV: '' }), 'dev');
    assert.equal(selectProfile(undefined, { WXSEAL_ENV: 'test' }), 'test');
    assert.equal(selectProfile('release', { WXSEAL_ENV: 'test' }), 'release');
    assert.equal(selectProfile('dev', { WXSEAL_ENV: 'release' }), 'dev');
  });

  test('an unknown name is WXSEAL_CONFIG_INVALID naming it and where it came from', () => {
    assert.throws(() => selectProfile('prod', {}, '--env'), (e) => e instanceof ProfileError && e.code === 'WXSEAL_CONFIG_INVALID' && e.message === 'unknown profile "prod" (--env): the profiles are dev, test, release');
    assert.throws(() => selectProfile(undefined, { WXSEAL_ENV: 'Release' }), (e) => e instanceof ProfileError && e.message.includes('"Release" (WXSEAL_ENV)'));
    const d = dir();
    const file = writeYaml(d, 'gateway.yaml', devBase(d));
    assert.deepEqual(issuesOf(() => loadGatewayConfig(file, { profile: 'staging', profileFrom: '--env' })), [': unknown profile "staging" (--env): the profiles are dev, test, release']);
    assert.deepEqual(issuesOf(() => loadGatewayConfig(file, { env: { WXSEAL_ENV: 'production' } })), [': unknown profile "production" (WXSEAL_ENV): the profiles are dev, test, release']);
  });

  test('the loader applies the chosen overlay before validating, and records the profile', () => {
    const d = dir();
    const config = { ...devBase(d), limits: { windowSeconds: 60 }, profiles: { test: { limits: { windowSeconds: 30 }, log: null }, release: { limits: { windowSeconds: 10 } } } };
    const file = writeYaml(d, 'gateway.yaml', config);
    const dev = loadGatewayConfig(file);
    assert.equal(dev.profile, 'dev');
    assert.equal(dev.limits.windowSeconds, 60);
    assert.equal(dev.log.level, 'warn');
    const testProfile = loadGatewayConfig(file, { env: { WXSEAL_ENV: 'test' } });
    assert.equal(testProfile.profile, 'test');
    assert.equal(testProfile.limits.windowSeconds, 30);
    assert.equal(testProfile.log.level, 'info', 'null deleted log: the default applies');
    // An object config takes overlays too (built untyped here, as read from a file).
    const object = { ...config, listeners: { public: { host: '127.0.0.1', port: 0 } } } as unknown as GatewayConfigInput;
    assert.equal(loadGatewayConfig(object, { profile: 'test', baseDir: d }).limits.windowSeconds, 30);
    // The merged result is validated: an overlay that breaks a field is named by that field.
    const broken = writeYaml(d, 'broken.yaml', { ...config, profiles: { test: { limits: { windowSeconds: 0 } } } });
    assert.ok(loadGatewayConfig(broken).limits.windowSeconds === 60, 'dev does not see the test overlay');
    assert.deepEqual(pathsOf(issuesOf(() => loadGatewayConfig(broken, { profile: 'test' }))), ['limits.windowSeconds']);
  });

  test('a profiles key that is not an object, an unknown profile in it, or an overlay that is not an object is named', () => {
    const d = dir();
    const base = devBase(d);
    const load = (profiles: unknown) => issuesOf(() => loadGatewayConfig(writeYaml(d, 'p.yaml', { ...base, profiles })));
    assert.deepEqual(load(['dev']), ['profiles: must be an object with the keys dev, test, release (each the settings that profile changes)']);
    assert.deepEqual(load('release'), ['profiles: must be an object with the keys dev, test, release (each the settings that profile changes)']);
    assert.deepEqual(pathsOf(load({ staging: {}, prod: {}, release: {} })), ['profiles.staging', 'profiles.prod']);
    assert.deepEqual(load({ release: [1] }), ['profiles.release: must be an object (the settings this profile changes) or null']);
    assert.deepEqual(pathsOf(load({ test: { profiles: {} } })), ['profiles.test.profiles']);
    // YAML `release:` with nothing under it is null: no overlay.
    assert.equal(loadGatewayConfig(writeYaml(d, 'q.yaml', { ...base, profiles: { release: null } }), { profile: 'test' }).profile, 'test');
  });
});

describe('the release profile', () => {
  test('a dev configuration is refused with every unfit setting named by its path, and no secret in the message', () => {
    const d = dir();
    const devDir = join(d, '.wxseal', 'dev');
    mkdirSync(devDir, { recursive: true });
    const inlineSecret = newSecret();
    const vector = JSON.parse(readFileSync(new URL('spec/vectors/x25519.json', root), 'utf8')) as { serverKey: { privateKeyPem: string; serverKeyId: string } };
    writeFileSync(join(devDir, 'client-secret.txt'), `${newSecret()}\n`);
    writeFileSync(join(devDir, 'server-private.pem'), keys.privateKeyPem);
    writeFileSync(join(devDir, 'admin-token.txt'), `${b64uEncode(randomBytes(32))}\n`);
    writeFileSync(join(devDir, 'master-keys'), `mk1:${b64uEncode(randomBytes(32))}\n`);
    const config = {
      listeners: { public: { host: '0.0.0.0', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
      routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9', mode: 'sealed-or-signed' }],
      clients: [
        { keyId: 'bff-inline', secrets: [{ secret: inlineSecret }] },
        { keyId: 'bff-dev', secrets: [{ secretFile: '.wxseal/dev/client-secret.txt' }] },
      ],
      serverKeys: [{ privateKeyFile: '.wxseal/dev/server-private.pem' }, { privateKey: vector.serverKey.privateKeyPem }],
      nonceStore: { type: 'memory' },
      devices: { database: { url: 'postgres://wxseal:hunter2@127.0.0.1:5432/test' }, masterKeys: { file: '.wxseal/dev/master-keys' } },
      admin: { auth: { tokenFile: '.wxseal/dev/admin-token.txt' }, stateDir: join(d, 'admin-state') },
    };
    const file = writeYaml(d, 'gateway.yaml', config);
    // Fine for development and tests: the release refusals are the release profile's alone.
    assert.equal(loadGatewayConfig(file).profile, 'dev');
    assert.equal(loadGatewayConfig(file, { profile: 'test' }).profile, 'test');

    const lines = issuesOf(() => loadGatewayConfig(file, { profile: 'release' }));
    assert.deepEqual(
      pathsOf(lines).sort(),
      [
        'listeners.public.host',
        'nonceStore.type',
        'clients[0].secrets[0].secret',
        'clients[1].secrets[0].secretFile',
        'serverKeys[0].privateKeyFile',
        'serverKeys[1].privateKey',
        'serverKeys[1].privateKey',
        'devices.database.url',
        'devices.masterKeys.file',
        'admin.auth.tokenFile',
      ].sort(),
      lines.join('\n'),
    );
    const line = (prefix: string): string[] => lines.filter((l) => l.startsWith(`${prefix}: `));
    assert.match(line('listeners.public.host')[0]!, /plain HTTP on 0\.0\.0\.0, not a loopback address; configure listeners\.public\.tls/);
    assert.match(line('nonceStore.type')[0]!, /memory nonce store is per process/);
    assert.deepEqual(line('clients[0].secrets[0].secret'), ['clients[0].secrets[0].secret: inline secret; use secretEnv or secretFile']);
    assert.match(line('clients[1].secrets[0].secretFile')[0]!, /development key: .*\.wxseal\/dev\/client-secret\.txt is in a development directory/);
    assert.match(line('serverKeys[0].privateKeyFile')[0]!, /development key/);
    assert.deepEqual(line('serverKeys[1].privateKey').sort(), [
      'serverKeys[1].privateKey: development key: sk-cd15ff7e456b7fc1 is a test-vector key whose private half is published in spec/vectors',
      'serverKeys[1].privateKey: inline private key; use privateKeyEnv or privateKeyFile',
    ]);
    assert.equal(vector.serverKey.serverKeyId, 'sk-cd15ff7e456b7fc1');
    assert.deepEqual(line('devices.database.url'), ['devices.database.url: password inline in the URL; use urlEnv']);
    assert.match(line('admin.auth.tokenFile')[0]!, /development console login token \(npm start prints it to the terminal\)/);
    const text = lines.join('\n');
    for (const secret of [inlineSecret, 'hunter2', 'PRIVATE KEY', keys.secret]) assert.ok(!text.includes(secret), `the message repeats ${secret.slice(0, 12)}`);

    // The same refusals come with the other mistakes of the file, in one error.
    const both = issuesOf(() => loadGatewayConfig(writeYaml(d, 'both.yaml', { ...config, listeners: { ...config.listeners, public: { host: '0.0.0.0', port: 8080 }, admin: { host: '127.0.0.1', port: 8080 } } }), { profile: 'release' }));
    assert.ok(both.some((l) => l.startsWith('listeners.admin.port: must differ')) && both.some((l) => l.startsWith('nonceStore.type: ')), both.join('\n'));
  });

  test('a base for development with a release overlay: dev keeps its settings, release loads with its own', () => {
    const d = dir();
    const prod = join(d, 'secrets');
    mkdirSync(prod);
    const releaseKeys = makeKeys('bff-release', 'x25519');
    writeFileSync(join(prod, 'client-secret'), releaseKeys.secret);
    writeFileSync(join(prod, 'server.pem'), releaseKeys.privateKeyPem);
    const config = {
      ...devBase(d),
      clients: [{ keyId: keys.keyId, secrets: [{ secret: keys.secret }] }],
      admin: { auth: { tokenFile: '.wxseal/dev/admin-token.txt' }, stateDir: join(d, 'admin-state') },
      profiles: {
        release: {
          listeners: { public: { host: '0.0.0.0' } },
          clients: [{ keyId: 'bff-release', secrets: [{ secretFile: 'secrets/client-secret' }] }],
          serverKeys: [{ privateKeyFile: 'secrets/server.pem' }],
          nonceStore: { type: 'redis', urlEnv: 'NONCE_REDIS_URL' },
          admin: { auth: { tokenFile: null, tokenEnv: 'ADMIN_TOKEN' } },
        },
      },
    };
    mkdirSync(join(d, '.wxseal', 'dev'), { recursive: true });
    writeFileSync(join(d, '.wxseal', 'dev', 'admin-token.txt'), b64uEncode(randomBytes(32)));
    const file = writeYaml(d, 'gateway.yaml', config);
    const env = { NONCE_REDIS_URL: 'redis://127.0.0.1:6379/0', ADMIN_TOKEN: b64uEncode(randomBytes(32)) };
    const dev = loadGatewayConfig(file, { env });
    assert.equal(dev.nonceStore.type, 'memory');
    assert.deepEqual(dev.clients.map((c) => c.keyId), [keys.keyId]);

    // Still plain HTTP on 0.0.0.0: the one thing the overlay left unfit is named alone.
    assert.deepEqual(pathsOf(issuesOf(() => loadGatewayConfig(file, { profile: 'release', env }))), ['listeners.public.host']);
    // Behind a TLS-terminating proxy on the same machine: fit for release.
    const fit = writeYaml(d, 'fit.yaml', { ...config, profiles: { release: { ...config.profiles.release, listeners: { public: { host: '127.0.0.1' } } } } });
    const release = loadGatewayConfig(fit, { profile: 'release', env });
    assert.equal(release.profile, 'release');
    assert.equal(release.nonceStore.type, 'redis');
    assert.deepEqual(release.clients.map((c) => c.keyId), ['bff-release']);
    assert.equal(release.admin?.token, env.ADMIN_TOKEN);
  });

  test('releaseProblems: a tls object makes a public address fit; loopback needs none; URL passwords in a query count', () => {
    const key = generateKeyPairSync('x25519').privateKey;
    const config = (host: string, type = 'redis'): ReleaseCheckedConfig => ({ configPath: undefined, listeners: { public: { host } }, nonceStore: { type }, serverKeys: [{ id: 'k', privateKey: key }] });
    const problems = (host: string, raw: unknown) => releaseProblems(config(host), raw, { baseDir: '/srv/wxseal', env: {} }).map((p) => p.path);
    assert.deepEqual(problems('0.0.0.0', {}), ['listeners.public.host']);
    assert.deepEqual(problems('0.0.0.0', { listeners: { public: { tls: { certFile: 'c.pem', keyFile: 'k.pem' } } } }), []);
    for (const loopback of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) assert.deepEqual(problems(loopback, {}), [], loopback);
    for (const open of ['10.0.0.5', '::', 'gateway.internal']) assert.deepEqual(problems(open, {}), ['listeners.public.host'], open);
    assert.deepEqual(problems('127.0.0.1', { controlPlane: { database: { url: 'mysql://h/db?user=u&password=pw' } } }), ['controlPlane.database.url']);
    assert.deepEqual(problems('127.0.0.1', { nonceStore: { url: 'redis://127.0.0.1:6379/0' } }), [], 'a URL without a password is no secret');
    // A TLS key file under .wxseal is a development key like any other.
    assert.deepEqual(problems('0.0.0.0', { listeners: { public: { tls: { certFile: '.wxseal/dev/c.pem', keyFile: '.wxseal/dev/k.pem' } } } }), ['listeners.public.tls.certFile', 'listeners.public.tls.keyFile']);
    assert.deepEqual(releaseProblems(config('127.0.0.1', 'memory'), {}, { env: {} }).map((p) => p.message), ['the memory nonce store (the default) is per process: lost on a restart and not shared between instances or workers; use type: redis']);
  });

  test('development directories: any .wxseal directory, and WXSEAL_DEV_DIR', () => {
    assert.ok(isDevelopmentPath('/home/me/app/.wxseal/dev/server-private.pem', {}));
    assert.ok(isDevelopmentPath('/home/me/app/.wxseal/mock-wechat/client.json', {}));
    assert.ok(!isDevelopmentPath('/run/secrets/wxseal-server-key.pem', {}));
    assert.ok(!isDevelopmentPath('/home/me/app/not.wxseal/key.pem', {}));
    assert.ok(isDevelopmentPath('/tmp/devkeys/server-private.pem', { WXSEAL_DEV_DIR: '/tmp/devkeys' }));
    assert.ok(!isDevelopmentPath('/tmp/devkeys2/server-private.pem', { WXSEAL_DEV_DIR: '/tmp/devkeys' }));
  });
});

describe('reload', () => {
  test('a reload applies the profile the gateway started with (its overlay, its refusals), whatever WXSEAL_ENV says', async () => {
    // The release profile needs a shared nonce store: the Redis of the test services (fails without it).
    const redis = await connectSharedRedis();
    const prefix = `wxseal:test:profiles:${process.pid}:`;
    const d = dir();
    const upstream = await startUpstream();
    const releaseKeys = makeKeys('bff-release', 'x25519');
    const rotated = { ...releaseKeys, secret: newSecret() };
    writeFileSync(join(d, 'release-secret'), releaseKeys.secret);
    writeFileSync(join(d, 'rotated-secret'), rotated.secret);
    writeFileSync(join(d, 'release.pem'), releaseKeys.privateKeyPem);
    const config = {
      ...devBase(d),
      routes: [{ prefix: '/api', upstream: upstream.url, mode: 'sealed-or-signed' }],
      profiles: {
        release: {
          clients: [{ keyId: 'bff-release', secrets: [{ id: 'r1', secretFile: 'release-secret' }] }],
          serverKeys: [{ privateKeyFile: 'release.pem' }],
          nonceStore: { type: 'redis', url: 'redis://127.0.0.1:6379/0', prefix },
        },
      },
    };
    const file = writeYaml(d, 'gateway.yaml', config);
    const logs = captureLogger();
    const gw = await startGateway(loadGatewayConfig(file, { profile: 'release' }), { logger: logs.logger });
    const client = clientFor(rotated, gw.url);
    try {
      assert.equal(gw.config.profile, 'release');
      assert.ok(logs.lines.some((l) => l.includes('"msg":"gateway listening"') && l.includes('"profile":"release"')), 'the startup log names the profile');
      process.env.WXSEAL_ENV = 'dev';

      // A change to the release overlay applies: its clients, not the base's.
      writeYaml(d, 'gateway.yaml', { ...config, profiles: { release: { ...config.profiles.release, clients: [{ keyId: 'bff-release', secrets: [{ id: 'r2', secretFile: 'rotated-secret' }] }] } } });
      await gw.reload();
      assert.equal(gw.config.profile, 'release');
      assert.deepEqual(gw.config.clients.map((c) => c.secrets.map((s) => s.id)), [['r2']]);
      assert.equal((await client.post('/api/x', { json: {} })).status, 200, 'the rotated release secret verifies');

      // An inline secret is refused on reload as at start; the running config stays.
      writeYaml(d, 'gateway.yaml', { ...config, profiles: { release: { ...config.profiles.release, clients: [{ keyId: 'bff-release', secrets: [{ id: 'r3', secret: newSecret() }] }] } } });
      await assert.rejects(gw.reload(), (e) => e instanceof GatewayConfigError && e.issues.some((i) => i.path === 'clients[0].secrets[0].secret' && /inline secret/.test(i.message)));
      assert.equal(gw.config.profile, 'release');
      assert.deepEqual(gw.config.clients.map((c) => c.secrets.map((s) => s.id)), [['r2']]);
      assert.equal((await client.post('/api/x', { json: {} })).status, 200, 'still in force');
    } finally {
      delete process.env.WXSEAL_ENV;
      client.close();
      await gw.close();
      await upstream.close();
      await dropRedisPrefix(redis, prefix);
      redis.disconnect();
    }
  });
});
