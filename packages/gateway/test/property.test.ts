// Issue 11, "What it must show": random identities, paths, queries and header fields, sealed and
// sign-only, through a real gateway (startGateway, a plain node:http upstream, the memory nonce
// store), built and checked with the protocol's own request builder and response checks. Two
// properties, each request sent twice (the second time a replay):
//   1. no answer is ever an unsigned 5xx;
//   2. whenever the nonce was claimed (the replay is a signed WXSEAL_REPLAYED_NONCE), the first
//      answer was sealed/signed for the request (an authentic answer or a signed rejection) — and
//      every authentic first answer did claim it.
// The routes include an upstream that is down and one whose answers cannot be sealed, so the
// gateway's own failures are part of the run. Bounded to a few hundred cases (seconds).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { WxsealError, type WechatIdentity } from '@wxseal/protocol';
import { baseConfig, captureLogger, makeKeys, startUpstream, type Upstream } from '../../../tests/support/gateway.js';
import { deadPort } from './helpers.js';
import { buildWire, sendWire, verdictOf, type Verdict, type WireSpec } from './wire-helpers.js';

const keys = makeKeys('bff-property');
const NUM_RUNS = 200;

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Identity values: WeChat-like ids, any code points, lone surrogates, empty, exactly 256 bytes. */
const identityValue = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
  { weight: 2, arbitrary: fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 8 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('', '\ud800', 'a\udc00b', 'x\ud83d\ude00\ud83d', '中文 +%&=?', '%41%2B+', ' ', '\u0000', 'é'.repeat(128), 'x'.repeat(256), '😀'.repeat(64)),
  },
).filter((v) => utf8Bytes(v) <= 256);

const identity: fc.Arbitrary<WechatIdentity | undefined> = fc.option(
  fc.record({ openid: identityValue, appid: identityValue, unionid: identityValue, env: identityValue, source: identityValue }, { requiredKeys: [] }),
  { nil: undefined },
);

const unreserved = fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/);
/** Path segments: mostly plain, sometimes what a proxy must think twice about. */
const segment = fc.oneof(
  { weight: 8, arbitrary: unreserved },
  { weight: 1, arbitrary: fc.constantFrom('.', '..', '..;', '.;x', '%2e', '%2E%2e', '%2F', '%2f', '%5C', '%00', '%41', '%7E', '%25', '%E4%B8%AD', '%ZZ', '%', ';p=1', '\\', "!$&'()*+,;=:@") },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 1500 }).map((n) => 'x'.repeat(n)) },
);
const prefix = fc.constantFrom('api', 'api', 'api', 'signed', 'p', 'down', 'api/long-type', 'nowhere', '');
const path = fc.tuple(prefix, fc.array(segment, { maxLength: 5 }), fc.boolean()).map(([p, segs, slash]) => `/${[p, ...segs].filter((s) => s !== '').join('/')}${slash ? '/' : ''}`);

const queryPart = fc.stringMatching(/^[A-Za-z0-9%+=&._~!$'()*,;:@/?-]{0,30}$/);
const query = fc.option(fc.oneof(queryPart, fc.constantFrom('a=1&a=2', 'z=%E4%B8%AD&b=+', '=', '&&', 'x=%zz', '%00=%00')), { nil: undefined });

const headerName = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^x-[a-z0-9-]{1,20}$/) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('x-wxseal-openid', 'X_WXSEAL_KEY_ID', 'x-wxseal-mode', 'wxseal-identity', 'x-request-id', 'x-forwarded-for', 'traceparent', 'accept-encoding', 'cookie', 'user-agent'),
  },
);
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const extraHeaders = fc.oneof(
  { weight: 9, arbitrary: fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }) },
  // Now and then more fields than the gateway accepts (431 before anything else).
  { weight: 1, arbitrary: fc.integer({ min: 90, max: 150 }).map((n) => Array.from({ length: n }, (_, i) => [`x-f${i}`, 'v'] as [string, string])) },
);

const body = fc.oneof(fc.constant(undefined), fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)), fc.json().map((j) => Buffer.from(j)));
const contentType = fc.option(fc.constantFrom('application/json', 'text/plain; charset=utf-8', 'application/octet-stream', 'x/y; p="a b"'), { nil: undefined });

const request = fc.record({
  mode: fc.constantFrom('sealed' as const, 'signed' as const),
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'),
  path,
  query,
  identity,
  extra: extraHeaders,
  body,
  contentType,
});

// ---------------------------------------------------------------------------------------------

