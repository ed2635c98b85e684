// WeChat Pay v3 end to end against the offline mock: the CertificateManager (file sources,
// downloads) feeding the Pay client through a platform certificate rotation under load, payment
// notifications into the Fastify plugin, and `wxseal pay certs` against the mock.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { createMockPayMerchant, startMockWechat, type MockWechat } from '@wxseal/mock-wechat';
import { CertificateManager, createWechatPayClient, type TransactionResource } from '@wxseal/wechatpay';
import { wechatPayNotifications } from '@wxseal/wechatpay/fastify';
import { certificateInventoryFromMaterial } from '@wxseal/gateway';

const root = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(): Promise<{ mock: MockWechat; mgr: CertificateManager; mchid: string; dir: string; apiV3Key: string; privateKeyFile: string; serialNo: string; certFile: string }> {
  const merchant = await createMockPayMerchant();
  const mock = await startMockWechat({ payMerchants: [merchant.config] });
  const dir = mkdtempSync(join(tmpdir(), 'wxseal-pay-'));
  const privateKeyFile = join(dir, 'apiclient_key.pem');
  const certFile = join(dir, 'apiclient_cert.pem');
  writeFileSync(privateKeyFile, merchant.client.privateKeyPem, { mode: 0o600 });
  writeFileSync(certFile, merchant.client.merchantCertificatePem);
  const mgr = new CertificateManager({
    merchants: [{ mchid: merchant.client.mchid, privateKey: { file: privateKeyFile }, certificate: { file: certFile }, apiV3Key: { value: merchant.client.apiV3Key } }],
    baseUrl: mock.url,
    unknownSerialMinIntervalMs: 200,
  });
  await mgr.start();
  return { mock, mgr, mchid: merchant.client.mchid, dir, apiV3Key: merchant.client.apiV3Key, privateKeyFile, serialNo: merchant.client.merchantSerialNo, certFile };
}

