/**
 * Part of (e): what one sealed call costs the CLIENT (a cloud function pays per call), per suite,
 * in-process on one thread, against the sum of its raw primitives measured in the same run.
 *
 * A call is what @wxseal/client computes: `buildRequest` (nonce, IV, session key and its wrap,
 * SHA-256 of the body, HMAC, AES-GCM seal) and `openResponse` of the sealed answer (HKDF, AES-GCM
 * open; for an SM2 server key the SM suite of SPEC 6.6 with @wxseal/gm: SM3, HMAC-SM3, SM2 encrypt,
 * SM4-GCM, HKDF-SM3). The answers are sealed by the server side between the two timed phases, untimed. No HTTP:
 * the transport is the same with or without wxseal.
 */
import { constants, createCipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { gm } from './gm.js';
import { buildRequest, openResponse, sealResponse, type BuiltRequest } from '@wxseal/protocol';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  b64uDecodeStrict,
  deriveResponseKey,
  deriveSmResponseKey,
  encodePayload,
  generateSessionKey,
  generateSmSessionKey,
  sm4GcmOpen,
  sm4GcmSeal,
  wrapSessionKey,
  wrapSmSessionKey,
} from '@wxseal/protocol/primitives';
import type { BenchKeys } from './keys.js';
import { IDENTITY, PAYLOAD_BYTES, benchSealedSpec, smServerPublicKey } from './loadgen/pool.js';
import { UPSTREAM_ANSWER_SAMPLE } from './servers/upstream-answer.js';

export type ClientSuite = 'rsa-oaep-256' | 'x25519-hpke' | 'sm2-sm4-gcm' | 'session-key-reuse';

export interface ClientCost {
  suite: ClientSuite;
  label: string;
  /** CPU µs of one call: building the sealed request and opening its sealed answer. */
  callMicros: number;
  /** The sum of the call's raw primitives, each measured alone (µs). */
  primitivesMicros: number;
  /** Which primitives that sum holds. */
  primitives: string;
}

/** The target of issue 14: a sealed call costs the client at most 1.5 × its raw primitives. */
export const CLIENT_COST_TARGET = 1.5;

function microsPerOp(fn: () => void, seconds: number, batch: number): number {
  for (let i = 0; i < batch * 4; i++) fn();
  let ops = 0;
  const start = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  do {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
  } while (performance.now() < end);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / ops;
}

