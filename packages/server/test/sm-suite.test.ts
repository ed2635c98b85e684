// Issue 17: the SM suite (SPEC.md 6.6). spec/vectors/sm.json is reproduced value by value (the SM2
// ciphertexts are fixed and checked by decryption with the fixed private key), then the verifier
// takes SM requests in the order of section 9: HMAC-SM3 first (a forged request never reaches SM2),
// replays refused, SM responses sealed and opened by the client side.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as gm from '@wxseal/gm';
import {
  HEADERS,
  buildRequest,
  formatSm2PrivateKey,
  isAuthenticRejection,
  isWxsealError,
  openResponse,
  parseRejection,
  parseSm2PrivateKey,
  parseSm2PublicKey,
  sm2ServerKeyId,
  type SmPrimitives,
  type WechatIdentity,
  type WireResponse,
} from '@wxseal/protocol';
import { b64uDecodeStrict, deriveSmResponseKey, encodePayload, sm2SpkiDer, sm3Hex, smCanonicalRejectionString, smRequestAad, smResponseAad, unwrapSmSessionKey } from '@wxseal/protocol/primitives';
import { MemoryNonceStore, ServerKeyRing, StaticKeyResolver, createVerifier } from '@wxseal/server';

const v = JSON.parse(readFileSync(new URL('../../../spec/vectors/sm.json', import.meta.url), 'utf8'));
const b = (s: string): Buffer => b64uDecodeStrict(s)!;
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

interface SealedCase {
  description: string;
  input: { method: string; target: string; keyId: string; secret: string; serverKeyId: string; timestamp: string; nonce: string; contentType: string | null; identity: WechatIdentity | null; body: string; sessionKey: string; iv: string; wrapped: string };
  expected: { requestAad: string; plaintext: string; sealedBody: string; bodySm3Hex: string; canonical: string; headers: Record<string, string> };
  response: { input: { responseNonce: string; status: number; contentType: string | null; body: string }; expected: { wireStatus: number; responseKeyHex: string; responseIvHex: string; responseAad: string; sealedBody: string; headers: Record<string, string> } };
}
const sealed = v.sealed as SealedCase[];
const smKey = { type: 'sm2' as const, publicKeyHex: v.serverKey.publicKeyHex as string, primitives: gm };

const build = (c: SealedCase) =>
  buildRequest({
    mode: 'sealed', method: c.input.method, target: c.input.target, keyId: c.input.keyId, secret: b(c.input.secret), body: b(c.input.body),
    ...(c.input.contentType ? { contentType: c.input.contentType } : {}), ...(c.input.identity ? { identity: c.input.identity } : {}),
    serverKey: { id: c.input.serverKeyId, sm2: smKey }, timestamp: Number(c.input.timestamp), nonce: c.input.nonce,
    sessionKey: b(c.input.sessionKey), iv: b(c.input.iv), wrappedKey: b(c.input.wrapped),
  });

/** gm with its SM2 decryptions counted. */
function countingGm(): { sm: SmPrimitives; decrypts: () => number } {
  let n = 0;
  const sm: SmPrimitives = { ...gm, sm2Decrypt: (k, c) => (n++, gm.sm2Decrypt(k, c)) };
  return { sm, decrypts: () => n };
}

function verifierFor(sm: SmPrimitives, now: number) {
  const secret = b(sealed[0]!.input.secret);
  return createVerifier({
    keys: new StaticKeyResolver([{ keyId: 'bff-prod', secrets: [{ id: 's1', secret }] }]),
    nonceStore: new MemoryNonceStore(),
    serverKeys: new ServerKeyRing([{ privateKey: { type: 'sm2', privateKeyHex: v.serverKey.privateKeyHex, primitives: sm } }]),
    now: () => now,
  });
}

