// Reproduces every known-answer vector of spec/vectors/ (SPEC.md section 13).
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  EMPTY_BODY_SHA256,
  HEADERS,
  SIGNED_REJECTION_CODES,
  WIRE_ERROR_STATUS,
  canonicalRejectionString,
  isAuthenticRejection,
  parseRejection,
  rejectionResponse,
  signRejection,
  buildRequest,
  canonicalRequestString,
  canonicalResponseString,
  checkTimestamp,
  decodeIdentityHeader,
  openResponse,
  openSealedRequest,
  parseRequestHeaders,
  sealResponse,
  signResponse,
  verifyRequestSignature,
  type SignedRequestFields,
  type WireErrorCode,
  SESSION_KEY_HPKE_INFO,
  isWxsealError,
  loadServerPrivateKey,
  loadServerPublicKey,
  serverKeySuite,
  wrappedKeyLength,
} from '@wxseal/protocol';
import {
  canonicalQuery,
  decodePayload,
  deriveResponseKey,
  encodePayload,
  requestAad,
  responseAad,
  sha256Hex,
  signCanonical,
  splitTarget,
  unwrapSessionKey,
  wrapSessionKey,
  HPKE_IDS,
  hpkeDecap,
  hpkeDeriveKeyPair,
  hpkeEncap,
  hpkeKeySchedule,
  x25519PrivateKeyFromRaw,
  x25519RawPrivateKey,
  x25519RawPublicKey,
} from '@wxseal/protocol/primitives';

const vectors = (name: string) => JSON.parse(readFileSync(new URL(`../../../spec/vectors/${name}`, import.meta.url), 'utf8'));
const b = (s: string) => Buffer.from(s, 'base64url');
const b64u = (x: Uint8Array) => Buffer.from(x).toString('base64url');

const rsa = vectors('rsa-oaep.json') as {
  keys: Array<{ bits: number; serverKeyId: string; privateKeyPem: string; publicKeyPem: string; cases: Array<{ sessionKey: string; wrapped: string }> }>;
};

describe('canonical-query.json', () => {
  const v = vectors('canonical-query.json');
  for (const c of v.cases) {
    test(`"${c.rawQuery}"`, () => assert.equal(canonicalQuery(c.rawQuery), c.canonical));
  }
});

describe('sign.json', () => {
  const v = vectors('sign.json');
  test('empty body hash', () => assert.equal(sha256Hex(Buffer.alloc(0)), v.emptyBodySha256));
  test('empty body constant', () => assert.equal(EMPTY_BODY_SHA256, v.emptyBodySha256));
  for (const c of v.cases) {
    test(c.description, () => {
      const { canonicalQuery: cq, ...fields } = c.fields as SignedRequestFields & { canonicalQuery: string };
      assert.equal(sha256Hex(b(c.body)), fields.bodySha256);
      assert.equal(canonicalQuery(fields.rawQuery), cq);
      const canonical = canonicalRequestString(fields);
      assert.equal(canonical, c.canonical);
      assert.equal(canonical.split('\n').length, 15);
      assert.equal(signCanonical(b(c.secret), canonical), c.signature);
    });
  }
});

describe('rsa-oaep.json', () => {
  for (const k of rsa.keys) {
    test(`${k.bits}-bit key unwraps every case and its id matches its SPKI`, () => {
      const priv = createPrivateKey(k.privateKeyPem);
      const pub = createPublicKey(k.publicKeyPem);
      assert.equal(pub.asymmetricKeyDetails?.modulusLength, k.bits);
      assert.deepEqual(createPublicKey(priv).export({ type: 'spki', format: 'der' }), pub.export({ type: 'spki', format: 'der' }));
      for (const c of k.cases) {
        assert.equal(b(c.wrapped).length, k.bits / 8);
        assert.equal(b64u(unwrapSessionKey(priv, b(c.wrapped))), c.sessionKey);
      }
      // Wrapping is randomised: a fresh wrap differs yet unwraps to the same key.
      const again = wrapSessionKey(pub, b(k.cases[0]!.sessionKey));
      assert.notEqual(b64u(again), k.cases[0]!.wrapped);
      assert.equal(b64u(unwrapSessionKey(priv, again)), k.cases[0]!.sessionKey);
    });
  }
});

