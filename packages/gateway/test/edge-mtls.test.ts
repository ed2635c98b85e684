// Mutual TLS on the public listener: client certificates checked against the client CA and CRL,
// required or optional per route, bound to key ids (clients[].clientCertificate), and handed to
// the upstream as identity headers. Every refusal has its code: no certificate →
// WXSEAL_CLIENT_CERT_REQUIRED, one that does not verify (unknown CA, expired, revoked) →
// WXSEAL_CLIENT_CERT_INVALID with the reason, one bound to another key id →
// WXSEAL_CLIENT_CERT_MISMATCH. Real TLS on loopback; sealed calls from @wxseal/client.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isWxsealError, type WxsealClient } from '@wxseal/client';
import { startGateway, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, makeKeys, newSecret, startUpstream, tempDir, type Seen, type TestKeys, type Upstream } from '../../../tests/support/gateway.js';
import { issueCert, makeCa, makeCrl, type TestCa, type TlsMaterial } from '../../../tests/support/tls-certs.js';
import { httpsClient, metricValue, tlsRequest, writeEdgeFiles } from './edge-tls-helpers.js';

const keysA = makeKeys('svc-a');
// Same server key, other credentials: key ids bound by fingerprint (A), by subject (B), not bound (C).
const keysB: TestKeys = { ...keysA, keyId: 'svc-b', secret: newSecret() };
const keysC: TestKeys = { ...keysA, keyId: 'svc-c', secret: newSecret() };

