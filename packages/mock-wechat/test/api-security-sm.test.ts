// The 国密 variant of the Mini Program API security scheme (console: SM4_GCM + SM2withSM3), client ↔
// mock: MpClient signs with SM2/SM3 and encrypts with SM4-GCM, the mock verifies and decrypts,
// answers sealed and SM2-signed by its SM2 platform key, and the client verifies and decrypts.
// Tampered signatures and ciphertexts are refused on both sides with their typed codes.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  WechatApiSecurityError,
  buildEncryptedRequest,
  createMpClient,
  decryptResponse,
  requestHeaders,
  signRequest,
  signRequestSm2,
  staticAccessToken,
  verifyResponseSignature,
  type MpClient,
} from '@wxseal/wechat';
import { createMockMpApp, startMockWechat, type MockMpApp, type MockWechat } from '@wxseal/mock-wechat';
import { postJson, stableToken, type HttpAnswer } from './helpers.js';

interface SmCallOptions {
  params?: Record<string, unknown>;
  /** Changes the body before it is signed (the signature covers the change). */
  bodyBeforeSigning?: (body: string) => string;
  /** Changes the signature after signing. */
  signature?: (sig: string) => string;
  userId?: string;
  /** Sign with RSA-PSS (with another app's RSA key) instead of SM2. */
  rsaKeyPem?: string;
}

/** One SM4-GCM / SM2withSM3 request built with the client functions of @wxseal/wechat. */
async function smCall(mock: MockWechat, app: MockMpApp, token: string, path: string, o: SmCallOptions = {}): Promise<{ urlPath: string; answer: HttpAnswer }> {
  const c = app.client;
  const urlPath = `${mock.url}${path}`;
  const ts = Math.floor(Date.now() / 1000);
  let body = buildEncryptedRequest({ urlPath, appid: c.appid, timestamp: ts, symKey: c.symKey, symSn: c.symSn, params: o.params ?? { hello: 'world' }, symmetricAlgorithm: 'SM4_GCM' }).body;
  if (o.bodyBeforeSigning) body = o.bodyBeforeSigning(body);
  let signature = o.rsaKeyPem
    ? signRequest({ urlPath, appid: c.appid, timestamp: ts, body, privateKey: o.rsaKeyPem })
    : signRequestSm2({ urlPath, appid: c.appid, timestamp: ts, body, privateKey: c.privateKeyPem, ...(o.userId !== undefined ? { userId: o.userId } : {}) });
  if (o.signature) signature = o.signature(signature);
  const answer = await postJson(`${mock.url}${path}?access_token=${encodeURIComponent(token)}`, body, { ...requestHeaders(c.appid, ts, signature), 'Wechatmp-Serial': c.privateKeySn });
  return { urlPath, answer };
}

/** Flips one base64 character (keeps the string valid base64 of the same length). */
function flipB64(s: string, at = 4): string {
  const ch = s[at] === 'A' ? 'B' : 'A';
  return s.slice(0, at) + ch + s.slice(at + 1);
}

function flipData(body: string): string {
  const env = JSON.parse(body) as { iv: string; data: string; authtag: string };
  return JSON.stringify({ ...env, data: flipB64(env.data, 2) });
}