describe('seal-request.json', () => {
  const v = vectors('seal-request.json');
  const key = rsa.keys[v.serverKeyIndex]!;
  const priv = createPrivateKey(key.privateKeyPem);
  const pub = createPublicKey(key.publicKeyPem);
  for (const c of v.cases) {
    test(c.description, () => {
      const i = c.input;
      assert.equal(i.serverKeyId, key.serverKeyId);
      assert.equal(b64u(unwrapSessionKey(priv, b(i.wrappedKey))), i.sessionKey);
      const { path, rawQuery } = splitTarget(i.target);
      const aad = requestAad({ method: i.method, path, rawQuery, timestamp: i.timestamp, nonce: i.nonce, keyId: i.keyId, serverKeyId: i.serverKeyId });
      assert.equal(aad.toString('utf8'), c.expected.requestAad);
      const meta = { ...(i.contentType ? { contentType: i.contentType } : {}), ...(i.identity ? { identity: i.identity } : {}) };
      assert.equal(b64u(encodePayload(meta, b(i.body))), c.expected.plaintext);

      const built = buildRequest({
        mode: 'sealed', method: i.method, target: i.target, keyId: i.keyId, secret: b(i.secret), body: b(i.body),
        ...(i.contentType ? { contentType: i.contentType } : {}), ...(i.identity ? { identity: i.identity } : {}), ...(i.traceparent ? { traceparent: i.traceparent } : {}),
        serverKey: { id: i.serverKeyId, publicKey: pub }, timestamp: Number(i.timestamp), nonce: i.nonce,
        sessionKey: b(i.sessionKey), iv: b(i.iv), wrappedKey: b(i.wrappedKey),
      });
      assert.equal(b64u(built.body), c.expected.sealedBody);
      assert.equal(sha256Hex(built.body), c.expected.bodySha256Hex);
      assert.equal(built.canonical, c.expected.canonical);
      assert.deepEqual(built.headers, c.expected.headers);

      // And the server side opens it back.
      const parsed = parseRequestHeaders({ method: i.method, target: i.target, header: (n) => c.expected.headers[n] });
      assert.ok(parsed.mode === 'sealed');
      assert.equal(verifyRequestSignature(parsed, b(c.expected.sealedBody), [b(i.secret)]), 0);
      const opened = openSealedRequest(parsed, unwrapSessionKey(priv, parsed.wrappedKey), b(c.expected.sealedBody));
      assert.equal(b64u(opened.body), i.body);
      assert.deepEqual(opened.meta, meta);
    });
  }
});

