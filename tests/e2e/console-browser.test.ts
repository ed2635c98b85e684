// The admin console in a real browser (playwright-core driving Debian's Chromium) against a real
// gateway: log in, find a device, revoke it with a reason, see its next signed request rejected,
// see the action in the audit log, see a certificate close to expiry highlighted; a request
// without a session or without the CSRF token is refused. Screenshots of each page go to
// test-results/console/. Rejection codes and refusals come with their explanation, in the page's
// language.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { MasterKeyRing } from '@wxseal/devices';
import { createClient, isWxsealError, type WxsealClient } from '@wxseal/client';
import { WIRE_ERRORS } from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { ADMIN_API_PREFIX, hashPassword, startGateway, type CertificateInfo, type CertificateInventory, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, makeKeys, startUpstream, tempDir, writeYaml, type Upstream } from '../support/gateway.js';
import { REDIS_URL, call, login, requireRedis } from '../support/gateway-admin.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(root, 'test-results', 'console');
const PASSWORD = 'correct horse battery staple';
const DAY = 86_400_000;

describe('admin console in Chromium', () => {
  const keys = makeKeys('bff-console');
  const token = randomBytes(32).toString('base64url');
  const productId = 'lamp-console';
  let dir: string;
  let upstream: Upstream;
  let gw: RunningGateway;
  let browser: Browser;
  let page: Page;
  const cspViolations: string[] = [];
  const clients: WxsealClient[] = [];
  const inventory: CertificateInventory = {
    async list(): Promise<CertificateInfo[]> {
      const owner = { kind: 'wechatpay' as const, mchid: '1900000001' };
      return [
        { owner, kind: 'merchant', serial: '5F0A1C2B3D4E5F60', source: 'file', notAfter: new Date(Date.now() + 200 * DAY) },
        { owner, kind: 'platform', serial: '7A1B2C3D4E5F6071', source: 'download', notAfter: new Date(Date.now() + 20 * DAY) },
        { owner, kind: 'platform', serial: '3C4D5E6F708192A3', source: 'download', notAfter: new Date(Date.now() + 3 * DAY) },
        { owner: { kind: 'mp', appid: 'wxba6223c06417af7b' }, kind: 'platform', serial: '94b0a1d0e7f6c5', source: 'file', notAfter: new Date(Date.now() + 90 * DAY) },
        // The gateway's own TLS certificates sit beside the WeChat ones (issue 15).
        { owner: { kind: 'tls', name: 'public' }, kind: 'edge', serial: '0E1D2C3B4A596877', subject: 'CN=api.example.com', source: 'tls/edge.crt', notAfter: new Date(Date.now() + 25 * DAY) },
        { owner: { kind: 'tls', name: 'public' }, kind: 'client-ca', serial: '1F2E3D4C5B6A7988', subject: 'CN=Partners CA', source: 'tls/clients-ca.pem', notAfter: new Date(Date.now() + 900 * DAY) },
      ];
    },
    async refresh() {
      return 1;
    },
  };
  const deviceSecrets = new Map<string, string>();

  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };

  before(async () => {
    await requireRedis();
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run npm run services (installs Debian's chromium)`);
    assert.ok(existsSync(join(root, 'packages/console/dist/index.html')), 'the console is not built: npm run build -w @wxseal/console (npm ci does it)');
    mkdirSync(SHOTS, { recursive: true });
    dir = tempDir();
    upstream = await startUpstream();
    writeFileSync(join(dir, 'admin-token.txt'), `${token}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'master-keys.txt'), `m1:${MasterKeyRing.generateKey()}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'cache-key.txt'), `${b64uEncode(randomBytes(32))}\n`, { mode: 0o600 });
    const input = baseConfig(keys, upstream.url, {
      routes: [{ prefix: '/api', upstream: upstream.url, mode: 'sealed-or-signed' }],
      devices: {
        database: { url: `sqlite:${join(dir, 'devices.db')}` },
        masterKeys: { file: 'master-keys.txt' },
        redis: { url: REDIS_URL, prefix: `wxseal-test:console:${randomUUID()}:`, cacheKeyFile: 'cache-key.txt' },
      },
      admin: {
        auth: { tokenFile: 'admin-token.txt', users: [{ name: 'alice', passwordHash: await hashPassword(PASSWORD) }] },
        stateDir: 'state',
        sessionTtl: '1h',
      },
    });
    gw = await startGateway(writeYaml(dir, 'gateway.yaml', input), { logger: captureLogger().logger, certificateInventory: inventory });

    // 120 devices through the API (the same service layer as the CLI), one of which the test hunts.
    const admin = await login(gw.adminUrl, { token });
    await gw.devices!.repository.createProduct(productId, { actor: 'test' });
    const imported = await admin.post('/devices/import', { productId, rows: Array.from({ length: 119 }, (_, i) => ({ serial: `SN-FLEET-${String(i).padStart(4, '0')}` })), reason: 'fleet' });
    assert.equal(imported.status, 200, imported.text);
    const target = await admin.post('/devices', { serial: 'SN-TARGET-0042', productId, reason: 'the device the test revokes' });
    assert.equal(target.status, 201, target.text);
    deviceSecrets.set('SN-TARGET-0042', String(target.json.key.secret));

    // Some traffic for the overview: accepted calls, and forged ones rejected by reason code.
    for (let i = 0; i < 3; i++) assert.equal(await deviceCall('SN-TARGET-0042'), 'ok');
    deviceSecrets.set('SN-FLEET-0001', b64uEncode(randomBytes(32)));
    for (let i = 0; i < 4; i++) assert.equal(await deviceCall('SN-FLEET-0001'), 'WXSEAL_BAD_SIGNATURE', 'a forged device key is refused');
    deviceSecrets.set('SN-NOBODY-9', b64uEncode(randomBytes(32)));
    for (let i = 0; i < 2; i++) assert.notEqual(await deviceCall('SN-NOBODY-9'), 'ok', 'an unknown device is refused');

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 }, locale: 'zh-CN' });
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
    });
  });

  after(async () => {
    await browser?.close();
    for (const c of clients) await c.close?.();
    await gw?.close();
    await upstream?.close();
  });

  const deviceCall = async (serial: string): Promise<string> => {
    const c = createClient({ baseUrl: gw.url, keyId: serial, secret: deviceSecrets.get(serial)!, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, mode: 'signed', retry: { maxAttempts: 1 }, timeoutMs: 5000 });
    clients.push(c);
    try {
      const res = await c.get('/api/ping');
      return res.status === 200 ? 'ok' : `status ${res.status}`;
    } catch (err) {
      if (isWxsealError(err)) return err.code;
      throw err;
    }
  };

  test('without a session nothing is reachable; without the CSRF token nothing changes', async () => {
    const anon = await call(gw.adminUrl, 'GET', `${ADMIN_API_PREFIX}/devices`);
    assert.equal(anon.status, 401, anon.text);
    const admin = await login(gw.adminUrl, { token });
    const noCsrf = await call(gw.adminUrl, 'POST', `${ADMIN_API_PREFIX}/devices/SN-TARGET-0042/revoke`, { cookie: admin.cookie, body: { reason: 'no csrf' } });
    assert.equal(noCsrf.status, 403, noCsrf.text);
    assert.equal(noCsrf.json.error.code, 'ADMIN_CSRF');
    assert.equal(await deviceCall('SN-TARGET-0042'), 'ok', 'the device still works');
  });

  test('log in, find a device, revoke it with a reason; its next signed request is rejected; the audit log shows it', async () => {
    await page.goto(`${gw.adminUrl}/console/`);
    await page.getByTestId('login-form').waitFor();
    await shot('01-login');
    // A wrong password is refused in the page.
    if (await page.getByTestId('login-mode-password').isVisible()) await page.getByTestId('login-mode-password').click();
    await page.getByTestId('login-user').fill('alice');
    await page.getByTestId('login-password').fill('wrong password');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').waitFor();
    const hint = await page.getByTestId('login-error-explanation').innerText();
    assert.match(hint, /[\u4e00-\u9fff]/, `the refusal says what to do, in zh-CN: ${hint}`);
    await page.getByTestId('login-password').fill(PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('session-actor').waitFor();
    assert.match(await page.getByTestId('session-actor').innerText(), /alice/);
    await page.getByTestId('nav-overview').click();
    const forged = page.locator('[data-testid="rejection-row"][data-code="WXSEAL_BAD_SIGNATURE"]');
    await forged.waitFor();
    const why = await forged.getByTestId('rejection-explanation').innerText();
    assert.match(why, /HMAC/, why);
    assert.match(why, /[\u4e00-\u9fff]/, `the rejection code is explained in zh-CN: ${why}`);
    await page.waitForTimeout(500);
    await shot('02-overview');

    await page.getByTestId('nav-devices').click();
    await page.getByTestId('device-search').fill('SN-TARGET');
    const row = page.locator('[data-testid="device-row"][data-serial="SN-TARGET-0042"]');
    await row.waitFor();
    assert.equal(await page.getByTestId('device-row').count(), 1, 'the prefix search narrows the table to one device');
    await shot('03-devices-search');
    await row.getByTestId('device-revoke').click();
    await page.getByTestId('reason-input').fill('lost in transit, ticket OPS-4711');
    await shot('04-revoke-confirm');
    await page.getByTestId('confirm-button').click();
    await row.getByTestId('status-badge').filter({ hasText: /revoked|已吊销|已撤销/ }).waitFor();

    assert.equal(await deviceCall('SN-TARGET-0042'), 'WXSEAL_KEY_REVOKED', 'the gateway rejects the revoked device at once');

    await page.getByTestId('nav-audit').click();
    const auditRow = page.getByTestId('audit-row').filter({ hasText: 'device.revoke' }).first();
    await auditRow.waitFor();
    const text = await auditRow.innerText();
    assert.match(text, /alice/, text);
    assert.match(text, /OPS-4711/, text);
    assert.match(text, /SN-TARGET-0042/, text);
    await shot('05-audit');
  });

  test('certificates: expiry countdowns, highlighted under 30 and 7 days', async () => {
    await page.getByTestId('nav-certificates').click();
    await page.getByTestId('cert-row').first().waitFor();
    const status = async (serial: string) => page.locator('[data-testid="cert-row"]', { hasText: serial }).getAttribute('data-status');
    assert.equal(await status('3C4D5E6F708192A3'), 'critical');
    assert.equal(await status('7A1B2C3D4E5F6071'), 'warning');
    assert.equal(await status('5F0A1C2B3D4E5F60'), 'ok');
    assert.equal(await status('0E1D2C3B4A596877'), 'warning');
    assert.equal(await status('1F2E3D4C5B6A7988'), 'ok');
    const edgeRow = await page.locator('[data-testid="cert-row"]', { hasText: '0E1D2C3B4A596877' }).innerText();
    assert.match(edgeRow, /Gateway TLS: public|网关 TLS/, edgeRow);
    assert.match(edgeRow, /CN=api\.example\.com/, edgeRow);
    const countdown = await page.locator('[data-testid="cert-row"]', { hasText: '3C4D5E6F708192A3' }).getByTestId('cert-countdown').innerText();
    assert.match(countdown, /\d/, countdown);
    await shot('06-certificates');
  });

  test('credentials and keys page; English labels on switch', async () => {
    await page.getByTestId('nav-credentials').click();
    await page.getByTestId('credential').first().waitFor();
    await page.getByTestId('server-key-row').first().waitFor();
    await shot('07-credentials-keys');
    const zhNav = await page.getByTestId('nav-devices').innerText();
    await page.getByTestId('lang-switch').selectOption('en');
    await page.waitForFunction((before) => document.querySelector('[data-testid="nav-devices"]')?.textContent !== before, zhNav);
    const enNav = await page.getByTestId('nav-devices').innerText();
    assert.match(enNav, /Devices/i, enNav);
    assert.match(zhNav, /[\u4e00-\u9fff]/, `zh-CN is the default: ${zhNav}`);
    await shot('08-credentials-keys-en');
    await page.getByTestId('nav-overview').click();
    const forged = page.locator('[data-testid="rejection-row"][data-code="WXSEAL_BAD_SIGNATURE"]').getByTestId('rejection-explanation');
    await forged.waitFor();
    const why = await forged.innerText();
    assert.ok(why.includes(WIRE_ERRORS.WXSEAL_BAD_SIGNATURE.meaning), `the English explanation is the catalogue's: ${why}`);
    assert.doesNotMatch(why, /[\u4e00-\u9fff]/, why);
  });

  test('no Content-Security-Policy violation on any page', () => {
    assert.deepEqual(cspViolations, []);
  });
});
