// The console's overview of a fleet, in a real browser (playwright-core driving Debian's Chromium):
// three in-process gateways share one control-plane database (a SQLite file: one host is enough
// here; the fleet tests run PostgreSQL and MariaDB), each writes its stats with its heartbeat, and
// each gets a different amount of traffic. The overview served by instance 1 shows the fleet's
// totals (the sum), the three instances, and one instance's own numbers when it is selected.
// Screenshots go to test-results/console/.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { isWxsealError } from '@wxseal/client';
import { MasterKeyRing } from '@wxseal/devices';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, clientFor, makeKeys, newSecret, startUpstream, tempDir, writeYaml, type TestKeys, type Upstream } from '../support/gateway.js';
import { login, type AdminSession } from '../support/gateway-admin.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(root, 'test-results', 'console');
/** Accepted requests sent to instance 1, 2, 3: different, so a sum and each part are told apart. */
const ACCEPTED = [3, 5, 7] as const;
/** Forged requests (wrong secret) sent to instance 3 only. */
const FORGED = 2;

describe('console overview of a fleet of three gateways', () => {
  const keys = makeKeys('bff-console-fleet');
  const token = randomBytes(32).toString('base64url');
  const gateways: RunningGateway[] = [];
  let dir: string;
  let upstream: Upstream | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let admin: AdminSession;

  const outcome = async (k: TestKeys, url: string): Promise<string> => {
    const c = clientFor(k, url, { mode: 'signed' });
    try {
      const res = await c.get('/api/ping');
      return res.status === 200 ? 'ok' : `status ${res.status}`;
    } catch (err) {
      if (isWxsealError(err)) return err.code;
      throw err;
    } finally {
      await c.close?.();
    }
  };

  /** Polls the admin API of instance 1 until `check` holds on its stats answer (heartbeats are asynchronous). */
  const statsWhen = async (query: string, check: (body: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + 15_000; // a guard against a hang, not a performance bound
    let last: unknown;
    for (;;) {
      const r = await admin.get(`/stats${query}`);
      last = r.json;
      if (r.status === 200 && check(r.json as Record<string, unknown>)) return r.json as Record<string, unknown>;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last answer: ${JSON.stringify(last).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run npm run services (installs Debian's chromium)`);
    assert.ok(existsSync(join(root, 'packages/console/dist/index.html')), 'the console is not built: npm run build -w @wxseal/console (npm ci does it)');
    mkdirSync(SHOTS, { recursive: true });
    dir = tempDir();
    upstream = await startUpstream();
    writeFileSync(join(dir, 'admin-token.txt'), `${token}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'master-keys.txt'), `m1:${MasterKeyRing.generateKey()}\n`, { mode: 0o600 });
    const database = `sqlite:${join(dir, 'control-plane.db')}`;
    for (let n = 1; n <= 3; n++) {
      const input = baseConfig(keys, upstream.url, {
        controlPlane: {
          database: { url: database },
          masterKeys: { file: 'master-keys.txt' },
          heartbeatIntervalMs: 200,
          instanceId: `gw-${n}`,
        },
        admin: { auth: { tokenFile: 'admin-token.txt' }, stateDir: `state-${n}`, sessionTtl: '1h' },
      });
      // One at a time: they migrate the same database file.
      gateways.push(await startGateway(writeYaml(dir, `gateway-${n}.yaml`, input), { logger: captureLogger().logger }));
    }
    for (const [i, gw] of gateways.entries()) {
      for (let k = 0; k < ACCEPTED[i]!; k++) assert.equal(await outcome(keys, gw.url), 'ok', `instance ${i + 1} accepts`);
    }
    for (let k = 0; k < FORGED; k++) assert.equal(await outcome({ ...keys, secret: newSecret() }, gateways[2]!.url), 'WXSEAL_BAD_SIGNATURE');
    admin = await login(gateways[0]!.adminUrl, { token });

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, locale: 'zh-CN' });
  });

  after(async () => {
    await browser?.close();
    for (const gw of gateways) await gw.close();
    await upstream?.close();
  });

  const sumAccepted = ACCEPTED.reduce((a, b) => a + b, 0);

  test('the admin API adds up every instance, and shows one on demand', async () => {
    const fleet = await statsWhen('', (b) => (b.totals as { accepted: number }).accepted === sumAccepted && b.instanceCount === 3, `fleet totals of ${sumAccepted} accepted over 3 instances`);
    assert.equal(fleet.scope, 'fleet');
    const totals = fleet.totals as { rejected: Record<string, number>; series: { accepted: number }[]; latencyMs: { p50: number; p99: number } };
    assert.deepEqual(totals.rejected, { WXSEAL_BAD_SIGNATURE: FORGED });
    assert.equal(totals.series.reduce((n, b) => n + b.accepted, 0), sumAccepted, 'the per-minute series add up too');
    assert.ok(totals.latencyMs.p50 > 0 && totals.latencyMs.p99 >= totals.latencyMs.p50, JSON.stringify(totals.latencyMs));
    const instances = fleet.instances as { instanceId: string; self: boolean; live: boolean; accepted: number }[];
    assert.deepEqual(
      instances.map((i) => [i.instanceId, i.self, i.live, i.accepted]),
      [
        ['gw-1', true, true, ACCEPTED[0]],
        ['gw-2', false, true, ACCEPTED[1]],
        ['gw-3', false, true, ACCEPTED[2]],
      ],
    );
    assert.deepEqual(fleet.fleet, { available: true });

    const two = await admin.get('/stats?instance=gw-2');
    assert.equal(two.status, 200, two.text);
    assert.equal(two.json.scope, 'instance');
    assert.equal(two.json.totals.accepted, ACCEPTED[1]);
    const unknown = await admin.get('/stats?instance=gw-9');
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.json.error.code, 'ADMIN_NOT_FOUND');
    const bad = await admin.get('/stats?instance=no%20spaces');
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.error.code, 'ADMIN_BAD_REQUEST');
    // Every instance answers for the whole fleet, not only the one the console happens to be on.
    const viaThree = await (await login(gateways[2]!.adminUrl, { token })).get('/stats');
    assert.equal(viaThree.json.totals.accepted, sumAccepted);
  });

  test('the overview shows the fleet totals and three instances; selecting one shows its own count', async () => {
    await page.goto(`${gateways[0]!.adminUrl}/console/`);
    // Only the admin token is configured: the page opens on the token field (no mode switch).
    await page.getByTestId('login-token').fill(token);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('session-actor').waitFor();
    await page.getByTestId('nav-overview').click();

    const text = (id: string) => page.getByTestId(id).innerText();
    await page.waitForFunction((n) => document.querySelector('[data-testid="stat-accepted"]')?.textContent === n, String(sumAccepted));
    assert.equal(await text('stat-instances'), '3');
    assert.equal(await text('stat-rejected'), String(FORGED));
    assert.equal(await page.getByTestId('overview-scope').getAttribute('data-scope'), 'fleet');
    assert.match(await text('overview-scope'), /3/);
    const rows = page.getByTestId('instance-row');
    assert.equal(await rows.count(), 3);
    for (const [i, id] of ['gw-1', 'gw-2', 'gw-3'].entries()) {
      const row = page.locator(`[data-testid="instance-row"][data-instance="${id}"]`);
      assert.equal(await row.getAttribute('data-live'), 'true', `${id} is live`);
      assert.equal(await row.getByTestId('instance-accepted').innerText(), String(ACCEPTED[i]));
      assert.match(await row.getByTestId('instance-heartbeat').innerText(), /\d/);
      assert.match(await row.getByTestId('instance-state').innerText(), /在线/, 'zh-CN labels');
    }
    assert.equal(await page.locator('[data-testid="rejection-row"][data-code="WXSEAL_BAD_SIGNATURE"]').count(), 1);
    await page.screenshot({ path: join(SHOTS, '10-overview-fleet.png'), fullPage: true });

    // One instance through the selector: its own numbers, under its name.
    await page.getByTestId('overview-instance').selectOption('gw-2');
    await page.waitForFunction(() => document.querySelector('[data-testid="overview-scope"]')?.getAttribute('data-scope') === 'instance');
    assert.equal(await text('stat-accepted'), String(ACCEPTED[1]));
    assert.equal(await text('stat-rejected'), '0');
    assert.match(await text('overview-scope'), /gw-2/);
    // And through a row's button.
    await page.locator('[data-testid="instance-row"][data-instance="gw-3"]').getByTestId('instance-view').click();
    await page.waitForFunction((n) => document.querySelector('[data-testid="overview-scope"]')?.textContent?.includes('gw-3') && document.querySelector('[data-testid="stat-accepted"]')?.textContent === n, String(ACCEPTED[2]));
    assert.equal(await text('stat-rejected'), String(FORGED));
    await page.screenshot({ path: join(SHOTS, '11-overview-instance.png'), fullPage: true });

    // Back to the fleet, in English.
    await page.getByTestId('overview-instance').selectOption('');
    await page.waitForFunction((n) => document.querySelector('[data-testid="overview-scope"]')?.getAttribute('data-scope') === 'fleet' && document.querySelector('[data-testid="stat-accepted"]')?.textContent === n, String(sumAccepted));
    await page.getByTestId('lang-switch').selectOption('en');
    await page.locator('[data-testid="instance-state"]').filter({ hasText: 'Live' }).first().waitFor();
    assert.match(await text('overview-scope'), /Fleet totals: 3 instances/);
  });
});
