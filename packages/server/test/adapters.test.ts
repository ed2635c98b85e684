// The three adapters over real HTTP on 127.0.0.1: round trips in both modes, every rejection code,
// and random mutations that must never produce a 5xx (except the spec's 503s).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  HEADERS,
  SEALED_CONTENT_TYPE,
  WIRE_ERROR_STATUS,
  isWireErrorCode,
  type BuiltRequest,
  type Mode,
  type WireErrorCode,
} from '@wxseal/protocol';
import { wrapSessionKey } from '@wxseal/protocol/primitives';
import { MemoryNonceStore, createVerifier } from '@wxseal/server';
import {
  ADAPTERS,
  generateServerKey,
  makeFixture,
  newSecret,
  open,
  rawHead,
  rawSend,
  rejectionOf,
  resign,
  sealedWithPlaintext,
  send,
  sendBuilt,
  startServer,
  unixNow,
  type EchoBody,
  type Fixture,
  type HttpResult,
  type RunningServer,
} from './helpers.js';

const serverKey = generateServerKey();
const secondServerKey = generateServerKey(); // also in the ring: a relabelled request must fail the HMAC
const strangerKey = generateServerKey(); // never in the ring
const MAX_BODY = 2048;
const identity = { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', appid: 'wx1234567890abcdef', unionid: 'o6_bmasdasdsad6_2sgVt7hMZOPfL', env: 'prod-7g8h9i', source: 'wx_client' };
const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function flipChar(value: string, index: number): string {
  const c = value[index]!;
  return value.slice(0, index) + (c === 'A' ? 'B' : 'A') + value.slice(index + 1);
}

function withHeader(built: BuiltRequest, name: string, value: string | undefined): BuiltRequest {
  const headers = { ...built.headers };
  if (value === undefined) delete headers[name];
  else headers[name] = value;
  return { ...built, headers };
}

function withBodyByte(built: BuiltRequest, index: number): BuiltRequest {
  const body = Buffer.from(built.body);
  const i = index < 0 ? body.length + index : index;
  body[i] = body[i]! ^ 0x01;
  return { ...built, body };
}

function expectRejection(res: HttpResult, code: WireErrorCode): void {
  const rejection = rejectionOf(res);
  assert.equal(rejection?.code, code, `expected ${code}, got ${res.status} ${rejection?.code ?? res.body.toString('utf8').slice(0, 200)}`);
  assert.equal(res.status, WIRE_ERROR_STATUS[code]);
  assert.match(String(res.headers[HEADERS.serverTime]), /^[0-9]{1,12}$/);
  assert.ok(Math.abs(Number(res.headers[HEADERS.serverTime]) - unixNow()) <= 2);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const json = JSON.parse(res.body.toString('utf8')) as { error: { code: string; message: string } };
  assert.equal(json.error.code, code);
  assert.equal(typeof json.error.message, 'string');
}

function echoOf(built: BuiltRequest, res: HttpResult): EchoBody {
  assert.equal(res.status, 201, `expected 201, got ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
  const opened = open(built, res);
  assert.match(opened.contentType ?? '', /^application\/json/);
  return JSON.parse(opened.body.toString('utf8')) as EchoBody;
}

for (const adapter of ADAPTERS) {
  describe(`${adapter} adapter`, () => {
    let fx: Fixture;
    let server: RunningServer;
    const otherSecret = newSecret();
    const post = (built: BuiltRequest, target = '/echo', method = 'POST') => sendBuilt(server.port, method, target, built);

    before(async () => {
      fx = makeFixture(serverKey, { maxBodyBytes: MAX_BODY });
      fx.ring.add({ id: secondServerKey.id, privateKey: secondServerKey.privateKey });
      fx.resolver.set({ keyId: 'bff-other', secrets: [{ secret: otherSecret }] });
      fx.resolver.set({ keyId: 'bff-revoked', secrets: [{ secret: otherSecret }], revoked: true });
      server = await startServer(adapter, fx.verifier);
    });
    after(() => server.close());

    describe('round trips', () => {
      test('sealed POST: identity, decrypted body, inner type, traceparent reach the handler; the sealed 201 opens', async () => {
        const body = Buffer.from(JSON.stringify({ order: 42, note: '微信' }));
        const built = fx.build({ mode: 'sealed', target: '/echo?b=2&a=1', body, contentType: 'application/json', identity, traceparent });
        const res = await post(built, '/echo?b=2&a=1');
        assert.equal(res.headers['content-type'], SEALED_CONTENT_TYPE);
        assert.equal(res.headers.etag, undefined, 'no plaintext-derived ETag next to a sealed body');
        assert.ok(!res.body.includes(Buffer.from('order')), 'the response is encrypted');
        const echo = echoOf(built, res);
        assert.equal(echo.adapter, adapter);
        assert.equal(echo.mode, 'sealed');
        assert.equal(echo.keyId, fx.keyId);
        assert.equal(echo.secretId, 's1');
        assert.deepEqual(echo.identity, identity);
        assert.equal(echo.body, body.toString());
        assert.equal(echo.contentType, 'application/json');
        assert.equal(echo.traceparent, traceparent);
        assert.equal(echo.path, '/echo');
        assert.equal(echo.rawQuery, 'b=2&a=1');
        if (adapter === 'fastify') assert.deepEqual(echo.parsed, { order: 42, note: '微信' }, 'Fastify parsed the decrypted JSON');
      });

      test('sign-only POST: identity header, body as sent, signed readable response', async () => {
        const built = fx.build({ mode: 'signed', target: '/echo', body: Buffer.from('{"ping":1}'), contentType: 'application/json', identity });
        const res = await post(built);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        assert.ok(res.headers[HEADERS.signature]);
        const echo = echoOf(built, res);
        assert.equal(echo.mode, 'signed');
        assert.deepEqual(echo.identity, identity);
        assert.equal(echo.body, '{"ping":1}');
        assert.equal(echo.contentType, 'application/json');
        assert.equal(echo.traceparent, null);
        if (adapter === 'fastify') assert.deepEqual(echo.parsed, { ping: 1 });
        // A changed byte in the signed response does not open.
        const tampered = { ...res, body: Buffer.from(res.body.toString().replace('"mode"', '"mod3"')) };
        assert.throws(() => open(built, tampered), (e) => (e as { code?: string }).code === 'WXSEAL_RESPONSE_INVALID');
      });

      test('sign-only with a body of no declared type, and of an unparsed type', async () => {
        const noType = fx.build({ mode: 'signed', target: '/echo', body: Buffer.from([0, 1, 2, 0xff]) });
        assert.equal(Buffer.from(echoOf(noType, await post(noType)).body, 'utf8').length > 0, true);
        const csv = fx.build({ mode: 'signed', target: '/echo', body: Buffer.from('a,b\n1,2'), contentType: 'text/csv' });
        const echo = echoOf(csv, await post(csv));
        assert.equal(echo.body, 'a,b\n1,2');
        assert.equal(echo.contentType, 'text/csv');
      });

      test('sealed GET with a body (Fastify never parses GET bodies; the adapter reads it itself)', async () => {
        const built = fx.build({ mode: 'sealed', method: 'GET', target: '/echo?id=7', body: Buffer.from('{"q":"tea"}'), contentType: 'application/json', identity });
        const echo = echoOf(built, await sendBuilt(server.port, 'GET', '/echo?id=7', built));
        assert.equal(echo.method, 'GET');
        assert.equal(echo.body, '{"q":"tea"}');
        assert.deepEqual(echo.identity, identity);
      });

      test('sign-only GET without a body; DELETE and PUT', async () => {
        for (const method of ['GET', 'DELETE', 'PUT']) {
          const built = fx.build({ mode: 'signed', method, target: '/echo' });
          const echo = echoOf(built, await sendBuilt(server.port, method, '/echo', built));
          assert.equal(echo.method, method);
          assert.equal(echo.body, '');
        }
      });

      test('verifies the target as sent: percent-encoding, dots inside names and query order untouched', async () => {
        const target = '/api/a%3Ab/%E4%B8%AD/c.d/...?z=%20&a=2&a=1&next=../x%2Fy';
        const built = fx.build({ mode: 'sealed', target, body: Buffer.from('x') });
        const echo = echoOf(built, await post(built, target));
        assert.equal(echo.path, '/api/a%3Ab/%E4%B8%AD/c.d/...');
        assert.equal(echo.rawQuery, 'z=%20&a=2&a=1&next=../x%2Fy');
      });

      test('paths an upstream could read differently are MALFORMED_HEADER at step 2.6, though correctly signed', async () => {
        // Signed for the exact target, so only the target rule can refuse them (SPEC.md 9 step 2.6).
        for (const target of ['/api/x/../echo', '/api/./x', '/api/..;/x', '/api/a%2Fb', '/api/a%5cb', '/api/a%00b', '/api/%2e%2e/x', '/api/%61', '/api/a\\b']) {
          const ok = fx.build({ mode: 'signed', target: '/api/x', body: Buffer.from('{}'), contentType: 'application/json' });
          const built = resign(fx.secret, ok, 'POST', target);
          const res = await post(built, target);
          expectRejection(res, 'WXSEAL_MALFORMED_HEADER');
          assert.equal(res.headers[HEADERS.signature], undefined, 'refused before the signature: unsigned');
        }
      });

      test('sealed 204 and 304 become 200 with an empty sealed body; the status is bound', async () => {
        for (const path of ['/no-content', '/not-modified']) {
          const built = fx.build({ mode: 'sealed', target: path });
          const res = await post(built, path);
          assert.equal(res.status, 200);
          const opened = open(built, res);
          assert.equal(opened.body.length, 0);
          assert.throws(() => open(built, { ...res, status: path === '/no-content' ? 204 : 304 }));
        }
      });

      test('sign-only 204 stays 204, signed over the empty body', async () => {
        const built = fx.build({ mode: 'signed', target: '/no-content' });
        const res = await post(built, '/no-content');
        assert.equal(res.status, 204);
        assert.equal(open(built, res).body.length, 0);
      });

      test('a text response keeps its type inside the envelope', async () => {
        const built = fx.build({ mode: 'sealed', target: '/text', identity: { openid: 'o-1' } });
        const res = await post(built, '/text');
        assert.equal(res.status, 200);
        const opened = open(built, res);
        assert.match(opened.contentType ?? '', /^text\/plain/);
        assert.equal(opened.body.toString(), 'hello, o-1');
      });

      test('explicit statuses and streamed bodies are sealed whole, with their status', async () => {
        const accepted = fx.build({ mode: 'sealed', target: '/accepted' });
        const res = await post(accepted, '/accepted');
        assert.equal(res.status, 202);
        assert.equal(open(accepted, res).body.toString(), 'accepted');
        for (const mode of ['sealed', 'signed'] as const) {
          const streamed = fx.build({ mode, target: '/stream' });
          const sres = await post(streamed, '/stream');
          assert.equal(sres.status, 200);
          const opened = open(streamed, sres);
          assert.equal(opened.body.toString(), 'chunk-1 chunk-2 chunk-3');
          assert.match(opened.contentType ?? '', /^text\/plain/);
        }
      });

      test('a handler that throws still gets an authenticated 500 (sealed and signed)', async () => {
        for (const mode of ['sealed', 'signed'] as const) {
          const built = fx.build({ mode, target: '/boom' });
          const res = await post(built, '/boom');
          assert.equal(res.status, 500);
          assert.equal(rejectionOf(res), undefined, 'not a verifier rejection');
          open(built, res); // authenticates
        }
      });

      test('a response over the buffer bound becomes an authenticated 500, never a partial body', async () => {
        const built = fx.build({ mode: 'sealed', target: '/big' });
        const res = await post(built, '/big');
        assert.equal(res.status, 500);
        assert.match(open(built, res).body.toString(), /exceeds/);
      });

      test('per-route modes', async () => {
        const sealed = fx.build({ mode: 'sealed', target: '/sealed-only' });
        assert.equal(echoOf(sealed, await post(sealed, '/sealed-only')).mode, 'sealed');
        expectRejection(await post(fx.build({ mode: 'signed', target: '/sealed-only' }), '/sealed-only'), 'WXSEAL_MODE_NOT_ALLOWED');
        const signed = fx.build({ mode: 'signed', target: '/signed-only' });
        assert.equal(echoOf(signed, await post(signed, '/signed-only')).mode, 'signed');
        expectRejection(await post(fx.build({ mode: 'sealed', target: '/signed-only' }), '/signed-only'), 'WXSEAL_MODE_NOT_ALLOWED');
      });

      test('an unprotected route is left alone', async () => {
        const res = await send(server.port, 'GET', '/public', {});
        assert.equal(res.status, 200);
        assert.deepEqual(JSON.parse(res.body.toString()), { public: true });
      });
    });

    describe('rejections (every code, never handled by the handler)', () => {
      const cases: Array<{ name: string; code: WireErrorCode; run: () => Promise<HttpResult> }> = [
        { name: 'a flipped byte in the ciphertext', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(withBodyByte(fx.build({ mode: 'sealed', target: '/echo', body: Buffer.from('abc') }), 0)) },
        { name: 'a flipped byte in the GCM tag', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(withBodyByte(fx.build({ mode: 'sealed', target: '/echo', body: Buffer.from('abc') }), -1)) },
        { name: 'a changed IV', code: 'WXSEAL_BAD_SIGNATURE', run: () => { const b = fx.build({ mode: 'sealed', target: '/echo' }); return post(withHeader(b, HEADERS.iv, flipChar(b.headers[HEADERS.iv]!, 3))); } },
        { name: 'a changed wrapped key', code: 'WXSEAL_BAD_SIGNATURE', run: () => { const b = fx.build({ mode: 'sealed', target: '/echo' }); return post(withHeader(b, HEADERS.wrappedKey, flipChar(b.headers[HEADERS.wrappedKey]!, 10))); } },
        { name: 'a changed timestamp', code: 'WXSEAL_BAD_SIGNATURE', run: () => { const b = fx.build({ mode: 'sealed', target: '/echo' }); return post(withHeader(b, HEADERS.timestamp, String(Number(b.headers[HEADERS.timestamp]) - 1))); } },
        { name: 'a changed nonce', code: 'WXSEAL_BAD_SIGNATURE', run: () => { const b = fx.build({ mode: 'sealed', target: '/echo' }); return post(withHeader(b, HEADERS.nonce, flipChar(b.headers[HEADERS.nonce]!, 0))); } },
        { name: 'another (known) key id', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(withHeader(fx.build({ mode: 'sealed', target: '/echo' }), HEADERS.keyId, 'bff-other')) },
        { name: 'another (held) server key id', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(withHeader(fx.build({ mode: 'sealed', target: '/echo' }), HEADERS.serverKeyId, secondServerKey.id)) },
        { name: 'sign-only: a changed content type', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(withHeader(fx.build({ mode: 'signed', target: '/echo', body: Buffer.from('{}'), contentType: 'application/json' }), 'content-type', 'text/plain')) },
        { name: 'sign-only: a changed identity', code: 'WXSEAL_BAD_SIGNATURE', run: () => { const b = fx.build({ mode: 'signed', target: '/echo', identity }); return post(withHeader(b, HEADERS.identity, Buffer.from(JSON.stringify({ ...identity, openid: 'someone-else' })).toString('base64url'))); } },
        { name: 'sign-only: a changed body', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(withBodyByte(fx.build({ mode: 'signed', target: '/echo', body: Buffer.from('{"amount":1}'), contentType: 'application/json' }), 11)) },
        { name: 'a traceparent added', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(withHeader(fx.build({ mode: 'sealed', target: '/echo' }), HEADERS.traceparent, traceparent)) },
        { name: 'a changed traceparent', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(withHeader(fx.build({ mode: 'signed', target: '/echo', traceparent }), HEADERS.traceparent, traceparent.replace('01', '00'))) },
        { name: 'another path', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(fx.build({ mode: 'sealed', target: '/echo' }), '/api/echo') },
        { name: 'a query added', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(fx.build({ mode: 'sealed', target: '/echo' }), '/echo?admin=1') },
        { name: 'another method', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(fx.build({ mode: 'sealed', target: '/echo' }), '/echo', 'PUT') },
        { name: 'a forged signature', code: 'WXSEAL_BAD_SIGNATURE', run: () => post(withHeader(fx.build({ mode: 'sealed', target: '/echo' }), HEADERS.signature, randomBytes(32).toString('base64url'))) },
        { name: 'wrong key id', code: 'WXSEAL_UNKNOWN_KEY_ID', run: () => post(fx.build({ mode: 'sealed', target: '/echo', keyId: 'nobody' })) },
        { name: 'revoked key', code: 'WXSEAL_KEY_REVOKED', run: () => post(fx.build({ mode: 'sealed', target: '/echo', keyId: 'bff-revoked', secret: otherSecret })) },
        { name: 'expired timestamp', code: 'WXSEAL_TIMESTAMP_EXPIRED', run: () => post(fx.build({ mode: 'sealed', target: '/echo', timestamp: unixNow() - 120 })) },
        { name: 'future timestamp', code: 'WXSEAL_TIMESTAMP_FUTURE', run: () => post(fx.build({ mode: 'signed', target: '/echo', timestamp: unixNow() + 120 })) },
        { name: 'replayed nonce', code: 'WXSEAL_REPLAYED_NONCE', run: async () => { const b = fx.build({ mode: 'sealed', target: '/echo' }); assert.equal((await post(b)).status, 201); return post(b); } },
        { name: 'unknown server key id', code: 'WXSEAL_UNKNOWN_SERVER_KEY', run: () => post(fx.build({ mode: 'sealed', target: '/echo', serverKey: { id: strangerKey.id, publicKey: strangerKey.publicKey } })) },
        { name: 'mode not allowed', code: 'WXSEAL_MODE_NOT_ALLOWED', run: () => post(fx.build({ mode: 'signed', target: '/sealed-only' }), '/sealed-only') },
        { name: 'sealed HEAD', code: 'WXSEAL_MODE_NOT_ALLOWED', run: async () => {
          // HEAD carries no response body, so read the code from the headers only.
          const b = fx.build({ mode: 'sealed', target: '/echo' });
          const res = await sendBuilt(server.port, 'HEAD', '/echo', b);
          return { ...res, body: Buffer.from(JSON.stringify({ error: { code: res.headers[HEADERS.error], message: '' } })) };
        } },
        { name: 'version 2', code: 'WXSEAL_UNSUPPORTED_VERSION', run: () => post(withHeader(fx.build({ mode: 'sealed', target: '/echo' }), HEADERS.version, '2')) },
        { name: 'no signature', code: 'WXSEAL_MISSING_HEADER', run: () => post(withHeader(fx.build({ mode: 'sealed', target: '/echo' }), HEADERS.signature, undefined)) },
        { name: 'no wxseal headers at all', code: 'WXSEAL_MISSING_HEADER', run: () => send(server.port, 'POST', '/echo', { 'content-type': 'application/json' }, Buffer.from('{}')) },
        { name: 'signature with padding', code: 'WXSEAL_MALFORMED_HEADER', run: () => { const b = fx.build({ mode: 'sealed', target: '/echo' }); return post(withHeader(b, HEADERS.signature, b.headers[HEADERS.signature]!.slice(0, 42) + '=')); } },
        { name: 'a nonce sent twice', code: 'WXSEAL_MALFORMED_HEADER', run: () => { const b = fx.build({ mode: 'sealed', target: '/echo' }); return sendBuilt(server.port, 'POST', '/echo', b, [[HEADERS.nonce, b.headers[HEADERS.nonce]!]]); } },
        { name: 'a second Content-Type (Node keeps only the first in req.headers)', code: 'WXSEAL_MALFORMED_HEADER', run: () => { const b = fx.build({ mode: 'sealed', target: '/echo' }); return rawSend(server.port, rawHead('POST', '/echo', [...Object.entries(b.headers), ['Content-Type', 'application/json'], ['Content-Length', String(b.body.length)]]), b.body); } },
        { name: 'gzip content encoding', code: 'WXSEAL_MALFORMED_HEADER', run: () => post(withHeader(fx.build({ mode: 'sealed', target: '/echo' }), 'content-encoding', 'gzip')) },
        { name: 'a wrapped key one byte short', code: 'WXSEAL_MALFORMED_HEADER', run: () => post(fx.build({ mode: 'sealed', target: '/echo', wrappedKey: randomBytes(255) })) },
        { name: 'a body over the limit (Content-Length)', code: 'WXSEAL_BODY_TOO_LARGE', run: () => rawSend(server.port, rawHead('POST', '/echo', [['Content-Length', String(MAX_BODY + 1)]]), Buffer.alloc(MAX_BODY + 1)) },
        { name: 'a chunked body over the limit (reading stops there)', code: 'WXSEAL_BODY_TOO_LARGE', run: () => {
          const chunk = Buffer.alloc(1000, 0x61);
          const framed = Buffer.concat([0, 1, 2].map(() => Buffer.concat([Buffer.from('3e8\r\n'), chunk, Buffer.from('\r\n')])));
          // No terminating chunk: the server must answer without waiting for the end.
          return rawSend(server.port, rawHead('POST', '/echo', [...Object.entries(fx.build({ mode: 'sealed', target: '/echo' }).headers), ['Transfer-Encoding', 'chunked']]), framed);
        } },
        { name: 'authentic, but the wrapped key does not decrypt', code: 'WXSEAL_UNWRAP_FAILED', run: () => post(fx.build({ mode: 'sealed', target: '/echo', wrappedKey: randomBytes(256) })) },
        { name: 'authentic, but the body does not decrypt', code: 'WXSEAL_DECRYPT_FAILED', run: () => post(fx.build({ mode: 'sealed', target: '/echo', body: Buffer.from('x'), wrappedKey: wrapSessionKey(serverKey.publicKey, randomBytes(32)) })) },
        { name: 'authentic, but the plaintext breaks the framing', code: 'WXSEAL_MALFORMED_PAYLOAD', run: () => post(sealedWithPlaintext(fx, '/echo', Buffer.from('no line feed'))) },
        { name: 'authentic, but the identity header is not JSON', code: 'WXSEAL_MALFORMED_HEADER', run: () => { const b = fx.build({ mode: 'signed', target: '/echo', identity }); return post(resign(fx.secret, withHeader(b, HEADERS.identity, 'bm90LWpzb24'), 'POST', '/echo')); } },
      ];

      for (const c of cases) {
        test(`${c.name} → ${c.code}`, async () => {
          const res = await c.run();
          if (c.name === 'sealed HEAD') {
            assert.equal(res.status, 403);
            assert.equal(res.headers[HEADERS.error], c.code);
            return;
          }
          expectRejection(res, c.code);
        });
      }

      test('a rejected oversized request closes the connection instead of reading on', async () => {
        const res = await rawSend(server.port, rawHead('POST', '/echo', [['Content-Length', String(MAX_BODY + 1)]]), Buffer.alloc(MAX_BODY + 1));
        assert.equal(res.status, 413);
        assert.equal(String(res.headers.connection).toLowerCase(), 'close');
      });

      test('the 503s: key store unavailable, nonce store full, nonce store unavailable', async () => {
        const failing = makeFixture(serverKey, {
          keys: { resolve: () => Promise.reject(new Error('db down')) },
        });
        const stores = [
          ['WXSEAL_KEY_STORE_UNAVAILABLE', failing.verifier],
          ['WXSEAL_NONCE_STORE_FULL', createVerifier({ keys: fx.resolver, serverKeys: fx.ring, nonceStore: new MemoryNonceStore({ maxEntries: 1 }) })],
          ['WXSEAL_NONCE_STORE_UNAVAILABLE', createVerifier({ keys: fx.resolver, serverKeys: fx.ring, nonceStore: { checkAndSet: () => Promise.reject(new Error('ECONNREFUSED')) } })],
        ] as const;
        for (const [code, verifier] of stores) {
          const s = await startServer(adapter, verifier);
          try {
            if (code === 'WXSEAL_NONCE_STORE_FULL') assert.equal((await sendBuilt(s.port, 'POST', '/echo', fx.build({ mode: 'sealed', target: '/echo' }))).status, 201);
            const res = await sendBuilt(s.port, 'POST', '/echo', (code === 'WXSEAL_KEY_STORE_UNAVAILABLE' ? failing : fx).build({ mode: 'sealed', target: '/echo' }));
            expectRejection(res, code);
          } finally {
            await s.close();
          }
        }
      });
    });

    test('random mutations of headers and bodies never produce a 5xx (except the spec 503s); an accepted one opens', async () => {
      const protocolHeaders = [
        HEADERS.version, HEADERS.mode, HEADERS.keyId, HEADERS.timestamp, HEADERS.nonce, HEADERS.signature,
        HEADERS.serverKeyId, HEADERS.wrappedKey, HEADERS.iv, HEADERS.identity, HEADERS.traceparent, 'content-type', 'content-encoding',
      ];
      const headerValue = fc.oneof(
        fc.string({ unit: 'binary-ascii', maxLength: 80 }).map((s) => s.replace(/[\r\n]/g, '')),
        fc.string({ unit: fc.constantFrom(...'ABCabc019-_='), maxLength: 700 }),
        fc.constantFrom('', '1', '2', 'sealed', 'signed', SEALED_CONTENT_TYPE, 'bff-other', secondServerKey.id, String(unixNow())),
      );
      const mutation = fc.oneof(
        fc.record({ kind: fc.constant('set' as const), header: fc.constantFrom(...protocolHeaders), value: headerValue }),
        fc.record({ kind: fc.constant('delete' as const), header: fc.constantFrom(...protocolHeaders) }),
        fc.record({ kind: fc.constant('duplicate' as const), header: fc.constantFrom(...protocolHeaders) }),
        fc.record({ kind: fc.constant('flip' as const), index: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ kind: fc.constant('truncate' as const), length: fc.nat({ max: 400 }) }),
        fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
        fc.record({ kind: fc.constant('target' as const), target: fc.constantFrom('/echo?x=1', '/api/a', '/echo/', '/ECHO', '/echo?%00', '/nowhere', '//echo') }),
        fc.record({ kind: fc.constant('method' as const), method: fc.constantFrom('PUT', 'GET', 'DELETE', 'PATCH', 'HEAD') }),
      );
      const spec503: readonly string[] = ['WXSEAL_NONCE_STORE_FULL', 'WXSEAL_NONCE_STORE_UNAVAILABLE', 'WXSEAL_KEY_STORE_UNAVAILABLE'];

      await fc.assert(
        fc.asyncProperty(fc.constantFrom<Mode>('sealed', 'signed'), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (mode, mutations) => {
          const built = fx.build({ mode, target: '/echo', body: Buffer.from('{"a":1}'), contentType: 'application/json', identity });
          const headers: Array<[string, string]> = Object.entries(built.headers);
          let body = Buffer.from(built.body);
          let method = 'POST';
          let target = '/echo';
          for (const m of mutations) {
            if (m.kind === 'set') {
              const i = headers.findIndex(([n]) => n === m.header);
              if (i === -1) headers.push([m.header, m.value]);
              else headers[i] = [m.header, m.value];
            } else if (m.kind === 'delete') {
              const i = headers.findIndex(([n]) => n === m.header);
              if (i !== -1) headers.splice(i, 1);
            } else if (m.kind === 'duplicate') {
              const h = headers.find(([n]) => n === m.header);
              if (h) headers.push([h[0], h[1]]);
            } else if (m.kind === 'flip') {
              if (body.length > 0) body[m.index % body.length]! ^= 1 << m.bit;
            } else if (m.kind === 'truncate') body = body.subarray(0, m.length);
            else if (m.kind === 'append') body = Buffer.concat([body, m.bytes]);
            else if (m.kind === 'target') target = m.target;
            else method = m.method;
          }
          const res = await rawSend(server.port, rawHead(method, target, [...headers, ['Content-Length', String(body.length)]]), body);
          const code = res.headers[HEADERS.error];
          if (res.status >= 500) {
            assert.equal(res.status, 503, `a ${res.status} for ${JSON.stringify(mutations)}`);
            assert.ok(typeof code === 'string' && spec503.includes(code));
          }
          if (typeof code === 'string') {
            assert.ok(isWireErrorCode(code), `unknown code ${code}`);
            assert.equal(res.status, WIRE_ERROR_STATUS[code]);
          } else if (res.status >= 200 && res.status < 300 && method !== 'HEAD') {
            // Accepted: the mutation did not touch anything signed, and the answer authenticates.
            open(built, res);
          }
        }),
        { numRuns: 120 },
      );
    });
  });
}

// The same app, checked once more for the adapters' own edge: a mounted Express router sees
// req.url rewritten, but verification uses req.originalUrl.
test('express: a router mounted under a prefix verifies the full original target', async () => {
  const express = (await import('express')).default;
  const { wxsealExpress } = await import('@wxseal/server/express');
  const fx = makeFixture(serverKey);
  const app = express();
  const router = express.Router();
  router.post('/orders', wxsealExpress({ verifier: fx.verifier }), (req, res) => {
    res.json({ url: req.url, path: req.wxseal!.path });
  });
  app.use('/shop', router);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const port = (server.address() as { port: number }).port;
    const built = fx.build({ mode: 'sealed', target: '/shop/orders?x=1' });
    const res = await sendBuilt(port, 'POST', '/shop/orders?x=1', built);
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(open(built, res).body.toString()), { url: '/orders?x=1', path: '/shop/orders' });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

