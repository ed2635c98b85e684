// SPEC.md 6.1 and 9 step 1: the server's body limit is on the bytes sent, so in sealed mode the
// usable body is limit − 16 (GCM tag) − meta bytes − 1 (LF). The client (maxBodyBytes) refuses
// before sending what cannot fit; the verifier accepts exactly what fits.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createClient, type WxsealClient } from '@wxseal/client';
import { isWxsealError } from '@wxseal/protocol';
import { encodePayloadMeta } from '@wxseal/protocol/primitives';
import { MemoryNonceStore, ServerKeyRing, StaticKeyResolver, createVerifier, isVerificationFailure, type Verifier } from '@wxseal/server';
import { generateServerKey, newSecret } from './helpers.js';

const LIMIT = 2048;
const serverKey = generateServerKey();
const secret = newSecret();
const identity = { openid: 'o-\u4e2d\u6587', source: 'wx_client' };

describe('sealed body limit: client and verifier agree on the usable plaintext', () => {
  let verifier: Verifier;
  let server: Server;
  let port = 0;
  let requests = 0;
  const clients: WxsealClient[] = [];
  const client = (maxBodyBytes?: number) => {
    const c = createClient({
      baseUrl: `http://127.0.0.1:${port}`,
      keyId: 'bff',
      secret,
      serverKeyId: serverKey.id,
      serverPublicKey: serverKey.publicKey,
      retry: { maxAttempts: 1 },
      ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
    });
    clients.push(c);
    return c;
  };

  before(async () => {
    verifier = createVerifier({
      keys: new StaticKeyResolver([{ keyId: 'bff', secrets: [{ secret }] }]),
      serverKeys: new ServerKeyRing([{ id: serverKey.id, privateKey: serverKey.privateKey }]),
      nonceStore: new MemoryNonceStore(),
      maxBodyBytes: LIMIT,
    });
    server = createServer((req, res) => {
      requests += 1;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          let wire;
          try {
            const out = await verifier.verifyOrFailure({ method: req.method!, target: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
            wire = isVerificationFailure(out)
              ? verifier.rejection(out)
              : verifier.sealResponse(out, { status: 201, contentType: 'text/plain', body: `got ${out.body.length}` });
          } catch (err) {
            wire = verifier.rejection(err);
          }
          res.writeHead(wire.status, wire.headers).end(wire.body);
        })();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const c of clients) c.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const usable = (meta: object) => LIMIT - 16 - encodePayloadMeta(meta).length - 1;

  test('a body of exactly limit − 16 − meta − 1 bytes is accepted; one byte more is refused before sending', async () => {
    const c = client(LIMIT);
    const meta = { contentType: 'application/octet-stream', identity };
    const n = usable(meta);
    const ok = await c.post('/upload', { body: new Uint8Array(n), identity });
    assert.equal(ok.status, 201);
    assert.equal(ok.text(), `got ${n}`);
    const before = requests;
    await assert.rejects(c.post('/upload', { body: new Uint8Array(n + 1), identity }), (e) => {
      assert.ok(isWxsealError(e, 'WXSEAL_CONFIG_INVALID'), String(e));
      assert.match(e.message, /maxBodyBytes 2048/);
      return true;
    });
    assert.equal(requests, before, 'nothing was sent');
  });

  test('the meta counts: the identity takes room from the body', async () => {
    const c = client(LIMIT);
    const n = usable({ contentType: 'application/octet-stream' });
    assert.equal(n, LIMIT - 16 - '{"contentType":"application/octet-stream"}'.length - 1);
    assert.equal((await c.post('/upload', { body: new Uint8Array(n) })).status, 201);
    await assert.rejects(c.post('/upload', { body: new Uint8Array(n), identity }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
  });

  test('the limit is on the ciphertext: a client told a larger limit is answered WXSEAL_BODY_TOO_LARGE by the server', async () => {
    const c = client(LIMIT + 100);
    const meta = { contentType: 'application/octet-stream' };
    await assert.rejects(c.post('/upload', { body: new Uint8Array(usable(meta) + 1) }), (e) => isWxsealError(e, 'WXSEAL_BODY_TOO_LARGE'));
  });

  test('sign-only: the body itself is what counts; the default limit is 1 MiB', async () => {
    const c = client(LIMIT);
    assert.equal((await c.post('/upload', { mode: 'signed', body: new Uint8Array(LIMIT) })).status, 201);
    await assert.rejects(c.post('/upload', { mode: 'signed', body: new Uint8Array(LIMIT + 1) }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
    const byDefault = client();
    await assert.rejects(byDefault.post('/upload', { body: new Uint8Array(1024 * 1024) }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
    assert.throws(() => client(0), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
  });
});