describe('response.json', () => {
  const v = vectors('response.json');
  for (const c of v.sealed) {
    test(`sealed: ${c.description}`, () => {
      const i = c.input;
      const { key, iv } = deriveResponseKey(b(i.sessionKey), b(i.responseNonce));
      assert.equal(Buffer.concat([key, iv]).toString('hex'), c.expected.okmHex);
      assert.equal(key.toString('hex'), c.expected.responseKeyHex);
      assert.equal(iv.toString('hex'), c.expected.responseIvHex);
      assert.equal(responseAad({ keyId: i.keyId, requestNonce: i.requestNonce, status: c.expected.wireStatus }).toString('utf8'), c.expected.responseAad);
      const res = sealResponse(
        { keyId: i.keyId, nonce: i.requestNonce, sessionKey: b(i.sessionKey) },
        { status: i.status, ...(i.contentType ? { contentType: i.contentType } : {}), body: b(i.body) },
        b(i.responseNonce),
      );
      assert.equal(res.status, c.expected.wireStatus);
      assert.equal(b64u(res.body), c.expected.sealedBody);
      assert.deepEqual(res.headers, c.expected.headers);
      const opened = openResponse(
        { mode: 'sealed', keyId: i.keyId, nonce: i.requestNonce, secret: Buffer.alloc(32), sessionKey: b(i.sessionKey) },
        { status: res.status, header: (n) => res.headers[n], body: res.body },
      );
      assert.equal(b64u(opened.body), i.body);
      assert.equal(opened.contentType, i.contentType ?? undefined);
      assert.equal(b64u(encodePayload(i.contentType ? { contentType: i.contentType } : {}, b(i.body))), c.expected.plaintext);
      assert.deepEqual(decodePayload(b(c.expected.plaintext)).body, b(i.body));
    });
  }
  for (const c of v.mustNotOpen) {
    test(`sealed response must not open: ${c.description}`, () => {
      const header = (n: string) => (n === HEADERS.responseNonce ? c.responseNonce : n === HEADERS.contentType ? 'application/vnd.wxseal.sealed' : undefined);
      assert.throws(
        () => openResponse({ mode: 'sealed', keyId: c.keyId, nonce: c.requestNonce, secret: Buffer.alloc(32), sessionKey: b(c.sessionKey) }, { status: c.status, header, body: b(c.sealedBody) }),
        (e: { code: string }) => e.code === 'WXSEAL_RESPONSE_INVALID',
      );
    });
  }
  for (const c of v.signed) {
    test(`signed: status ${c.input.status}`, () => {
      const i = c.input;
      const canonical = canonicalResponseString({ keyId: i.keyId, requestNonce: i.requestNonce, status: i.status, contentType: i.contentType, bodySha256: sha256Hex(b(i.body)) });
      assert.equal(canonical, c.expected.canonical);
      const res = signResponse({ keyId: i.keyId, nonce: i.requestNonce, secret: b(i.secret) }, { status: i.status, contentType: i.contentType, body: b(i.body) });
      assert.equal(res.headers[HEADERS.signature], c.expected.signature);
    });
  }
});

describe('reject.json (protocol-level steps; the full verifier is tested in @wxseal/server)', () => {
  const v = vectors('reject.json');
  const key = rsa.keys[v.serverKeyIndex]!;
  const priv = createPrivateKey(key.privateKeyPem);
  for (const c of v.cases) {
    test(c.description, () => {
      type Req = { method: string; target: string; headers: Record<string, string>; body: string };
      let handedOn: { identity: Record<string, string>; contentType: string | null } | undefined;
      const run = (seen: Set<string>, req: Req): string | null => {
        try {
          const body = b(req.body);
          if (body.length > (c.maxBodyBytes ?? 1024 * 1024)) return 'WXSEAL_BODY_TOO_LARGE';
          const parsed = parseRequestHeaders({ method: req.method, target: req.target, header: (n) => req.headers[n], ...(c.allowedModes ? { allowedModes: c.allowedModes } : {}) });
          checkTimestamp(parsed.timestampSeconds, c.now, 60);
          if (parsed.keyId !== v.keyId) return 'WXSEAL_UNKNOWN_KEY_ID';
          if (parsed.mode === 'sealed') {
            if (parsed.serverKeyId !== key.serverKeyId) return 'WXSEAL_UNKNOWN_SERVER_KEY';
            if (parsed.wrappedKey.length !== key.bits / 8) return 'WXSEAL_MALFORMED_HEADER';
          }
          verifyRequestSignature(parsed, body, [b(v.secret)]);
          const id = `${parsed.keyId} ${parsed.nonce}`;
          if (seen.has(id)) return 'WXSEAL_REPLAYED_NONCE';
          seen.add(id);
          if (parsed.mode === 'sealed') {
            const { meta } = openSealedRequest(parsed, unwrapSessionKey(priv, parsed.wrappedKey), body);
            handedOn = { identity: { ...meta.identity }, contentType: meta.contentType ?? null };
          } else {
            const identity = parsed.identityHeader ? decodeIdentityHeader(parsed.identityHeader) : {};
            handedOn = { identity: { ...identity }, contentType: parsed.contentType || null };
          }
          return null;
        } catch (err) {
          return (err as { code: string }).code;
        }
      };
      const seen = new Set<string>();
      if (c.precededBy) assert.equal(run(seen, c.precededBy), null);
      if (c.sendTwice) assert.equal(run(seen, c.request), null);
      assert.equal(run(seen, c.request), c.expectedCode);
      if (c.expectedIdentity !== undefined) assert.deepEqual(handedOn?.identity, c.expectedIdentity);
      if (c.expectedContentType !== undefined) assert.equal(handedOn?.contentType, c.expectedContentType);
    });
  }
});

