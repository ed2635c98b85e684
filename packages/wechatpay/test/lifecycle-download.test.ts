// downloadPlatformCertificates: only WeChat Pay's own, verified "no certificates" answer (404
// RESOURCE_NOT_EXISTS, or an empty list, signed by a trusted key) means "public key only"; a
// wrong base URL, a proxy's 404 or an answer signed by a key not held is a typed error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { platformCertificateKey, wechatPayPublicKey } from '@wxseal/wechatpay';
import { CertificateManager, downloadPlatformCertificates, isCertificateLifecycleError } from '../src/lifecycle/index.js';
import { APIV3_KEY, makeCert } from './lifecycle-helpers/certs.js';
import { FakeWechatPay } from './lifecycle-helpers/fake-wechatpay.js';
import { MCHID, collect } from './lifecycle-helpers/setup.js';

const merchant = await makeCert({ cn: 'merchant' });
const A = await makeCert({ cn: 'platform A' });
const pub = await makeCert({ cn: 'wechatpay public key' });
const PUB_ID = 'PUB_KEY_ID_0114232134912410000000000000000001';
const pubSigner = { serial: PUB_ID, keyPem: pub.keyPem };
const pubKey = wechatPayPublicKey(PUB_ID, pub.publicKeyPem);

async function fakeServer(t: import('node:test').TestContext) {
  const fake = new FakeWechatPay(APIV3_KEY);
  await fake.start();
  fake.merchantKeys.set(merchant.serial, merchant.certPem);
  t.after(() => fake.close());
  return fake;
}

const download = (baseUrl: string, extra: Partial<Parameters<typeof downloadPlatformCertificates>[0]> = {}) =>
  downloadPlatformCertificates({ mchid: MCHID, serialNo: merchant.serial, privateKey: merchant.keyPem, apiV3Key: APIV3_KEY, baseUrl, ...extra });

const unverified = (pattern: RegExp) => (e: unknown) => isCertificateLifecycleError(e, 'WECHATPAY_LIFECYCLE_UNVERIFIED_ANSWER') && pattern.test((e as Error).message);

test("a proxy's unsigned 404 \"File not found\" is not taken for a public-key-only merchant", async (t) => {
  const fake = await fakeServer(t);
  fake.mode = 'plain-404';
  await assert.rejects(download(fake.url, { trustedKeys: [pubKey] }), unverified(/HTTP 404 .*no WeChat Pay signature.*base URL/));
});

test('a wrong base URL (a plain server answering 404 to everything) is an error, not "public key only"', async (t) => {
  const plain = createServer((_req, res) => {
    // A stranger's Request-ID is not echoed when it is not a short printable id.
    res.writeHead(404, { 'content-type': 'text/html', 'request-id': 'X'.repeat(4000) }).end('<html><body>404 Not Found</body></html>');
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => plain.close(() => r())));
  const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
  await assert.rejects(download(url), (e) => unverified(/no WeChat Pay signature/)(e) && !(e as Error).message.includes('XXXX'));
  // Even a body that looks like WeChat Pay's does not count without its signature.
  plain.removeAllListeners('request');
  plain.on('request', (_req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"RESOURCE_NOT_EXISTS","message":"forged"}'));
  await assert.rejects(download(url, { trustedKeys: [pubKey] }), unverified(/no WeChat Pay signature/));
});

test('WeChat Pay\'s RESOURCE_NOT_EXISTS signed with the public key, verified with it: empty, signed by PUB_KEY_ID_', async (t) => {
  const fake = await fakeServer(t);
  fake.notFound(pubSigner);
  const r = await download(fake.url, { trustedKeys: [pubKey] });
  assert.equal(r.empty, true);
  assert.deepEqual(r.certificates, []);
  assert.equal(r.signedBy, PUB_ID);
  assert.match(r.requestId ?? '', /^req-/);
});

test('the same answer without the public key to verify it is an error naming what to give', async (t) => {
  const fake = await fakeServer(t);
  fake.notFound(pubSigner);
  await assert.rejects(download(fake.url), unverified(new RegExp(`signed by ${PUB_ID}.*give that public key`)));
});

test('RESOURCE_NOT_EXISTS signed by another key under a trusted id, or not signed at all, is an error', async (t) => {
  const fake = await fakeServer(t);
  const forger = await makeCert({ cn: 'forger' });
  fake.notFound({ serial: PUB_ID, keyPem: forger.keyPem });
  await assert.rejects(download(fake.url, { trustedKeys: [pubKey] }), unverified(/does not verify.*WECHATPAY_BAD_SIGNATURE/));
  fake.notFound(); // 404 RESOURCE_NOT_EXISTS JSON, no signature headers at all
  await assert.rejects(download(fake.url, { trustedKeys: [pubKey] }), unverified(/no WeChat Pay signature/));
});

test('a verified 404 with another code is a download failure, not "public key only"', async (t) => {
  const fake = await fakeServer(t);
  const other = createServer((_req, res) => {
    const body = JSON.stringify({ code: 'NOT_FOUND', message: '请求的资源不存在' });
    res.writeHead(404, { 'content-type': 'application/json', ...fake.answer(body, pubSigner).headers }).end(body);
  });
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => other.close(() => r())));
  await assert.rejects(
    download(`http://127.0.0.1:${(other.address() as AddressInfo).port}`, { trustedKeys: [pubKey] }),
    (e) => isCertificateLifecycleError(e, 'WECHATPAY_LIFECYCLE_DOWNLOAD_FAILED') && /HTTP 404 NOT_FOUND .*not RESOURCE_NOT_EXISTS/.test((e as Error).message),
  );
});

test('an empty list counts only when signed by a trusted key (nothing decrypted vouches for it)', async (t) => {
  const fake = await fakeServer(t);
  fake.serve([], A);
  await assert.rejects(download(fake.url), unverified(/empty certificate list .*does not verify/));
  const r = await download(fake.url, { trustedKeys: [platformCertificateKey(A.certPem)] });
  assert.equal(r.empty, true);
  assert.equal(r.signedBy, A.serial);
});

test('manager: a proxy 404 is a failed download (event), the held material stays', async (t) => {
  const fake = await fakeServer(t);
  fake.serve([A]);
  const mgr = new CertificateManager({
    merchants: [{ mchid: MCHID, privateKey: { value: merchant.keyPem }, certificate: { value: merchant.certPem }, apiV3Key: { value: APIV3_KEY } }],
    baseUrl: fake.url,
    watchFiles: false,
  });
  t.after(() => mgr.close());
  const ev = collect((l) => mgr.onEvent(l));
  await mgr.start();
  const held = mgr.current(MCHID);
  fake.mode = 'plain-404';
  assert.equal(await mgr.refreshPlatformCertificates(MCHID), false);
  assert.equal(ev.of('download-failed').length, 1);
  assert.match(ev.of('download-failed')[0]!.error, /WECHATPAY_LIFECYCLE_UNVERIFIED_ANSWER/);
  assert.equal(ev.of('downloaded').filter((e) => e.empty).length, 0);
  assert.equal(mgr.current(MCHID), held);
});
