// The admin API (ADMIN-API.md) on a real gateway: real HTTP, a real SQLite device registry with
// the shared Redis cache, the control plane in the stateDir's SQLite file. Authorization is checked for every route of the
// table; then each area: sessions, devices, client secrets (through a reload), server keys
// (through a restart), certificates, stats, the audit log and the OpenAPI document.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildRequest } from '@wxseal/protocol';
import { MasterKeyRing } from '@wxseal/devices';
import { createClient, isWxsealError, type WxsealClient } from '@wxseal/client';
import {
  ADMIN_API_PREFIX,
  ADMIN_ROUTES,
  CONSOLE_CSP,
  hashPassword,
  startGateway,
  type AdminRouteSpec,
  type CertificateInfo,
  type CertificateInventory,
  type RunningGateway,
} from '@wxseal/gateway';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { baseConfig, captureLogger, clientFor, makeKeys, plainRequest, startUpstream, tempDir, writeYaml, type Upstream } from '../../../tests/support/gateway.js';
import { deadPort } from './helpers.js';
import { REDIS_URL, call, login, requireRedis, type AdminSession } from '../../../tests/support/gateway-admin.js';
import { concretePath, sampleBody } from './admin-helpers.js';

const PASSWORD = 'correct horse battery staple';
const DAY = 86_400_000;

function routeById(id: string): AdminRouteSpec {
  const r = (ADMIN_ROUTES as readonly AdminRouteSpec[]).find((x) => x.id === id);
  assert.ok(r, `route ${id} exists`);
  return r;
}

/** Checks a response body against the route's response schema. */
function conforms(id: string, body: unknown): void {
  const r = routeById(id).response!.safeParse(body);
  assert.ok(r.success, `${id} response matches its schema: ${r.success ? '' : JSON.stringify(r.error.issues)}`);
}