describe('Mini Program API security, SM4_GCM + SM2withSM3', () => {
  let mock: MockWechat;
  let sm: MockMpApp;
  let rsa: MockMpApp;
  let token: string;
  let client: MpClient;

  before(async () => {
    [sm, rsa] = await Promise.all([createMockMpApp({ symmetricAlgorithm: 'SM4_GCM', asymmetricAlgorithm: 'SM2withSM3' }), createMockMpApp()]);
    mock = await startMockWechat({ apps: [sm.config, rsa.config] });
    token = (await stableToken(mock, sm.client.appid, sm.client.secret)).access_token as string;
    const cfg = sm.clientConfig(mock);
    assert.equal(cfg.symmetricAlgorithm, 'SM4_GCM');
    assert.equal(cfg.asymmetricAlgorithm, 'SM2withSM3');
    assert.equal(Buffer.from(cfg.symKey, 'base64').length, 16, 'an SM4 key is 16 bytes');
    client = createMpClient({
      appid: cfg.appid,
      http: { baseUrl: mock.url, timeoutMs: 5000 },
      accessToken: staticAccessToken(token),
      apiSecurity: {
        symmetricAlgorithm: 'SM4_GCM',
        asymmetricAlgorithm: 'SM2withSM3',
        symKey: cfg.symKey,
        symSn: cfg.symSn,
        privateKey: cfg.privateKeyPem,
        privateKeySn: cfg.privateKeySn,
        platformCertificates: cfg.platformCertificates,
      },
    });
  });
  after(async () => {
    await client.close();
    await mock.close();
  });

  test('MpClient → mock end to end: getuserriskrank and getPhoneNumber, answers verified (SM2) and decrypted (SM4-GCM)', async () => {
    const r = await client.call<{ errmsg: string; risk_rank: number }>('/wxa/getuserriskrank', { appid: sm.client.appid, openid: 'oEWzBfmdLqhFS2mTXCo2E4Y9gJAM', scene: 0, client_ip: '127.0.0.1' });
    assert.equal(r.errmsg, 'getuserriskrank succ');
    assert.ok(Number.isInteger(r.risk_rank) && r.risk_rank >= 0 && r.risk_rank <= 4);
    const [code, fixture] = Object.entries(sm.phoneCodes)[0]!;
    const phone = await client.getPhoneNumber(code);
    assert.equal(phone.phoneNumber, fixture.phoneNumber);
    assert.equal(phone.watermark.appid, sm.client.appid);
    assert.equal(client.stats().rejectedResponses, 0);
    assert.ok(mock.stats.securedRequests >= 2);
  });

  test('the wire: {iv,data,authtag} SM4-GCM body, Wechatmp-* headers as for RSA, base64 DER SM2 signature by the SM2 platform key (certificate PEM)', async () => {
    const call = await smCall(mock, sm, token, '/wxa/some/api', { params: { openid: 'o1', nested: { a: [1, 2] } } });
    assert.equal(call.answer.status, 200);
    const h = call.answer.headers;
    assert.equal(h['wechatmp-appid'], sm.client.appid);
    assert.equal(h['wechatmp-serial'], mock.sm2PlatformSerial());
    assert.match(mock.sm2PlatformCertificates()[mock.sm2PlatformSerial()]!, /^-----BEGIN CERTIFICATE-----/);
    const sigDer = Buffer.from(h['wechatmp-signature']!, 'base64');
    assert.equal(sigDer[0], 0x30, 'DER SEQUENCE (r, s)');
    assert.ok(sigDer.length >= 8 && sigDer.length <= 72);
    const v = verifyResponseSignature({ urlPath: call.urlPath, appid: sm.client.appid, headers: h, body: call.answer.text, certificates: mock.sm2PlatformCertificates(), asymmetricAlgorithm: 'SM2withSM3' });
    const dec = decryptResponse({ urlPath: call.urlPath, appid: sm.client.appid, timestamp: v.timestamp, symKey: sm.client.symKey, symSn: sm.client.symSn, body: call.answer.text, symmetricAlgorithm: 'SM4_GCM' });
    assert.deepEqual(dec.data, { errcode: 0, errmsg: 'ok', data: { openid: 'o1', nested: { a: [1, 2] } } });
    // The same answer read as AES-256-GCM / RSA-PSS does not pass: the algorithms are not interchangeable.
    assert.throws(
      () => decryptResponse({ urlPath: call.urlPath, appid: sm.client.appid, timestamp: v.timestamp, symKey: sm.client.symKey, symSn: sm.client.symSn, body: call.answer.text }),
      (e: unknown) => e instanceof WechatApiSecurityError && e.code === 'WXMP_INVALID_ARGUMENT',
    );
  });

  describe('the mock refuses (plain, unsigned errcode)', () => {
    const cases: Array<[string, SmCallOptions, number]> = [
      ['a tampered SM2 signature', { signature: (s) => flipB64(s, 10) }, 40234],
      ['a signature that is not DER', { signature: () => Buffer.alloc(64, 7).toString('base64') }, 40234],
      ['an SM2 signature under another user ID', { userId: 'ALICE123@YAHOO.COM' }, 40234],
      ['a tampered SM4-GCM ciphertext (signed after the change)', { bodyBeforeSigning: flipData }, 40235],
    ];
    for (const [name, o, errcode] of cases) {
      test(`${name} → ${errcode}`, async () => {
        const call = await smCall(mock, sm, token, '/wxa/some/api', o);
        assert.equal(call.answer.json().errcode, errcode);
        assert.equal(call.answer.headers['wechatmp-signature'], undefined);
      });
    }
    test('an RSA-PSS signature for an SM2withSM3 app → 40234', async () => {
      const call = await smCall(mock, sm, token, '/wxa/some/api', { rsaKeyPem: rsa.client.privateKeyPem });
      assert.equal(call.answer.json().errcode, 40234);
    });
  });

  describe('the client refuses a tampered answer with its typed codes', () => {
    let proxy: Server;
    let tamper: (headers: Record<string, string>, body: string) => { headers: Record<string, string>; body: string } = (h, b) => ({ headers: h, body: b });
    let viaProxy: MpClient;

    before(async () => {
      const target = new URL(mock.url);
      proxy = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const up = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (upRes) => {
            const out: Buffer[] = [];
            upRes.on('data', (c: Buffer) => out.push(c));
            upRes.on('end', () => {
              const headers: Record<string, string> = {};
              for (const [k, v] of Object.entries(upRes.headers)) if (typeof v === 'string' && k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection') headers[k] = v;
              const t = tamper(headers, Buffer.concat(out).toString('utf8'));
              res.writeHead(upRes.statusCode ?? 502, t.headers);
              res.end(t.body);
            });
          });
          up.end(Buffer.concat(chunks));
        });
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      const cfg = sm.clientConfig(mock);
      // The Host header passes unchanged: the mock computes urlpath from it, as the client did.
      viaProxy = createMpClient({
        appid: cfg.appid,
        http: { baseUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, timeoutMs: 5000 },
        accessToken: staticAccessToken(token),
        apiSecurity: {
          symmetricAlgorithm: 'SM4_GCM',
          asymmetricAlgorithm: 'SM2withSM3',
          symKey: cfg.symKey,
          symSn: cfg.symSn,
          privateKey: cfg.privateKeyPem,
          privateKeySn: cfg.privateKeySn,
          platformCertificates: cfg.platformCertificates,
        },
      });
    });
    after(async () => {
      await viaProxy.close();
      await new Promise<void>((r) => proxy.close(() => r()));
    });

    const refused = async (code: string) => {
      await assert.rejects(
        () => viaProxy.call('/wxa/some/api', { a: 1 }),
        (e: unknown) => e instanceof WechatApiSecurityError && e.code === code,
      );
    };

    test('untampered through the proxy the call passes', async () => {
      tamper = (h, b) => ({ headers: h, body: b });
      const r = await viaProxy.call<{ data: unknown }>('/wxa/some/api', { a: 1 });
      assert.deepEqual(r.data, { a: 1 });
    });

    test('a tampered Wechatmp-Signature → WXMP_BAD_SIGNATURE', async () => {
      tamper = (h, b) => ({ headers: { ...h, 'wechatmp-signature': flipB64(h['wechatmp-signature']!, 10) }, body: b });
      await refused('WXMP_BAD_SIGNATURE');
    });

    test('a tampered body (ciphertext) → WXMP_BAD_SIGNATURE (the signature covers the body)', async () => {
      tamper = (h, b) => ({ headers: h, body: flipData(b) });
      await refused('WXMP_BAD_SIGNATURE');
    });

    test('an answer signed by a key the client does not hold for that serial → WXMP_BAD_SIGNATURE', async () => {
      tamper = (h, b) => ({ headers: { ...h, 'wechatmp-signature': Buffer.alloc(64, 1).toString('base64') }, body: b });
      await refused('WXMP_BAD_SIGNATURE');
    });
  });

  test('decryptResponse: a tampered SM4-GCM ciphertext whose signature is not checked → WXMP_DECRYPT_FAILED', async () => {
    const call = await smCall(mock, sm, token, '/wxa/some/api');
    const v = verifyResponseSignature({ urlPath: call.urlPath, appid: sm.client.appid, headers: call.answer.headers, body: call.answer.text, certificates: mock.sm2PlatformCertificates(), asymmetricAlgorithm: 'SM2withSM3' });
    assert.throws(
      () => decryptResponse({ urlPath: call.urlPath, appid: sm.client.appid, timestamp: v.timestamp, symKey: sm.client.symKey, symSn: sm.client.symSn, body: flipData(call.answer.text), symmetricAlgorithm: 'SM4_GCM' }),
      (e: unknown) => e instanceof WechatApiSecurityError && e.code === 'WXMP_DECRYPT_FAILED',
    );
  });

  test('the RSA app on the same mock is unchanged (AES-256-GCM + RSA-PSS, RSA platform certificate)', async () => {
    const rsaToken = (await stableToken(mock, rsa.client.appid, rsa.client.secret)).access_token as string;
    const cfg = rsa.clientConfig(mock);
    assert.equal(cfg.symmetricAlgorithm, undefined);
    const c = createMpClient({
      appid: cfg.appid,
      http: { baseUrl: mock.url, timeoutMs: 5000 },
      accessToken: staticAccessToken(rsaToken),
      apiSecurity: { symKey: cfg.symKey, symSn: cfg.symSn, privateKey: cfg.privateKeyPem, privateKeySn: cfg.privateKeySn, platformCertificates: cfg.platformCertificates },
    });
    try {
      const r = await c.call<{ data: unknown }>('/wxa/some/api', { a: 2 });
      assert.deepEqual(r.data, { a: 2 });
    } finally {
      await c.close();
    }
  });
});