describe('response.json signed rejections (SPEC.md 10.1): the client check, offline', () => {
  const v = vectors('response.json');
  type Wire = { status: number; headers: Record<string, string>; body: string };
  type Req = { keyId: string; nonce: string; secret: string };
  /** What a client does: recognise the rejection (6.4), then check its signature for its own request. */
  const trusted = (request: Req, response: Wire): boolean => {
    const rejection = parseRejection(response.status, (n) => response.headers[n], b(response.body));
    return rejection !== undefined && isAuthenticRejection(rejection, { keyId: request.keyId, nonce: request.nonce, secret: b(request.secret) });
  };
  test('the vectors cover every code section 10.1 signs', () => {
    const codes = new Set((v.signedRejections as Array<{ response: Wire }>).map((c) => c.response.headers[HEADERS.error]));
    for (const code of [...SIGNED_REJECTION_CODES, 'WXSEAL_MALFORMED_HEADER']) assert.ok(codes.has(code), code);
  });
  for (const c of v.signedRejections as Array<{ description: string; request: Req; response: Wire; expected: { canonical: string; signature: string } }>) {
    test(c.description, () => {
      const h = c.response.headers;
      assert.equal(c.response.status, WIRE_ERROR_STATUS[h[HEADERS.error] as WireErrorCode]);
      const canonical = canonicalRejectionString({ keyId: c.request.keyId, requestNonce: c.request.nonce, status: c.response.status, code: h[HEADERS.error]!, serverTime: h[HEADERS.serverTime]! });
      assert.equal(canonical, c.expected.canonical);
      assert.equal(canonical.split('\n').length, 6);
      assert.equal(signCanonical(b(c.request.secret), canonical), c.expected.signature);
      assert.equal(h[HEADERS.signature], c.expected.signature);
      // The server side makes the same response, and the client trusts it.
      const code = h[HEADERS.error] as WireErrorCode;
      const message = JSON.parse(b(c.response.body).toString('utf8')).error.message as string;
      const wire = signRejection(rejectionResponse(code, message, Number(h[HEADERS.serverTime])), { keyId: c.request.keyId, nonce: c.request.nonce, secret: b(c.request.secret) });
      assert.deepEqual({ status: wire.status, headers: wire.headers, body: b64u(wire.body) }, c.response);
      assert.equal(trusted(c.request, c.response), true);
    });
  }
  for (const c of v.rejectionMustNotVerify as Array<{ description: string; request: Req; response: Wire }>) {
    test(`must not be trusted: ${c.description}`, () => assert.equal(trusted(c.request, c.response), false));
  }
});