describe('admin API', () => {
  const keys = makeKeys('bff-admin');
  const token = randomBytes(32).toString('base64url');
  const productId = 'lamp-adm';
  const logs = captureLogger();
  let dir: string;
  let configPath: string;
  let upstream: Upstream;
  let gw: RunningGateway;
  let admin: AdminSession;
  const clients: WxsealClient[] = [];
  const refreshed: unknown[] = [];
  const now0 = Date.now();
  const inventory: CertificateInventory = {
    async list(): Promise<CertificateInfo[]> {
      const owner = { kind: 'wechatpay' as const, mchid: '1900000001' };
      return [
        { owner, kind: 'merchant', serial: 'MERCHANT-OK', source: 'file', notAfter: new Date(Date.now() + 60 * DAY) },
        { owner, kind: 'platform', serial: 'PLATFORM-WARN', source: 'download', notAfter: new Date(Date.now() + 20 * DAY).toISOString() },
        { owner, kind: 'platform', serial: 'PLATFORM-CRIT', source: 'download', notAfter: Date.now() + 3 * DAY },
        { owner: { kind: 'mp', appid: 'wx-demo' }, kind: 'platform', serial: 'MP-EXPIRED', source: 'file', notAfter: new Date(Date.now() - DAY) },
        { owner, kind: 'public-key', serial: 'PUB_KEY_ID_0001', source: 'env' },
      ];
    },
    async refresh(owner) {
      refreshed.push(owner);
      return 2;
    },
  };

  const device = (serial: string, secret: string, mode: 'signed' | 'sealed' = 'signed'): WxsealClient => {
    const c = createClient({ baseUrl: gw.url, keyId: serial, secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, mode, retry: { maxAttempts: 1 }, timeoutMs: 5000 });
    clients.push(c);
    return c;
  };
  const outcome = async (c: WxsealClient, path = '/api/ping'): Promise<string> => {
    try {
      const res = await c.get(path);
      return res.status === 200 ? 'ok' : `status ${res.status}`;
    } catch (err) {
      if (isWxsealError(err)) return err.code;
      throw err;
    }
  };
  /** Every audit entry, newest first, read page by page through the API (the audit log lives in the control plane). */
  const auditEntries = async (): Promise<Record<string, unknown>[]> => {
    const out: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    do {
      const page = await admin.get(`/audit?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200, page.text);
      out.push(...(page.json.entries as Record<string, unknown>[]));
      cursor = page.json.nextCursor as string | undefined;
    } while (cursor !== undefined);
    return out;
  };
  /** The raw bytes of the control plane's SQLite file (with its WAL), for "nothing in clear at rest" checks. */
  const controlPlaneBytes = (): string =>
    ['control-plane.db', 'control-plane.db-wal']
      .map((f) => {
        try {
          return readFileSync(join(dir, 'state', f)).toString('latin1');
        } catch {
          return '';
        }
      })
      .join('');
  /** The client secret in force for keys.keyId (a test below replaces the config's). */
  let currentClientSecret: string | undefined;

  before(async () => {
    await requireRedis();
    dir = tempDir();
    upstream = await startUpstream();
    writeFileSync(join(dir, 'admin-token.txt'), `${token}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'master-keys.txt'), `m1:${MasterKeyRing.generateKey()}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'cache-key.txt'), `${b64uEncode(randomBytes(32))}\n`, { mode: 0o600 });
    mkdirSync(join(dir, 'console', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'console', 'index.html'), '<!doctype html><title>wxseal console</title><script type="module" src="/console/assets/app.js"></script>');
    writeFileSync(join(dir, 'console', 'assets', 'app.js'), 'console.log("console")');
    const input = baseConfig(keys, upstream.url, {
      routes: [
        { prefix: '/api', upstream: upstream.url, mode: 'sealed-or-signed' },
        { prefix: '/down', upstream: `http://127.0.0.1:${await deadPort()}`, mode: 'sealed-or-signed', connectTimeoutMs: 500 },
      ],
      devices: {
        database: { url: `sqlite:${join(dir, 'devices.db')}` },
        masterKeys: { file: 'master-keys.txt' },
        redis: { url: REDIS_URL, prefix: `wxseal-test:admin:${randomUUID()}:`, cacheKeyFile: 'cache-key.txt' },
      },
      admin: {
        auth: { tokenFile: 'admin-token.txt', users: [{ name: 'alice', passwordHash: await hashPassword(PASSWORD) }] },
        stateDir: 'state',
        sessionTtl: '1h',
        console: { dir: 'console' },
      },
    });
    configPath = writeYaml(dir, 'gateway.yaml', input);
    gw = await startGateway(configPath, { logger: logs.logger, certificateInventory: inventory });
    await gw.devices!.repository.createProduct(productId, { actor: 'test' });
    admin = await login(gw.adminUrl, { token });
  });

  after(async () => {
    for (const c of clients) await c.close?.();
    await gw?.close();
    await upstream?.close();
  });

  test('no route is reachable without a session; every state-changing route needs the CSRF token and an allowed Origin', async () => {
    const values = { serial: 'SN-NONE', keyId: keys.keyId, secretId: 's1', kid: keys.serverKeyId };
    const base = gw.adminUrl;
    let checked = 0;
    for (const route of ADMIN_ROUTES as readonly AdminRouteSpec[]) {
      if (route.public) continue;
      const path = concretePath(route, values);
      const body = sampleBody(route);
      const what = `${route.method} ${route.path}`;
      const anon = await call(base, route.method, path, { body });
      assert.equal(anon.status, 401, `${what} without a session: ${anon.text}`);
      assert.equal(anon.json?.error?.code, 'ADMIN_UNAUTHENTICATED', `${what} code`);
      const forged = await call(base, route.method, path, { body, cookie: `wxseal_admin=${randomBytes(32).toString('base64url')}`, csrf: admin.csrf });
      assert.equal(forged.status, 401, `${what} with an unknown session id`);
      if (route.method === 'GET') continue;
      const noCsrf = await call(base, route.method, path, { body, cookie: admin.cookie });
      assert.equal(noCsrf.status, 403, `${what} without x-csrf-token: ${noCsrf.text}`);
      assert.equal(noCsrf.json?.error?.code, 'ADMIN_CSRF', `${what} code without the token`);
      const wrong = await call(base, route.method, path, { body, cookie: admin.cookie, csrf: randomBytes(32).toString('base64url') });
      assert.equal(wrong.status, 403, `${what} with a wrong x-csrf-token`);
      const foreign = await call(base, route.method, path, { body, cookie: admin.cookie, csrf: admin.csrf, origin: 'http://evil.example' });
      assert.equal(foreign.status, 403, `${what} from a foreign Origin`);
      checked++;
    }
    assert.ok(checked >= 10, `every state-changing route was checked (${checked})`);
    for (const path of [`${ADMIN_API_PREFIX}/nope`, '/admin/', '/admin/api/v2/devices', `${ADMIN_API_PREFIX}/openapi.json`]) {
      const r = await call(base, 'GET', path);
      assert.equal(r.status, 401, `${path} without a session`);
    }
    assert.equal((await admin.get('/nope')).status, 404, 'unknown route with a session');
    // Nothing ran: the session is still there and no device was provisioned.
    assert.equal((await admin.get('/session')).status, 200, 'session survives the refusals');
    assert.equal(await gw.devices!.repository.show('SN-AUTHZ-1'), undefined, 'no device provisioned by a refused call');
    const refusals = (await auditEntries()).filter((e) => e.outcome === 'refused' && (e.detail as { code?: string })?.code === 'ADMIN_CSRF');
    assert.ok(refusals.length >= checked * 3, `CSRF / Origin refusals are audited (${refusals.length})`);
    assert.equal(refusals[0]!.actor, 'token', 'refusal audited with the session actor');
  });

  test('the login methods list both kinds when a token and users are configured, without a session', async () => {
    const r = await call(gw.adminUrl, 'GET', `${ADMIN_API_PREFIX}/session/methods`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { methods: ['token', 'password'] });
  });

  test('login with the token and with a scrypt user; wrong credentials; session; logout; headers', async () => {
    const r = await call(gw.adminUrl, 'POST', `${ADMIN_API_PREFIX}/session`, { body: { user: 'alice', password: PASSWORD } });
    assert.equal(r.status, 200, r.text);
    conforms('login', r.json);
    assert.equal(r.json.actor, 'alice');
    const cookie = String(([] as string[]).concat(r.headers['set-cookie'] ?? [])[0]);
    assert.match(cookie, /^wxseal_admin=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=3600$/, 'cookie attributes');
    for (const [name, value] of Object.entries({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' })) {
      assert.equal(r.headers[name], value, `${name} on the login answer`);
    }
    assert.ok(Date.parse(r.json.expiresAt) > Date.now() + 3500_000, 'expiresAt about one hour ahead');
    const alice = await login(gw.adminUrl, { user: 'alice', password: PASSWORD });
    const me = await alice.get('/session');
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.actor, 'alice');
    assert.equal(me.json.csrfToken, alice.csrf);
    assert.equal(me.headers['x-frame-options'], 'DENY', 'security headers on API answers');

    for (const body of [{ user: 'alice', password: 'wrong password' }, { user: 'mallory', password: PASSWORD }, { token: 'x'.repeat(43) }]) {
      const bad = await call(gw.adminUrl, 'POST', `${ADMIN_API_PREFIX}/session`, { body });
      assert.equal(bad.status, 401, `refused: ${JSON.stringify(Object.keys(body))}`);
      assert.equal(bad.json.error.code, 'ADMIN_BAD_CREDENTIALS');
      assert.equal(bad.headers['set-cookie'], undefined, 'no cookie on a refused login');
    }
    const malformed = await call(gw.adminUrl, 'POST', `${ADMIN_API_PREFIX}/session`, { rawBody: '{"user":' });
    assert.equal(malformed.status, 400, 'malformed JSON');
    const foreign = await call(gw.adminUrl, 'POST', `${ADMIN_API_PREFIX}/session`, { body: { token }, origin: 'http://evil.example' });
    assert.equal(foreign.status, 403, 'login from a foreign Origin');

    const out = await alice.del('/session');
    assert.equal(out.status, 204, out.text);
    assert.match(String(([] as string[]).concat(out.headers['set-cookie'] ?? [])[0]), /^wxseal_admin=; .*Max-Age=0/, 'cookie cleared');
    assert.equal((await alice.get('/session')).status, 401, 'session gone after logout');

    const entries = await auditEntries();
    const text = JSON.stringify(entries);
    assert.ok(!text.includes(PASSWORD) && !text.includes('wrong password') && !text.includes(token), 'no password or token in the audit log');
    assert.ok(entries.some((e) => e.action === 'session.login' && e.actor === 'mallory' && e.outcome === 'refused'), 'failed login audited');
    assert.ok(entries.some((e) => e.action === 'session.logout' && e.actor === 'alice' && e.outcome === 'ok'), 'logout audited');
    assert.ok(!controlPlaneBytes().includes(token), 'no token in the control-plane database (sessions are kept by hash)');
    assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700, 'stateDir is 0700');
    assert.ok(!logs.text().includes(PASSWORD) && !logs.text().includes(token), 'no password or token in the logs');
  });

  test('the console is served with the strict CSP (its files need no session)', async () => {
    const page = await call(gw.adminUrl, 'GET', '/console/');
    assert.equal(page.status, 200, page.text);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.equal(page.headers['content-security-policy'], CONSOLE_CSP);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.match(page.text, /wxseal console/);
    const asset = await call(gw.adminUrl, 'GET', '/console/assets/app.js');
    assert.equal(asset.status, 200);
    assert.match(String(asset.headers['content-type']), /^text\/javascript/);
    const deep = await call(gw.adminUrl, 'GET', '/console/devices/SN-1');
    assert.equal(deep.status, 200, 'client-side routes get the app');
    assert.match(deep.text, /wxseal console/);
    assert.equal((await call(gw.adminUrl, 'GET', '/console/assets/missing.js')).status, 404);
    assert.equal((await call(gw.adminUrl, 'GET', '/console/%2e%2e/admin-token.txt')).status, 404, 'no way out of the console directory');
    assert.equal((await call(gw.adminUrl, 'GET', '/console/../admin-token.txt')).status, 404, 'no way out of the console directory (raw)');
    assert.equal((await call(gw.adminUrl, 'GET', '/console')).status, 302);
    // The probes are unchanged.
    assert.equal((await call(gw.adminUrl, 'GET', '/healthz')).status, 200);
  });

  test('devices: provision, import, prefix search with keyset paging, rotate with grace, revoke takes effect at once', async () => {
    const created = await admin.post('/devices', { serial: 'SN-ADM-0001', productId, reason: 'bench unit' });
    assert.equal(created.status, 201, created.text);
    conforms('provisionDevice', created.json);
    assert.equal(created.json.device.status, 'active');
    assert.equal(created.json.key.keyId, 'SN-ADM-0001');
    assert.equal(created.json.key.version, 1);
    const key1 = String(created.json.key.secret);
    assert.equal((await admin.post('/devices', { serial: 'SN-ADM-0001', productId, reason: 'again' })).status, 409, 'already provisioned');
    assert.equal((await admin.post('/devices', { serial: 'SN-ADM-0002', productId: 'no-such-product', reason: 'x' })).status, 404, 'unknown product');
    const noReason = await admin.post('/devices', { serial: 'SN-ADM-0002', productId });
    assert.equal(noReason.status, 400, 'a reason is required');
    assert.match(noReason.json.error.message, /reason/, 'the message names the field');
    assert.equal((await admin.post('/devices', { serial: 'bad serial', productId, reason: 'x' })).status, 400, 'bad serial');

    const rows = Array.from({ length: 25 }, (_, i) => ({ serial: `SN-IMP-${String(i).padStart(4, '0')}` }));
    const imported = await admin.post('/devices/import', { productId, rows: [...rows, { serial: 'SN-ADM-0001' }], reason: 'factory batch 7' });
    assert.equal(imported.status, 200, imported.text);
    conforms('importDevices', imported.json);
    assert.deepEqual(imported.json, { imported: 25, skipped: 1, failed: [] });
    await gw.devices!.repository.activate('SN-OTHER-1', productId, { actor: 'test' });

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await admin.get(`/devices?q=SN-IMP-&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(page.status, 200, page.text);
      conforms('listDevices', page.json);
      seen.push(...page.json.devices.map((d: { serial: string }) => d.serial));
      cursor = page.json.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 10);
    assert.deepEqual(seen, rows.map((r) => r.serial), 'every imported serial, in order, once');
    assert.equal(pages, 3);
    const narrow = await admin.get('/devices?q=SN-IMP-001');
    assert.deepEqual(narrow.json.devices.map((d: { serial: string }) => d.serial), Array.from({ length: 10 }, (_, i) => `SN-IMP-001${i}`));
    assert.equal((await admin.get('/devices?limit=0')).status, 400, 'limit bounds');
    assert.equal((await admin.get('/devices?limit=201')).status, 400, 'limit bounds');
    assert.equal((await admin.get('/devices?status=gone')).status, 400, 'status enum');
    assert.equal((await admin.get('/devices?cursor=!!')).status, 400, 'bad cursor');
    assert.equal((await admin.get('/devices?bogus=1')).status, 400, 'unknown query field');

    // The device signs a request: lastSeenAt appears.
    const d1 = device('SN-ADM-0001', key1);
    assert.equal(await outcome(d1), 'ok');
    const shown = await admin.get('/devices/SN-ADM-0001');
    assert.equal(shown.status, 200, shown.text);
    conforms('getDevice', shown.json);
    assert.ok(shown.json.device.lastSeenAt, 'lastSeenAt after a verified request');
    assert.equal(shown.json.audit[0].action, 'device.activate');
    assert.equal(shown.json.audit[0].actor, 'admin:token');
    assert.equal(shown.json.audit[0].reason, 'bench unit');
    assert.equal((await admin.get('/devices/SN-NONE')).status, 404);

    // Rotation with grace: both keys work.
    const rotated = await admin.post('/devices/SN-ADM-0001/rotate', { graceSeconds: 600, reason: 'scheduled rotation' });
    assert.equal(rotated.status, 200, rotated.text);
    conforms('rotateDevice', rotated.json);
    assert.equal(rotated.json.key.version, 2);
    const d2 = device('SN-ADM-0001', String(rotated.json.key.secret));
    assert.equal(await outcome(d2), 'ok', 'new key');
    assert.equal(await outcome(d1), 'ok', 'old key inside the grace period');
    assert.equal((await admin.post('/devices/SN-ADM-0001/rotate', { graceSeconds: 604_801, reason: 'x' })).status, 400, 'grace bound');

    // Revocation: the very next request is refused by the public listener.
    const revoked = await admin.post('/devices/SN-ADM-0001/revoke', { reason: 'reported stolen' });
    assert.equal(revoked.status, 200, revoked.text);
    conforms('revokeDevice', revoked.json);
    assert.equal(revoked.json.device.status, 'revoked');
    assert.equal(revoked.json.device.revokeReason, 'reported stolen');
    assert.equal(await outcome(d2), 'WXSEAL_KEY_REVOKED', 'revoked at once');
    assert.equal(await outcome(d1), 'WXSEAL_KEY_REVOKED', 'the old key too');
    assert.equal((await admin.post('/devices/SN-ADM-0001/revoke', { reason: 'again' })).status, 409, 'already revoked');
    assert.equal((await admin.post('/devices/SN-ADM-0001/rotate', { reason: 'x' })).status, 409, 'rotate a revoked device');
    const revokedList = await admin.get('/devices?q=SN-ADM-&status=revoked');
    assert.deepEqual(revokedList.json.devices.map((d: { serial: string }) => d.serial), ['SN-ADM-0001']);
    assert.equal((await admin.get('/devices/SN-ADM-0001')).json.device.revokeReason, 'reported stolen');

    const audit = await auditEntries();
    const revoke = audit.find((e) => e.action === 'device.revoke' && e.outcome === 'ok');
    assert.ok(revoke, 'revocation audited');
    assert.equal(revoke.actor, 'token');
    assert.equal(revoke.reason, 'reported stolen');
    assert.equal(revoke.target, 'SN-ADM-0001');
    assert.equal(revoke.client, '127.0.0.1');
    assert.ok(audit.some((e) => e.action === 'device.revoke' && e.outcome === 'refused'), 'the refused second revocation is audited');
    assert.ok(audit.some((e) => e.action === 'device.import' && e.reason === 'factory batch 7'), 'import audited');
    const text = JSON.stringify(audit);
    assert.ok(!text.includes(key1) && !text.includes(String(rotated.json.key.secret)), 'no device key in the audit log');
  });

  test('client secrets: a new secret verifies at once, a retired one stops; both survive a reload', async () => {
    const listed = await admin.get('/credentials');
    assert.equal(listed.status, 200, listed.text);
    conforms('listCredentials', listed.json);
    assert.deepEqual(listed.json.credentials, [{ keyId: keys.keyId, secrets: [{ secretId: 's1', source: 'config', status: 'active' }] }]);
    assert.ok(!listed.text.includes(keys.secret), 'no secret value in the list');

    const added = await admin.post(`/credentials/${keys.keyId}/secrets`, { reason: 'Q3 rotation' });
    assert.equal(added.status, 201, added.text);
    conforms('addSecret', added.json);
    const fresh = { ...keys, secret: String(added.json.secret) };
    currentClientSecret = fresh.secret;
    assert.equal(await outcome(clientFor(fresh, gw.url)), 'ok', 'new secret accepted at once');
    assert.equal(await outcome(clientFor(keys, gw.url)), 'ok', 'old secret still accepted');

    assert.equal((await admin.post(`/credentials/${keys.keyId}/secrets/nope/retire`, { reason: 'x' })).status, 404);
    assert.equal((await admin.post('/credentials/unknown-key/secrets', { reason: 'x' })).status, 404);
    const retired = await admin.post(`/credentials/${keys.keyId}/secrets/s1/retire`, { reason: 'Q3 rotation done' });
    assert.equal(retired.status, 200, retired.text);
    assert.deepEqual(retired.json, { secretId: 's1', status: 'retired' });
    assert.equal(await outcome(clientFor(keys, gw.url)), 'WXSEAL_BAD_SIGNATURE', 'retired secret refused at once');
    assert.equal(await outcome(clientFor(fresh, gw.url)), 'ok');
    const last = await admin.post(`/credentials/${keys.keyId}/secrets/${added.json.secretId}/retire`, { reason: 'x' });
    assert.equal(last.status, 409, 'the last active secret cannot be retired');

    await gw.reload(); // what SIGHUP does
    assert.equal(await outcome(clientFor(keys, gw.url)), 'WXSEAL_BAD_SIGNATURE', 'still retired after a reload');
    assert.equal(await outcome(clientFor(fresh, gw.url)), 'ok', 'still accepted after a reload');
    const state = controlPlaneBytes();
    assert.ok(state.includes(String(added.json.secretId)), 'persisted');
    assert.ok(!state.includes(fresh.secret) && !state.includes(Buffer.from(fresh.secret, 'base64url').toString('latin1')), 'the secret is sealed at rest');
    const audit = JSON.stringify(await auditEntries());
    assert.ok(!audit.includes(fresh.secret), 'no secret value in the audit log');
    assert.ok(!logs.text().includes(fresh.secret), 'no secret value in the logs');
  });

  test('server keys: a rotated key is active and used, the old one still decrypts; both survive a restart; retirement', async () => {
    const before = await admin.get('/server-keys');
    conforms('listServerKeys', before.json);
    assert.deepEqual(before.json.keys.map((k: { kid: string; type: string; status: string }) => [k.kid, k.type, k.status]), [[keys.serverKeyId, 'rsa', 'active']]);
    const rotated = await admin.post('/server-keys/rotate', { reason: 'yearly rotation' });
    assert.equal(rotated.status, 201, rotated.text);
    conforms('rotateServerKey', rotated.json);
    const kid = String(rotated.json.kid);
    assert.match(kid, /^sk-[0-9a-f]{16}$/);
    const after = await admin.get('/server-keys');
    assert.deepEqual(after.json.keys.map((k: { kid: string; status: string; source: string }) => [k.kid, k.status, k.source]), [
      [keys.serverKeyId, 'decrypt-only', 'config'],
      [kid, 'active', 'admin'],
    ]);
    const next = { ...keys, serverKeyId: kid, publicKeyPem: String(rotated.json.publicKeyPem) };
    assert.equal(await outcome(clientFor(next, gw.url, { mode: 'sealed', secret: await currentSecret() })), 'ok', 'sealed to the new key');
    assert.equal(await outcome(clientFor(keys, gw.url, { mode: 'sealed', secret: await currentSecret() })), 'ok', 'sealed to the old key');

    // A restart (a new instance from the same config and stateDir) keeps both.
    const gw2 = await startGateway(configPath, { logger: captureLogger().logger });
    try {
      assert.equal(await outcome(clientFor(next, gw2.url, { mode: 'sealed', secret: await currentSecret() })), 'ok', 'new key after a restart');
      assert.equal(await outcome(clientFor(keys, gw2.url, { mode: 'sealed', secret: await currentSecret() })), 'ok', 'old key after a restart');
      const s2 = await login(gw2.adminUrl, { token });
      assert.equal((await s2.get('/server-keys')).json.keys[1].status, 'active', 'still the active key');
    } finally {
      await gw2.close();
    }

    assert.equal((await admin.post(`/server-keys/${kid}/retire`, { reason: 'x' })).status, 409, 'the active key cannot be retired');
    assert.equal((await admin.post('/server-keys/sk-0000000000000000/retire', { reason: 'x' })).status, 404);
    const retired = await admin.post(`/server-keys/${keys.serverKeyId}/retire`, { reason: 'old key retired' });
    assert.equal(retired.status, 200, retired.text);
    assert.equal(await outcome(clientFor(keys, gw.url, { mode: 'sealed', secret: await currentSecret() })), 'WXSEAL_UNKNOWN_SERVER_KEY', 'retired key stops at once');
    assert.equal(await outcome(clientFor(next, gw.url, { mode: 'sealed', secret: await currentSecret() })), 'ok');
    await gw.reload();
    assert.equal(await outcome(clientFor(keys, gw.url, { mode: 'sealed', secret: await currentSecret() })), 'WXSEAL_UNKNOWN_SERVER_KEY', 'still retired after a reload');
  });

  test('server keys across suites: rotate to X25519 (type x25519), RSA clients still served; bad types refused; the type is listed and audited', async () => {
    const before = (await admin.get('/server-keys')).json.keys as { kid: string; type: string; suite: string; status: string }[];
    const rsaActive = before.find((k) => k.status === 'active');
    assert.ok(rsaActive, 'an active key from the test before');
    assert.equal(rsaActive.type, 'rsa');
    assert.equal(rsaActive.suite, 'rsa-oaep-256');
    const rsaPem = String((before.find((k) => k.kid === rsaActive.kid) as unknown as { publicKeyPem: string }).publicKeyPem);

    assert.equal((await admin.post('/server-keys/rotate', { type: 'ed25519', reason: 'x' })).status, 400, 'an unknown type');
    assert.equal((await admin.post('/server-keys/rotate', { type: 'RSA', reason: 'x' })).status, 400, 'types are lower case');
    const rotated = await admin.post('/server-keys/rotate', { type: 'x25519', reason: 'move to X25519' });
    assert.equal(rotated.status, 201, rotated.text);
    conforms('rotateServerKey', rotated.json);
    assert.equal(rotated.json.type, 'x25519');
    assert.equal(rotated.json.suite, 'x25519-hpke');
    const kid = String(rotated.json.kid);
    assert.match(kid, /^sk-[0-9a-f]{16}$/);
    assert.match(String(rotated.json.publicKeyPem), /^-----BEGIN PUBLIC KEY-----\n/);

    const listed = await admin.get('/server-keys');
    conforms('listServerKeys', listed.json);
    const rows = (listed.json.keys as { kid: string; type: string; suite: string; status: string }[]).filter((k) => k.status !== 'retired');
    assert.deepEqual(rows.map((k) => [k.kid, k.type, k.suite, k.status]), [
      [rsaActive.kid, 'rsa', 'rsa-oaep-256', 'decrypt-only'],
      [kid, 'x25519', 'x25519-hpke', 'active'],
    ]);
    const x = { ...keys, serverKeyId: kid, publicKeyPem: String(rotated.json.publicKeyPem) };
    const rsa = { ...keys, serverKeyId: rsaActive.kid, publicKeyPem: rsaPem };
    assert.equal(await outcome(clientFor(x, gw.url, { mode: 'sealed', secret: await currentSecret() })), 'ok', 'sealed to the X25519 key');
    assert.equal(await outcome(clientFor(rsa, gw.url, { mode: 'sealed', secret: await currentSecret() })), 'ok', 'sealed to the RSA key, still decrypting');
    const entry = (await auditEntries()).find((e) => e.action === 'server-key.rotate' && e.target === kid);
    assert.deepEqual(entry?.detail, { type: 'x25519' });
    assert.equal(entry?.outcome, 'ok');
  });

  /** The client secret in force for keys.keyId (the earlier test replaced the config's). */
  async function currentSecret(): Promise<string> {
    return currentClientSecret ?? keys.secret;
  }

  test('certificates: statuses from the inventory; refresh is audited', async () => {
    const r = await admin.get('/certificates');
    assert.equal(r.status, 200, r.text);
    conforms('listCertificates', r.json);
    const status = Object.fromEntries(r.json.certificates.map((c: { serial: string; status: string }) => [c.serial, c.status]));
    assert.deepEqual(status, { 'MERCHANT-OK': 'ok', 'PLATFORM-WARN': 'warning', 'PLATFORM-CRIT': 'critical', 'MP-EXPIRED': 'expired', PUB_KEY_ID_0001: 'ok' });
    const crit = r.json.certificates.find((c: { serial: string }) => c.serial === 'PLATFORM-CRIT');
    assert.ok(crit.secondsToExpiry > 2 * 86_400 && crit.secondsToExpiry <= 3 * 86_400, 'secondsToExpiry');
    assert.equal((await admin.post('/certificates/refresh', {})).status, 400, 'reason required');
    const refresh = await admin.post('/certificates/refresh', { owner: { kind: 'wechatpay', mchid: '1900000001' }, reason: 'after a rotation notice' });
    assert.equal(refresh.status, 200, refresh.text);
    assert.deepEqual(refresh.json, { refreshed: 2 });
    assert.deepEqual(refreshed.at(-1), { kind: 'wechatpay', mchid: '1900000001' });
    assert.ok((await auditEntries()).some((e) => e.action === 'certificates.refresh' && e.target === 'wechatpay:1900000001' && e.reason === 'after a rotation notice'), 'refresh audited');
  });

  test('stats: accepted, rejected by code, replays, upstream errors, latency and the minute series move with traffic', async () => {
    const view = (await admin.get('/stats')).json;
    conforms('getStats', view);
    assert.equal(view.scope, 'fleet');
    assert.equal(view.instanceCount, 1, 'a single node is a fleet of one');
    const before = view.totals;
    assert.equal(before.series.length, 60);
    const secret = await currentSecret();
    const c = clientFor({ ...keys, secret }, gw.url, { mode: 'signed' });
    for (let i = 0; i < 3; i++) assert.equal(await outcome(c), 'ok');
    const built = buildRequest({ mode: 'signed', method: 'GET', target: '/api/replay', keyId: keys.keyId, secret: Buffer.from(secret, 'base64url') });
    assert.equal((await plainRequest(gw.url, '/api/replay', { headers: built.headers })).status, 200);
    assert.equal((await plainRequest(gw.url, '/api/replay', { headers: built.headers })).status, 401, 'replayed');
    assert.equal(await outcome(clientFor({ ...keys, secret: keys.secret }, gw.url, { mode: 'signed' })), 'WXSEAL_BAD_SIGNATURE');
    assert.equal(await outcome(c, '/down/x'), 'status 502', 'upstream down');
    const now = (await admin.get('/stats')).json.totals;
    assert.equal(now.accepted - before.accepted, 4, 'accepted');
    assert.equal((now.rejected.WXSEAL_REPLAYED_NONCE ?? 0) - (before.rejected.WXSEAL_REPLAYED_NONCE ?? 0), 1, 'replay rejected');
    assert.equal(now.replays - before.replays, 1, 'replays');
    assert.equal((now.rejected.WXSEAL_BAD_SIGNATURE ?? 0) - (before.rejected.WXSEAL_BAD_SIGNATURE ?? 0), 1, 'bad signature');
    assert.equal(now.upstreamErrors - before.upstreamErrors, 1, 'upstream errors');
    assert.ok(now.latencyMs.p50 > 0 && now.latencyMs.p99 >= now.latencyMs.p50, `latency percentiles ${JSON.stringify(now.latencyMs)}`);
    const last = now.series.at(-1);
    assert.ok(last.accepted >= 4 || now.series.at(-2).accepted + last.accepted >= 4, 'the current minute bucket counts');
    assert.ok(Date.parse(last.t) <= Date.now() && Date.now() - Date.parse(last.t) < 60_000, 'series ends at the current minute');
    assert.ok(Date.parse(now.since) >= now0 - 1000, 'since');
  });

  test('audit log: newest first, keyset paging, filters', async () => {
    const first = await admin.get('/audit?limit=3');
    assert.equal(first.status, 200, first.text);
    conforms('listAudit', first.json);
    assert.equal(first.json.entries.length, 3);
    const ids = first.json.entries.map((e: { id: number }) => e.id);
    assert.deepEqual(ids, [...ids].sort((a: number, b: number) => b - a), 'newest first');
    const second = await admin.get(`/audit?limit=3&cursor=${first.json.nextCursor}`);
    assert.ok(second.json.entries[0].id < ids[2], 'the next page is older');
    const logins = await admin.get('/audit?action=session.login&actor=alice&limit=200');
    assert.ok(logins.json.entries.length >= 2 && logins.json.entries.every((e: { action: string; actor: string }) => e.action === 'session.login' && e.actor === 'alice'), 'filtered');
    assert.equal((await admin.get('/audit?cursor=abc')).status, 400);
  });

  test('the OpenAPI document lists every route with its schemas', async () => {
    const r = await admin.get('/openapi.json');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.openapi, '3.1.0');
    assert.equal(r.json.servers[0].url, ADMIN_API_PREFIX);
    for (const route of ADMIN_ROUTES as readonly AdminRouteSpec[]) {
      const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}');
      const op = r.json.paths[path]?.[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${path} is in the document`);
      assert.equal(op.operationId, route.id);
      assert.ok(op.responses[String(route.status)], `${route.id} documents its ${route.status}`);
      if (route.body) assert.ok(op.requestBody?.content?.['application/json']?.schema, `${route.id} documents its body`);
    }
    const count = Object.values(r.json.paths as Record<string, object>).reduce((n, ops) => n + Object.keys(ops).length, 0);
    assert.equal(count, ADMIN_ROUTES.length, 'nothing else');
    const provision = r.json.paths['/devices'].post.requestBody.content['application/json'].schema;
    assert.deepEqual([...provision.required].sort(), ['productId', 'reason', 'serial']);
    assert.ok(r.json.paths['/devices'].get.parameters.some((p: { name: string; in: string }) => p.name === 'q' && p.in === 'query'), 'query parameters');
  });

  test('bad input never crashes: oversized, malformed and odd requests', async () => {
    const big = await call(gw.adminUrl, 'POST', `${ADMIN_API_PREFIX}/devices`, { cookie: admin.cookie, csrf: admin.csrf, rawBody: JSON.stringify({ reason: 'x'.repeat(70_000) }) });
    assert.equal(big.status, 413, 'body over 64 KiB');
    const notJson = await call(gw.adminUrl, 'POST', `${ADMIN_API_PREFIX}/devices`, { cookie: admin.cookie, csrf: admin.csrf, rawBody: 'serial=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(notJson.status, 400, 'not JSON');
    const arr = await admin.post('/devices', [1, 2, 3]);
    assert.equal(arr.status, 400, 'array body');
    const badPct = await admin.get('/devices/%E0%A4%A');
    assert.ok(badPct.status === 404 || badPct.status === 400, `bad percent-encoding: ${badPct.status}`);
    assert.equal((await admin.get('/session')).status, 200, 'still serving');
  });
});
