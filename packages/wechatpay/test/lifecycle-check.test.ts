// checkCertificates (behind `wxseal pay certs check`): a check with nothing to check is not ok,
// and a good report says exactly what was checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCertificates } from '../src/lifecycle/index.js';
import { APIV3_KEY, makeCert } from './lifecycle-helpers/certs.js';

const merchant = await makeCert({ cn: 'merchant', daysLeft: 400 });
const P1 = await makeCert({ cn: 'platform 1', daysLeft: 40 });
const P2 = await makeCert({ cn: 'platform 2', daysLeft: 900 });
const pub = await makeCert({ cn: 'wechatpay public key' });

test('nothing given, or a private key / serial / APIv3 key alone: not ok, "nothing to check"', () => {
  for (const input of [{}, { privateKeyPem: merchant.keyPem }, { serialNo: merchant.serial, mchid: '1900000109' }, { apiV3Key: APIV3_KEY }, { platformCertificatePems: [] }]) {
    const r = checkCertificates(input);
    assert.equal(r.ok, false, JSON.stringify(Object.keys(input)));
    assert.ok(r.problems.some((p) => /^nothing to check/.test(p)), r.problems.join(' | '));
  }
});

test('a good report lists what was checked: key matches certificate, serial, platform certificates with the nearest expiry', () => {
  const r = checkCertificates({ serialNo: merchant.serial, privateKeyPem: merchant.keyPem, merchantCertificatePem: merchant.certPem, platformCertificatePems: [P2.certPem, P1.certPem], apiV3Key: APIV3_KEY });
  assert.equal(r.ok, true, r.problems.join());
  assert.ok(r.checked.includes(`merchant private key matches merchant certificate ${merchant.serial}`), r.checked.join(' | '));
  assert.ok(r.checked.includes(`serial_no ${merchant.serial} is the merchant certificate's serial`));
  assert.ok(r.checked.some((c) => c.startsWith(`merchant certificate ${merchant.serial} valid until`)));
  const platform = r.checked.find((c) => c.startsWith('2 platform certificates valid'));
  assert.ok(platform, r.checked.join(' | '));
  assert.match(platform, new RegExp(`nearest expiry ${P1.notAfter.toISOString().slice(0, 10)}.*\\(${P1.serial}, (39|40) days left\\)`));
  assert.ok(r.checked.includes('APIv3 key is 32 bytes'));
});

test('a public key alone is something to check; a key without a certificate is only read (warned)', () => {
  const id = 'PUB_KEY_ID_0114232134912410000000000000000001';
  const r = checkCertificates({ privateKeyPem: merchant.keyPem, serialNo: merchant.serial, wechatPayPublicKey: { id, pem: pub.publicKeyPem } });
  assert.equal(r.ok, true, r.problems.join());
  assert.deepEqual(r.checked, [`WeChat Pay public key ${id} is a readable RSA-2048 key`]);
  assert.ok(r.warnings.some((w) => /private key only read, not matched/.test(w)));
  assert.ok(r.warnings.some((w) => /serial_no not checked/.test(w)));
});
