// Issue 11, item 17: every access-log line has the client's address and a request id. The address
// is the socket's peer, or — when that peer is a configured trusted proxy — the rightmost
// untrusted hop of X-Forwarded-For. The request id is the client's valid `x-request-id` or a new
// UUID; the upstream receives it (passthrough too) and the client gets it back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WxsealClient } from '@wxseal/client';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { clientAddressOf, incomingRequestId, trustedProxyList } from '../src/headers.js';
import { baseConfig, captureLogger, clientFor, makeKeys, plainRequest, startUpstream, type Upstream } from '../../../tests/support/gateway.js';

const keys = makeKeys('bff-reqid');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const raw = (...pairs: [string, string][]): string[] => pairs.flat();

describe('clientAddressOf', () => {
  const trusted = trustedProxyList(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);

  test('without trusted proxies: the socket peer, X-Forwarded-For ignored; IPv4-mapped addresses as IPv4', () => {
    assert.equal(clientAddressOf('::ffff:127.0.0.1', raw(['X-Forwarded-For', '203.0.113.7']), undefined), '127.0.0.1');
    assert.equal(clientAddressOf('198.51.100.1', raw(['X-Forwarded-For', '203.0.113.7']), trusted), '198.51.100.1', 'an untrusted peer: its XFF is not believed');
    assert.equal(clientAddressOf(undefined, [], trusted), undefined);
  });

  test('behind trusted proxies: the rightmost untrusted hop', () => {
    assert.equal(clientAddressOf('127.0.0.1', raw(['X-Forwarded-For', '203.0.113.7']), trusted), '203.0.113.7');
    assert.equal(clientAddressOf('::ffff:127.0.0.1', raw(['x-forwarded-for', '1.1.1.1, 203.0.113.7, 10.2.3.4']), trusted), '203.0.113.7', 'a client-written left part is skipped');
    assert.equal(clientAddressOf('127.0.0.1', raw(['X-Forwarded-For', '1.1.1.1']), trusted), '1.1.1.1');
    assert.equal(clientAddressOf('127.0.0.1', raw(['X-Forwarded-For', '203.0.113.7'], ['X-Forwarded-For', '10.0.0.9']), trusted), '203.0.113.7', 'repeated fields read in order');
    assert.equal(clientAddressOf('127.0.0.1', raw(['X-Forwarded-For', '10.0.0.1, 10.0.0.2']), trusted), '10.0.0.1', 'all trusted: the farthest');
    assert.equal(clientAddressOf('127.0.0.1', [], trusted), '127.0.0.1', 'no XFF: the proxy itself');
    assert.equal(clientAddressOf('127.0.0.1', raw(['X-Forwarded-For', '203.0.113.7:5555']), trusted), '203.0.113.7', 'a port is dropped');
    assert.equal(clientAddressOf('127.0.0.1', raw(['X-Forwarded-For', '[2001:db8::1]:443, fd00::5']), trusted), '2001:db8::1');
    assert.equal(clientAddressOf('127.0.0.1', raw(['X-Forwarded-For', 'unknown, 10.0.0.2']), trusted), '10.0.0.2', 'not an address: the walk stops at the nearest known hop');
    assert.equal(clientAddressOf('127.0.0.1', raw(['X-Forwarded-For', '<script>']), trusted), '127.0.0.1');
  });
});

describe('incomingRequestId', () => {
  test('one value of 1-128 visible ASCII characters is kept; anything else is not', () => {
    assert.equal(incomingRequestId(raw(['X-Request-Id', 'req-1/abc:42'])), 'req-1/abc:42');
    assert.equal(incomingRequestId(raw(['x-request-id', 'x'.repeat(128)])), 'x'.repeat(128));
    assert.equal(incomingRequestId(raw(['x-request-id', 'x'.repeat(129)])), undefined);
    assert.equal(incomingRequestId(raw(['x-request-id', 'has space'])), undefined);
    assert.equal(incomingRequestId(raw(['x-request-id', ''])), undefined);
    assert.equal(incomingRequestId(raw(['x-request-id', 'caf\u00e9'])), undefined);
    assert.equal(incomingRequestId(raw(['x-request-id', 'a'], ['X-Request-ID', 'b'])), undefined, 'repeated');
    assert.equal(incomingRequestId(raw(['host', 'x'])), undefined);
  });
});

