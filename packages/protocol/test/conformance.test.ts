// The rules SPEC.md fixes where an independent implementation had to guess (issue 11): strings
// with lone surrogates, null and repeated JSON members, byte-order marks, the request-target rule,
// the nonce syntax, where the wrapped key is decoded, the Content-Type limit and Content-Encoding.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  HEADERS,
  WxsealError,
  buildRequest,
  decodeIdentityHeader,
  encodeIdentityHeader,
  parseActivationRequest,
  parseDeviceKeyDelivery,
  parseRequestHeaders,
  requestTargetReason,
  sealedBodyLength,
  unsafePathReason,
  validateIdentity,
} from '@wxseal/protocol';
import { b64uEncode, decodePayload, hasRepeatedMember, parseJsonObject, toWellFormed } from '@wxseal/protocol/primitives';

const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const serverKey = { id: 'sk-test', publicKey };
const secret = Buffer.alloc(32, 7);
const utf8 = (s: string) => Buffer.from(s, 'utf8');
const codeOf = (fn: () => unknown): string | null => {
  try {
    fn();
    return null;
  } catch (err) {
    assert.ok(err instanceof WxsealError, `a WxsealError, got ${String(err)}`);
    return err.code;
  }
};
const isWellFormed = (s: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

describe('lone surrogates count as U+FFFD (SPEC.md 7)', () => {
  test('toWellFormed replaces lone surrogates only, without String.prototype.toWellFormed', () => {
    assert.equal(toWellFormed('o-\ud800-1'), 'o-\ufffd-1');
    assert.equal(toWellFormed('\udc00x\ud83d'), '\ufffdx\ufffd');
    assert.equal(toWellFormed('a\ud83d\ude00b'), 'a\ud83d\ude00b'); // a pair stays
    assert.equal(toWellFormed('\ud83d\ud83d\ude00'), '\ufffd\ud83d\ude00');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }), (codes) => {
        const s = String.fromCharCode(...codes);
        const w = toWellFormed(s);
        assert.ok(isWellFormed(w));
        assert.equal(w.length, s.length);
        // UTF-8 encoding already reads a lone surrogate as U+FFFD: the bytes do not change.
        assert.deepEqual(utf8(w), utf8(s));
        if (isWellFormed(s)) assert.equal(w, s);
        encodeURIComponent(w); // throws URIError on a lone surrogate
      }),
    );
  });

  test('sign-only identity: the verifier hands on well-formed strings', () => {
    const header = b64uEncode(utf8('{"openid":"o-\\ud800-1","env":"\\udfff"}'));
    const identity = decodeIdentityHeader(header);
    assert.deepEqual(identity, { openid: 'o-\ufffd-1', env: '\ufffd' });
    assert.doesNotThrow(() => encodeURIComponent(identity.openid!));
  });

  test('sealed meta identity: well-formed, and the 256-byte limit counts U+FFFD as 3 bytes', () => {
    const { meta } = decodePayload(utf8('{"identity":{"openid":"\\ud800x"}}\n'));
    assert.deepEqual(meta.identity, { openid: '\ufffdx' });
    const at = (n: number) => utf8(`{"identity":{"openid":"${'\\ud800'.repeat(n)}a"}}\n`);
    assert.equal(decodePayload(at(85)).meta.identity?.openid?.length, 86); // 85 × 3 + 1 = 256 bytes
    assert.equal(codeOf(() => decodePayload(at(86))), 'WXSEAL_MALFORMED_PAYLOAD'); // 259 bytes
  });

  test('a client asserting a lone surrogate sends U+FFFD', () => {
    assert.deepEqual(validateIdentity({ openid: '\ud800' }, 'WXSEAL_CONFIG_INVALID'), { openid: '\ufffd' });
    const header = encodeIdentityHeader({ openid: 'a\ud800' });
    assert.equal(Buffer.from(header, 'base64url').toString('utf8'), '{"openid":"a\ufffd"}');
  });
});

