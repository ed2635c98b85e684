/**
 * Scenario (d): a DECRYPT-FIRST server — the WRONG verification order, built only to measure what
 * failing fast saves. It does what SPEC.md section 9 forbids: RSA-unwraps the session key and
 * AES-decrypts the body (steps 7-8) BEFORE it checks the HMAC (step 5). Everything else is the same
 * as the other targets: the same key material, the same forwarder, the same sealing (on Fastify, while the gateway runs on node:http).
 *
 * Never use this order in a real server: every forged request costs an RSA decryption (a cheap
 * denial of service), and unwrap failures reported before the signature is checked turn the
 * server into a padding oracle.
 */
import { createPrivateKey } from 'node:crypto';
import Fastify from 'fastify';
import {
  WxsealError,
  checkTimestamp,
  openSealedRequest,
  parseRequestHeaders,
  sealResponse,
  unixNow,
  verifyRequestSignature,
  type ParsedRequest,
} from '@wxseal/protocol';
import { unwrapSessionKey } from '@wxseal/protocol/primitives';
import { MemoryNonceStore, ServerKeyRing, StaticKeyResolver, headersFromRaw, rejectionFor } from '@wxseal/server';
import { readBenchKeys } from '../keys.js';
import { announceReady, childConfig } from '../process.js';
import { FORWARDED_METHODS, createForwarder, listenLocal, processCounters, type ForwardingServerConfig } from './common.js';

const WINDOW_SECONDS = 60;
const config = childConfig<ForwardingServerConfig>();
const keys = readBenchKeys();
const upstream = createForwarder(config);
const resolver = new StaticKeyResolver([{ keyId: keys.keyId, secrets: [{ secret: keys.secret }] }]);
const ring = new ServerKeyRing([{ id: keys.serverKeyId, privateKey: keys.privateKeyPem }]);
const nonceStore = new MemoryNonceStore({ maxEntries: 4_000_000 });
// A pre-parsed KeyObject, as the ServerKeyRing holds, for the unwrap done too early.
const privateKey = createPrivateKey(keys.privateKeyPem);

const stats = { unwraps: 0, decrypts: 0, verified: 0, rejected: {} as Record<string, number> };

interface DecryptFirstResult {
  parsed: ParsedRequest;
  sessionKey: Buffer;
  plaintext: Buffer;
  contentType: string | undefined;
}

async function verifyDecryptFirst(method: string, target: string, rawHeaders: string[], body: Buffer): Promise<DecryptFirstResult> {
  // Steps 2-4, as the real verifier does them: syntax, window, key lookup.
  const parsed = parseRequestHeaders({ method, target, header: headersFromRaw(rawHeaders), rawHeaders, allowedModes: ['sealed'] });
  const now = unixNow();
  checkTimestamp(parsed.timestampSeconds, now, WINDOW_SECONDS);
  const credential = await resolver.resolve(parsed.keyId);
  if (!credential) throw new WxsealError('WXSEAL_UNKNOWN_KEY_ID', 'no credential has this key id');
  ring.check(parsed.serverKeyId, parsed.wrappedKey!);

  // WRONG ORDER: RSA and AES on a request nobody has authenticated yet.
  const sessionKey = unwrapSessionKey(privateKey, parsed.wrappedKey!);
  stats.unwraps++;
  const opened = openSealedRequest(parsed, sessionKey, body);
  stats.decrypts++;

  // Only now the HMAC (step 5) and the nonce (step 6).
  verifyRequestSignature(parsed, body, credential.secrets.map((s) => s.secret));
  const fresh = await nonceStore.checkAndSet({ keyId: parsed.keyId, nonce: parsed.nonce, expiresAt: parsed.timestampSeconds + WINDOW_SECONDS, now, timestamp: parsed.timestampSeconds });
  if (!fresh) throw new WxsealError('WXSEAL_REPLAYED_NONCE', 'this nonce was already accepted for this key id');
  return { parsed, sessionKey, plaintext: opened.body, contentType: opened.meta.contentType || undefined };
}

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
let served = 0;
app.addHook('onRequest', async (request) => {
  if (request.url !== '/__bench/stats') served++;
});
app.get('/__bench/stats', async () => ({ ...stats, ...processCounters(served) }));
app.route({
  method: [...FORWARDED_METHODS],
  url: '/*',
  handler: async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    let verified: DecryptFirstResult;
    try {
      verified = await verifyDecryptFirst(request.raw.method ?? '', request.raw.url ?? '', request.raw.rawHeaders, body);
    } catch (err) {
      const wire = rejectionFor(err, unixNow());
      const code = wire.headers['wxseal-error'] ?? 'unknown';
      stats.rejected[code] = (stats.rejected[code] ?? 0) + 1;
      reply.code(wire.status).headers(wire.headers);
      return wire.body;
    }
    stats.verified++;
    const { parsed } = verified;
    const answer = await upstream.forward(parsed.method, request.raw.url ?? parsed.path, verified.contentType, verified.plaintext);
    const wire = sealResponse(
      { keyId: parsed.keyId, nonce: parsed.nonce, sessionKey: verified.sessionKey },
      { status: answer.status, ...(answer.contentType ? { contentType: answer.contentType } : {}), body: answer.body },
    );
    reply.code(wire.status).headers(wire.headers);
    return wire.body;
  },
});

const url = await listenLocal(app);
announceReady({ url });
