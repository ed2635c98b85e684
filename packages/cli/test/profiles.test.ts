// Configuration profiles through the real bin: `wxseal gateway --check --env release` on the
// configuration `npm start` writes (development keys under .wxseal/dev, memory nonce store, the
// console token file) fails naming every unfit setting, and passes with --env dev; `wxseal call`
// takes the same overlays with --profile (its --env stays the WeChat cloud environment).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WxsealError } from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { freePort } from '../../../tests/support/net.js';
import { limitConcurrency } from '../../../tests/support/processes.js';
import { keygen } from '../src/commands/keygen.js';
import { loadClientConfig } from '../src/config.js';
import { lines, runWxseal as runUnlimited } from './cli-run.js';
import { assertBuildIsFresh } from './device-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wxseal-profiles-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const devDir = join(dir, '.wxseal', 'dev');
const gatewayConfig = join(devDir, 'gateway.json');
const secret = (): string => b64uEncode(randomBytes(32));
// Two CLI processes at a time: the machine's two cores are shared.
const slot = limitConcurrency(2);
const runWxseal = (...args: Parameters<typeof runUnlimited>): ReturnType<typeof runUnlimited> => slot(() => runUnlimited(...args));

before(() => {
  assertBuildIsFresh();
  // What `npm start` sets up (examples/demo/dev-setup.ts): keygen into .wxseal/dev, a token file,
  // and its gateway.json; here also listening on every interface and with a second, inline secret.
  keygen({ out: devDir, bits: 2048, keyId: 'bff-dev', baseUrl: 'http://127.0.0.1:8080', force: true });
  writeFileSync(join(devDir, 'admin-token.txt'), `${secret()}\n`, { mode: 0o600 });
  const config = {
    listeners: { public: { host: '0.0.0.0', port: 8080 }, admin: { host: '127.0.0.1', port: 9090 } },
    routes: [{ name: 'api', prefix: '/api', upstream: 'http://127.0.0.1:3000', mode: 'sealed-or-signed', timeoutMs: 5000 }],
    clients: [
      { keyId: 'bff-dev', secrets: [{ secretFile: 'client-secret.txt' }] },
      { keyId: 'bff-inline', secrets: [{ secret: secret() }] },
    ],
    serverKeys: [{ privateKeyFile: 'server-private.pem' }],
    nonceStore: { type: 'memory', maxEntries: 100000 },
    sessionKeyCache: { maxEntries: 1000, ttlSeconds: 300 },
    log: { level: 'warn' },
    admin: { auth: { tokenFile: 'admin-token.txt' }, stateDir: 'admin-state', sessionTtl: '8h' },
  };
  writeFileSync(gatewayConfig, JSON.stringify(config, null, 2), { mode: 0o600 });
});

describe('wxseal gateway --check --env', () => {
  const unfit = ['listeners.public.host', 'clients[0].secrets[0].secretFile', 'clients[1].secrets[0].secret', 'serverKeys[0].privateKeyFile', 'nonceStore.type', 'admin.auth.tokenFile'];

  test('release refuses the development configuration, naming every unfit setting', async () => {
    const r = await runWxseal(['gateway', '--check', '--env', 'release', '--config', gatewayConfig]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    const out = lines(r.stderr);
    assert.equal(out[0], `wxseal: WXSEAL_CONFIG_INVALID: ${gatewayConfig} (profile release) has ${unfit.length} problems (--config):`);
    assert.deepEqual(out.slice(1).map((l) => l.replace(/^ {2}- /, '').split(': ')[0]).sort(), [...unfit].sort(), r.stderr);
    assert.match(r.stderr, /clients\[1\]\.secrets\[0\]\.secret: inline secret; use secretEnv or secretFile/);
    assert.match(r.stderr, /admin\.auth\.tokenFile: the development console login token \(npm start prints it to the terminal\)/);
    assert.match(r.stderr, /nonceStore\.type: the memory nonce store is per process/);
  });

  test('dev (the default) and test accept it; WXSEAL_ENV chooses when --env is absent, --env wins over it', async () => {
    const [dev, byDefault, testProfile, fromEnv, optionWins] = await Promise.all([
      runWxseal(['gateway', '--check', '--env', 'dev', '--config', gatewayConfig]),
      runWxseal(['gateway', '--check', '--config', gatewayConfig]),
      runWxseal(['gateway', '--check', '--env', 'test', '--config', gatewayConfig]),
      runWxseal(['gateway', '--check', '--config', gatewayConfig], { env: { WXSEAL_ENV: 'release' } }),
      runWxseal(['gateway', '--check', '--env', 'dev', '--config', gatewayConfig], { env: { WXSEAL_ENV: 'release' } }),
    ]);
    for (const [r, profile] of [[dev, 'dev'], [byDefault, 'dev'], [testProfile, 'test'], [optionWins, 'dev']] as const) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `config OK: 1 route(s), 2 client(s), 1 server key(s), profile ${profile}\n`);
    }
    assert.equal(fromEnv.code, 2);
    assert.match(fromEnv.stderr, /\(profile release\) has 6 problems/);
  });

  test('an unknown profile is WXSEAL_CONFIG_INVALID naming it', async () => {
    const r = await runWxseal(['gateway', '--check', '--env', 'production', '--config', gatewayConfig]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `wxseal: WXSEAL_CONFIG_INVALID: ${gatewayConfig}: unknown profile "production" (--env): the profiles are dev, test, release (--config)\n`);
  });
});

