// Platform certificate rotation A → A+B → B, unknown-serial refresh (single flight, rate limited),
// public-key-only merchants, the download function, expiry gauges and warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { verifySignature, wechatPayPublicKey, isWechatPayError } from '@wxseal/wechatpay';
import { CertificateManager, downloadPlatformCertificates, isCertificateLifecycleError } from '../src/lifecycle/index.js';
import { APIV3_KEY, makeCert } from './lifecycle-helpers/certs.js';
import { FakeWechatPay } from './lifecycle-helpers/fake-wechatpay.js';
import { MCHID, collect } from './lifecycle-helpers/setup.js';

const merchant = await makeCert({ cn: 'merchant' });
const A = await makeCert({ cn: 'platform A', daysLeft: 9 });
const B = await makeCert({ cn: 'platform B', daysLeft: 1825 });

async function fakeServer(t: import('node:test').TestContext) {
  const fake = new FakeWechatPay(APIV3_KEY);
  await fake.start();
  fake.merchantKeys.set(merchant.serial, merchant.certPem);
  t.after(() => fake.close());
  return fake;
}

const merchantConfig = { mchid: MCHID, privateKey: { value: merchant.keyPem }, certificate: { value: merchant.certPem }, apiV3Key: { value: APIV3_KEY } };

test('rotation A → A+B → B: every answer verifies; an answer by B before B is held triggers exactly one refresh', async (t) => {
  const fake = await fakeServer(t);
  fake.serve([A]);
  const mgr = new CertificateManager({ merchants: [merchantConfig], baseUrl: fake.url, unknownSerialMinIntervalMs: 60_000, watchFiles: false });
  t.after(() => mgr.close());
  const ev = collect((l) => mgr.onEvent(l));
  await mgr.start();
  assert.equal(fake.downloads, 1);
  assert.equal(mgr.current(MCHID).wechatpaySerial, A.serial);

  let verifyFailures = 0;
  // What the Pay client does: verify; on WECHATPAY_UNKNOWN_SERIAL refresh once and retry.
  async function clientVerify(signWith: typeof A) {
    const ans = fake.answer(`{"n":${Math.random()}}`, signWith);
    try {
      verifySignature({ headers: ans.headers, body: ans.body, keys: mgr.current(MCHID).verificationKeys });
      return;
    } catch (e) {
      if (!isWechatPayError(e, 'WECHATPAY_UNKNOWN_SERIAL')) throw e;
    }
    if (!(await mgr.refreshForUnknownSerial(MCHID, signWith.serial))) {
      verifyFailures++;
      return;
    }
    verifySignature({ headers: ans.headers, body: ans.body, keys: mgr.current(MCHID).verificationKeys });
  }

  await clientVerify(A);
  // Overlap: WeChat publishes B (~10 days before A expires) and starts signing with it.
  fake.serve([A, B], B);
  const before = fake.downloads;
  await Promise.all(Array.from({ length: 50 }, () => clientVerify(B)));
  assert.equal(fake.downloads - before, 1, 'exactly one refresh for a burst of B-signed answers');
  assert.equal(verifyFailures, 0);
  assert.deepEqual([...mgr.current(MCHID).verificationKeys.certificates.keys()].sort(), [A.serial, B.serial].sort());
  assert.equal(mgr.current(MCHID).wechatpaySerial, B.serial, 'newest valid certificate encrypts');
  await clientVerify(A); // both sign during the overlap
  // A flood of unknown serials cannot storm WeChat: rate-limited, no download.
  const unknown = await makeCert();
  assert.equal(await mgr.refreshForUnknownSerial(MCHID, unknown.serial), false);
  assert.equal(await mgr.refreshForUnknownSerial(MCHID, unknown.serial), false);
  assert.equal(fake.downloads - before, 1);

  // A withdrawn: the list is B only.
  fake.serve([B], B);
  assert.equal(await mgr.refreshPlatformCertificates(MCHID), true);
  assert.deepEqual([...mgr.current(MCHID).verificationKeys.certificates.keys()], [B.serial]);
  await clientVerify(B);
  assert.equal(verifyFailures, 0);
  // Every swap kept a verifying key: the versions only increased.
  const versions = ev.of('swapped').map((e) => e.version);
  assert.deepEqual(versions, [...versions].sort((a, b) => a - b));
});

