// 国密 (SM) of WeChat Pay API v3 against the vectors published by wechatpay-java's SM extension
// (shangmi-testing: TestConfig, BaseSM2Test, BaseAeadSM4Test and its merchant test key/certificate),
// plus sign → verify round trips and the refusals (typed codes).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sm2CiphertextFromAsn1, sm2GenerateKeyPair, sm2PrivateKeyToPem, sm2PublicKeyToPem } from '@wxseal/gm';
import {
  AEAD_ALGORITHM,
  SIGNATURE_SCHEME,
  SM_AEAD_ALGORITHM,
  SM_SIGNATURE_SCHEME,
  buildAuthorization,
  buildCertificateListBody,
  buildAppPaymentParams,
  buildNotification,
  buildRequestPaymentParams,
  decryptAeadAs,
  MAX_SM2_SENSITIVE_PLAINTEXT_BYTES,
  decryptSensitive,
  encryptSensitive,
  decryptAeadSm4,
  decryptCertificateList,
  encryptAeadSm4,
  isSm2Key,
  isWechatPayError,
  parseAuthorization,
  parseAuthorizationWithScheme,
  parseNotification,
  platformCertificateKey,
  signRequest,
  signResponse,
  sm4KeyFromApiV3Key,
  verifyMessage,
  verifyRequest,
  verifySignature,
} from '../src/index.js';

const code = (c: string) => (e: unknown) => isWechatPayError(e) && e.code === c;