describe('the sealed meta (SPEC.md 6.1)', () => {
  test('"contentType": null counts as absent, like "identity": null', () => {
    assert.deepEqual(decodePayload(utf8('{"contentType":null}\nbody')).meta, {});
    assert.deepEqual(decodePayload(utf8('{"contentType":null,"identity":null}\n')).meta, {});
    assert.equal(codeOf(() => decodePayload(utf8('{"contentType":7}\n'))), 'WXSEAL_MALFORMED_PAYLOAD');
  });

  test('a byte-order mark before the meta is malformed (RFC 8259 8.1)', () => {
    assert.equal(codeOf(() => decodePayload(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8('{}\n')]))), 'WXSEAL_MALFORMED_PAYLOAD');
    assert.equal(codeOf(() => decodeIdentityHeader(b64uEncode(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8('{}')])))), 'WXSEAL_MALFORMED_HEADER');
  });

  test('a repeated member is malformed at any depth, names compared after unescaping', () => {
    for (const meta of [
      '{"contentType":"a/b","contentType":"a/b"}',
      '{"identity":{"openid":"x","openid":"y"}}',
      '{"identity":{"openid":"x","\\u006fpenid":"y"}}',
      '{"contentType":"a/b","\\u0063ontentType":"c/d"}',
      '{"extension":{"k":1,"k":2}}',
      '{"extension":[{"k":1},{"z":{"k":1,"k":1}}]}',
      '{"identity":{"\\ud800":"1","\\udbff":"2"}}', // both names read as U+FFFD
    ]) {
      assert.equal(codeOf(() => decodePayload(utf8(`${meta}\n`))), 'WXSEAL_MALFORMED_PAYLOAD', meta);
    }
    // The same name in different objects, and names that differ, are fine.
    assert.deepEqual(decodePayload(utf8('{"identity":{"openid":"x"},"extension":{"openid":1,"k":[{"k":1},{"k":2}]}}\n')).meta, { identity: { openid: 'x' } });
  });

  test('sign-only identity: a repeated member is MALFORMED_HEADER', () => {
    assert.equal(codeOf(() => decodeIdentityHeader(b64uEncode(utf8('{"openid":"a","openid":"b"}')))), 'WXSEAL_MALFORMED_HEADER');
    assert.equal(codeOf(() => decodeIdentityHeader(b64uEncode(utf8('{"openid":"a","\\u006Fpenid":"a"}')))), 'WXSEAL_MALFORMED_HEADER');
  });

  test('one parser for every JSON body: device activation bodies and deliveries use it too', () => {
    assert.equal(codeOf(() => parseActivationRequest(utf8('{"serial":"a","\\u0073erial":"b"}'))), 'WXSEAL_MALFORMED_PAYLOAD');
    const delivery = `{"keyVersion":"1","serverNonce":"${'A'.repeat(43)}","sealedKey":"${'A'.repeat(64)}"`;
    assert.equal(codeOf(() => parseDeviceKeyDelivery(utf8(`${delivery},"x":{"a":1,"a":2}}`))), 'WXSEAL_RESPONSE_INVALID');
    assert.doesNotThrow(() => parseDeviceKeyDelivery(utf8(`${delivery},"x":{"a":1,"b":2}}`)));
    const fail = (m: string): never => {
      throw new Error(m);
    };
    assert.throws(() => parseJsonObject(utf8('[1]'), 'x', fail), /must be a JSON object/);
  });

  test('hasRepeatedMember: finds a member repeated in any object of any JSON text', () => {
    // A serialiser that repeats the first member of the `dupAt`-th object (pre-order), its name
    // written once plainly and once with its first character \u-escaped.
    const ser = (v: unknown, dupAt: number, counter = { n: 0 }): string => {
      if (Array.isArray(v)) return `[${v.map((x) => ser(x, dupAt, counter)).join(',')}]`;
      if (v !== null && typeof v === 'object') {
        const here = counter.n++;
        const parts = Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${ser(x, dupAt, counter)}`);
        const first = Object.keys(v)[0];
        if (here === dupAt && first !== undefined) {
          const escaped = first === '' ? '""' : `"\\u${first.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(first.slice(1)).slice(1)}`;
          parts.push(`${escaped}:0`);
        }
        return `{${parts.join(',')}}`;
      }
      return JSON.stringify(v);
    };
    const objects = (v: unknown): Array<Record<string, unknown>> =>
      Array.isArray(v) ? v.flatMap(objects) : v !== null && typeof v === 'object' ? [v as Record<string, unknown>, ...Object.values(v).flatMap(objects)] : [];
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.nat(), (value, pick) => {
        assert.equal(hasRepeatedMember(JSON.stringify(value)), false);
        const all = objects(value);
        if (all.length === 0) return;
        const at = pick % all.length;
        const text = ser(value, at);
        JSON.parse(text); // still JSON
        assert.equal(hasRepeatedMember(text), Object.keys(all[at]!).length > 0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the request target (SPEC.md 5.1, 9 step 2.6)', () => {
  const refused = [
    '/api/x/../orders',
    '/api/x/./orders',
    '/api/..',
    '/..;/api/orders',
    '/api/..;jsessionid=1/orders',
    '/api/a%2Fb',
    '/api/a%2fb',
    '/api/a%5Cb',
    '/api/a%00b',
    '/api/%2e%2e/orders',
    '/api/%2E/orders',
    '/%61pi/orders',
    '/api/%7Euser',
    '/api\\orders',
    '/api/订单',
    '/api/caf\u00e9',
    '/api/a b',
    '/api/\u007f',
    'api/orders',
    '',
    '/api/orders#top',
    '/api/orders?q=1\r\n',
    `/${'a'.repeat(8192)}`,
  ];
  const accepted = [
    '/',
    '/api/orders',
    '/api/%E8%AE%A2%E5%8D%95',
    '/api/a%20b',
    '/api/a%3Ab',
    '/api/.well-known/x',
    '/api/...',
    '/api/a..b/c.',
    '/api/orders?next=../a%2Fb&x=%2e%2e&y=\\', // the rule is on the path; the query is signed as sent
    `/${'a'.repeat(8191)}`,
  ];

  test('refused by the protocol, by parseRequestHeaders with MALFORMED_HEADER and by buildRequest', () => {
    const signed = buildRequest({ mode: 'signed', method: 'GET', target: '/ok', keyId: 'bff', secret });
    for (const target of refused) {
      assert.notEqual(requestTargetReason(target), undefined, target);
      assert.equal(codeOf(() => parseRequestHeaders({ method: 'GET', target, header: (n) => signed.headers[n] })), 'WXSEAL_MALFORMED_HEADER', target);
      assert.equal(codeOf(() => buildRequest({ mode: 'signed', method: 'GET', target, keyId: 'bff', secret })), 'WXSEAL_CONFIG_INVALID', target);
    }
  });

  test('accepted targets are signed and verified exactly as sent', () => {
    for (const target of accepted) {
      assert.equal(requestTargetReason(target), undefined, target);
      const built = buildRequest({ mode: 'signed', method: 'GET', target, keyId: 'bff', secret });
      const parsed = parseRequestHeaders({ method: 'GET', target, header: (n) => built.headers[n] });
      assert.equal(parsed.path + (parsed.rawQuery ? `?${parsed.rawQuery}` : ''), target);
    }
  });

  test('the gateway routes with the same path rule (unsafePathReason)', () => {
    for (const target of refused.filter((t) => t.startsWith('/') && !t.includes('#') && !t.includes('?') && t.length <= 8192)) {
      assert.notEqual(unsafePathReason(target), undefined, target);
    }
  });

  test('any dangerous piece put into a safe path is refused', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_~-]{1,8}$/);
    const piece = fc.constantFrom('.', '..', '..;x', '.;', '%2e', '%2E%2e', '%2f', '%2F', '%5c', '%00', '%41', '%7e', '%5F', '\\', '\u00e9', '\u4e2d', ' ', '\u0000');
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.nat(), piece, fc.boolean(), (segments, at, bad, whole) => {
        const i = at % segments.length;
        const s = [...segments];
        s[i] = whole ? bad : `${s[i]}${bad}`;
        const path = `/${s.join('/')}`;
        // A dot-segment only counts as a whole segment (`a..;x` is a name); everything else anywhere.
        const expectRefused = whole || !/^(\.|\.\.|\.\.;x|\.;)$/.test(bad);
        assert.equal(requestTargetReason(path) !== undefined, expectRefused, path);
      }),
      { numRuns: 400 },
    );
  });
});

