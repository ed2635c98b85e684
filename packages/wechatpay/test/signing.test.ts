// Request signing, the Authorization header builder/parser and the mock-side request check.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  buildAuthorization,
  buildRequestMessage,
  generateNonce,
  parseAuthorization,
  requestTargetOf,
  signRequest,
  verifyRequest,
  type AuthorizationParams,
} from '@wxseal/wechatpay';
import { code, javaKeys } from './helpers.js';

const m = javaKeys.merchant;
const NOW = 1_700_000_000;
const resolveKey = (mchid: string, serial: string) => (mchid === m.mchid && serial === m.serial ? m.certificatePem : undefined);

describe('request message and nonce', () => {
  test('the documented example message', () => {
    assert.equal(
      buildRequestMessage({ method: 'GET', url: '/v3/certificates', timestamp: 1554208460, nonce: '593BEC0C930BF1AFEB40B4A08C8FB242' }),
      'GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n',
    );
  });
  test('nonces are 32 characters of [0-9A-Za-z] and differ', () => {
    const a = generateNonce();
    assert.match(a, /^[0-9A-Za-z]{32}$/);
    assert.notEqual(a, generateNonce());
    assert.equal(generateNonce(16).length, 16);
    assert.throws(() => generateNonce(0), code('WECHATPAY_BAD_ARGUMENT'));
  });
  test('requestTargetOf gives path + query as fetch sends them', () => {
    assert.equal(requestTargetOf('https://api.mch.weixin.qq.com/v3/pay/transactions/id/42?mchid=1900000001'), '/v3/pay/transactions/id/42?mchid=1900000001');
    assert.equal(requestTargetOf(new URL('https://api.mch.weixin.qq.com/v3/x?a=中文#frag')), '/v3/x?a=%E4%B8%AD%E6%96%87');
  });
  test('bad arguments', () => {
    const base = { method: 'GET', url: '/v3/x', timestamp: 1, nonce: 'n' };
    assert.throws(() => buildRequestMessage({ ...base, method: 'get' }), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => buildRequestMessage({ ...base, url: 'https://api.mch.weixin.qq.com/v3/x' }), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => buildRequestMessage({ ...base, url: '/v3/x\nGET' }), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => buildRequestMessage({ ...base, url: '/v3/x#f' }), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => buildRequestMessage({ ...base, timestamp: -1 }), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => buildRequestMessage({ ...base, timestamp: '12a' }), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => buildRequestMessage({ ...base, nonce: 'a b' }), code('WECHATPAY_BAD_ARGUMENT'));
    assert.throws(() => buildRequestMessage({ ...base, nonce: '' }), code('WECHATPAY_BAD_ARGUMENT'));
  });
});

