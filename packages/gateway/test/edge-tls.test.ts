// The public listener over HTTPS (listeners.public.tls): a sealed call from @wxseal/client, the
// protocol policy (TLS 1.3 preferred, 1.2 with AEAD suites only, 1.1 refused at the handshake,
// HTTP/1.1 by ALPN), the checks every certificate passes before it is served (key, chain, validity,
// names), the expiry gauge and the 30/7-day warnings. Real TLS on loopback; the PKI is made here.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ConnectionOptions } from 'node:tls';
import { isWxsealError } from '@wxseal/client';
import { GatewayConfigError, loadGatewayConfig, startGateway, type GatewayConfigInput, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, makeKeys, startUpstream, tempDir, type Upstream } from '../../../tests/support/gateway.js';
import { issueCert, makeCa, type TestCa, type TlsMaterial } from '../../../tests/support/tls-certs.js';
import { EdgeTls, normalizeFingerprint, validateEdgeBundle } from '../src/tls/edge-tls.js';
import { TlsCertificateRegistry } from '../src/tls/registry.js';
import { login } from '../../../tests/support/gateway-admin.js';
import { httpsClient, metricValue, tlsRequest, writeEdgeFiles } from './edge-tls-helpers.js';

const keys = makeKeys('bff-edge-tls');
const DAY = 86_400_000;

function tlsConfig(upstreamUrl: string, tls: NonNullable<NonNullable<GatewayConfigInput['listeners']>['public']['tls']>, extra: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return baseConfig(keys, upstreamUrl, {
    listeners: { public: { host: '127.0.0.1', port: 0, tls }, admin: { host: '127.0.0.1', port: 0 } },
    routes: [
      { prefix: '/api', upstream: upstreamUrl, mode: 'sealed-or-signed' },
      { prefix: '/public', upstream: upstreamUrl, mode: 'passthrough' },
    ],
    ...extra,
  });
}

