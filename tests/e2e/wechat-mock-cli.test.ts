// `wxseal mock-wechat` as a user runs it: state generated on the first run and reused after,
// client.json consumed by the README's getuserphonenumber example (examples/wechat/phone-number.ts).
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runMockWechatFromState, type MockMpClientConfig, type MockPayClientConfig } from '@wxseal/mock-wechat';
import { WechatApiSecurityError, createMpClient, staticAccessToken } from '@wxseal/wechat';
import { apiSecurityOf } from '../support/wechat.js';
import { SM_SIGNATURE_SCHEME, StaticMerchantMaterialSource, createWechatPayClient, isSm2Key } from '@wxseal/wechatpay';
import { createPrivateKey } from 'node:crypto';
import { spawnTracked, stopAllProcesses, stopProcess } from '../support/processes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/wxseal.js');

function startMock(stateDir: string, extra: string[] = []): Promise<{ child: ChildProcess; url: string; output: string }> {
  // Registered for cleanup at spawn, and killed here if it never gets ready: nothing is left running.
  const child = spawnTracked(process.execPath, [bin, 'mock-wechat', '--state-dir', stateDir, '--port', '0', ...extra], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = new Promise<{ child: ChildProcess; url: string; output: string }>((resolve, reject) => {
    let output = '';
    // A guard against a hang, generous for a busy machine.
    const timer = setTimeout(() => reject(new Error(`mock-wechat did not start: ${output}`)), 120_000);
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (m && output.includes('control API')) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => reject(new Error(`mock-wechat exited ${code}: ${output}`)));
  });
  return ready.catch(async (err: unknown) => {
    await stopProcess(child, 'SIGKILL');
    throw err;
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  return (await stopProcess(child, 'SIGTERM', 30_000)).code;
}

function runExample(clientJson: string, code: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=wxseal-source', '--import', 'tsx', 'examples/wechat/phone-number.ts', code],
      { cwd: root, timeout: 30_000, env: { ...process.env, WXSEAL_MOCK_CLIENT: clientJson } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('wxseal mock-wechat + the README example', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'wxseal-mockwx-')), 'state');
  const children: ChildProcess[] = [];
  after(() => stopAllProcesses());

  test('first run generates the state; the example gets a phone number with API security; the second run reuses the keys', async () => {
    const first = await startMock(dir);
    children.push(first.child);
    assert.match(first.output, /new state generated/, first.output);
    const clientJson = join(dir, 'client.json');
    assert.equal(statSync(clientJson).mode & 0o077, 0, 'client.json must not be readable by others');
    const cfg = JSON.parse(readFileSync(clientJson, 'utf8')) as { appid: string; baseUrl: string; privateKeyPem: string };
    assert.equal(cfg.baseUrl, first.url);

    const r = await runExample(clientJson, 'button-code-1');
    assert.equal(r.code, 0, r.stderr);
    const phone = JSON.parse(r.stdout.trim()) as { purePhoneNumber: string; countryCode: string };
    assert.match(phone.purePhoneNumber, /^\d{11}$/, r.stdout);
    assert.equal(phone.countryCode, '86');
    const stats = (await (await fetch(`${first.url}/__mock/stats`)).json()) as { securedRequests: number; rejections: Record<string, number> };
    assert.equal(stats.securedRequests, 1, JSON.stringify(stats));
    assert.deepEqual(stats.rejections, {});
    assert.equal(await stop(first.child), 0);

    const second = await startMock(dir);
    children.push(second.child);
    assert.doesNotMatch(second.output, /new state generated/, second.output);
    const cfg2 = JSON.parse(readFileSync(clientJson, 'utf8')) as { appid: string; privateKeyPem: string };
    assert.equal(cfg2.appid, cfg.appid);
    assert.equal(cfg2.privateKeyPem, cfg.privateKeyPem);
    const r2 = await runExample(clientJson, 'button-code-2');
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(await stop(second.child), 0);
  });
});

async function control<T>(url: string, path: string, body: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as T };
}

