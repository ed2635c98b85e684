// Hot reload of merchant key + certificate under load, validation before any swap, secret sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { setImmediate as tick } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { signRequest, verifyRequest, verifySignature } from '@wxseal/wechatpay';
import { CertificateManager, InMemorySecretStore, checkCertificates, isCertificateLifecycleError } from '../src/lifecycle/index.js';
import { APIV3_KEY, makeCert, rsaKeyPem } from './lifecycle-helpers/certs.js';
import { FakeWechatPay } from './lifecycle-helpers/fake-wechatpay.js';
import { MCHID, collect, replaceFile, tempDir, until } from './lifecycle-helpers/setup.js';

const platform = await makeCert({ cn: 'platform A' });

async function setup(t: import('node:test').TestContext) {
  const { dir, cleanup } = await tempDir();
  const fake = new FakeWechatPay(APIV3_KEY);
  await fake.start();
  fake.serve([platform]);
  const merchant1 = await makeCert({ cn: 'merchant 1' });
  fake.merchantKeys.set(merchant1.serial, merchant1.certPem);
  const keyFile = join(dir, 'apiclient_key.pem');
  const certFile = join(dir, 'apiclient_cert.pem');
  await writeFile(keyFile, merchant1.keyPem);
  await writeFile(certFile, merchant1.certPem);
  t.after(async () => {
    await fake.close();
    await cleanup();
  });
  return { dir, fake, merchant1, keyFile, certFile };
}

test('hot reload under load: 2,000 sign+verify operations, zero failures, new serial after the swap', async (t) => {
  const { fake, merchant1, keyFile, certFile } = await setup(t);
  const registry = new Registry();
  const mgr = new CertificateManager({
    merchants: [{ mchid: MCHID, privateKey: { file: keyFile }, certificate: { file: certFile }, apiV3Key: { value: APIV3_KEY } }],
    baseUrl: fake.url,
    debounceMs: 100,
    registry,
  });
  t.after(() => mgr.close());
  const ev = collect((l) => mgr.onEvent(l));
  await mgr.start();
  assert.equal(mgr.current(MCHID).merchantSerialNo, merchant1.serial);
  const v1 = mgr.current(MCHID).version;

  const merchant2 = await makeCert({ cn: 'merchant 2' });
  fake.merchantKeys.set(merchant2.serial, merchant2.certPem); // registered at WeChat Pay before the switch
  const answer = fake.answer('{"ok":true}', platform);

  let failures = 0;
  let done = 0;
  const usedSerials = new Map<string, number>();
  async function operation(i: number) {
    const m = mgr.current(MCHID); // taken at the start of the request…
    await tick();
    const url = `/v3/pay/transactions/out-trade-no/T${i}?mchid=${MCHID}`;
    const signed = signRequest({ mchid: m.mchid, serialNo: m.merchantSerialNo, privateKey: m.privateKey, method: 'GET', url });
    await tick();
    try {
      // …used to the end: WeChat Pay checks the signature with the certificate named by serial_no.
      verifyRequest({ authorization: signed.authorization, method: 'GET', url, resolveKey: (_m, s) => fake.merchantKeys.get(s) });
      verifySignature({ headers: answer.headers, body: answer.body, keys: m.verificationKeys });
      usedSerials.set(m.merchantSerialNo, (usedSerials.get(m.merchantSerialNo) ?? 0) + 1);
    } catch {
      failures++;
    }
    done++;
  }
  const workers = Array.from({ length: 20 }, async (_, w) => {
    for (let i = 0; i < 100; i++) {
      await operation(w * 100 + i);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
    }
  });
  const swap = (async () => {
    await until(() => done >= 300, 10_000, '300 operations');
    await replaceFile(keyFile, merchant2.keyPem);
    await replaceFile(certFile, merchant2.certPem);
  })();
  await Promise.all([...workers, swap]);
  await until(() => mgr.current(MCHID).merchantSerialNo === merchant2.serial, 5_000, 'the new serial');
  assert.equal(done, 2000);
  assert.equal(failures, 0);
  assert.ok((usedSerials.get(merchant1.serial) ?? 0) >= 300, 'old snapshot in use before the swap');
  // After the swap every new operation uses the new serial.
  await operation(99_999);
  assert.equal(failures, 0);
  assert.ok(mgr.current(MCHID).version > v1);
  // The key and the certificate are two files replaced one after the other: on a busy machine the
  // debounce can fire between them and see the new key with the old certificate. The manager must
  // refuse that half-done pair (the only failure allowed) and keep serving, which `failures` shows.
  const unexpected = ev.of('validation-failed').filter((e) => !(e.problems.length === 1 && /^merchant private key does not match the public key of merchant certificate /.test(e.problems[0]!)));
  assert.deepEqual(unexpected, []);
  const swapped = ev.of('swapped');
  assert.equal(swapped.at(-1)?.merchantSerialNo, merchant2.serial);
  const metrics = await registry.getMetricsAsJSON();
  assert.ok(metrics.some((m) => m.name === 'wxseal_wechatpay_material_reloads_total'));
});