describe('spec/vectors/sm.json', () => {
  it('the primitives give the known answers (SM4-GCM: RFC 8998 A.1)', () => {
    for (const c of v.primitives.sm3) assert.equal(gm.sm3(Buffer.from(c.message, 'utf8')).toString('hex'), c.digestHex);
    assert.equal(v.primitives.sm3[0].digestHex, '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0'); // GB/T 32905 A.1
    for (const c of v.primitives.hmacSm3) assert.equal(gm.hmacSm3(hex(c.keyHex), Buffer.from(c.message, 'utf8')).toString('hex'), c.macHex);
    for (const c of v.primitives.hkdfSm3) assert.equal(gm.hkdfSm3(hex(c.ikmHex), hex(c.saltHex), Buffer.from(c.info, 'utf8'), c.length).toString('hex'), c.okmHex);
    for (const c of v.primitives.sm4Gcm) {
      const { ciphertext, tag } = gm.sm4GcmEncrypt(hex(c.keyHex), hex(c.ivHex), hex(c.plaintextHex), hex(c.aadHex));
      assert.equal(ciphertext.toString('hex'), c.ciphertextHex);
      assert.equal(tag.toString('hex'), c.tagHex);
      assert.equal(tag.toString('hex'), '83de3541e4c2b58177e065a9bf7b62ec'); // RFC 8998 A.1
    }
  });

  it('the server key: public point, SPKI, id and the armored key texts', () => {
    const k = v.serverKey;
    assert.equal(gm.sm2PublicKeyFromPrivate(k.privateKeyHex), k.publicKeyHex);
    assert.equal(sm2SpkiDer(k.publicKeyHex).toString('hex'), k.spkiDerHex);
    assert.equal(sm2ServerKeyId(k.publicKeyHex), k.serverKeyId);
    assert.equal(parseSm2PrivateKey(k.privateKeyText), k.privateKeyHex);
    assert.equal(parseSm2PublicKey(k.publicKeyText), k.publicKeyHex);
    assert.equal(formatSm2PrivateKey(k.privateKeyHex), k.privateKeyText);
    assert.equal(parseSm2PrivateKey(k.publicKeyText), undefined);
    assert.equal(gm.sm2PrivateKeyFromPem(k.privateKeyPem), k.privateKeyHex);
    assert.equal(gm.sm2PublicKeyFromPem(k.publicKeyPem), k.publicKeyHex);
    assert.equal(gm.sm2PublicKeyToDer(k.publicKeyHex).toString('hex'), k.spkiDerHex);
    // The key ring reads the PEM, the armored text and the hex alike, under the vector's id.
    for (const privateKey of [k.privateKeyPem, k.privateKeyText, { type: 'sm2' as const, privateKeyHex: k.privateKeyHex }]) {
      const ring = new ServerKeyRing([{ privateKey }]);
      assert.deepEqual([ring.ids(), ring.type(k.serverKeyId), ring.suite(k.serverKeyId), ring.wrappedKeyLength(k.serverKeyId)], [[k.serverKeyId], 'sm2', 'sm2-sm4-gcm', 113]);
      assert.equal(ring.publicKeyText(k.serverKeyId), k.publicKeyPem);
    }
    assert.equal(k.wrappedKeyBytes, 113);
  });

  it('every fixed SM2 ciphertext decrypts to its session key; the failures are WXSEAL_UNWRAP_FAILED', () => {
    for (const w of v.wraps) {
      assert.equal(b(w.wrapped).length, 113);
      assert.deepEqual(unwrapSmSessionKey(gm, v.serverKey.privateKeyHex, b(w.wrapped)), b(w.sessionKey));
    }
    for (const f of v.unwrapFailures) {
      assert.throws(() => unwrapSmSessionKey(gm, v.serverKey.privateKeyHex, b(f.wrapped)), (e: unknown) => isWxsealError(e, 'WXSEAL_UNWRAP_FAILED'), f.description);
    }
  });

  for (const c of sealed) {
    it(`sealed: ${c.description}`, () => {
      const built = build(c);
      assert.deepEqual(built.headers, c.expected.headers);
      assert.equal(built.canonical, c.expected.canonical);
      assert.ok(built.canonical.startsWith('WXSEAL1-HMAC-SM3\n'));
      assert.equal(built.body.toString('base64url'), c.expected.sealedBody);
      assert.equal(sm3Hex(gm, built.body), c.expected.bodySm3Hex);
      assert.ok(built.canonical.endsWith(`\n${c.expected.bodySm3Hex}`));
      assert.equal(gm.hmacSm3(b(c.input.secret), Buffer.from(c.expected.canonical, 'utf8')).toString('base64url'), c.expected.headers[HEADERS.signature]);
      const [path, query = ''] = c.input.target.split('?');
      assert.equal(smRequestAad({ ...c.input, path: path!, rawQuery: query }).toString('utf8'), c.expected.requestAad);
      const meta = { ...(c.input.contentType ? { contentType: c.input.contentType } : {}), ...(c.input.identity ? { identity: c.input.identity } : {}) };
      assert.equal(encodePayload(meta, b(c.input.body)).toString('base64url'), c.expected.plaintext);
      // The payload is SM4-GCM of the plaintext under K with the AAD.
      const sb = b(c.expected.sealedBody);
      assert.deepEqual(gm.sm4GcmDecrypt(b(c.input.sessionKey), b(c.input.iv), sb.subarray(0, sb.length - 16), sb.subarray(sb.length - 16), Buffer.from(c.expected.requestAad, 'utf8')), b(c.expected.plaintext));
      // The response.
      const r = c.response;
      const rk = deriveSmResponseKey(gm, b(c.input.sessionKey), b(r.input.responseNonce));
      assert.equal(rk.key.toString('hex'), r.expected.responseKeyHex);
      assert.equal(rk.iv.toString('hex'), r.expected.responseIvHex);
      assert.equal(smResponseAad({ keyId: c.input.keyId, requestNonce: c.input.nonce, status: r.expected.wireStatus }).toString('utf8'), r.expected.responseAad);
      const opened = openResponse({ ...built.context }, { status: r.expected.wireStatus, header: (n) => r.expected.headers[n], body: b(r.expected.sealedBody) });
      assert.deepEqual(opened.body, r.input.status === 204 ? Buffer.alloc(0) : b(r.input.body));
      assert.equal(opened.contentType, r.input.contentType ?? undefined);
      // Opened under the other suites' derivation, it does not authenticate.
      assert.throws(() => openResponse({ ...built.context, sm: undefined, sessionKey: Buffer.concat([b(c.input.sessionKey), b(c.input.sessionKey)]) }, { status: r.expected.wireStatus, header: (n) => r.expected.headers[n], body: b(r.expected.sealedBody) }), (e: unknown) => isWxsealError(e, 'WXSEAL_RESPONSE_INVALID'));
    });
  }

  it('the signed rejection verifies under HMAC-SM3 only', () => {
    const r = v.signedRejection;
    assert.equal(smCanonicalRejectionString(r), r.canonical);
    const headers: Record<string, string> = { [HEADERS.error]: r.code, [HEADERS.serverTime]: r.serverTime, [HEADERS.signature]: r.signature };
    const rejection = parseRejection(r.status, (n) => headers[n], Buffer.from('{}'))!;
    const ctx = { keyId: r.keyId, nonce: r.requestNonce, secret: b(sealed[0]!.input.secret) };
    assert.equal(isAuthenticRejection(rejection, { ...ctx, sm: gm }), true);
    assert.equal(isAuthenticRejection(rejection, ctx), false);
  });
});