async function stableToken(url: string, appid: string, secret: string): Promise<string> {
  const res = await fetch(`${url}/cgi-bin/stable_token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credential', appid, secret }) });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** An MpClient configured from a client.json-shaped config (RSA or 国密). */
function mpClientOf(cfg: MockMpClientConfig, baseUrl: string, token: string) {
  return createMpClient({
    appid: cfg.appid,
    http: { baseUrl, timeoutMs: 5000 },
    accessToken: staticAccessToken(token),
    apiSecurity: apiSecurityOf(cfg),
  });
}

describe('国密 through the control API of the CLI mock, and an SM state dir', () => {
  after(() => stopAllProcesses());

  test('POST /__mock/apps {suite: SM} and POST /__mock/pay/merchants {algorithm: SM2} create SM ones that work end to end; rotation reports the SM2 keys', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'wxseal-mockwx-sm-')), 'state');
    const { child, url } = await startMock(dir);
    try {
      // A 国密 Mini Program app.
      const created = await control<{ client: MockMpClientConfig; suite: string }>(url, '/__mock/apps', { suite: 'SM', mode: 'required' });
      assert.equal(created.status, 200, JSON.stringify(created.json));
      const cfg = created.json.client;
      assert.equal(created.json.suite, 'SM');
      assert.equal(cfg.symmetricAlgorithm, 'SM4_GCM');
      assert.equal(cfg.asymmetricAlgorithm, 'SM2withSM3');
      assert.equal(Buffer.from(cfg.symKey, 'base64').length, 16);
      assert.equal(isSm2Key(createPrivateKey(cfg.privateKeyPem)), true);
      const platform = (await (await fetch(`${url}/__mock/platform-certificates`)).json()) as { current: string; sm2: { current: string; deprecated: string | null; certificates: Record<string, string> } };
      assert.deepEqual(Object.keys(cfg.platformCertificates), [platform.sm2.current], 'the SM app gets the SM2 platform certificate');
      const health = (await (await fetch(`${url}/__mock/health`)).json()) as { apps: string[] };
      assert.ok(health.apps.includes(cfg.appid));
      const mp = mpClientOf(cfg, url, await stableToken(url, cfg.appid, cfg.secret));
      try {
        const out = await mp.call<{ data: unknown }>('/wxa/anything/echo', { hello: '国密' });
        assert.deepEqual(out.data, { hello: '国密' });
        // The control API rotates the SM2 key with the RSA one and reports both.
        const rotated = await control<{ current: string; sm2: { current: string; deprecated: string | null; certificates: Record<string, string> } }>(url, '/__mock/platform/rotate', {});
        assert.equal(rotated.json.sm2.deprecated, platform.sm2.current);
        assert.notEqual(rotated.json.sm2.current, platform.sm2.current);
        assert.deepEqual(Object.keys(rotated.json.sm2.certificates).sort(), [platform.sm2.current, rotated.json.sm2.current].sort());
        await mp.call('/wxa/anything/echo', { during: 'rotation' }); // the deprecated SM2 pair still verifies
        mp.setPlatformCertificates(rotated.json.sm2.certificates);
        const finished = await control<{ sm2: { current: string; deprecated: string | null } }>(url, '/__mock/platform/finish-rotation', {});
        assert.equal(finished.json.sm2.deprecated, null);
        await mp.call('/wxa/anything/echo', { after: 'rotation' }); // verified with the new SM2 key
        const stale = mpClientOf(cfg, url, await stableToken(url, cfg.appid, cfg.secret));
        const err = await stale.call('/wxa/anything/echo', {}).catch((e: unknown) => e);
        assert.ok(err instanceof WechatApiSecurityError && err.code === 'WXMP_UNKNOWN_SERIAL', String(err));
        await stale.close();
      } finally {
        await mp.close();
      }
      // Bad suite values are refused with the control API's typed answer.
      assert.equal((await control(url, '/__mock/apps', { suite: 'GM' })).status, 400);
      assert.equal((await control(url, '/__mock/pay/merchants', { algorithm: 'SM2', mode: 'public-key' })).status, 400);
      assert.equal((await control(url, '/__mock/pay/merchants', { suite: 'SM', algorithm: 'RSA' })).status, 400);

      // A 国密 Pay merchant: SM2 key and certificate; its requests are signed WECHATPAY2-SM2-WITH-SM3.
      const merchant = await control<{ client: MockPayClientConfig; algorithm: string; sm: { current: string; certificates: Record<string, string> } }>(url, '/__mock/pay/merchants', { algorithm: 'SM2' });
      assert.equal(merchant.status, 200, JSON.stringify(merchant.json));
      assert.equal(merchant.json.algorithm, 'SM2');
      const c = merchant.json.client;
      assert.equal(isSm2Key(createPrivateKey(c.privateKeyPem)), true);
      const pay = createWechatPayClient({
        source: new StaticMerchantMaterialSource([{ mchid: c.mchid, merchantSerialNo: c.merchantSerialNo, privateKey: c.privateKeyPem, apiV3Key: c.apiV3Key, platformCertificates: Object.values(merchant.json.sm.certificates) }]),
        baseUrl: url,
        retry: false,
      });
      try {
        const m = pay.merchant(c.mchid);
        const { prepay_id } = await m.jsapiPrepay({ appid: 'wx1234567890abcdef', description: 'cli sm', out_trade_no: `CLISM${Date.now()}`, notify_url: 'https://example.com/notify', amount: { total: 1 }, payer: { openid: 'o-sm' } });
        assert.match(prepay_id, /^wx/);
        const raw = await m.request({ method: 'GET', path: '/v3/certificates', query: { algorithm_type: 'SM2' } });
        assert.equal(raw.headers['wechatpay-signature-type'], SM_SIGNATURE_SCHEME);
      } finally {
        await pay.close();
      }
      // The SM platform certificates rotate and withdraw through the same control endpoints.
      const r = await control<{ rotatedTo: string; sm: { current: string; certificates: Record<string, string> } }>(url, '/__mock/pay/platform/rotate', { algorithm: 'SM2' });
      assert.equal(r.status, 200);
      assert.equal(r.json.sm.current, r.json.rotatedTo);
      assert.equal(Object.keys(r.json.sm.certificates).length, 2);
      const w = await control<{ withdrawn: string[]; sm: { certificates: Record<string, string> } }>(url, '/__mock/pay/platform/withdraw-old', { suite: 'SM' });
      assert.deepEqual(w.json.withdrawn, [merchant.json.sm.current]);
      assert.deepEqual(Object.keys(w.json.sm.certificates), [r.json.rotatedTo]);
    } finally {
      assert.equal(await stop(child), 0);
    }
  });

  test('runMockWechatFromState({ suite: SM }): an SM development app and SM2 platform key in the state dir, kept across runs', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'wxseal-mockwx-smstate-')), 'state');
    const first = await runMockWechatFromState({ stateDir: dir, port: 0, suite: 'SM' });
    let cfg: MockMpClientConfig;
    try {
      assert.equal(first.created, true);
      assert.equal(first.state.suite, 'SM');
      cfg = JSON.parse(readFileSync(first.clientConfigPath, 'utf8')) as MockMpClientConfig;
      assert.equal(cfg.asymmetricAlgorithm, 'SM2withSM3');
      assert.deepEqual(Object.keys(cfg.platformCertificates), [first.mock.sm2PlatformSerial()]);
      assert.equal(statSync(join(dir, 'platform-sm2-key.json')).mode & 0o077, 0);
      const mp = mpClientOf(cfg, first.mock.url, await stableToken(first.mock.url, cfg.appid, cfg.secret));
      try {
        assert.deepEqual((await mp.call<{ data: unknown }>('/wxa/anything/echo', { n: 1 })).data, { n: 1 });
      } finally {
        await mp.close();
      }
    } finally {
      await first.mock.close();
    }
    const second = await runMockWechatFromState({ stateDir: dir, port: 0 });
    try {
      assert.equal(second.created, false);
      assert.equal(second.state.suite, 'SM');
      const cfg2 = JSON.parse(readFileSync(second.clientConfigPath, 'utf8')) as MockMpClientConfig;
      assert.equal(cfg2.privateKeyPem, cfg.privateKeyPem);
      assert.deepEqual(cfg2.platformCertificates, cfg.platformCertificates, 'the SM2 platform key is kept');
    } finally {
      await second.mock.close();
    }
    await assert.rejects(runMockWechatFromState({ stateDir: dir, port: 0, suite: 'RSA' }), /holds a SM development app, not RSA/);
  });

  test('wxseal mock-wechat --suite sm writes an SM development app whose client.json works; a bad --suite is a usage error', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'wxseal-mockwx-smcli-')), 'state');
    const { child, url } = await startMock(dir, ['--suite', 'sm']);
    try {
      const cfg = JSON.parse(readFileSync(join(dir, 'client.json'), 'utf8')) as MockMpClientConfig;
      assert.equal(cfg.symmetricAlgorithm, 'SM4_GCM');
      assert.equal(cfg.asymmetricAlgorithm, 'SM2withSM3');
      const mp = mpClientOf(cfg, url, await stableToken(url, cfg.appid, cfg.secret));
      try {
        assert.deepEqual((await mp.call<{ data: unknown }>('/wxa/anything/echo', { n: 2 })).data, { n: 2 });
      } finally {
        await mp.close();
      }
    } finally {
      assert.equal(await stop(child), 0);
    }
    const bad = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [bin, 'mock-wechat', '--state-dir', dir, '--port', '0', '--suite', 'gm'], { cwd: root, timeout: 30_000 }, (err, _out, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
      ),
    );
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /must be 'rsa' or 'sm'/);
  });
});