test('invalid candidates never replace valid material; the alarm is raised; fixing the file loads it', async (t) => {
  const { dir, fake, merchant1, keyFile, certFile } = await setup(t);
  const serialFile = join(dir, 'serial_no.txt');
  await writeFile(serialFile, merchant1.serial.toLowerCase() + '\n');
  const registry = new Registry();
  const warnings: string[] = [];
  const mgr = new CertificateManager({
    merchants: [{ mchid: MCHID, serialNo: { file: serialFile }, privateKey: { file: keyFile }, certificate: { file: certFile }, apiV3Key: { value: APIV3_KEY } }],
    baseUrl: fake.url,
    debounceMs: 80,
    registry,
    logger: { warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`) },
  });
  t.after(() => mgr.close());
  const ev = collect((l) => mgr.onEvent(l));
  await mgr.start();
  const good = mgr.current(MCHID);
  const other = await makeCert({ cn: 'other' });
  const expired = await makeCert({ cn: 'expired', daysLeft: -1 });

  const cases: Array<[string, () => Promise<void>, RegExp]> = [
    ['garbage key', () => replaceFile(keyFile, 'not a key'), /private key is not a readable/],
    ['key/cert mismatch', () => replaceFile(keyFile, other.keyPem), /does not match/],
    ['expired cert', async () => { await replaceFile(keyFile, expired.keyPem); await replaceFile(certFile, expired.certPem); }, /expired/],
    ['wrong serial', async () => { await replaceFile(keyFile, other.keyPem); await replaceFile(certFile, other.certPem); }, /differs from the merchant certificate/],
    ['garbage certificate', () => replaceFile(certFile, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), /not a readable PEM X.509/],
    ['RSA-1024 key', () => replaceFile(keyFile, rsaKeyPem(1024)), /below RSA-2048/],
  ];
  for (const [name, act, problem] of cases) {
    const before = ev.of('validation-failed').length;
    await act();
    await until(() => ev.of('validation-failed').length > before, 5_000, `alarm for ${name}`);
    // Settle: a second file event may still be debounced.
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(mgr.current(MCHID), good, `${name}: material unchanged`);
    const problems = ev.of('validation-failed').slice(before).flatMap((e) => e.problems).join(' | ');
    assert.match(problems, problem, name);
    assert.equal(await mgr.reload(), false, `${name}: reload() also refuses`);
  }
  const failures = (await registry.getSingleMetricAsString('wxseal_wechatpay_material_validation_failures_total'));
  assert.match(failures, /source="reload"\} ([0-9]+)/);
  assert.ok(warnings.some((w) => w.includes('validation-failed')), 'log hook called');
  // No secret in events or logs.
  const dump = JSON.stringify(ev.events) + warnings.join('');
  assert.ok(!dump.includes(APIV3_KEY) && !dump.includes('PRIVATE KEY'), 'no secret in events/logs');

  // Fix: the new certificate with its key and its serial.
  await replaceFile(serialFile, other.serial);
  await replaceFile(keyFile, other.keyPem);
  await replaceFile(certFile, other.certPem);
  await until(() => mgr.current(MCHID).merchantSerialNo === other.serial, 5_000, 'the fixed material');
  assert.ok(mgr.current(MCHID).version > good.version);
  assert.equal(mgr.current(MCHID).merchantCertificate?.serialNumber.replace(/^0+/, '').toUpperCase(), other.serial);
});

test('start() refuses invalid material; sources: env, secret store, inline; reload() and SIGHUP hook', async (t) => {
  const { fake, merchant1 } = await setup(t);
  const store = new InMemorySecretStore({ key: merchant1.keyPem, cert: merchant1.certPem });
  process.env['WXSEAL_TEST_APIV3'] = APIV3_KEY;
  t.after(() => delete process.env['WXSEAL_TEST_APIV3']);
  const mgr = new CertificateManager({
    merchants: [{ mchid: MCHID, privateKey: { secret: 'key' }, certificate: { secret: 'cert' }, apiV3Key: { env: 'WXSEAL_TEST_APIV3' } }],
    secretStore: store,
    baseUrl: fake.url,
  });
  t.after(() => mgr.close());
  await mgr.start();
  assert.equal(mgr.current(MCHID).apiV3Key, APIV3_KEY);
  const m2 = await makeCert();
  fake.merchantKeys.set(m2.serial, m2.certPem);
  store.set('key', m2.keyPem); // half-rotated: key without its certificate
  assert.equal(await mgr.reload(), false);
  assert.equal(mgr.current(MCHID).merchantSerialNo, merchant1.serial);
  store.set('cert', m2.certPem);
  mgr.reloadOnSignal('SIGUSR2');
  process.kill(process.pid, 'SIGUSR2');
  await until(() => mgr.current(MCHID).merchantSerialNo === m2.serial, 5_000, 'reload on signal');

  const bad = new CertificateManager({
    merchants: [{ mchid: MCHID, privateKey: { value: m2.keyPem }, certificate: { value: merchant1.certPem }, apiV3Key: { value: 'short' } }],
    baseUrl: fake.url,
  });
  await assert.rejects(bad.start(), (e) => isCertificateLifecycleError(e, 'WECHATPAY_LIFECYCLE_INVALID_MATERIAL'));
  assert.throws(() => mgr.current('1'), (e) => (e as { code?: string }).code === 'WECHATPAY_BAD_ARGUMENT');
});

test('checkCertificates report: serials, validity, days left, key match, problems', async () => {
  const m = await makeCert({ daysLeft: 20 });
  const other = await makeCert();
  const p = await makeCert({ daysLeft: -2 });
  const r = checkCertificates({ serialNo: m.serial, privateKeyPem: m.keyPem, merchantCertificatePem: m.certPem, platformCertificatePems: [platform.certPem + p.certPem], apiV3Key: APIV3_KEY });
  assert.equal(r.ok, true, r.problems.join());
  assert.equal(r.merchant?.keyMatchesCertificate, true);
  assert.equal(r.merchant?.serialMatchesConfig, true);
  assert.ok(r.merchant!.daysLeft >= 19 && r.merchant!.daysLeft <= 20);
  assert.deepEqual(r.platform.map((x) => x.serial).sort(), [platform.serial, p.serial].sort());
  assert.ok(r.warnings.some((w) => /expires in/.test(w)));
  const bad = checkCertificates({ serialNo: 'ABC', privateKeyPem: other.keyPem, merchantCertificatePem: m.certPem, apiV3Key: 'x' });
  assert.equal(bad.ok, false);
  assert.equal(bad.merchant?.keyMatchesCertificate, false);
  assert.equal(bad.problems.length, 3, bad.problems.join(' | '));
});
