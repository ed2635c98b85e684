// Issue 14: the console's server-key view in a real browser (playwright-core driving Debian's
// Chromium) against a real gateway: each key shows its type, the rotation dialog offers RSA, X25519
// or SM2 (in zh-CN and en), and an X25519 then an SM2 key rotated in from the console is the one a
// sealed client then encrypts to, while the earlier keys still decrypt.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createClient, isWxsealError, type WxsealClient } from '@wxseal/client';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, makeKeys, startUpstream, tempDir, writeYaml, type TestKeys, type Upstream } from '../support/gateway.js';
import { login } from '../support/gateway-admin.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

describe('console: server keys of every type', () => {
  const rsa = makeKeys('bff-console-types');
  const token = randomBytes(32).toString('base64url');
  let upstream: Upstream;
  let gw: RunningGateway;
  let browser: Browser;
  let page: Page;
  const clients: WxsealClient[] = [];
  const outcome = async (keys: TestKeys): Promise<string> => {
    const c = createClient({ baseUrl: gw.url, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, mode: 'sealed', retry: { maxAttempts: 1 }, timeoutMs: 5000 });
    clients.push(c);
    try {
      const res = await c.post('/api/console', { json: { ok: true } });
      return res.status === 200 ? 'ok' : `status ${res.status}`;
    } catch (err) {
      if (isWxsealError(err)) return err.code;
      throw err;
    }
  };

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run npm run services (installs Debian's chromium)`);
    assert.ok(existsSync(join(root, 'packages/console/dist/index.html')), 'the console is not built: npm run build -w @wxseal/console (npm ci does it)');
    const dir = tempDir();
    upstream = await startUpstream();
    writeFileSync(join(dir, 'admin-token.txt'), `${token}\n`, { mode: 0o600 });
    const input = baseConfig(rsa, upstream.url, { admin: { auth: { tokenFile: 'admin-token.txt' }, stateDir: 'state', sessionTtl: '1h' } });
    gw = await startGateway(writeYaml(dir, 'gateway.yaml', input), { logger: captureLogger().logger });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 }, locale: 'zh-CN' });
  });

  after(async () => {
    await browser?.close();
    for (const c of clients) await c.close?.();
    await gw?.close();
    await upstream?.close();
  });

  test('the key type is listed; rotating with X25519, then SM2 chosen makes that key active, which sealed clients use', async () => {
    await page.goto(`${gw.adminUrl}/console/`);
    await page.getByTestId('login-form').waitFor();
    // A token-only gateway: the token form, whose mode switch goes once GET /session/methods has
    // answered (clicking it meanwhile races its removal).
    await page.getByTestId('login-token').waitFor();
    await page.getByTestId('login-mode-token').waitFor({ state: 'detached' });
    await page.getByTestId('login-token').fill(token);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('session-actor').waitFor();
    await page.getByTestId('nav-credentials').click();

    const rsaRow = page.locator(`[data-testid="server-key-row"][data-kid="${rsa.serverKeyId}"]`);
    await rsaRow.waitFor();
    assert.equal(await rsaRow.getAttribute('data-type'), 'rsa');
    assert.equal((await rsaRow.getByTestId('server-key-type').innerText()).trim(), 'RSA');

    // The dialog offers both types, RSA first (the default), with zh-CN labels.
    await page.getByTestId('server-key-rotate').click();
    const select = page.getByTestId('key-type-select');
    await select.waitFor();
    assert.equal(await select.inputValue(), 'rsa');
    const labels = await select.locator('option').allInnerTexts();
    assert.deepEqual(labels.map((l) => l.trim()), ['RSA-2048（RSA-OAEP）', 'X25519（HPKE）', 'SM2（国密套件：SM2、SM4-GCM、SM3）']);
    assert.match(await page.getByTestId('confirm-dialog').innerText(), /密钥类型/);
    await select.selectOption('x25519');
    await page.getByTestId('reason-input').fill('move to X25519, ticket OPS-14');
    await page.getByTestId('confirm-button').click();
    const kid = (await page.getByTestId('key-kid').innerText()).trim();
    assert.match(kid, /sk-[0-9a-f]{16}/);
    assert.match(await page.getByTestId('key-type').innerText(), /X25519/);
    const publicKeyPem = (await page.getByTestId('key-public-pem').innerText()).trim() + '\n';
    await page.keyboard.press('Escape');

    const xRow = page.locator(`[data-testid="server-key-row"][data-kid="${kid}"]`);
    await xRow.waitFor();
    assert.equal(await xRow.getAttribute('data-type'), 'x25519');
    assert.equal(await xRow.getAttribute('data-status'), 'active');
    assert.equal(await xRow.getByTestId('server-key-type').getAttribute('title'), 'x25519-hpke');
    assert.equal(await rsaRow.getAttribute('data-status'), 'decrypt-only');

    const x = { ...rsa, serverKeyId: kid, publicKeyPem };
    assert.equal(await outcome(x), 'ok', 'sealed to the X25519 key rotated in from the console');
    assert.equal(await outcome(rsa), 'ok', 'the RSA key still decrypts');
    const listed = await (await login(gw.adminUrl, { token })).get('/server-keys');
    assert.equal(listed.json.keys.find((k: { kid: string }) => k.kid === kid)?.publicKeyPem, publicKeyPem, 'the dialog showed the key\'s public key');

    // English labels on switch.
    await page.getByTestId('lang-switch').selectOption('en');
    await page.waitForFunction(() => /Type/.test(document.querySelector('[data-testid="server-key-row"]')?.closest('table')?.querySelector('thead')?.textContent ?? ''));
    // An SM2 key (the SM suite) rotated in from the English dialog becomes the active key.
    await page.getByTestId('server-key-rotate').click();
    const enSelect = page.getByTestId('key-type-select');
    assert.deepEqual((await enSelect.locator('option').allInnerTexts()).map((l) => l.trim()), ['RSA-2048 (RSA-OAEP)', 'X25519 (HPKE)', 'SM2 (SM suite: SM2, SM4-GCM, SM3)']);
    await enSelect.selectOption('sm2');
    await page.getByTestId('reason-input').fill('move to the SM suite, ticket SEC-17');
    await page.getByTestId('confirm-button').click();
    const smKid = (await page.getByTestId('key-kid').innerText()).trim();
    assert.notEqual(smKid, kid);
    assert.match(await page.getByTestId('key-type').innerText(), /SM2/);
    const smPublicKeyPem = (await page.getByTestId('key-public-pem').innerText()).trim() + '\n';
    await page.keyboard.press('Escape');
    const smRow = page.locator(`[data-testid="server-key-row"][data-kid="${smKid}"]`);
    await smRow.waitFor();
    assert.equal(await smRow.getAttribute('data-type'), 'sm2');
    assert.equal(await smRow.getAttribute('data-status'), 'active');
    assert.equal(await smRow.getByTestId('server-key-type').getAttribute('title'), 'sm2-sm4-gcm');
    assert.equal(await xRow.getAttribute('data-status'), 'decrypt-only');
    assert.equal(await outcome({ ...rsa, serverKeyId: smKid, publicKeyPem: smPublicKeyPem }), 'ok', 'sealed to the SM2 key rotated in from the console');
    assert.equal(await outcome(x), 'ok', 'the X25519 key still decrypts');
  });
});