test('download rejects an answer signed by a key it does not hold, a wrong APIv3 key, and keeps material on failure', async (t) => {
  const fake = await fakeServer(t);
  const forger = await makeCert({ cn: 'forger' });
  fake.serve([A], forger); // list fine, signature by a certificate not in the list
  await assert.rejects(
    downloadPlatformCertificates({ mchid: MCHID, serialNo: merchant.serial, privateKey: merchant.keyPem, apiV3Key: APIV3_KEY, baseUrl: fake.url }),
    (e) => isCertificateLifecycleError(e, 'WECHATPAY_LIFECYCLE_DOWNLOAD_FAILED') && /signature rejected/.test((e as Error).message),
  );
  fake.serve([A, B], B);
  const ok = await downloadPlatformCertificates({ mchid: MCHID, serialNo: merchant.serial, privateKey: merchant.keyPem, apiV3Key: APIV3_KEY, baseUrl: fake.url });
  assert.deepEqual(ok.certificates.map((c) => c.serial), [A.serial, B.serial]);
  assert.equal(ok.signedBy, B.serial);
  await assert.rejects(
    downloadPlatformCertificates({ mchid: MCHID, serialNo: merchant.serial, privateKey: merchant.keyPem, apiV3Key: 'X'.repeat(32), baseUrl: fake.url }),
    (e) => isCertificateLifecycleError(e, 'WECHATPAY_LIFECYCLE_DOWNLOAD_FAILED') && !(e as Error).message.includes('X'.repeat(32)),
  );
  fake.mode = 'hang';
  const t0 = Date.now();
  await assert.rejects(
    downloadPlatformCertificates({ mchid: MCHID, serialNo: merchant.serial, privateKey: merchant.keyPem, apiV3Key: APIV3_KEY, baseUrl: fake.url, timeoutMs: 300 }),
    /within 300 ms/,
  );
  assert.ok(Date.now() - t0 < 3000);

  // Manager: a failed refresh keeps the held certificates.
  fake.mode = 'list';
  fake.serve([A]);
  const mgr = new CertificateManager({ merchants: [merchantConfig], baseUrl: fake.url, watchFiles: false, downloadTimeoutMs: 300 });
  t.after(() => mgr.close());
  const ev = collect((l) => mgr.onEvent(l));
  await mgr.start();
  const held = mgr.current(MCHID);
  fake.mode = 'error';
  assert.equal(await mgr.refreshPlatformCertificates(MCHID), false);
  fake.mode = 'list';
  fake.serve([], A);
  assert.equal(await mgr.refreshPlatformCertificates(MCHID), true); // empty list: never drops held certificates
  assert.equal(mgr.current(MCHID), held);
  assert.equal(ev.of('download-failed').length, 1);
});

test('public-key-only merchant: no download at all, verification works', async (t) => {
  const fake = await fakeServer(t);
  fake.mode = 'not-found';
  const pub = await makeCert({ cn: 'wechatpay public key' });
  const id = 'PUB_KEY_ID_0114232134912410000000000000000001';
  const mgr = new CertificateManager({
    merchants: [{ ...merchantConfig, wechatPayPublicKey: { id, key: { value: pub.publicKeyPem } } }],
    baseUrl: fake.url,
    watchFiles: false,
  });
  t.after(() => mgr.close());
  const ev = collect((l) => mgr.onEvent(l));
  await mgr.start();
  const m = mgr.current(MCHID);
  assert.equal(m.wechatpaySerial, id);
  assert.ok(m.encryptionKey?.equals(wechatPayPublicKey(id, pub.publicKeyPem).publicKey));
  const ans = fake.answer('{"ok":1}', { serial: id, keyPem: pub.keyPem });
  assert.equal(verifySignature({ headers: ans.headers, body: ans.body, keys: m.verificationKeys }).keyKind, 'public-key');
  assert.equal(await mgr.refreshForUnknownSerial(MCHID, 'ABCDEF'), false);
  assert.equal(fake.downloads + fake.rejected, 0, 'never called /v3/certificates');
  assert.equal(ev.of('download-failed').length + ev.of('validation-failed').length, 0);
});

test('expiry gauges and 30/7-day warnings, once per threshold per certificate', async (t) => {
  const fake = await fakeServer(t);
  const m20 = await makeCert({ cn: 'merchant 20d', daysLeft: 20 });
  fake.merchantKeys.set(m20.serial, m20.certPem);
  const P5 = await makeCert({ cn: 'platform 5d', daysLeft: 5 });
  fake.serve([P5]);
  const registry = new Registry();
  const mgr = new CertificateManager({
    merchants: [{ mchid: MCHID, privateKey: { value: m20.keyPem }, certificate: { value: m20.certPem }, apiV3Key: { value: APIV3_KEY } }],
    baseUrl: fake.url,
    watchFiles: false,
    registry,
  });
  t.after(() => mgr.close());
  const ev = collect((l) => mgr.onEvent(l));
  await mgr.start();
  const warn = ev.of('expiry-warning');
  assert.deepEqual(warn.map((w) => [w.kind, w.serial, w.thresholdDays]).sort(), [['merchant', m20.serial, 30], ['platform', P5.serial, 7]].sort());
  assert.equal(warn.find((w) => w.kind === 'platform')?.superseded, false);
  mgr.checkExpiryNow();
  mgr.checkExpiryNow();
  assert.equal(ev.of('expiry-warning').length, 2, 'once per threshold per certificate');
  const gauge = await registry.getSingleMetric('wxseal_wechatpay_certificate_expiry_seconds')!.get();
  const byKind = new Map(gauge.values.map((v) => [`${v.labels['kind']}:${v.labels['serial']}`, v.value]));
  const m = byKind.get(`merchant:${m20.serial}`)!;
  const p = byKind.get(`platform:${P5.serial}`)!;
  assert.ok(Math.abs(m - 20 * 86400) < 120, `merchant gauge ${m}`);
  assert.ok(Math.abs(p - 5 * 86400) < 120, `platform gauge ${p}`);
  assert.equal(gauge.values[0]?.labels['mchid'], MCHID);
  // Rotation: a new certificate replaces P5 → its gauge is removed; no warning for the new one.
  fake.serve([B], B);
  await mgr.refreshPlatformCertificates(MCHID);
  const after = await registry.getSingleMetric('wxseal_wechatpay_certificate_expiry_seconds')!.get();
  assert.deepEqual(after.values.filter((v) => v.labels['kind'] === 'platform').map((v) => v.labels['serial']), [B.serial]);
  assert.equal(ev.of('expiry-warning').length, 2);
  const counter = await registry.getSingleMetricAsString('wxseal_wechatpay_certificate_expiry_warnings_total');
  assert.match(counter, /threshold="7"\} 1/);
});