describe('platform certificate rotation against the mock', () => {
  test('A → A+B (B signs) → B only, under continuous load: no request fails', async () => {
    const s = await setup();
    const pay = createWechatPayClient({ source: s.mgr, baseUrl: s.mock.url, retry: false });
    const m = pay.merchant(s.mchid);
    const serialA = s.mock.payPlatformSerial();
    assert.equal(s.mgr.current(s.mchid).wechatpaySerial, serialA);
    let ok = 0;
    const failures: unknown[] = [];
    let stop = false;
    let n = 0;
    const worker = async (w: number): Promise<void> => {
      while (!stop) {
        const out_trade_no = `rot${w}x${n++}x${Date.now() % 100000}`;
        try {
          await m.jsapiPrepay({ appid: 'wx1234567890abcdef', description: 'rotation', out_trade_no, notify_url: 'https://example.com/notify', amount: { total: 1 }, payer: { openid: 'o-test' } });
          const q = await m.queryOrderByOutTradeNo(out_trade_no);
          assert.equal(q.out_trade_no, out_trade_no);
          ok += 2;
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    try {
      await sleep(400);
      const serialB = await s.mock.rotatePayPlatformCertificate();
      assert.notEqual(serialB, serialA);
      await sleep(800);
      // The first answer signed by B made the manager download A+B once.
      const afterOverlap = s.mgr.current(s.mchid).verificationKeys.certificates;
      assert.ok(afterOverlap.has(serialA) && afterOverlap.has(serialB), `overlap: ${[...afterOverlap.keys()].join(',')}`);
      s.mock.withdrawOldPayPlatformCertificate();
      assert.equal(await s.mgr.refreshPlatformCertificates(s.mchid), true, 'the scheduled refresh sees the withdrawal');
      await sleep(400);
      const final = s.mgr.current(s.mchid);
      assert.deepEqual([...final.verificationKeys.certificates.keys()], [serialB]);
      assert.equal(final.wechatpaySerial, serialB);
    } finally {
      stop = true;
      await Promise.all(workers);
      await s.mgr.close();
      await s.mock.close();
    }
    assert.deepEqual(failures.map(String), [], 'no request failed at any point');
    assert.ok(ok > 50, `only ${ok} calls made`);
  });
});

describe('payment notifications from the mock', () => {
  test('a callback is verified, decrypted and acknowledged; a tampered one is refused and never reaches the handler', async () => {
    const s = await setup();
    const received: TransactionResource[] = [];
    const app = Fastify();
    await app.register(wechatPayNotifications, { path: '/wechatpay/notify', mchid: s.mchid, source: s.mgr, onTransaction: async (tx) => { received.push(tx); } });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const pay = createWechatPayClient({ source: s.mgr, baseUrl: s.mock.url });
    try {
      const out_trade_no = `notify${Date.now()}`;
      await pay.merchant(s.mchid).jsapiPrepay({ appid: 'wx1234567890abcdef', description: 'notify', out_trade_no, notify_url: `${url}/wechatpay/notify`, amount: { total: 88 }, payer: { openid: 'o-payer' } });
      const result = await s.mock.simulatePayment(out_trade_no);
      assert.ok(result, 'a notification was sent');
      assert.equal(result.acknowledged, true, `callback answered ${result.status} ${result.body}`);
      assert.equal(received.length, 1);
      assert.equal(received[0]!.out_trade_no, out_trade_no);
      assert.equal(received[0]!.trade_state, 'SUCCESS');
      assert.equal(received[0]!.amount.total, 88);

      for (const tamper of ['body', 'signature', 'timestamp'] as const) {
        const bad = await s.mock.payNotify({ event: 'TRANSACTION.SUCCESS', out_trade_no, tamper });
        assert.equal(bad.status, 401, `${tamper}: ${bad.status} ${bad.body}`);
        assert.equal(bad.acknowledged, false);
        assert.match(bad.body, /"code":"FAIL"/);
      }
      assert.equal(received.length, 1, 'tampered callbacks never reach the handler');
    } finally {
      await app.close();
      await s.mgr.close();
      await s.mock.close();
    }
  });
});

describe('wxseal pay certs', () => {
  test('download (APIv3 key from the environment) → list → check', async () => {
    const s = await setup();
    await s.mgr.close();
    const out = join(s.dir, 'platform');
    const bin = join(root, 'packages/cli/bin/wxseal.js');
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [bin, ...args], { cwd: root, timeout: 30_000, env: { ...process.env, WECHATPAY_APIV3_KEY: s.apiV3Key } }, (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
        );
      });
    try {
      const dl = await run(['pay', 'certs', 'download', '--mchid', s.mchid, '--serial-no', s.serialNo, '--private-key', s.privateKeyFile, '--base-url', s.mock.url, '-o', out]);
      assert.equal(dl.code, 0, dl.stderr);
      const serial = s.mock.payPlatformSerial();
      assert.match(dl.stdout, new RegExp(serial));
      assert.deepEqual(readdirSync(out), [`wechatpay_${serial}.pem`]);
      assert.equal(readFileSync(join(out, `wechatpay_${serial}.pem`), 'utf8').trim(), s.mock.payPlatformCertificates(s.mchid)[serial]!.trim());
      assert.doesNotMatch(dl.stdout + dl.stderr, new RegExp(s.apiV3Key), 'the APIv3 key is never printed');

      const ls = await run(['pay', 'certs', 'list', '--dir', out]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.match(ls.stdout, new RegExp(`${serial}.*days left`));

      const ck = await run(['pay', 'certs', 'check', '--mchid', s.mchid, '--serial-no', s.serialNo, '--private-key', s.privateKeyFile, '--merchant-cert', s.certFile, '--platform-cert', join(out, `wechatpay_${serial}.pem`), '--json']);
      assert.equal(ck.code, 0, ck.stdout + ck.stderr);
      const report = JSON.parse(ck.stdout) as { ok: boolean; merchant: { keyMatchesCertificate: boolean }; platform: Array<{ serial: string }> };
      assert.equal(report.ok, true);
      assert.equal(report.merchant.keyMatchesCertificate, true);
      assert.deepEqual(report.platform.map((p) => p.serial), [serial]);

      const wrongKey = await run(['pay', 'certs', 'download', '--mchid', s.mchid, '--serial-no', s.serialNo, '--private-key', s.privateKeyFile, '--base-url', s.mock.url, '--api-v3-key-env', 'NO_SUCH_VARIABLE', '-o', out]);
      assert.notEqual(wrongKey.code, 0, 'a missing APIv3 key is an error');
    } finally {
      await s.mock.close();
    }
  });
});

describe('the admin console\'s certificate inventory fed by the CertificateManager', () => {
  test('merchant and platform certificates listed with seconds to expiry; refresh downloads the rotated list', async () => {
    const s = await setup();
    // The adapter an application writes (documented in packages/gateway/README.md).
    const inventory = certificateInventoryFromMaterial({
      merchants: () => [s.mchid],
      material: (mchid) => {
        const m = s.mgr.current(mchid);
        return {
          mchid,
          merchantSerialNo: m.merchantSerialNo,
          ...(m.merchantCertificate ? { merchantCertificate: m.merchantCertificate } : {}),
          platformCertificates: [...m.verificationKeys.certificates.values()].map((k) => ({ serialNumber: k.serial, validTo: (k.validTo ?? new Date(8.64e15)).toUTCString() })),
          publicKeyIds: [...m.verificationKeys.publicKeys.keys()],
          source: 'CertificateManager',
        };
      },
      refresh: (mchid) => s.mgr.refreshPlatformCertificates(mchid),
    });
    try {
      const before = await inventory.list();
      const serialA = s.mock.payPlatformSerial();
      assert.deepEqual(before.map((c) => `${c.kind}:${c.serial}`).sort(), [`merchant:${s.serialNo}`, `platform:${serialA}`].sort());
      for (const c of before) assert.ok(c.notAfter !== undefined && new Date(c.notAfter).getTime() > Date.now(), `${c.serial} has a future expiry`);
      const serialB = await s.mock.rotatePayPlatformCertificate();
      assert.equal(await inventory.refresh({ kind: 'wechatpay', mchid: s.mchid }), 1);
      const after = (await inventory.list()).filter((c) => c.kind === 'platform').map((c) => c.serial).sort();
      assert.deepEqual(after, [serialA, serialB].sort());
    } finally {
      await s.mgr.close();
      await s.mock.close();
    }
  });
});
