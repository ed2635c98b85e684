/**
 * Scenario (e): the physical limits. Raw node:crypto rates, in-process, on one thread, for the
 * three operations a gateway does per sealed request, on the bench's own request:
 *
 * - HMAC-SHA256 over the canonical request string (what a forged request costs, step 5);
 * - RSA-OAEP-2048 (SHA-256) unwrap of the session key with a pre-parsed KeyObject (step 7);
 * - or, for an X25519 server key, the HPKE unwrap (SPEC 6.5: one X25519 derive, the key schedule, AES-GCM);
 * - AES-256-GCM decryption of the sealed payload (step 8);
 * - SHA-256 of the body as received (step 5's canonical string);
 * - the response key, HKDF-SHA256 (SPEC 6.3 step 2), and AES-256-GCM sealing of the upstream's
 *   answer (SPEC 6.3 step 3, with the payload framing).
 *
 * - for an SM2 server key, the SM suite (SPEC 6.6, @wxseal/gm): HMAC-SM3 of its canonical string, SM3 of
 *   the body, SM2 decryption of the 16-byte session key, SM4-GCM open of the payload, the HKDF-SM3
 *   response key and the SM4-GCM seal of the answer (rows `sm-*`).
 *
 * The valid paths' primitives add up to the floor the gateway's overhead is measured against
 * (ratios.ts: "f−a cpu", "h−a cpu").
 * One core can do at most this many of each per second; no HTTP server can beat them.
 */
import { constants, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, privateDecrypt } from 'node:crypto';
import { gm } from './gm.js';
import { buildRequest } from '@wxseal/protocol';
import {
  aesGcmEncrypt,
  b64uDecodeStrict,
  deriveResponseKey,
  deriveSmResponseKey,
  encodePayload,
  generateResponseNonce,
  generateSessionKey,
  requestAad,
  responseAad,
  sm4GcmOpen,
  sm4GcmSeal,
  smRequestAad,
  smResponseAad,
  splitTarget,
  unwrapSessionKey,
  unwrapSmSessionKey,
  wrapSessionKey,
} from '@wxseal/protocol/primitives';
import type { BenchKeys } from './keys.js';
import { BENCH_PATH, benchSealedSpec, smServerPublicKey } from './loadgen/pool.js';
import { UPSTREAM_ANSWER_SAMPLE } from './servers/upstream-answer.js';

export type CryptoId =
  | 'hmac'
  | 'rsa-unwrap'
  | 'x25519-unwrap'
  | 'aes-gcm'
  | 'body-sha256'
  | 'response-hkdf'
  | 'response-seal'
  | 'sm-hmac'
  | 'sm-body-sm3'
  | 'sm2-unwrap'
  | 'sm4-gcm'
  | 'sm-response-hkdf'
  | 'sm-response-seal';

/** The primitives of one valid request of the SM suite (SPEC 6.6), server side, as (e) measures them. */
export const SM_PRIMITIVES: readonly CryptoId[] = ['sm-hmac', 'sm-body-sm3', 'sm2-unwrap', 'sm4-gcm', 'sm-response-hkdf', 'sm-response-seal'];

export interface CryptoRate {
  id: CryptoId;
  label: string;
  opsPerSec: number;
  /** Microseconds per operation on one core. */
  microsPerOp: number;
  /** Size of the input, for the record. */
  bytes: number;
}

function measure(fn: () => void, seconds: number, batch: number): number {
  for (let i = 0; i < batch * 4; i++) fn(); // warm-up: JIT and OpenSSL caches
  let ops = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  do {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    now = performance.now();
  } while (now < end);
  return ops / ((now - start) / 1000);
}

/** The wrapped key, IV and request AAD of a built bench request (its suite's AAD function). */
function sealedParts(built: ReturnType<typeof buildRequest>, keyId: string, serverKeyId: string, aadOf: typeof requestAad): { wrapped: Buffer; iv: Buffer; aad: Buffer } {
  const { path, rawQuery } = splitTarget(BENCH_PATH);
  return {
    wrapped: b64uDecodeStrict(built.headers['wxseal-wrapped-key']!)!,
    iv: b64uDecodeStrict(built.headers['wxseal-iv']!)!,
    aad: aadOf({ method: 'POST', path, rawQuery, timestamp: built.headers['wxseal-timestamp']!, nonce: built.headers['wxseal-nonce']!, keyId, serverKeyId }),
  };
}