describe('the verifier with an SM2 server key', () => {
  const c = sealed[0]!;
  const now = Number(c.input.timestamp);
  const verifyInput = (headers: Record<string, string>, body: Buffer) => ({ method: c.input.method, target: c.input.target, headers, body });

  it('verifies the vector request, seals the vector response, and refuses its replay (signed under HMAC-SM3)', async () => {
    const { sm, decrypts } = countingGm();
    const verifier = verifierFor(sm, now);
    const verified = await verifier.verify(verifyInput(c.expected.headers, b(c.expected.sealedBody)));
    assert.deepEqual(verified.body, b(c.input.body));
    assert.deepEqual(verified.identity, c.input.identity);
    assert.equal(verified.contentType, c.input.contentType);
    assert.equal(verified.serverKeyId, v.serverKey.serverKeyId);
    assert.equal(decrypts(), 1);
    const wire = verifier.sealResponse(verified, { status: 201, contentType: 'application/json', body: '{"ok":true}' });
    const opened = openResponse(build(c).context, { status: wire.status, header: (n) => wire.headers[n], body: wire.body });
    assert.equal(opened.body.toString(), '{"ok":true}');

    await assert.rejects(verifier.verify(verifyInput(c.expected.headers, b(c.expected.sealedBody))), (e: unknown) => isWxsealError(e, 'WXSEAL_REPLAYED_NONCE'));
    assert.equal(decrypts(), 1, 'a replay never reaches SM2');
    // The replay's rejection, as a client reads it, is signed for that very request under HMAC-SM3.
    let replayed: WireResponse | undefined;
    await verifier.verify(verifyInput(c.expected.headers, b(c.expected.sealedBody))).catch((e: unknown) => {
      replayed = verifier.rejection(e, now);
    });
    const wireRejection: WireResponse = replayed!;
    const parsed = parseRejection(wireRejection.status, (n) => wireRejection.headers[n], wireRejection.body)!;
    assert.equal(parsed.code, 'WXSEAL_REPLAYED_NONCE');
    assert.equal(isAuthenticRejection(parsed, build(c).context), true);
  });

  it('refuses forged SM requests at the HMAC, before any SM2 decryption', async () => {
    const { sm, decrypts } = countingGm();
    const verifier = verifierFor(sm, now);
    const body = b(c.expected.sealedBody);
    const cases: Array<[string, Record<string, string>, Buffer]> = [
      ['HMAC-SHA256 in place of HMAC-SM3', { ...c.expected.headers, [HEADERS.signature]: v.forgedSignatures[0].signature }, body],
      ['a byte of the body changed', c.expected.headers, Buffer.from(body).map((x, i) => (i === 3 ? x ^ 1 : x)) as Buffer],
      ['another wrapped key (for another SM2 key)', { ...c.expected.headers, [HEADERS.wrappedKey]: v.otherKeyWrap.wrapped }, body],
    ];
    for (const [what, headers, sentBody] of cases) {
      await assert.rejects(verifier.verify(verifyInput(headers, sentBody)), (e: unknown) => (e as { code?: string }).code === 'WXSEAL_BAD_SIGNATURE', what);
    }
    assert.equal(decrypts(), 0, 'no forged request reached SM2');
  });

  it('refuses a wrapped key of another suite\'s length naming the SM2 key, before the HMAC', async () => {
    const verifier = verifierFor(gm, now);
    const headers = { ...c.expected.headers, [HEADERS.wrappedKey]: Buffer.alloc(80, 1).toString('base64url') };
    await assert.rejects(verifier.verify(verifyInput(headers, b(c.expected.sealedBody))), (e: unknown) => isWxsealError(e, 'WXSEAL_MALFORMED_HEADER'));
  });

  it('a fresh SM request end to end through protocol and verifier (random K, random SM2 ciphertext)', async () => {
    const verifier = verifierFor(gm, Math.floor(Date.now() / 1000));
    const built = buildRequest({ mode: 'sealed', method: 'PUT', target: '/x?b=1&a=2', keyId: 'bff-prod', secret: b(c.input.secret), body: Buffer.from('你好'), contentType: 'text/plain', serverKey: { id: v.serverKey.serverKeyId, sm2: smKey } });
    assert.equal(built.context.sessionKey!.length, 16);
    assert.equal(built.headers[HEADERS.wrappedKey]!.length, 151);
    const verified = await verifier.verify({ method: 'PUT', target: '/x?b=1&a=2', headers: built.headers, body: built.body });
    assert.equal(verified.body.toString(), '你好');
    const wire = verifier.sealResponse(verified, { status: 204 });
    assert.equal(wire.status, 200);
    assert.deepEqual(openResponse(built.context, { status: wire.status, header: (n) => wire.headers[n], body: wire.body }).body, Buffer.alloc(0));
  });
});
