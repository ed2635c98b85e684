// Property-based tests: what must hold for every input, not just the vectors.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  HEADERS,
  WxsealError,
  buildRequest,
  openResponse,
  openSealedRequest,
  parseRequestHeaders,
  sealResponse,
  signResponse,
  verifyRequestSignature,
  type Mode,
  type WechatIdentity,
} from '@wxseal/protocol';
import { b64uDecodeStrict, b64uEncode, canonicalQuery, unwrapSessionKey } from '@wxseal/protocol/primitives';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const serverKey = { id: 'sk-test', publicKey };
const secret = Buffer.alloc(32, 7);

// Segments a verifier accepts (SPEC.md 9 step 2.6): unreserved characters and percent-encoded
// bytes that are neither unreserved nor separators, never a dot-segment.
const pathSegment = fc.stringMatching(/^(?:[A-Za-z0-9._~-]|%[89A-F][0-9A-F]|%3[A-F]){1,12}$/).filter((s) => s !== '.' && s !== '..');
const target = fc
  .tuple(fc.array(pathSegment, { minLength: 1, maxLength: 4 }), fc.array(fc.stringMatching(/^[a-z]{1,3}(=[A-Za-z0-9%+]{0,5})?$/), { maxLength: 5 }))
  .map(([segs, q]) => '/' + segs.join('/') + (q.length ? '?' + q.join('&') : ''));
const identity: fc.Arbitrary<WechatIdentity> = fc.record(
  { openid: fc.string({ maxLength: 40 }), appid: fc.string({ maxLength: 20 }), unionid: fc.string({ maxLength: 40 }), env: fc.string({ maxLength: 20 }), source: fc.constantFrom('wx_client', 'wx_devtools', 'wx_trigger') },
  { requiredKeys: [] },
);
const requestInput = fc.record({
  mode: fc.constantFrom<Mode>('sealed', 'signed'),
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
  target,
  body: fc.uint8Array({ maxLength: 300 }),
  contentType: fc.option(fc.constantFrom('application/json', 'text/plain; charset=utf-8', 'application/octet-stream'), { nil: undefined }),
  identity: fc.option(identity, { nil: undefined }),
});

type RequestInput = typeof requestInput extends fc.Arbitrary<infer T> ? T : never;

function build(input: RequestInput) {
  return buildRequest({ ...input, keyId: 'bff', secret, serverKey });
}

function verifyAndOpen(method: string, tgt: string, headers: Record<string, string>, body: Buffer) {
  const parsed = parseRequestHeaders({ method, target: tgt, header: (n) => headers[n] });
  verifyRequestSignature(parsed, body, [secret]);
  if (parsed.mode === 'sealed') return openSealedRequest(parsed, unwrapSessionKey(privateKey, parsed.wrappedKey), body);
  return { meta: {}, body };
}