describe('the client config of wxseal call', () => {
  const clientDir = join(dir, 'client');
  const inline = join(clientDir, 'inline.json');
  let deadUrl: string;
  before(async () => {
    mkdirSync(clientDir);
    deadUrl = `http://127.0.0.1:${await freePort()}`;
    writeFileSync(join(clientDir, 'secret.txt'), secret());
    writeFileSync(
      inline,
      JSON.stringify({
        baseUrl: deadUrl,
        keyId: 'bff-1',
        secret: secret(),
        mode: 'signed',
        profiles: { test: { baseUrl: 'http://127.0.0.1:18080', timeoutMs: 1234 }, release: { secret: null, secretFile: 'secret.txt' } },
      }),
    );
  });

  test('overlays by --profile or WXSEAL_ENV; release refuses an inline secret and development files', () => {
    assert.equal(loadClientConfig(inline, {}).profile, 'dev');
    assert.equal(loadClientConfig(inline, {}).baseUrl, deadUrl);
    const t = loadClientConfig(inline, { WXSEAL_ENV: 'test' });
    assert.deepEqual([t.profile, t.baseUrl, t.timeoutMs], ['test', 'http://127.0.0.1:18080', 1234]);
    // The release overlay replaces the inline secret by a file: fit.
    assert.equal(loadClientConfig(inline, {}, 'release').profile, 'release');
    const bare = join(clientDir, 'bare.json');
    writeFileSync(bare, JSON.stringify({ baseUrl: deadUrl, keyId: 'bff-1', secret: secret(), mode: 'signed' }));
    assert.throws(() => loadClientConfig(bare, { WXSEAL_ENV: 'release' }), (e) => e instanceof WxsealError && e.code === 'WXSEAL_CONFIG_INVALID' && e.message === 'config: the release profile refuses secret: inline secret; use secretEnv or secretFile');
    // The client.json keygen wrote for npm start: its secret and server key are development files.
    assert.throws(
      () => loadClientConfig(join(devDir, 'client.json'), {}, 'release'),
      (e) => e instanceof WxsealError && /secretFile: development key: .*; serverPublicKeyFile: development key/.test(e.message),
    );
    assert.throws(() => loadClientConfig(bare, {}, 'prod'), (e) => e instanceof WxsealError && e.message === 'config: unknown profile "prod" (--profile): the profiles are dev, test, release');
  });

  test('through the bin: --profile release refuses; --env stays the WeChat cloud environment', async () => {
    const bare = join(clientDir, 'bare-bin.json');
    writeFileSync(bare, JSON.stringify({ baseUrl: deadUrl, keyId: 'bff-1', secret: secret(), mode: 'signed' }));
    const [refused, wechatEnv, help] = await Promise.all([
      runWxseal(['call', '-c', bare, '--profile', 'release', '/api/x']),
      // "release" here is a cloud environment's name: the call goes out (to a closed port), no profile refusal.
      runWxseal(['call', '-c', bare, '--env', 'release', '/api/x']),
      runWxseal(['call', '--help']),
    ]);
    assert.equal(refused.code, 2);
    assert.equal(refused.stderr, 'wxseal: WXSEAL_CONFIG_INVALID: config: the release profile refuses secret: inline secret; use secretEnv or secretFile (--config)\n');
    assert.equal(wechatEnv.code, 2, wechatEnv.stderr);
    assert.doesNotMatch(wechatEnv.stderr, /CONFIG_INVALID|profile/);
    assert.match(wechatEnv.stderr, /^wxseal: WXSEAL_NETWORK/);
    assert.match(help.stdout, /--env <env> +WeChat identity: cloud environment/);
    assert.match(help.stdout, /--profile <profile> +client config profile: dev, test or release/);
  });
});