describe('x25519.json (SPEC.md 6.5)', () => {
  interface XWrap {
    sessionKey: string;
    ephemeralIkmHex: string;
    ephemeralPrivateKeyHex: string;
    encHex: string;
    sharedSecretHex: string;
    keyScheduleContextHex: string;
    keyHex: string;
    baseNonceHex: string;
    wrapped: string;
  }
  const v = vectors('x25519.json');
  const k = v.serverKey;
  const priv = loadServerPrivateKey(k.privateKeyPem);
  const pub = loadServerPublicKey(k.publicKeyPem);
  const hex = (s: string) => Buffer.from(s, 'hex');

  test('the suite, the info string and the server key (raw, PEM, DeriveKeyPair, id)', () => {
    assert.deepEqual([v.hpke.mode, v.hpke.kemId, v.hpke.kdfId, v.hpke.aeadId], [0, HPKE_IDS.kemX25519HkdfSha256, HPKE_IDS.kdfHkdfSha256, HPKE_IDS.aeadAes256Gcm]);
    assert.equal(v.hpke.info, SESSION_KEY_HPKE_INFO);
    assert.equal(Buffer.from(v.hpke.info, 'ascii').toString('hex'), v.hpke.infoHex);
    assert.equal(serverKeySuite(pub), 'x25519-hpke');
    assert.equal(wrappedKeyLength(priv), k.wrappedKeyBytes);
    assert.equal(x25519RawPrivateKey(priv).toString('hex'), k.privateKeyHex);
    assert.equal(x25519RawPublicKey(pub).toString('hex'), k.publicKeyHex);
    assert.equal(x25519RawPrivateKey(hpkeDeriveKeyPair(hex(k.ikmHex)).privateKey).toString('hex'), k.privateKeyHex);
    assert.equal('sk-' + sha256Hex(pub.export({ type: 'spki', format: 'der' })).slice(0, 16), k.serverKeyId);
  });

  for (const [i, w] of (v.wraps as XWrap[]).entries()) {
    test(`wraps[${i}]: the HPKE values, the wrapped key, and its unwrapping`, () => {
      const ephemeral = x25519PrivateKeyFromRaw(hex(w.ephemeralPrivateKeyHex));
      assert.equal(x25519RawPrivateKey(hpkeDeriveKeyPair(hex(w.ephemeralIkmHex)).privateKey).toString('hex'), w.ephemeralPrivateKeyHex);
      const { enc, sharedSecret } = hpkeEncap(pub, ephemeral);
      assert.equal(enc.toString('hex'), w.encHex);
      assert.equal(sharedSecret.toString('hex'), w.sharedSecretHex);
      assert.equal(hpkeDecap(enc, priv).toString('hex'), w.sharedSecretHex);
      const context = hpkeKeySchedule('aes-256-gcm', sharedSecret, Buffer.from(v.hpke.info, 'ascii'));
      assert.equal(context.keyScheduleContext.toString('hex'), w.keyScheduleContextHex);
      assert.equal(context.key.toString('hex'), w.keyHex);
      assert.equal(context.baseNonce.toString('hex'), w.baseNonceHex);
      const wrapped = wrapSessionKey(pub, b(w.sessionKey), { ephemeralPrivateKey: ephemeral });
      assert.equal(b64u(wrapped), w.wrapped);
      assert.equal(w.wrapped.length, 107);
      assert.equal(wrapped.subarray(0, 32).toString('hex'), w.encHex);
      assert.equal(b64u(unwrapSessionKey(priv, b(w.wrapped))), w.sessionKey);
    });
  }

  for (const c of v.sealed) {
    test(`sealed: ${c.description}`, () => {
      const i = c.input;
      assert.equal(i.serverKeyId, k.serverKeyId);
      const sessionKey = unwrapSessionKey(priv, b(i.wrap.wrapped));
      assert.equal(b64u(sessionKey), i.wrap.sessionKey);
      const { path, rawQuery } = splitTarget(i.target);
      assert.equal(requestAad({ method: i.method, path, rawQuery, timestamp: i.timestamp, nonce: i.nonce, keyId: i.keyId, serverKeyId: i.serverKeyId }).toString('utf8'), c.expected.requestAad);
      const meta = { ...(i.contentType ? { contentType: i.contentType } : {}), ...(i.identity ? { identity: i.identity } : {}) };
      assert.equal(b64u(encodePayload(meta, b(i.body))), c.expected.plaintext);
      const built = buildRequest({
        mode: 'sealed', method: i.method, target: i.target, keyId: i.keyId, secret: b(i.secret), body: b(i.body),
        ...(i.contentType ? { contentType: i.contentType } : {}), ...(i.identity ? { identity: i.identity } : {}),
        serverKey: { id: i.serverKeyId, publicKey: pub }, timestamp: Number(i.timestamp), nonce: i.nonce,
        sessionKey, iv: b(i.iv), wrappedKey: wrapSessionKey(pub, sessionKey, { ephemeralPrivateKey: x25519PrivateKeyFromRaw(hex(i.wrap.ephemeralPrivateKeyHex)) }),
      });
      assert.equal(b64u(built.body), c.expected.sealedBody);
      assert.equal(sha256Hex(built.body), c.expected.bodySha256Hex);
      assert.equal(built.canonical, c.expected.canonical);
      assert.deepEqual(built.headers, c.expected.headers);

      const parsed = parseRequestHeaders({ method: i.method, target: i.target, header: (n) => c.expected.headers[n], allowedModes: ['sealed'] });
      assert.equal(parsed.wrappedKey.length, wrappedKeyLength(priv));
      assert.equal(verifyRequestSignature(parsed, b(c.expected.sealedBody), [b(i.secret)]), 0);
      const opened = openSealedRequest(parsed, unwrapSessionKey(priv, parsed.wrappedKey), b(c.expected.sealedBody));
      assert.equal(b64u(opened.body), i.body);
      assert.deepEqual(opened.meta, meta);

      const r = c.response;
      const wire = sealResponse({ keyId: i.keyId, nonce: i.nonce, sessionKey }, { status: r.input.status, ...(r.input.contentType ? { contentType: r.input.contentType } : {}), body: b(r.input.body) }, b(r.input.responseNonce));
      assert.equal(wire.status, r.expected.wireStatus);
      assert.equal(b64u(wire.body), r.expected.sealedBody);
      assert.deepEqual(wire.headers, r.expected.headers);
      const res = openResponse({ mode: 'sealed', keyId: i.keyId, nonce: i.nonce, secret: b(i.secret), sessionKey }, { status: r.expected.wireStatus, header: (n) => r.expected.headers[n], body: b(r.expected.sealedBody) });
      assert.equal(b64u(res.body), r.input.body);
    });
  }

  for (const c of v.unwrapFailures as Array<{ description: string; wrapped: string }>) {
    test(`unwrap fails: ${c.description}`, () => {
      assert.throws(() => unwrapSessionKey(priv, b(c.wrapped)), (e) => isWxsealError(e) && e.code === 'WXSEAL_UNWRAP_FAILED');
    });
  }
});

describe('every body in every vector file is b64u (SPEC.md 13)', () => {
  test('no member named body holds anything but the b64u alphabet', () => {
    const bodies: Array<[string, unknown]> = [];
    const walk = (file: string, at: string, x: unknown): void => {
      if (Array.isArray(x)) x.forEach((y, i) => walk(file, `${at}[${i}]`, y));
      else if (x !== null && typeof x === 'object') {
        for (const [k, y] of Object.entries(x)) {
          if (k === 'body' || k === 'precededBy' && typeof y === 'string') bodies.push([`${file}${at}.${k}`, y]);
          walk(file, `${at}.${k}`, y);
        }
      }
    };
    for (const file of readdirSync(new URL('../../../spec/vectors/', import.meta.url))) walk(file, '', vectors(file));
    assert.ok(bodies.length > 100);
    for (const [where, body] of bodies) assert.ok(typeof body === 'string' && /^[A-Za-z0-9_-]*$/.test(body), where);
  });
});
