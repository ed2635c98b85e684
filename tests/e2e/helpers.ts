// Shared pieces of the cross-package tests: fresh keys and a Fastify backend with the wxseal plugin.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { ServerKeyRing, StaticKeyResolver, MemoryNonceStore, createVerifier, serverKeyIdFor, type NonceStore } from '@wxseal/server';
import { wxsealFastify } from '@wxseal/server/fastify';

export interface Keys {
  keyId: string;
  secret: Buffer;
  serverKeyId: string;
  privateKey: KeyObject;
  publicKeyPem: string;
}

export function makeKeys(keyId = 'bff-e2e'): Keys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keyId, secret: randomBytes(32), serverKeyId: serverKeyIdFor(publicKey), privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A backend whose /api/echo answers with what the verified request carried. */
export async function startBackend(keys: Keys, nonceStore: NonceStore = new MemoryNonceStore()): Promise<{ app: FastifyInstance; url: string }> {
  const verifier = createVerifier({
    keys: new StaticKeyResolver([{ keyId: keys.keyId, secrets: [{ secret: keys.secret }] }]),
    serverKeys: new ServerKeyRing([{ id: keys.serverKeyId, privateKey: keys.privateKey }]),
    nonceStore,
  });
  const app = Fastify();
  await app.register(wxsealFastify, { verifier });
  app.route({
    method: ['GET', 'POST', 'PUT', 'DELETE'],
    url: '/api/echo',
    handler: async (req) => ({ method: req.method, identity: req.wxseal!.identity, mode: req.wxseal!.mode, body: req.body ?? null }),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}