describe('property: no unsigned 5xx, no spent nonce without a signed answer', () => {
  let upstream: Upstream;
  let gw: RunningGateway;
  const tally = new Map<string, number>();
  const count = (key: string): void => {
    tally.set(key, (tally.get(key) ?? 0) + 1);
  };

  before(async () => {
    upstream = await startUpstream((seen, res) => {
      if (seen.url.includes('/long-type')) {
        // An answer the gateway cannot seal (its type does not fit the sealed meta).
        res.writeHead(200, { 'content-type': `text/plain; p=${'x'.repeat(5000)}` }).end('x');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ openid: seen.headers['x-wxseal-openid'] ?? null }));
    });
    const dead = await deadPort();
    gw = await startGateway(
      baseConfig(keys, upstream.url, {
        routes: [
          { prefix: '/api', upstream: upstream.url, mode: 'sealed-or-signed' },
          { prefix: '/signed', upstream: upstream.url, mode: 'signed' },
          { prefix: '/p', upstream: upstream.url, mode: 'passthrough' },
          { prefix: '/down', upstream: `http://127.0.0.1:${dead}`, mode: 'sealed-or-signed', connectTimeoutMs: 1000 },
        ],
        nonceStore: { type: 'memory' },
        log: { level: 'warn' },
      }),
      { logger: captureLogger().logger },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test(`${NUM_RUNS} random requests, each sent twice`, async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const target = r.query === undefined ? r.path : `${r.path}?${r.query}`;
        const method = r.mode === 'sealed' && r.method === 'HEAD' ? 'GET' : r.method; // sealed HEAD cannot be built
        const spec: WireSpec = {
          mode: r.mode,
          method,
          target,
          ...(r.body !== undefined ? { body: r.body } : {}),
          ...(r.contentType !== undefined ? { contentType: r.contentType } : {}),
          ...(r.identity !== undefined ? { identity: r.identity } : {}),
        };
        let built: ReturnType<typeof buildWire>;
        try {
          built = buildWire(keys, spec);
        } catch (err) {
          if (!(err instanceof WxsealError && err.code === 'WXSEAL_CONFIG_INVALID')) throw err;
          if (err.message.startsWith('target:')) {
            // A target the protocol's builder refuses (SPEC.md 9 step 2.6) is still sent, signed
            // for another one: the gateway must refuse it before verifying anything.
            built = buildWire(keys, { ...spec, target: '/api/decoy' });
            count('refused target');
          } else {
            // What a client cannot send at all (a target over 8 KiB, an identity too large for
            // its header or meta) never reaches the gateway.
            count('not buildable');
            return;
          }
        }
        const first = await sendWire(gw.url, built, method, target, r.extra);
        const firstVerdict = verdictOf(built, first);
        const describe = (v: Verdict): string => JSON.stringify({ target: target.slice(0, 200), mode: r.mode, method, status: first.status, verdict: v });

        // 1. Never an unsigned 5xx.
        if (first.status >= 500) {
          assert.ok(firstVerdict.kind === 'authentic' || firstVerdict.kind === 'signed-rejection', `unsigned 5xx: ${describe(firstVerdict)}`);
        }

        // Only a passthrough route answers without authenticating (by design: it has no wxseal).
        if (firstVerdict.kind === 'unauthenticated') assert.match(target, /^\/p(?:[/?]|$)/, `unauthenticated answer: ${describe(firstVerdict)}`);

        // 2. The replay tells whether the nonce was claimed.
        const second = await sendWire(gw.url, built, method, target, r.extra);
        const secondVerdict = verdictOf(built, second);
        const replayed = secondVerdict.kind === 'signed-rejection' && secondVerdict.code === 'WXSEAL_REPLAYED_NONCE';
        if (replayed) {
          assert.ok(firstVerdict.kind === 'authentic' || firstVerdict.kind === 'signed-rejection', `nonce spent without a signed answer: ${describe(firstVerdict)}`);
        }
        if (firstVerdict.kind === 'authentic') assert.ok(replayed, `an authentic answer must have claimed the nonce: ${describe(secondVerdict)}`);
        if (second.status >= 500) assert.ok(secondVerdict.kind === 'signed-rejection' || secondVerdict.kind === 'authentic', `unsigned 5xx on replay: ${describe(secondVerdict)}`);

        count(`${firstVerdict.kind}${first.status >= 500 ? ' 5xx' : ''}`);
      }),
      { numRuns: NUM_RUNS },
    );
    // The run went where it should: forwarded answers, the gateway's own sealed 5xx, refusals.
    for (const kind of ['authentic', 'authentic 5xx', 'unsigned-rejection']) assert.ok((tally.get(kind) ?? 0) > 0, `no "${kind}" case in ${JSON.stringify([...tally])}`);
  });
});