export function measureClientCosts(keys: BenchKeys, seconds: number): ClientCost[] {
  const secret = b64uDecodeStrict(keys.secret)!;
  const rsaKey = { id: keys.serverKeyId, publicKey: createPublicKey(keys.publicKeyPem) };
  const x25519Key = { id: keys.x25519ServerKeyId, publicKey: createPublicKey(keys.x25519PublicKeyPem) };
  const smKey = smServerPublicKey(keys);
  const reusedKey = generateSessionKey();
  const reused = { sessionKey: reusedKey, wrappedKey: wrapSessionKey(rsaKey.publicKey, reusedKey) };
  const answer = { status: 200, contentType: 'application/json', body: UPSTREAM_ANSWER_SAMPLE };

  // One call per suite, in two timed phases around the untimed server side.
  const callMicros = (suite: ClientSuite): number => {
    const serverKey = suite === 'x25519-hpke' ? x25519Key : suite === 'sm2-sm4-gcm' ? smKey : rsaKey;
    const build = (): BuiltRequest => buildRequest({ ...benchSealedSpec(keys, secret, serverKey), ...(suite === 'session-key-reuse' ? reused : {}) });
    const batch = suite === 'session-key-reuse' ? 256 : suite === 'sm2-sm4-gcm' ? 8 : 32;
    let calls = 0;
    let micros = 0;
    const deadline = performance.now() + seconds * 1000;
    let warm = true;
    while (warm || calls === 0 || performance.now() < deadline) {
      let t = process.cpuUsage();
      const built = Array.from({ length: batch }, build);
      let used = process.cpuUsage(t);
      const buildMicros = used.user + used.system;
      const sealed = built.map((b) => sealResponse({ keyId: keys.keyId, nonce: b.context.nonce, sessionKey: b.context.sessionKey!, sm: b.context.sm }, answer));
      t = process.cpuUsage();
      for (let i = 0; i < batch; i++) {
        const wire = sealed[i]!;
        openResponse(built[i]!.context, { status: wire.status, header: (name) => wire.headers[name], body: wire.body });
      }
      used = process.cpuUsage(t);
      if (!warm) {
        micros += buildMicros + used.user + used.system;
        calls += batch;
      }
      warm = false;
    }
    return micros / calls;
  };

  // The raw primitives, each alone.
  const sample = buildRequest(benchSealedSpec(keys, secret, rsaKey));
  const sessionKey = sample.context.sessionKey!;
  const iv = randomBytes(12);
  const aad = randomBytes(120);
  const plaintext = encodePayload({ contentType: 'application/json', identity: IDENTITY }, PAYLOAD_BYTES);
  const responseKey = deriveResponseKey(sessionKey, randomBytes(32));
  const sealedAnswer = aesGcmEncrypt(responseKey.key, responseKey.iv, aad, encodePayload({ contentType: 'application/json' }, UPSTREAM_ANSWER_SAMPLE));
  const serverX25519 = createPublicKey(keys.x25519PublicKeyPem);
  const ephemeral = createPrivateKey(keys.x25519PrivateKeyPem);
  const us = {
    random: microsPerOp(() => randomBytes(16), seconds / 4, 256) * 2, // nonce, IV
    sha256: microsPerOp(() => createHash('sha256').update(sample.body).digest('hex'), seconds / 4, 256),
    hmac: microsPerOp(() => createHmac('sha256', secret).update(sample.canonical).digest(), seconds / 4, 256),
    seal: microsPerOp(() => aesGcmEncrypt(sessionKey, iv, aad, plaintext), seconds / 4, 256),
    hkdf: microsPerOp(() => deriveResponseKey(sessionKey, iv), seconds / 4, 256),
    open: microsPerOp(() => aesGcmDecrypt(responseKey.key, responseKey.iv, aad, sealedAnswer), seconds / 4, 256),
    rsaWrap: microsPerOp(() => publicEncrypt({ key: rsaKey.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, sessionKey), seconds / 4, 32),
    sessionKey: microsPerOp(() => randomBytes(32), seconds / 4, 256),
    x25519Keygen: microsPerOp(() => generateKeyPairSync('x25519'), seconds / 4, 32),
    x25519Dh: microsPerOp(() => diffieHellman({ privateKey: ephemeral, publicKey: serverX25519 }), seconds / 4, 32),
    // HPKE's key schedule for one wrap: ExtractAndExpand and the schedule's extract/expand steps,
    // seven HMAC-SHA256 over short inputs, and AES-GCM over the 32-byte session key.
    hpkeSchedule:
      7 * microsPerOp(() => createHmac('sha256', sessionKey).update(aad).digest(), seconds / 4, 256) +
      microsPerOp(() => {
        const c = createCipheriv('aes-256-gcm', sessionKey, iv);
        c.update(sessionKey);
        c.final();
        c.getAuthTag();
      }, seconds / 4, 256),
  };
  // The SM suite's primitives, each alone (@wxseal/gm): K is 16 bytes, the response key 16 + 12.
  const smSample = buildRequest(benchSealedSpec(keys, secret, smKey));
  const smSessionKey = smSample.context.sessionKey!;
  const smResponseKey = deriveSmResponseKey(gm, smSessionKey, randomBytes(32));
  const smSealedAnswer = sm4GcmSeal(gm, smResponseKey.key, smResponseKey.iv, aad, encodePayload({ contentType: 'application/json' }, UPSTREAM_ANSWER_SAMPLE));
  const canonicalSm = Buffer.from(smSample.canonical, 'utf8');
  const sm = {
    sm3: microsPerOp(() => gm.sm3(smSample.body).toString('hex'), seconds / 4, 256),
    hmac: microsPerOp(() => gm.hmacSm3(secret, canonicalSm), seconds / 4, 256),
    seal: microsPerOp(() => sm4GcmSeal(gm, smSessionKey, iv, aad, plaintext), seconds / 4, 64),
    hkdf: microsPerOp(() => deriveSmResponseKey(gm, smSessionKey, iv), seconds / 4, 256),
    open: microsPerOp(() => sm4GcmOpen(gm, smResponseKey.key, smResponseKey.iv, aad, smSealedAnswer), seconds / 4, 64),
    sessionKey: microsPerOp(() => generateSmSessionKey(), seconds / 4, 256),
    sm2Wrap: microsPerOp(() => wrapSmSessionKey(gm, keys.sm2PublicKeyHex, smSessionKey), seconds / 4, 4),
  };
  const common = us.random + us.sha256 + us.hmac + us.seal + us.hkdf + us.open;
  const commonText = 'nonce and IV (randomBytes), SHA-256 of the body, HMAC, AES-GCM seal, response HKDF, AES-GCM open';
  return [
    {
      suite: 'rsa-oaep-256',
      label: 'RSA-OAEP-2048 server key, a session key per call',
      callMicros: callMicros('rsa-oaep-256'),
      primitivesMicros: common + us.sessionKey + us.rsaWrap,
      primitives: `${commonText}, session key (randomBytes), RSA-OAEP encrypt`,
    },
    {
      suite: 'x25519-hpke',
      label: 'X25519 server key (HPKE), a session key per call',
      callMicros: callMicros('x25519-hpke'),
      primitivesMicros: common + us.sessionKey + us.x25519Keygen + us.x25519Dh + us.hpkeSchedule,
      primitives: `${commonText}, session key, X25519 key generation and DH, HPKE key schedule (7 HMAC + AES-GCM of 32 B)`,
    },
    {
      suite: 'sm2-sm4-gcm',
      label: 'SM2 server key (SM suite, @wxseal/gm), a session key per call',
      callMicros: callMicros('sm2-sm4-gcm'),
      primitivesMicros: us.random + sm.sm3 + sm.hmac + sm.seal + sm.hkdf + sm.open + sm.sessionKey + sm.sm2Wrap,
      primitives: 'nonce and IV (randomBytes), SM3 of the body, HMAC-SM3, SM4-GCM seal, response HKDF-SM3, SM4-GCM open, session key (randomBytes, 16 B), SM2 encrypt',
    },
    {
      suite: 'session-key-reuse',
      label: 'a reused session key (sessionKeyReuse), no wrap',
      callMicros: callMicros('session-key-reuse'),
      primitivesMicros: common,
      primitives: commonText,
    },
  ];
}
