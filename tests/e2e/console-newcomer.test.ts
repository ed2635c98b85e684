// The console as `npm start` sets it up — a token login only, no devices section — in Chromium
// (playwright-core, Debian's /usr/bin/chromium): the login page opens on the token form when told
// so by the printed URL and, once a token login has worked, on later visits; the Devices page of
// a gateway without devices says so in the console's language (zh-CN by default, English on the
// switch) and offers no action that could only fail.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { ensureDevKeys, writeDevConfig, type DevSetup } from '../../examples/demo/dev-setup.js';
import { startDemoUpstream, type DemoUpstream } from '../../examples/demo/upstream.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

describe('console with a token-only login and no devices section (the npm start setup)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wxseal-console-newcomer-'));
  let upstream: DemoUpstream;
  let gateway: RunningGateway;
  let setup: DevSetup;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run npm run services (installs Debian's chromium)`);
    assert.ok(existsSync(join(root, 'packages/console/dist/index.html')), 'the console is not built: npm run build -w @wxseal/console (npm ci does it)');
    const keys = ensureDevKeys(join(dir, 'dev'));
    upstream = await startDemoUpstream();
    setup = writeDevConfig({ dir: keys.dir, serverKeyId: keys.serverKeyId, upstreamUrl: upstream.url, port: 0, adminPort: 0 });
    gateway = await startGateway(setup.gatewayConfigPath);
    // Chromium's crashpad handler detaches from the browser (double fork), so the test runner's
    // watchdog would see a process of this run without its parent and kill it as left behind.
    // Without the run marker the browser's processes are not the watchdog's; the browser still
    // ends with this process (playwright's pipe closes), and its crashpad handler with it.
    const { WXSEAL_TEST_RUN: _marker, ...browserEnv } = process.env;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'], env: browserEnv });
    context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'zh-CN' });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // A token-only gateway: the token form, and no switch to a password form that cannot succeed
  // (the switch goes once GET /session/methods has answered).
  const tokenFormShown = async (p: Page = page): Promise<void> => {
    await p.getByTestId('login-form').waitFor();
    await p.getByTestId('login-token').waitFor();
    await p.getByTestId('login-mode-token').waitFor({ state: 'detached' });
    assert.equal(await p.getByTestId('login-user').count(), 0, 'the password form is not shown');
  };

  test('a browser that never logged in, on the bare URL, gets the token form of a token-only gateway', async () => {
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'zh-CN' });
    try {
      const p = await fresh.newPage();
      await p.goto(`${gateway.adminUrl}/console/`);
      await tokenFormShown(p);
    } finally {
      await fresh.close();
    }
  });

  test('the URL npm start prints opens the token form; after a token login, so does the bare URL', async () => {
    await page.goto(`${gateway.adminUrl}/console/?login=token`);
    await tokenFormShown();
    await page.getByTestId('login-token').fill(setup.adminToken);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('session-actor').waitFor();
    await page.getByTestId('logout-button').click();
    // A later visit without the hint, in the same browser.
    await page.goto(`${gateway.adminUrl}/console/`);
    await tokenFormShown();
    await page.getByTestId('login-token').fill(setup.adminToken);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('session-actor').waitFor();
  });

  test('Devices without a devices section: one localized message, every action disabled', async () => {
    await page.getByTestId('nav-devices').click();
    const notice = page.getByTestId('devices-not-configured');
    await notice.waitFor();
    const zhText = await notice.innerText();
    assert.match(zhText, /未启用设备管理/);
    assert.doesNotMatch(zhText, /this gateway has no devices section|not configured/i, 'no English server message in the zh-CN page');
    assert.equal(await page.getByTestId('error').count(), 0, 'no raw error box');
    for (const id of ['device-provision', 'device-import', 'device-search', 'device-product-filter', 'device-status-filter']) {
      assert.equal(await page.getByTestId(id).isDisabled(), true, `${id} is enabled`);
    }
    assert.equal(await page.getByTestId('device-row').count(), 0);

    await page.getByTestId('lang-switch').selectOption('en');
    await page.waitForFunction((before) => document.querySelector('[data-testid="devices-not-configured"]')?.textContent !== before, zhText);
    const enText = await notice.innerText();
    assert.match(enText, /not enabled on this gateway/);
    assert.doesNotMatch(enText, /[\u4e00-\u9fff]/, 'no Chinese in the English page');
  });
});
