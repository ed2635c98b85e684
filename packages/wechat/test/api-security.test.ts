// Known-answer tests from the official worked example of the API-security guide
// (tests/support/fixtures/api-signature-guide.json, which mock-wechat's tests read too), plus
// negative cases.
import assert from 'node:assert/strict';
import { constants, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  WECHAT_API_SECURITY_ERRORS,
  WECHAT_ERRCODES,
  WechatApiError,
  buildAad,
  buildEncryptedRequest,
  buildSigningString,
  decryptResponse,
  openEnvelope,
  sealEnvelope,
  signRequest,
  verifyRequestSignature,
  verifyResponseSignature,
  type WechatApiSecurityErrorCode,
} from '@wxseal/wechat';

const g = JSON.parse(readFileSync(new URL('../../../tests/support/fixtures/api-signature-guide.json', import.meta.url), 'utf8')) as {
  urlPath: string;
  appid: string;
  symmetric: { sn: string; keyBase64: string };
  request: { timestamp: number; params: Record<string, unknown>; nonce: string; iv: string; aad: string; plaintext: string; data: string; authtag: string; body: string; signingString: string; signature: string };
  appKey: { sn: string; privateKeyPem: string };
  platformCert: { sn: string; certificatePem: string };
  response: { timestamp: number; headers: Record<string, string>; body: string; signingString: string; signingStringSha256Hex: string; plaintext: string; data: Record<string, unknown> };
};

const code = (c: WechatApiSecurityErrorCode) => (e: unknown) => (e as { code?: string }).code === c;
const appPublicKey = createPublicKey(createPrivateKey(g.appKey.privateKeyPem));
const certs = { [g.platformCert.sn]: g.platformCert.certificatePem };
const decryptOpts = {
  urlPath: g.urlPath,
  appid: g.appid,
  timestamp: g.response.timestamp,
  symKey: g.symmetric.keyBase64,
  symSn: g.symmetric.sn,
  body: g.response.body,
  nowSeconds: g.response.timestamp,
};
const flip = (b64: string, i = 0) => {
  const b = Buffer.from(b64, 'base64');
  b[i] = (b[i] ?? 0) ^ 0x01;
  return b.toString('base64');
};