describe('request ids and client addresses in the access log', () => {
  let upstream: Upstream;
  let direct: RunningGateway; // no trusted proxies
  let proxied: RunningGateway; // 127.0.0.1 and 10.0.0.0/8 trusted
  let directClient: WxsealClient;
  let proxiedClient: WxsealClient;
  const directLogs = captureLogger();
  const proxiedLogs = captureLogger();
  const routes = [
    { prefix: '/api', upstream: '', mode: 'sealed-or-signed' as const },
    { prefix: '/public', upstream: '', mode: 'passthrough' as const },
  ];
  /** The access-log line of the last request. */
  const lastAccess = (logs: ReturnType<typeof captureLogger>): Record<string, unknown> => {
    const lines = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    return lines[lines.length - 1]!;
  };
  const lastSeen = (): Upstream['seen'][number] => upstream.seen[upstream.seen.length - 1]!;

  before(async () => {
    upstream = await startUpstream((seen, res) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (seen.url.includes('/own-id')) headers['x-request-id'] = 'set-by-upstream';
      res.writeHead(200, headers).end('{}');
    });
    const r = routes.map((x) => ({ ...x, upstream: upstream.url }));
    direct = await startGateway(baseConfig(keys, upstream.url, { routes: r }), { logger: directLogs.logger });
    proxied = await startGateway(baseConfig(keys, upstream.url, { routes: r, trustedProxies: ['127.0.0.1', '10.0.0.0/8'] }), { logger: proxiedLogs.logger });
    directClient = clientFor(keys, direct.url);
    proxiedClient = clientFor(keys, proxied.url);
  });
  after(async () => {
    directClient?.close();
    proxiedClient?.close();
    await direct?.close();
    await proxied?.close();
    await upstream?.close();
  });

  test('a valid incoming x-request-id is kept: logged, sent to the upstream, returned (sealed and signed)', async () => {
    for (const mode of ['sealed', 'signed'] as const) {
      const id = `req-${mode}-1`;
      const res = await directClient.post('/api/orders', { mode, json: {}, headers: { 'x-request-id': id } });
      assert.equal(res.headers['x-request-id'], id);
      assert.equal(lastSeen().headers['x-request-id'], id);
      const line = lastAccess(directLogs);
      assert.equal(line.requestId, id);
      assert.equal(line.clientAddress, '127.0.0.1');
      assert.equal(line.outcome, 'forwarded');
    }
  });

  test('absent or invalid: a new UUID, the same in the log, at the upstream and in the answer', async () => {
    const variants: Record<string, string>[] = [{}, { 'x-request-id': 'x'.repeat(200) }, { 'x-request-id': 'two words' }];
    for (const headers of variants) {
      const res = await directClient.post('/api/orders', { json: {}, headers });
      const id = String(res.headers['x-request-id']);
      assert.match(id, UUID);
      assert.equal(lastSeen().headers['x-request-id'], id, 'the caller value never reaches the upstream');
      assert.equal(lastAccess(directLogs).requestId, id);
    }
  });

  test("an upstream's own x-request-id in its answer passes on (one value, not two)", async () => {
    const res = await directClient.post('/api/own-id', { json: {}, headers: { 'x-request-id': 'req-own' } });
    assert.equal(res.headers['x-request-id'], 'set-by-upstream');
    assert.equal(lastAccess(directLogs).requestId, 'req-own');
  });

  test('passthrough: propagated to the upstream and returned', async () => {
    const r = await plainRequest(direct.url, '/public/file', { headers: { 'x-request-id': 'req-pass' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-request-id'], 'req-pass');
    assert.equal(lastSeen().headers['x-request-id'], 'req-pass');
    assert.equal(lastAccess(directLogs).requestId, 'req-pass');
    const fresh = await plainRequest(direct.url, '/public/file');
    assert.match(String(fresh.headers['x-request-id']), UUID);
    assert.equal(lastSeen().headers['x-request-id'], fresh.headers['x-request-id']);
  });

  test("the gateway's own answers (rejections, 404) carry it too", async () => {
    const notFound = await plainRequest(direct.url, '/elsewhere', { headers: { 'x-request-id': 'req-404' } });
    assert.equal(notFound.status, 404);
    assert.equal(notFound.headers['x-request-id'], 'req-404');
    assert.deepEqual([lastAccess(directLogs).requestId, lastAccess(directLogs).outcome], ['req-404', 'not_found']);
    const unsigned = await plainRequest(direct.url, '/api/x', { method: 'POST', body: '{}', headers: { 'x-request-id': 'req-400' } });
    assert.equal(unsigned.headers['wxseal-error'], 'WXSEAL_MISSING_HEADER');
    assert.equal(unsigned.headers['x-request-id'], 'req-400');
    assert.equal(lastAccess(directLogs).requestId, 'req-400');
  });

  test('X-Forwarded-For is believed only from a trusted proxy: rightmost untrusted hop', async () => {
    const xff = { 'x-forwarded-for': '198.51.100.9, 203.0.113.7, 10.9.8.7' };
    await directClient.post('/api/who', { json: {}, headers: xff });
    assert.equal(lastAccess(directLogs).clientAddress, '127.0.0.1', 'the peer is not trusted: its XFF could be anything');
    await proxiedClient.post('/api/who', { json: {}, headers: xff });
    assert.equal(lastAccess(proxiedLogs).clientAddress, '203.0.113.7');
    // The upstream still gets the whole chain, with this hop appended.
    assert.equal(lastSeen().headers['x-forwarded-for'], '198.51.100.9, 203.0.113.7, 10.9.8.7, 127.0.0.1');
    await plainRequest(proxied.url, '/public/who', { headers: xff });
    assert.equal(lastAccess(proxiedLogs).clientAddress, '203.0.113.7', 'passthrough too');
    await plainRequest(proxied.url, '/public/who');
    assert.equal(lastAccess(proxiedLogs).clientAddress, '127.0.0.1', 'no XFF: the proxy itself');
  });

  test('a trusted-proxy change applies on reload', async () => {
    const xff = { 'x-forwarded-for': '203.0.113.50' };
    await directClient.post('/api/who', { json: {}, headers: xff });
    assert.equal(lastAccess(directLogs).clientAddress, '127.0.0.1');
    const before = direct.config;
    await direct.reload(baseConfig(keys, upstream.url, { routes: routes.map((x) => ({ ...x, upstream: upstream.url })), trustedProxies: ['127.0.0.0/8'] }));
    try {
      await directClient.post('/api/who', { json: {}, headers: xff });
      assert.equal(lastAccess(directLogs).clientAddress, '203.0.113.50');
    } finally {
      await direct.reload(before);
    }
  });
});
