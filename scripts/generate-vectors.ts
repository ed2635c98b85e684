/**
 * Generates the known-answer vectors of spec/vectors/ (SPEC.md section 13). Run once with
 * `npm run vectors`; the output is checked in and the tests reproduce every value. Everything is
 * fixed except the RSA key pair and OAEP ciphertexts (OAEP is randomised), which are generated
 * here once, kept in the vectors and used nowhere else. Re-running keeps the RSA keys already in
 * rsa-oaep.json (pass --new-keys to replace them) and every OAEP ciphertext already in the files
 * (found by unwrapping them), so a re-run changes nothing that exists and only adds new cases.
 */
import { constants, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import {
  EMPTY_BODY_SHA256,
  HEADERS,
  buildRequest,
  canonicalRequestString,
  canonicalResponseString,
  encodeIdentityHeader,
  sealResponse,
  signResponse,
  type SignedRequestFields,
  type WechatIdentity,
  type WireErrorCode,
  canonicalRejectionString,
  rejectionResponse,
  signRejection,
  DEVICE_ACTIVATION_PATH,
  DEVICE_LABELS,
  DEVICE_ROTATION_PATH,
  buildActivationRequest,
  canonicalActivationString,
  deviceRequestSpec,
  encodeActivationBody,
  sealDeviceKey,
  type DeviceKeyPurpose,
  type RequestSpec,
  SESSION_KEY_HPKE_INFO,
  openSealedRequest,
  parseRequestHeaders,
} from '@wxseal/protocol';
import {
  b64uEncode,
  canonicalQuery,
  deriveResponseKey,
  aesGcmEncrypt,
  encodePayload,
  requestAad,
  responseAad,
  sha256Hex,
  signCanonical,
  splitTarget,
  wrapSessionKey,
  deriveDeviceKeyWrap,
  deviceKeyAad,
  deviceKeySalt,
  hpkeDeriveKeyPair,
  hpkeEncap,
  hpkeKeySchedule,
  x25519RawPrivateKey,
  x25519RawPublicKey,
  HPKE_IDS,
} from '@wxseal/protocol/primitives';

const out = new URL('../spec/vectors/', import.meta.url);
mkdirSync(out, { recursive: true });
const write = (name: string, value: unknown) => {
  writeFileSync(new URL(name, out), JSON.stringify(value, null, 2) + '\n');
  console.log(`wrote spec/vectors/${name}`);
};
// Deterministic byte strings: SHA-256 chains over a label, so the vectors are reproducible by eye.
const bytes = (label: string, n: number): Buffer => {
  const chunks: Buffer[] = [];
  for (let i = 0; Buffer.concat(chunks).length < n; i++) chunks.push(createHash('sha256').update(`${label}/${i}`).digest());
  return Buffer.concat(chunks).subarray(0, n);
};
const utf8 = (s: string) => Buffer.from(s, 'utf8');

// --- canonical-query.json ----------------------------------------------------------------------
const queries = ['', 'a=1', 'b=2&a=1', 'a=2&a=1', 'z&y=&x=1', 'q=hello+world&p=%2F%20&&', 'b=1&a=2&b=0&a=1', 'A=1&a=2&_=3&-=4', 'k=v=w&k', '%E4%BD%A0=1&a=%E5%A5%BD', 'a=1&&&'];
write('canonical-query.json', {
  description: 'SPEC.md 5.1: raw query (after ?) -> canonical query. Stable sort by the bytes before the first =, no decoding.',
  cases: queries.map((rawQuery) => ({ rawQuery, canonical: canonicalQuery(rawQuery) })),
});

// --- sign.json ---------------------------------------------------------------------------------
const secret = bytes('wxseal-vector-secret', 32);
const secret2 = bytes('wxseal-vector-secret-2', 48);
const signed = (description: string, key: Buffer, f: Omit<SignedRequestFields, 'bodySha256'>, body: Buffer) => {
  const fields: SignedRequestFields = { ...f, bodySha256: sha256Hex(body) };
  const canonical = canonicalRequestString(fields);
  return { description, secret: b64uEncode(key), fields: { ...fields, canonicalQuery: canonicalQuery(f.rawQuery) }, body: b64uEncode(body), canonical, signature: signCanonical(key, canonical) };
};
const identity = { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', appid: 'wx1234567890abcdef', unionid: 'o6_bmasdasdsad6_2sgVt7hMZOPfL', env: 'prod-7g8h9i', source: 'wx_client' };
const identityHeader = encodeIdentityHeader(identity);
const base = { method: 'POST', path: '/api/orders', rawQuery: '', timestamp: '1763900000', nonce: 'bm9uY2Utbm9uY2Utbm9uY2U', keyId: 'bff-prod', serverKeyId: '', wrappedKey: '', iv: '', identity: '', traceparent: '' };
write('sign.json', {
  description: 'SPEC.md 5.2-5.3: signed fields -> canonical request string -> b64u(HMAC-SHA256(secret, canonical)). fields.bodySha256 is hex(SHA-256(body)); fields.canonicalQuery is informative.',
  cases: [
    signed('sign-only POST with JSON body', secret, { ...base, mode: 'signed', contentType: 'application/json' }, utf8('{"sku":"A-1","qty":2}')),
    signed('sign-only GET with query, no body, no content type', secret, { ...base, mode: 'signed', method: 'GET', path: '/api/orders/42', rawQuery: 'z=1&a=2&a=1', contentType: '' }, Buffer.alloc(0)),
    signed('sign-only with identity header and traceparent', secret, { ...base, mode: 'signed', contentType: 'application/json; charset=utf-8', identity: identityHeader, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, utf8('{}')),
    signed('sign-only with a 48-byte secret and a non-ASCII path and body', secret2, { ...base, mode: 'signed', path: '/api/%E8%AE%A2%E5%8D%95', contentType: 'text/plain', nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, utf8('订单 ✓')),
    signed('sealed-mode fields (body is opaque ciphertext here)', secret, { ...base, mode: 'sealed', contentType: 'application/vnd.wxseal.sealed', serverKeyId: 'sk-0123456789abcdef', wrappedKey: b64uEncode(bytes('wrapped', 256)), iv: b64uEncode(bytes('iv', 12)) }, bytes('ciphertext', 61)),
  ],
  emptyBodySha256: EMPTY_BODY_SHA256,
});

// --- rsa-oaep.json -----------------------------------------------------------------------------
const existingKeys: Array<{ bits: number; privateKeyPem: string }> | undefined =
  !process.argv.includes('--new-keys') && existsSync(new URL('rsa-oaep.json', out))
    ? JSON.parse(readFileSync(new URL('rsa-oaep.json', out), 'utf8')).keys
    : undefined;
const keyPair = (bits: number): { privateKey: KeyObject; publicKey: KeyObject } => {
  const kept = existingKeys?.find((k) => k.bits === bits);
  if (kept) {
    const priv = createPrivateKey(kept.privateKeyPem);
    return { privateKey: priv, publicKey: createPublicKey(priv) };
  }
  return generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 65537 });
};
const { privateKey, publicKey } = keyPair(2048);
const { privateKey: privateKey4096, publicKey: publicKey4096 } = keyPair(4096);
const pem = (k: typeof privateKey) => (k.type === 'private' ? k.export({ type: 'pkcs8', format: 'pem' }) : k.export({ type: 'spki', format: 'pem' })).toString();
const serverKeyId = (k: typeof publicKey) => 'sk-' + createHash('sha256').update(k.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
const keys = [
  { bits: 2048, id: serverKeyId(publicKey), privateKeyPem: pem(privateKey), publicKeyPem: pem(publicKey), priv: privateKey, pub: publicKey },
  { bits: 4096, id: serverKeyId(publicKey4096), privateKeyPem: pem(privateKey4096), publicKeyPem: pem(publicKey4096), priv: privateKey4096, pub: publicKey4096 },
];
type VectorKey = (typeof keys)[number];

// OAEP ciphertexts already in the files, by key size and plaintext: a re-run reuses them, so the
// values that depend on them (wrapped keys, signatures over them) stay as they are.
const keptWraps = new Map<string, Buffer>();
if (existingKeys) {
  const collect = (value: unknown): void => {
    if (typeof value === 'string') {
      if (!/^(?:[A-Za-z0-9_-]{342}|[A-Za-z0-9_-]{683})$/.test(value)) return;
      const k = keys.find((x) => x.bits / 8 === Buffer.from(value, 'base64url').length);
      if (!k) return;
      try {
        const plain = unwrapSessionKeyAnyLength(k.priv, Buffer.from(value, 'base64url'));
        const id = `${k.bits}:${plain.toString('hex')}`;
        if (!keptWraps.has(id)) keptWraps.set(id, Buffer.from(value, 'base64url'));
      } catch {
        // Not a ciphertext under this key (a corrupted one in reject.json, say).
      }
    } else if (Array.isArray(value)) value.forEach(collect);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(collect);
  };
  for (const name of readdirSync(out)) if (name.endsWith('.json')) collect(JSON.parse(readFileSync(new URL(name, out), 'utf8')));
}
function unwrapSessionKeyAnyLength(priv: KeyObject, wrapped: Buffer): Buffer {
  return privateDecrypt({ key: priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped);
}
/** OAEP-wraps `plain` under `k`, reusing the ciphertext the files already hold for it. */
const wrap = (k: VectorKey, plain: Buffer): Buffer => {
  const id = `${k.bits}:${plain.toString('hex')}`;
  let w = keptWraps.get(id);
  if (!w) {
    w = wrapSessionKey(k.pub, plain);
    keptWraps.set(id, w);
  }
  return w;
};
/**
 * The session key and IV of a request built with random ones by an earlier version of this script,
 * read back from the case of reject.json with this description (its wrapped key unwrapped), or
 * fixed ones derived from `label` for a new case.
 */
const existingReject: Array<{ description: string; request: { headers: Record<string, string> } }> =
  existsSync(new URL('reject.json', out)) ? JSON.parse(readFileSync(new URL('reject.json', out), 'utf8')).cases : [];
const keptEnvelope = (description: string, label: string): { sessionKey: Buffer; iv: Buffer } => {
  const c = existingReject.find((x) => x.description === description);
  if (c && existingKeys) {
    const wrapped = Buffer.from(c.request.headers[HEADERS.wrappedKey]!, 'base64url');
    return { sessionKey: unwrapSessionKeyAnyLength(keys[0]!.priv, wrapped), iv: Buffer.from(c.request.headers[HEADERS.iv]!, 'base64url') };
  }
  return { sessionKey: bytes(`${label}-session`, 32), iv: bytes(`${label}-iv`, 12) };
};
write('rsa-oaep.json', {
  description: 'RSA-OAEP, SHA-256 hash and MGF1-SHA-256, empty label. Keys generated for these vectors only (PKCS#8 / SPKI PEM). Each wrapped value must unwrap to sessionKey. serverKeyId = "sk-" + first 16 hex of SHA-256(DER SPKI).',
  keys: keys.map((k) => ({
    bits: k.bits,
    serverKeyId: k.id,
    privateKeyPem: k.privateKeyPem,
    publicKeyPem: k.publicKeyPem,
    cases: [0, 1, 2].map((i) => {
      const sessionKey = bytes(`session-key-${k.bits}-${i}`, 32);
      return { sessionKey: b64uEncode(sessionKey), wrapped: b64uEncode(wrap(k, sessionKey)) };
    }),
  })),
});

// --- seal-request.json -------------------------------------------------------------------------
const sealCase = (description: string, o: { method: string; target: string; body: Buffer; contentType?: string; identity?: WechatIdentity; traceparent?: string; nonce: string; timestamp: number; label: string }) => {
  const k = keys[0]!;
  const sessionKey = bytes(`${o.label}-session`, 32);
  const iv = bytes(`${o.label}-iv`, 12);
  const wrapped = wrap(k, sessionKey);
  const built = buildRequest({
    mode: 'sealed', method: o.method, target: o.target, keyId: 'bff-prod', secret, body: o.body,
    ...(o.contentType ? { contentType: o.contentType } : {}), ...(o.identity ? { identity: o.identity } : {}), ...(o.traceparent ? { traceparent: o.traceparent } : {}),
    serverKey: { id: k.id, publicKey: k.pub }, timestamp: o.timestamp, nonce: o.nonce, sessionKey, iv, wrappedKey: wrapped,
  });
  const { path, rawQuery } = splitTarget(o.target);
  const meta = { ...(o.contentType ? { contentType: o.contentType } : {}), ...(o.identity ? { identity: o.identity } : {}) };
  return {
    description,
    input: {
      mode: 'sealed', method: o.method, target: o.target, keyId: 'bff-prod', secret: b64uEncode(secret), serverKeyId: k.id,
      timestamp: String(o.timestamp), nonce: o.nonce, contentType: o.contentType ?? null, identity: o.identity ?? null, traceparent: o.traceparent ?? null,
      body: b64uEncode(o.body), sessionKey: b64uEncode(sessionKey), iv: b64uEncode(iv), wrappedKey: b64uEncode(wrapped),
    },
    expected: {
      requestAad: requestAad({ method: o.method, path, rawQuery, timestamp: String(o.timestamp), nonce: o.nonce, keyId: 'bff-prod', serverKeyId: k.id }).toString('utf8'),
      plaintext: b64uEncode(encodePayload(meta, o.body)),
      sealedBody: b64uEncode(built.body),
      bodySha256Hex: sha256Hex(built.body),
      canonical: built.canonical,
      headers: built.headers,
    },
  };
};
write('seal-request.json', {
  description: 'SPEC.md 6.1-6.2 and 5: sealed requests with fixed session key and IV. The wrapped key was made with rsa-oaep.json keys[0] (2048 bits); unwrapping it with that private key gives input.sessionKey. expected.plaintext = meta JSON || LF || body; expected.sealedBody = AES-256-GCM(sessionKey, iv, requestAad, plaintext) = ciphertext || tag.',
  serverKeyIndex: 0,
  cases: [
    sealCase('POST JSON with the full WeChat identity and a traceparent', { method: 'POST', target: '/api/orders?source=mini&b=2', body: utf8('{"sku":"A-1","qty":2}'), contentType: 'application/json', identity, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', nonce: 'c2VhbGVkLW5vbmNlLTAwMDE', timestamp: 1763900000, label: 'seal-1' }),
    sealCase('GET without a body or identity (the plaintext is meta {} and LF)', { method: 'GET', target: '/api/profile', body: Buffer.alloc(0), nonce: 'c2VhbGVkLW5vbmNlLTAwMDI', timestamp: 1763900001, label: 'seal-2' }),
    sealCase('PUT with a binary body holding LF bytes', { method: 'PUT', target: '/api/blob/7', body: Buffer.from([0x00, 0x0a, 0xff, 0x0a, 0x41]), contentType: 'application/octet-stream', identity: { openid: 'o-only' }, nonce: 'c2VhbGVkLW5vbmNlLTAwMDM', timestamp: 1763900002, label: 'seal-3' }),
  ],
});

// --- response.json -----------------------------------------------------------------------------
const respCase = (label: string, status: number, contentType: string | undefined, body: Buffer) => {
  const sessionKey = bytes(`${label}-session`, 32);
  const responseNonce = bytes(`${label}-response-nonce`, 32);
  const { key, iv } = deriveResponseKey(sessionKey, responseNonce);
  const ctx = { keyId: 'bff-prod', nonce: 'c2VhbGVkLW5vbmNlLTAwMDE', sessionKey };
  const sealed = sealResponse(ctx, { status, ...(contentType ? { contentType } : {}), body }, responseNonce);
  return {
    description: `status ${status}${contentType ? ' ' + contentType : ''}`,
    input: { sessionKey: b64uEncode(sessionKey), responseNonce: b64uEncode(responseNonce), keyId: ctx.keyId, requestNonce: ctx.nonce, status, contentType: contentType ?? null, body: b64uEncode(body) },
    expected: {
      okmHex: Buffer.concat([key, iv]).toString('hex'),
      responseKeyHex: key.toString('hex'),
      responseIvHex: iv.toString('hex'),
      responseAad: responseAad({ keyId: ctx.keyId, requestNonce: ctx.nonce, status: sealed.status }).toString('utf8'),
      plaintext: b64uEncode(encodePayload(contentType ? { contentType } : {}, body)),
      wireStatus: sealed.status,
      sealedBody: b64uEncode(sealed.body),
      headers: sealed.headers,
    },
  };
};
const signedResp = (status: number, contentType: string, body: Buffer) => {
  const ctx = { keyId: 'bff-prod', nonce: 'bm9uY2Utbm9uY2Utbm9uY2U', secret };
  const res = signResponse(ctx, { status, contentType, body });
  return {
    input: { secret: b64uEncode(secret), keyId: ctx.keyId, requestNonce: ctx.nonce, status, contentType, body: b64uEncode(body) },
    expected: { canonical: canonicalResponseString({ keyId: ctx.keyId, requestNonce: ctx.nonce, status, contentType, bodySha256: sha256Hex(body) }), signature: res.headers[HEADERS.signature] },
  };
};
const negative = (() => {
  const c = respCase('resp-1', 200, 'application/json', utf8('{"ok":true,"orderId":"42"}'));
  const body = b64uEncode(Buffer.from(c.expected.sealedBody, 'base64url').map((x, i) => (i === 5 ? x ^ 0x80 : x)));
  const base = { sessionKey: c.input.sessionKey, keyId: c.input.keyId, requestNonce: c.input.requestNonce, status: 200, responseNonce: c.input.responseNonce, sealedBody: c.expected.sealedBody };
  return [
    { description: 'status changed to 201 on the way', ...base, status: 201 },
    { description: 'answer to another request (other request nonce)', ...base, requestNonce: 'c2VhbGVkLW5vbmNlLTAwMDI' },
    { description: 'another key id', ...base, keyId: 'bff-test' },
    { description: 'a flipped bit in the ciphertext', ...base, sealedBody: body },
    { description: 'another response nonce', ...base, responseNonce: b64uEncode(bytes('other-response-nonce', 32)) },
  ];
})();
// Signed rejections (SPEC.md 10.1): what a client checks offline before it trusts a rejection.
const rejectionMessages: Partial<Record<WireErrorCode, string>> = {
  WXSEAL_REPLAYED_NONCE: 'this nonce was already accepted for this key id',
  WXSEAL_NONCE_STORE_FULL: 'the nonce store refuses new nonces until old ones expire',
  WXSEAL_NONCE_STORE_UNAVAILABLE: 'the nonce store cannot be reached',
  WXSEAL_NONCE_STORE_RESET: 'the nonce store lost its records after this request was signed; send a new request',
  WXSEAL_UNWRAP_FAILED: 'the wrapped session key does not decrypt with the named server key',
  WXSEAL_DECRYPT_FAILED: 'authenticated decryption failed',
  WXSEAL_MALFORMED_PAYLOAD: 'payload meta repeats a member name',
  WXSEAL_MALFORMED_HEADER: 'Wxseal-Identity is not UTF-8 JSON',
};
type RejectionRequest = { keyId: string; nonce: string; secret: Buffer };
const rejectionRequest: RejectionRequest = { keyId: 'bff-prod', nonce: 'cmVqZWN0LW5vbmNlLTAwMDE', secret };
const signedRejection = (code: WireErrorCode, serverTime: number, req: RejectionRequest = rejectionRequest) => {
  const wire = signRejection(rejectionResponse(code, rejectionMessages[code]!, serverTime), req);
  return {
    description: `${code} (${wire.status})`,
    request: { keyId: req.keyId, nonce: req.nonce, secret: b64uEncode(req.secret) },
    response: { status: wire.status, headers: wire.headers, body: b64uEncode(wire.body) },
    expected: {
      canonical: canonicalRejectionString({ keyId: req.keyId, requestNonce: req.nonce, status: wire.status, code, serverTime: String(serverTime) }),
      signature: wire.headers[HEADERS.signature]!,
    },
  };
};
const rejections = [
  signedRejection('WXSEAL_REPLAYED_NONCE', 1763900000),
  signedRejection('WXSEAL_NONCE_STORE_FULL', 1763900001),
  signedRejection('WXSEAL_NONCE_STORE_UNAVAILABLE', 1763900002, { keyId: 'bff-prod', nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', secret: secret2 }),
  signedRejection('WXSEAL_UNWRAP_FAILED', 1763900003),
  signedRejection('WXSEAL_DECRYPT_FAILED', 1763900004),
  signedRejection('WXSEAL_MALFORMED_PAYLOAD', 1763900005),
  signedRejection('WXSEAL_MALFORMED_HEADER', 1763900006, { keyId: 'bff-prod', nonce: 'twenty-five-chars-nonce-1', secret }), // nonces are opaque: 25 characters
  signedRejection('WXSEAL_NONCE_STORE_RESET', 1763900007),
];
// Each from a valid signed rejection with one thing changed; a client must not trust any of them.
const r0 = rejections[1]!; // NONCE_STORE_FULL, 503: the one a client would retry a POST after
const rejectionMustNotVerify = [
  { description: 'the rejection of another request (other request nonce)', request: { ...r0.request, nonce: 'cmVqZWN0LW5vbmNlLTAwMDI' }, response: r0.response },
  { description: 'checked for another key id', request: { ...r0.request, keyId: 'bff-test' }, response: r0.response },
  { description: 'checked with another secret', request: { ...r0.request, secret: b64uEncode(secret2) }, response: r0.response },
  { description: 'Wxseal-Server-Time changed by one second', request: r0.request, response: { ...r0.response, headers: { ...r0.response.headers, [HEADERS.serverTime]: '1763900002' } } },
  { description: 'another code of the same status (NONCE_STORE_UNAVAILABLE)', request: r0.request, response: { ...r0.response, headers: { ...r0.response.headers, [HEADERS.error]: 'WXSEAL_NONCE_STORE_UNAVAILABLE' } } },
  { description: 'a status other than the code\'s (500): not a rejection at all', request: r0.request, response: { ...r0.response, status: 500 } },
  { description: 'no Wxseal-Signature (an unsigned 503)', request: r0.request, response: { ...r0.response, headers: Object.fromEntries(Object.entries(r0.response.headers).filter(([n]) => n !== HEADERS.signature)) } },
  { description: 'the signature with its padding (44 characters)', request: r0.request, response: { ...r0.response, headers: { ...r0.response.headers, [HEADERS.signature]: `${r0.expected.signature}=` } } },
  { description: 'the signature over the canonical string without its first line', request: r0.request, response: { ...r0.response, headers: { ...r0.response.headers, [HEADERS.signature]: signCanonical(secret, r0.expected.canonical.split('\n').slice(1).join('\n')) } } },
];

write('response.json', {
  description: 'SPEC.md 6.3 (sealed) and 12 (sign-only). OKM = HKDF-SHA256(IKM=sessionKey, salt=responseNonce, info="WXSEAL1 response", L=44); key = OKM[0..32), iv = OKM[32..44). A 204 is sent as 200 (wireStatus), and the AAD uses the wire status. ' +
    'signedRejections (SPEC.md 10.1): a rejection raised after the request signature verified, answered for request (key id, nonce, the secret that verified it): expected.canonical is the canonical rejection string of its status, Wxseal-Error and Wxseal-Server-Time, expected.signature its b64u HMAC-SHA256, sent as Wxseal-Signature; response.body (b64u) is informative. rejectionMustNotVerify: rejections a client checking for request must not trust (not a recognised rejection, or a signature that does not verify).',
  sealed: [respCase('resp-1', 200, 'application/json', utf8('{"ok":true,"orderId":"42"}')), respCase('resp-2', 404, 'application/json', utf8('{"error":"not found"}')), respCase('resp-3', 204, undefined, Buffer.alloc(0))],
  signed: [signedResp(200, 'application/json', utf8('{"ok":true}')), signedResp(500, 'text/plain', utf8('boom'))],
  mustNotOpen: negative,
  signedRejections: rejections,
  rejectionMustNotVerify,
});

// --- reject.json -------------------------------------------------------------------------------
// Each case is a complete request (from seal-request case 0) with one thing wrong.
const k0 = keys[0]!;
const good = buildRequest({
  mode: 'sealed', method: 'POST', target: '/api/orders', keyId: 'bff-prod', secret, body: utf8('{"sku":"A-1"}'), contentType: 'application/json', identity,
  serverKey: { id: k0.id, publicKey: k0.pub }, timestamp: 1763900000, nonce: 'cmVqZWN0LW5vbmNlLTAwMDE', sessionKey: bytes('reject-session', 32), iv: bytes('reject-iv', 12),
  wrappedKey: wrap(k0, bytes('reject-session', 32)),
});
const goodSigned = buildRequest({ mode: 'signed', method: 'POST', target: '/api/ping', keyId: 'bff-prod', secret, body: utf8('{"ping":1}'), contentType: 'application/json', identity, timestamp: 1763900000, nonce: 'cmVqZWN0LW5vbmNlLTAwMDI' });
type Req = { method: string; target: string; headers: Record<string, string>; body: Buffer };
const flip = (b: Buffer, i: number) => { const c = Buffer.from(b); c[i] = c[i]! ^ 0x01; return c; };
const flipB64 = (s: string, i: number) => b64uEncode(flip(Buffer.from(s, 'base64url'), i));
const base0: Req = { method: 'POST', target: '/api/orders', headers: good.headers, body: good.body };
const with_ = (r: Req, h: Record<string, string | null>, extra: Partial<Req> = {}): Req => {
  const headers = { ...r.headers };
  for (const [n, v] of Object.entries(h)) { if (v === null) delete headers[n]; else headers[n] = v; }
  return { ...r, ...extra, headers };
};
const forgedEnvelope = keptEnvelope('signature made with another secret', 'reject-forged');
const forged = buildRequest({ mode: 'sealed', method: 'POST', target: '/api/orders', keyId: 'bff-prod', secret: bytes('not-the-secret', 32), body: utf8('{"sku":"A-1"}'), contentType: 'application/json', serverKey: { id: k0.id, publicKey: k0.pub }, timestamp: 1763900000, nonce: 'cmVqZWN0LW5vbmNlLTAwMDM', ...forgedEnvelope, wrappedKey: wrap(k0, forgedEnvelope.sessionKey) });
// A request signed with the real secret whose ciphertext is garbage: only decryption can catch it.
const badCipher = (() => {
  const envelope = keptEnvelope('authentic signature over a corrupted ciphertext', 'reject-bad-cipher');
  const r = buildRequest({ mode: 'sealed', method: 'POST', target: '/api/orders', keyId: 'bff-prod', secret, body: utf8('x'), serverKey: { id: k0.id, publicKey: k0.pub }, timestamp: 1763900000, nonce: 'cmVqZWN0LW5vbmNlLTAwMDQ', ...envelope, wrappedKey: wrap(k0, envelope.sessionKey) });
  const body = flip(r.body, 0);
  const fields = { mode: 'sealed' as const, method: 'POST', path: '/api/orders', rawQuery: '', timestamp: '1763900000', nonce: 'cmVqZWN0LW5vbmNlLTAwMDQ', keyId: 'bff-prod', contentType: r.headers[HEADERS.contentType]!, serverKeyId: k0.id, wrappedKey: r.headers[HEADERS.wrappedKey]!, iv: r.headers[HEADERS.iv]!, identity: '', traceparent: '', bodySha256: sha256Hex(body) };
  return { ...r, body, headers: { ...r.headers, [HEADERS.signature]: signCanonical(secret, canonicalRequestString(fields)) } };
})();
// Correctly signed requests whose envelope is wrong in a way only steps 7-8 can see.
const signedSealed = (nonce: string, wrapped: Buffer, body: Buffer): Req => {
  const headers: Record<string, string> = {
    [HEADERS.version]: '1', [HEADERS.mode]: 'sealed', [HEADERS.keyId]: 'bff-prod', [HEADERS.timestamp]: '1763900000', [HEADERS.nonce]: nonce,
    [HEADERS.contentType]: 'application/vnd.wxseal.sealed', [HEADERS.serverKeyId]: k0.id, [HEADERS.wrappedKey]: b64uEncode(wrapped), [HEADERS.iv]: b64uEncode(bytes('iv-' + nonce, 12)),
  };
  const fields = { mode: 'sealed' as const, method: 'POST', path: '/api/orders', rawQuery: '', timestamp: '1763900000', nonce, keyId: 'bff-prod', contentType: headers[HEADERS.contentType]!, serverKeyId: k0.id, wrappedKey: headers[HEADERS.wrappedKey]!, iv: headers[HEADERS.iv]!, identity: '', traceparent: '', bodySha256: sha256Hex(body) };
  headers[HEADERS.signature] = signCanonical(secret, canonicalRequestString(fields));
  return { method: 'POST', target: '/api/orders', headers, body };
};
const sealedPlain = (nonce: string, plaintext: Buffer, sessionKey: Buffer): Req => {
  const iv = bytes('iv-' + nonce, 12);
  const aad = requestAad({ method: 'POST', path: '/api/orders', rawQuery: '', timestamp: '1763900000', nonce, keyId: 'bff-prod', serverKeyId: k0.id });
  return signedSealed(nonce, wrap(k0, sessionKey), aesGcmEncrypt(sessionKey, iv, aad, plaintext));
};
const garbageWrap = (() => { const w = Buffer.from(bytes('garbage-wrap', 256)); w[0] = 0x00; return w; })();
const signedIdentity = (nonce: string, identityHeaderValue: string): Req => {
  const body = utf8('{}');
  const headers: Record<string, string> = { [HEADERS.version]: '1', [HEADERS.mode]: 'signed', [HEADERS.keyId]: 'bff-prod', [HEADERS.timestamp]: '1763900000', [HEADERS.nonce]: nonce, [HEADERS.contentType]: 'application/json', [HEADERS.identity]: identityHeaderValue };
  const fields = { ...base, mode: 'signed' as const, path: '/api/ping', nonce, contentType: 'application/json', identity: identityHeaderValue, bodySha256: sha256Hex(body) };
  headers[HEADERS.signature] = signCanonical(secret, canonicalRequestString(fields));
  return { method: 'POST', target: '/api/ping', headers, body };
};
const sig = good.headers[HEADERS.signature]!;
// Last character with non-zero unused bits: decodes to the same 32 bytes under a lenient decoder.
const sigTrailingBits = sig.slice(0, 42) + String.fromCharCode(sig.charCodeAt(42) + 1);
type RejectCase = { description: string; request: Req; now: number; expectedCode: string | null; sendTwice?: boolean; precededBy?: Req; maxBodyBytes?: number; allowedModes?: string[]; expectedIdentity?: WechatIdentity; expectedContentType?: string | null };
const cases: RejectCase[] = [
  { description: 'valid sealed request (accepted)', request: base0, now: 1763900000, expectedCode: null },
  { description: 'valid sign-only request (accepted)', request: { method: 'POST', target: '/api/ping', headers: goodSigned.headers, body: goodSigned.body }, now: 1763900030, expectedCode: null },
  { description: 'replayed: the same request a second time', request: base0, now: 1763900000, expectedCode: 'WXSEAL_REPLAYED_NONCE', sendTwice: true },
  { description: 'a flipped byte in the ciphertext', request: { ...base0, body: flip(good.body, 3) }, now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'a flipped byte in the GCM tag', request: { ...base0, body: flip(good.body, good.body.length - 1) }, now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'a flipped bit in the IV', request: with_(base0, { [HEADERS.iv]: flipB64(good.headers[HEADERS.iv]!, 0) }), now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'a flipped bit in the wrapped key', request: with_(base0, { [HEADERS.wrappedKey]: flipB64(good.headers[HEADERS.wrappedKey]!, 10) }), now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'another path', request: { ...base0, target: '/api/refunds' }, now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'another method', request: { ...base0, method: 'PUT' }, now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'a query added', request: { ...base0, target: '/api/orders?admin=1' }, now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'timestamp changed by one second', request: with_(base0, { [HEADERS.timestamp]: '1763900001' }), now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'nonce changed', request: with_(base0, { [HEADERS.nonce]: 'cmVqZWN0LW5vbmNlLTAwMDk' }), now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'signature made with another secret', request: { method: 'POST', target: '/api/orders', headers: forged.headers, body: forged.body }, now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'sign-only: identity header changed', request: { method: 'POST', target: '/api/ping', headers: { ...goodSigned.headers, [HEADERS.identity]: encodeIdentityHeader({ ...identity, openid: 'someone-else' }) }, body: goodSigned.body }, now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'sign-only: body changed', request: { method: 'POST', target: '/api/ping', headers: goodSigned.headers, body: utf8('{"ping":2}') }, now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'sign-only: traceparent added', request: { method: 'POST', target: '/api/ping', headers: { ...goodSigned.headers, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, body: goodSigned.body }, now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'unknown key id', request: with_(base0, { [HEADERS.keyId]: 'nobody' }), now: 1763900000, expectedCode: 'WXSEAL_UNKNOWN_KEY_ID' },
  { description: 'unknown server key id', request: with_(base0, { [HEADERS.serverKeyId]: 'sk-ffffffffffffffff' }), now: 1763900000, expectedCode: 'WXSEAL_UNKNOWN_SERVER_KEY' },
  { description: 'timestamp 61 s old', request: base0, now: 1763900061, expectedCode: 'WXSEAL_TIMESTAMP_EXPIRED' },
  { description: 'timestamp 60 s old (edge, accepted)', request: base0, now: 1763900060, expectedCode: null },
  { description: 'timestamp 61 s ahead', request: base0, now: 1763899939, expectedCode: 'WXSEAL_TIMESTAMP_FUTURE' },
  { description: 'version 2', request: with_(base0, { [HEADERS.version]: '2' }), now: 1763900000, expectedCode: 'WXSEAL_UNSUPPORTED_VERSION' },
  { description: 'no signature', request: with_(base0, { [HEADERS.signature]: null }), now: 1763900000, expectedCode: 'WXSEAL_MISSING_HEADER' },
  { description: 'no nonce', request: with_(base0, { [HEADERS.nonce]: null }), now: 1763900000, expectedCode: 'WXSEAL_MISSING_HEADER' },
  { description: 'nonce too short', request: with_(base0, { [HEADERS.nonce]: 'c2hvcnQ' }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'timestamp with a sign', request: with_(base0, { [HEADERS.timestamp]: '+1763900000' }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'signature with padding', request: with_(base0, { [HEADERS.signature]: good.headers[HEADERS.signature]!.slice(0, 42) + '=' }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'mode unknown', request: with_(base0, { [HEADERS.mode]: 'plain' }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'sealed request with a Wxseal-Identity header', request: with_(base0, { [HEADERS.identity]: encodeIdentityHeader(identity) }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'sealed request with another content type', request: with_(base0, { [HEADERS.contentType]: 'application/json' }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'IV of 8 bytes', request: with_(base0, { [HEADERS.iv]: b64uEncode(bytes('short', 8)) }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'wrapped key one byte short of the modulus', request: with_(base0, { [HEADERS.wrappedKey]: b64uEncode(Buffer.from(good.headers[HEADERS.wrappedKey]!, 'base64url').subarray(1)) }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'gzip content encoding', request: with_(base0, { [HEADERS.contentEncoding]: 'gzip' }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'authentic signature over a corrupted ciphertext', request: { method: 'POST', target: '/api/orders', headers: badCipher.headers, body: badCipher.body }, now: 1763900000, expectedCode: 'WXSEAL_DECRYPT_FAILED' },
  { description: 'signature whose last character has non-zero unused bits', request: with_(base0, { [HEADERS.signature]: sigTrailingBits }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'signature with real padding (44 characters)', request: with_(base0, { [HEADERS.signature]: sig + '=' }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'timestamp with a leading zero', request: with_(base0, { [HEADERS.timestamp]: '01763900000' }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'no Wxseal-Version', request: with_(base0, { [HEADERS.version]: null }), now: 1763900000, expectedCode: 'WXSEAL_MISSING_HEADER' },
  { description: 'sealed request without a content type', request: with_(base0, { [HEADERS.contentType]: null }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'sealed content type with a parameter', request: with_(base0, { [HEADERS.contentType]: 'application/vnd.wxseal.sealed; charset=utf-8' }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'sign-only request carrying a wrapped key', request: with_({ method: 'POST', target: '/api/ping', headers: goodSigned.headers, body: goodSigned.body }, { [HEADERS.wrappedKey]: good.headers[HEADERS.wrappedKey]! }), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'sealed mode with HEAD', request: { ...base0, method: 'HEAD' }, now: 1763900000, expectedCode: 'WXSEAL_MODE_NOT_ALLOWED' },
  { description: 'sign-only request on a route that accepts only sealed', request: { method: 'POST', target: '/api/ping', headers: goodSigned.headers, body: goodSigned.body }, now: 1763900000, expectedCode: 'WXSEAL_MODE_NOT_ALLOWED', allowedModes: ['sealed'] },
  { description: 'body over the limit (maxBodyBytes 16)', request: base0, now: 1763900000, expectedCode: 'WXSEAL_BODY_TOO_LARGE', maxBodyBytes: 16 },
  { description: 'authentic request whose wrapped key does not decrypt', request: signedSealed('cmVqZWN0LW5vbmNlLTAwMDU', garbageWrap, bytes('some-ciphertext', 40)), now: 1763900000, expectedCode: 'WXSEAL_UNWRAP_FAILED' },
  { description: 'authentic request whose wrapped key holds 16 bytes, not 32', request: signedSealed('cmVqZWN0LW5vbmNlLTAwMDY', wrap(k0, bytes('short-key', 16)), bytes('some-ciphertext', 40)), now: 1763900000, expectedCode: 'WXSEAL_UNWRAP_FAILED' },
  { description: 'authentic request whose plaintext has no LF', request: sealedPlain('cmVqZWN0LW5vbmNlLTAwMDc', utf8('{"contentType":"application/json"}'), bytes('plain-1', 32)), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'authentic request whose meta is a JSON array', request: sealedPlain('cmVqZWN0LW5vbmNlLTAwMDg', utf8('[]\n{}'), bytes('plain-2', 32)), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'authentic request whose meta is not UTF-8', request: sealedPlain('cmVqZWN0LW5vbmNlLTAwMDk', Buffer.concat([utf8('{"contentType":"'), Buffer.from([0xc3, 0x28]), utf8('"}\n')]), bytes('plain-3', 32)), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'authentic request whose identity.openid is a number', request: sealedPlain('cmVqZWN0LW5vbmNlLTAwMTA', utf8('{"identity":{"openid":42}}\n'), bytes('plain-4', 32)), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'authentic sign-only request whose identity is not JSON', request: signedIdentity('cmVqZWN0LW5vbmNlLTAwMTE', b64uEncode(utf8('openid=o-1'))), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'authentic sign-only request whose identity.openid is over 256 bytes', request: signedIdentity('cmVqZWN0LW5vbmNlLTAwMTI', b64uEncode(utf8(JSON.stringify({ openid: '好'.repeat(86) })))), now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'order: unknown key id AND expired timestamp -> the timestamp is checked first', request: with_(base0, { [HEADERS.keyId]: 'nobody' }), now: 1763900100, expectedCode: 'WXSEAL_TIMESTAMP_EXPIRED' },
  { description: 'order: unknown server key AND bad signature -> the lookup comes first', request: with_(base0, { [HEADERS.serverKeyId]: 'sk-ffffffffffffffff', [HEADERS.nonce]: 'cmVqZWN0LW5vbmNlLTAwMTM' }), now: 1763900000, expectedCode: 'WXSEAL_UNKNOWN_SERVER_KEY' },
  { description: 'order: a forged copy of an accepted request is BAD_SIGNATURE, not REPLAYED (nonces are claimed after the HMAC)', request: { ...base0, body: flip(good.body, 0) }, now: 1763900000, expectedCode: 'WXSEAL_BAD_SIGNATURE', precededBy: base0 },
  { description: 'a fragment appended to the target', request: { ...base0, target: '/api/orders#x' }, now: 1763900000, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'order: version 2 AND missing nonce -> the version is checked first', request: with_(base0, { [HEADERS.version]: '2', [HEADERS.nonce]: null }), now: 1763900000, expectedCode: 'WXSEAL_UNSUPPORTED_VERSION' },
];

// Cases added for the rules SPEC.md fixed after an independent implementation (issue 11). Each
// request is signed for exactly what it carries (resign), so only the named defect can refuse it.
const resign = (r: Req, key: Buffer = secret): Req => {
  const h = r.headers;
  const { path, rawQuery } = splitTarget(r.target);
  const fields: SignedRequestFields = {
    mode: h[HEADERS.mode] as 'sealed' | 'signed', method: r.method, path, rawQuery, timestamp: h[HEADERS.timestamp]!, nonce: h[HEADERS.nonce]!, keyId: h[HEADERS.keyId]!,
    contentType: h[HEADERS.contentType] ?? '', serverKeyId: h[HEADERS.serverKeyId] ?? '', wrappedKey: h[HEADERS.wrappedKey] ?? '', iv: h[HEADERS.iv] ?? '',
    identity: h[HEADERS.identity] ?? '', traceparent: h[HEADERS.traceparent] ?? '', bodySha256: sha256Hex(r.body),
  };
  return { ...r, headers: { ...h, [HEADERS.signature]: signCanonical(key, canonicalRequestString(fields)) } };
};
const nonceN = (n: number) => b64uEncode(utf8(`reject-nonce-${String(n).padStart(4, '0')}`));
const signedPing = (n: number, target: string, h: Record<string, string | null> = {}): Req =>
  resign(with_({ method: 'POST', target, headers: goodSigned.headers, body: goodSigned.body }, { [HEADERS.nonce]: nonceN(n), ...h }));
const sealedMeta = (n: number, meta: Buffer | string, body = '') => sealedPlain(nonceN(n), Buffer.concat([typeof meta === 'string' ? utf8(meta) : meta, utf8(`\n${body}`)]), bytes(`reject-plain-${n}`, 32));
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const t = 1763900000;
const nonce25 = 'twenty-five-chars-nonce-1';
const withNonce25 = (() => {
  const sessionKey = bytes('reject-nonce25-session', 32);
  const r = buildRequest({
    mode: 'sealed', method: 'POST', target: '/api/orders', keyId: 'bff-prod', secret, body: utf8('{"sku":"A-1"}'), contentType: 'application/json', serverKey: { id: k0.id, publicKey: k0.pub },
    timestamp: t, nonce: nonce25, sessionKey, iv: bytes('reject-nonce25-iv', 12), wrappedKey: wrap(k0, sessionKey),
  });
  return { method: 'POST', target: '/api/orders', headers: r.headers, body: r.body };
})();
// The wrapped key with a non-zero unused bit in its last character: the same bytes to a lenient decoder.
const B64U_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const wrapped0 = good.headers[HEADERS.wrappedKey]!;
const wrappedLoose = wrapped0.slice(0, -1) + B64U_ALPHABET[B64U_ALPHABET.indexOf(wrapped0[wrapped0.length - 1]!) | 1]!;
const ct256 = `application/json;x=${'a'.repeat(237)}`;
cases.push(
  // SPEC.md 7: a lone surrogate escape counts as U+FFFD (a pair escape is one character).
  { description: 'sign-only identity with lone surrogate escapes (\\ud800, \\udfff) and a pair (\\ud83d\\ude00): accepted, each lone one read as U+FFFD', request: signedIdentity(nonceN(101), b64uEncode(utf8('{"openid":"o-\\ud800-1","unionid":"\\ud83d\\ude00","env":"\\udfff","source":"wx_client"}'))), now: t, expectedCode: null, expectedIdentity: { openid: 'o-\ufffd-1', unionid: '\u{1f600}', env: '\ufffd', source: 'wx_client' } },
  { description: 'sealed meta identity with lone surrogate escapes: accepted, each read as U+FFFD', request: sealedMeta(102, '{"contentType":"application/json","identity":{"openid":"\\udc00o","appid":"wx\\ud83d"}}', '{}'), now: t, expectedCode: null, expectedIdentity: { openid: '\ufffdo', appid: 'wx\ufffd' }, expectedContentType: 'application/json' },
  // SPEC.md 6.1: null counts as absent.
  { description: 'sealed meta {"contentType":null,"identity":null}: null is absent (accepted, no content type, empty identity)', request: sealedMeta(103, '{"contentType":null,"identity":null}', 'x'), now: t, expectedCode: null, expectedIdentity: {}, expectedContentType: null },
  // SPEC.md 9 step 2.6: the request target.
  { description: 'target with a dot-segment (/api/x/../ping)', request: signedPing(104, '/api/x/../ping'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target with a "." segment', request: signedPing(105, '/api/./ping'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target with a dot-segment before ;params (/api/..;/ping, as Tomcat reads it)', request: signedPing(106, '/api/..;/ping'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target with an encoded slash (%2F)', request: signedPing(107, '/api/a%2Fping'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target with an encoded slash in lower case (%2f)', request: signedPing(108, '/api/a%2fping'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target with an encoded backslash (%5C)', request: signedPing(109, '/api/a%5Cping'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target with an encoded NUL (%00)', request: signedPing(110, '/api/ping%00'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target with an encoded dot-segment (%2e%2e)', request: signedPing(111, '/api/%2e%2e/ping'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target with a percent-encoded unreserved character (/api/%70ing, %70 = p)', request: signedPing(112, '/api/%70ing'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target with backslashes (/api/x\\..\\ping)', request: signedPing(113, '/api/x\\..\\ping'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target with non-ASCII characters (not percent-encoded)', request: signedPing(114, '/api/订单'), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'target whose query holds ../, %2F and %2e%2e (the rule is on the path; the query is signed as sent): accepted', request: signedPing(115, '/api/ping?next=../a%2Fb&q=%2e%2e'), now: t, expectedCode: null },
  { description: 'target with a percent-encoded non-ASCII path (/api/%E8%AE%A2%E5%8D%95): accepted', request: signedPing(116, '/api/%E8%AE%A2%E5%8D%95'), now: t, expectedCode: null },
  { description: 'order: a dot-segment target AND a stale timestamp -> the target is checked at step 2', request: signedPing(117, '/api/x/../ping'), now: t + 3600, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  // SPEC.md 4: the nonce is opaque (alphabet and length), never decoded.
  { description: '25-character nonce, not decodable as b64u (the nonce is alphabet and length only): accepted', request: withNonce25, now: t, expectedCode: null },
  // SPEC.md 9 steps 2.9 and 4: the wrapped key is decoded strictly at step 2.
  { description: 'wrapped key whose last character has non-zero unused bits', request: resign(with_(base0, { [HEADERS.wrappedKey]: wrappedLoose })), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'order: a non-strict wrapped key AND a stale timestamp -> MALFORMED_HEADER (decoded at step 2)', request: resign(with_(base0, { [HEADERS.wrappedKey]: wrappedLoose })), now: t + 3600, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'order: a sealed request without Content-Type AND a stale timestamp -> MALFORMED_HEADER (step 2.9)', request: with_(base0, { [HEADERS.contentType]: null }), now: t + 3600, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  // SPEC.md 6.1 and 7: repeated members are refused, at any depth, names compared after unescaping.
  { description: 'sealed meta repeats a member (contentType twice)', request: sealedMeta(118, '{"contentType":"application/json","contentType":"text/plain"}', '{}'), now: t, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'sealed meta identity repeats openid, once written with an escape (\\u006fpenid)', request: sealedMeta(119, '{"identity":{"openid":"o-1","\\u006fpenid":"o-2"}}'), now: t, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'sealed meta repeats a member inside an unknown member (any depth)', request: sealedMeta(120, '{"contentType":"application/json","x":[{"k":1,"k":2}]}', '{}'), now: t, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'sign-only identity repeats openid', request: signedIdentity(nonceN(121), b64uEncode(utf8('{"openid":"o-1","openid":"o-2"}'))), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  // RFC 8259 8.1: no byte-order mark.
  { description: 'sealed meta starts with a UTF-8 byte-order mark', request: sealedMeta(122, Buffer.concat([BOM, utf8('{"contentType":"application/json"}')]), '{}'), now: t, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'sign-only identity JSON starts with a UTF-8 byte-order mark', request: signedIdentity(nonceN(123), b64uEncode(Buffer.concat([BOM, utf8('{"openid":"o-1"}')]))), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  // SPEC.md 9 step 2.8: Content-Type counted as received; Content-Encoding trimmed of SP/HTAB only.
  { description: 'Content-Type of 256 characters (accepted)', request: signedPing(124, '/api/ping', { [HEADERS.contentType]: ct256 }), now: t, expectedCode: null },
  { description: 'Content-Type of 256 characters after a leading space: 257 as received (the limit counts before trimming)', request: signedPing(125, '/api/ping', { [HEADERS.contentType]: ` ${ct256}` }), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'Content-Encoding " IDENTITY<HTAB>": trimmed of spaces and tabs, compared case-insensitively (accepted)', request: signedPing(126, '/api/ping', { [HEADERS.contentEncoding]: ' IDENTITY\t' }), now: t, expectedCode: null },
  { description: 'Content-Encoding "identity" followed by U+00A0 (no-break space is not trimmed)', request: signedPing(127, '/api/ping', { [HEADERS.contentEncoding]: 'identity\u00a0' }), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'Content-Encoding "identity" followed by a vertical tab (not trimmed)', request: signedPing(128, '/api/ping', { [HEADERS.contentEncoding]: 'identity\u000b' }), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
  { description: 'Content-Encoding "\u0131dentity" (U+0131, dotless i: only ASCII letters compare case-insensitively)', request: signedPing(129, '/api/ping', { [HEADERS.contentEncoding]: '\u0131dentity' }), now: t, expectedCode: 'WXSEAL_MALFORMED_HEADER' },
);
write('reject.json', {
  description: 'Verifier behaviour (SPEC.md 9-10). Server state: key id "bff-prod" with the single secret below; server keys: rsa-oaep.json keys[0] under its serverKeyId; window 60 s; body limit 1 MiB; a fresh nonce store per case. "now" is the server clock. expectedCode null means accepted. sendTwice: the request is sent twice, the first is accepted and the second gets expectedCode precededBy: a valid request sent first (accepted), then this case\'s request. maxBodyBytes / allowedModes, when present, replace the defaults for that case. expectedIdentity / expectedContentType, when present, are what an accepted request hands on: the identity (only its members) and the inner (sealed) or Content-Type (sign-only) media type, null meaning none. Bodies are b64u; header names are lower-case. Targets and header values are the text a verifier is handed by its HTTP stack (a character above U+007E stands for itself; on the wire a non-ASCII target is UTF-8). A few cannot travel over HTTP/1.1 as written and test the verifier alone: an HTTP parser drops spaces and tabs around a field value (RFC 9110 5.5), and many stacks refuse control characters in a field value or a target outside visible ASCII before any verifier runs.',
  keyId: 'bff-prod',
  secret: b64uEncode(secret),
  serverKeyIndex: 0,
  cases: cases.map((c) => ({ description: c.description, now: c.now, request: { method: c.request.method, target: c.request.target, headers: c.request.headers, body: b64uEncode(c.request.body) }, expectedCode: c.expectedCode, ...(c.sendTwice ? { sendTwice: true } : {}), ...(c.precededBy ? { precededBy: { method: c.precededBy.method, target: c.precededBy.target, headers: c.precededBy.headers, body: b64uEncode(c.precededBy.body) } } : {}), ...(c.maxBodyBytes ? { maxBodyBytes: c.maxBodyBytes } : {}), ...(c.allowedModes ? { allowedModes: c.allowedModes } : {}), ...(c.expectedIdentity ? { expectedIdentity: c.expectedIdentity } : {}), ...(c.expectedContentType !== undefined ? { expectedContentType: c.expectedContentType } : {}) })),
});

// --- device-activation.json and device-request.json (SPEC.md section 15) ------------------------
const productId = 'prod-smartlock-v2';
const productSecret = bytes('wxseal-vector-product-secret', 32);
const productSecret2 = bytes('wxseal-vector-product-secret-2', 48);
const serial = 'SL2-0001-A7F3';
const lampProduct = 'p:lamp_v3.cn-north';
const lampSerial = 'LAMP.v3_2025:0042-' + bytes('lamp-serial', 23).toString('hex'); // 64 characters
const deviceKey1 = bytes('device-key-1', 32);
const deviceKey2 = bytes('device-key-2', 32);
const activationNonce = b64uEncode(bytes('activation-nonce-1', 16));
const rotationNonce = b64uEncode(bytes('rotation-nonce-1', 16));

const activationCase = (description: string, o: { productId: string; serial: string; productSecret: Buffer; timestamp: number; nonce: string }) => {
  const built = buildActivationRequest(o);
  return {
    description,
    input: { productId: o.productId, serial: o.serial, productSecret: b64uEncode(o.productSecret), timestamp: String(o.timestamp), nonce: o.nonce },
    expected: { canonical: built.canonical, signature: built.fields.signature, body: b64uEncode(built.body), headers: built.headers },
  };
};
const activation = [
  activationCase('first activation of a unit', { productId, serial, productSecret, timestamp: 1763900000, nonce: activationNonce }),
  activationCase('64-character serial with every allowed punctuation, 48-byte product secret, 43-character nonce', {
    productId: lampProduct, serial: lampSerial, productSecret: productSecret2, timestamp: 1763900123, nonce: b64uEncode(bytes('activation-nonce-2', 32)),
  }),
];

type DeliveryInput = { purpose: DeviceKeyPurpose; wrappingSecret: Buffer; productId: string; serial: string; requestNonce: string; keyVersion: number; deviceKey: Buffer; serverNonce: Buffer };
const deliveryCase = (description: string, o: DeliveryInput) => {
  const binding = { purpose: o.purpose, wrappingSecret: o.wrappingSecret, productId: o.productId, serial: o.serial, requestNonce: o.requestNonce };
  const sealed = sealDeviceKey(binding, o.keyVersion, { deviceKey: o.deviceKey, serverNonce: o.serverNonce });
  const { key, iv } = deriveDeviceKeyWrap(o.purpose, o.wrappingSecret, o.requestNonce, o.serverNonce);
  return {
    description,
    input: { ...binding, wrappingSecret: b64uEncode(o.wrappingSecret), keyVersion: String(o.keyVersion), deviceKey: b64uEncode(o.deviceKey), serverNonce: b64uEncode(o.serverNonce) },
    expected: {
      hkdfInfo: o.purpose === 'activate' ? DEVICE_LABELS.hkdfActivate : DEVICE_LABELS.hkdfRotate,
      saltHex: deviceKeySalt(o.requestNonce, o.serverNonce).toString('hex'),
      okmHex: Buffer.concat([key, iv]).toString('hex'),
      wrapKeyHex: key.toString('hex'),
      wrapIvHex: iv.toString('hex'),
      aad: deviceKeyAad({ productId: o.productId, serial: o.serial, keyVersion: o.keyVersion }).toString('utf8'),
      sealedKey: sealed.delivery.sealedKey,
      body: b64uEncode(sealed.body),
      headers: sealed.headers,
    },
  };
};
const rotationDelivery: DeliveryInput = { purpose: 'rotate', wrappingSecret: deviceKey1, productId, serial, requestNonce: rotationNonce, keyVersion: 2, deviceKey: deviceKey2, serverNonce: bytes('server-nonce-3', 32) };
const delivery = [
  deliveryCase('answer to activation[0]: key version 1', { purpose: 'activate', wrappingSecret: productSecret, productId, serial, requestNonce: activationNonce, keyVersion: 1, deviceKey: deviceKey1, serverNonce: bytes('server-nonce-1', 32) }),
  deliveryCase('answer to activation[1], a re-armed serial: key version 4', { purpose: 'activate', wrappingSecret: productSecret2, productId: lampProduct, serial: lampSerial, requestNonce: activation[1]!.input.nonce, keyVersion: 4, deviceKey: bytes('device-key-lamp-4', 32), serverNonce: bytes('server-nonce-2', 32) }),
  deliveryCase('rotation 1 -> 2, wrapped under device key version 1 (the request is device-request.json rotation)', rotationDelivery),
];

// The activation verifier: steps 1-6 of SPEC.md 15.5 against one product with one secret.
type ActFields = { productId: string; serial: string; timestamp: string; nonce: string };
const fields0: ActFields = { productId, serial, timestamp: '1763900000', nonce: activationNonce };
const actJson = (f: ActFields, key: Buffer = productSecret, edit?: (o: Record<string, unknown>) => void): Buffer => {
  const o: Record<string, unknown> = { ...f, signature: signCanonical(key, canonicalActivationString(f)) };
  edit?.(o);
  return utf8(JSON.stringify(o));
};
const body0 = encodeActivationBody({ ...fields0, signature: signCanonical(productSecret, canonicalActivationString(fields0)) });
const sig0 = signCanonical(productSecret, canonicalActivationString(fields0));
const pad = (b: Buffer, total: number) => Buffer.concat([b.subarray(0, b.length - 1), Buffer.alloc(total - b.length, 0x20), b.subarray(b.length - 1)]);
type ActCase = { description: string; body: Buffer; now: number; expectedCode: string | null; productSecrets?: Buffer[]; expectedSecretIndex?: number; sendTwice?: boolean; precededBy?: Buffer };
const t0 = 1763900000;
const actCases: ActCase[] = [
  { description: 'valid activation (accepted)', body: body0, now: t0, expectedCode: null, expectedSecretIndex: 0 },
  { description: 'valid, the product has two secrets (a newer production batch\'s first) and the unit\'s, the second, matches', body: body0, now: t0, expectedCode: null, productSecrets: [productSecret2, productSecret], expectedSecretIndex: 1 },
  { description: 'members in another order, with whitespace (receivers parse JSON)', body: utf8(`{ "signature": "${sig0}",\n  "nonce": "${fields0.nonce}", "timestamp": "${fields0.timestamp}", "serial": "${serial}", "productId": "${productId}" }`), now: t0, expectedCode: null, expectedSecretIndex: 0 },
  { description: 'a member written with a JSON escape is the same string (accepted)', body: utf8(body0.toString('utf8').replace('"SL2-0001', '"SL2\\u002d0001')), now: t0, expectedCode: null, expectedSecretIndex: 0 },
  { description: 'body of exactly 1024 bytes (accepted)', body: pad(body0, 1024), now: t0, expectedCode: null, expectedSecretIndex: 0 },
  { description: 'timestamp 60 s old (edge, accepted)', body: body0, now: t0 + 60, expectedCode: null, expectedSecretIndex: 0 },
  { description: 'timestamp 61 s old', body: body0, now: t0 + 61, expectedCode: 'WXSEAL_TIMESTAMP_EXPIRED' },
  { description: 'timestamp 61 s ahead', body: body0, now: t0 - 61, expectedCode: 'WXSEAL_TIMESTAMP_FUTURE' },
  { description: 'replayed: the same activation a second time', body: body0, now: t0, expectedCode: 'WXSEAL_REPLAYED_NONCE', sendTwice: true },
  { description: 'signed with another product secret', body: actJson(fields0, productSecret2), now: t0, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'serial changed after signing', body: actJson(fields0, productSecret, (o) => { o.serial = 'SL2-0001-A7F4'; }), now: t0, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'nonce changed after signing', body: actJson(fields0, productSecret, (o) => { o.nonce = b64uEncode(bytes('activation-nonce-9', 16)); }), now: t0, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'timestamp changed by one second after signing', body: actJson(fields0, productSecret, (o) => { o.timestamp = '1763900001'; }), now: t0, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'signature over the canonical string without its first line', body: actJson(fields0, productSecret, (o) => { o.signature = signCanonical(productSecret, canonicalActivationString(fields0).split('\n').slice(1).join('\n')); }), now: t0, expectedCode: 'WXSEAL_BAD_SIGNATURE' },
  { description: 'unknown product id (signed with its own secret)', body: actJson({ ...fields0, productId: 'prod-unknown' }, productSecret2), now: t0, expectedCode: 'WXSEAL_UNKNOWN_KEY_ID' },
  { description: 'no signature member', body: actJson(fields0, productSecret, (o) => { delete o.signature; }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'an unknown member (keyVersion)', body: actJson(fields0, productSecret, (o) => { o.keyVersion = '1'; }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'timestamp as a JSON number', body: actJson(fields0, productSecret, (o) => { o.timestamp = 1763900000; }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'timestamp with a leading zero', body: actJson({ ...fields0, timestamp: '01763900000' }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'serial null', body: actJson(fields0, productSecret, (o) => { o.serial = null; }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'serial with a space', body: actJson({ ...fields0, serial: 'SL2 0001' }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'serial of 65 characters', body: actJson({ ...fields0, serial: lampSerial + 'x' }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'nonce of 21 characters', body: actJson({ ...fields0, nonce: activationNonce.slice(0, 21) }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'signature with padding (44 characters)', body: actJson(fields0, productSecret, (o) => { o.signature = sig0 + '='; }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'signature whose last character has non-zero unused bits', body: actJson(fields0, productSecret, (o) => { o.signature = sig0.slice(0, 42) + String.fromCharCode(sig0.charCodeAt(42) + 1); }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'signature in hex', body: actJson(fields0, productSecret, (o) => { o.signature = Buffer.from(sig0, 'base64url').toString('hex'); }), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'body is a JSON array', body: utf8(`[${body0.toString('utf8')}]`), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'body is not JSON (form encoding)', body: utf8(`productId=${productId}&serial=${serial}`), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'body is not UTF-8', body: Buffer.concat([body0.subarray(0, 20), Buffer.from([0xc3, 0x28]), body0.subarray(20)]), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'body starts with a UTF-8 byte-order mark', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body0]), now: t0, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'body of 1025 bytes', body: pad(body0, 1025), now: t0, expectedCode: 'WXSEAL_BODY_TOO_LARGE' },
  { description: 'order: malformed member AND stale timestamp -> the syntax is checked first', body: actJson(fields0, productSecret, (o) => { o.serial = 'SL2 0001'; }), now: t0 + 3600, expectedCode: 'WXSEAL_MALFORMED_PAYLOAD' },
  { description: 'order: stale timestamp AND another product secret -> the timestamp is checked first', body: actJson(fields0, productSecret2), now: t0 + 61, expectedCode: 'WXSEAL_TIMESTAMP_EXPIRED' },
  { description: 'order: unknown product AND a bad signature -> the lookup comes first', body: actJson(fields0, productSecret, (o) => { o.productId = 'prod-unknown'; }), now: t0, expectedCode: 'WXSEAL_UNKNOWN_KEY_ID' },
  { description: 'order: a forged copy of an accepted activation is BAD_SIGNATURE, not REPLAYED (nonces are claimed after the HMAC)', body: actJson(fields0, productSecret2), now: t0, expectedCode: 'WXSEAL_BAD_SIGNATURE', precededBy: body0 },
];

// Deliveries a device must refuse (all derived from delivery[0]).
const d0 = delivery[0]!;
const binding0 = { purpose: 'activate' as DeviceKeyPurpose, wrappingSecret: d0.input.wrappingSecret, productId, serial, requestNonce: activationNonce };
const d0Text = Buffer.from(d0.expected.body, 'base64url').toString('utf8');
const withDelivery = (edit: (o: Record<string, string>) => void): string => {
  const o = JSON.parse(d0Text) as Record<string, string>;
  edit(o);
  return JSON.stringify(o);
};
const flipSealed = (i: number) => withDelivery((o) => { o.sealedKey = flipB64(o.sealedKey!, i); });
const mustNotOpenDevice = [
  { description: 'a flipped bit in the encrypted key', binding: binding0, body: flipSealed(0) },
  { description: 'a flipped bit in the GCM tag', binding: binding0, body: flipSealed(47) },
  { description: 'keyVersion changed to 2', binding: binding0, body: withDelivery((o) => { o.keyVersion = '2'; }) },
  { description: 'keyVersion with a leading zero', binding: binding0, body: withDelivery((o) => { o.keyVersion = '01'; }) },
  { description: 'keyVersion as a JSON number', binding: binding0, body: d0Text.replace('"keyVersion":"1"', '"keyVersion":1') },
  { description: 'another server nonce', binding: binding0, body: withDelivery((o) => { o.serverNonce = b64uEncode(bytes('server-nonce-9', 32)); }) },
  { description: 'sealedKey one byte short', binding: binding0, body: withDelivery((o) => { o.sealedKey = b64uEncode(Buffer.from(o.sealedKey!, 'base64url').subarray(1)); }) },
  { description: 'no serverNonce', binding: binding0, body: withDelivery((o) => { delete o.serverNonce; }) },
  { description: 'meant for another serial', binding: { ...binding0, serial: 'SL2-0001-A7F4' }, body: d0Text },
  { description: 'meant for another product', binding: { ...binding0, productId: lampProduct }, body: d0Text },
  { description: 'the answer to another request (other request nonce)', binding: { ...binding0, requestNonce: rotationNonce }, body: d0Text },
  { description: 'opened with another product secret', binding: { ...binding0, wrappingSecret: b64uEncode(productSecret2) }, body: d0Text },
  { description: 'opened as a rotation (other HKDF info)', binding: { ...binding0, purpose: 'rotate' as DeviceKeyPurpose }, body: d0Text },
].map((c) => ({ ...c, body: b64uEncode(utf8(c.body)) }));

write('device-activation.json', {
  description:
    'SPEC.md section 15. Every body member is b64u of the body bytes, as in every vector file (SPEC.md section 13). activation: the signed activation request (canonical string, b64u HMAC-SHA256 under the product secret, JSON body as the reference serialises it). ' +
    'delivery: OKM = HKDF-SHA256(IKM = wrappingSecret, salt = UTF-8(requestNonce) || serverNonce, info = hkdfInfo, L = 44); wrapKey = OKM[0..32), wrapIv = OKM[32..44); sealedKey = b64u(AES-256-GCM(wrapKey, wrapIv, aad, deviceKey)), 48 bytes; body is the answer (activation) or the rotation handler\'s response body. ' +
    'verify: a fresh server per case: it holds productId, enabled, with productSecrets (a case may replace them), all valid at "now" (the server clock); window 60 s; an empty nonce store; an empty serial store and no registration in advance, so an activation that passes steps 1-6 passes step 7 and creates the serial at step 8 (SPEC.md 15.5, 15.8). expectedCode null means accepted, and then expectedSecretIndex is the index of the product secret that matched; sendTwice and precededBy as in reject.json (the first request is accepted and leaves the serial pending; in sendTwice the second is refused at step 6, before step 7 looks at the serial). ' +
    'mustNotOpen: deliveries a device opening with binding must refuse (WXSEAL_RESPONSE_INVALID).',
  activationPath: DEVICE_ACTIVATION_PATH,
  activation,
  delivery,
  verify: {
    productId,
    productSecrets: [b64uEncode(productSecret)],
    windowSeconds: 60,
    cases: actCases.map((c) => ({
      description: c.description,
      now: c.now,
      body: b64uEncode(c.body),
      ...(c.productSecrets ? { productSecrets: c.productSecrets.map((k) => b64uEncode(k)) } : {}),
      expectedCode: c.expectedCode,
      ...(c.expectedCode === null ? { expectedSecretIndex: c.expectedSecretIndex ?? 0 } : {}),
      ...(c.sendTwice ? { sendTwice: true } : {}),
      ...(c.precededBy ? { precededBy: b64uEncode(c.precededBy) } : {}),
    })),
  },
  mustNotOpen: mustNotOpenDevice,
});

// Device requests are plain v1 requests with the serial as key id (SPEC.md 15.2).
const deviceCase = (description: string, r: Omit<RequestSpec, 'keyId' | 'secret'>) => {
  const built = buildRequest(deviceRequestSpec(serial, deviceKey1, r));
  return {
    description,
    input: { serial, deviceKey: b64uEncode(deviceKey1), keyVersion: '1', mode: r.mode, method: r.method, target: r.target, contentType: r.contentType ?? null, body: b64uEncode(r.body ?? Buffer.alloc(0)), timestamp: String(r.timestamp), nonce: r.nonce },
    expected: { canonical: built.canonical, headers: built.headers },
  };
};
const rotationRequest = buildRequest(deviceRequestSpec(serial, deviceKey1, { mode: 'signed', method: 'POST', target: DEVICE_ROTATION_PATH, timestamp: 1763990000, nonce: rotationNonce }));
const rotationAnswer = sealDeviceKey({ purpose: 'rotate', wrappingSecret: deviceKey1, productId, serial, requestNonce: rotationNonce }, 2, { deviceKey: deviceKey2, serverNonce: rotationDelivery.serverNonce });
const rotationResponse = signResponse({ keyId: serial, nonce: rotationNonce, secret: deviceKey1 }, { status: 200, contentType: 'application/json', body: rotationAnswer.body });
write('device-request.json', {
  description:
    'SPEC.md 15.2 and 15.7: a device signs v1 requests with its serial as key id and its 32-byte device key as secret; nothing else differs from sign.json. ' +
    'rotation: the device asks for a new key with a sign-only POST signed under key version 1; the handler answers 200 application/json with a delivery (device-activation.json delivery[2]) wrapped under that same key, and Cache-Control: no-store (not signed, as delivery[2] lists it); the response is signed as any sign-only response (section 12). Bodies are b64u (the request body is empty: b64u of no bytes is the empty string).',
  cases: [
    deviceCase('sign-only POST of telemetry', { mode: 'signed', method: 'POST', target: '/api/devices/telemetry', contentType: 'application/json', body: utf8('{"battery":87,"locked":true}'), timestamp: 1763900100, nonce: b64uEncode(bytes('device-request-nonce-1', 16)) }),
    deviceCase('sign-only GET of pending commands, with a query and no body', { mode: 'signed', method: 'GET', target: '/api/devices/commands?since=1763899000&limit=10', timestamp: 1763900200, nonce: b64uEncode(bytes('device-request-nonce-2', 16)) }),
  ],
  rotation: {
    serial,
    productId,
    deviceKey: b64uEncode(deviceKey1),
    keyVersion: '1',
    request: { method: 'POST', target: DEVICE_ROTATION_PATH, headers: rotationRequest.headers, body: b64uEncode(rotationRequest.body), canonical: rotationRequest.canonical },
    // The handler's Cache-Control (SPEC.md 15.7) passes through next to the section 12 headers; it is not signed.
    response: { status: rotationResponse.status, headers: { ...rotationResponse.headers, 'cache-control': rotationAnswer.headers['cache-control']! }, body: b64uEncode(rotationAnswer.body) },
    newDeviceKey: b64uEncode(deviceKey2),
    newKeyVersion: '2',
  },
});

// --- x25519.json (SPEC.md 6.5) ------------------------------------------------------------------
// Everything is fixed: the server key and each ephemeral key come from HPKE DeriveKeyPair over
// labelled bytes, so a re-run writes the same file.
const xServer = hpkeDeriveKeyPair(bytes('wxseal-vector-x25519-server', 32));
const xServerId = serverKeyId(xServer.publicKey);
const xInfo = utf8(SESSION_KEY_HPKE_INFO);
const xWrap = (label: string, sessionKey: Buffer) => {
  const ephemeralIkm = bytes(`${label}-ephemeral-ikm`, 32);
  const ephemeral = hpkeDeriveKeyPair(ephemeralIkm);
  const { enc, sharedSecret } = hpkeEncap(xServer.publicKey, ephemeral.privateKey);
  const context = hpkeKeySchedule('aes-256-gcm', sharedSecret, xInfo);
  const wrapped = wrapSessionKey(xServer.publicKey, sessionKey, { ephemeralPrivateKey: ephemeral.privateKey });
  return {
    sessionKey,
    ephemeral,
    wrapped,
    vector: {
      sessionKey: b64uEncode(sessionKey),
      ephemeralIkmHex: ephemeralIkm.toString('hex'),
      ephemeralPrivateKeyHex: x25519RawPrivateKey(ephemeral.privateKey).toString('hex'),
      encHex: enc.toString('hex'),
      sharedSecretHex: sharedSecret.toString('hex'),
      keyScheduleContextHex: context.keyScheduleContext.toString('hex'),
      keyHex: context.key.toString('hex'),
      baseNonceHex: context.baseNonce.toString('hex'),
      wrapped: b64uEncode(wrapped),
    },
  };
};
const xWraps = [0, 1, 2].map((i) => xWrap(`x25519-wrap-${i}`, bytes(`x25519-session-key-${i}`, 32)));
const xSealCase = (description: string, o: { method: string; target: string; body: Buffer; contentType?: string; identity?: WechatIdentity; nonce: string; timestamp: number; label: string; responseStatus: number; responseContentType?: string; responseBody: Buffer }) => {
  const w = xWrap(o.label, bytes(`${o.label}-session`, 32));
  const iv = bytes(`${o.label}-iv`, 12);
  const built = buildRequest({
    mode: 'sealed', method: o.method, target: o.target, keyId: 'bff-prod', secret, body: o.body,
    ...(o.contentType ? { contentType: o.contentType } : {}), ...(o.identity ? { identity: o.identity } : {}),
    serverKey: { id: xServerId, publicKey: xServer.publicKey }, timestamp: o.timestamp, nonce: o.nonce, sessionKey: w.sessionKey, iv, wrappedKey: w.wrapped,
  });
  // The generator checks its own output through the verifier functions before writing it.
  const parsed = parseRequestHeaders({ method: o.method, target: o.target, header: (n) => built.headers[n], allowedModes: ['sealed'] });
  if (!openSealedRequest(parsed, w.sessionKey, built.body).body.equals(o.body)) throw new Error(`x25519.json: ${description} does not open`);
  const responseNonce = bytes(`${o.label}-response-nonce`, 32);
  const response = sealResponse({ keyId: 'bff-prod', nonce: o.nonce, sessionKey: w.sessionKey }, { status: o.responseStatus, ...(o.responseContentType ? { contentType: o.responseContentType } : {}), body: o.responseBody }, responseNonce);
  const { path, rawQuery } = splitTarget(o.target);
  const meta = { ...(o.contentType ? { contentType: o.contentType } : {}), ...(o.identity ? { identity: o.identity } : {}) };
  return {
    description,
    input: {
      mode: 'sealed', method: o.method, target: o.target, keyId: 'bff-prod', secret: b64uEncode(secret), serverKeyId: xServerId,
      timestamp: String(o.timestamp), nonce: o.nonce, contentType: o.contentType ?? null, identity: o.identity ?? null,
      body: b64uEncode(o.body), iv: b64uEncode(iv), wrap: w.vector,
    },
    expected: {
      requestAad: requestAad({ method: o.method, path, rawQuery, timestamp: String(o.timestamp), nonce: o.nonce, keyId: 'bff-prod', serverKeyId: xServerId }).toString('utf8'),
      plaintext: b64uEncode(encodePayload(meta, o.body)),
      sealedBody: b64uEncode(built.body),
      bodySha256Hex: sha256Hex(built.body),
      canonical: built.canonical,
      headers: built.headers,
    },
    response: {
      input: { responseNonce: b64uEncode(responseNonce), status: o.responseStatus, contentType: o.responseContentType ?? null, body: b64uEncode(o.responseBody) },
      expected: { wireStatus: response.status, sealedBody: b64uEncode(response.body), headers: response.headers },
    },
  };
};
const xFlip = (b: Buffer, i: number): string => b64uEncode(Buffer.from(b).map((x, j) => (j === i ? x ^ 0x01 : x)));
const otherX = hpkeDeriveKeyPair(bytes('wxseal-vector-x25519-other-server', 32));
write('x25519.json', {
  description:
    'SPEC.md 6.5: the X25519 suite. The session key K is wrapped with HPKE base mode (RFC 9180), KEM DHKEM(X25519, HKDF-SHA256) 0x0020, KDF HKDF-SHA256 0x0001, AEAD AES-256-GCM 0x0002, ' +
    'info = the ASCII string in hpke.info, aad empty, pt = K; Wxseal-Wrapped-Key = b64u(enc || ct), 80 bytes, 107 characters. Everything after the wrap is as with RSA (seal-request.json, response.json). ' +
    'Keys are raw X25519 (RFC 7748) in hex and PKCS#8 / SPKI PEM; every key, the server key and each ephemeral key alike, is HPKE DeriveKeyPair(ikm) (RFC 9180 7.1.3) of a fixed ikm, made for these vectors only. ' +
    'A sender fixes the ephemeral private key to reproduce enc and wrapped; a receiver needs only the server private key. serverKeyId = "sk-" + first 16 hex of SHA-256(DER SPKI), as for RSA keys. ' +
    'wraps: K -> HPKE intermediate values (shared secret, key schedule context, AEAD key and base nonce) -> wrapped. sealed: full requests and their sealed responses (response key derived from K as in section 6.3). ' +
    'unwrapFailures: wrapped keys the server private key must refuse with WXSEAL_UNWRAP_FAILED.',
  hpke: {
    mode: 0,
    kemId: HPKE_IDS.kemX25519HkdfSha256,
    kdfId: HPKE_IDS.kdfHkdfSha256,
    aeadId: HPKE_IDS.aeadAes256Gcm,
    info: SESSION_KEY_HPKE_INFO,
    infoHex: xInfo.toString('hex'),
    aadHex: '',
  },
  serverKey: {
    ikmHex: bytes('wxseal-vector-x25519-server', 32).toString('hex'),
    serverKeyId: xServerId,
    privateKeyHex: x25519RawPrivateKey(xServer.privateKey).toString('hex'),
    publicKeyHex: x25519RawPublicKey(xServer.publicKey).toString('hex'),
    privateKeyPem: pem(xServer.privateKey),
    publicKeyPem: pem(xServer.publicKey),
    wrappedKeyBytes: 80,
  },
  wraps: xWraps.map((w) => w.vector),
  sealed: [
    xSealCase('POST JSON with the full WeChat identity', { method: 'POST', target: '/api/orders?source=mini&b=2', body: utf8('{"sku":"A-1","qty":2}'), contentType: 'application/json', identity, nonce: 'eDI1NTE5LW5vbmNlLTAwMDE', timestamp: 1763900000, label: 'x25519-seal-1', responseStatus: 201, responseContentType: 'application/json', responseBody: utf8('{"orderId":"42"}') }),
    xSealCase('GET without a body or identity, answered 204 (sent as 200 with an empty body)', { method: 'GET', target: '/api/profile', body: Buffer.alloc(0), nonce: 'eDI1NTE5LW5vbmNlLTAwMDI', timestamp: 1763900001, label: 'x25519-seal-2', responseStatus: 204, responseBody: Buffer.alloc(0) }),
  ],
  unwrapFailures: [
    { description: 'a bit of enc changed', wrapped: xFlip(xWraps[0]!.wrapped, 3) },
    { description: 'a bit of the ciphertext changed', wrapped: xFlip(xWraps[0]!.wrapped, 40) },
    { description: 'a bit of the tag changed', wrapped: xFlip(xWraps[0]!.wrapped, 79) },
    { description: 'wrapped for another X25519 key', wrapped: b64uEncode(wrapSessionKey(otherX.publicKey, xWraps[0]!.sessionKey, { ephemeralPrivateKey: xWraps[0]!.ephemeral.privateKey })) },
    { description: 'enc is the all-zero (low-order) point', wrapped: b64uEncode(Buffer.concat([Buffer.alloc(32), xWraps[0]!.wrapped.subarray(32)])) },
    { description: 'a 16-byte key wrapped the same way (64 bytes: wrong length)', wrapped: b64uEncode(wrapSessionKey(xServer.publicKey, bytes('x25519-short', 16), { ephemeralPrivateKey: xWraps[1]!.ephemeral.privateKey })) },
  ],
});

// --- sm.json (SPEC.md 6.6): its own script, which keeps the SM2 ciphertexts already in the file. ---
await import('./generate-sm-vectors.js');