describe('official worked example (known answers)', () => {
  test('request encryption with the published IV and _n gives the published body, ciphertext and tag', () => {
    const r = buildEncryptedRequest({
      urlPath: g.urlPath,
      appid: g.appid,
      timestamp: g.request.timestamp,
      symKey: g.symmetric.keyBase64,
      symSn: g.symmetric.sn,
      params: g.request.params,
      nonce: g.request.nonce,
      iv: g.request.iv,
    });
    assert.equal(r.aad, g.request.aad);
    assert.equal(r.plaintext, g.request.plaintext);
    assert.equal(r.envelope.iv, g.request.iv);
    assert.equal(r.envelope.data, g.request.data);
    assert.equal(r.envelope.authtag, g.request.authtag);
    assert.equal(r.body, g.request.body);
    assert.equal(Buffer.byteLength(r.body), 324);
  });

  test('the published request decrypts back to the published plaintext', () => {
    assert.equal(openEnvelope(g.symmetric.keyBase64, g.request.body, g.request.aad), g.request.plaintext);
  });

  test('signing string is the published M (four lines, no trailing newline, no SN)', () => {
    const m = buildSigningString(g.urlPath, g.appid, g.request.timestamp, g.request.body);
    assert.equal(m, g.request.signingString);
    assert.equal(m.split('\n').length, 4);
    assert.ok(!m.endsWith('\n'));
    assert.ok(!m.includes(g.symmetric.sn));
  });

  test('the published request signature verifies with the published application key', () => {
    verifyRequestSignature({ urlPath: g.urlPath, appid: g.appid, timestamp: g.request.timestamp, body: g.request.body, signature: g.request.signature, publicKey: appPublicKey });
  });

  test('signRequest produces a PSS signature that verifies (randomised, so not equal to the published one)', () => {
    const opts = { urlPath: g.urlPath, appid: g.appid, timestamp: g.request.timestamp, body: g.request.body, privateKey: g.appKey.privateKeyPem };
    const s1 = signRequest(opts);
    const s2 = signRequest(opts);
    assert.notEqual(s1, s2);
    verifyRequestSignature({ ...opts, signature: s1, publicKey: appPublicKey });
  });

  test('the response signing string hashes to the published H0', () => {
    const m = buildSigningString(g.urlPath, g.appid, g.response.timestamp, g.response.body);
    assert.equal(m, g.response.signingString);
    assert.equal(createHash('sha256').update(m).digest('hex'), g.response.signingStringSha256Hex);
  });

  test('the published response signature verifies with the published platform certificate', () => {
    const v = verifyResponseSignature({ urlPath: g.urlPath, appid: g.appid, headers: g.response.headers, body: g.response.body, certificates: certs });
    assert.deepEqual(v, { timestamp: g.response.timestamp, serial: g.platformCert.sn, deprecated: false });
  });

  test('the published response decrypts to the published plaintext', () => {
    const r = decryptResponse(decryptOpts);
    assert.equal(r.plaintext, g.response.plaintext);
    assert.deepEqual(r.data, g.response.data);
    assert.equal(r.nonce, 'ShYZpqdVgY+yQVAxNSWhYg');
  });

  test('error table covers 40230–40240', () => {
    for (let c = 40230; c <= 40240; c++) assert.ok(c in WECHAT_API_SECURITY_ERRORS, String(c));
    assert.equal(WECHAT_API_SECURITY_ERRORS[40240].name, 'API_Expired_Wechatmp_Timestamp');
  });

  test("one errcode table: the guide's names beside the stable codes, one meaning each", () => {
    for (let c = 40230; c <= 40240; c++) {
      const code = c as keyof typeof WECHAT_API_SECURITY_ERRORS;
      assert.equal(WECHAT_API_SECURITY_ERRORS[code].name, WECHAT_ERRCODES[code].wechatName, String(c));
      assert.equal(WECHAT_API_SECURITY_ERRORS[code].meaning, WECHAT_ERRCODES[code].meaning, String(c));
    }
    const e = new WechatApiError(40234, 'invalid signature rid: x');
    assert.equal(e.code, 'WECHAT_API_INVALID_SIGNATURE');
    assert.equal(WECHAT_API_SECURITY_ERRORS[40234].name, 'API_Invalid_Signature');
    assert.match(e.message, /^WeChat errcode 40234 API_INVALID_SIGNATURE: invalid signature \(key, salt length or signed string wrong\)/);
  });
});