describe('HTTPS on the public listener', () => {
  let dir: string;
  let ca: TestCa;
  let clientCa: TestCa;
  let server: TlsMaterial;
  let upstream: Upstream;
  let gw: RunningGateway;

  before(async () => {
    dir = tempDir();
    ca = await makeCa('edge test CA');
    clientCa = await makeCa('edge test client CA');
    server = await issueCert(ca, { cn: 'gateway.test', sans: ['localhost', '127.0.0.1', 'gateway.test'], days: 90 });
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    writeFileSync(join(dir, 'client-ca.pem'), clientCa.certPem);
    const files = writeEdgeFiles(dir, server);
    upstream = await startUpstream();
    gw = await startGateway(
      tlsConfig(upstream.url, {
        ...files,
        caFile: join(dir, 'ca.pem'),
        names: ['localhost', '127.0.0.1', 'gateway.test'],
        clientAuth: { caFile: join(dir, 'client-ca.pem') },
        watch: false,
      }),
      { logger: captureLogger().logger },
    );
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a sealed call over HTTPS: verified, forwarded with x-forwarded-proto https, sealed back', async () => {
    assert.match(gw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const { client, agent } = httpsClient(keys, gw.url, { ca: ca.certPem });
    try {
      const r = await client.post('/api/orders', { json: { item: 'tea' } });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json(), { method: 'POST', url: '/api/orders', body: '{"item":"tea"}', contentType: 'application/json' });
    } finally {
      agent.destroy();
    }
    const seen = upstream.seen[upstream.seen.length - 1]!;
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-wxseal-key-id'], keys.keyId);
    // No client certificate was presented: no certificate identity reaches the upstream.
    assert.equal(seen.headers['x-wxseal-client-cert-subject'], undefined);
    assert.equal(seen.headers['x-wxseal-client-cert-fingerprint'], undefined);
  });

  test('a client that trusts another CA fails the handshake (the listener serves only its certificate)', async () => {
    const other = await makeCa('unrelated CA');
    const { client, agent } = httpsClient(keys, gw.url, { ca: other.certPem });
    try {
      await assert.rejects(client.get('/api/x'), (err: unknown) => isWxsealError(err) && /certificate/i.test(String((err as { cause?: Error }).cause?.message ?? err)));
    } finally {
      agent.destroy();
    }
  });

  test('TLS 1.3 is negotiated when offered, with HTTP/1.1 by ALPN and the configured certificate', async () => {
    // A client offering h2 first still gets HTTP/1.1: the listener speaks nothing else.
    const r = await tlsRequest(gw.url, '/public/ping', { ca: ca.certPem, alpn: ['h2', 'http/1.1'] });
    assert.equal(r.status, 200);
    assert.equal(r.protocol, 'TLSv1.3');
    assert.equal(r.alpn, 'http/1.1');
    assert.equal(r.peerFingerprint, server.fingerprint256);
  });

  test('TLS 1.2 gets an ECDHE suite with an AEAD cipher; a client offering only CBC suites is refused at the handshake', async () => {
    const r = await tlsRequest(gw.url, '/public/ping', { ca: ca.certPem, maxVersion: 'TLSv1.2' });
    assert.equal(r.status, 200);
    assert.equal(r.protocol, 'TLSv1.2');
    assert.match(r.cipher, /^ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    await assert.rejects(tlsRequest(gw.url, '/public/ping', { ca: ca.certPem, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA' }), /handshake failure|no shared cipher/i);
  });

  test('TLS 1.1 is refused at the handshake (protocol_version alert)', async () => {
    await assert.rejects(
      tlsRequest(gw.url, '/public/ping', { ca: ca.certPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
      (err: NodeJS.ErrnoException) => err.code === 'EPROTO' && /alert protocol version/.test(err.message),
    );
  });

  test('wxseal_tls_certificate_expiry_seconds lists the edge certificate and the client CA with their seconds left', async () => {
    const text = await gw.registry.metrics();
    const now = Date.now();
    const edge = metricValue(text, 'wxseal_tls_certificate_expiry_seconds', { role: 'edge', name: 'public', subject: 'CN=gateway.test' });
    const cca = metricValue(text, 'wxseal_tls_certificate_expiry_seconds', { role: 'client-ca', name: 'public', subject: 'CN=edge test client CA' });
    assert.ok(edge !== undefined && cca !== undefined, text.split('\n').filter((l) => l.startsWith('wxseal_tls')).join('\n'));
    const expect = (notAfter: string): number => (Date.parse(notAfter) - now) / 1000;
    assert.ok(Math.abs(edge - expect(server.cert.validTo)) < 5, `edge: ${edge} vs ${expect(server.cert.validTo)}`);
    assert.ok(edge > 89 * 86_400 && edge <= 90 * 86_400, 'about 90 days');
    assert.ok(Math.abs(cca - expect(clientCa.cert.validTo)) < 5, `client CA: ${cca}`);
  });
});

describe('what a certificate must pass before it is served', () => {
  let dir: string;
  let ca: TestCa;
  let otherCa: TestCa;

  before(async () => {
    dir = tempDir();
    ca = await makeCa('edge validation CA');
    otherCa = await makeCa('edge validation other CA');
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** startGateway on these files: the WXSEAL_CONFIG_INVALID it fails with. */
  async function startFails(material: { certPem: string; keyPem: string }, extra: { names?: string[]; caFile?: string } = {}): Promise<GatewayConfigError> {
    const sub = join(dir, String(Math.random()).slice(2));
    rmSync(sub, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(sub);
    const files = writeEdgeFiles(sub, material);
    let caught: unknown;
    try {
      const gw = await startGateway(tlsConfig('http://127.0.0.1:9', { ...files, watch: false, ...extra }), { logger: captureLogger().logger });
      await gw.close();
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof GatewayConfigError, `start refused: ${String(caught)}`);
    assert.equal(caught.code, 'WXSEAL_CONFIG_INVALID');
    return caught;
  }

  test('a key that is not the certificate\'s', async () => {
    const a = await issueCert(ca, { cn: 'a.test' });
    const b = await issueCert(ca, { cn: 'b.test' });
    const err = await startFails({ certPem: a.certPem, keyPem: b.keyPem });
    assert.ok(err.issues.some((i) => i.path === 'listeners.public.tls.keyFile' && /does not match the certificate \(CN=a\.test/.test(i.message)), JSON.stringify(err.issues));
    // Nothing of the key in the message.
    assert.ok(!err.message.includes(b.keyPem.split('\n')[1]!));
  });

  test('an expired certificate, and one not valid yet', async () => {
    const expired = await issueCert(ca, { cn: 'old.test', days: -1 });
    const e1 = await startFails(expired);
    assert.ok(e1.issues.some((i) => /the certificate expired at/.test(i.message)), JSON.stringify(e1.issues));
    const future = await issueCert(ca, { cn: 'new.test', notBefore: new Date(Date.now() + 2 * DAY), notAfter: new Date(Date.now() + 30 * DAY) });
    const e2 = await startFails(future);
    assert.ok(e2.issues.some((i) => /is not valid before/.test(i.message)), JSON.stringify(e2.issues));
  });

  test('names the certificate does not cover', async () => {
    const m = await issueCert(ca, { cn: 'api.test', sans: ['api.test', '*.cdn.test'] });
    const err = await startFails(m, { names: ['api.test', 'x.cdn.test', 'other.test', '10.0.0.1'] });
    const issue = err.issues.find((i) => /does not cover/.test(i.message));
    assert.ok(issue, JSON.stringify(err.issues));
    assert.match(issue.message, /does not cover other\.test, 10\.0\.0\.1 \(/);
    // Covered: the wildcard name and the exact one.
    const { chain } = validateEdgeBundle(m, { anchors: undefined, names: ['api.test', 'x.cdn.test', '*.cdn.test'], nowMs: Date.now() });
    assert.equal(chain.length, 1);
  });

  test('a chain that does not lead to caFile', async () => {
    const m = await issueCert(otherCa, { cn: 'elsewhere.test' });
    const err = await startFails(m, { caFile: join(dir, 'ca.pem') });
    assert.ok(err.issues.some((i) => i.path === 'listeners.public.tls.certFile' && /does not lead to a CA of caFile/.test(i.message)), JSON.stringify(err.issues));
    // With the CA it does lead to, the same chain passes (and with the CA appended to the chain too).
    const anchors = [ca.cert];
    const good = await issueCert(ca, { cn: 'here.test' });
    assert.equal(validateEdgeBundle(good, { anchors, names: [], nowMs: Date.now() }).chain.length, 1);
    assert.equal(validateEdgeBundle({ certPem: good.certPem + ca.certPem, keyPem: good.keyPem }, { anchors, names: [], nowMs: Date.now() }).chain.length, 2);
    // Out of order: the CA first.
    assert.throws(() => validateEdgeBundle({ certPem: ca.certPem + good.certPem, keyPem: good.keyPem }, { anchors, names: [], nowMs: Date.now() }), GatewayConfigError);
  });

  test('unreadable and unparseable files', async () => {
    let caught: unknown;
    try {
      await startGateway(tlsConfig('http://127.0.0.1:9', { certFile: join(dir, 'missing.pem'), keyFile: join(dir, 'missing-key.pem'), watch: false }), { logger: captureLogger().logger });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof GatewayConfigError);
    assert.deepEqual(caught.issues.map((i) => i.path).sort(), ['listeners.public.tls.certFile', 'listeners.public.tls.keyFile']);
    assert.ok(caught.issues.every((i) => /cannot read .*ENOENT/.test(i.message)));
    const m = await issueCert(ca, { cn: 'garbage.test' });
    const err = await startFails({ certPem: m.certPem, keyPem: '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n' });
    assert.ok(err.issues.some((i) => i.path === 'listeners.public.tls.keyFile' && /not a usable private key/.test(i.message)));
  });

  test('an encrypted key needs its passphrase (passphraseEnv), and loads with it', async () => {
    const m = await issueCert(ca, { cn: 'locked.test' });
    const { createPrivateKey } = await import('node:crypto');
    const locked = createPrivateKey(m.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'open sesame' }).toString();
    const err = await startFails({ certPem: m.certPem, keyPem: locked });
    assert.ok(err.issues.some((i) => /passphraseEnv/.test(i.message)));
    const sub = tempDir();
    try {
      const files = writeEdgeFiles(sub, { certPem: m.certPem, keyPem: locked });
      const config = loadGatewayConfig(tlsConfig('http://127.0.0.1:9', { ...files, passphraseEnv: 'EDGE_KEY_PASS', watch: false }), { env: { EDGE_KEY_PASS: 'open sesame' } });
      assert.ok(!JSON.stringify(config).includes('open sesame'), 'the passphrase stays out of JSON');
      const gw = await startGateway(config, { logger: captureLogger().logger });
      try {
        const r = await tlsRequest(gw.url, '/public/x', { ca: ca.certPem, headers: { host: 'locked.test' } }).catch((e: Error) => e);
        // The certificate covers locked.test only: the client refuses 127.0.0.1, after the handshake got the certificate.
        assert.ok(r instanceof Error && /locked\.test|altnames/i.test(r.message), String(r));
      } finally {
        await gw.close();
      }
      const unset = (() => {
        try {
          loadGatewayConfig(tlsConfig('http://127.0.0.1:9', { ...files, passphraseEnv: 'EDGE_KEY_PASS_UNSET', watch: false }), { env: {} });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      assert.ok(unset instanceof GatewayConfigError && unset.issues.some((i) => i.path === 'listeners.public.tls.passphraseEnv'));
    } finally {
      rmSync(sub, { recursive: true, force: true });
    }
  });
});

describe('the TLS parts of the config', () => {
  const base = (extra: Partial<GatewayConfigInput>, tls?: object): GatewayConfigInput =>
    baseConfig(keys, 'http://127.0.0.1:9', {
      listeners: { public: { host: '127.0.0.1', port: 0, ...(tls ? { tls: { certFile: 'c.pem', keyFile: 'k.pem', ...tls } } : {}) }, admin: { host: '127.0.0.1', port: 0 } },
      ...extra,
    });
  const issuesOf = (input: GatewayConfigInput): { path: string; message: string }[] => {
    try {
      loadGatewayConfig(input, { baseDir: '/etc/wxseal' });
    } catch (err) {
      if (err instanceof GatewayConfigError) return [...err.issues];
      throw err;
    }
    return [];
  };

  test('defaults: TLS 1.2 minimum, the AEAD-only cipher list, watching on; relative paths resolve against the config', () => {
    const c = loadGatewayConfig(base({}, {}), { baseDir: '/etc/wxseal' });
    const tls = c.listeners.public.tls!;
    assert.equal(tls.certFile, '/etc/wxseal/c.pem');
    assert.equal(tls.minVersion, 'TLSv1.2');
    assert.equal(tls.watch, true);
    // TLS 1.3 suites, and TLS 1.2 suites with ECDHE key exchange and an AEAD cipher, nothing else.
    for (const suite of tls.ciphers.split(':')) assert.match(suite, /^(TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)|ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305))$/, suite);
    assert.match(tls.ciphers, /^TLS_AES_128_GCM_SHA256:.*ECDHE-ECDSA-AES128-GCM-SHA256/);
  });

  test('mutual TLS on a route or a key-id binding needs listeners.public.tls.clientAuth', () => {
    const issues = issuesOf(
      base({
        routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9', mode: 'sealed', clientCertificate: 'required' }],
        clients: [{ keyId: keys.keyId, secrets: [{ secret: keys.secret }], clientCertificate: { subject: 'CN=a' } }],
      }),
    );
    assert.deepEqual(issues.map((i) => i.path).sort(), ['clients[0].clientCertificate', 'routes[0].clientCertificate']);
    assert.deepEqual(issuesOf(base({ routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9', mode: 'sealed', clientCertificate: 'optional' }] }, { clientAuth: { caFile: 'ca.pem' } })), []);
  });

  test('a binding: fingerprint in any case with or without colons (normalised), or a subject; at least one', () => {
    const hex = 'ab'.repeat(32);
    const c = loadGatewayConfig(
      base({ clients: [{ keyId: keys.keyId, secrets: [{ secret: keys.secret }], clientCertificate: { fingerprint256: hex, subject: 'CN=svc-a,  O=Example' } }] }, { clientAuth: { caFile: 'ca.pem' } }),
      { baseDir: '/etc/wxseal' },
    );
    assert.deepEqual(c.clients[0]!.clientCertificate, { fingerprint256: normalizeFingerprint(hex), subject: 'CN=svc-a, O=Example' });
    assert.equal(normalizeFingerprint(hex), Array(32).fill('AB').join(':'));
    const empty = issuesOf(base({ clients: [{ keyId: keys.keyId, secrets: [{ secret: keys.secret }], clientCertificate: {} }] }, { clientAuth: { caFile: 'ca.pem' } }));
    assert.ok(empty.some((i) => i.path === 'clients[0].clientCertificate' && /needs fingerprint256/.test(i.message)), JSON.stringify(empty));
    const short = issuesOf(base({ clients: [{ keyId: keys.keyId, secrets: [{ secret: keys.secret }], clientCertificate: { fingerprint256: 'abcd' } }] }, { clientAuth: { caFile: 'ca.pem' } }));
    assert.ok(short.some((i) => i.path === 'clients[0].clientCertificate.fingerprint256'), JSON.stringify(short));
  });

  test('a cipher list OpenSSL rejects, a minVersion below 1.2 and a bad name are config errors', () => {
    const issues = issuesOf(base({}, { ciphers: 'NOT-A-CIPHER', minVersion: 'TLSv1.1', names: ['bad name!'] }));
    assert.deepEqual(issues.map((i) => i.path).sort(), ['listeners.public.tls.minVersion']);
    const more = issuesOf(base({}, { ciphers: 'NOT-A-CIPHER', names: ['bad name!'] }));
    assert.deepEqual(more.map((i) => i.path).sort(), ['listeners.public.tls.ciphers', 'listeners.public.tls.names[0]']);
  });
});

describe('expiry warnings', () => {
  test('under 30 days a warning, under 7 an error; 90 days nothing', async () => {
    const ca = await makeCa('expiry CA');
    const dir = tempDir();
    try {
      for (const [days, level, msg] of [
        [90, undefined, undefined],
        [20, 40, /expires within 30 days/],
        [5, 50, /expires within 7 days/],
      ] as const) {
        const m = await issueCert(ca, { cn: `d${days}.test`, days });
        const files = writeEdgeFiles(dir, m);
        const logs = captureLogger();
        const edge = new EdgeTls({
          config: loadGatewayConfig(tlsConfig('http://127.0.0.1:9', { ...files, watch: false })).listeners.public.tls!,
          registry: new TlsCertificateRegistry(),
          log: logs.logger,
          countReload: () => undefined,
        });
        await edge.start();
        await edge.close();
        const lines = logs.lines.map((l) => JSON.parse(l) as { level: number; msg: string; daysLeft?: number; role?: string });
        const warned = lines.filter((l) => /expires within/.test(l.msg));
        if (level === undefined) assert.deepEqual(warned, [], `${days} days`);
        else {
          assert.equal(warned.length, 1, `${days} days: ${logs.text()}`);
          assert.equal(warned[0]!.level, level);
          assert.match(warned[0]!.msg, msg);
          assert.equal(warned[0]!.role, 'edge');
          assert.ok(warned[0]!.daysLeft === days - 1 || warned[0]!.daysLeft === days, String(warned[0]!.daysLeft));
        }
        // Never the key in a log line.
        assert.ok(!logs.text().includes(m.keyPem.split('\n')[1]!));
        assert.equal(readFileSync(files.keyFile, 'utf8'), m.keyPem);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('OCSP stapling from ocspResponseFile', () => {
  test('a client asking for the certificate status gets the file\'s response; a reload takes a refreshed file', async () => {
    const { connect } = await import('node:tls');
    const ca = await makeCa('ocsp CA');
    const dir = tempDir();
    const logs = captureLogger();
    let gw: RunningGateway | undefined;
    try {
      const files = writeEdgeFiles(dir, await issueCert(ca, { cn: 'ocsp.test' }));
      const ocspFile = join(dir, 'ocsp.der');
      // The gateway staples the bytes as they are (the external job's `openssl ocsp -respout` output).
      writeFileSync(ocspFile, Buffer.from('first response'));
      const input = tlsConfig('http://127.0.0.1:9', { ...files, ocspResponseFile: ocspFile, watch: false });
      gw = await startGateway(input, { logger: logs.logger });
      const stapled = (url: string): Promise<Buffer | undefined> =>
        new Promise((resolve, reject) => {
          const { hostname, port } = new URL(url);
          let response: Buffer | undefined;
          // requestOCSP is a TLSSocket option tls.connect passes on (missing from @types/node's ConnectionOptions).
          const options: ConnectionOptions & { requestOCSP: boolean } = { host: hostname, port: Number(port), ca: ca.certPem, requestOCSP: true, servername: 'localhost' };
          const socket = connect(options);
          socket.on('OCSPResponse', (r: Buffer) => (response = r));
          socket.once('secureConnect', () => {
            socket.end();
            resolve(response);
          });
          socket.once('error', reject);
        });
      assert.equal((await stapled(gw.url))?.toString(), 'first response');
      writeFileSync(ocspFile, Buffer.from('second response'));
      await gw.reload(input);
      assert.equal((await stapled(gw.url))?.toString(), 'second response');
      // The test certificate names no OCSP responder: the gateway says stapling is moot for it.
      assert.match(logs.text(), /ocspResponseFile is set but the certificate names no OCSP responder/);
    } finally {
      await gw?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the certificates page is filled from the configuration: edge, client CA, upstream CA and client certificate', () => {
  let dir: string;
  let gw: RunningGateway;
  let upstream: Upstream;
  const token = 'edge-tls-admin-token-0123456789abcdef';
  let edge: TlsMaterial;
  let upstreamClient: TlsMaterial;
  let clientCa: TestCa;
  let upstreamCa: TestCa;

  before(async () => {
    dir = tempDir();
    const ca = await makeCa('page CA');
    clientCa = await makeCa('page client CA');
    upstreamCa = await makeCa('page upstream CA');
    edge = await issueCert(ca, { cn: 'edge-page.test', days: 20 }); // under 30 days: a warning
    upstreamClient = await issueCert(upstreamCa, { cn: 'gateway-as-client', usage: 'client', days: 5 }); // under 7: critical
    writeFileSync(join(dir, 'client-ca.pem'), clientCa.certPem);
    writeFileSync(join(dir, 'upstream-ca.pem'), upstreamCa.certPem);
    writeFileSync(join(dir, 'upstream-client.pem'), upstreamClient.certPem);
    writeFileSync(join(dir, 'upstream-client.key'), upstreamClient.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'admin-token.txt'), `${token}\n`, { mode: 0o600 });
    upstream = await startUpstream();
    const input = tlsConfig(
      upstream.url,
      { ...writeEdgeFiles(dir, edge), clientAuth: { caFile: join(dir, 'client-ca.pem') }, watch: false },
      { admin: { auth: { tokenFile: join(dir, 'admin-token.txt') }, stateDir: join(dir, 'state') } },
    );
    // A second route toward an HTTPS upstream (never called here: its files are read at load).
    input.routes = [
      ...(input.routes ?? []),
      { name: 'orders', prefix: '/orders', upstream: 'https://orders.internal:8443', tls: { caFile: join(dir, 'upstream-ca.pem'), certFile: join(dir, 'upstream-client.pem'), keyFile: join(dir, 'upstream-client.key') } },
    ];
    gw = await startGateway(input, { logger: captureLogger().logger });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('GET /certificates lists each with its owner, subject, source and status (30/7-day thresholds)', async () => {
    const admin = await login(gw.adminUrl, { token });
    const r = await admin.get('/certificates');
    assert.equal(r.status, 200, r.text);
    type Row = { owner: { kind: string; name?: string }; kind: string; serial: string; subject?: string; source: string; status: string; secondsToExpiry?: number };
    const rows = (r.json as { certificates: Row[] }).certificates;
    const find = (kind: string, name: string): Row | undefined => rows.find((c) => c.kind === kind && c.owner.kind === 'tls' && c.owner.name === name);
    const edgeRow = find('edge', 'public');
    assert.ok(edgeRow, JSON.stringify(rows));
    assert.equal(edgeRow.serial, edge.cert.serialNumber.toUpperCase());
    assert.equal(edgeRow.subject, 'CN=edge-page.test');
    assert.equal(edgeRow.status, 'warning');
    assert.ok(edgeRow.secondsToExpiry! > 19 * 86_400 && edgeRow.secondsToExpiry! <= 20 * 86_400);
    assert.equal(find('client-ca', 'public')?.subject, 'CN=page client CA');
    assert.equal(find('client-ca', 'public')?.status, 'ok');
    assert.equal(find('upstream-ca', 'orders')?.subject, 'CN=page upstream CA');
    const client = find('upstream-client', 'orders');
    assert.equal(client?.serial, upstreamClient.cert.serialNumber.toUpperCase());
    assert.equal(client?.status, 'critical');
  });
});
