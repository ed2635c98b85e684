// The 国密 functions of the API security scheme (SM4_GCM + SM2withSM3) against an answer signed by
// OpenSSL 3 (`openssl dgst -sm3 -sign key.pem -sigopt distid:1234567812345678`, a second SM2
// implementation) with a self-signed SM2 certificate as the platform certificate; SM2 key import
// from PEM (PKCS#8, SEC1), hex and certificates; algorithm selection in MpClient.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sm2GenerateKeyPair } from '@wxseal/gm';
import {
  WechatApiSecurityError,
  buildEncryptedRequest,
  createMpClient,
  decryptResponse,
  openEnvelopeSm4,
  sealEnvelopeSm4,
  signRequestSm2,
  sm2PrivateKeyHexOf,
  sm2PublicKeyHexOf,
  sm2PublicKeyPem,
  verifyRequestSignatureSm2,
  verifyResponseSignature,
} from '@wxseal/wechat';

// Fixture: SM2 key and self-signed SM2/SM3 certificate made with OpenSSL 3.0 for this test.
const KEY_PKCS8 = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgBfKvZqSnjKP/OrQb
NwDe7sTLQLIJsmaDsjFUw2FVX22hRANCAASaMmo60oWzAYzddtGwdnHYLdemN6Ri
JvmknUN7belIfi1f3rD9uE/ObSlUVcN13GPAL7IGGefKNL+r7cAHDp+w
-----END PRIVATE KEY-----
`;
const CERT = `-----BEGIN CERTIFICATE-----
MIIBbTCCAROgAwIBAgIUH4D49Gf39i9LXTV+xH0sn7xUr4owCgYIKoEcz1UBg3Uw
DDEKMAgGA1UEAwwBdDAeFw0yNjEyMDYyMDM2MzBaFw0yNjEyMTYyMDM2MzBaMAwx
CjAIBgNVBAMMAXQwWTATBgcqhkjOPQIBBggqgRzPVQGCLQNCAASaMmo60oWzAYzd
dtGwdnHYLdemN6RiJvmknUN7belIfi1f3rD9uE/ObSlUVcN13GPAL7IGGefKNL+r
7cAHDp+wo1MwUTAdBgNVHQ4EFgQU87tgLCdnbLa6LO3xs3Xuor3y4p8wHwYDVR0j
BBgwFoAU87tgLCdnbLa6LO3xs3Xuor3y4p8wDwYDVR0TAQH/BAUwAwEB/zAKBggq
gRzPVQGDdQNIADBFAiA27qPpAceszNlWKBI6BsJ4sm1AKjPJtz6Wqn/LCS+BPwIh
AIZ3SArJismJJguiNwD1MZJqgnXdt4lQADhyI7oJxGHZ
-----END CERTIFICATE-----
`;
const PRIVATE_HEX = '05f2af66a4a78ca3ff3ab41b3700deeec4cb40b209b26683b23154c361555f6d';
const PUBLIC_HEX =
  '049a326a3ad285b3018cdd76d1b07671d82dd7a637a46226f9a49d437b6de9487e2d5fdeb0fdb84fce6d295455c375dc63c02fb20619e7ca34bfabedc0070e9fb0';

// An answer: SM4-GCM under a 16-byte key with AAD urlpath|appid|timestamp|sn, signed by OpenSSL over
// `urlpath\nappid\ntimestamp\nbody` with the default ID 1234567812345678.
const URL_PATH = 'https://api.weixin.qq.com/wxa/getuserriskrank';
const APPID = 'wxba6223c06417af7b';
const TS = 1635927956;
const SYM_SN = 'fa05fe1e5bcc79b81ad5ad4b58acf787';
const SYM_KEY = 'ABEiM0RVZneImaq7zN3u/w==';
const BODY =
  '{"iv":"r2WDQt56rEAmMuoR","data":"EhLuimYlVsG31W6sKbBDO/wp8MrWbbVGZYu3tZZoMGKSGP36whbXWyP0ME3PxBDnt6Iw2WnSIkFHjZ8k1oPAE2l48XGG0m+V2abMhxZr51fzY9G+3JO0d8Nh3WPNuT3DaqMMZRgrhUc3uExVmxx4fzRlt7MlDwEw3E/WBUuCHUYlFm+5YvEOUlyLMge7wTlYpHgCMFhnUQM2YAKJdJxf","authtag":"rrt3BqfMrOu4K4x+67kF2A=="}';
const OPENSSL_SIGNATURE = 'MEYCIQCMJbZ938QNLIld+6nmk036hIGyBCOtqxlleK4i7zvwkAIhALvSBavV9mdGJEFZAohUeX7osWjDKhD9JXh5uP7IIZqb';
const HEADERS = { 'Wechatmp-Appid': APPID, 'Wechatmp-TimeStamp': String(TS), 'Wechatmp-Serial': 'sm2-platform-1', 'Wechatmp-Signature': OPENSSL_SIGNATURE };

const code = (c: string) => (e: unknown) => e instanceof WechatApiSecurityError && e.code === c;

describe('API security, SM4_GCM + SM2withSM3 (functions)', () => {
  test('SM2 keys from PKCS#8 PEM, SEC1 (hex), certificate and SPKI PEM agree', () => {
    assert.equal(sm2PrivateKeyHexOf(KEY_PKCS8), PRIVATE_HEX);
    assert.equal(sm2PublicKeyHexOf(CERT), PUBLIC_HEX);
    assert.equal(sm2PublicKeyHexOf(KEY_PKCS8), PUBLIC_HEX);
    assert.equal(sm2PublicKeyHexOf(PRIVATE_HEX), PUBLIC_HEX);
    assert.equal(sm2PublicKeyHexOf(sm2PublicKeyPem(PUBLIC_HEX)), PUBLIC_HEX);
  });

  test('an OpenSSL SM2 signature verifies against the SM2 certificate; the SM4-GCM answer decrypts', () => {
    const v = verifyResponseSignature({ urlPath: URL_PATH, appid: APPID, headers: HEADERS, body: BODY, certificates: { 'sm2-platform-1': CERT }, asymmetricAlgorithm: 'SM2withSM3' });
    assert.deepEqual(v, { timestamp: TS, serial: 'sm2-platform-1', deprecated: false });
    const dec = decryptResponse({ urlPath: URL_PATH, appid: APPID, timestamp: TS, symKey: SYM_KEY, symSn: SYM_SN, body: BODY, nowSeconds: TS, symmetricAlgorithm: 'SM4_GCM' });
    assert.deepEqual(dec.data, { errcode: 0, errmsg: 'getuserriskrank succ', risk_rank: 0, unoin_id: 2258658297 });
  });

  test('another user ID, a flipped signature or an altered body: WXMP_BAD_SIGNATURE; an SM2 certificate read as RSA: WXMP_INVALID_ARGUMENT', () => {
    const base = { urlPath: URL_PATH, appid: APPID, headers: HEADERS, body: BODY, certificates: { 'sm2-platform-1': CERT }, asymmetricAlgorithm: 'SM2withSM3' as const };
    assert.throws(() => verifyResponseSignature({ ...base, sm2UserId: 'fa05fe1e5bcc79b81ad5ad4b58acf787' }), code('WXMP_BAD_SIGNATURE'));
    const flipped = OPENSSL_SIGNATURE.slice(0, 20) + (OPENSSL_SIGNATURE[20] === 'A' ? 'B' : 'A') + OPENSSL_SIGNATURE.slice(21);
    assert.throws(() => verifyResponseSignature({ ...base, headers: { ...HEADERS, 'Wechatmp-Signature': flipped } }), code('WXMP_BAD_SIGNATURE'));
    assert.throws(() => verifyResponseSignature({ ...base, body: BODY.replace('"iv":"r', '"iv":"s') }), code('WXMP_BAD_SIGNATURE'));
    assert.throws(() => verifyResponseSignature({ ...base, asymmetricAlgorithm: 'RSAwithSHA256' }), code('WXMP_INVALID_ARGUMENT'));
  });

  test('SM4-GCM: altered data, tag or AAD → WXMP_DECRYPT_FAILED; a 32-byte key → WXMP_INVALID_ARGUMENT', () => {
    const aad = `${URL_PATH}|${APPID}|${TS}|${SYM_SN}`;
    const env = JSON.parse(BODY) as { iv: string; data: string; authtag: string };
    assert.match(openEnvelopeSm4(SYM_KEY, env, aad), /getuserriskrank succ/);
    assert.throws(() => openEnvelopeSm4(SYM_KEY, { ...env, data: `B${env.data.slice(1)}` }, aad), code('WXMP_DECRYPT_FAILED'));
    assert.throws(() => openEnvelopeSm4(SYM_KEY, { ...env, authtag: `A${env.authtag.slice(1)}` }, aad), code('WXMP_DECRYPT_FAILED'));
    assert.throws(() => openEnvelopeSm4(SYM_KEY, env, `${aad}x`), code('WXMP_DECRYPT_FAILED'));
    assert.throws(() => sealEnvelopeSm4(Buffer.alloc(32), Buffer.alloc(12), aad, '{}'), code('WXMP_INVALID_ARGUMENT'));
  });

  test('request: SM4_GCM envelope and SM2 signature (base64 DER), verified as WeChat would', () => {
    const kp = sm2GenerateKeyPair();
    const symKey = Buffer.alloc(16, 9);
    const req = buildEncryptedRequest({ urlPath: URL_PATH, appid: APPID, timestamp: TS, symKey, symSn: SYM_SN, params: { openid: 'o1' }, symmetricAlgorithm: 'SM4_GCM' });
    assert.deepEqual(JSON.parse(openEnvelopeSm4(symKey, req.body, req.aad)), JSON.parse(req.plaintext));
    const sig = signRequestSm2({ urlPath: URL_PATH, appid: APPID, timestamp: TS, body: req.body, privateKey: kp.privateKeyHex });
    assert.equal(Buffer.from(sig, 'base64')[0], 0x30);
    verifyRequestSignatureSm2({ urlPath: URL_PATH, appid: APPID, timestamp: TS, body: req.body, signature: sig, publicKey: sm2PublicKeyPem(kp.publicKeyHex) });
    assert.throws(() => verifyRequestSignatureSm2({ urlPath: URL_PATH, appid: APPID, timestamp: TS + 1, body: req.body, signature: sig, publicKey: kp.publicKeyHex }), code('WXMP_BAD_SIGNATURE'));
  });

  test('MpClient: SM2withSM3 takes an SM2 key (PEM or hex) and SM2 certificates; bad material is refused', async () => {
    const base = { symKey: SYM_KEY, symSn: SYM_SN, privateKeySn: 'k1', symmetricAlgorithm: 'SM4_GCM' as const, asymmetricAlgorithm: 'SM2withSM3' as const };
    const c = createMpClient({ appid: APPID, apiSecurity: { ...base, privateKey: KEY_PKCS8, platformCertificates: { p1: CERT, p2: PUBLIC_HEX } } });
    assert.deepEqual(c.platformCertificateSerials(), ['p1', 'p2']);
    await c.close();
    const h = createMpClient({ appid: APPID, apiSecurity: { ...base, privateKey: PRIVATE_HEX, platformCertificates: { p1: CERT } } });
    await h.close();
    assert.throws(() => createMpClient({ appid: APPID, apiSecurity: { ...base, privateKey: KEY_PKCS8, platformCertificates: { p1: 'not a key' } } }), code('WXMP_INVALID_ARGUMENT'));
    assert.throws(() => createMpClient({ appid: APPID, apiSecurity: { ...base, symmetricAlgorithm: 'SM9' as never, privateKey: KEY_PKCS8, platformCertificates: { p1: CERT } } }), code('WXMP_INVALID_ARGUMENT'));
  });
});