describe('negative cases', () => {
  const reqVerify = { urlPath: g.urlPath, appid: g.appid, timestamp: g.request.timestamp, body: g.request.body, signature: g.request.signature, publicKey: appPublicKey };

  test('a trailing newline in the signed string fails', () => {
    assert.throws(() => verifyRequestSignature({ ...reqVerify, body: g.request.body + '\n' }), code('WXMP_BAD_SIGNATURE'));
    const withNl = sign('sha256', Buffer.from(g.request.signingString + '\n'), { key: createPrivateKey(g.appKey.privateKeyPem), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }).toString('base64');
    assert.throws(() => verifyRequestSignature({ ...reqVerify, signature: withNl }), code('WXMP_BAD_SIGNATURE'));
  });

  test('the SN inside the signed string fails (WxJava #3915 pitfall)', () => {
    const withSn = sign('sha256', Buffer.from(`${g.urlPath}\n${g.appid}\n${g.request.timestamp}\n${g.symmetric.sn}\n${g.request.body}`), { key: createPrivateKey(g.appKey.privateKeyPem), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }).toString('base64');
    assert.throws(() => verifyRequestSignature({ ...reqVerify, signature: withSn }), code('WXMP_BAD_SIGNATURE'));
  });

  test('PKCS#1 v1.5 instead of PSS fails', () => {
    const v15 = sign('sha256', Buffer.from(g.request.signingString), { key: createPrivateKey(g.appKey.privateKeyPem), padding: constants.RSA_PKCS1_PADDING }).toString('base64');
    assert.throws(() => verifyRequestSignature({ ...reqVerify, signature: v15 }), code('WXMP_BAD_SIGNATURE'));
  });

  test('a wrong timestamp (request instead of response) fails the response signature', () => {
    const headers = { ...g.response.headers, 'Wechatmp-TimeStamp': String(g.request.timestamp) };
    assert.throws(() => verifyResponseSignature({ urlPath: g.urlPath, appid: g.appid, headers, body: g.response.body, certificates: certs }), code('WXMP_BAD_SIGNATURE'));
  });

  test('a signature checked against the wrong certificate fails', () => {
    assert.throws(
      () => verifyResponseSignature({ urlPath: g.urlPath, appid: g.appid, headers: g.response.headers, body: g.response.body, certificates: { [g.platformCert.sn]: appPublicKey } }),
      code('WXMP_BAD_SIGNATURE'),
    );
    // The published request signature does not verify with the platform certificate either.
    assert.throws(() => verifyRequestSignature({ ...reqVerify, publicKey: g.platformCert.certificatePem }), code('WXMP_BAD_SIGNATURE'));
  });

  test('an unknown serial is rejected; the deprecated pair is used when only its certificate is held', () => {
    assert.throws(() => verifyResponseSignature({ urlPath: g.urlPath, appid: g.appid, headers: g.response.headers, body: g.response.body, certificates: {} }), code('WXMP_UNKNOWN_SERIAL'));
    const old = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const oldSig = sign('sha256', Buffer.from(g.response.signingString), { key: old.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }).toString('base64');
    const headers = { ...g.response.headers, 'Wechatmp-Serial-Deprecated': 'old-sn', 'Wechatmp-Signature-Deprecated': oldSig };
    const v = verifyResponseSignature({ urlPath: g.urlPath, appid: g.appid, headers, body: g.response.body, certificates: { 'old-sn': old.publicKey } });
    assert.deepEqual(v, { timestamp: g.response.timestamp, serial: 'old-sn', deprecated: true });
    // the published deprecated signature does not verify with this unrelated key
    assert.throws(() => verifyResponseSignature({ urlPath: g.urlPath, appid: g.appid, headers: { ...g.response.headers, 'Wechatmp-Serial-Deprecated': 'old-sn' }, body: g.response.body, certificates: { 'old-sn': old.publicKey } }), code('WXMP_BAD_SIGNATURE'));
  });

  test('a missing Wechatmp-Signature is rejected', () => {
    const { ['Wechatmp-Signature']: _drop, ...headers } = g.response.headers;
    assert.throws(() => verifyResponseSignature({ urlPath: g.urlPath, appid: g.appid, headers, body: g.response.body, certificates: certs }), code('WXMP_MISSING_HEADER'));
  });

  test('a flipped byte in the tag or the ciphertext fails decryption', () => {
    const env = JSON.parse(g.response.body) as { iv: string; data: string; authtag: string };
    assert.throws(() => decryptResponse({ ...decryptOpts, body: { ...env, authtag: flip(env.authtag) } }), code('WXMP_DECRYPT_FAILED'));
    assert.throws(() => decryptResponse({ ...decryptOpts, body: { ...env, data: flip(env.data, 5) } }), code('WXMP_DECRYPT_FAILED'));
    assert.throws(() => decryptResponse({ ...decryptOpts, body: { ...env, iv: flip(env.iv) } }), code('WXMP_DECRYPT_FAILED'));
    const req = JSON.parse(g.request.body) as { iv: string; data: string; authtag: string };
    assert.throws(() => openEnvelope(g.symmetric.keyBase64, { ...req, data: flip(req.data) }, g.request.aad), code('WXMP_DECRYPT_FAILED'));
  });

  test('decrypting with the request timestamp (wrong AAD) fails', () => {
    assert.throws(() => decryptResponse({ ...decryptOpts, timestamp: g.request.timestamp }), code('WXMP_DECRYPT_FAILED'));
  });

  test('a stale response timestamp is rejected', () => {
    assert.throws(() => decryptResponse({ ...decryptOpts, nowSeconds: g.response.timestamp + 3600 }), code('WXMP_TIMESTAMP_EXPIRED'));
    assert.throws(() => decryptResponse({ ...decryptOpts, nowSeconds: Math.floor(Date.now() / 1000) }), code('WXMP_TIMESTAMP_EXPIRED'));
  });

  const iv = Buffer.alloc(12, 7);
  const seal = (inner: Record<string, unknown>) =>
    sealEnvelope(g.symmetric.keyBase64, iv, buildAad(g.urlPath, g.appid, g.response.timestamp, g.symmetric.sn), JSON.stringify(inner));

  test('a response whose inner _appid is wrong is rejected', () => {
    const body = seal({ _n: 'x', _appid: 'wx0000000000000000', _timestamp: g.response.timestamp, errcode: 0 });
    assert.throws(() => decryptResponse({ ...decryptOpts, body }), code('WXMP_APPID_MISMATCH'));
  });

  test('a response whose inner _timestamp differs from the header is rejected', () => {
    const body = seal({ _n: 'x', _appid: g.appid, _timestamp: g.response.timestamp - 600, errcode: 0 });
    assert.throws(() => decryptResponse({ ...decryptOpts, body }), code('WXMP_TIMESTAMP_MISMATCH'));
    const stringTs = seal({ _n: 'x', _appid: g.appid, _timestamp: String(g.response.timestamp), errcode: 0 });
    assert.throws(() => decryptResponse({ ...decryptOpts, body: stringTs }), code('WXMP_TIMESTAMP_MISMATCH'));
  });

  test('bad inputs are refused', () => {
    const base = { urlPath: g.urlPath, appid: g.appid, timestamp: g.request.timestamp, symKey: g.symmetric.keyBase64, symSn: g.symmetric.sn, params: {} };
    assert.throws(() => buildEncryptedRequest({ ...base, urlPath: g.urlPath + '?access_token=X' }), code('WXMP_INVALID_ARGUMENT'));
    assert.throws(() => buildEncryptedRequest({ ...base, urlPath: '/wxa/getuserriskrank' }), code('WXMP_INVALID_ARGUMENT'));
    assert.throws(() => buildEncryptedRequest({ ...base, symKey: Buffer.alloc(16) }), code('WXMP_INVALID_ARGUMENT'));
    assert.throws(() => buildEncryptedRequest({ ...base, params: { _appid: 'x' } }), code('WXMP_INVALID_ARGUMENT'));
    assert.throws(() => buildEncryptedRequest({ ...base, timestamp: 1.5 }), code('WXMP_INVALID_ARGUMENT'));
    assert.throws(() => decryptResponse({ ...decryptOpts, body: '{"iv":"AAAA","data":"","authtag":""}' }), code('WXMP_MALFORMED_ENVELOPE'));
  });

  test('random IV and nonce by default', () => {
    const base = { urlPath: g.urlPath, appid: g.appid, timestamp: g.request.timestamp, symKey: g.symmetric.keyBase64, symSn: g.symmetric.sn, params: g.request.params };
    const a = buildEncryptedRequest(base);
    const b = buildEncryptedRequest(base);
    assert.notEqual(a.envelope.iv, b.envelope.iv);
    assert.notEqual(a.plaintext, b.plaintext);
    assert.equal(openEnvelope(g.symmetric.keyBase64, a.body, a.aad), a.plaintext);
  });
});
