// Admin API edges on small gateways: idle session expiry and the login rate limit (with an
// injected clock), the console before it is built, a device database that is down (503), and the
// admin section's validation. (`wxseal admin hash-password` is tested in tests/e2e/gateway-cli.test.ts.)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MasterKeyRing } from '@wxseal/devices';
import {
  ADMIN_API_PREFIX,
  GatewayConfigError,
  hashPassword,
  loadGatewayConfig,
  startGateway,
  type RunningGateway,
} from '@wxseal/gateway';
import { baseConfig, captureLogger, makeKeys, startUpstream, tempDir, type Upstream } from '../../../tests/support/gateway.js';
import { deadPort } from './helpers.js';
import { call, login } from '../../../tests/support/gateway-admin.js';

describe('admin API: sessions, rate limit, outages, config', () => {
  const keys = makeKeys('bff-admin-auth');
  const token = randomBytes(32).toString('base64url');
  let offset = 0;
  const now = (): number => Date.now() + offset;
  let upstream: Upstream;
  let gw: RunningGateway;
  let plain: RunningGateway;
  let noDevices: RunningGateway;

  before(async () => {
    upstream = await startUpstream();
    const dir = tempDir();
    mkdirSync(join(dir, 'empty-console'));
    const env = { ADM_TOKEN: token, ADM_MASTER: `m1:${MasterKeyRing.generateKey()}` };
    const config = loadGatewayConfig(
      baseConfig(keys, upstream.url, {
        devices: {
          database: { url: `postgres://wxseal:wxseal@127.0.0.1:${await deadPort()}/wxseal`, connectTimeoutMs: 300, queryTimeoutMs: 300 },
          masterKeys: { env: 'ADM_MASTER' },
          bloom: { rebuildIntervalMs: 0 },
        },
        admin: {
          auth: { tokenEnv: 'ADM_TOKEN' },
          stateDir: join(dir, 'state'),
          sessionTtl: '10m',
          loginRateLimit: { maxFailures: 3, windowSeconds: 60 },
          console: { dir: join(dir, 'empty-console') },
        },
      }),
      { env },
    );
    gw = await startGateway(config, { logger: captureLogger().logger, now });
    plain = await startGateway(baseConfig(keys, upstream.url), { logger: captureLogger().logger });
    noDevices = await startGateway(
      loadGatewayConfig(baseConfig(keys, upstream.url, { admin: { auth: { tokenEnv: 'ADM_TOKEN' }, stateDir: join(dir, 'state2') } }), { env }),
      { logger: captureLogger().logger },
    );
  });

  after(async () => {
    await gw?.close();
    await plain?.close();
    await noDevices?.close();
    await upstream?.close();
  });

  test('the login methods are public and follow the config (token only here)', async () => {
    const r = await call(gw.adminUrl, 'GET', `${ADMIN_API_PREFIX}/session/methods`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { methods: ['token'] });
  });

  test('sessions expire when idle; activity keeps them alive', async () => {
    const s = await login(gw.adminUrl, { token });
    offset += 9 * 60_000;
    assert.equal((await s.get('/session')).status, 200, 'within the idle time');
    offset += 9 * 60_000;
    const alive = await s.get('/session');
    assert.equal(alive.status, 200, 'activity pushed the deadline forward');
    assert.ok(Date.parse(alive.json.expiresAt) >= now() + 9 * 60_000, 'expiresAt moved');
    offset += 10 * 60_000 + 1000;
    const expired = await s.get('/session');
    assert.equal(expired.status, 401, 'idle past the TTL');
    assert.equal(expired.json.error.code, 'ADMIN_UNAUTHENTICATED');
  });

  test('failed logins are rate-limited per address (429 + retry-after), then allowed again', async () => {
    const attempt = (body: object) => call(gw.adminUrl, 'POST', `${ADMIN_API_PREFIX}/session`, { body });
    for (let i = 0; i < 3; i++) assert.equal((await attempt({ token: `${token}x` })).status, 401, `failure ${i + 1}`);
    const limited = await attempt({ token });
    assert.equal(limited.status, 429, 'even the right token is refused while limited');
    assert.equal(limited.json.error.code, 'ADMIN_LOGIN_RATE_LIMITED');
    const wait = Number(limited.headers['retry-after']);
    assert.ok(wait >= 1 && wait <= 60, `retry-after ${wait}`);
    offset += 61_000;
    assert.equal((await attempt({ token })).status, 200, 'allowed after the window');
  });

  test('a device database that is down answers 503 ADMIN_UNAVAILABLE (fail closed)', async () => {
    const s = await login(gw.adminUrl, { token });
    const list = await s.get('/devices?q=SN');
    assert.equal(list.status, 503, list.text);
    assert.equal(list.json.error.code, 'ADMIN_UNAVAILABLE');
    const revoke = await s.post('/devices/SN-1/revoke', { reason: 'test outage' });
    assert.equal(revoke.status, 503, revoke.text);
    assert.ok(!list.text.includes('wxseal:wxseal'), 'no database credentials in the message');
    const audit = await s.get('/audit?action=device.revoke');
    assert.equal(audit.json.entries[0].outcome, 'failed', 'the failure is audited');
    assert.equal(audit.json.entries[0].reason, 'test outage');
  });

  test('the console answers 503 until it is built; the API still works', async () => {
    const page = await call(gw.adminUrl, 'GET', '/console/');
    assert.equal(page.status, 503, page.text);
    assert.match(page.json.error.message, /has not been built/);
    assert.ok(page.headers['content-security-policy'], 'CSP even on the 503');
  });

  test('without an admin section (or a devices section) the features answer ADMIN_NOT_CONFIGURED', async () => {
    const r = await call(plain.adminUrl, 'POST', `${ADMIN_API_PREFIX}/session`, { body: { token } });
    assert.equal(r.status, 404);
    assert.equal(r.json.error.code, 'ADMIN_NOT_CONFIGURED');
    assert.equal((await call(plain.adminUrl, 'GET', '/metrics')).status, 200, 'metrics unchanged');
    const s = await login(noDevices.adminUrl, { token });
    const d = await s.get('/devices');
    assert.equal(d.status, 404);
    assert.equal(d.json.error.code, 'ADMIN_NOT_CONFIGURED');
    assert.deepEqual((await s.get('/certificates')).json, { certificates: [] }, 'no inventory: empty list');
  });

  test('the admin section is validated', async () => {
    const invalid = (admin: object, env: Record<string, string> = {}): string[] => {
      try {
        loadGatewayConfig(baseConfig(keys, upstream.url, { admin } as never), { env });
      } catch (err) {
        assert.ok(err instanceof GatewayConfigError, 'a config error');
        return err.issues.map((i) => `${i.path}: ${i.message}`);
      }
      assert.fail('expected a config error');
    };
    assert.match(invalid({ auth: {} }).join('\n'), /admin\.auth: needs tokenEnv/);
    assert.match(invalid({ auth: { tokenEnv: 'T' } }, { T: 'short' }).join('\n'), /at least 32 characters/);
    assert.ok(!invalid({ auth: { tokenEnv: 'T' } }, { T: 'short-secret' }).join('\n').includes('short-secret'), 'the token never appears in a message');
    assert.match(invalid({ auth: { users: [{ name: 'bob', passwordHash: 'plaintext' }] } }).join('\n'), /users\[0\]\.passwordHash/);
    assert.match(invalid({ auth: { users: [{ name: 'token', passwordHash: await hashPassword('x'.repeat(12)) }] } }).join('\n'), /reserved/);
    assert.match(invalid({ auth: { tokenEnv: 'T' }, sessionTtl: '5y' }, { T: token }).join('\n'), /sessionTtl/);
    assert.match(invalid({ auth: { tokenEnv: 'T' }, allowedOrigins: ['https://x.example/path'] }, { T: token }).join('\n'), /allowedOrigins/);
    const ok = loadGatewayConfig(baseConfig(keys, upstream.url, { admin: { auth: { tokenEnv: 'T' } } }), { env: { T: token } });
    assert.ok(!JSON.stringify(ok).includes(token), 'the token is not enumerable');
    assert.equal(ok.admin!.sessionTtlMs, 8 * 3600_000, 'default 8h');
  });
});