export function measureCryptoLimits(keys: BenchKeys, seconds: number): CryptoRate[] {
  const privateKey = createPrivateKey(keys.privateKeyPem);
  const secret = b64uDecodeStrict(keys.secret)!;
  // A real sealed request of the bench, built by the protocol package: the same sizes as on the wire.
  const built = buildRequest(benchSealedSpec(keys, secret, { id: keys.serverKeyId, publicKey: createPublicKey(keys.publicKeyPem) }));
  const { wrapped, iv, aad } = sealedParts(built, keys.keyId, keys.serverKeyId, requestAad);
  const sessionKey = built.context.sessionKey!;
  const ciphertext = built.body.subarray(0, built.body.length - 16);
  const tag = built.body.subarray(built.body.length - 16);

  const responseKey = deriveResponseKey(sessionKey, generateResponseNonce());
  const sealAad = responseAad({ keyId: keys.keyId, requestNonce: built.headers['wxseal-nonce']!, status: 200 });

  const x25519Key = createPrivateKey(keys.x25519PrivateKeyPem);
  const x25519Wrapped = wrapSessionKey(createPublicKey(keys.x25519PublicKeyPem), generateSessionKey());

  const rates: Array<Omit<CryptoRate, 'microsPerOp'>> = [
    {
      id: 'hmac',
      label: `HMAC-SHA256, canonical string (${Buffer.byteLength(built.canonical)} B)`,
      bytes: Buffer.byteLength(built.canonical),
      opsPerSec: measure(() => createHmac('sha256', secret).update(built.canonical).digest(), seconds, 256),
    },
    {
      id: 'rsa-unwrap',
      label: 'RSA-OAEP-2048 (SHA-256) unwrap, KeyObject',
      bytes: wrapped.length,
      opsPerSec: measure(() => privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped), seconds, 8),
    },
    {
      id: 'x25519-unwrap',
      label: 'X25519 HPKE unwrap (SPEC 6.5), KeyObject',
      bytes: x25519Wrapped.length,
      opsPerSec: measure(() => unwrapSessionKey(x25519Key, x25519Wrapped), seconds, 32),
    },
    {
      id: 'aes-gcm',
      label: `AES-256-GCM decrypt, sealed payload (${built.body.length} B)`,
      bytes: built.body.length,
      opsPerSec: measure(
        () => {
          const d = createDecipheriv('aes-256-gcm', sessionKey, iv, { authTagLength: 16 });
          d.setAAD(aad);
          d.setAuthTag(tag);
          d.update(ciphertext);
          d.final();
        },
        seconds,
        256,
      ),
    },
    {
      id: 'body-sha256',
      label: `SHA-256 of the sealed body (${built.body.length} B)`,
      bytes: built.body.length,
      opsPerSec: measure(() => createHash('sha256').update(built.body).digest('hex'), seconds, 256),
    },
    {
      id: 'response-hkdf',
      label: 'HKDF-SHA256 response key and IV (SPEC 6.3, 44 B)',
      bytes: 44,
      opsPerSec: measure(() => deriveResponseKey(sessionKey, generateResponseNonce()), seconds, 256),
    },
    {
      id: 'response-seal',
      label: `AES-256-GCM seal of the upstream's answer (${UPSTREAM_ANSWER_SAMPLE.length} B, framed)`,
      bytes: UPSTREAM_ANSWER_SAMPLE.length,
      opsPerSec: measure(
        () => aesGcmEncrypt(responseKey.key, responseKey.iv, sealAad, encodePayload({ contentType: 'application/json' }, UPSTREAM_ANSWER_SAMPLE)),
        seconds,
        256,
      ),
    },
    ...measureSmLimits(keys, secret, seconds),
  ];
  return rates.map((r) => ({ ...r, microsPerOp: 1e6 / r.opsPerSec }));
}

/** The SM suite's rows: a real SM request of the bench, built by the protocol package with @wxseal/gm. */
function measureSmLimits(keys: BenchKeys, secret: Uint8Array, seconds: number): Array<Omit<CryptoRate, 'microsPerOp'>> {
  const built = buildRequest(benchSealedSpec(keys, secret, smServerPublicKey(keys)));
  const { wrapped, iv, aad } = sealedParts(built, keys.keyId, keys.sm2ServerKeyId, smRequestAad);
  const sessionKey = built.context.sessionKey!;
  // Check the sample once: the rows below must measure operations that succeed.
  if (!unwrapSmSessionKey(gm, keys.sm2PrivateKeyHex, wrapped).equals(sessionKey)) throw new RangeError('the SM2 unwrap of the bench request does not give its session key');
  sm4GcmOpen(gm, sessionKey, iv, aad, built.body);
  const responseKey = deriveSmResponseKey(gm, sessionKey, generateResponseNonce());
  const sealAad = smResponseAad({ keyId: keys.keyId, requestNonce: built.headers['wxseal-nonce']!, status: 200 });
  const canonical = Buffer.from(built.canonical, 'utf8');
  return [
    {
      id: 'sm-hmac',
      label: `SM suite: HMAC-SM3, canonical string (${canonical.length} B)`,
      bytes: canonical.length,
      opsPerSec: measure(() => gm.hmacSm3(secret, canonical), seconds, 256),
    },
    {
      id: 'sm-body-sm3',
      label: `SM suite: SM3 of the sealed body (${built.body.length} B)`,
      bytes: built.body.length,
      opsPerSec: measure(() => gm.sm3(built.body).toString('hex'), seconds, 256),
    },
    {
      id: 'sm2-unwrap',
      label: `SM suite: SM2 decrypt of the session key (${wrapped.length} B, ${gm.opensslSm2Available() ? 'curve arithmetic in OpenSSL' : 'sm-crypto-v2'})`,
      bytes: wrapped.length,
      opsPerSec: measure(() => unwrapSmSessionKey(gm, keys.sm2PrivateKeyHex, wrapped), seconds, 8),
    },
    {
      id: 'sm4-gcm',
      label: `SM suite: SM4-GCM decrypt, sealed payload (${built.body.length} B)`,
      bytes: built.body.length,
      opsPerSec: measure(() => sm4GcmOpen(gm, sessionKey, iv, aad, built.body), seconds, 64),
    },
    {
      id: 'sm-response-hkdf',
      label: 'SM suite: HKDF-SM3 response key and IV (SPEC 6.6, 28 B)',
      bytes: 28,
      opsPerSec: measure(() => deriveSmResponseKey(gm, sessionKey, generateResponseNonce()), seconds, 256),
    },
    {
      id: 'sm-response-seal',
      label: `SM suite: SM4-GCM seal of the upstream's answer (${UPSTREAM_ANSWER_SAMPLE.length} B, framed)`,
      bytes: UPSTREAM_ANSWER_SAMPLE.length,
      opsPerSec: measure(() => sm4GcmSeal(gm, responseKey.key, responseKey.iv, sealAad, encodePayload({ contentType: 'application/json' }, UPSTREAM_ANSWER_SAMPLE)), seconds, 64),
    },
  ];
}