// shangmi-testing/src/main/resources (wechatpay-java): the merchant's SM2 test key and certificate.
const MERCHANT_PRIVATE_KEY = `-----BEGIN PRIVATE KEY-----
MIGTAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBHkwdwIBAQQg/U9Saz5ceDGQhFBM
f/cHIh2+q5Lzvhrb8L2SI4sPUR+gCgYIKoEcz1UBgi2hRANCAAR7zUf3XqGdBMCn
K02nD1fdGz+TN8xd0SQYgbkTQxk5v2mlXva0ZxDH4XJFI9D2Rt1pTSSDl29uhQ1G
Y3j6iy9+
-----END PRIVATE KEY-----`;
const MERCHANT_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIICyTCCAmygAwIBAgIUVOf1ntjfRXDPsUeA6oFS1FpnXuYwDAYIKoEcz1UBg3UF
ADCBjTFHMEUGA1UEAww+U2hlbiBaaGVuIGlUcnVzQ2hpbmEgQ2xhc3MgRW50ZXJw
cmlzZSBTdWJzY3JpYmVyIENBIFNNMiAtIFRlc3QxGDAWBgNVBAsMD+a1i+ivlemD
qOivleeUqDEbMBkGA1UECgwS5aSp6K+a5a6J5L+h6K+V55SoMQswCQYDVQQGEwJD
TjAeFw0yMjA4MDQxMjE0MTlaFw0yMzA5MDMxMjE0MTlaMGsxCzAJBgNVBAYTAkNO
MRswGQYDVQQKDBLlvq7kv6HllYbmiLfns7vnu58xKjAoBgNVBAsMIea3seWcs+W4
guS8n+iNo+enkeaKgOaciemZkOWFrOWPuDETMBEGA1UEAwwKMjQ4MzI4MTc2MTBZ
MBMGByqGSM49AgEGCCqBHM9VAYItA0IABHvNR/deoZ0EwKcrTacPV90bP5M3zF3R
JBiBuRNDGTm/aaVe9rRnEMfhckUj0PZG3WlNJIOXb26FDUZjePqLL36jgcgwgcUw
DAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCBsAwHwYDVR0jBBgwFoAUK0Y6T9Ge
LM7UH4bC1j2avycoZPcwHQYDVR0OBBYEFBmE5STz2WNsXVrgclXrxsl6SCihMGUG
A1UdHwReMFwwWqBYoFaGVGh0dHA6Ly9ldmNhLml0cnVzLmNvbS5jbi9wdWJsaWMv
aXRydXNjcmw/Q0E9NzMzNUExQUYzNzRBMUU4QjQwM0FCMUFDMkQwNjVDQUU3NUNB
QjIzNjAMBggqgRzPVQGDdQUAA0kAMEYCIQDK0r6D8VyiUVMfRnAfz40ZtiG8DJEF
6Rn41oZ3qPW1aQIhAKtn5sKME+thLQFeyV70VSsraZ7h9Fccal2WzI2oCdtY
-----END CERTIFICATE-----`;
const SERIAL = '54E7F59ED8DF4570CFB14780EA8152D45A675EE6';
const API_V3_KEY = 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb';
// The certificate is valid 2022-08-04 .. 2023-09-03: verify at a time inside it.
const NOW = Date.UTC(2023, 0, 1) / 1000;

describe('wechatpay-java shangmi BaseSM2Test (SM2-with-SM3, ID 1234567812345678, base64 DER)', () => {
  test('the published signature of "message" verifies with the merchant certificate; another message does not', () => {
    const SIGN = 'MEYCIQD35Rp3CKt7pLme/a0GaCVmwSeOl7X/12+ppRivcJuf6QIhAO5Vpy4tSk9SJUrgH5I5Qy0aYhFG9lN0aof1f5wJOI05';
    assert.equal(verifyMessage('message', SIGN, MERCHANT_CERTIFICATE), true);
    assert.equal(verifyMessage('false-message', SIGN, MERCHANT_CERTIFICATE), false);
  });
  test('the keys are recognised as SM2; the certificate serial is TestConfig.MERCHANT_CERTIFICATE_SERIAL_NUMBER', () => {
    assert.equal(isSm2Key(createPrivateKey(MERCHANT_PRIVATE_KEY)), true);
    assert.equal(platformCertificateKey(MERCHANT_CERTIFICATE).serial, SERIAL);
  });
  test('request signing: WECHATPAY2-SM2-WITH-SM3 Authorization that verifyRequest accepts when SM is allowed', () => {
    const body = '{"appid":"wx1234567890abcdef"}';
    const signed = signRequest({ mchid: '1234567891', serialNo: SERIAL, privateKey: MERCHANT_PRIVATE_KEY, method: 'POST', url: '/v3/pay/transactions/jsapi', body, timestamp: NOW });
    assert.ok(signed.authorization.startsWith(`${SM_SIGNATURE_SCHEME} `));
    const base = { authorization: signed.authorization, method: 'POST', url: '/v3/pay/transactions/jsapi', body, resolveKey: () => MERCHANT_CERTIFICATE, nowSeconds: NOW };
    assert.equal(verifyRequest({ ...base, schemes: [SM_SIGNATURE_SCHEME] }).serial_no, SERIAL);
    // RSA only (the default): the SM scheme is unsupported.
    assert.throws(() => verifyRequest(base), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
    // Another body, or the SM scheme presented with an RSA-scheme header: refused.
    assert.throws(() => verifyRequest({ ...base, body: body.replace('wx', 'wy'), schemes: [SM_SIGNATURE_SCHEME] }), code('WECHATPAY_BAD_SIGNATURE'));
    const { params } = parseAuthorizationWithScheme(signed.authorization);
    const asRsa = buildAuthorization(params);
    assert.throws(() => verifyRequest({ ...base, authorization: asRsa, schemes: [SIGNATURE_SCHEME, SM_SIGNATURE_SCHEME] }), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
    // WeChat documents no SM2 paySign (signType "RSA" only): refused by code, with the reason.
    assert.throws(
      () => buildRequestPaymentParams({ appId: 'wx1234567890abcdef', prepayId: 'wx2014', privateKey: MERCHANT_PRIVATE_KEY }),
      (e: unknown) => code('WECHATPAY_UNSUPPORTED_ALGORITHM')(e) && /documents no SM2/.test((e as Error).message) && /仅支持RSA/.test((e as Error).message),
    );
    assert.throws(
      () => buildAppPaymentParams({ appId: 'wx1234567890abcdef', partnerId: '1234567891', prepayId: 'wx2014', privateKey: MERCHANT_PRIVATE_KEY }),
      (e: unknown) => code('WECHATPAY_UNSUPPORTED_ALGORITHM')(e) && /documents no SM2/.test((e as Error).message),
    );
    // The strict RSA parser keeps refusing the SM scheme.
    assert.throws(() => parseAuthorization(signed.authorization), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
  });
  test('response signing and verification with an SM certificate; tampering and type confusion refused', () => {
    const body = '{"prepay_id":"wx201410272009395522657a690389285100"}';
    const headers = signResponse({ body, privateKey: MERCHANT_PRIVATE_KEY, serial: SERIAL, timestamp: NOW });
    assert.equal(headers['Wechatpay-Signature-Type'], SM_SIGNATURE_SCHEME);
    const keys = [platformCertificateKey(MERCHANT_CERTIFICATE)];
    const v = verifySignature({ headers, body, keys, nowSeconds: NOW });
    assert.equal(v.scheme, SM_SIGNATURE_SCHEME);
    assert.throws(() => verifySignature({ headers, body: `${body} `, keys, nowSeconds: NOW }), code('WECHATPAY_BAD_SIGNATURE'));
    assert.throws(() => verifySignature({ headers: { ...headers, 'Wechatpay-Signature-Type': SIGNATURE_SCHEME }, body, keys, nowSeconds: NOW }), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
    const { 'Wechatpay-Signature-Type': _omitted, ...untyped } = headers;
    assert.equal(verifySignature({ headers: untyped, body, keys, nowSeconds: NOW }).scheme, SM_SIGNATURE_SCHEME);
    assert.throws(() => verifySignature({ headers: { ...headers, 'Wechatpay-Signature': 'MEUCIQ==' }, body, keys, nowSeconds: NOW }), code('WECHATPAY_BAD_SIGNATURE'));
  });
});

describe('wechatpay-java shangmi BaseAeadSM4Test (AEAD_SM4_GCM, key = SM3(APIv3 key)[0..16))', () => {
  const input = { ciphertext: '+lcLNfkZQQx+iQm20Apa3x9Mb/5L7PgZ7w==', nonce: 'uluk4a9R25RW', associated_data: 'associatedData' };
  test('the published ciphertext decrypts to "plaintext"; encryption gives it back', () => {
    assert.equal(sm4KeyFromApiV3Key(Buffer.from(API_V3_KEY)).length, 16);
    assert.equal(decryptAeadSm4(API_V3_KEY, input), 'plaintext');
    assert.equal(decryptAeadAs(SM_AEAD_ALGORITHM, API_V3_KEY, input), 'plaintext');
    assert.deepEqual(encryptAeadSm4(API_V3_KEY, { plaintext: 'plaintext', nonce: input.nonce, associated_data: input.associated_data }), input);
  });
  test('the published tampered ciphertext, another key, nonce or AAD fail (WECHATPAY_DECRYPT_FAILED)', () => {
    assert.throws(() => decryptAeadSm4(API_V3_KEY, { ...input, ciphertext: '+lcLNfkZQQx+iQm20Apa3x9Mb/5L7PgZ8w==' }), code('WECHATPAY_DECRYPT_FAILED'));
    assert.throws(() => decryptAeadSm4('b'.repeat(32), input), code('WECHATPAY_DECRYPT_FAILED'));
    assert.throws(() => decryptAeadSm4(API_V3_KEY, { ...input, nonce: 'uluk4a9R25RX' }), code('WECHATPAY_DECRYPT_FAILED'));
    assert.throws(() => decryptAeadSm4(API_V3_KEY, { ...input, associated_data: 'associatedDatA' }), code('WECHATPAY_DECRYPT_FAILED'));
    // Under AES-256-GCM the same fields do not authenticate either.
    assert.throws(() => decryptAeadAs(AEAD_ALGORITHM, API_V3_KEY, input), code('WECHATPAY_DECRYPT_FAILED'));
    assert.throws(() => decryptAeadAs('AEAD_SM4_CCM', API_V3_KEY, input), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
  });
});

describe('SM notifications and certificate lists', () => {
  const resource = { out_trade_no: 'sm1', transaction_id: '4200000000000000000000000001', trade_state: 'SUCCESS', amount: { total: 1 } };
  const notify = (extra: Partial<Parameters<typeof buildNotification>[0]> = {}) =>
    buildNotification({ event_type: 'TRANSACTION.SUCCESS', resource, original_type: 'transaction', summary: '支付成功', apiV3Key: API_V3_KEY, privateKey: MERCHANT_PRIVATE_KEY, serial: SERIAL, timestamp: NOW, ...extra });
  const keys = [platformCertificateKey(MERCHANT_CERTIFICATE)];
  test('an SM2-signed notification carries AEAD_SM4_GCM and parses', () => {
    const n = notify();
    assert.equal(n.envelope.resource.algorithm, SM_AEAD_ALGORITHM);
    const p = parseNotification({ headers: n.headers, body: n.body, keys, apiV3Key: API_V3_KEY, nowSeconds: NOW });
    assert.equal(p.verified.scheme, SM_SIGNATURE_SCHEME);
    assert.equal((p.notification.resource as { out_trade_no: string }).out_trade_no, 'sm1');
  });
  test('an SM2-signed notification with an AES resource (algorithm mixing) is refused', () => {
    const n = notify({ algorithm: AEAD_ALGORITHM });
    assert.throws(() => parseNotification({ headers: n.headers, body: n.body, keys, apiV3Key: API_V3_KEY, nowSeconds: NOW }), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
  });
  test('certificate list encrypted with AEAD_SM4_GCM decrypts to the SM certificate; a wrong key fails', () => {
    const body = buildCertificateListBody([MERCHANT_CERTIFICATE], API_V3_KEY, SM_AEAD_ALGORITHM);
    const [c] = decryptCertificateList(body, API_V3_KEY);
    assert.equal(c?.serial, SERIAL);
    assert.equal(isSm2Key(c!.publicKey), true);
    assert.throws(() => decryptCertificateList(body, 'b'.repeat(32)), code('WECHATPAY_DECRYPT_FAILED'));
  });
});

describe('sensitive fields under 国密: SM2, C1C3C2_ASN1, base64 (shangmi guide § 3)', () => {
  test('encrypt to the SM2 certificate, decrypt with the SM2 private key; DER SEQUENCE {x, y, C3, C2}; randomised', () => {
    for (const text of ['张三', '13800138000', '440524188001010014', 'é✓'.repeat(50)]) {
      const c = encryptSensitive(text, MERCHANT_CERTIFICATE);
      const der = Buffer.from(c, 'base64');
      assert.equal(der[0], 0x30, 'ASN.1 SEQUENCE');
      // x, y, C3 (32), C2 (as long as the plaintext): the layout gm reads back.
      const raw = sm2CiphertextFromAsn1(der);
      assert.equal(raw.length, 65 + 32 + Buffer.byteLength(text, 'utf8'));
      assert.equal(decryptSensitive(c, MERCHANT_PRIVATE_KEY), text);
    }
    assert.notEqual(encryptSensitive('张三', MERCHANT_CERTIFICATE), encryptSensitive('张三', MERCHANT_CERTIFICATE));
  });

  test('interoperates with OpenSSL 3 (pkeyutl with the SM2 key): ours → openssl -decrypt, openssl -encrypt → ours', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxseal-sm2-sensitive-'));
    try {
      const keyPath = join(dir, 'key.pem');
      const certPath = join(dir, 'cert.pem');
      writeFileSync(keyPath, MERCHANT_PRIVATE_KEY);
      writeFileSync(certPath, MERCHANT_CERTIFICATE);
      const text = '张三 13800138000';
      writeFileSync(join(dir, 'ours.bin'), Buffer.from(encryptSensitive(text, MERCHANT_CERTIFICATE), 'base64'));
      const plain = execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', keyPath, '-in', join(dir, 'ours.bin')]);
      assert.equal(plain.toString('utf8'), text);

      writeFileSync(join(dir, 'plain.txt'), text);
      execFileSync('openssl', ['pkeyutl', '-encrypt', '-certin', '-inkey', certPath, '-in', join(dir, 'plain.txt'), '-out', join(dir, 'theirs.bin')]);
      const theirs = readFileSync(join(dir, 'theirs.bin'));
      assert.equal(theirs[0], 0x30, 'OpenSSL writes the ASN.1 form too');
      assert.equal(decryptSensitive(theirs.toString('base64'), MERCHANT_PRIVATE_KEY), text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refusals: wrong key, tampering, raw C1C3C2, not base64, RSA ciphertext, empty and oversized plaintext', () => {
    const c = encryptSensitive('13800138000', MERCHANT_CERTIFICATE);
    const other = sm2GenerateKeyPair();
    assert.throws(() => decryptSensitive(c, sm2PrivateKeyToPem(other.privateKeyHex)), code('WECHATPAY_DECRYPT_FAILED'));
    // One byte of C2 (the last byte of the DER) flipped: C3 no longer matches.
    const t = Buffer.from(c, 'base64');
    t[t.length - 1] = (t[t.length - 1] ?? 0) ^ 1;
    assert.throws(() => decryptSensitive(t.toString('base64'), MERCHANT_PRIVATE_KEY), code('WECHATPAY_DECRYPT_FAILED'));
    // The raw C1‖C3‖C2 layout is not what WeChat Pay specifies (C1C3C2_ASN1): refused, not guessed.
    const raw = sm2CiphertextFromAsn1(Buffer.from(c, 'base64'));
    assert.throws(() => decryptSensitive(raw.toString('base64'), MERCHANT_PRIVATE_KEY), code('WECHATPAY_DECRYPT_FAILED'));
    // Trailing bytes after the DER SEQUENCE.
    assert.throws(() => decryptSensitive(Buffer.concat([Buffer.from(c, 'base64'), Buffer.from([0])]).toString('base64'), MERCHANT_PRIVATE_KEY), code('WECHATPAY_DECRYPT_FAILED'));
    assert.throws(() => decryptSensitive('not base64!', MERCHANT_PRIVATE_KEY), code('WECHATPAY_MALFORMED'));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    assert.throws(() => decryptSensitive(encryptSensitive('x', rsa.publicKey), MERCHANT_PRIVATE_KEY), code('WECHATPAY_DECRYPT_FAILED'));
    // An SM2 ciphertext given to an RSA key: the RSA path refuses it too.
    assert.throws(() => decryptSensitive(c, rsa.privateKey), code('WECHATPAY_DECRYPT_FAILED'));
    assert.throws(() => encryptSensitive('', MERCHANT_CERTIFICATE), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => encryptSensitive('x'.repeat(MAX_SM2_SENSITIVE_PLAINTEXT_BYTES + 1), sm2PublicKeyToPem(other.publicKeyHex)), code('WECHATPAY_BAD_ARGUMENT'));
    assert.equal(decryptSensitive(encryptSensitive('x'.repeat(MAX_SM2_SENSITIVE_PLAINTEXT_BYTES), sm2PublicKeyToPem(other.publicKeyHex)), sm2PrivateKeyToPem(other.privateKeyHex)).length, MAX_SM2_SENSITIVE_PLAINTEXT_BYTES);
  });
});