describe('mutual TLS', () => {
  let dir: string;
  let ca: TestCa;
  let clientCa: TestCa;
  let otherCa: TestCa;
  let certA: TlsMaterial;
  let certB: TlsMaterial;
  let certC: TlsMaterial;
  let expired: TlsMaterial;
  let foreign: TlsMaterial;
  let revoked: TlsMaterial;
  let upstream: Upstream;
  let gw: RunningGateway;
  const agents: { destroy(): void }[] = [];
  const last = (): Seen => upstream.seen[upstream.seen.length - 1]!;

  /** A wxseal client for `keys` over HTTPS presenting `cert` (or none). */
  function client(keys: TestKeys, cert?: TlsMaterial): WxsealClient {
    const made = httpsClient(keys, gw.url, { ca: ca.certPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) });
    agents.push(made.agent);
    return made.client;
  }

  /** Asserts a call is refused with `code` (and its status), the message matching `message`. */
  async function refused(call: Promise<unknown>, code: string, status: number, message?: RegExp): Promise<void> {
    await assert.rejects(call, (err: unknown) => {
      assert.ok(isWxsealError(err), String(err));
      assert.equal(err.code, code, err.message);
      assert.equal(err.status, status);
      if (message) assert.match(err.message, message);
      return true;
    });
  }

  before(async () => {
    dir = tempDir();
    ca = await makeCa('mtls server CA');
    clientCa = await makeCa('mtls client CA');
    otherCa = await makeCa('mtls unrelated CA');
    const server = await issueCert(ca, { cn: 'gateway.test' });
    certA = await issueCert(clientCa, { cn: 'svc-a', usage: 'client' });
    certB = await issueCert(clientCa, { cn: 'svc-b', usage: 'client' });
    certC = await issueCert(clientCa, { cn: 'svc-c', usage: 'client' });
    expired = await issueCert(clientCa, { cn: 'svc-a-old', usage: 'client', days: -1 });
    revoked = await issueCert(clientCa, { cn: 'svc-a-lost', usage: 'client' });
    foreign = await issueCert(otherCa, { cn: 'svc-a', usage: 'client' });
    writeFileSync(join(dir, 'client-ca.pem'), clientCa.certPem);
    writeFileSync(join(dir, 'client.crl'), await makeCrl(clientCa, [revoked]));
    const files = writeEdgeFiles(dir, server);
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(keysA, upstream.url, {
        listeners: {
          public: { host: '127.0.0.1', port: 0, tls: { ...files, clientAuth: { caFile: join(dir, 'client-ca.pem'), crlFile: join(dir, 'client.crl') }, watch: false } },
          admin: { host: '127.0.0.1', port: 0 },
        },
        routes: [
          { prefix: '/mtls', upstream: upstream.url, mode: 'sealed-or-signed', clientCertificate: 'required' },
          { prefix: '/open', upstream: upstream.url, mode: 'sealed-or-signed' },
          { prefix: '/maybe', upstream: upstream.url, mode: 'passthrough', clientCertificate: 'optional' },
          { prefix: '/pt-mtls', upstream: upstream.url, mode: 'passthrough', clientCertificate: 'required' },
        ],
        clients: [
          { keyId: keysA.keyId, secrets: [{ secret: keysA.secret }], clientCertificate: { fingerprint256: certA.fingerprint256.replace(/:/g, '').toLowerCase() } },
          { keyId: keysB.keyId, secrets: [{ secret: keysB.secret }], clientCertificate: { subject: 'CN=svc-b' } },
          { keyId: keysC.keyId, secrets: [{ secret: keysC.secret }] },
        ],
      }),
      { logger: captureLogger().logger },
    );
  });

  after(async () => {
    for (const a of agents) a.destroy();
    await gw?.close();
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the bound certificate on a required route: a sealed call goes through; the upstream gets its subject and fingerprint', async () => {
    const r = await client(keysA, certA).post('/mtls/orders', { json: { n: 1 } });
    assert.equal(r.status, 200);
    const seen = last();
    assert.equal(seen.url, '/mtls/orders');
    assert.equal(seen.headers['x-wxseal-key-id'], 'svc-a');
    assert.equal(seen.headers['x-wxseal-client-cert-subject'], encodeURIComponent('CN=svc-a'));
    assert.equal(seen.headers['x-wxseal-client-cert-fingerprint'], certA.fingerprint256);
  });

  test('no client certificate on a required route: 401 WXSEAL_CLIENT_CERT_REQUIRED (sealed and passthrough routes)', async () => {
    const before = upstream.seen.length;
    await refused(client(keysC).get('/mtls/x'), 'WXSEAL_CLIENT_CERT_REQUIRED', 401, /requires a client certificate/);
    const plain = await tlsRequest(gw.url, '/pt-mtls/x', { ca: ca.certPem });
    assert.equal(plain.status, 401);
    assert.equal(plain.headers['wxseal-error'], 'WXSEAL_CLIENT_CERT_REQUIRED');
    assert.equal(JSON.parse(plain.body).error.code, 'WXSEAL_CLIENT_CERT_REQUIRED');
    assert.equal(upstream.seen.length, before, 'nothing reached the upstream');
  });

  test('a certificate from another CA: WXSEAL_CLIENT_CERT_INVALID, not issued by a trusted CA', async () => {
    await refused(client(keysC, foreign).get('/mtls/x'), 'WXSEAL_CLIENT_CERT_INVALID', 401, /not issued by a CA the gateway trusts \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
  });

  test('an expired certificate: WXSEAL_CLIENT_CERT_INVALID saying it expired', async () => {
    await refused(client(keysC, expired).get('/mtls/x'), 'WXSEAL_CLIENT_CERT_INVALID', 401, /has expired \(CERT_HAS_EXPIRED\)/);
  });

  test('a certificate revoked by the CRL: WXSEAL_CLIENT_CERT_INVALID saying revoked', async () => {
    await refused(client(keysC, revoked).get('/mtls/x'), 'WXSEAL_CLIENT_CERT_INVALID', 401, /is revoked \(CRL\) \(CERT_REVOKED\)/);
  });

  test('a valid certificate bound to another key id: 403 WXSEAL_CLIENT_CERT_MISMATCH; by fingerprint and by subject', async () => {
    const before = upstream.seen.length;
    // svc-a is bound to certA's fingerprint: certB (valid, same CA) does not do.
    await refused(client(keysA, certB).post('/mtls/x', { json: {} }), 'WXSEAL_CLIENT_CERT_MISMATCH', 403, /key id svc-a is bound to another client certificate/);
    // svc-b is bound to the subject CN=svc-b: certA does not do, certB does.
    await refused(client(keysB, certA).get('/open/x'), 'WXSEAL_CLIENT_CERT_MISMATCH', 403);
    assert.equal(upstream.seen.length, before, 'nothing reached the upstream');
    assert.equal((await client(keysB, certB).get('/open/x')).status, 200);
    assert.equal(last().headers['x-wxseal-client-cert-subject'], encodeURIComponent('CN=svc-b'));
  });

  test('a bound key id without its certificate is refused on any route, mTLS or not; an unbound one is not', async () => {
    await refused(client(keysA).get('/open/x'), 'WXSEAL_CLIENT_CERT_MISMATCH', 403, /presented none/);
    await refused(client(keysA, expired).get('/open/x'), 'WXSEAL_CLIENT_CERT_MISMATCH', 403, /does not verify/);
    const r = await client(keysC).get('/open/x');
    assert.equal(r.status, 200);
    assert.equal(last().headers['x-wxseal-client-cert-subject'], undefined);
    // An unbound key id with any verified certificate: accepted, and the upstream learns which one.
    assert.equal((await client(keysC, certC).get('/open/y')).status, 200);
    assert.equal(last().headers['x-wxseal-client-cert-fingerprint'], certC.fingerprint256);
  });

  test('an optional route: no certificate is fine, an invalid one is still refused; a caller cannot forge the certificate headers', async () => {
    const forged = { 'x-wxseal-client-cert-subject': 'CN=admin', 'x-wxseal-client-cert-fingerprint': 'AA:BB', x_wxseal_client_cert_subject: 'CN=admin' };
    const none = await tlsRequest(gw.url, '/maybe/a', { ca: ca.certPem, headers: forged });
    assert.equal(none.status, 200);
    let seen = last();
    assert.equal(seen.headers['x-wxseal-client-cert-subject'], undefined, 'the forged header is dropped');
    assert.equal(seen.headers['x-wxseal-client-cert-fingerprint'], undefined);
    assert.equal(seen.headers['x_wxseal_client_cert_subject'], undefined);
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    const withCert = await tlsRequest(gw.url, '/maybe/b', { ca: ca.certPem, cert: certC.certPem, key: certC.keyPem, headers: forged });
    assert.equal(withCert.status, 200);
    seen = last();
    assert.equal(seen.headers['x-wxseal-client-cert-subject'], encodeURIComponent('CN=svc-c'));
    assert.equal(seen.headers['x-wxseal-client-cert-fingerprint'], certC.fingerprint256);
    const bad = await tlsRequest(gw.url, '/maybe/c', { ca: ca.certPem, cert: foreign.certPem, key: foreign.keyPem });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['wxseal-error'], 'WXSEAL_CLIENT_CERT_INVALID');
  });

  test('refusals are counted under outcome client_cert_refused', async () => {
    const text = await gw.registry.metrics();
    const mtls = metricValue(text, 'wxseal_gateway_requests_total', { route: '/mtls', outcome: 'client_cert_refused' }) ?? 0;
    const open = metricValue(text, 'wxseal_gateway_requests_total', { route: '/open', outcome: 'client_cert_refused' }) ?? 0;
    // /mtls: required (1), foreign, expired, revoked, mismatch (4); /open: mismatches (3).
    assert.ok(mtls >= 5, `/mtls refusals: ${mtls}`);
    assert.ok(open >= 3, `/open refusals: ${open}`);
  });
});