describe('header syntax (SPEC.md 4, 9 step 2)', () => {
  const signed = (extra: Record<string, string | undefined> = {}) => {
    const built = buildRequest({ mode: 'signed', method: 'POST', target: '/x', keyId: 'bff', secret, body: utf8('{}'), contentType: 'application/json' });
    const headers: Record<string, string | undefined> = { ...built.headers, ...extra };
    return () => parseRequestHeaders({ method: 'POST', target: '/x', header: (n) => headers[n] });
  };

  test('the nonce is opaque: alphabet and length only, never decoded (a 25-character nonce is fine)', () => {
    for (const nonce of ['A'.repeat(25), 'AB'.repeat(11), '_'.repeat(22), '-'.repeat(64)]) {
      assert.equal(codeOf(signed({ [HEADERS.nonce]: nonce })), null, nonce);
    }
    for (const nonce of ['A'.repeat(21), 'A'.repeat(65), `${'A'.repeat(22)}=`, `${'A'.repeat(22)}+`]) {
      assert.equal(codeOf(signed({ [HEADERS.nonce]: nonce })), 'WXSEAL_MALFORMED_HEADER', nonce);
    }
    assert.doesNotThrow(() => buildRequest({ mode: 'signed', method: 'GET', target: '/x', keyId: 'bff', secret, nonce: 'A'.repeat(25) }));
  });

  test('Content-Type: 256 characters as received, before trimming', () => {
    const ct = `text/plain;x=${'a'.repeat(243)}`; // 256
    assert.equal(ct.length, 256);
    assert.equal(codeOf(signed({ [HEADERS.contentType]: ct })), null);
    assert.equal(codeOf(signed({ [HEADERS.contentType]: ` ${ct}` })), 'WXSEAL_MALFORMED_HEADER');
    assert.equal(codeOf(signed({ [HEADERS.contentType]: `${ct}\t` })), 'WXSEAL_MALFORMED_HEADER');
    assert.equal(codeOf(signed({ [HEADERS.contentType]: `${ct.slice(1)} ` })), null);
  });

  test('Content-Encoding: trimmed of spaces and tabs only, ASCII case-insensitive', () => {
    for (const ok of ['identity', 'IDENTITY', ' Identity\t', '\t identity']) assert.equal(codeOf(signed({ [HEADERS.contentEncoding]: ok })), null, ok);
    for (const bad of ['identity\u00a0', '\u000bidentity', 'identity\u000c', '\ufeffidentity', 'identity\u2028', 'ıdentity', 'gzip', 'identity, gzip', '']) {
      assert.equal(codeOf(signed({ [HEADERS.contentEncoding]: bad })), 'WXSEAL_MALFORMED_HEADER', JSON.stringify(bad));
    }
  });

  test('the wrapped key is decoded strictly at step 2, so it is MALFORMED_HEADER even with a stale timestamp', () => {
    const built = buildRequest({ mode: 'sealed', method: 'POST', target: '/x', keyId: 'bff', secret, serverKey, timestamp: 1000 });
    const w = built.headers[HEADERS.wrappedKey]!;
    assert.equal(w.length, 342); // 256 bytes: 4 unused bits in the last character
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const loose = w.slice(0, -1) + alphabet[alphabet.indexOf(w[w.length - 1]!) | 1]!; // same bytes to a lenient decoder
    assert.deepEqual(Buffer.from(loose, 'base64url'), Buffer.from(w, 'base64url'));
    const headers: Record<string, string> = { ...built.headers, [HEADERS.wrappedKey]: loose };
    // parseRequestHeaders is step 2; the timestamp (1000) would fail only at step 3.
    assert.equal(codeOf(() => parseRequestHeaders({ method: 'POST', target: '/x', header: (n) => headers[n] })), 'WXSEAL_MALFORMED_HEADER');
  });
});

describe('usable plaintext in sealed mode (SPEC.md 6.1)', () => {
  test('the wire body is meta + LF + body + 16-byte tag', () => {
    for (const spec of [
      { body: Buffer.alloc(0) },
      { body: Buffer.alloc(1000, 1), contentType: 'application/json' },
      { body: Buffer.alloc(10), contentType: 'text/plain', identity: { openid: 'o-\u4e2d\ud800', source: 'wx_client' } },
    ]) {
      const built = buildRequest({ mode: 'sealed', method: 'POST', target: '/x', keyId: 'bff', secret, serverKey, ...spec });
      const meta = { ...(spec.contentType ? { contentType: spec.contentType } : {}), ...(spec.identity ? { identity: spec.identity } : {}) };
      assert.equal(sealedBodyLength(meta, spec.body.length), built.body.length);
    }
  });
});
