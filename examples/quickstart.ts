/**
 * The wxseal round trip in one process: a Fastify backend protected by the wxseal plugin, a client
 * that seals a call to it, and two attacks the backend turns away. Run with `npm start`.
 * Keys are generated in memory here; real deployments use `npx wxseal keygen`.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { createClient } from '@wxseal/client';
import { HEADERS, buildRequest, loadServerPublicKey } from '@wxseal/protocol';
import { MemoryNonceStore, ServerKeyRing, StaticKeyResolver, createVerifier, serverKeyIdFor } from '@wxseal/server';
import { wxsealFastify } from '@wxseal/server/fastify';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const serverKeyId = serverKeyIdFor(publicKey);
const secret = randomBytes(32);
const serverPublicKey = publicKey.export({ type: 'spki', format: 'pem' }).toString();

// --- The backend: verify first (one HMAC), then unwrap and decrypt. ---------------------------
const verifier = createVerifier({
  keys: new StaticKeyResolver([{ keyId: 'bff-1', secrets: [{ secret }] }]),
  serverKeys: new ServerKeyRing([{ id: serverKeyId, privateKey }]),
  nonceStore: new MemoryNonceStore({ maxEntries: 100_000 }),
});
const app = Fastify();
await app.register(wxsealFastify, { verifier });
app.post('/api/orders', async (req) => ({ orderId: 42, for: req.wxseal!.identity.openid, got: req.body }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
console.log(`backend listening on ${baseUrl} (server key ${serverKeyId})`);

// --- The BFF / cloud function: sign, seal, send, verify and open the answer. -------------------
const client = createClient({ baseUrl, keyId: 'bff-1', secret, serverKeyId, serverPublicKey });
const res = await client.post('/api/orders', { json: { sku: 'A-1' }, identity: { openid: 'o-123', source: 'wx_client' } });
console.log(`1. sealed call      → ${res.status} ${res.text()}   (decrypted; proves the real backend answered)`);

// --- An attacker without the secret: rejected by one HMAC, before any RSA. ---------------------
async function send(headers: Record<string, string>, body: Buffer): Promise<string> {
  const r = await fetch(`${baseUrl}/api/orders`, { method: 'POST', headers, body: new Uint8Array(body) });
  return `${r.status} ${r.headers.get(HEADERS.error)}`;
}
const serverKey = { id: serverKeyId, publicKey: loadServerPublicKey(serverPublicKey) };
const forged = buildRequest({ mode: 'sealed', method: 'POST', target: '/api/orders', keyId: 'bff-1', secret: randomBytes(32), serverKey, body: Buffer.from('{"sku":"A-1"}') });
console.log(`2. forged request   → ${await send(forged.headers, forged.body)}`);

// --- A captured genuine request sent again: its nonce is already spent. ------------------------
const genuine = buildRequest({ mode: 'sealed', method: 'POST', target: '/api/orders', keyId: 'bff-1', secret, serverKey, body: Buffer.from('{"sku":"B-2"}'), contentType: 'application/json' });
console.log(`3. genuine request  → ${(await send(genuine.headers, genuine.body)).split(' ')[0]}`);
console.log(`4. same bytes again → ${await send(genuine.headers, genuine.body)}`);

client.close();
await app.close();