describe('request round trip', () => {
  test('whatever is built verifies and opens to the same body, content type and identity', () => {
    fc.assert(
      fc.property(requestInput, (input) => {
        const built = build(input);
        const opened = verifyAndOpen(input.method, input.target, built.headers, built.body);
        assert.deepEqual(new Uint8Array(opened.body), input.body);
        if (input.mode === 'sealed') {
          assert.equal(opened.meta.contentType, input.contentType || undefined);
          assert.deepEqual(opened.meta.identity, input.identity ? { ...input.identity } : undefined);
          // Confidentiality: the wire never carries the plaintext identity.
          if (input.identity?.openid && input.identity.openid.length > 8) {
            assert.ok(!built.body.includes(Buffer.from(input.identity.openid)));
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('tampering', () => {
  test('flipping any bit of the body is caught by the signature, before decryption', () => {
    fc.assert(
      fc.property(requestInput.filter((i) => i.mode === 'sealed' || i.body.length > 0), fc.nat(), fc.integer({ min: 0, max: 7 }), (input, at, bit) => {
        const built = build(input);
        const body = Buffer.from(built.body);
        const i = at % body.length;
        body[i] = body[i]! ^ (1 << bit);
        assert.throws(() => verifyAndOpen(input.method, input.target, built.headers, body), (e: WxsealError) => e.code === 'WXSEAL_BAD_SIGNATURE');
      }),
      { numRuns: 60 },
    );
  });

  test('changing any signed header is caught', () => {
    const signedHeaders = [HEADERS.keyId, HEADERS.timestamp, HEADERS.nonce, HEADERS.signature, HEADERS.serverKeyId, HEADERS.wrappedKey, HEADERS.iv, HEADERS.identity, HEADERS.contentType, HEADERS.traceparent];
    fc.assert(
      fc.property(requestInput, fc.constantFrom(...signedHeaders), fc.nat(), (input, name, at) => {
        const built = buildRequest({ ...input, keyId: 'bff', secret, serverKey, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
        const value = built.headers[name];
        if (value === undefined) return; // not used in this mode
        // Replace one character by another of the same alphabet class, so syntax mostly still holds.
        const i = at % value.length;
        const c = value[i]!;
        const swapped = /[0-9]/.test(c) ? String((Number(c) + 1) % 10) : c === 'A' ? 'B' : 'A';
        const headers = { ...built.headers, [name]: value.slice(0, i) + swapped + value.slice(i + 1) };
        assert.throws(
          () => verifyAndOpen(input.method, input.target, headers, built.body),
          (e: WxsealError) => e instanceof WxsealError && ['WXSEAL_BAD_SIGNATURE', 'WXSEAL_MALFORMED_HEADER'].includes(e.code),
        );
      }),
      { numRuns: 80 },
    );
  });

  test('another method or target never verifies', () => {
    fc.assert(
      fc.property(requestInput, target, (input, other) => {
        fc.pre(other !== input.target && canonicalQuery(other.split('?')[1] ?? '') + other.split('?')[0] !== canonicalQuery(input.target.split('?')[1] ?? '') + input.target.split('?')[0]);
        const built = build(input);
        assert.throws(() => verifyAndOpen(input.method, other, built.headers, built.body), (e: WxsealError) => e.code === 'WXSEAL_BAD_SIGNATURE');
      }),
      { numRuns: 40 },
    );
  });
});

describe('responses', () => {
  test('a sealed response opens only for its own request nonce and status', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(200, 201, 400, 404, 500), (body, status) => {
        const built = buildRequest({ mode: 'sealed', method: 'POST', target: '/x', keyId: 'bff', secret, serverKey, body: Buffer.from('{}') });
        const ctx = { keyId: 'bff', nonce: built.context.nonce, sessionKey: built.context.sessionKey! };
        const res = sealResponse(ctx, { status, contentType: 'application/json', body });
        const header = (n: string) => res.headers[n];
        assert.deepEqual(new Uint8Array(openResponse(built.context, { status: res.status, header, body: res.body }).body), body);
        const isInvalid = (e: WxsealError) => e.code === 'WXSEAL_RESPONSE_INVALID';
        assert.throws(() => openResponse(built.context, { status: status === 200 ? 201 : 200, header, body: res.body }), isInvalid);
        assert.throws(() => openResponse({ ...built.context, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }, { status, header, body: res.body }), isInvalid);
      }),
      { numRuns: 40 },
    );
  });

  test('a signed response fails when body, status or content type change', () => {
    const ctx = { mode: 'signed' as const, keyId: 'bff', nonce: 'bm9uY2Utbm9uY2Utbm9uY2U', secret };
    const res = signResponse(ctx, { status: 200, contentType: 'application/json', body: Buffer.from('{"a":1}') });
    const ok = openResponse(ctx, { status: 200, header: (n) => res.headers[n], body: res.body });
    assert.equal(ok.body.toString(), '{"a":1}');
    const bad = [
      { status: 200, header: (n: string) => res.headers[n], body: Buffer.from('{"a":2}') },
      { status: 500, header: (n: string) => res.headers[n], body: res.body },
      { status: 200, header: (n: string) => (n === 'content-type' ? 'text/plain' : res.headers[n]), body: res.body },
      { status: 200, header: (n: string) => (n === HEADERS.signature ? undefined : res.headers[n]), body: res.body },
    ];
    for (const r of bad) assert.throws(() => openResponse(ctx, r), (e: WxsealError) => e.code === 'WXSEAL_RESPONSE_INVALID');
  });
});

describe('canonical query', () => {
  test('is idempotent and ignores the order of distinct names', () => {
    const seg = fc.tuple(fc.stringMatching(/^[a-z]{1,4}$/), fc.stringMatching(/^[A-Za-z0-9%]{0,4}$/));
    fc.assert(
      fc.property(fc.uniqueArray(seg, { selector: ([n]) => n, maxLength: 6 }), (pairs) => {
        const q = pairs.map(([n, v]) => `${n}=${v}`);
        const c = canonicalQuery(q.join('&'));
        assert.equal(canonicalQuery(c), c);
        assert.equal(canonicalQuery([...q].reverse().join('&')), c);
      }),
    );
  });
  test('keeps the order of repeated names (it carries meaning)', () => {
    assert.notEqual(canonicalQuery('a=1&a=2'), canonicalQuery('a=2&a=1'));
  });
});

describe('strict base64url', () => {
  test('round-trips every byte string and rejects padded or non-canonical text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const text = b64uEncode(bytes);
        assert.deepEqual(new Uint8Array(b64uDecodeStrict(text)!), bytes);
        if (text.length % 4 !== 0) assert.equal(b64uDecodeStrict(text + '='), undefined);
      }),
    );
    assert.equal(b64uDecodeStrict('AB'), undefined); // non-zero unused bits: 'AA' is the canonical form
    assert.deepEqual(b64uDecodeStrict('AA'), Buffer.from([0]));
    assert.equal(b64uDecodeStrict('A+'), undefined);
    assert.equal(b64uDecodeStrict('A'), undefined);
  });
});
