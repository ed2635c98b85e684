/**
 * spec/vectors/sm.json (SPEC.md 6.6, 13): the SM suite. Run by `npm run vectors` (generate-vectors.ts
 * imports it) or alone: `node --conditions=wxseal-source --import tsx scripts/generate-sm-vectors.ts`.
 *
 * Everything is fixed except the SM2 ciphertexts of the session keys: SM2 encryption is randomised,
 * so they are made once and kept. A re-run reuses every wrapped key already in the file that still
 * decrypts to its session key under the fixed server key, and so writes the file unchanged.
 * HMAC-SM3, HKDF-SM3 and SM4-GCM are deterministic, and so is everything computed from them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as gm from '@wxseal/gm';
import {
  HEADERS,
  SM2_WRAPPED_KEY_BYTES,
  SM_LABELS,
  SM_SESSION_KEY_BYTES,
  SM_SUITE,
  buildRequest,
  formatSm2PrivateKey,
  formatSm2PublicKey,
  openSealedRequest,
  parseRequestHeaders,
  rejectionResponse,
  sealResponse,
  signRejection,
  sm2ServerKeyId,
  type WechatIdentity,
} from '@wxseal/protocol';
import {
  b64uDecodeStrict,
  b64uEncode,
  deriveSmResponseKey,
  encodePayload,
  signCanonical,
  sm2SpkiDer,
  sm3Hex,
  smCanonicalRejectionString,
  smRequestAad,
  smResponseAad,
  splitTarget,
  unwrapSmSessionKey,
} from '@wxseal/protocol/primitives';

const file = new URL('../spec/vectors/sm.json', import.meta.url);
const bytes = (label: string, n: number): Buffer => {
  const chunks: Buffer[] = [];
  for (let i = 0; Buffer.concat(chunks).length < n; i++) chunks.push(createHash('sha256').update(`${label}/${i}`).digest());
  return Buffer.concat(chunks).subarray(0, n);
};
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

// The server keys: a fixed scalar each (SHA-256 of a label, below the order n of the SM2 curve).
const serverPrivateKeyHex = bytes('wxseal-vector-sm2-server', 32).toString('hex');
const serverPublicKeyHex = gm.sm2PublicKeyFromPrivate(serverPrivateKeyHex);
const serverKeyId = sm2ServerKeyId(serverPublicKeyHex);
const otherPrivateKeyHex = bytes('wxseal-vector-sm2-other-server', 32).toString('hex');
const otherPublicKeyHex = gm.sm2PublicKeyFromPrivate(otherPrivateKeyHex);

// SM2 ciphertexts already in the file, by the session key they decrypt to (under their key).
const kept = new Map<string, Buffer>();
if (existsSync(file) && !process.argv.includes('--new-wraps')) {
  const old = JSON.parse(readFileSync(file, 'utf8')) as { wraps?: { sessionKey: string; wrapped: string }[]; sealed?: { input: { sessionKey: string; wrapped: string } }[]; otherKeyWrap?: { sessionKey: string; wrapped: string } };
  const consider = (sessionKey: string, wrapped: string, privateKeyHex: string, tag: string): void => {
    const w = b64uDecodeStrict(wrapped);
    try {
      if (w && unwrapSmSessionKey(gm, privateKeyHex, w).equals(b64uDecodeStrict(sessionKey) ?? Buffer.alloc(0))) kept.set(`${tag}:${sessionKey}`, w);
    } catch {
      // not reusable
    }
  };
  for (const w of old.wraps ?? []) consider(w.sessionKey, w.wrapped, serverPrivateKeyHex, 'server');
  for (const s of old.sealed ?? []) consider(s.input.sessionKey, s.input.wrapped, serverPrivateKeyHex, 'server');
  if (old.otherKeyWrap) consider(old.otherKeyWrap.sessionKey, old.otherKeyWrap.wrapped, otherPrivateKeyHex, 'other');
}
const wrap = (sessionKey: Buffer, tag: 'server' | 'other' = 'server'): Buffer => {
  const k = `${tag}:${b64uEncode(sessionKey)}`;
  const existing = kept.get(k);
  if (existing) return existing;
  const w = gm.sm2Encrypt(tag === 'server' ? serverPublicKeyHex : otherPublicKeyHex, sessionKey);
  kept.set(k, w);
  return w;
};

const secret = bytes('wxseal-vector-secret', 32);
const identity: WechatIdentity = { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', appid: 'wx1234567890abcdef', unionid: 'o6_bmasdasdsad6_2sgVt7hMZOPfL', env: 'prod-7g8h9i', source: 'wx_client' };
const smKey = { type: 'sm2' as const, publicKeyHex: serverPublicKeyHex, primitives: gm };

const sealCase = (
  description: string,
  o: { method: string; target: string; body: Buffer; contentType?: string; identity?: WechatIdentity; nonce: string; timestamp: number; label: string; responseStatus: number; responseContentType?: string; responseBody: Buffer },
) => {
  const sessionKey = bytes(`${o.label}-session`, SM_SESSION_KEY_BYTES);
  const iv = bytes(`${o.label}-iv`, 12);
  const wrapped = wrap(sessionKey);
  const built = buildRequest({
    mode: 'sealed', method: o.method, target: o.target, keyId: 'bff-prod', secret, body: o.body,
    ...(o.contentType ? { contentType: o.contentType } : {}), ...(o.identity ? { identity: o.identity } : {}),
    serverKey: { id: serverKeyId, sm2: smKey }, timestamp: o.timestamp, nonce: o.nonce, sessionKey, iv, wrappedKey: wrapped,
  });
  // The generator checks its own output through the verifier functions before writing it.
  const parsed = parseRequestHeaders({ method: o.method, target: o.target, header: (n) => built.headers[n], allowedModes: ['sealed'] });
  const unwrapped = unwrapSmSessionKey(gm, serverPrivateKeyHex, parsed.wrappedKey);
  if (!openSealedRequest(parsed, unwrapped, built.body, gm).body.equals(o.body)) throw new Error(`sm.json: ${description} does not open`);
  const responseNonce = bytes(`${o.label}-response-nonce`, 32);
  const response = sealResponse({ keyId: 'bff-prod', nonce: o.nonce, sessionKey, sm: gm }, { status: o.responseStatus, ...(o.responseContentType ? { contentType: o.responseContentType } : {}), body: o.responseBody }, responseNonce);
  const responseKey = deriveSmResponseKey(gm, sessionKey, responseNonce);
  const { path, rawQuery } = splitTarget(o.target);
  const meta = { ...(o.contentType ? { contentType: o.contentType } : {}), ...(o.identity ? { identity: o.identity } : {}) };
  return {
    description,
    input: {
      mode: 'sealed', method: o.method, target: o.target, keyId: 'bff-prod', secret: b64uEncode(secret), serverKeyId,
      timestamp: String(o.timestamp), nonce: o.nonce, contentType: o.contentType ?? null, identity: o.identity ?? null,
      body: b64uEncode(o.body), sessionKey: b64uEncode(sessionKey), iv: b64uEncode(iv), wrapped: b64uEncode(wrapped),
    },
    expected: {
      requestAad: smRequestAad({ method: o.method, path, rawQuery, timestamp: String(o.timestamp), nonce: o.nonce, keyId: 'bff-prod', serverKeyId }).toString('utf8'),
      plaintext: b64uEncode(encodePayload(meta, o.body)),
      sealedBody: b64uEncode(built.body),
      bodySm3Hex: sm3Hex(gm, built.body),
      canonical: built.canonical,
      headers: built.headers,
    },
    response: {
      input: { responseNonce: b64uEncode(responseNonce), status: o.responseStatus, contentType: o.responseContentType ?? null, body: b64uEncode(o.responseBody) },
      expected: {
        wireStatus: response.status,
        responseKeyHex: responseKey.key.toString('hex'),
        responseIvHex: responseKey.iv.toString('hex'),
        responseAad: smResponseAad({ keyId: 'bff-prod', requestNonce: o.nonce, status: response.status }).toString('utf8'),
        sealedBody: b64uEncode(response.body),
        headers: response.headers,
      },
    },
  };
};

const sealed = [
  sealCase('POST JSON with the full WeChat identity', { method: 'POST', target: '/api/orders?source=mini&b=2', body: utf8('{"sku":"A-1","qty":2}'), contentType: 'application/json', identity, nonce: 'c20tc3VpdGUtbm9uY2UtMDAwMQ', timestamp: 1763900000, label: 'sm-seal-1', responseStatus: 201, responseContentType: 'application/json', responseBody: utf8('{"orderId":"42"}') }),
  sealCase('GET without a body or identity, answered 204 (sent as 200 with an empty body)', { method: 'GET', target: '/api/profile', body: Buffer.alloc(0), nonce: 'c20tc3VpdGUtbm9uY2UtMDAwMg', timestamp: 1763900001, label: 'sm-seal-2', responseStatus: 204, responseBody: Buffer.alloc(0) }),
];

const wraps = [0, 1].map((i) => {
  const sessionKey = bytes(`sm-session-key-${i}`, SM_SESSION_KEY_BYTES);
  return { sessionKey: b64uEncode(sessionKey), wrapped: b64uEncode(wrap(sessionKey)) };
});
const w0 = b64uDecodeStrict(wraps[0]!.wrapped)!;
const flip = (b: Buffer, i: number): string => b64uEncode(Buffer.from(b).map((x, j) => (j === i ? x ^ 0x01 : x)));
const otherSessionKey = bytes('sm-session-key-other', SM_SESSION_KEY_BYTES);
const otherKeyWrap = { sessionKey: b64uEncode(otherSessionKey), wrapped: b64uEncode(wrap(otherSessionKey, 'other')) };

// A signed rejection under the SM suite (SPEC.md 10.1 with HMAC-SM3).
const rej = signRejection(rejectionResponse('WXSEAL_REPLAYED_NONCE', 'this nonce was already accepted', 1763900002), { keyId: 'bff-prod', nonce: sealed[0]!.input.nonce, secret, sm: gm });

const hmacCases = [
  { keyHex: secret.toString('hex'), message: 'WXSEAL1-HMAC-SM3' },
  { keyHex: bytes('sm-hmac-key', 48).toString('hex'), message: '订单 ✓' },
].map((c) => ({ ...c, macHex: gm.hmacSm3(Buffer.from(c.keyHex, 'hex'), utf8(c.message)).toString('hex') }));

const value = {
  description:
    `SPEC.md 6.6: the SM suite (${SM_SUITE}), selected by an SM2 server key. Body hash hex(SM3(body)); signature b64u(HMAC-SM3(secret, canonical)) with the first line ${SM_LABELS.request}; ` +
    `K is ${SM_SESSION_KEY_BYTES} random bytes, wrapped = SM2-Encrypt(server public key, K) as C1 (04||x||y) || C3 || C2 (GB/T 32918.4), ${SM2_WRAPPED_KEY_BYTES} bytes, 151 characters; ` +
    `payload SM4-GCM(K, iv, request AAD labelled ${SM_LABELS.requestAad}); response key and iv = HKDF-SM3(IKM = K, salt = R, info = "${SM_LABELS.responseHkdfInfo}", L = 28) split 16 + 12, response AAD labelled ${SM_LABELS.responseAad}. ` +
    'SM2 encryption is randomised: every wrapped key here is one fixed ciphertext, and a receiver checks that the server private key decrypts it to the session key; everything else is deterministic. ' +
    'The server key is an SM2 scalar made for these vectors only (hex, PKCS#8 / SPKI PEM as OpenSSL writes them, and the armored hex form of SPEC.md 6.6); serverKeyId = "sk-" + first 16 hex of SHA-256(DER SPKI). ' +
    'primitives: SM3, HMAC-SM3, HKDF-SM3 and SM4-GCM known answers (sm4Gcm is RFC 8998 appendix A.1). sealed: full requests and their sealed responses. signedRejection: an SM-suite signed rejection. ' +
    'unwrapFailures: wrapped keys the server private key must refuse with WXSEAL_UNWRAP_FAILED. forgedSignatures: requests whose signature must fail (WXSEAL_BAD_SIGNATURE).',
  labels: SM_LABELS,
  serverKey: {
    serverKeyId,
    privateKeyHex: serverPrivateKeyHex,
    publicKeyHex: serverPublicKeyHex,
    spkiDerHex: sm2SpkiDer(serverPublicKeyHex).toString('hex'),
    privateKeyPem: gm.sm2PrivateKeyToPem(serverPrivateKeyHex),
    publicKeyPem: gm.sm2PublicKeyToPem(serverPublicKeyHex),
    privateKeyText: formatSm2PrivateKey(serverPrivateKeyHex),
    publicKeyText: formatSm2PublicKey(serverPublicKeyHex),
    wrappedKeyBytes: SM2_WRAPPED_KEY_BYTES,
  },
  primitives: {
    sm3: [
      { message: 'abc', digestHex: gm.sm3(utf8('abc')).toString('hex') },
      { message: '', digestHex: gm.sm3(Buffer.alloc(0)).toString('hex') },
    ],
    hmacSm3: hmacCases,
    hkdfSm3: [
      (() => {
        const ikm = bytes('sm-hkdf-ikm', 16);
        const salt = bytes('sm-hkdf-salt', 32);
        return { ikmHex: ikm.toString('hex'), saltHex: salt.toString('hex'), info: SM_LABELS.responseHkdfInfo, length: 28, okmHex: gm.hkdfSm3(ikm, salt, utf8(SM_LABELS.responseHkdfInfo), 28).toString('hex') };
      })(),
    ],
    sm4Gcm: [
      (() => {
        const key = Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex');
        const iv = Buffer.from('00001234567800000000ABCD', 'hex');
        const aad = Buffer.from('FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2', 'hex');
        const pt = Buffer.from('AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA', 'hex');
        const { ciphertext, tag } = gm.sm4GcmEncrypt(key, iv, pt, aad);
        return { source: 'RFC 8998 A.1', keyHex: key.toString('hex'), ivHex: iv.toString('hex'), aadHex: aad.toString('hex'), plaintextHex: pt.toString('hex'), ciphertextHex: ciphertext.toString('hex'), tagHex: tag.toString('hex') };
      })(),
    ],
  },
  wraps,
  otherKeyWrap,
  sealed,
  signedRejection: {
    keyId: 'bff-prod',
    requestNonce: sealed[0]!.input.nonce,
    status: rej.status,
    code: 'WXSEAL_REPLAYED_NONCE',
    serverTime: rej.headers[HEADERS.serverTime],
    canonical: smCanonicalRejectionString({ keyId: 'bff-prod', requestNonce: sealed[0]!.input.nonce, status: rej.status, code: 'WXSEAL_REPLAYED_NONCE', serverTime: rej.headers[HEADERS.serverTime]! }),
    signature: rej.headers[HEADERS.signature],
  },
  unwrapFailures: [
    { description: 'a bit of C1 (the ephemeral point) changed', wrapped: flip(w0, 10) },
    { description: 'a bit of C3 (the SM3 check value) changed', wrapped: flip(w0, 70) },
    { description: 'a bit of C2 (the encrypted key) changed', wrapped: flip(w0, 100) },
    { description: 'wrapped for another SM2 key', wrapped: otherKeyWrap.wrapped },
    { description: 'C1 not an uncompressed point (first byte 02)', wrapped: b64uEncode(Buffer.concat([Buffer.of(0x02), w0.subarray(1)])) },
  ],
  forgedSignatures: [
    { description: 'the first sealed request with HMAC-SHA256 over its canonical string (the other suites\' MAC) in Wxseal-Signature', case: 0, signature: signCanonical(secret, sealed[0]!.expected.canonical) },
  ],
};

writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
console.log('wrote spec/vectors/sm.json');
