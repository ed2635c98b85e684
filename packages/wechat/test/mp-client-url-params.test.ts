// A secured Mini Program call carries its URL parameters inside the encrypted data, never in the
// clear: the guide's 加密数据 section says the plaintext holds the original request's fields, URL
// parameters and POST parameters, but not the access_token. Checked on the wire with a capturing
// server that decrypts the body with the symmetric key.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WechatApiError, buildAad, createMpClient, openEnvelope, staticAccessToken, verifyRequestSignature, type MpClient } from '@wxseal/wechat';

const appid = 'wx0123456789abcdef';
const symKey = randomBytes(32).toString('base64');
const symSn = 'sym-sn-1';
const app = generateKeyPairSync('rsa', { modulusLength: 2048 });
const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const TOKEN = 'ACCESS_TOKEN_value';

interface Captured {
  url: URL;
  body: string;
  headers: IncomingMessage['headers'];
}

describe('secured calls: URL parameters travel inside the encrypted data', () => {
  let server: Server;
  let base = '';
  const seen: Captured[] = [];
  const client = (accessToken = true): MpClient =>
    createMpClient({
      appid,
      http: { baseUrl: base, timeoutMs: 5000 },
      ...(accessToken ? { accessToken: staticAccessToken(TOKEN) } : {}),
      apiSecurity: {
        symKey,
        symSn,
        privateKey: app.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        privateKeySn: 'app-sn-1',
        platformCertificates: { 'platform-1': platform.publicKey.export({ type: 'spki', format: 'pem' }).toString() },
      },
    });

  /** The plaintext WeChat would decrypt from a captured request (AAD with the request timestamp). */
  const plaintextOf = (c: Captured): Record<string, unknown> => {
    const urlPath = `${base}${c.url.pathname}`;
    const ts = Number(c.headers['wechatmp-timestamp']);
    verifyRequestSignature({ urlPath, appid, timestamp: ts, body: c.body, signature: String(c.headers['wechatmp-signature']), publicKey: app.publicKey });
    return JSON.parse(openEnvelope(symKey, c.body, buildAad(urlPath, appid, ts, symSn))) as Record<string, unknown>;
  };

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ url: new URL(req.url ?? '/', base), body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
        // An unsigned plain error: the client believes it only as an error, which ends the call.
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"errcode":47001,"errmsg":"data format error"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('the URL carries access_token alone; the plaintext holds URL and POST parameters, not the token', async () => {
    seen.length = 0;
    const c = client();
    await assert.rejects(c.call('/wxa/some/api', { openid: 'o1', scene: 1 }, { query: { lang: 'zh_CN', page: '2' } }), WechatApiError);
    await c.close();
    const first = seen[0]!;
    assert.deepEqual([...first.url.searchParams.entries()], [['access_token', TOKEN]]);
    const plain = plaintextOf(first);
    const { _n, _appid, _timestamp, ...fields } = plain;
    assert.equal(typeof _n, 'string');
    assert.equal(_appid, appid);
    assert.equal(_timestamp, Number(first.headers['wechatmp-timestamp']));
    assert.deepEqual(fields, { openid: 'o1', scene: 1, lang: 'zh_CN', page: '2' });
    assert.ok(!first.body.includes('zh_CN') && !JSON.stringify(plain).includes(TOKEN));
  });

  test('a parameter in both query and body, or an access_token beside the client\'s, is refused before sending', async () => {
    seen.length = 0;
    const c = client();
    await assert.rejects(c.call('/wxa/some/api', { lang: 'en' }, { query: { lang: 'zh_CN' } }), (e) => (e as { code?: string }).code === 'WXMP_INVALID_ARGUMENT' && /lang given both/.test((e as Error).message));
    await assert.rejects(c.call('/wxa/some/api', {}, { query: { access_token: 'other' } }), (e) => (e as { code?: string }).code === 'WXMP_INVALID_ARGUMENT');
    await assert.rejects(c.call('/wxa/some/api', {}, { query: { _n: 'x' } }), (e) => (e as { code?: string }).code === 'WXMP_INVALID_ARGUMENT');
    await c.close();
    assert.equal(seen.length, 0);
  });

  test('accessToken: false with a token of the caller\'s own: the token stays in the URL, the rest is encrypted', async () => {
    seen.length = 0;
    const c = client(false);
    await assert.rejects(c.call('/wxa/some/api', { a: 1 }, { accessToken: false, query: { access_token: 'own-token', b: 'x' } }), WechatApiError);
    await c.close();
    assert.deepEqual([...seen[0]!.url.searchParams.entries()], [['access_token', 'own-token']]);
    const { _n, _appid, _timestamp, ...fields } = plaintextOf(seen[0]!);
    assert.deepEqual(fields, { a: 1, b: 'x' });
  });

  test('a plain (unsecured) call still sends its URL parameters in the query', async () => {
    seen.length = 0;
    const c = client();
    await assert.rejects(c.call('/cgi-bin/plain', { a: 1 }, { security: false, query: { lang: 'zh_CN' } }), WechatApiError);
    await c.close();
    assert.equal(seen[0]!.url.searchParams.get('lang'), 'zh_CN');
    assert.equal(seen[0]!.url.searchParams.get('access_token'), TOKEN);
    assert.deepEqual(JSON.parse(seen[0]!.body), { a: 1 });
  });
});