describe('Authorization header', () => {
  const params: AuthorizationParams = { mchid: '1900009191', nonce_str: '593BEC0C930BF1AFEB40B4A08C8FB242', signature: 'uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc6p0ldN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WzsXUrExwVkI1XO5jCNbgDJ25nkT/c1gIFvqoogl7MdSFGc4W4xZsqCItnqbypR3RuGIlR9h9vlRsy7zJR9PBI83X8alLDIfR1ukt1P7tMnmogZ0cuDY8cZsd8ZlCgLadmvej58SLsIkVxFJ8XmUgwPDDJ0Vg5TP0/9D7bJ7D2/sxA5OlUwuEvvvZ8OCnC6uJ5ew==', timestamp: '1554208460', serial_no: '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C' };
  const canonical = `WECHATPAY2-SHA256-RSA2048 mchid="${params.mchid}",nonce_str="${params.nonce_str}",signature="${params.signature}",timestamp="${params.timestamp}",serial_no="${params.serial_no}"`;

  test('build gives the documented layout; parse inverts it', () => {
    assert.equal(buildAuthorization(params), canonical);
    assert.deepEqual(parseAuthorization(canonical), params);
  });
  test('any parameter order and optional spaces after commas are accepted', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(['mchid', 'nonce_str', 'signature', 'timestamp', 'serial_no'] as const, { minLength: 5, maxLength: 5 }), fc.constantFrom(',', ', ', ' ,\t'), (order, sep) => {
        const h = `WECHATPAY2-SHA256-RSA2048 ${order.map((k) => `${k}="${params[k]}"`).join(sep)}`;
        assert.deepEqual(parseAuthorization(h), params);
      }),
      { numRuns: 60 },
    );
  });
  test('malformed headers are refused', () => {
    const bad = [
      canonical.replace('WECHATPAY2-SHA256-RSA2048 ', ''),
      canonical.replace('WECHATPAY2-SHA256-RSA2048 ', 'WECHATPAY2-SHA256-RSA2048  '),
      canonical.replace(',serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"', ''),
      `${canonical},mchid="1900009191"`,
      `${canonical},extra="1"`,
      canonical.replace('mchid="1900009191"', 'mchid=1900009191'),
      canonical.replace('mchid="1900009191"', 'mchid="19000x9191"'),
      canonical.replace('timestamp="1554208460"', 'timestamp="-1"'),
      canonical.replace('serial_no="1DDE', 'serial_no="ZZDE'),
      canonical.replace('signature="uOVR', 'signature="u"OVR'),
      canonical.replace('nonce_str="593B', 'nonce_str="59 3B'),
      `${canonical},`,
      `${canonical}${' '.repeat(3000)}`,
    ];
    for (const h of bad) assert.throws(() => parseAuthorization(h), code('WECHATPAY_MALFORMED'), h.slice(0, 80));
    // Any other scheme token (also a case variant: the scheme is compared exactly) is unsupported.
    for (const scheme of ['WECHATPAY2-SM2-WITH-SM3', 'wechatpay2-sha256-rsa2048', 'Bearer']) {
      assert.throws(() => parseAuthorization(canonical.replace('WECHATPAY2-SHA256-RSA2048', scheme)), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
    }
  });
  test('property: build ∘ parse is the identity on valid parameters', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9]{1,32}$/),
        fc.stringMatching(/^[0-9A-Za-z]{1,64}$/),
        fc.uint8Array({ minLength: 1, maxLength: 512 }).map((b) => Buffer.from(b).toString('base64')),
        fc.integer({ min: 0, max: 99_999_999_999 }).map(String),
        fc.stringMatching(/^[0-9A-F]{1,64}$/),
        (mchid, nonce_str, signature, timestamp, serial_no) => {
          const p = { mchid, nonce_str, signature, timestamp, serial_no };
          assert.deepEqual(parseAuthorization(buildAuthorization(p)), p);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('verifyRequest (what WeChat Pay does with a merchant request; for the mock)', () => {
  const sign = (over: Partial<Parameters<typeof signRequest>[0]> = {}) =>
    signRequest({ mchid: m.mchid, serialNo: m.serial, privateKey: m.privateKeyPem, method: 'POST', url: '/v3/pay/transactions/jsapi', body: '{"amount":{"total":1}}', timestamp: NOW, ...over });

  test('a signed request verifies and returns its parameters', () => {
    const r = sign();
    const p = verifyRequest({ authorization: r.authorization, method: 'POST', url: '/v3/pay/transactions/jsapi', body: '{"amount":{"total":1}}', resolveKey, nowSeconds: NOW });
    assert.equal(p.nonce_str, r.nonce);
    assert.equal(p.signature, r.signature);
  });
  test('GET with query: the query is part of the message', () => {
    const r = sign({ method: 'GET', url: '/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1230000109', body: undefined });
    verifyRequest({ authorization: r.authorization, method: 'GET', url: '/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1230000109', resolveKey, nowSeconds: NOW });
    assert.throws(
      () => verifyRequest({ authorization: r.authorization, method: 'GET', url: '/v3/pay/transactions/out-trade-no/1217752501201407033233368018', resolveKey, nowSeconds: NOW }),
      code('WECHATPAY_BAD_SIGNATURE'),
    );
  });
  test('wrong method, body, stale timestamp, unknown serial', () => {
    const r = sign();
    const base = { authorization: r.authorization, method: 'POST', url: '/v3/pay/transactions/jsapi', body: '{"amount":{"total":1}}', resolveKey, nowSeconds: NOW };
    assert.throws(() => verifyRequest({ ...base, method: 'PUT' }), code('WECHATPAY_BAD_SIGNATURE'));
    assert.throws(() => verifyRequest({ ...base, body: '{"amount":{"total":100}}' }), code('WECHATPAY_BAD_SIGNATURE'));
    assert.throws(() => verifyRequest({ ...base, nowSeconds: NOW + 301 }), code('WECHATPAY_TIMESTAMP_EXPIRED'));
    assert.throws(() => verifyRequest({ ...base, resolveKey: () => undefined }), code('WECHATPAY_UNKNOWN_SERIAL'));
    assert.throws(() => verifyRequest({ ...base, authorization: 'Bearer x' }), code('WECHATPAY_UNSUPPORTED_ALGORITHM'));
  });
});
