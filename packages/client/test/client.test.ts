import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WxsealError, signRejection, unixNow } from '@wxseal/protocol';
import { createClient, isValidTraceparent, type ClientOptions, type LogEntry, type WxsealClient } from '../src/index.js';
import {
  echo,
  makeKeys,
  rejection,
  startDroppingServer,
  startFixture,
  startSilentServer,
  unusedUrl,
  type Fixture,
  type FixtureOptions,
  type TestKeys,
} from './fixture.js';

let keys: TestKeys;
const cleanups: Array<() => unknown> = [];

before(() => {
  keys = makeKeys();
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

async function fixture(options: Omit<FixtureOptions, 'keys'> = {}): Promise<Fixture> {
  const f = await startFixture({ keys, ...options });
  cleanups.push(() => f.close());
  return f;
}

function client(baseUrl: string, over: Partial<ClientOptions> = {}): WxsealClient {
  const c = createClient({
    baseUrl,
    keyId: keys.keyId,
    secret: keys.secretB64u,
    serverPublicKey: keys.publicKeyPem,
    serverKeyId: keys.serverKeyId,
    // Small delays keep the tests fast; the behaviour under test is the same.
    retry: { baseDelayMs: 1, maxDelayMs: 20 },
    ...over,
  });
  cleanups.push(() => c.close());
  return c;
}

async function rejectsWith(promise: Promise<unknown>, code: string, status?: number): Promise<WxsealError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof WxsealError, `expected a WxsealError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (status !== undefined) assert.equal(err.status, status);
    return err;
  }
  assert.fail(`expected ${code}, the call succeeded`);
}

function collect(): { entries: LogEntry[]; logger: (e: LogEntry) => void } {
  const entries: LogEntry[] = [];
  return { entries, logger: (e) => entries.push(e) };
}

describe('round trips', () => {
  it('sealed POST: body, content type and identity arrive decrypted; the response is decrypted', async () => {
    const f = await fixture();
    const c = client(f.url);
    const identity = { openid: 'o-user-1', appid: 'wx123', source: 'wx_client' };
    const res = await c.post('/orders', { json: { item: 'tea', qty: 2 }, identity });

    assert.equal(f.received.length, 1);
    const got = f.received[0]!;
    assert.equal(got.mode, 'sealed');
    assert.deepEqual(JSON.parse(got.body.toString()), { item: 'tea', qty: 2 });
    assert.equal(got.contentType, 'application/json');
    assert.deepEqual(got.identity, identity);
    // On the wire: ciphertext, the envelope's content type, no identity header.
    assert.equal(got.headers['content-type'], 'application/vnd.wxseal.sealed');
    assert.equal(got.headers['wxseal-identity'], undefined);
    assert.ok(!got.wireBody.toString('latin1').includes('tea'));

    assert.equal(res.status, 200);
    assert.equal(res.ok, true);
    assert.equal(res.contentType, 'application/json');
    assert.equal(res.attempts, 1);
    const answer = res.json<{ method: string; identity: unknown; body: string }>();
    assert.equal(answer.method, 'POST');
    assert.deepEqual(answer.identity, identity);
    // The traceparent was generated, signed and sent.
    assert.ok(isValidTraceparent(res.traceparent));
    assert.equal(got.traceparent, res.traceparent);
  });

  it('sealed GET carries a body (identity inside the envelope), with base path and query signed as sent', async () => {
    const f = await fixture();
    const c = client(`${f.url}/api/v1/`);
    const res = await c.get('/orders', { query: { b: '2', a: 'x y', list: [1, 2] }, identity: { openid: 'o-2', source: 'wx_client' } });
    const got = f.received[0]!;
    assert.equal(got.method, 'GET');
    assert.equal(got.path, '/api/v1/orders');
    assert.equal(got.rawQuery, 'b=2&a=x%20y&list=1&list=2');
    assert.ok(got.wireBody.length > 16, 'a sealed GET has a ciphertext body');
    assert.equal(got.body.length, 0);
    assert.deepEqual(got.identity, { openid: 'o-2', source: 'wx_client' });
    assert.equal(res.json<{ path: string }>().path, '/api/v1/orders');
  });

  it('sign-only: the body travels in clear, identity in the signed header, the response is verified', async () => {
    const f = await fixture();
    const c = client(f.url, { mode: 'signed', serverPublicKey: undefined, serverKeyId: undefined });
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await c.request({
      method: 'put',
      path: '/profile?x=1',
      body: 'hello',
      identity: { openid: 'o-3', unionid: 'u-3' },
      traceparent,
    });
    const got = f.received[0]!;
    assert.equal(got.mode, 'signed');
    assert.equal(got.method, 'PUT');
    assert.equal(got.wireBody.toString(), 'hello');
    assert.equal(got.contentType, 'text/plain; charset=utf-8');
    assert.deepEqual(got.identity, { openid: 'o-3', unionid: 'u-3' });
    assert.equal(got.traceparent, traceparent);
    assert.equal(res.traceparent, traceparent);
    assert.equal(res.status, 200);
    assert.equal(res.json<{ body: string }>().body, 'hello');
  });

  it('a per-call mode overrides the client default; sign-only HEAD works', async () => {
    const f = await fixture({ handler: (req) => (req.method === 'HEAD' ? { status: 204, body: Buffer.alloc(0) } : echo(req)) });
    const c = client(f.url);
    const res = await c.request({ method: 'HEAD', path: '/ping', mode: 'signed' });
    assert.equal(res.status, 204);
    assert.equal(res.body.length, 0);
    assert.equal(f.received[0]!.mode, 'signed');
    await rejectsWith(c.request({ method: 'HEAD', path: '/ping' }), 'WXSEAL_CONFIG_INVALID');
  });

  it('returns authenticated non-2xx responses as data', async () => {
    const f = await fixture({ handler: () => ({ status: 404, contentType: 'application/json', body: Buffer.from('{"error":"no such order"}') }) });
    const res = await client(f.url).get('/orders/9');
    assert.equal(res.status, 404);
    assert.equal(res.ok, false);
    assert.deepEqual(res.json(), { error: 'no such order' });
  });
});

describe('retries', () => {
  it('503 verifier rejections are retried (even for POST), each attempt with a fresh nonce, key, IV and signature', async () => {
    const f = await fixture({
      afterVerify: (_req, n) => (n <= 2 ? rejection('WXSEAL_NONCE_STORE_UNAVAILABLE', unixNow()) : undefined),
    });
    const log = collect();
    const res = await client(f.url, { logger: log.logger }).post('/pay', { json: { amount: 1 } });
    assert.equal(res.status, 200);
    assert.equal(res.attempts, 3);
    assert.equal(f.received.length, 3);
    for (const field of ['nonce', 'signature', 'wrappedKey', 'iv'] as const) {
      assert.equal(new Set(f.received.map((r) => r[field])).size, 3, `${field} must differ on every attempt`);
    }
    assert.deepEqual(
      log.entries.map((e) => e.event),
      ['rejected', 'retry', 'rejected', 'retry', 'response'],
    );
  });

  it('an unsigned (forgeable) 503 rejection does not make a POST go out twice, but a GET is retried', async () => {
    const f = await fixture({ unsignedRejections: true, afterVerify: (_req, n) => (n <= 2 ? rejection('WXSEAL_NONCE_STORE_UNAVAILABLE', unixNow()) : undefined) });
    const c = client(f.url);
    await rejectsWith(c.post('/pay', { json: { amount: 1 } }), 'WXSEAL_NONCE_STORE_UNAVAILABLE', 503);
    assert.equal(f.received.length, 1);
    const get = await c.get('/orders');
    assert.equal(get.status, 200);
    assert.equal(f.received.length, 3);
  });

  it('a 503 rejection signed for another request does not unlock a POST retry', async () => {
    // A genuinely signed rejection lifted from another exchange: its signature covers another nonce.
    const f = await fixture({
      unsignedRejections: true,
      afterVerify: () => signRejection(rejection('WXSEAL_NONCE_STORE_UNAVAILABLE', unixNow()), { keyId: keys.keyId, nonce: 'AAAAAAAAAAAAAAAAAAAAAA', secret: keys.secret }),
    });
    await rejectsWith(client(f.url).post('/pay', { json: { amount: 1 } }), 'WXSEAL_NONCE_STORE_UNAVAILABLE', 503);
    assert.equal(f.received.length, 1);
  });

  it('gives up after maxAttempts and reports the server code', async () => {
    const f = await fixture({ afterVerify: () => rejection('WXSEAL_KEY_STORE_UNAVAILABLE', unixNow()) });
    await rejectsWith(client(f.url, { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 } }).get('/x'), 'WXSEAL_KEY_STORE_UNAVAILABLE', 503);
    assert.equal(f.received.length, 2);
  });

  it('an authenticated 503 is not retried for POST but is for GET', async () => {
    const f = await fixture({ handler: () => ({ status: 503, contentType: 'text/plain', body: Buffer.from('busy') }) });
    const c = client(f.url);
    const post = await c.post('/orders', { json: {} });
    assert.equal(post.status, 503);
    assert.equal(post.text(), 'busy');
    assert.equal(f.received.length, 1);

    const get = await c.get('/orders');
    assert.equal(get.status, 503);
    assert.equal(get.attempts, 3);
    assert.equal(f.received.length, 4);
  });

  it('a verifier rejection other than 503 is thrown at once, never returned as data', async () => {
    const f = await fixture();
    const wrong = client(f.url, { secret: Buffer.alloc(32, 7) });
    await rejectsWith(wrong.post('/x', { json: {} }), 'WXSEAL_BAD_SIGNATURE', 401);
    assert.equal(f.hits, 1);
    assert.deepEqual(f.rejections, ['WXSEAL_BAD_SIGNATURE']);
  });

  it('a Retry-After beyond the bound stops the retries; a short one is honoured', async () => {
    let retryAfter = '5';
    let rejectionsLeft = Number.POSITIVE_INFINITY;
    const f = await fixture({
      afterVerify: () => {
        if (rejectionsLeft <= 0) return undefined;
        rejectionsLeft -= 1;
        return rejection('WXSEAL_NONCE_STORE_FULL', unixNow(), { 'retry-after': retryAfter });
      },
    });
    const c = client(f.url, { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 50 } });
    await rejectsWith(c.post('/x'), 'WXSEAL_NONCE_STORE_FULL', 503);
    assert.equal(f.received.length, 1, '5 s is more than maxDelayMs: no retry');
    retryAfter = '0';
    rejectionsLeft = 1;
    const res = await c.post('/x');
    assert.equal(res.attempts, 2);
  });

  it('connection refused (nothing sent) is retried for any method, then WXSEAL_NETWORK with the cause', async () => {
    const url = await unusedUrl();
    const log = collect();
    const err = await rejectsWith(client(url, { logger: log.logger }).post('/x', { json: {} }), 'WXSEAL_NETWORK');
    assert.equal((err as { cause?: { code?: string } }).cause?.code, 'ECONNREFUSED');
    const failures = log.entries.filter((e) => e.event === 'network_error');
    assert.equal(failures.length, 3);
    assert.ok(failures.every((e) => e.sent === false && e.errno === 'ECONNREFUSED'));
    assert.equal(log.entries.filter((e) => e.event === 'retry').length, 2);
  });

  it('a connection lost after sending is retried only for idempotent methods', async () => {
    const s = await startDroppingServer();
    cleanups.push(() => s.close());
    const c = client(s.url);
    await rejectsWith(c.post('/x', { json: {} }), 'WXSEAL_NETWORK');
    assert.equal(s.hits(), 1, 'POST is not resent after it may have reached the server');
    await rejectsWith(c.delete('/x'), 'WXSEAL_NETWORK');
    assert.equal(s.hits(), 4, 'DELETE is resent up to maxAttempts');
  });

  it('the deadline covers every retry', async () => {
    const f = await fixture({ afterVerify: () => rejection('WXSEAL_NONCE_STORE_UNAVAILABLE', unixNow()) });
    const c = client(f.url, { timeoutMs: 150, retry: { maxAttempts: 20, baseDelayMs: 40, maxDelayMs: 40 } });
    const err = await c.get('/x').then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e as WxsealError,
    );
    assert.ok(['WXSEAL_TIMEOUT', 'WXSEAL_NONCE_STORE_UNAVAILABLE'].includes(err.code), err.code);
    assert.ok(f.hits < 20, `stopped by the deadline after ${f.hits} attempts`);
  });
});

describe('deadlines and cancellation', () => {
  it('a per-call timeout aborts a request the server never answers (WXSEAL_TIMEOUT)', async () => {
    const s = await startSilentServer();
    cleanups.push(() => s.close());
    const log = collect();
    const c = client(s.url, { logger: log.logger });
    await rejectsWith(c.post('/slow', { json: {}, timeoutMs: 100 }), 'WXSEAL_TIMEOUT');
    assert.equal(s.hits(), 1);
    assert.equal(log.entries.at(-1)?.event, 'timeout');
  });

  it("the caller's AbortSignal aborts the call (WXSEAL_ABORTED)", async () => {
    const s = await startSilentServer();
    cleanups.push(() => s.close());
    const c = client(s.url);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await rejectsWith(c.get('/slow', { signal: controller.signal }), 'WXSEAL_ABORTED');
  });

  it('an already aborted signal sends nothing', async () => {
    const f = await fixture();
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(client(f.url).post('/x', { signal: controller.signal }), 'WXSEAL_ABORTED');
    assert.equal(f.hits, 0);
  });
});

describe('nonce store reset (SPEC 8.1)', () => {
  /** A server whose nonce store lost its records in the second a request arrives: it refuses requests signed at or before it. */
  async function lossFixture(options: { unsignedRejections?: boolean; always?: boolean } = {}): Promise<{ f: Fixture; lossSeconds: number[] }> {
    const lossSeconds: number[] = [];
    const f = await fixture({
      unsignedRejections: options.unsignedRejections,
      afterVerify: (req) => {
        if (options.always || lossSeconds.length === 0) lossSeconds.push(unixNow());
        return req.timestamp <= lossSeconds.at(-1)! ? rejection('WXSEAL_NONCE_STORE_RESET', unixNow()) : undefined;
      },
    });
    return { f, lossSeconds };
  }

  it('a POST refused with a signed RESET is sent again once the clock has left the loss second, beside maxAttempts', async () => {
    const { f, lossSeconds } = await lossFixture();
    const log = collect();
    const c = client(f.url, { retry: { maxAttempts: 1 }, logger: log.logger });
    const res = await c.post('/x', { json: { n: 1 } });
    assert.equal(res.status, 200);
    assert.equal(res.attempts, 2);
    assert.equal(f.received.length, 2);
    assert.ok(f.received[0]!.timestamp <= lossSeconds[0]!);
    assert.ok(f.received[1]!.timestamp > lossSeconds[0]!, 'the retry is signed after the loss second');
    assert.notEqual(f.received[0]!.nonce, f.received[1]!.nonce);
    assert.ok(log.entries.some((e) => e.event === 'retry'));
  });

  it('an unsigned RESET on a POST is not retried (it could be forged)', async () => {
    const { f } = await lossFixture({ unsignedRejections: true });
    const c = client(f.url, { retry: { maxAttempts: 1 } });
    await rejectsWith(c.post('/x', { json: {} }), 'WXSEAL_NONCE_STORE_RESET', 503);
    assert.equal(f.hits, 1);
  });

  it('the reset retry happens once per call: a server that keeps losing its records ends the call', async () => {
    const { f } = await lossFixture({ always: true });
    const c = client(f.url, { retry: { maxAttempts: 1 } });
    await rejectsWith(c.get('/x'), 'WXSEAL_NONCE_STORE_RESET', 503);
    assert.equal(f.hits, 2);
  });
});

describe('clock skew', () => {
  it('corrects a client clock 300 s fast from the FUTURE rejection, and the next call needs no correction', async () => {
    const f = await fixture();
    const log = collect();
    const c = client(f.url, { now: () => Date.now() + 300_000, logger: log.logger });
    const first = await c.post('/x', { json: { n: 1 } });
    assert.equal(first.status, 200);
    assert.equal(first.attempts, 2);
    assert.deepEqual(f.rejections, ['WXSEAL_TIMESTAMP_FUTURE']);
    assert.ok(Math.abs(c.clockOffsetSeconds + 300) <= 2, `offset ${c.clockOffsetSeconds}`);
    assert.ok(Math.abs(f.received[0]!.timestamp - unixNow()) <= 2);
    assert.ok(log.entries.some((e) => e.event === 'clock_corrected'));

    const second = await c.post('/x', { json: { n: 2 } });
    assert.equal(second.attempts, 1);
    assert.deepEqual(f.rejections, ['WXSEAL_TIMESTAMP_FUTURE'], 'no new rejection');
  });

  it('corrects a slow clock from EXPIRED', async () => {
    const f = await fixture();
    const c = client(f.url, { now: () => Date.now() - 300_000 });
    assert.equal((await c.get('/x')).status, 200);
    assert.deepEqual(f.rejections, ['WXSEAL_TIMESTAMP_EXPIRED']);
    assert.ok(Math.abs(c.clockOffsetSeconds - 300) <= 2);
  });

  it('refuses a correction larger than maxClockCorrectionSeconds', async () => {
    const f = await fixture();
    const c = client(f.url, { now: () => Date.now() + 300_000, maxClockCorrectionSeconds: 100 });
    await rejectsWith(c.post('/x'), 'WXSEAL_TIMESTAMP_FUTURE', 401);
    assert.equal(f.hits, 1);
    assert.equal(c.clockOffsetSeconds, 0);
  });

  it('corrects at most once per call', async () => {
    // The server's clock leaps 1000 s on every hit, so even the corrected request is stale.
    let f: Fixture | undefined;
    // eslint-disable-next-line prefer-const -- the clock reads f, undefined until fixture() returns
    f = await fixture({ nowSeconds: () => unixNow() + 1000 * (f?.hits ?? 0) });
    const c = client(f.url);
    await rejectsWith(c.get('/x'), 'WXSEAL_TIMESTAMP_EXPIRED', 401);
    assert.equal(f.hits, 2, 'one correction, one retry, then the error');
    assert.ok(Math.abs(c.clockOffsetSeconds - 1000) <= 2);
  });
});

describe('response authentication', () => {
  const flipLast = (wire: { status: number; headers: Record<string, string>; body: Buffer }) => {
    const body = Buffer.from(wire.body);
    body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0x01;
    return { ...wire, body };
  };

  for (const mode of ['sealed', 'signed'] as const) {
    it(`${mode}: a flipped byte is WXSEAL_RESPONSE_INVALID`, async () => {
      const f = await fixture({ tamper: flipLast });
      await rejectsWith(client(f.url, { mode }).post('/x', { json: { a: 1 } }), 'WXSEAL_RESPONSE_INVALID', 200);
      assert.equal(f.hits, 1, 'not retried');
    });

    it(`${mode}: a changed status is WXSEAL_RESPONSE_INVALID`, async () => {
      const f = await fixture({ tamper: (wire) => ({ ...wire, status: 201 }) });
      await rejectsWith(client(f.url, { mode }).post('/x', { json: { a: 1 } }), 'WXSEAL_RESPONSE_INVALID', 201);
    });

    it(`${mode}: the response to another request is WXSEAL_RESPONSE_INVALID`, async () => {
      let first: { status: number; headers: Record<string, string>; body: Buffer } | undefined;
      const f = await fixture({
        tamper: (wire) => {
          if (!first) {
            first = wire;
            return wire;
          }
          return first; // replay the first request's (authentic) response
        },
      });
      const c = client(f.url, { mode });
      assert.equal((await c.post('/x', { json: { a: 1 } })).status, 200);
      await rejectsWith(c.post('/x', { json: { a: 1 } }), 'WXSEAL_RESPONSE_INVALID');
    });
  }

  it('an unprotected response (a proxy answering) is WXSEAL_RESPONSE_INVALID; a gateway 502 is retried for GET only', async () => {
    const f = await fixture({
      afterVerify: () => ({ status: 502, headers: { 'content-type': 'text/html' }, body: Buffer.from('<h1>Bad Gateway</h1>') }),
    });
    const c = client(f.url);
    await rejectsWith(c.post('/x'), 'WXSEAL_RESPONSE_INVALID', 502);
    assert.equal(f.hits, 1);
    await rejectsWith(c.get('/x'), 'WXSEAL_RESPONSE_INVALID', 502);
    assert.equal(f.hits, 4);
  });

  it('a response larger than maxResponseBytes is refused', async () => {
    const f = await fixture({ handler: () => ({ status: 200, contentType: 'text/plain', body: Buffer.alloc(10_000, 0x61) }) });
    await rejectsWith(client(f.url, { maxResponseBytes: 1000 }).get('/big'), 'WXSEAL_RESPONSE_INVALID');
    const ok = await client(f.url, { maxResponseBytes: 20_000 }).get('/big');
    assert.equal(ok.body.length, 10_000);
  });
});

describe('logging', () => {
  it('entries carry no query, body, secret or identity', async () => {
    const f = await fixture({ afterVerify: (_r, n) => (n === 1 ? rejection('WXSEAL_NONCE_STORE_UNAVAILABLE', unixNow()) : undefined) });
    const log = collect();
    const c = client(`${f.url}/api`, { logger: log.logger });
    await c.post('/orders', {
      query: { token: 'QUERY-SECRET' },
      json: { card: 'BODY-SECRET' },
      identity: { openid: 'OPENID-SECRET', unionid: 'UNIONID-SECRET' },
      requestId: 'req-42',
    });
    assert.ok(log.entries.length >= 3);
    const text = JSON.stringify(log.entries);
    for (const secret of ['QUERY-SECRET', 'BODY-SECRET', 'OPENID-SECRET', 'UNIONID-SECRET', keys.secretB64u, '?', 'token']) {
      assert.ok(!text.includes(secret), `log leaks ${secret}`);
    }
    for (const e of log.entries) {
      assert.equal(e.path, '/api/orders');
      assert.equal(e.method, 'POST');
      assert.equal(e.requestId, 'req-42');
      assert.ok(isValidTraceparent(e.traceparent));
      assert.equal(typeof e.durationMs, 'number');
    }
  });

  it('a throwing logger does not break the call', async () => {
    const f = await fixture();
    const res = await client(f.url, {
      logger: () => {
        throw new Error('logger down');
      },
    }).get('/x');
    assert.equal(res.status, 200);
  });
});

describe('connections', () => {
  it('reuses a keep-alive connection, but not one idle past freeSocketTimeoutMs even when timers could not run', async () => {
    // Blocks the event loop like a frozen cloud-function instance: no timer fires meanwhile.
    const freeze = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    const settle = () => new Promise((resolve) => setImmediate(resolve));

    const fresh = await fixture();
    const keep = client(fresh.url, { agent: { freeSocketTimeoutMs: 5_000 } });
    await keep.get('/a');
    await settle();
    freeze(30);
    await keep.get('/b');
    assert.equal(fresh.connections, 1, 'the pooled socket is reused');

    const stale = await fixture();
    const prune = client(stale.url, { agent: { freeSocketTimeoutMs: 20 } });
    await prune.get('/a');
    await settle();
    freeze(30);
    await prune.get('/b');
    assert.equal(stale.connections, 2, 'the stale pooled socket is not reused');
  });
});

describe('configuration', () => {
  const base = (): ClientOptions => ({
    baseUrl: 'http://127.0.0.1:1',
    keyId: keys.keyId,
    secret: keys.secretB64u,
    serverPublicKey: keys.publicKeyPem,
    serverKeyId: keys.serverKeyId,
  });
  const bad: Array<[string, Partial<ClientOptions> | Record<string, unknown>]> = [
    ['a relative baseUrl', { baseUrl: '/api' }],
    ['an ftp baseUrl', { baseUrl: 'ftp://example.com' }],
    ['a baseUrl with a query', { baseUrl: 'http://example.com/?a=1' }],
    ['a baseUrl with credentials', { baseUrl: 'http://u:p@example.com' }],
    ['a bad key id', { keyId: 'has space' }],
    ['a short secret', { secret: Buffer.alloc(16) }],
    ['a padded secret', { secret: `${keys.secretB64u}=` }],
    ['sealed mode without a server key', { serverPublicKey: undefined, serverKeyId: undefined }],
    ['a server key without its id', { serverKeyId: undefined }],
    ['a garbage public key', { serverPublicKey: 'not a key' }],
    ['a zero timeout', { timeoutMs: 0 }],
    ['maxAttempts 0', { retry: { maxAttempts: 0 } }],
    ['maxDelayMs below baseDelayMs', { retry: { baseDelayMs: 100, maxDelayMs: 10 } }],
    ['a negative clock bound', { maxClockCorrectionSeconds: -1 }],
    ['an unknown mode', { mode: 'clear' }],
  ];
  for (const [what, over] of bad) {
    it(`rejects ${what} at creation`, () => {
      assert.throws(
        () => createClient({ ...base(), ...over } as ClientOptions),
        (err: unknown) => err instanceof WxsealError && err.code === 'WXSEAL_CONFIG_INVALID' && err.message.length > 0,
      );
    });
  }

  it('rejects bad per-call options without sending', async () => {
    const f = await fixture();
    const c = client(f.url);
    await rejectsWith(c.request({ method: 'POST', path: 'x' }), 'WXSEAL_CONFIG_INVALID');
    await rejectsWith(c.request({ method: 'POST', path: '/x', body: 'a', json: {} }), 'WXSEAL_CONFIG_INVALID');
    await rejectsWith(c.request({ method: 'POST', path: '/x', traceparent: '00-abc-01' }), 'WXSEAL_CONFIG_INVALID');
    await rejectsWith(c.request({ method: 'POST', path: '/x', headers: { 'Wxseal-Nonce': 'x' } }), 'WXSEAL_CONFIG_INVALID');
    await rejectsWith(c.request({ method: 'POST', path: '/x', headers: { 'x-a': 'a\r\nb' } }), 'WXSEAL_CONFIG_INVALID');
    await rejectsWith(c.request({ method: 'POST', path: '/a b' }), 'WXSEAL_CONFIG_INVALID');
    await rejectsWith(c.request({ method: 'POST', path: '/x', identity: { openid: 'o'.repeat(300) } }), 'WXSEAL_CONFIG_INVALID');
    assert.equal(f.hits, 0);
  });

  it('passes extra headers through', async () => {
    const f = await fixture();
    await client(f.url).get('/x', { headers: { 'X-Request-Source': 'test' } });
    assert.equal(f.received[0]!.headers['x-request-source'], 'test');
  });
});
